"""The sensor-fault suite: every fault detector for every node, fed one record at a time.

One object owns the detectors of a deployment: per (node, quantity) the checks that suit the
quantity (:func:`detectors_for`), per node the dropout timer, and per farm the neighbour
comparison of the quantities its nodes share. The analytics service feeds it live records;
``fault_evaluation`` feeds it simulator datasets to measure it. Both see the same findings.

Two ways through, one result. The *reference* path (``FaultSuite(fused=False)``) asks every
detector ``score_one`` and then ``learn_one``, as the streaming interface says. It pays for
that generality on every reading: a dict and a set built, each detector's score computed
twice (once to answer, once inside ``learn_one`` to decide whether to learn), one method call
per question. The *fused* path (the default) runs the value checks of a reading (range,
stuck, spike and noise of an ordinary quantity; range and stuck of a bursty one) in one
function, :func:`_check_value`, over the very same detector objects and their state,
computing each score once; the other detectors (battery, neighbour drift, dropout) run
through their own methods on both paths. The fused function is a second spelling of the
detectors' rules, so it must never drift from them: ``tests/analytics/test_fault_fast_path.py``
runs both paths over a simulated deployment with every kind of fault and requires identical
findings and identical detector state. A reading's findings come in the suite's order (range,
stuck, spike, noise, then neighbour drift) on both paths.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from farmwatch_core.contract import QUANTITIES
from mypy_extensions import mypyc_attr

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
    _ramp,
)
from farmwatch_analytics.stateful import Stateful

__all__ = ["BURSTY_QUANTITIES", "NODE_WIDE", "FaultSuite", "Finding", "detectors_for"]

# Bursty quantities rest at their floor for hours and then jump (a shower, sunrise, a dry leaf
# wetting, a drinker opening, a station's pump starting): a run of the floor value is the
# weather or the float switch, and a big step or a rough hour is normal, so only the range and
# stuck checks apply to them.
BURSTY_QUANTITIES = frozenset(
    {"rain", "illuminance", "solar_radiation", "leaf_wetness", "water_consumption", "water_flow"}
)
NODE_WIDE = "*"
NEIGHBOUR_WINDOW_S = 600.0  # readings of two nodes this close in time are compared
# Detectors that learn a scale from the readings and must not learn one another detector
# flags (a noise burst would teach the spike detector that 500 ppm steps are normal). The
# others learn every reading: the stuck detector must count runs, the noise detector steps.
GUARDED = frozenset({"spike"})
_VALUE_CHECKS = ("range", "flatline", "spike", "noise")  # what _check_value fuses, in order
_Checks = tuple["RangeDetector", "FlatlineDetector", "SpikeDetector | None", "NoiseDetector | None"]


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


def _check_value(  # noqa: PLR0912, PLR0915 -- one function on purpose: it is the fast path
    rng: RangeDetector,
    flat: FlatlineDetector,
    spike: SpikeDetector | None,
    noise: NoiseDetector | None,
    x: float,
) -> list[tuple[str, float]] | None:
    """Score ``x`` with range, stuck, spike and noise, then learn it; the flagged checks.

    Exactly what the reference path does with these detectors (``score_one`` of each, then
    ``learn_one`` of each, the spike detector skipping a reading another one flags), on their
    own state, with each score computed once and in local variables. ``spike`` and ``noise``
    are ``None`` for the quantities that only get the range and stuck checks. Returns
    ``None`` when nothing is flagged (nearly always), else ``(name, score)`` in suite order.
    """
    # Range (RangeDetector.score_one); it learns nothing.
    r_flag = not rng.low <= x <= rng.high  # also True for NaN, as isnan(x) or ...

    # Stuck (FlatlineDetector.score_one, then learn_one).
    f_last = flat._last
    f_prev_run = flat._run
    tolerance = flat.tolerance
    run = f_prev_run + 1 if f_last is not None and abs(x - f_last) <= tolerance else 1
    longest = flat._longest_normal
    # max(min_run, factor × longest) as FlatlineDetector._threshold, spelled out: in this
    # function a builtin call costs more than the comparison (here and below, max's semantics:
    # the first argument unless a later one is greater).
    f_threshold = float(flat.min_run)
    scaled = flat.factor * longest
    if scaled > f_threshold:  # noqa: PLR1730
        f_threshold = scaled
    f_seen = flat._seen
    f_warming = f_seen < flat.warmup
    f_score = 0.0
    ignore = flat.ignore
    if not f_warming and not (ignore and any(abs(x - v) <= tolerance for v in ignore)):
        excess = run - f_threshold
        if not excess < 0.0:
            f_score = _ramp(excess, f_threshold)
    if run == 1 and f_prev_run > 0 and (f_warming or f_prev_run < f_threshold):
        flat._longest_normal = f_prev_run if f_prev_run > longest else longest  # noqa: FURB136
    flat._last = x
    flat._run = run
    flat._seen = f_seen + 1
    f_flag = f_score >= ALARM

    if spike is None or noise is None:
        if not (r_flag or f_flag):
            return None
        found = [("range", 1.0)] if r_flag else []
        if f_flag:
            found.append(("flatline", f_score))
        return found

    # Spike (SpikeDetector.score_one): against the last trusted reading.
    reference = spike._reference
    s_scale = spike._scale
    s_score = 0.0
    if reference is not None and s_scale.count >= spike.warmup:
        threshold = spike.min_step  # max(min_step, factor × high, 1e-9): SpikeDetector._threshold
        scaled = spike.factor * s_scale.high
        if scaled > threshold:  # noqa: PLR1730
            threshold = scaled
        if threshold < 1e-9:  # noqa: PLR1730
            threshold = 1e-9
        excess = abs(x - reference) - threshold
        if not excess < 0.0:
            s_score = _ramp(excess, threshold)
    s_flag = s_score >= ALARM

    # Noise (NoiseDetector.score_one, then learn_one).
    n_last = noise._last
    n_flag = False
    n_score = 0.0
    if n_last is not None:
        recent = noise._recent
        step = abs(x - n_last)
        n_scale = noise._scale
        short = noise.short
        if n_scale.count >= noise.warmup and len(recent) + 1 >= short:
            median = n_scale.median
            threshold = noise.factor * (1e-9 if median < 1e-9 else median)  # noqa: FURB136
            # Mostly no step of the last hour reaches the threshold, so no median of them can.
            if step >= threshold or (recent and max(recent) >= threshold):
                above = (step >= threshold) + sum(1 for s in recent if s >= threshold)
                if above >= (short + 1) // 2:
                    steps = [*recent, step][-short:]
                    excess, threshold = noise._ratio_excess(steps)
                    n_score = _ramp(excess, threshold)
                    n_flag = n_score >= ALARM
        recent.append(step)
        if not n_flag:
            n_scale.add(step)
    noise._last = x

    # Spike learns only what no other check distrusts (GUARDED).
    if not (r_flag or f_flag or n_flag):
        if reference is None:
            spike._reference = x
        elif not s_flag:
            spike._flagged_run = 0
            s_scale.add(abs(x - reference))
            spike._reference = x
        else:
            spike._flagged_run += 1
            if spike._flagged_run >= spike.relearn_after:
                spike._flagged_run = 0
                s_scale.add(abs(x - reference))
                spike._reference = x
        if not s_flag:
            return None
    found = [("range", 1.0)] if r_flag else []
    if f_flag:
        found.append(("flatline", f_score))
    if s_flag:
        found.append(("spike", s_score))
    if n_flag:
        found.append(("noise", n_score))
    return found


@mypyc_attr(allow_interpreted_subclasses=True)
class _Series(Stateful):
    """One node's one quantity: its detectors, whether they can be fused, its comparison."""

    __slots__ = ("checks", "compared", "detectors", "neighbour", "quantity", "single")

    def __init__(self, quantity: str, detectors: dict[str, Detector]) -> None:
        self.quantity = quantity
        self.detectors = detectors
        # The fast path takes the value checks of an ordinary quantity (all four) and of a
        # bursty one or rssi (range and stuck); anything else goes the reference way.
        names = tuple(detectors)
        get = detectors.get
        # Typed, so that the compiled observe calls _check_value directly (a tuple of Any
        # went through its Python wrapper, a fifth of the fault suite's time).
        self.checks: _Checks | None = None
        if names in (_VALUE_CHECKS, _VALUE_CHECKS[:2]):
            # (by name, as detectors_for makes them; compiled, a wrong type raises here)
            self.checks = (
                cast(RangeDetector, detectors["range"]),
                cast(FlatlineDetector, detectors["flatline"]),
                cast(SpikeDetector | None, get("spike")),
                cast(NoiseDetector | None, get("noise")),
            )
        # A lone detector (the battery's) needs no fusing: score, learn, done.
        self.single: Any = None
        if len(names) == 1 and names[0] not in GUARDED:
            self.single = detectors[names[0]]
        self.compared = "spike" in detectors  # drift needs a smooth signal, not a bursty one
        self.neighbour: NeighbourDriftDetector | None = None


