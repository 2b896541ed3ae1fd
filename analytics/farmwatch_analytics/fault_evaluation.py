"""Score the sensor-fault detectors against the simulators' labelled faults.

The simulators write down exactly which records each injected fault touched (``Label``); this
module runs the detector suite over the same records, in time order and strictly streaming,
turns flagged readings into alarms (runs of flags), and matches alarms to labels:

* **recall** of a fault kind: the share of its labels that an alarm of the detectors meant for
  it overlaps (same node, and the same quantity unless either side is node-wide), within a
  grace period after the label ends (a CUSUM needs time; a dead node is noticed after a
  silence);
* **precision** of a fault kind: the share of those detectors' alarms that overlap *any*
  label, fault or process event, of that node (a detector that flags a real DO crash is not
  wrong, it is just not the detector that should page the farmer);
* **delay**: from the label's first record to the first matching alarm.

``bench/faults.py`` prints the figures; the tests hold them to a floor.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from farmwatch_analytics.fault_suite import NODE_WIDE, FaultSuite

__all__ = [
    "FAULT_DETECTORS",
    "SENSOR_FAULT_KINDS",
    "Alarm",
    "FaultScore",
    "evaluate",
    "run_detectors",
]

SENSOR_FAULT_KINDS = (
    "stuck",
    "spike",
    "drift",
    "dropout",
    "noise_burst",
    "unit_error",
    "battery_death",
)
#: Which detectors are meant to catch each fault kind.
FAULT_DETECTORS: Mapping[str, frozenset[str]] = {
    "stuck": frozenset({"flatline"}),
    "spike": frozenset({"spike", "range"}),
    "unit_error": frozenset({"spike", "range"}),
    "drift": frozenset({"neighbour_drift", "drift"}),
    "dropout": frozenset({"dropout"}),
    "noise_burst": frozenset({"noise", "spike"}),
    "battery_death": frozenset({"battery", "dropout"}),
}
PEER_DETECTORS = frozenset({"neighbour_drift"})  # their alarms concern the farm's pair


class LabelLike(Protocol):
    """A ground-truth label (``farmwatch_simulators.faults.Label`` is one), read-only."""

    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def farm_id(self) -> str: ...
    @property
    def node_id(self) -> str: ...
    @property
    def quantity(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def category(self) -> str: ...


@dataclass(slots=True)
class Alarm:
    """A run of flagged readings from one detector on one node's quantity."""

    farm: str
    node: str
    quantity: str  # NODE_WIDE for node-level detectors
    detector: str
    start: datetime
    end: datetime


@dataclass(slots=True)
class FaultScore:
    """Precision, recall and detection delay of one fault kind."""

    kind: str
    labels: int = 0
    detected: int = 0
    alarms: int = 0
    true_alarms: int = 0
    delays_s: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.detected / self.labels if self.labels else float("nan")

    @property
    def precision(self) -> float:
        return self.true_alarms / self.alarms if self.alarms else 1.0

    def as_dict(self) -> dict[str, Any]:
        delays = sorted(self.delays_s)
        return {
            "labels": self.labels,
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
            "alarms": self.alarms,
            "delay_median_s": round(statistics.median(delays), 1) if delays else None,
            "delay_max_s": round(delays[-1], 1) if delays else None,
        }


class _AlarmBuilder:
    """Merge flagged readings into alarms; a gap of ``merge`` or more starts a new alarm."""

    def __init__(self, merge: timedelta) -> None:
        self.merge = merge
        self.open: dict[tuple[str, str, str], Alarm] = {}
        self.done: list[Alarm] = []

    def flag(
        self, farm: str, node: str, quantity: str, detector: str, start: datetime, end: datetime
    ) -> None:
        key = (node, quantity, detector)
        alarm = self.open.get(key)
        if alarm is not None and start - alarm.end <= self.merge:
            alarm.end = max(alarm.end, end)
            return
        if alarm is not None:
            self.done.append(alarm)
        self.open[key] = Alarm(farm, node, quantity, detector, start, end)

    def alarms(self) -> list[Alarm]:
        return [*self.done, *self.open.values()]


Row = tuple[str, str, Any]  # (farm_id, node_id, Record)


def run_detectors(
    rows: Iterable[Row],
    shared: Mapping[str, Collection[str]] | None = None,
    merge: timedelta = timedelta(minutes=30),
    *,
    fused: bool = True,
) -> tuple[list[Alarm], int]:
    """Stream ``rows`` through a :class:`FaultSuite`; return the alarms and readings scored.

    Rows must come in time order, as they would from the broker. ``shared`` maps a farm to
    the quantities its nodes measure in the same medium (``ModelProfile.shared_quantities``).
    ``fused=False`` takes the suite's per-detector reference path (same alarms, slower).
    """
    rows = list(rows)
    farm_nodes: dict[str, set[str]] = defaultdict(set)
    for farm, node, _record in rows:
        farm_nodes[farm].add(node)
    suite = FaultSuite(shared, farm_nodes, fused=fused)
    builder = _AlarmBuilder(merge)
    for farm, node, record in rows:
        for finding in suite.observe(farm, node, record.ts, record.readings):
            end = record.ts if finding.detector == "dropout" else finding.ts
            builder.flag(farm, node, finding.quantity, finding.detector, finding.ts, end)
    return builder.alarms(), suite.readings


def _grace(label: LabelLike) -> timedelta:
    return max(timedelta(hours=2), (label.end - label.start) / 4)


def _overlaps(alarm: Alarm, label: LabelLike) -> bool:
    """Whether ``alarm`` found ``label``; a neighbour alarm names its farm's pair of nodes."""
    peer = alarm.detector in PEER_DETECTORS and alarm.farm == label.farm_id
    if alarm.node != label.node_id and not peer:
        return False
    if label.quantity is not None and alarm.quantity not in (label.quantity, NODE_WIDE):
        return False
    return alarm.start <= label.end + _grace(label) and alarm.end >= label.start


def evaluate(labels: Iterable[LabelLike], alarms: list[Alarm]) -> dict[str, FaultScore]:
    """Precision, recall and delay per sensor-fault kind."""
    labels = list(labels)
    scores = {kind: FaultScore(kind) for kind in SENSOR_FAULT_KINDS}
    by_farm: dict[str, list[LabelLike]] = defaultdict(list)
    for label in labels:
        by_farm[label.farm_id].append(label)
    for kind, score in scores.items():
        meant = FAULT_DETECTORS[kind]
        own = [alarm for alarm in alarms if alarm.detector in meant]
        for label in (lb for lb in labels if lb.kind == kind and lb.category == "fault"):
            score.labels += 1
            matching = [alarm for alarm in own if _overlaps(alarm, label)]
            if matching:
                score.detected += 1
                first = min(alarm.start for alarm in matching)
                score.delays_s.append(max(0.0, (first - label.start).total_seconds()))
        score.alarms = len(own)
        score.true_alarms = sum(
            1 for alarm in own if any(_overlaps(alarm, lb) for lb in by_farm[alarm.farm])
        )
    return scores
