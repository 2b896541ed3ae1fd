"""Quiet hours: a receiver's night, in their own time zone; only critical news wakes them.

Each receiver may have quiet hours: ranges of local wall-clock time such as ``21:00-05:30``
(which crosses midnight: it runs from 21:00 on one day to 05:30 on the next), optionally
only on some weekdays (the weekday a range *starts* on, so ``fri`` with ``21:00-05:30`` is
Friday night into Saturday morning), in an IANA time zone (``Asia/Ho_Chi_Minh`` by default,
UTC+7 with no daylight saving; ``Europe/Berlin`` and friends are handled through the DST
change: the range is wall-clock time on the day, so the night the clocks go back is an hour
longer). ``24:00`` is allowed as an end.

A notice that arrives in quiet hours is *deferred* to the end of the quiet period (adjacent
ranges chain), never dropped; the dispatcher decides what is critical enough to bypass.

    >>> from datetime import UTC, datetime
    >>> q = QuietHours.from_config(QuietHoursConfig(ranges=("21:00-05:30",)))
    >>> t = datetime(2026, 7, 15, 20, tzinfo=UTC)  # 03:00 on the 16th in Hải Dương
    >>> q.contains(t), q.release_at(t)
    (True, datetime.datetime(2026, 7, 15, 22, 30, tzinfo=datetime.timezone.utc))
    >>> q.contains(datetime(2026, 7, 15, 23, tzinfo=UTC))  # 06:00 local
    False
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator

from farmwatch_alerting.alert import Severity
from farmwatch_alerting.notification import Notice, NoticeReason
from farmwatch_alerting.state_codec import notice_from_dict, notice_to_dict

__all__ = [
    "DEFAULT_TIME_ZONE",
    "QuietHours",
    "QuietHoursConfig",
    "QuietHoursGate",
    "TimeRange",
    "bypasses_quiet_hours",
]

DEFAULT_TIME_ZONE = "Asia/Ho_Chi_Minh"  # the model farms of Hải Dương
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
_RANGE = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Minutes after local midnight; ``end <= start`` means the range ends the next day."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        found = _RANGE.fullmatch(text)
        if found is None:
            raise ValueError(f"{text!r} is not a time range like 21:00-05:30")
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60:
            raise ValueError(f"{text!r}: times go from 00:00 to 23:59 (24:00 as an end)")
        if start == end:
            raise ValueError(f"{text!r}: a range must not start where it ends")
        return cls(start, end)

    def interval(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The UTC interval of this range starting on local ``day``."""
        end_day = day + _DAY if self.end <= self.start or self.end == 24 * 60 else day
        end_minutes = self.end % (24 * 60)
        start = datetime.combine(day, _clock(self.start), tzinfo=zone)
        end = datetime.combine(end_day, _clock(end_minutes), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _clock(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


class QuietHoursConfig(BaseModel):
    """``quiet_hours:`` of a receiver as written in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: str = DEFAULT_TIME_ZONE
    ranges: tuple[str, ...]
    weekdays: tuple[str, ...] | None = None  # "mon", "sat-sun"; None is every day

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Ho_Chi_Minh)") from exc
        return value

    @field_validator("ranges")
    @classmethod
    def _ranges(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("needs at least one range like 21:00-05:30")
        for i, text in enumerate(value):
            try:
                TimeRange.parse(text)
            except ValueError as exc:
                raise ValueError(f"[{i}]: {exc}") from exc
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            parse_weekdays(value)
        return value


def parse_weekdays(items: tuple[str, ...]) -> frozenset[int]:
    """``("mon-fri", "sun")`` → {0, 1, 2, 3, 4, 6}; ranges may wrap (``sat-mon``)."""
    days: set[int] = set()
    for item in items:
        first, _, last = item.strip().lower().partition("-")
        try:
            a = _WEEKDAYS.index(first.strip()[:3])
            b = _WEEKDAYS.index(last.strip()[:3]) if last else a
        except ValueError:
            raise ValueError(
                f"{item!r}: weekdays are mon ... sun, or ranges like mon-fri"
            ) from None
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(days)


@dataclass(frozen=True, slots=True)
class QuietHours:
    zone: ZoneInfo
    ranges: tuple[TimeRange, ...]
    weekdays: frozenset[int] | None = None

    @classmethod
    def from_config(cls, config: QuietHoursConfig) -> QuietHours:
        return cls(
            ZoneInfo(config.time_zone),
            tuple(TimeRange.parse(r) for r in config.ranges),
            None if config.weekdays is None else parse_weekdays(config.weekdays),
        )

    def _intervals(self, now: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The quiet intervals that could contain ``now`` (those starting yesterday or today)."""
        today = now.astimezone(self.zone).date()
        for day in (today - _DAY, today):
            if self.weekdays is not None and day.weekday() not in self.weekdays:
                continue
            for r in self.ranges:
                yield r.interval(day, self.zone)

    def contains(self, now: datetime) -> bool:
        """Is ``now`` (an aware datetime) inside quiet hours?"""
        utc = now.astimezone(UTC)
        return any(start <= utc < end for start, end in self._intervals(utc))

    def release_at(self, now: datetime) -> datetime | None:
        """When the quiet period around ``now`` ends (UTC), or None if ``now`` is not quiet."""
        t = now.astimezone(UTC)
        if not self.contains(t):
            return None
        for _ in range(16):  # at most a few ranges chain; 16 bounds a config covering all day
            ends = [end for start, end in self._intervals(t) if start <= t < end]
            if not ends:
                return t
            t = max(ends)
        return t


_NEWS = {NoticeReason.REPEAT: 1, NoticeReason.UPDATE: 2, NoticeReason.NEW: 3}


def _merged_reason(held: NoticeReason, new: NoticeReason) -> NoticeReason:
    """What a receiver who missed ``held`` should be told it is: a NEW they never had stays
    NEW, an UPDATE is not downgraded to a REPEAT; a RESOLVED (or escalation) is itself."""
    if new in _NEWS and held in _NEWS:
        return max(held, new, key=_NEWS.__getitem__)
    return new


def bypasses_quiet_hours(notice: Notice) -> bool:
    """Critical news (and its resolution: whoever was woken wants to know it is over)."""
    return notice.reason is NoticeReason.ESCALATION or any(
        a.severity is Severity.CRITICAL for a in notice.alerts
    )


class QuietHoursGate:
    """The quiet-hours stage: holds non-critical notices until the receiver's night ends.

    While held, a later notice of the same group for the same receiver replaces the held one
    (it carries the group's newer alerts), keeping NEW if the receiver never had the first
    one; a notice that passes (say, a critical alert joined the group) takes the held one's
    place the same way. Held notices are released at the first tick at or after the end of
    the quiet period, with ``at`` set to that tick. The grouping timers ran on through the
    night, so a REPEAT of a released group within its ``repeat_interval`` (looked up through
    ``repeat_interval(group_key)``) would repeat what was just said: it is dropped.
    """

    def __init__(
        self,
        quiet: Mapping[str, QuietHours],
        repeat_interval: Callable[[str], timedelta | None] = lambda _key: None,
    ) -> None:
        self.quiet = quiet
        self.repeat_interval = repeat_interval
        self._held: dict[tuple[str, str, int], tuple[Notice, datetime]] = {}
        self._no_repeat_until: dict[tuple[str, str, int], datetime] = {}

    def apply(self, notices: list[Notice], now: datetime) -> list[Notice]:
        out: list[Notice] = []
        for key in [k for k, until in self._no_repeat_until.items() if now >= until]:
            del self._no_repeat_until[key]
        for incoming in notices:
            key = (incoming.receiver, incoming.group_key, incoming.escalation_level)
            held = self._held.pop(key, None)
            notice = incoming
            if held is not None:
                notice = replace(notice, reason=_merged_reason(held[0].reason, notice.reason))
            elif notice.reason is NoticeReason.REPEAT and key in self._no_repeat_until:
                continue
            hours = self.quiet.get(notice.receiver)
            release = None
            if hours is not None and not bypasses_quiet_hours(notice):
                release = hours.release_at(now)
            if release is None:
                out.append(notice)
            else:
                self._held[key] = (notice, release)
        for key in sorted(self._held):
            notice, release = self._held[key]
            if now >= release:
                del self._held[key]
                out.append(replace(notice, at=now))
                interval = self.repeat_interval(notice.group_key)
                if interval is not None:
                    self._no_repeat_until[key] = now + interval
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "held": [
                {"notice": notice_to_dict(notice), "release_at": release.isoformat()}
                for notice, release in (self._held[k] for k in sorted(self._held))
            ],
            "no_repeat_until": [
                {"receiver": r, "group_key": g, "level": level, "until": until.isoformat()}
                for (r, g, level), until in sorted(self._no_repeat_until.items())
            ],
        }

    def load(self, data: Mapping[str, Any]) -> None:
        self._held = {}
        for item in data.get("held", ()):
            notice = notice_from_dict(item["notice"])
            key = (notice.receiver, notice.group_key, notice.escalation_level)
            self._held[key] = (notice, datetime.fromisoformat(item["release_at"]))
        self._no_repeat_until = {
            (i["receiver"], i["group_key"], int(i["level"])): datetime.fromisoformat(i["until"])
            for i in data.get("no_repeat_until", ())
        }
