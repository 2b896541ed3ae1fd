"""The dispatcher end to end over timelines: group_wait, group_interval, repeat_interval,
resolved notices, idempotent input, and state that survives a restart mid-timeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from alerting.timeline import (
    Event,
    Row,
    Script,
    at,
    between,
    config,
    run_yaml,
    scripted,
    summary,
)
from farmwatch_alerting.alert import Alert, Severity
from farmwatch_alerting.dispatch import Dispatcher, build_dispatcher

SIMPLE = """
receivers: [{name: farmer}]
route:
  receiver: farmer
  group_by: [farm]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
"""

NO_RESOLVED = SIMPLE.replace("[{name: farmer}]", "[{name: farmer, send_resolved: false}]")


@pytest.mark.parametrize(
    ("events", "until", "expected"),
    [
        pytest.param(
            [(0, "fire", "DoLow/n1"), (0.2, "fire", "PhHigh/n1")],
            3,
            [(0.5, "farmer", "new", ["DoLow/n1", "PhHigh/n1"])],
            id="group_wait batches two alerts into one notice",
        ),
        pytest.param(
            [(0, "fire", "DoLow/n1"), (2, "fire", "PhHigh/n1"), (6, "fire", "Nh3/n2")],
            12,
            [
                (0.5, "farmer", "new", ["DoLow/n1"]),
                (5.5, "farmer", "update", ["DoLow/n1", "PhHigh/n1"]),  # not before group_interval
                (10.5, "farmer", "update", ["DoLow/n1", "PhHigh/n1", "Nh3/n2"]),  # oldest first
            ],
            id="group_interval paces changes",
        ),
        pytest.param(
            [(0, "fire", "DoLow/n1")],
            125,
            [
                (0.5, "farmer", "new", ["DoLow/n1"]),
                (60.5, "farmer", "repeat", ["DoLow/n1"]),  # first flush 1 h after the notice
                (120.5, "farmer", "repeat", ["DoLow/n1"]),
            ],
            id="repeat_interval while nobody acknowledges",
        ),
        pytest.param(
            [(0, "fire", "DoLow/n1"), (30, "ack", "DoLow/n1")],
            125,
            [(0.5, "farmer", "new", ["DoLow/n1"])],
            id="acknowledged: no repeats",
        ),
        pytest.param(
            [(0, "fire", "DoLow/n1"), (12, "resolve", "DoLow/n1")],
            30,
            [
                (0.5, "farmer", "new", ["DoLow/n1"]),
                (15.5, "farmer", "resolved", ["DoLow/n1"]),
            ],
            id="one resolved notice, on the group_interval grid",
        ),
        pytest.param(
            [
                (0, "fire", "DoLow/n1"),
                (0, "fire", "PhHigh/n1"),
                (3, "resolve", "PhHigh/n1"),
                (7, "resolve", "DoLow/n1"),
            ],
            30,
            [
                (0.5, "farmer", "new", ["DoLow/n1", "PhHigh/n1"]),
                (5.5, "farmer", "update", ["DoLow/n1", "PhHigh/n1"]),  # PhHigh listed as ended
                (10.5, "farmer", "resolved", ["DoLow/n1"]),
            ],
            id="an alert leaving is an update; the last one a resolved notice",
        ),
        pytest.param(
            [(0, "fire", "DoLow/n1"), (0.2, "resolve", "DoLow/n1")],
            10,
            [],
            id="resolved within group_wait: never told, nothing to resolve",
        ),
        pytest.param(
            [(0, "fire", "DoLow/n1"), (2, "resolve", "DoLow/n1"), (20, "fire", "DoLow/n1")],
            25,
            [
                (0.5, "farmer", "new", ["DoLow/n1"]),
                (5.5, "farmer", "resolved", ["DoLow/n1"]),
                (20.5, "farmer", "new", ["DoLow/n1"]),  # a new group: group_wait again
            ],
            id="firing again after the resolved notice is news",
        ),
        pytest.param(
            [(-90, "fire", "DoLow/n1")],
            3,
            [(0.0, "farmer", "new", ["DoLow/n1"])],
            id="an alert older than group_wait is told at once",
        ),
    ],
)
def test_grouping_timeline(events: list[Event], until: float, expected: list[Row]) -> None:
    assert run_yaml(SIMPLE, scripted(events), until) == expected


def test_states_of_alerts_in_notices() -> None:
    script = scripted(
        [(0, "fire", "DoLow/n1"), (0, "fire", "PhHigh/n1"), (3, "resolve", "PhHigh/n1")]
    )
    notices = script.run(build_dispatcher(config(SIMPLE)), until=6)
    assert [[a.state.value for a in n.alerts] for n in notices] == [
        ["firing", "firing"],
        ["firing", "resolved"],
    ]
    assert notices[0].group_labels == {"farm": "pond-01"}
    assert notices[0].group_key == '{}:{farm="pond-01"}'


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (
            [(0, "fire", "DoLow/n1"), (0, "fire", "PhHigh/n1"), (3, "resolve", "PhHigh/n1")],
            [(0.5, "farmer", "new", ["DoLow/n1", "PhHigh/n1"])],
        ),
        (
            [(0, "fire", "DoLow/n1"), (3, "resolve", "DoLow/n1")],
            [(0.5, "farmer", "new", ["DoLow/n1"])],
        ),
    ],
)
def test_send_resolved_false(events: list[Event], expected: list[Row]) -> None:
    assert run_yaml(NO_RESOLVED, scripted(events), until=30) == expected


def test_pending_and_unknown_resolved_alerts_are_ignored() -> None:
    dispatcher = build_dispatcher(config(SIMPLE))
    pending = Alert.new({"alertname": "DoLow", "farm": "f"}, Severity.WARNING, at(0))
    dispatcher.put(pending)
    dispatcher.put(pending.resolve(at(1)))
    assert dispatcher.tick(at(5)) == []
    assert dispatcher.alerts == {}


def test_tick_wants_an_aware_time() -> None:
    dispatcher = build_dispatcher(config(SIMPLE))
    with pytest.raises(ValueError, match="aware"):
        dispatcher.tick(datetime(2026, 7, 15, 1, 0))  # noqa: DTZ001 (the point of the test)


# --------------------------------------------------------------------------------------------
# Idempotent input, persisted state

FULL = """
receivers:
  - name: farmer
    quiet_hours: {time_zone: Asia/Ho_Chi_Minh, ranges: ["21:00-05:30"]}
    escalate_to: technician
    escalate_after: 15m
  - name: technician
    escalate_to: officer
    escalate_after: 30m
  - name: officer
