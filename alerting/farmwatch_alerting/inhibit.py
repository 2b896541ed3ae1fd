"""Inhibition: an alert that explains others keeps them quiet (Alertmanager's ``inhibit_rules``).

A rule mutes every *target* alert while some active *source* alert exists whose ``equal``
labels have the same values (a label missing on both sides counts as equal, as in
Alertmanager). Defaults (:data:`DEFAULT_INHIBIT_RULES`), used when a config names none:

* a node that is offline explains its silent or stale sensors: ``NodeOffline`` (or
  ``GatewayOffline`` for the gateway itself) mutes the other alerts of that farm + node;
* the critical alert about a thing makes its warning (and info) alert about the same thing
  noise: same farm, node and quantity. Alerts without a quantity label take no part, and
  an offline alert is never its target: otherwise a critical DO alert and a warning
  NodeOffline on the same node would mute each other and the farmer would hear nothing.

As in Alertmanager (``inhibit/inhibit.go``), an alert that matches both sides of a rule is
never muted by a source that also matches both sides, so a rule cannot silence its own kind.

    >>> from datetime import UTC, datetime
    >>> from farmwatch_alerting.alert import Alert, Severity
    >>> t = datetime(2026, 7, 15, 20, tzinfo=UTC)
    >>> off = Alert.new({"alertname": "NodeOffline", "farm": "f", "node": "n1"},
    ...                 Severity.WARNING, t).fire(t)
    >>> do = Alert.new({"alertname": "DoLow", "farm": "f", "node": "n1"},
    ...                Severity.CRITICAL, t).fire(t)
    >>> Inhibitor(DEFAULT_INHIBIT_RULES).muted([off, do]) == {do.fingerprint}
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, field_validator

from farmwatch_alerting.alert import Alert
from farmwatch_alerting.matchers import Matcher, check_matchers, matches_all, parse_matchers

__all__ = ["DEFAULT_INHIBIT_RULES", "InhibitRule", "InhibitRuleConfig", "Inhibitor"]


class InhibitRuleConfig(BaseModel):
    """One ``inhibit_rules`` entry as written in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_matchers: tuple[str, ...]
    target_matchers: tuple[str, ...]
    equal: tuple[str, ...] = ()

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def _parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("needs at least one matcher (an empty list would match every alert)")
        return check_matchers(value)


@dataclass(frozen=True, slots=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    @classmethod
    def from_config(cls, config: InhibitRuleConfig) -> InhibitRule:
        return cls(
            parse_matchers(config.source_matchers),
            parse_matchers(config.target_matchers),
            config.equal,
        )

    def key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.equal)


DEFAULT_INHIBIT_RULES: tuple[InhibitRule, ...] = (
    InhibitRule.from_config(
        InhibitRuleConfig(
            source_matchers=('alertname=~"NodeOffline|GatewayOffline"',),
            target_matchers=('alertname!~"NodeOffline|GatewayOffline"',),
            equal=("farm", "node"),
        )
    ),
    InhibitRule.from_config(
        InhibitRuleConfig(
            source_matchers=('severity="critical"', 'quantity!=""'),
            target_matchers=(
                'severity=~"warning|info"',
                'quantity!=""',
                'alertname!~"NodeOffline|GatewayOffline"',
            ),
            equal=("farm", "node", "quantity"),
        )
    ),
)


_Facts = tuple[tuple[bool, bool, tuple[str, ...]], ...]  # per rule: source? target? key


class Inhibitor:
    """The inhibition stage: ``muted(alerts)`` → fingerprints to keep quiet.

    The answer depends only on the alerts given; what each alert's labels match is cached
    by fingerprint (labels never change under one fingerprint), which makes a tick over
    thousands of open alerts a few dictionary look-ups each.
    """

    def __init__(self, rules: Iterable[InhibitRule]) -> None:
        self.rules = tuple(rules)
        self._facts: dict[str, _Facts] = {}

    def _facts_of(self, alert: Alert) -> _Facts:
        facts = self._facts.get(alert.fingerprint)
        if facts is None:
            labels = alert.labels
            facts = tuple(
                (matches_all(r.source, labels), matches_all(r.target, labels), r.key(labels))
                for r in self.rules
            )
        return facts

    def muted(self, alerts: Iterable[Alert]) -> set[str]:
        """Fingerprints of the active alerts some other active alert inhibits."""
        facts = {a.fingerprint: self._facts_of(a) for a in alerts if a.active}
        self._facts = facts  # keeps the cache to the alerts still open
        out: set[str] = set()
        for i in range(len(self.rules)):
            # Per equal-key: does a source exist, and does one exist that is not also a target?
            sources: dict[tuple[str, ...], bool] = {}
            for is_source, is_target, key in (f[i] for f in facts.values()):
                if is_source:
                    sources[key] = sources.get(key, False) or not is_target
            if not sources:
                continue
            for fp, per_rule in facts.items():
                is_source, is_target, key = per_rule[i]
                # A two-sided target is muted only by a source that is not itself two-sided.
                if is_target and key in sources and (not is_source or sources[key]):
                    out.add(fp)
        return out
