"""Quiet hours: ranges across midnight, weekdays, IANA zones through a DST change, deferral of
non-critical notices to the end of the night, and critical alerts that go through anyway."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alerting.timeline import Event, Row, run_yaml, scripted
from farmwatch_alerting.quiet_hours import QuietHours, QuietHoursConfig, TimeRange

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
BERLIN = ZoneInfo("Europe/Berlin")


def hours(
    *ranges: str, zone: str = "Asia/Ho_Chi_Minh", weekdays: list[str] | None = None
) -> QuietHours:
    cfg = QuietHoursConfig(
        time_zone=zone, ranges=ranges, weekdays=None if weekdays is None else tuple(weekdays)
    )
    return QuietHours.from_config(cfg)


def hcm(day: int, hour: int, minute: int = 0, month: int = 7) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=HCM)


# 2026-07-17 is a Friday.
@pytest.mark.parametrize(
    ("moment", "quiet", "release"),
    [
        (hcm(15, 20, 59), False, None),
        (hcm(15, 21, 0), True, hcm(16, 5, 30)),
        (hcm(15, 23, 59), True, hcm(16, 5, 30)),
        (hcm(16, 0, 0), True, hcm(16, 5, 30)),  # past midnight: yesterday's range
        (hcm(16, 3, 0), True, hcm(16, 5, 30)),
        (hcm(16, 5, 29), True, hcm(16, 5, 30)),
        (hcm(16, 5, 30), False, None),
        (hcm(16, 12, 0), False, None),
        (datetime(2026, 7, 15, 20, 0, tzinfo=UTC), True, hcm(16, 5, 30)),  # any zone in
    ],
)
def test_crossing_midnight_in_ho_chi_minh(
    moment: datetime, quiet: bool, release: datetime | None
) -> None:
    q = hours("21:00-05:30")
    assert q.contains(moment) is quiet
    assert q.release_at(moment) == release


@pytest.mark.parametrize(
    ("moment", "quiet"),
    [
        (hcm(17, 22), True),  # Friday night
        (hcm(18, 3), True),  # ... into Saturday morning: the range started on Friday
        (hcm(18, 22), False),  # Saturday night is not quiet
        (hcm(17, 3), False),  # Thursday night into Friday is not
        (hcm(19, 22), True),  # Sunday: "sun" given as a range wrapping the week
        (hcm(20, 3), True),
        (hcm(20, 22), False),  # Monday
    ],
)
def test_weekdays_are_the_day_a_range_starts(moment: datetime, quiet: bool) -> None:
    assert hours("21:00-05:30", weekdays=["fri", "sun-sun"]).contains(moment) is quiet


def test_adjacent_ranges_chain_into_one_quiet_period() -> None:
    assert hours("21:00-24:00", "00:00-05:30").release_at(hcm(15, 22)) == hcm(16, 5, 30)
    # All Saturday and Sunday: quiet from Saturday 00:00 until Monday 00:00.
    weekend = hours("00:00-24:00", weekdays=["sat-sun"])
    assert weekend.release_at(hcm(18, 3)) == hcm(20, 0)
    assert weekend.release_at(hcm(17, 23)) is None


@pytest.mark.parametrize(
    ("start_utc", "release_utc", "night"),
    [
        # Autumn: on 2026-10-25 clocks go back from 03:00 CEST to 02:00 CET. 21:00 CEST is
        # 19:00 UTC, 05:30 CET is 04:30 UTC: the night lasts 9.5 h, not 8.5.
        (datetime(2026, 10, 24, 19, 0, tzinfo=UTC), datetime(2026, 10, 25, 4, 30, tzinfo=UTC), 9.5),
        # Spring: on 2026-03-29 from 02:00 CET to 03:00 CEST: 20:00 UTC to 03:30 UTC, 7.5 h.
        (datetime(2026, 3, 28, 20, 0, tzinfo=UTC), datetime(2026, 3, 29, 3, 30, tzinfo=UTC), 7.5),
        # An ordinary summer night: 19:00 to 03:30 UTC.
        (datetime(2026, 7, 15, 19, 0, tzinfo=UTC), datetime(2026, 7, 16, 3, 30, tzinfo=UTC), 8.5),
    ],
)
def test_berlin_across_a_dst_change(
    start_utc: datetime, release_utc: datetime, night: float
) -> None:
    q = hours("21:00-05:30", zone="Europe/Berlin")
    assert not q.contains(start_utc - timedelta(seconds=1))
    assert q.contains(start_utc)
    assert q.release_at(start_utc) == release_utc
    assert q.release_at(release_utc - timedelta(minutes=1)) == release_utc
    assert not q.contains(release_utc)
    assert (release_utc - start_utc) == timedelta(hours=night)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("21:00", "is not a time range"),
        ("25:00-01:00", "from 00:00 to 23:59"),
        ("10:60-11:00", "from 00:00 to 23:59"),
        ("00:00-24:30", "from 00:00 to 23:59"),
        ("05:00-05:00", "must not start where it ends"),
    ],
)
def test_bad_ranges(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        TimeRange.parse(text)


def test_range_edges() -> None:
    assert str(TimeRange.parse(" 9:05 - 24:00 ")) == "09:05-24:00"
    day = QuietHours(BERLIN, (TimeRange.parse("00:00-24:00"),))
    assert day.contains(datetime(2026, 7, 15, 12, tzinfo=UTC))


# --------------------------------------------------------------------------------------------
# Deferral through the dispatcher

NIGHT = """
receivers:
  - name: farmer
    quiet_hours: {time_zone: Asia/Ho_Chi_Minh, ranges: ["21:00-05:30"]}
  - name: daytime