route:
  receiver: farmer
  group_by: [farm, alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
"""

# 13:00 in Hải Dương: the night (21:00) starts 480 minutes into the timeline.
AFTERNOON = datetime(2026, 7, 15, 6, 0, tzinfo=UTC)

STORY: list[Event] = [
    (0, "fire", "DoLow/n1", "critical"),
    (0.3, "fire", "PhHigh/n1"),
    (4, "fire", "PhHigh/n2"),
    (9, "resolve", "PhHigh/n2"),
    (20, "fire", "DoLow/n2", "critical"),
    (50, "ack", "DoLow/n2", "an"),
    (200, "resolve", "DoLow/n1"),
    (470, "fire", "Nh3/n3"),  # told before 21:00; its repeats are held for the morning
    (485, "fire", "Nh3/n4"),  # joins the group at night: the update is held too
    (490, "fire", "TempLow/n3"),
    (500, "resolve", "DoLow/n2"),
    (700, "resolve", "PhHigh/n1"),
]


def full_run(
    restart_at: float | None = None,
    with_state: bool = True,
    step_s: float = 30.0,
    put_first: bool = False,
) -> list[Row]:
    cfg = config(FULL)
    script = scripted(STORY, start=AFTERNOON)

    def restart(state: dict[str, object]) -> Dispatcher:
        assert restart_at is not None
        fresh = build_dispatcher(cfg)
        if put_first:
            fresh.put_all(script.versions_at(restart_at))  # what the store re-puts on start
        if with_state:
            fresh.load(state)
        if not put_first:
            fresh.put_all(script.versions_at(restart_at))
        return fresh

    notices = script.run(
        build_dispatcher(cfg), until=1100, step_s=step_s, restart_at=restart_at, restart=restart
    )
    return summary(notices, AFTERNOON)


def test_full_story() -> None:
    """The reference timeline the restart tests compare against (read it as the spec)."""
    assert full_run() == [
        (0.5, "farmer", "new", ["DoLow/n1"]),
        (1.0, "farmer", "new", ["PhHigh/n1"]),  # fired at 0.3, seen at the 0.5 tick
        (6.0, "farmer", "update", ["PhHigh/n1", "PhHigh/n2"]),
        (11.0, "farmer", "update", ["PhHigh/n1", "PhHigh/n2"]),  # n2 ended
        (15.5, "technician", "escalation@1", ["DoLow/n1"]),
        (20.5, "farmer", "update", ["DoLow/n1", "DoLow/n2"]),
        (35.5, "technician", "escalation@1", ["DoLow/n2"]),  # 15 min after *its* first notice
        (45.5, "officer", "escalation@2", ["DoLow/n1"]),  # n2 was acknowledged at 50
        (71.0, "farmer", "repeat", ["PhHigh/n1"]),  # 1 h after the last update
        (80.5, "farmer", "repeat", ["DoLow/n1", "DoLow/n2"]),
        (131.0, "farmer", "repeat", ["PhHigh/n1"]),
        (140.5, "farmer", "repeat", ["DoLow/n1", "DoLow/n2"]),
        (191.0, "farmer", "repeat", ["PhHigh/n1"]),
        (200.5, "farmer", "update", ["DoLow/n1", "DoLow/n2"]),  # n1 ended; n2 is acked: no repeats
        (251.0, "farmer", "repeat", ["PhHigh/n1"]),
        (311.0, "farmer", "repeat", ["PhHigh/n1"]),
        (371.0, "farmer", "repeat", ["PhHigh/n1"]),
        (431.0, "farmer", "repeat", ["PhHigh/n1"]),
        (470.5, "farmer", "new", ["Nh3/n3"]),
        # 21:00-05:30 local is minutes 480-990. Critical news passes, to every level told of it:
        (500.5, "farmer", "resolved", ["DoLow/n2"]),
        (500.5, "technician", "resolved@1", ["DoLow/n2"]),
        (500.5, "officer", "resolved@2", ["DoLow/n2"]),
        # The rest waits for 05:30, one notice per group, saying what changed overnight:
        (990.0, "farmer", "update", ["Nh3/n3", "Nh3/n4"]),
        (990.0, "farmer", "resolved", ["PhHigh/n1"]),
        (990.0, "farmer", "new", ["TempLow/n3"]),
        # Repeats resume a repeat_interval after the morning's notices at the earliest.
        (1085.5, "farmer", "repeat", ["Nh3/n3", "Nh3/n4"]),
        (1090.5, "farmer", "repeat", ["TempLow/n3"]),
    ]


@pytest.mark.parametrize("put_first", [False, True], ids=["load-then-put", "put-then-load"])
@pytest.mark.parametrize("restart_at", [0.5, 5.0, 15.5, 30.0, 45.5, 200.5, 495.0, 800.0, 990.0])
def test_state_round_trip_mid_timeline_gives_identical_notices(
    restart_at: float, put_first: bool
) -> None:
    assert full_run(restart_at, put_first=put_first) == full_run()


def test_restart_without_state_would_resend() -> None:
    """The round-trip test can fail: forgetting the state re-sends and loses escalations."""
    assert full_run(30.0, with_state=False) != full_run()


def test_state_is_json() -> None:
    cfg = config(FULL)
    script = scripted(STORY, start=AFTERNOON)
    dispatcher = build_dispatcher(cfg)
    script.run(dispatcher, until=495, step_s=30)
    state = dispatcher.to_dict()
    assert json.loads(json.dumps(state)) == state
    assert state["version"] == 1
    assert build_dispatcher(cfg, state=state).to_dict() == state


def test_state_of_another_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        build_dispatcher(config(SIMPLE), state={"version": 99})


def test_a_removed_route_reroutes_its_alerts() -> None:
    """After a config change, alerts of a route that no longer exists start afresh."""
    two_routes = SIMPLE + "  routes: [{matchers: ['alertname=\"DoLow\"'], receiver: farmer}]\n"
    script = scripted([(0, "fire", "DoLow/n1")])
    dispatcher = build_dispatcher(config(two_routes))
    first = summary(script.run(dispatcher, until=3))
    again = build_dispatcher(config(SIMPLE), state=dispatcher.to_dict())
    assert first == [(0.5, "farmer", "new", ["DoLow/n1"])]
    assert summary(again.tick(at(3))) == [(3.0, "farmer", "new", ["DoLow/n1"])]


def test_puts_are_idempotent_and_older_versions_ignored() -> None:
    """Re-putting every version seen so far, oldest first, at every tick changes nothing."""
    script = scripted(STORY, start=AFTERNOON)

    def replay(minute: float, dispatcher: Dispatcher) -> None:
        for when, alert in script.events:
            if when <= minute:
                dispatcher.put(alert)

    cfg = config(FULL)
    replayed = script.run(build_dispatcher(cfg), until=600, step_s=30, on_tick=replay)
    plain = script.run(build_dispatcher(cfg), until=600, step_s=30)
    assert summary(replayed, AFTERNOON) == summary(plain, AFTERNOON)


def test_between_reads_times_with_slack() -> None:
    """Coarser ticks move notices within the tick step, never earlier than due."""
    script = scripted([(0, "fire", "DoLow/n1"), (2, "fire", "PhHigh/n1")])
    rows = summary(script.run(build_dispatcher(config(SIMPLE)), until=8, step_s=45))
    assert rows == [
        (between(0.5, 0.75), "farmer", "new", ["DoLow/n1"]),
        (between(5.5, 6.5), "farmer", "update", ["DoLow/n1", "PhHigh/n1"]),
    ]
    assert Script().events == []
    assert at(1) - at(0) == timedelta(minutes=1)