@mypyc_attr(allow_interpreted_subclasses=True)
class _Node(Stateful):
    """One node of one farm: its dropout timer and its series by quantity (a lookup cache)."""

    __slots__ = ("dropout", "latest", "series")

    def __init__(self) -> None:
        self.dropout = DropoutDetector()
        self.series: dict[str, _Series] = {}
        # The farm's latest readings of each shared quantity (FaultSuite._latest's dicts).
        self.latest: dict[str, dict[str, tuple[float, float]]] = {}


@mypyc_attr(allow_interpreted_subclasses=True)
class FaultSuite(Stateful):
    """Every fault detector of a deployment, fed records in time order.

    ``shared`` maps a farm to the quantities its nodes measure in the same medium
    (``ModelProfile.shared_quantities``); ``farm_nodes`` lists each farm's nodes (from the
    registry). A farm with two or more nodes gets the neighbour comparison on its shared
    quantities; without ``farm_nodes`` the suite learns the nodes as they report. ``fused``
    chooses the fast path (the default) or the per-detector reference; both give the same
    findings (see the module docstring).
    """

    def __init__(
        self,
        shared: Mapping[str, Collection[str]] | None = None,
        farm_nodes: Mapping[str, Collection[str]] | None = None,
        *,
        fused: bool = True,
    ) -> None:
        self.shared = dict(shared or {})
        self.farm_nodes: dict[str, set[str]] = {
            farm: set(nodes) for farm, nodes in (farm_nodes or {}).items()
        }
        self.fused = fused
        # Keyed by node id alone, as node ids are unique in a deployment.
        self._series: dict[tuple[str, str], _Series] = {}
        self._nodes: dict[tuple[str, str], _Node] = {}
        # Per farm and shared quantity, each node's latest (time, value).
        self._latest: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
        self.readings = 0

    def restore(self, state: dict[str, Any]) -> None:
        if "_nodes" not in state:
            # Pickled by an older farmwatch (per-detector dicts, no per-node state): refuse it
            # as the service refuses any unreadable state, and start fresh.
            raise ValueError("fault-suite state from an older version")
        super().restore(state)

    def _node(self, farm: str, node: str) -> _Node:
        state = self._nodes[(farm, node)] = _Node()
        self.farm_nodes.setdefault(farm, set()).add(node)
        return state

    def _new_series(self, state: _Node, node: str, quantity: str) -> _Series:
        series = self._series.get((node, quantity))
        if series is None:
            series = self._series[(node, quantity)] = _Series(quantity, detectors_for(quantity))
        state.series[quantity] = series
        return series

    def observe(  # noqa: PLR0912, PLR0915 -- the per-reading loop, kept in one frame
        self, farm: str, node: str, ts: datetime, readings: Mapping[str, float]
    ) -> list[Finding]:
        """Score one record against the past, learn it, and return what is faulty."""
        t = ts.timestamp()
        findings: list[Finding] = []
        state = self._nodes.get((farm, node))
        if state is None:
            state = self._node(farm, node)
        dropout = state.dropout
        last, interval = dropout.last_seen, dropout.interval
        score = dropout.silence(t)  # what score_one(0.0, t) returns, one call fewer
        if score >= ALARM and last is not None and interval is not None:
            # A timer would have raised it when the silence passed factor × interval.
            alarm_at = ts - timedelta(seconds=t - last - dropout.factor * interval)
            findings.append(Finding(farm, node, NODE_WIDE, "dropout", score, alarm_at))
        dropout.learn_one(0.0, t)
        peers = len(self.farm_nodes[farm]) > 1
        comparable = self.shared.get(farm, ()) if peers else ()
        fused = self.fused
        all_series, latest = state.series, state.latest
        scored = 0
        for quantity, value in readings.items():
            series = all_series.get(quantity)
            if series is None:
                if quantity not in QUANTITIES:
                    continue
                series = self._new_series(state, node, quantity)
            scored += 1
            if fused and series.checks is not None:
                rng, flat, spike, noise = series.checks
                flagged = _check_value(rng, flat, spike, noise, value)
                if flagged is not None:
                    for name, score in flagged:
                        findings.append(Finding(farm, node, quantity, name, score, ts, value))
            elif fused and series.single is not None:
                score = series.single.score_one(value, t)
                series.single.learn_one(value, t)
                if score >= ALARM:
                    name = next(iter(series.detectors))
                    findings.append(Finding(farm, node, quantity, name, score, ts, value))
            elif series.detectors:  # the reference path, and any set of checks not fused
                self._reference(farm, node, quantity, series.detectors, value, t, ts, findings)
            if not (series.compared and quantity in comparable):
                continue
            # The neighbour comparison (inline: a call per reading would cost a tenth of it).
            seen = latest.get(quantity)
            if seen is None:
                seen = self._farm_latest(farm, state, quantity)
            seen[node] = (t, value)
            others = []
            for other, (t2, v) in seen.items():
                if other != node and t - t2 <= NEIGHBOUR_WINDOW_S:
                    others.append(v)
            if not others:
                continue
            diff = value - (others[0] if len(others) == 1 else statistics.median(others))
            drift = series.neighbour
            if drift is None:
                drift = series.neighbour = NeighbourDriftDetector()
            if fused:
                score = drift.score_learn_one(diff, t)
            else:
                score = drift.score_one(diff, t)
                drift.learn_one(diff, t)
            if score >= ALARM:
                findings.append(Finding(farm, node, quantity, "neighbour_drift", score, ts, value))
        self.readings += scored
        return findings

    @staticmethod
    def _reference(
        farm: str,
        node: str,
        quantity: str,
        suite: dict[str, Detector],
        value: float,
        t: float,
        ts: datetime,
        findings: list[Finding],
    ) -> None:
        """Every detector of one series through ``score_one`` and ``learn_one``."""
        scores = {name: detector.score_one(value, t) for name, detector in suite.items()}
        flagged = {name for name, s in scores.items() if s >= ALARM}
        for name, detector in suite.items():
            if name in GUARDED and flagged - {name}:
                continue  # another detector distrusts this reading: don't learn from it
            detector.learn_one(value, t)
        findings.extend(
            Finding(farm, node, quantity, name, s, ts, value)
            for name, s in scores.items()
            if s >= ALARM
        )

    def _farm_latest(
        self, farm: str, state: _Node, quantity: str
    ) -> dict[str, tuple[float, float]]:
        """The farm's latest (time, value) of ``quantity`` per node, cached on ``state``."""
        seen = self._latest.get((farm, quantity))
        if seen is None:
            seen = self._latest[(farm, quantity)] = {}
        state.latest[quantity] = seen
        return seen

    def silences(self, now: datetime) -> list[Finding]:
        """Nodes silent for longer than their dropout limit at ``now`` (the timer's check)."""
        t = now.timestamp()
        found = []
        for (farm, node), state in self._nodes.items():
            score = state.dropout.silence(t)
            if score >= ALARM:
                found.append(Finding(farm, node, NODE_WIDE, "dropout", score, now))
        return found
