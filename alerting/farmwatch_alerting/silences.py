"""Silences: "I know, stop telling me" for matching alerts, until an expiry.

As in Alertmanager, a silence is a set of matchers with a start and an end; while active it
mutes every alert all its matchers match. Unlike a rule change it always ends: ``ends_at`` is
required, so a forgotten silence cannot hide next season's dissolved-oxygen crash. A silence
is a plain value; whoever owns the store persists it through :meth:`Silence.to_dict` /
:meth:`Silence.from_dict` and hands the current list to the dispatcher.

    >>> from datetime import UTC, datetime, timedelta
    >>> t = datetime(2026, 7, 15, 20, tzinfo=UTC)
    >>> s = Silence.create(['farm="pond-01"', 'alertname="DoLow"'], t, timedelta(hours=2),
    ...                    created_by="anh.tuan", comment="cleaning pond 1", id="s1")
    >>> s.mutes({"farm": "pond-01", "alertname": "DoLow"}, t + timedelta(hours=1))
    True
    >>> s.mutes({"farm": "pond-01", "alertname": "DoLow"}, t + timedelta(hours=2))  # expired
    False
    >>> Silence.from_dict(s.to_dict()) == s
    True
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from farmwatch_alerting.alert import Alert
from farmwatch_alerting.matchers import Matcher, matches_all, parse_matchers

__all__ = ["Silence", "Silencer"]


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str = ""

    def __post_init__(self) -> None:
        if not self.matchers:
            raise ValueError("a silence needs at least one matcher (it would mute everything)")
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("silence times must carry a time zone")
        if self.ends_at <= self.starts_at:
            raise ValueError("a silence must end after it starts")

    @classmethod
    def create(
        cls,
        matchers: Sequence[str],
        starts_at: datetime,
        duration: timedelta,
        *,
        created_by: str,
        comment: str = "",
        id: str | None = None,
    ) -> Silence:
        """A new silence for ``duration`` from ``starts_at`` (a random id unless given)."""
        return cls(
            id or uuid.uuid4().hex, parse_matchers(matchers), starts_at,
            starts_at + duration, created_by, comment,
        )  # fmt: skip

    def active_at(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def expired(self, now: datetime) -> bool:
        return now >= self.ends_at

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.active_at(now) and matches_all(self.matchers, labels)

    def expire(self, now: datetime) -> Silence:
        """End the silence now (an expired one stays as it is, for the record)."""
        if self.expired(now):
            return self
        ends = max(now, self.starts_at + timedelta(microseconds=1))
        return Silence(self.id, self.matchers, self.starts_at, ends, self.created_by, self.comment)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [str(m) for m in self.matchers],
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "created_by": self.created_by,
            "comment": self.comment,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Silence:
        return cls(
            str(data["id"]),
            parse_matchers(data["matchers"]),
            datetime.fromisoformat(data["starts_at"]),
            datetime.fromisoformat(data["ends_at"]),
            str(data["created_by"]),
            str(data.get("comment", "")),
        )


class Silencer:
    """The silence stage: ``muted(alerts, now)`` → {fingerprint: id of the silence}."""

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self.silences: tuple[Silence, ...] = tuple(silences)

    def muted(self, alerts: Iterable[Alert], now: datetime) -> dict[str, str]:
        active = [s for s in self.silences if s.active_at(now)]
        out: dict[str, str] = {}
        for alert in alerts:
            for silence in active:
                if matches_all(silence.matchers, alert.labels):
                    out[alert.fingerprint] = silence.id
                    break
        return out
