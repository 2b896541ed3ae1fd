"""The notification pipeline: alerts in, :class:`~farmwatch_alerting.notification.Notice` out.

Pure logic with injected time: no threads, no sleeps, no I/O. The service feeds it and
persists it:

* **Input is upsert events.** Call :meth:`Dispatcher.put` with an alert whenever the store
  changes it (fired, updated, acknowledged, resolved). Puts are idempotent and an older
  version than the one held is ignored, so re-putting the store's whole current set (after
  a restart, or to be safe) is harmless. Pending alerts are ignored; an alert leaves the
  dispatcher once its resolution has been told.
* **Output comes from** :meth:`Dispatcher.tick` ``(now)``, called on a timer (every few
  seconds: ``group_wait`` and escalation are only as punctual as the ticks).
* **State** (group timers and members, what each receiver was last told, escalation levels,
  notices held for quiet hours) is plain JSON through :meth:`Dispatcher.to_dict` and
  ``build_dispatcher(config, state=...)``: save it after each tick that returned notices (or
  changed anything), and a restart neither re-sends nor forgets.

The stages, in the order :func:`build_dispatcher` assembles them::

    put(alert) ──▶ routing (route tree → groups)
    tick(now)  ──▶ inhibition ─▶ silences ─▶ grouping timers ─▶ escalation
               ──▶ send_resolved ─▶ quiet hours ─▶ list[Notice]

Inhibition and silences *mute* alerts (they stay in their groups, left out of notices).
Escalation runs before quiet hours because its notices are critical, and critical notices
pass quiet hours anyway; the ``send_resolved`` filter comes after escalation so a receiver
that does not want RESOLVED notices does not stop the levels above it from getting theirs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from farmwatch_alerting.alert import Alert
from farmwatch_alerting.escalation import Escalator, escalation_chain
from farmwatch_alerting.grouping import Grouper
from farmwatch_alerting.inhibit import Inhibitor
from farmwatch_alerting.notification import Notice, NoticeReason
from farmwatch_alerting.quiet_hours import QuietHours, QuietHoursGate
from farmwatch_alerting.routing import Route
from farmwatch_alerting.routing_config import RoutingConfig
from farmwatch_alerting.silences import Silence, Silencer

__all__ = ["STATE_VERSION", "Dispatcher", "ResolvedFilter", "build_dispatcher"]

STATE_VERSION = 1


class ResolvedFilter:
    """Drops RESOLVED notices for receivers configured with ``send_resolved: false``."""

    def __init__(self, send_resolved: Mapping[str, bool]) -> None:
        self.send_resolved = send_resolved

    def apply(self, notices: list[Notice]) -> list[Notice]:
        return [
            n
            for n in notices
            if n.reason is not NoticeReason.RESOLVED or self.send_resolved.get(n.receiver, True)
        ]


class Dispatcher:
    """Runs the stages it is given, in the order :func:`build_dispatcher` spells out."""

    def __init__(
        self,
        *,
        inhibitor: Inhibitor,
        silencer: Silencer,
        grouper: Grouper,
        escalator: Escalator,
        resolved_filter: ResolvedFilter,
        quiet_gate: QuietHoursGate,
    ) -> None:
        self.inhibitor = inhibitor
        self.silencer = silencer
        self.grouper = grouper
        self.escalator = escalator
        self.resolved_filter = resolved_filter
        self.quiet_gate = quiet_gate

    def put(self, alert: Alert) -> None:
        """Upsert an alert (routing happens here, once per alert)."""
        self.grouper.put(alert)

    def put_all(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            self.put(alert)

    def set_silences(self, silences: Iterable[Silence]) -> None:
        """Replace the silences (the store owns them; expired ones may stay, they match nothing)."""
        self.silencer = Silencer(silences)

    def tick(self, now: datetime) -> list[Notice]:
        """Everything to send at ``now`` (an aware datetime), in a deterministic order."""
        if now.tzinfo is None:
            raise ValueError("tick(now) needs an aware datetime (UTC)")
        alerts = self.grouper.alerts
        muted = self.inhibitor.muted(alerts.values())
        muted |= set(self.silencer.muted(alerts.values(), now))
        notices = self.grouper.flush(now, muted)
        notices = self.escalator.apply(notices, self.grouper.alerts, muted, now)
        notices = self.resolved_filter.apply(notices)
        return self.quiet_gate.apply(notices, now)

    @property
    def alerts(self) -> Mapping[str, Alert]:
        """The alerts being tracked (fingerprint → latest version)."""
        return self.grouper.alerts

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "grouping": self.grouper.to_dict(),
            "escalation": self.escalator.to_dict(),
            "quiet_hours": self.quiet_gate.to_dict(),
        }

    def load(self, state: Mapping[str, Any]) -> None:
        version = state.get("version")
        if version != STATE_VERSION:
            raise ValueError(f"dispatcher state version {version!r}, expected {STATE_VERSION}")
        self.grouper.load(state.get("grouping", {}))
        self.escalator.load(state.get("escalation", {}))
        self.quiet_gate.load(state.get("quiet_hours", {}))


def build_dispatcher(
    config: RoutingConfig,
    *,
    silences: Iterable[Silence] = (),
    state: Mapping[str, Any] | None = None,
) -> Dispatcher:
    """Assemble the pipeline from a validated config (and restore ``state`` if given)."""
    receivers = config.receivers_by_name()
    send_resolved = {name: r.send_resolved for name, r in receivers.items()}
    links = {name: (r.escalate_to, r.escalate_after) for name, r in receivers.items()}
    quiet = {
        name: QuietHours.from_config(r.quiet_hours)
        for name, r in receivers.items()
        if r.quiet_hours is not None
    }
    grouper = Grouper(Route.build(config.route), send_resolved)
    dispatcher = Dispatcher(
        inhibitor=Inhibitor(config.inhibit()),
        silencer=Silencer(silences),
        grouper=grouper,
        escalator=Escalator({name: escalation_chain(links, name) for name in receivers}),
        resolved_filter=ResolvedFilter(send_resolved),
        quiet_gate=QuietHoursGate(quiet, grouper.repeat_interval),
    )
    if state is not None:
        dispatcher.load(state)
    return dispatcher
