"""The analytics engine: records in; indicators, anomaly scores and alert candidates out.

Pure logic with no I/O, so the service, the benchmarks and the tests drive the same object:
the service feeds it records from MQTT and writes what comes out; a test feeds it a simulator
dataset and checks what comes out against the labels.

For each record of a node whose farm has a model profile, the engine

1. runs the sensor-fault suite (:class:`~farmwatch_analytics.fault_suite.FaultSuite`);
2. scores each expected quantity against its daily profile (process anomalies), learning only
   from readings it does not flag, so an anomaly does not become normal; while a profile is
   still being learned (a new node's first days) against the rolling median/MAD instead;
   and, once an hour, the node's hourly means together with an IsolationForest fitted on its
   last two weeks (what no single quantity shows: warm and humid but drinking less);
3. computes the profile's instant indicators (THI, VPD, un-ionised ammonia, DO saturation) and
   the pond's dawn DO forecast;
4. checks quantities and indicators against the profile's limits.

Findings become *episodes*: an alert candidate is emitted when an episode starts (``firing``)
and when nothing has confirmed it for ``resolve_after`` (``resolved``), not for every reading,
so the alerting stage sees a change of state, not a stream. Candidates carry what a message
needs: the farm, node, subject, value, the limit and its source, severity, and since when.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from farmwatch_core.contract import QUANTITIES
from farmwatch_core.contract.candidates import AlertCandidate, CandidateKind, Severity
from mypy_extensions import mypyc_attr

from farmwatch_analytics.daily import DailyIndicators
from farmwatch_analytics.detectors.process import (
    DailyProfileDetector,
    IsolationForestDetector,
    RobustZScoreDetector,
)
from farmwatch_analytics.detectors.sensor_faults import ALARM
from farmwatch_analytics.fault_suite import BURSTY_QUANTITIES, NODE_WIDE, FaultSuite, Finding
from farmwatch_analytics.hourly import HourlyMeans
from farmwatch_analytics.indicators import water_supply
from farmwatch_analytics.indicators.humidity import vapour_pressure_deficit
from farmwatch_analytics.indicators.thermal import THI_SCALES, ThiBand
from farmwatch_analytics.indicators.water_quality import do_percent_saturation, unionised_ammonia
from farmwatch_analytics.model_profiles import ModelProfile
from farmwatch_analytics.predictions import DawnOxygenForecaster
from farmwatch_analytics.stateful import Stateful

__all__ = ["AlertCandidate", "AnalyticsEngine", "CandidateKind", "DerivedPoint", "EngineOutput"]


class DerivedPoint(NamedTuple):
    """One computed value to store beside the readings (an indicator or an anomaly score).

    A named tuple rather than a frozen dataclass: the engine makes one per reading, and a
    tuple is built in C, about three times faster.
    """

    farm: str
    node: str
    name: str
    value: float
    ts: datetime


@dataclass(slots=True)
class EngineOutput:
    derived: list[DerivedPoint] = field(default_factory=list)
    candidates: list[AlertCandidate] = field(default_factory=list)


@mypyc_attr(allow_interpreted_subclasses=True)
@dataclass(slots=True)
class _Episode(Stateful):
    first: AlertCandidate
    last_seen: datetime
    hold: timedelta  # resolved when nothing has confirmed it for this long


_FAULT_KIND = {"dropout": CandidateKind.OFFLINE}
_THI_BANDS = list(ThiBand)
ANOMALY_ALARM = 0.9  # daily-profile score above which a reading is an anomaly episode
# The multivariate model: hourly rows, two weeks of history, usable after two days, refitted
# weekly (and at 4 and 8 days while the history is still doubling). 32 trees, not Liu et al.'s
# 100: a fit costs ~1.1 ms per tree, and a node's weekly fit is then ~1.3 µs per reading it
# covers; the hourly score (~35 µs) is well under 1 µs per reading. An hour is strange when it
# is stranger than every hour the forest was fitted on and the forest itself finds it
# somewhat isolated (score above MULTIVARIATE_RAW; Liu et al.'s "nothing distinct" is 0.5);
# MULTIVARIATE_HOURS strange hours in a row are an anomaly episode (one odd hour is weather).
# Alarms wait for a model fitted on a week: on the simulated farms, models of 2-7 days called
# every new kind of weather strange (0.2 alarms per node-day against 0.005 afterwards).
MULTIVARIATE = "anomaly_node"
MULTIVARIATE_RAW = 0.55
MULTIVARIATE_HOURS = 2
MULTIVARIATE_ALARM_AFTER = 24 * 7  # hours the model must have been fitted on
MULTIVARIATE_HOLD = timedelta(minutes=90)  # one confirmation per hour: hold past the next
# Not in the hourly rows: the weather's own bursts, and the node's health (its own checks).
_NOT_MULTIVARIATE = frozenset({"rain", "battery_voltage", "rssi"})


# Engine attributes added after the first state format, with how to start each fresh.
_ADDED_STATE: Mapping[str, Callable[[], object]] = {
    "_early_detectors": dict,
    "_hourly": dict,
    "_forests": dict,
    "_strange_hours": dict,
    "_stations": dict,
}


# Caches derived from the profiles and the learned state: not pickled, rebuilt on demand.
_TRANSIENT = ("_plans", "_node_profiles")


class _Plan:
    """What one farm's profile asks of every record, worked out once per profile.

    The engine used to re-read the profile's tuples and dicts for each record (is there a
    daily profile? which THI? which limits, in which order?) and to format the same derived
    names again; a profile does not change between records, so that is done here once.
    ``limits`` holds, per subject in the profile's order, its limits most severe first as
    ``(below, above, limit)`` with a missing side as ∓infinity, so that ``value < below or
    value > above`` is exactly ``limit.breached_by(value)``.
    """

    __slots__ = ("anomalies", "daily_profile", "forecast", "limits", "multivariate", "profile",
                 "station", "thi", "vpd")  # fmt: skip

    def __init__(self, profile: ModelProfile) -> None:
        self.profile = profile
        self.daily_profile = "daily_profile" in profile.detectors
        self.multivariate = "isolation_forest" in profile.detectors
        self.anomalies = tuple(
            (quantity, f"anomaly_{quantity}")
            for quantity in profile.sensors
            if quantity not in BURSTY_QUANTITIES
        )
        species = profile.parameters.get("thi_species")
        self.thi = None
        if isinstance(species, str) and species in THI_SCALES:
            self.thi = (THI_SCALES[species], f"thi_{species}")
        self.vpd = "vpd" in profile.indicators
        self.forecast = "do_dawn_forecast" in profile.indicators
        # A clean-water station's pump and tank indicators (indicators/water_supply.py).
        self.station = not set(water_supply.INDICATORS).isdisjoint(profile.indicators)
        by_severity = profile.limits_by_severity
        self.limits = tuple(
            (
                subject,
                tuple(
                    (
                        -math.inf if limit.below is None else limit.below,
                        math.inf if limit.above is None else limit.above,
                        limit,
                    )
                    for limit in by_severity.get(subject, ())
                ),
            )
            for subject in profile.limits
        )


def isolation_forest() -> IsolationForestDetector:
    """The per-node multivariate model the engine runs on hourly rows."""
    return IsolationForestDetector(history=24 * 14, min_fit=48, refit_every=24 * 7, trees=32)


@mypyc_attr(allow_interpreted_subclasses=True)
class AnalyticsEngine(Stateful):
    """All of a deployment's streaming analytics; feed records in time order per node.

    ``profiles`` maps a farm to its (possibly overridden) model profile; farms without one
    get the fault suite only. ``farm_nodes`` lists each farm's nodes, from the registry.
    """

    def __init__(
        self,
        profiles: Mapping[str, ModelProfile],
        farm_nodes: Mapping[str, list[str]] | None = None,
        resolve_after: timedelta = timedelta(minutes=30),
    ) -> None:
        self.profiles = dict(profiles)
        self.resolve_after = resolve_after
        shared = {farm: profile.shared_quantities for farm, profile in self.profiles.items()}
        self.faults = FaultSuite(shared, farm_nodes)
        self._profile_detectors: dict[tuple[str, str], DailyProfileDetector] = {}
        self._early_detectors: dict[tuple[str, str], RobustZScoreDetector] = {}
        self._hourly: dict[str, HourlyMeans] = {}
        self._forests: dict[str, IsolationForestDetector] = {}
        self._strange_hours: dict[str, int] = {}
        self._forecasters: dict[str, DawnOxygenForecaster] = {}
        self._days: dict[str, DailyIndicators] = {}
        self._stations: dict[str, water_supply.StationIndicators] = {}
        self._episodes: dict[tuple[str, str, str, str], _Episode] = {}
        self._node_episodes: dict[str, set[tuple[str, str, str, str]]] = {}  # index by node
        self._plans: dict[str, _Plan] = {}  # by farm (transient)
        self._node_profiles: dict[str, dict[str, DailyProfileDetector]] = {}  # (transient)

    def __reduce__(self) -> tuple[Any, ...]:
        """The learned state; the caches (``_TRANSIENT``) are rebuilt after loading."""
        rebuild, (cls, state) = super().__reduce__()
        for name in _TRANSIENT:
            state.pop(name, None)
        return (rebuild, (cls, state))

    def restore(self, state: dict[str, Any]) -> None:
        """Restore a pickled engine, also one saved by an earlier farmwatch.

        The service keeps the engine's learning across restarts *and upgrades*: parts added
        since the state was saved start fresh (they warm up on their own) instead of the
        whole state being thrown away, and episodes saved before they had a hold time get the
        engine's default.
        """
        super().restore(state)
        self._plans, self._node_profiles = {}, {}
        for name, factory in _ADDED_STATE.items():
            if name not in state:
                setattr(self, name, factory())
        if "_node_episodes" not in state:
            self._node_episodes = {}
            for key in self._episodes:
                self._node_episodes.setdefault(key[1], set()).add(key)
        for episode in self._episodes.values():
            try:
                episode.hold  # noqa: B018 - probing an attribute an old pickle lacks
            except AttributeError:
                episode.hold = self.resolve_after

    # -- episodes ------------------------------------------------------------------------

    def _confirm(
        self, candidate: AlertCandidate, out: EngineOutput, hold: timedelta | None = None
    ) -> None:
        episode = self._episodes.get(candidate.key)
        if episode is None:
            hold = self.resolve_after if hold is None else hold
            self._episodes[candidate.key] = _Episode(candidate, candidate.ts, hold)
            self._node_episodes.setdefault(candidate.node, set()).add(candidate.key)
            out.candidates.append(candidate)
        else:
            episode.last_seen = max(episode.last_seen, candidate.ts)

    def _expire(self, now: datetime, out: EngineOutput, node: str) -> None:
        """Resolve ``node``'s episodes that nothing has confirmed for their hold time."""
        keys = self._node_episodes.get(node)
        if not keys:
            return
        episodes = self._episodes
        due = [key for key in keys if now - episodes[key].last_seen >= episodes[key].hold]
        if len(due) > 1:
            due.sort()  # a set's order changes with the process's hash seed; outputs must not
        for key in due:
            self._expire_one(key, now, out)

    # -- per record ----------------------------------------------------------------------

    def process(
        self, farm: str, node: str, ts: datetime, readings: Mapping[str, float]
    ) -> EngineOutput:
        """Analyse one record; return what to store and which episodes started or ended."""
        out = EngineOutput()
        findings = self.faults.observe(farm, node, ts, readings)
        for finding in findings:
            self._confirm(self._fault_candidate(finding), out)
        profile = self.profiles.get(farm)
        if profile is not None:
            plan = self._plans.get(farm)
            if plan is None or plan.profile is not profile:
                plan = self._plans[farm] = _Plan(profile)
            if plan.daily_profile:
                self._anomalies(plan, farm, node, ts, readings, out)
            if plan.multivariate:
                faulty = bool(findings) and any(f.quantity != NODE_WIDE for f in findings)
                self._multivariate(profile, farm, node, ts, readings, faulty, out)
            values = dict(readings)
            values.update(self._indicators(plan, farm, node, ts, readings, out))
            if plan.station and ("pump_state" in readings or "tank_level" in readings):
                station = water_supply.observe(self._stations, profile, node, ts, readings)
                out.derived.extend(DerivedPoint(farm, node, k, v, ts) for k, v in station.items())
                values.update(station)
            daily = self._daily_of(profile, node).observe(ts, readings)
            if daily:
                # Yesterday's numbers, filed with the first record of the new local day.
                out.derived.extend(DerivedPoint(farm, node, k, v, ts) for k, v in daily.items())
                values.update(daily)
            self._limits(plan, farm, node, ts, values, out)
        self._expire(ts, out, node)
        return out

    def _daily_of(self, profile: ModelProfile, node: str) -> DailyIndicators:
        daily = self._days.get(node)
        if daily is None:
            daily = self._days[node] = DailyIndicators(profile)
        return daily

    def tick(self, now: datetime) -> EngineOutput:
        """The timer's work: silent nodes, and episodes nothing has confirmed lately."""
        out = EngineOutput()
        for finding in self.faults.silences(now):
            self._confirm(self._fault_candidate(finding), out)
        # A silent node's other episodes must not resolve for lack of data: only its own
        # records (in ``process``) expire them. Here only node-wide ones expire.
        for key, episode in list(self._episodes.items()):
            if key[2] == "*" and now - episode.last_seen >= episode.hold:
                self._expire_one(key, now, out)
        return out

    def _expire_one(self, key: tuple[str, str, str, str], now: datetime, out: EngineOutput) -> None:
        first = self._episodes.pop(key).first
        self._node_episodes.get(key[1], set()).discard(key)
        out.candidates.append(
            AlertCandidate(
                first.farm, first.node, first.subject, first.kind, first.source,
                first.severity, "resolved", first.since, now,
                limit=first.limit, limit_source=first.limit_source,
            )
        )  # fmt: skip

    @staticmethod
    def _fault_candidate(finding: Finding) -> AlertCandidate:
        kind = _FAULT_KIND.get(finding.detector, CandidateKind.SENSOR_FAULT)
        return AlertCandidate(
            finding.farm,
            finding.node,
            finding.quantity,
            kind,
            finding.detector,
            Severity.WARNING,
            "firing",
            finding.ts,
            finding.ts,
            value=finding.value,
        )

    def _anomalies(
        self,
        plan: _Plan,
        farm: str,
        node: str,
        ts: datetime,
        readings: Mapping[str, float],
        out: EngineOutput,
    ) -> None:
        t = ts.timestamp()
        detectors = self._node_profiles.get(node)
        if detectors is None:
            detectors = self._node_profiles[node] = {}
        derived = out.derived
        for quantity, name in plan.anomalies:
            value = readings.get(quantity)
            if value is None or math.isnan(value):
                continue
            detector = detectors.get(quantity)
            if detector is None:
                detector = self._profile_detectors.get((node, quantity))
                if detector is None:
                    detector = self._profile_detectors[(node, quantity)] = DailyProfileDetector()
                detectors[quantity] = detector
            source = "daily_profile"
            score = detector.update_ready(value, t, ALARM)  # a flagged reading is not learned
            if score is not None:
                if self._early_detectors and (node, quantity) in self._early_detectors:
                    del self._early_detectors[(node, quantity)]  # the profile has taken over
            else:
                key = (node, quantity)
                early = self._early_detectors.get(key)
                if early is None:
                    early = self._early_detectors[key] = RobustZScoreDetector(refresh=24)
                score = early.score_one(value, t)
                source = "robust_zscore"
                if score < ALARM:
                    early.learn_one(value, t)
                    detector.learn_one(value, t)
            derived.append(DerivedPoint(farm, node, name, score, ts))
            if score >= ANOMALY_ALARM:
                self._confirm(
                    AlertCandidate(
                        farm, node, quantity, CandidateKind.ANOMALY, source,
                        Severity.INFO, "firing", ts, ts, value=value,
                    ),
                    out,
                )  # fmt: skip

    def _multivariate(
        self,
        profile: ModelProfile,
        farm: str,
        node: str,
        ts: datetime,
        readings: Mapping[str, float],
        faulty: bool,
        out: EngineOutput,
    ) -> None:
        """Once per node-hour: score the finished hour's means, then learn them."""
        hourly = self._hourly.get(node)
        if hourly is None:
            quantities = frozenset(
                q for q in profile.sensors if q not in _NOT_MULTIVARIATE and not QUANTITIES[q].state
            )
            hourly = self._hourly[node] = HourlyMeans(quantities)
        row = hourly.add(ts.timestamp(), readings, faulty)
        if row is None:
            return
        forest = self._forests.get(node)
        if forest is None:
            forest = self._forests[node] = isolation_forest()
        features = row.features()
        raw = forest.raw_score(features)
        score = forest.rank(raw)
        if forest.ready:
            out.derived.append(DerivedPoint(farm, node, MULTIVARIATE, score, ts))
        strange = raw is not None and score >= 1.0 and raw >= MULTIVARIATE_RAW
        streak = self._strange_hours[node] = self._strange_hours.get(node, 0) + 1 if strange else 0
        if streak >= MULTIVARIATE_HOURS and forest.fitted_on >= MULTIVARIATE_ALARM_AFTER:
            self._confirm(
                AlertCandidate(
                    farm, node, MULTIVARIATE, CandidateKind.ANOMALY, "isolation_forest",
                    Severity.INFO, "firing", ts, ts, value=score,
                ),
                out,
                hold=MULTIVARIATE_HOLD,
            )  # fmt: skip
        elif not strange and not row.faulty:
            forest.learn_one(features)  # neither a strange nor a faulty hour teaches the model

    def _indicators(
        self,
        plan: _Plan,
        farm: str,
        node: str,
        ts: datetime,
        readings: Mapping[str, float],
        out: EngineOutput,
    ) -> dict[str, float]:
        values: dict[str, float] = {}
        temperature = readings.get("air_temperature")
        humidity = readings.get("relative_humidity")
        if temperature is not None and humidity is not None:
            if plan.thi is not None:
                scale, name = plan.thi
                thi = scale.index(temperature, humidity)
                values[name] = thi
                values["thi_band"] = float(_THI_BANDS.index(scale.band(thi)))
            if plan.vpd:
                values["vpd"] = vapour_pressure_deficit(temperature, humidity)
        water = readings.get("water_temperature")
        oxygen = readings.get("dissolved_oxygen")
        if water is not None:
            tan, ph = readings.get("total_ammonia_nitrogen"), readings.get("ph")
            if tan is not None and ph is not None:
                values["unionised_ammonia"] = unionised_ammonia(tan, water, ph)
            if oxygen is not None:
                values["do_percent_saturation"] = do_percent_saturation(oxygen, water)
        if oxygen is not None and plan.forecast:
            self._forecast(plan.profile, farm, node, ts, oxygen, values, out)
        out.derived.extend(DerivedPoint(farm, node, name, v, ts) for name, v in values.items())
        return values

    def _forecast(
        self,
        profile: ModelProfile,
        farm: str,
        node: str,
        ts: datetime,
        oxygen: float,
        values: dict[str, float],
        out: EngineOutput,
    ) -> None:
        limit = float(profile.parameters.get("do_species_minimum_mg_l", 2.3))
        forecaster = self._forecasters.setdefault(node, DawnOxygenForecaster(limit))
        forecast = forecaster.update(ts, oxygen)
        if forecast is None:
            return
        out.derived.append(DerivedPoint(farm, node, "do_dawn_forecast", forecast.minimum_mg_l, ts))
        if forecast.warning:
            species = profile.parameters.get("species", "fish")
            self._confirm(
                AlertCandidate(
                    farm, node, "dissolved_oxygen", CandidateKind.FORECAST, "do_dawn_forecast",
                    Severity.CRITICAL, "firing", ts, ts, value=forecast.minimum_mg_l,
                    limit=limit, limit_source=f"minimum DO for {species}",
                    expected_at=forecast.below_limit_at,
                ),
                out,
            )  # fmt: skip

    def _limits(
        self,
        plan: _Plan,
        farm: str,
        node: str,
        ts: datetime,
        values: Mapping[str, float],
        out: EngineOutput,
    ) -> None:
        for subject, limits in plan.limits:
            value = values.get(subject)
            if value is None:
                continue
            breached = None
            for below, above, candidate in limits:  # most severe first, as limit_for
                if value < below or value > above:
                    breached = candidate
                    break
            if breached is None:
                continue
            limit = breached
            bound = limit.below if limit.below is not None and value < limit.below else limit.above
            self._confirm(
                AlertCandidate(
                    farm, node, subject, CandidateKind.LIMIT, f"limit:{limit.severity.value}",
                    limit.severity, "firing", ts, ts, value=value, limit=bound,
                    limit_source=limit.source,
                ),
                out,
            )  # fmt: skip
