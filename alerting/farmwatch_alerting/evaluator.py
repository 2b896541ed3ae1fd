"""Rules applied to what arrives: readings, derived values and analytics' candidates → alerts.

The evaluator is pure logic with injected time: the service feeds it each record (readings
and the derived values analytics computed for it), each alert candidate, and a clock tick;
it returns the alerts whose state changed, which the service stores and hands to routing.
It keeps the open alerts in memory and is rebuilt from the store at start, so a restart
neither forgets an alert nor raises it twice.

Per rule and series (farm, node, subject):

* threshold, band, anomaly — a breach opens a *pending* alert; it *fires* when a later reading
  still breaches ``for`` after the first (at once when ``for`` is 0); it *resolves* only when
  a reading is past the clearing level (hysteresis), and a pending alert that clears never
  fires;
* rate of change — the change between the newest reading and the oldest one inside ``window``
  (which must cover at least 80 % of it); it clears when the change is back under half the
  limit;
* absence — a node with no record for ``after`` fires; its next record resolves it. Nodes are
  given ``after`` from start-up before they count as silent (a restarted service must not
  call every node offline);
* candidates — analytics already decided when an episode starts and ends: a ``firing``
  candidate fires at once, a ``resolved`` one resolves.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from farmwatch_analytics.model_profiles import ModelProfile
from farmwatch_core.contract import QUANTITIES
from farmwatch_core.contract.candidates import AlertCandidate, CandidateKind
from farmwatch_core.contract.derived import DERIVED
from farmwatch_core.registry import Deployment

from farmwatch_alerting.alert import Alert, AlertState, Severity, fingerprint, severity_rank
from farmwatch_alerting.rules import (
    AbsenceRule,
    AnomalyRule,
    BandRule,
    CandidateRule,
    RateRule,
    RuleSet,
    Scope,
    ThresholdRule,
)

__all__ = ["CANDIDATE_ALERTNAMES", "Evaluator"]

#: The alert name of each kind of analytics candidate (its detector is the ``detector`` label).
CANDIDATE_ALERTNAMES: Mapping[CandidateKind, str] = {
    CandidateKind.SENSOR_FAULT: "SensorFault",
    CandidateKind.OFFLINE: "NodeOffline",
    CandidateKind.ANOMALY: "ProcessAnomaly",
    CandidateKind.LIMIT: "LimitBreach",
    CandidateKind.FORECAST: "Forecast",
}
RATE_COVERAGE = 0.8  # the window's readings must span this share of it

Levelled = ThresholdRule | BandRule | AnomalyRule
_NodeRules = tuple[list[Levelled], list[RateRule], list[AbsenceRule]]
_Identity = tuple[dict[str, str], str]


@dataclass(slots=True)
class _Series:
    """What a rate rule remembers of one series: (t, value) inside its window."""

    points: deque[tuple[float, float]] = field(default_factory=deque)


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def _unit(subject: str) -> str:
    if subject in QUANTITIES:
        return QUANTITIES[subject].unit
    spec = DERIVED.get(subject)
    return spec.unit if spec is not None else ""


class Evaluator:
    """Every rule of a deployment over its farms' nodes; feed records in time order per node."""

    def __init__(
        self,
        rules: RuleSet,
        deployment: Deployment,
        profiles: Mapping[str, ModelProfile],
        started: datetime,
        open_alerts: Iterable[Alert] = (),
    ) -> None:
        self.rules = rules
        self.deployment = deployment
        self.profiles = dict(profiles)
        self._open: dict[str, Alert] = {a.fingerprint: a for a in open_alerts}
        self._rates: dict[tuple[str, str, str, str], _Series] = {}
        self._last_seen: dict[tuple[str, str], datetime] = {
            (farm.id, node.id): started for farm in deployment.farms for node in farm.nodes
        }
        self._per_profile: dict[str | None, list[object]] = {}
        # Per node the rules whose scope covers it, by kind; per series its labels and
        # fingerprint. Both are needed for every reading, and neither ever changes.
        self._node_rules: dict[tuple[str, str], _NodeRules] = {}
        self._series: dict[tuple[str, str, str, str | None, Severity], _Identity] = {}

    # -- context ---------------------------------------------------------------------------

    def _rules_for(self, farm: str) -> list[object]:
        profile = self.profiles.get(farm)
        key = profile.name if profile is not None else None
        if key not in self._per_profile:
            self._per_profile[key] = list(self.rules.for_profile(profile))
        return self._per_profile[key]

    def _rules_of(self, farm: str, node: str) -> _NodeRules:
        """(levelled, rate, absence) rules that apply to one node."""
        found = self._node_rules.get((farm, node))
        if found is None:
            profile = self.profiles.get(farm)
            name = profile.name if profile is not None else None
            covered = [
                rule
                for rule in self._rules_for(farm)
                if not isinstance(getattr(rule, "scope", None), Scope)
                or getattr(rule, "scope").covers(farm, node, name)  # noqa: B009
            ]
            found = (
                [r for r in covered if isinstance(r, ThresholdRule | BandRule | AnomalyRule)],
                [r for r in covered if isinstance(r, RateRule)],
                [r for r in covered if isinstance(r, AbsenceRule)],
            )
            self._node_rules[(farm, node)] = found
        return found

    def _identity(
        self, name: str, farm: str, node: str, subject: str | None, severity: Severity
    ) -> _Identity:
        """The labels and fingerprint of one series of one rule (computed once)."""
        key = (name, farm, node, subject, severity)
        found = self._series.get(key)
        if found is None:
            labels = self._labels(name, farm, node, subject)
            found = (labels, fingerprint({**labels, "severity": severity.value}))
            self._series[key] = found
        return found

    def _labels(self, name: str, farm: str, node: str, subject: str | None) -> dict[str, str]:
        labels = {"alertname": name, "farm": farm, "node": node}
        if subject is not None:
            labels["quantity"] = subject
        profile = self.profiles.get(farm)
        if profile is not None:
            labels["profile"] = profile.name
        known = self.deployment.farm(farm)
        if known is not None and known.cooperative:
            labels["cooperative"] = known.cooperative
        return labels

    def _farm_name(self, farm: str) -> str:
        known = self.deployment.farm(farm)
        return known.name if known is not None else farm

    @property
    def open_alerts(self) -> list[Alert]:
        return list(self._open.values())

    # -- transitions -----------------------------------------------------------------------

    def _current(self, labels: Mapping[str, str], severity: Severity) -> Alert | None:
        return self._open.get(fingerprint({**labels, "severity": severity.value}))

    def _store(self, alert: Alert, changed: list[Alert]) -> None:
        if alert.state is AlertState.RESOLVED:
            self._open.pop(alert.fingerprint, None)
        else:
            self._open[alert.fingerprint] = alert
        changed.append(alert)

    # -- inputs ----------------------------------------------------------------------------

    def observe(
        self, farm: str, node: str, ts: datetime, values: Mapping[str, float]
    ) -> list[Alert]:
        """One record's readings and derived values; the alerts whose state changed."""
        changed: list[Alert] = []
        levelled, rates, absences = self._rules_of(farm, node)
        self._seen(farm, node, ts, absences, changed)
        for rule in levelled:
            value = values.get(rule.subject)
            if value is not None and math.isfinite(value):
                self._levelled(rule, farm, node, ts, value, changed)
        for rate in rates:
            value = values.get(rate.subject)
            if value is not None and math.isfinite(value):
                self._rate(rate, farm, node, ts, value, changed)
        return changed

    def _seen(
        self, farm: str, node: str, ts: datetime, absences: list[AbsenceRule], changed: list[Alert]
    ) -> None:
        last = self._last_seen.get((farm, node))
        if last is None or ts > last:
            self._last_seen[(farm, node)] = ts
        for rule in absences:
            _, fp = self._identity(rule.name, farm, node, None, rule.severity)
            alert = self._open.get(fp)
            if alert is not None:
                self._store(alert.resolve(ts, {"back_at": ts.isoformat()}), changed)

    def _breach(self, rule: Levelled, value: float) -> tuple[bool, bool, float]:
        """(breached, cleared, limit) of a value under a levelled rule."""
        if isinstance(rule, ThresholdRule):
            return rule.breached(value), rule.cleared(value), rule.limit
        if isinstance(rule, BandRule):
            return value >= rule.at_least, value < rule.at_least, float(rule.at_least)
        return value >= rule.above, value < rule.above, rule.above

    def _levelled(
        self, rule: Levelled, farm: str, node: str, ts: datetime, value: float, changed: list[Alert]
    ) -> None:
        labels, fp = self._identity(rule.name, farm, node, rule.subject, rule.severity)
        alert = self._open.get(fp)
        breached, cleared, limit = self._breach(rule, value)
        if alert is None and not breached:
            return  # the common case: nothing wrong, nothing open
        notes = self._annotations(rule, farm, value, limit)
        if alert is None:
            if breached:
                alert = Alert.new(labels, rule.severity, ts, notes)
                if rule.for_ <= timedelta(0):
                    alert = alert.fire(ts)
                self._store(alert, changed)
            return
        if cleared:
            self._store(alert.resolve(ts, {"value": _fmt(value)}), changed)
        elif alert.state is AlertState.PENDING:
            if breached and ts - alert.starts_at >= rule.for_:
                self._store(alert.fire(ts, notes), changed)
        elif breached:
            self._open[alert.fingerprint] = alert.update(ts, notes)  # latest value, no change

    def _annotations(
        self, rule: ThresholdRule | BandRule | AnomalyRule | RateRule, farm: str, value: float,
        limit: float,
    ) -> dict[str, str]:  # fmt: skip
        notes = {
            "value": _fmt(value),
            "limit": _fmt(limit),
            "unit": _unit(rule.subject),
            "farm_name": self._farm_name(farm),
        }
        if isinstance(rule, ThresholdRule):
            notes["direction"] = "below" if rule.below is not None else "above"
        if rule.source:
            notes["limit_source"] = rule.source
        if rule.action is not None:
            notes["action_vi"] = rule.action.vi
            if rule.action.en:
                notes["action_en"] = rule.action.en
        return notes

    def _rate(
        self, rule: RateRule, farm: str, node: str, ts: datetime, value: float, changed: list[Alert]
    ) -> None:
        series = self._rates.setdefault((rule.name, farm, node, rule.subject), _Series())
        t = ts.timestamp()
        window = rule.window.total_seconds()
        series.points.append((t, value))
        while series.points and t - series.points[0][0] > window:
            series.points.popleft()
        first_t, first_v = series.points[0]
        if t - first_t < RATE_COVERAGE * window:
            return
        change = value - first_v
        rising = rule.rise is not None and change >= rule.rise
        falling = rule.fall is not None and -change >= rule.fall
        limits = [x for x in (rule.rise, rule.fall) if x is not None]
        calm = abs(change) < 0.5 * min(limits)
        labels, fp = self._identity(rule.name, farm, node, rule.subject, rule.severity)
        alert = self._open.get(fp)
        if alert is None and (rising or falling):
            limit = (rule.rise if rising else rule.fall) or 0.0
            notes = self._annotations(rule, farm, value, limit)
            notes["change"] = _fmt(change)
            notes["window"] = f"{window / 60:.0f} min"
            self._store(Alert.new(labels, rule.severity, ts, notes).fire(ts), changed)
        elif alert is not None and calm:
            self._store(alert.resolve(ts, {"change": _fmt(change)}), changed)

    def candidate(self, candidate: AlertCandidate) -> list[Alert]:
        """One of analytics' candidates; the alerts whose state changed."""
        changed: list[Alert] = []
        for rule in self._rules_for(candidate.farm):
            if not isinstance(rule, CandidateRule) or candidate.kind not in rule.kinds:
                continue
            if severity_rank(candidate.severity) < severity_rank(rule.severity):
                continue
            name = CANDIDATE_ALERTNAMES[candidate.kind]
            subject = None if candidate.subject == "*" else candidate.subject
            labels = {**self._labels(name, candidate.farm, candidate.node, subject)}
            labels["detector"] = candidate.source
            alert = self._current(labels, candidate.severity)
            if candidate.state == "firing" and alert is None:
                notes = {"farm_name": self._farm_name(candidate.farm)}
                if candidate.value is not None:
                    notes["value"] = _fmt(candidate.value)
                if candidate.limit is not None:
                    notes["limit"] = _fmt(candidate.limit)
                if candidate.limit_source:
                    notes["limit_source"] = candidate.limit_source
                if candidate.expected_at is not None:
                    notes["expected_at"] = candidate.expected_at.isoformat()
                if subject is not None:
                    notes["unit"] = _unit(subject)
                new = Alert.new(labels, candidate.severity, candidate.since, notes)
                self._store(new.fire(candidate.ts), changed)
            elif candidate.state == "resolved" and alert is not None:
                self._store(alert.resolve(candidate.ts), changed)
        return changed

    def tick(self, now: datetime) -> list[Alert]:
        """The clock's work: nodes silent for longer than an absence rule allows."""
        changed: list[Alert] = []
        for (farm, node), last in self._last_seen.items():
            for rule in self._rules_of(farm, node)[2]:  # absence rules covering the node
                if now - last < rule.after:
                    continue
                labels, fp = self._identity(rule.name, farm, node, None, rule.severity)
                if fp not in self._open:
                    notes = {
                        "farm_name": self._farm_name(farm),
                        "last_seen": last.isoformat(),
                        "silent_min": f"{(now - last).total_seconds() / 60:.0f}",
                    }
                    self._store(Alert.new(labels, rule.severity, last, notes).fire(now), changed)
        return changed

    def acknowledged(self, alert: Alert) -> None:
        """Keep the in-memory copy in step when the store acknowledges an alert."""
        if alert.fingerprint in self._open:
            self._open[alert.fingerprint] = alert
