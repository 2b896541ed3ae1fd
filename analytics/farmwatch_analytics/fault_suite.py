"""The sensor-fault suite: every fault detector for every node, fed one record at a time.

One object owns the detectors of a deployment: per (node, quantity) the checks that suit the
quantity (:func:`detectors_for`), per node the dropout timer, and per farm the neighbour
comparison of the quantities its nodes share. The analytics service feeds it live records;
``fault_evaluation`` feeds it simulator datasets to measure it. Both see the same findings.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from farmwatch_core.contract import QUANTITIES

from farmwatch_analytics.detectors.base import Detector
from farmwatch_analytics.detectors.sensor_faults import (
    ALARM,
    BatteryDetector,
    DropoutDetector,
    FlatlineDetector,
    NeighbourDriftDetector,
    NoiseDetector,
    RangeDetector,
    SpikeDetector,
)

__all__ = ["BURSTY_QUANTITIES", "NODE_WIDE", "FaultSuite", "Finding", "detectors_for"]

# Bursty quantities rest at their floor for hours and then jump (a shower, sunrise, a dry leaf
# wetting, a drinker opening): a run of the floor value is the weather, and a big step or a
# rough hour is normal, so only the range and stuck checks apply to them.
BURSTY_QUANTITIES = frozenset(
    {"rain", "illuminance", "solar_radiation", "leaf_wetness", "water_consumption"}
)
NODE_WIDE = "*"
NEIGHBOUR_WINDOW_S = 600.0  # readings of two nodes this close in time are compared
# Detectors that learn a scale from the readings and must not learn one another detector
# flags (a noise burst would teach the spike detector that 500 ppm steps are normal). The
# others learn every reading: the stuck detector must count runs, the noise detector steps.
GUARDED = frozenset({"spike"})


def detectors_for(quantity: str) -> dict[str, Detector]:
    """The sensor-fault detectors for one quantity of one node, by name.

    Drift is judged only against neighbours (``neighbour_drift``, added by the suite for the
    farm's shared quantities): against a lone node's own daily profile
    (``DriftDetector``) the weather moves the signal as much as a drift of the size that
    matters, and on the simulated farms it raised several false alarms per node-week.
    """
    spec = QUANTITIES[quantity]
    if spec.state:
        return {}
    if quantity == "battery_voltage":
        return {"battery": BatteryDetector()}
    if quantity == "rssi":  # radio fades by nature; only a stuck or impossible value is a fault
        return {"range": RangeDetector(spec.low, spec.high), "flatline": FlatlineDetector()}
    if quantity in BURSTY_QUANTITIES:
        return {
            "range": RangeDetector(spec.low, spec.high),
            "flatline": FlatlineDetector(ignore=(spec.low,)),
        }
    return {
        "range": RangeDetector(spec.low, spec.high),
        "flatline": FlatlineDetector(),
        "spike": SpikeDetector(),
        "noise": NoiseDetector(),
    }


@dataclass(frozen=True, slots=True)
class Finding:
    """One detector's verdict that a reading (or a node's silence) is faulty."""

    farm: str
    node: str
    quantity: str  # NODE_WIDE for node-level findings (dropout)
    detector: str
    score: float
    ts: datetime  # the reading's time; for a dropout, when the silence became an alarm
    value: float | None = None


class FaultSuite:
    """Every fault detector of a deployment, fed records in time order.

    ``shared`` maps a farm to the quantities its nodes measure in the same medium
    (``ModelProfile.shared_quantities``); ``farm_nodes`` lists each farm's nodes (from the
    registry). A farm with two or more nodes gets the neighbour comparison on its shared
    quantities; without ``farm_nodes`` the suite learns the nodes as they report.
    """

    def __init__(
        self,
        shared: Mapping[str, Collection[str]] | None = None,
        farm_nodes: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        self.shared = dict(shared or {})
        self.farm_nodes: dict[str, set[str]] = {
            farm: set(nodes) for farm, nodes in (farm_nodes or {}).items()
        }
        self._detectors: dict[tuple[str, str], dict[str, Detector]] = {}
        self._neighbour: dict[tuple[str, str], NeighbourDriftDetector] = {}
        self._latest: dict[tuple[str, str], dict[str, tuple[float, float]]] = defaultdict(dict)
        self._dropouts: dict[tuple[str, str], DropoutDetector] = {}
        self.readings = 0

    def observe(
        self, farm: str, node: str, ts: datetime, readings: Mapping[str, float]
    ) -> list[Finding]:
        """Score one record against the past, learn it, and return what is faulty."""
        t = ts.timestamp()
        findings: list[Finding] = []
        self.farm_nodes.setdefault(farm, set()).add(node)
        dropout = self._dropouts.setdefault((farm, node), DropoutDetector())
        last, interval = dropout.last_seen, dropout.interval
        score = dropout.score_one(0.0, t)
        if score >= ALARM and last is not None and interval is not None:
            # A timer would have raised it when the silence passed factor × interval.
            alarm_at = ts - timedelta(seconds=t - last - dropout.factor * interval)
            findings.append(Finding(farm, node, NODE_WIDE, "dropout", score, alarm_at))
        dropout.learn_one(0.0, t)
        peers = len(self.farm_nodes[farm]) > 1
        comparable = self.shared.get(farm, ()) if peers else ()
        for quantity, value in readings.items():
            if quantity not in QUANTITIES:
                continue
            self.readings += 1
            key = (node, quantity)
            suite = self._detectors.get(key)
            if suite is None:
                suite = self._detectors[key] = detectors_for(quantity)
            scores = {name: detector.score_one(value, t) for name, detector in suite.items()}
            flagged = {name for name, s in scores.items() if s >= ALARM}
            for name, detector in suite.items():
                if name in GUARDED and flagged - {name}:
                    continue  # another detector distrusts this reading: don't learn from it
                detector.learn_one(value, t)
            findings.extend(
                Finding(farm, node, quantity, name, scores[name], ts, value) for name in flagged
            )
            if quantity in comparable and "spike" in suite:
                findings.extend(self._neighbours(farm, node, quantity, value, t, ts))
        return findings

    def _neighbours(
        self, farm: str, node: str, quantity: str, value: float, t: float, ts: datetime
    ) -> list[Finding]:
        seen = self._latest[(farm, quantity)]
        seen[node] = (t, value)
        others = [v for n, (t2, v) in seen.items() if n != node and t - t2 <= NEIGHBOUR_WINDOW_S]
        if not others:
            return []
        diff = value - statistics.median(others)
        detector = self._neighbour.setdefault((node, quantity), NeighbourDriftDetector())
        score = detector.score_one(diff, t)
        detector.learn_one(diff, t)
        if score < ALARM:
            return []
        return [Finding(farm, node, quantity, "neighbour_drift", score, ts, value)]

    def silences(self, now: datetime) -> list[Finding]:
        """Nodes silent for longer than their dropout limit at ``now`` (the timer's check)."""
        t = now.timestamp()
        found = []
        for (farm, node), dropout in self._dropouts.items():
            score = dropout.silence(t)
            if score >= ALARM:
                found.append(Finding(farm, node, NODE_WIDE, "dropout", score, now))
        return found