route:
  receiver: farmer
  group_by: [farm]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 12h
  routes:
    - {matchers: ['farm="lychee-01"'], receiver: daytime}
"""

EVENING = datetime(2026, 7, 15, 13, 50, tzinfo=UTC)  # 20:50 in Hải Dương; 05:30 is minute 520


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [(5, "fire", "PhHigh/n1")],
            [(5.5, "farmer", "new", ["PhHigh/n1"])],
            id="before 21:00: at once",
        ),
        pytest.param(
            [(15, "fire", "PhHigh/n1")],
            [(520.0, "farmer", "new", ["PhHigh/n1"])],
            id="a warning at 21:05 waits for 05:30, and is not dropped",
        ),
        pytest.param(
            [(15, "fire", "DoLow/n1", "critical")],
            [(15.5, "farmer", "new", ["DoLow/n1"])],
            id="critical bypasses quiet hours",
        ),
        pytest.param(
            [(15, "fire", "PhHigh/n1@lychee-01")],
            [(15.5, "daytime", "new", ["PhHigh/n1"])],
            id="quiet hours are per receiver",
        ),
        pytest.param(
            [(15, "fire", "PhHigh/n1"), (18, "fire", "DoLow/n1", "critical")],
            # The group's first notice was held; the critical update goes now, as the NEW one.
            [(20.5, "farmer", "new", ["PhHigh/n1", "DoLow/n1"])],
            id="a critical alert joining a held group takes it through",
        ),
        pytest.param(
            [
                (15, "fire", "PhHigh/n1"),
                (30, "fire", "PhHigh/n2"),
                (60, "resolve", "PhHigh/n2"),
                (100, "fire", "Nh3/n1@barn-01"),
            ],
            [
                (520.0, "farmer", "new", ["Nh3/n1"]),  # one notice per group at 05:30
                (520.0, "farmer", "new", ["PhHigh/n1", "PhHigh/n2"]),  # n2 shown as ended
            ],
            id="what happened overnight arrives as one notice per group",
        ),
        pytest.param(
            [(15, "fire", "PhHigh/n1"), (200, "resolve", "PhHigh/n1")],
            [(520.0, "farmer", "resolved", ["PhHigh/n1"])],
            id="started and ended overnight: the morning says so",
        ),
    ],
)
def test_quiet_hours_defer_non_critical_notices(events: list[Event], expected: list[Row]) -> None:
    script = scripted(events, start=EVENING)
    assert run_yaml(NIGHT, script, until=600, step_s=30) == expected


def test_deferral_in_berlin_follows_the_dst_change() -> None:
    text = """
    receivers:
      - name: volunteer
        quiet_hours: {time_zone: Europe/Berlin, ranges: ["22:00-06:00"]}
    route: {receiver: volunteer, group_wait: 0s}
    """
    # 22:00 CEST on Saturday 2026-10-24; 06:00 CET on Sunday is 05:00 UTC, 9 h (540 min) on.
    start = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)
    script = scripted([(1, "fire", "Frost/n1")], start=start)
    assert run_yaml(text, script, until=600, step_s=60) == [
        (540.0, "volunteer", "new", ["Frost/n1"])
    ]
