"""Timeline helpers for the routing tests: minutes on a clock, scripted alerts, a tick loop.

Alertmanager's tests read as timelines (``at(1)``, ``between(2, 2.5)``); these do the same
for the dispatcher, which takes its time from outside:

    script = Script()
    do = script.fire(1, "DoLow", "critical", farm="pond-01", node="n1")
    script.ack(10, do)
    notices = script.run(build_dispatcher(config), until=30)
    assert summary(notices) == [(1.5, "farmer", "new", ["DoLow/n1"])]

``T0`` is 08:00 in Hải Dương (01:00 UTC), outside the usual quiet hours.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from farmwatch_alerting.alert import Alert, Severity
from farmwatch_alerting.dispatch import Dispatcher, build_dispatcher
from farmwatch_alerting.notification import Notice
from farmwatch_alerting.routing_config import RoutingConfig

T0 = datetime(2026, 7, 15, 1, 0, tzinfo=UTC)


def at(minutes: float, start: datetime = T0) -> datetime:
    """The moment ``minutes`` after ``start``."""
    return start + timedelta(minutes=minutes)


def minute_of(moment: datetime, start: datetime = T0) -> float:
    return round((moment - start).total_seconds() / 60, 3)


@dataclass(frozen=True)
class _Between:
    low: float
    high: float

    def __eq__(self, other: object) -> bool:
        return isinstance(other, int | float) and self.low <= other <= self.high

    def __hash__(self) -> int:
        return hash((self.low, self.high))


def between(low: float, high: float) -> Any:
    """Equal to any minute in [low, high]: for times that depend on the tick step. (Typed
    ``Any`` so it can stand for the minute in an expected :data:`Row`.)"""
    return _Between(low, high)


def ticks(start: float, end: float, step_s: float = 10.0) -> Iterator[float]:
    """Minutes from ``start`` to ``end`` inclusive, every ``step_s`` seconds."""
    n = 0
    while (m := start + n * step_s / 60) <= end + 1e-9:
        yield round(m, 6)
        n += 1


def config(text: str) -> RoutingConfig:
    """A routing config from an inline (indented) YAML string."""
    return RoutingConfig.from_yaml(textwrap.dedent(text))


def label_of(alert: Alert) -> str:
    """``alertname/node`` (or just the name): how summaries show an alert."""
    node = alert.labels.get("node")
    return f"{alert.name}/{node}" if node else alert.name


Row = tuple[float, str, str, list[str]]


def summary(notices: list[Notice], start: datetime = T0) -> list[Row]:
    """(minute, receiver, reason, alerts) per notice; escalations show their level."""
    rows: list[Row] = []
    for n in notices:
        reason = n.reason.value
        if n.escalation_level:
            reason += f"@{n.escalation_level}"
        rows.append((minute_of(n.at, start), n.receiver, reason, [label_of(a) for a in n.alerts]))
    return rows


@dataclass
class Script:
    """Alerts changing at given minutes; ``run`` puts each change before the tick at its time."""

    start: datetime = T0
    events: list[tuple[float, Alert]] = field(default_factory=list)
    current: dict[str, Alert] = field(default_factory=dict)

    def fire(self, minute: float, alertname: str, severity: str = "warning", **labels: str) -> str:
        """An alert that fires at ``minute``; returns its fingerprint (to ack or resolve it)."""
        when = at(minute, self.start)
        alert = Alert.new({"alertname": alertname, **labels}, Severity(severity), when).fire(when)
        return self._change(minute, alert)

    def ack(self, minute: float, fp: str, by: str = "farmer") -> str:
        return self._change(minute, self.current[fp].acknowledge(at(minute, self.start), by))

    def resolve(self, minute: float, fp: str) -> str:
        return self._change(minute, self.current[fp].resolve(at(minute, self.start)))

    def versions_at(self, minute: float) -> list[Alert]:
        """The latest version of each alert as of ``minute`` (what a store would hold)."""
        latest: dict[str, Alert] = {}
        for when, alert in sorted(self.events, key=lambda e: e[0]):
            if when <= minute:
                latest[alert.fingerprint] = alert
        return list(latest.values())

    def _change(self, minute: float, alert: Alert) -> str:
        self.current[alert.fingerprint] = alert
        self.events.append((minute, alert))
        return alert.fingerprint

    def run(
        self,
        dispatcher: Dispatcher,
        until: float,
        *,
        step_s: float = 10.0,
        from_minute: float = 0.0,
        restart_at: float | None = None,
        restart: Callable[[dict[str, object]], Dispatcher] | None = None,
        on_tick: Callable[[float, Dispatcher], None] | None = None,
    ) -> list[Notice]:
        """Tick from ``from_minute`` to ``until``; at ``restart_at`` the dispatcher's state goes
        through JSON text into ``restart(state)`` (a new dispatcher), as after a restart."""
        out: list[Notice] = []
        pending = sorted(self.events, key=lambda e: e[0])
        for minute in ticks(from_minute, until, step_s):
            if restart_at is not None and restart is not None and minute == restart_at:
                state = json.loads(json.dumps(dispatcher.to_dict()))
                dispatcher = restart(state)
            while pending and pending[0][0] <= minute:
                dispatcher.put(pending.pop(0)[1])
            if on_tick is not None:
                on_tick(minute, dispatcher)
            out.extend(dispatcher.tick(at(minute, self.start)))
        return out


def run_yaml(text: str, script: Script, until: float, step_s: float = 10.0) -> list[Row]:
    """Build a dispatcher from inline YAML, run the script, summarise."""
    dispatcher = build_dispatcher(config(text))
    return summary(script.run(dispatcher, until, step_s=step_s), script.start)


Event = tuple[Any, ...]  # (minute, "fire", "DoLow/n1", "critical") | (minute, "ack", "DoLow/n1")


def scripted(events: Iterable[Event], farm: str = "pond-01", start: datetime = T0) -> Script:
    """A script from compact rows. An alert is named ``alertname[/node][@farm][#quantity]``;
    ``fire`` takes an optional severity (warning by default), ``ack`` an optional who."""
    script = Script(start)
    ids: dict[str, str] = {}
    for minute, action, who, *rest in events:
        if action == "fire":
            name, labels = parse_who(who, farm)
            severity = rest[0] if rest else "warning"
            ids[who] = script.fire(minute, name, severity, **labels)
        elif action == "ack":
            script.ack(minute, ids[who], *rest[:1])
        elif action == "resolve":
            script.resolve(minute, ids[who])
        else:
            raise ValueError(f"unknown action {action!r}")
    return script


def parse_who(who: str, farm: str = "pond-01") -> tuple[str, dict[str, str]]:
    """``DoLow/n1@pond-02#dissolved_oxygen`` → ("DoLow", {farm, node, quantity})."""
    rest, _, quantity = who.partition("#")
    rest, _, at_farm = rest.partition("@")
    name, _, node = rest.partition("/")
    labels = {"farm": at_farm or farm}
    if node:
        labels["node"] = node
    if quantity:
        labels["quantity"] = quantity
    return name, labels
