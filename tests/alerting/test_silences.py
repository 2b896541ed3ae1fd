"""Silences: active, not yet started, expired, expired early; their JSON form; in the pipeline."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from alerting.timeline import Event, Row, at, config, scripted, summary
from farmwatch_alerting.alert import Alert, Severity
from farmwatch_alerting.dispatch import build_dispatcher
from farmwatch_alerting.silences import Silence, Silencer

POND_DO = {"alertname": "DoLow", "farm": "pond-01", "node": "n1", "severity": "critical"}


def silence(matchers: list[str], start: float = 10, minutes: float = 60) -> Silence:
    return Silence.create(
        matchers, at(start), timedelta(minutes=minutes), created_by="an", comment="", id="s1"
    )


@pytest.mark.parametrize(
    ("matchers", "minute", "mutes"),
    [
        (['alertname="DoLow"'], 30, True),
        (['alertname="DoLow"', 'farm="pond-01"'], 30, True),
        (['alertname="DoLow"', 'farm="pond-02"'], 30, False),  # every matcher must match
        (['farm=~"pond-.*"', 'severity!="warning"'], 30, True),
        (['alertname="DoLow"'], 9.99, False),  # not started yet
        (['alertname="DoLow"'], 10, True),  # starts_at is included
        (['alertname="DoLow"'], 69.99, True),
        (['alertname="DoLow"'], 70, False),  # ends_at is not: expired
    ],
)
def test_silence_window_and_matchers(matchers: list[str], minute: float, mutes: bool) -> None:
    assert silence(matchers).mutes(POND_DO, at(minute)) is mutes


def test_expiry() -> None:
    s = silence(['alertname="DoLow"'])
    assert not s.expired(at(69))
    assert s.expired(at(70))
    early = s.expire(at(30))
    assert early.ends_at == at(30)
    assert early.expired(at(30))
    assert not early.mutes(POND_DO, at(30))
    assert early.expire(at(40)) == early  # an expired silence stays as it is
    assert s.expire(at(0)).ends_at > s.starts_at  # expiring before the start still ends it


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"matchers": ()}, "at least one matcher"),
        ({"ends_at": at(10)}, "end after it starts"),
        ({"starts_at": at(0).replace(tzinfo=None)}, "time zone"),
    ],
)
def test_invalid_silences(kwargs: dict[str, object], problem: str) -> None:
    base = silence(['alertname="DoLow"'])
    fields = {
        "id": base.id,
        "matchers": base.matchers,
        "starts_at": base.starts_at,
        "ends_at": base.ends_at,
        "created_by": base.created_by,
        **kwargs,
    }
    with pytest.raises(ValueError, match=problem):
        Silence(**fields)  # type: ignore[arg-type]


def test_json_round_trip() -> None:
    s = Silence.create(
        ['farm=~"pond-0[12]"', 'alertname!="NodeOffline"', 'comment="nói \\"xin chào\\""'],
        at(0),
        timedelta(hours=3),
        created_by="kỹ thuật viên",
        comment="vệ sinh ao 1",
    )
    text = json.dumps(s.to_dict(), ensure_ascii=False)
    assert Silence.from_dict(json.loads(text)) == s
    assert len(s.id) == 32  # a random id when none is given


def test_silencer_names_the_silence() -> None:
    a = Alert.new(POND_DO, Severity.CRITICAL, at(0)).fire(at(0))
    s1, s2 = silence(['farm="pond-02"']), silence(['node="n1"'], start=0)
    assert Silencer([s1, s2]).muted([a], at(30)) == {a.fingerprint: s2.id}
    assert Silencer([s1, s2]).muted([a], at(90)) == {}


SIMPLE = """
receivers: [{name: farmer}]
route: {receiver: farmer, group_by: [farm], group_wait: 30s, group_interval: 5m,
        repeat_interval: 1h}
"""


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [(20, "fire", "DoLow/n1"), (20, "fire", "PhHigh/n1")],
            [
                (20.5, "farmer", "new", ["PhHigh/n1"]),
                (70.5, "farmer", "update", ["DoLow/n1", "PhHigh/n1"]),  # the silence expired
            ],
            id="an active silence keeps its alerts out of notices until it expires",
        ),
        pytest.param(
            [(0, "fire", "DoLow/n1")],
            [(0.5, "farmer", "new", ["DoLow/n1"]), (70.5, "farmer", "repeat", ["DoLow/n1"])],
            id="silenced after being told: no repeat until it expires, no resolved either",
        ),
        pytest.param(
            [(20, "fire", "DoLow/n1")],
            [(70.5, "farmer", "new", ["DoLow/n1"])],  # the group's grid: 20.5, 25.5, ... 70.5
            id="after expiry a still-firing alert is told",
        ),
        pytest.param(
            [(20, "fire", "DoLow/n1"), (40, "resolve", "DoLow/n1")],
            [],
            id="fired and resolved inside the silence: never a word",
        ),
    ],
)
def test_silences_in_the_pipeline(events: list[Event], expected: list[Row]) -> None:
    dispatcher = build_dispatcher(config(SIMPLE), silences=[silence(['alertname="DoLow"'])])
    rows = summary(scripted(events).run(dispatcher, until=75, step_s=30))
    assert rows == expected


def test_silences_can_be_replaced_while_running() -> None:
    dispatcher = build_dispatcher(config(SIMPLE))
    script = scripted([(0, "fire", "DoLow/n1"), (0, "fire", "PhHigh/n1")])
    dispatcher.set_silences([silence(['alertname="PhHigh"'], start=0)])
    rows = summary(script.run(dispatcher, until=1, step_s=30))
    assert rows == [(0.5, "farmer", "new", ["DoLow/n1"])]
    dispatcher.set_silences([])
    assert summary(dispatcher.tick(at(5.5))) == [
        (5.5, "farmer", "update", ["DoLow/n1", "PhHigh/n1"])
    ]
