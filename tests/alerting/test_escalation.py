"""Escalation timelines: a critical alert nobody acknowledges climbs the chain, minute by minute."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerting.timeline import Event, Row, at, config, run_yaml, scripted, summary
from farmwatch_alerting.dispatch import build_dispatcher
from farmwatch_alerting.escalation import EscalationStep, escalation_chain
from farmwatch_alerting.silences import Silence

CHAIN = """
receivers:
  - name: farmer
    escalate_to: technician
    escalate_after: 15m
  - name: technician
    escalate_to: officer
    escalate_after: 30m
  - name: officer
route:
  receiver: farmer
  group_by: [farm]
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 4h
"""

DO = "DoLow/n1"


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [(0, "fire", DO, "critical")],
            [
                (0.0, "farmer", "new", [DO]),
                (15.0, "technician", "escalation@1", [DO]),
                (45.0, "officer", "escalation@2", [DO]),
            ],
            id="not acknowledged: technician at 15 min, officer 30 min later",
        ),
        pytest.param(
            [(0, "fire", DO, "critical"), (14, "ack", DO)],
            [(0.0, "farmer", "new", [DO])],
            id="acknowledged at 14 min: no escalation",
        ),
        pytest.param(
            [(0, "fire", DO, "critical"), (15.5, "ack", DO, "technician")],
            [(0.0, "farmer", "new", [DO]), (15.0, "technician", "escalation@1", [DO])],
            id="acknowledged by the technician: the officer never hears",
        ),
        pytest.param(
            [(0, "fire", DO, "critical"), (10, "resolve", DO)],
            [(0.0, "farmer", "new", [DO]), (10.0, "farmer", "resolved", [DO])],
            id="resolved before 15 min: no escalation",
        ),
        pytest.param(
            [(0, "fire", DO, "critical"), (20, "resolve", DO)],
            [
                (0.0, "farmer", "new", [DO]),
                (15.0, "technician", "escalation@1", [DO]),
                (20.0, "farmer", "resolved", [DO]),
                (20.0, "technician", "resolved@1", [DO]),  # whoever heard of it hears it is over
            ],
            id="resolved after escalating: every level told gets the resolution",
        ),
        pytest.param(
            [(0, "fire", "PhHigh/n1", "warning")],
            [(0.0, "farmer", "new", ["PhHigh/n1"])],
            id="warnings never escalate",
        ),
        pytest.param(
            [(0, "fire", "PhHigh/n1", "warning"), (7, "fire", DO, "critical")],
            [
                (0.0, "farmer", "new", ["PhHigh/n1"]),
                (10.0, "farmer", "update", ["PhHigh/n1", DO]),  # the group's grid: 0, 5, 10
                (25.0, "technician", "escalation@1", [DO]),  # the clock starts at its notice
                (55.0, "officer", "escalation@2", [DO]),
            ],
            id="a critical alert joining a group escalates from its own first notice",
        ),
    ],
)
def test_escalation_timeline(events: list[Event], expected: list[Row]) -> None:
    assert run_yaml(CHAIN, scripted(events), until=60, step_s=30) == expected


def test_a_tick_that_jumps_sends_every_level_it_skipped() -> None:
    dispatcher = build_dispatcher(config(CHAIN))
    script = scripted([(0, "fire", DO, "critical")])
    dispatcher.put(script.events[0][1])
    first = dispatcher.tick(at(0))
    late = dispatcher.tick(at(50))  # the service was stuck for 50 minutes
    assert summary(first + late) == [
        (0.0, "farmer", "new", [DO]),
        (50.0, "technician", "escalation@1", [DO]),
        (50.0, "officer", "escalation@2", [DO]),
    ]
    assert dispatcher.tick(at(55)) == []


def test_a_silence_pauses_escalation() -> None:
    script = scripted([(0, "fire", DO, "critical")])
    silence = Silence.create(
        ['alertname="DoLow"'], at(10), timedelta(minutes=20), created_by="an", id="s"
    )
    dispatcher = build_dispatcher(config(CHAIN), silences=[silence])
    rows = summary(script.run(dispatcher, until=60, step_s=30))
    assert rows == [
        (0.0, "farmer", "new", [DO]),
        # Due at 15 but silenced from 10 to 30; at 30 it is overdue and goes at once.
        (30.0, "technician", "escalation@1", [DO]),
        (45.0, "officer", "escalation@2", [DO]),
    ]


def test_escalation_passes_quiet_hours_of_every_level() -> None:
    night = CHAIN.replace(
        "  - name: technician\n",
        "  - name: technician\n    quiet_hours: {ranges: ['00:00-24:00']}\n",
    )
    script = scripted([(0, "fire", DO, "critical")])
    assert run_yaml(night, script, until=20, step_s=30)[-1] == (
        15.0,
        "technician",
        "escalation@1",
        [DO],
    )


def test_chain_follows_links_and_cuts_loops() -> None:
    links = {
        "farmer": ("tech", timedelta(minutes=15)),
        "tech": ("officer", timedelta(minutes=30)),
        "officer": ("farmer", timedelta(minutes=60)),  # a loop config validation refuses
    }
    assert escalation_chain(links, "farmer") == (
        EscalationStep("tech", timedelta(minutes=15)),
        EscalationStep("officer", timedelta(minutes=45)),
    )
    assert escalation_chain(links, "nobody") == ()


def test_per_route_chain_follows_the_routes_receiver() -> None:
    """Each route's receiver has its own chain: the barn's alerts go to the barn's people."""
    text = """
    receivers:
      - {name: pond-farmer, escalate_to: pond-tech, escalate_after: 10m}
      - {name: pond-tech}
      - {name: barn-farmer, escalate_to: vet, escalate_after: 20m}
      - {name: vet}
    route:
      receiver: pond-farmer
      group_wait: 0s
      routes:
        - {matchers: ['farm=~"barn-.*"'], receiver: barn-farmer}
    """
    script = scripted(
        [(0, "fire", "DoLow/n1@pond-01", "critical"), (0, "fire", "Nh3High/n1@barn-01", "critical")]
    )
    assert run_yaml(text, script, until=30, step_s=60) == [
        (0.0, "barn-farmer", "new", ["Nh3High/n1"]),
        (0.0, "pond-farmer", "new", ["DoLow/n1"]),
        (10.0, "pond-tech", "escalation@1", ["DoLow/n1"]),
        (20.0, "vet", "escalation@1", ["Nh3High/n1"]),
    ]


def test_an_ack_stored_while_routing_state_was_older_still_stops_escalation() -> None:
    """The state was saved at minute 10; the farmer acknowledged at 14 and the service
    restarted at 14.5: the store's newer version wins over the saved one."""
    script = scripted([(0, "fire", DO, "critical"), (14, "ack", DO)])
    cfg = config(CHAIN)
    first = build_dispatcher(cfg)
    before = script.run(first, until=10, step_s=30)
    saved = first.to_dict()
    for put_first in (True, False):
        again = build_dispatcher(cfg)
        if put_first:
            again.put_all(script.versions_at(14.5))
        again.load(saved)
        if not put_first:
            again.put_all(script.versions_at(14.5))
        after = script.run(again, until=60, step_s=30, from_minute=14.5)
        assert summary(before + after) == [(0.0, "farmer", "new", [DO])]
