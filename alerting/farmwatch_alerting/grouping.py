"""Aggregation groups: many alerts, one notice, at a pace people can bear.

Alertmanager's ``dispatch/dispatch.go`` timers, with injected time. Each alert is routed once
(when first put) to one or more routes; on each it joins the group named by the route's
``group_by`` labels. A group is evaluated ("flushed") on its own clock:

* first ``group_wait`` after its oldest alert fired (at once if that is already past, e.g.
  after a restart), so alerts that fire together arrive in one NEW notice;
* then every ``group_interval``: an UPDATE if alerts joined (or, when the receiver wants
  resolved notices, left) since the last notice; otherwise a REPEAT if some alert is still
  firing unacknowledged and ``repeat_interval`` has passed since the last notice (so repeats
  land on the first flush after it, as in Alertmanager);
* when every alert of a notified group has resolved, one RESOLVED notice (the dispatcher
  drops it later for receivers with ``send_resolved: false``), and the group ends; a new
  alert for it later starts a new group (and a NEW notice).

Muted (silenced or inhibited) alerts are left out of notices. An alert muted after it was
notified is not reported as gone, and does not count as new when the mute ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from farmwatch_alerting.alert import Alert, AlertState
from farmwatch_alerting.notification import Notice, NoticeReason
from farmwatch_alerting.routing import Route
from farmwatch_alerting.state_codec import alert_from_dict, alert_sort_key

__all__ = ["Grouper"]


@dataclass(slots=True)
class _Group:
    key: str
    route: Route
    labels: dict[str, str]
    next_flush: datetime
    members: set[str] = field(default_factory=set)  # fingerprints
    notified_at: datetime | None = None  # the last notice (None: nothing sent yet)
    notified_firing: set[str] = field(default_factory=set)  # active alerts it carried


class Grouper:
    """Routes alerts into groups (``put``) and decides which groups speak now (``flush``)."""

    def __init__(self, root: Route, send_resolved: Mapping[str, bool]) -> None:
        self.root = root
        self.send_resolved = send_resolved
        self.alerts: dict[str, Alert] = {}  # fingerprint → latest version, while grouped
        self._groups: dict[str, _Group] = {}
        self._routes = {route.id: route for route in root.walk()}

    # ---- input

    def put(self, alert: Alert) -> None:
        """Upsert one alert (idempotent; an older version than the one held is ignored)."""
        held = self.alerts.get(alert.fingerprint)
        if held is None:
            if alert.active:
                self.alerts[alert.fingerprint] = alert
                self._route(alert)
            return  # pending, or resolved without ever being seen firing: nothing to say
        if alert.state is AlertState.PENDING or alert.updated_at < held.updated_at:
            return
        self.alerts[alert.fingerprint] = alert

    def _route(self, alert: Alert) -> None:
        base = alert.fired_at or alert.updated_at
        for route in self.root.match(alert.labels):
            key = route.group_key(alert.labels)
            group = self._groups.get(key)
            if group is None:
                group = _Group(
                    key, route, route.group_labels(alert.labels), base + route.group_wait
                )
                self._groups[key] = group
            elif group.notified_at is None:
                group.next_flush = min(group.next_flush, base + route.group_wait)
            group.members.add(alert.fingerprint)

    def repeat_interval(self, group_key: str) -> timedelta | None:
        """The repeat interval of a live group (None once it has ended)."""
        group = self._groups.get(group_key)
        return None if group is None else group.route.repeat_interval

    # ---- the stage

    def flush(self, now: datetime, muted: set[str]) -> list[Notice]:
        """The notices due at ``now``; groups evaluated in key order (deterministic output)."""
        out: list[Notice] = []
        for key in sorted(self._groups):
            group = self._groups[key]
            if now < group.next_flush:
                continue
            notice = self._evaluate(group, now, muted)
            if notice is not None:
                out.append(notice)
            group.next_flush = now + group.route.group_interval
        self._forget_unreferenced()
        return out

    def _evaluate(self, group: _Group, now: datetime, muted: set[str]) -> Notice | None:
        members = [self.alerts[fp] for fp in sorted(group.members)]
        active = [a for a in members if a.active]
        visible = [a for a in active if a.fingerprint not in muted]
        firing = {a.fingerprint for a in visible}
        ended = [a for a in members if not a.active and a.fingerprint in group.notified_firing]
        route = group.route
        wants_resolved = self.send_resolved.get(route.receiver, True)

        def notice(reason: NoticeReason, alerts: Iterable[Alert]) -> Notice:
            return Notice(
                route.receiver, group.key, dict(group.labels),
                tuple(sorted(alerts, key=alert_sort_key)), reason, now,
            )  # fmt: skip

        if not active:  # every alert ended: the group is over
            del self._groups[group.key]
            if group.notified_at is None or not ended:
                return None
            return notice(NoticeReason.RESOLVED, ended)

        result: Notice | None = None
        if group.notified_at is None:
            if visible:
                result = notice(NoticeReason.NEW, visible)
        elif firing - group.notified_firing or (wants_resolved and ended):
            result = notice(NoticeReason.UPDATE, [*visible, *ended])
        elif (
            visible
            and any(a.state is AlertState.FIRING for a in visible)
            and now - group.notified_at >= route.repeat_interval
        ):
            result = notice(NoticeReason.REPEAT, visible)
        # Resolved members have been told (or need not be): they leave the group now.
        for alert in members:
            if not alert.active:
                group.members.discard(alert.fingerprint)
                group.notified_firing.discard(alert.fingerprint)
        if result is not None:
            group.notified_at = now
            still_muted = {a.fingerprint for a in active if a.fingerprint in muted}
            group.notified_firing = firing | (group.notified_firing & still_muted)
        return result

    def _forget_unreferenced(self) -> None:
        referenced = set().union(*(g.members for g in self._groups.values()))
        for fp in list(self.alerts):
            if fp not in referenced:
                del self.alerts[fp]

    # ---- state

    def to_dict(self) -> dict[str, Any]:
        return {
            "alerts": [self.alerts[fp].as_json() for fp in sorted(self.alerts)],
            "groups": [
                {
                    "key": g.key,
                    "route": g.route.id,
                    "labels": g.labels,
                    "next_flush": g.next_flush.isoformat(),
                    "members": sorted(g.members),
                    "notified_at": None if g.notified_at is None else g.notified_at.isoformat(),
                    "notified_firing": sorted(g.notified_firing),
                }
                for g in (self._groups[k] for k in sorted(self._groups))
            ],
        }

    def load(self, data: Mapping[str, Any]) -> None:
        """Restore :meth:`to_dict` output. Groups of routes the config no longer has are
        dropped and their active alerts routed afresh (their receivers get a NEW notice).
        Alerts put before the load are put again afterwards, so a newer version from the
        store wins over the saved one whichever order the service does the two in."""
        already_put = list(self.alerts.values())
        self.alerts = {}
        self._groups = {}
        alerts = {a["fingerprint"]: alert_from_dict(a) for a in data.get("alerts", ())}
        placed: set[str] = set()
        for g in data.get("groups", ()):
            route = self._routes.get(g["route"])
            if route is None:
                continue
            members = {fp for fp in g["members"] if fp in alerts}
            notified = g.get("notified_at")
            self._groups[g["key"]] = _Group(
                g["key"], route, dict(g["labels"]), datetime.fromisoformat(g["next_flush"]),
                members, None if notified is None else datetime.fromisoformat(notified),
                set(g.get("notified_firing", ())) & members,
            )  # fmt: skip
            placed |= members
        for fp, alert in alerts.items():
            if fp in placed:
                self.alerts[fp] = alert
        for fp, alert in alerts.items():
            if fp not in placed:
                self.put(alert)
        for alert in already_put:
            self.put(alert)
