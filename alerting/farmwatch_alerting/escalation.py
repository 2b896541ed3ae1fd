"""Escalation: a critical alert nobody acknowledges reaches the next person in the chain.

What Alertmanager lacks and a pond at 3 a.m. needs. Each receiver may name who is next and
how long it has to acknowledge (``escalate_to: technician``, ``escalate_after: 15m``); the
chain follows those links (farmer → cooperative technician → extension officer). A critical
alert that is still *firing* (neither acknowledged nor resolved) ``escalate_after`` of the
first receiver after that receiver was first notified of it produces an ESCALATION notice to
the next level; if that level does not acknowledge within its own ``escalate_after``, the
level after it hears, and so on to the end of the chain. Acknowledging stops it for good;
a silence or inhibition pauses it. When an escalated group resolves, every level that heard
of it gets the RESOLVED notice too (people woken for a crash want to know it is over).

The clock of each alert starts at the first notice that carried it, so an alert that joins a
group later escalates later. Warnings never escalate.

    >>> from datetime import timedelta
    >>> chain = escalation_chain({"farmer": ("tech", timedelta(minutes=15)),
    ...                           "tech": ("officer", timedelta(minutes=30)),
    ...                           "officer": (None, None)}, "farmer")
    >>> [(s.receiver, s.due.total_seconds() / 60) for s in chain]
    [('tech', 15.0), ('officer', 45.0)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from farmwatch_alerting.alert import Alert, AlertState, Severity
from farmwatch_alerting.notification import Notice, NoticeReason
from farmwatch_alerting.state_codec import alert_sort_key

__all__ = ["EscalationStep", "Escalator", "escalation_chain"]

_FIRST_NOTICES = frozenset({NoticeReason.NEW, NoticeReason.UPDATE, NoticeReason.REPEAT})


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """Level ``n`` of a chain: ``receiver`` hears ``due`` after level 0 was first notified."""

    receiver: str
    due: timedelta


def escalation_chain(
    links: Mapping[str, tuple[str | None, timedelta | None]], first: str
) -> tuple[EscalationStep, ...]:
    """Follow ``escalate_to``/``escalate_after`` links from ``first`` (loops are cut)."""
    steps: list[EscalationStep] = []
    seen = {first}
    current, elapsed = first, timedelta(0)
    while True:
        nxt, after = links.get(current, (None, None))
        if nxt is None or after is None or nxt in seen:
            return tuple(steps)
        elapsed += after
        steps.append(EscalationStep(nxt, elapsed))
        seen.add(nxt)
        current = nxt


@dataclass(slots=True)
class _Watch:
    """One critical alert of one group, notified to ``receiver`` at ``since``."""

    receiver: str
    group_labels: dict[str, str]
    since: datetime
    level: int = 0


class Escalator:
    """The escalation stage: records first notices, adds ESCALATION (and their RESOLVED) ones."""

    def __init__(self, chains: Mapping[str, Sequence[EscalationStep]]) -> None:
        self.chains = chains
        self._watches: dict[tuple[str, str], _Watch] = {}  # (group key, fingerprint)
        self._reached: dict[str, tuple[str, int, dict[str, str]]] = {}  # group → level-0, max

    def apply(
        self,
        notices: list[Notice],
        alerts: Mapping[str, Alert],
        muted: set[str],
        now: datetime,
    ) -> list[Notice]:
        out = list(notices)
        for notice in notices:
            if notice.escalation_level != 0:
                continue
            if notice.reason in _FIRST_NOTICES and self.chains.get(notice.receiver):
                for alert in notice.alerts:
                    if alert.severity is Severity.CRITICAL and alert.state is AlertState.FIRING:
                        self._watches.setdefault(
                            (notice.group_key, alert.fingerprint),
                            _Watch(notice.receiver, dict(notice.group_labels), notice.at),
                        )
            elif notice.reason is NoticeReason.RESOLVED:
                out.extend(self._resolved(notice, now))
        out.extend(self._due(alerts, muted, now))
        return out

    def _resolved(self, notice: Notice, now: datetime) -> list[Notice]:
        for key in [k for k in self._watches if k[0] == notice.group_key]:
            del self._watches[key]
        reached = self._reached.pop(notice.group_key, None)
        if reached is None:
            return []
        first, top, _ = reached
        chain = self.chains.get(first, ())
        return [
            replace(notice, receiver=chain[level - 1].receiver, at=now, escalation_level=level)
            for level in range(1, min(top, len(chain)) + 1)
        ]

    def _due(self, alerts: Mapping[str, Alert], muted: set[str], now: datetime) -> list[Notice]:
        batches: dict[tuple[str, int], list[Alert]] = {}
        for (group, fp), watch in list(self._watches.items()):
            alert = alerts.get(fp)
            if alert is None or alert.state is not AlertState.FIRING:
                del self._watches[(group, fp)]  # acknowledged, resolved or forgotten: stop
                continue
            if fp in muted:
                continue  # silenced or inhibited: paused, not stopped
            chain = self.chains.get(watch.receiver, ())
            level = sum(1 for step in chain if now >= watch.since + step.due)
            for reached in range(watch.level + 1, level + 1):
                batches.setdefault((group, reached), []).append(alert)
            watch.level = max(watch.level, level)
        out = []
        for (group, level), batch in sorted(batches.items()):
            watch = next(w for (g, _), w in self._watches.items() if g == group)
            chain = self.chains[watch.receiver]
            out.append(
                Notice(
                    receiver=chain[level - 1].receiver,
                    group_key=group,
                    group_labels=dict(watch.group_labels),
                    alerts=tuple(sorted(batch, key=alert_sort_key)),
                    reason=NoticeReason.ESCALATION,
                    at=now,
                    escalation_level=level,
                )
            )
            first, top, labels = self._reached.get(group, (watch.receiver, 0, watch.group_labels))
            self._reached[group] = (first, max(top, level), labels)
        return out

    # ---- state

    def to_dict(self) -> dict[str, Any]:
        return {
            "watches": [
                {
                    "group_key": group,
                    "fingerprint": fp,
                    "receiver": w.receiver,
                    "group_labels": w.group_labels,
                    "since": w.since.isoformat(),
                    "level": w.level,
                }
                for (group, fp), w in sorted(self._watches.items())
            ],
            "reached": [
                {"group_key": group, "receiver": first, "level": level, "group_labels": labels}
                for group, (first, level, labels) in sorted(self._reached.items())
            ],
        }

    def load(self, data: Mapping[str, Any]) -> None:
        self._watches = {
            (w["group_key"], w["fingerprint"]): _Watch(
                w["receiver"],
                dict(w["group_labels"]),
                datetime.fromisoformat(w["since"]),
                int(w["level"]),
            )
            for w in data.get("watches", ())
        }
        self._reached = {
            r["group_key"]: (r["receiver"], int(r["level"]), dict(r["group_labels"]))
            for r in data.get("reached", ())
        }
