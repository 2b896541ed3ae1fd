""" "Was this useful?" over real HTTP on the assembled app and a real alert store.

The acknowledgement link (GET shows, POST acknowledges, then one of three buttons), SMS
replies, the API for the page and scripts, the operators' summary (false-alarm rate per rule,
with the minimum-answers guard and threshold suggestions), the monthly report's signed form,
the schema migration of an older store, and the rate limit on the public routes.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from farmwatch_alerting.alert import Alert, AlertState, Severity
from farmwatch_alerting.feedback import (
    COMMENT_MAX,
    Answer,
    Channel,
    parse_report_ref,
    report_ref,
    suggest_limit,
)
from farmwatch_alerting.store import SCHEMA_VERSION, AlertStore
from farmwatch_core.settings import ApiSettings
from support.api_world import GRANTS, World, api_world
from support.asgi import served

BUTTONS = re.compile(r'<button name="answer" value="(\w+)">')


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[World, httpx.Client]]:
    with api_world(tmp_path) as w, served(w.app) as client:
        yield w, client


def fire(w: World, farm: str, name: str, value: str, limit: str = "2.3") -> tuple[int, str]:
    """A firing threshold alert (DO below ``limit``) of ``farm`` with ``value``."""
    notes = {"value": value, "limit": limit, "direction": "below", "unit": "mg/L"}
    alert = Alert.new(
        {"alertname": name, "farm": farm, "node": f"{farm}-n1", "quantity": "dissolved_oxygen"},
        Severity.CRITICAL, w.now, notes,
    ).fire(w.now)  # fmt: skip
    episode = w.service.store.save(alert)
    return episode, w.service.store.ack_code(episode)


def test_the_ack_link_asks_and_stores_the_answer(world: tuple[World, httpx.Client]) -> None:
    w, client = world
    store = w.service.store
    episode, code = fire(w, "farm-a1", "DoLowLink", "1.9")
    page = client.get(f"/a/{code}")
    assert page.status_code == 200
    assert BUTTONS.findall(page.text) == ["useful", "false_alarm", "too_late"]
    assert 'method="post"' in page.text
    assert store.feedback(episode) == []  # showing the page answered nothing
    acked = client.post(f"/a/{code}", data={"by": "Sơn"})
    assert acked.status_code == 200
    assert store.get(episode).state is AlertState.ACKNOWLEDGED
    assert "hữu ích" in acked.text.lower()  # after acknowledging it asks "was this useful?"
    assert 'name="by" value="Sơn"' in acked.text
    answer = client.post(
        f"/a/{code}/feedback",
        data={"answer": "false_alarm", "comment": "<script>x</script> máy đo bẩn", "by": "Sơn"},
    )
    assert answer.status_code == 200
    assert "<script>" not in answer.text
    [stored] = store.feedback(episode)
    assert (stored.answer, stored.who, stored.channel) == (
        Answer.FALSE_ALARM,
        "link:Sơn",
        Channel.LINK,
    )
    assert stored.comment == "<script>x</script> máy đo bẩn"  # stored as typed, shown escaped
    # A later answer of the same person replaces the first in the figures; history keeps both.
    client.post(f"/a/{code}/feedback", data={"answer": "useful", "by": "Sơn"})
    assert [f.answer for f in store.feedback(episode)] == [Answer.USEFUL]
    assert [f.answer for f in store.feedback_history(episode)] == [
        Answer.FALSE_ALARM,
        Answer.USEFUL,
    ]
    # Without a name, each phone is a different person (its random cookie).
    client.post(f"/a/{code}/feedback", data={"answer": "too_late"})
    with httpx.Client(base_url=str(client.base_url)) as other_phone:
        other_phone.get(f"/a/{code}")
        other_phone.post(f"/a/{code}/feedback", data={"answer": "too_late"})
    people = {f.who for f in store.feedback(episode)}
    assert len(people) == 3
    assert client.post("/a/ZZZZZ/feedback", data={"answer": "useful"}).status_code == 404
    assert client.post(f"/a/{code}/feedback", data={"answer": "maybe"}).status_code == 422
    long = client.post(f"/a/{code}/feedback", data={"answer": "useful", "comment": "x" * 5000})
    assert long.status_code == 200
    assert max(len(f.comment) for f in store.feedback(episode)) == COMMENT_MAX


def test_a_resolved_alert_can_be_answered_by_link(world: tuple[World, httpx.Client]) -> None:
    w, client = world
    store = w.service.store
    episode, code = fire(w, "farm-a2", "Resolved", "1.0")
    store.save(store.get(episode).resolve(w.now + timedelta(minutes=30)))
    page = client.get(f"/a/{code}")
    assert "resolved" in page.text
    assert len(BUTTONS.findall(page.text)) == 3
    assert client.post(f"/a/{code}/feedback", data={"answer": "too_late"}).status_code == 200
    assert [f.answer for f in store.feedback(episode)] == [Answer.TOO_LATE]


def test_sms_replies_answer_by_number(world: tuple[World, httpx.Client]) -> None:
    w, client = world
    episode, code = fire(w, "farm-b1", "SmsFeedback", "2.0")
    reply = client.post(
        "/api/v1/alerts/replies", json={"sender": "+84912345678", "text": f"2 {code.lower()}"}
    )
    assert reply.json() == {"acknowledged": False, "feedback": "false_alarm"}
    [stored] = w.service.store.feedback(episode)
    assert (stored.who, stored.channel) == ("sms:+84912345678", Channel.SMS)
    assert w.service.store.get(episode).state is AlertState.FIRING  # an answer is not an ack
    ok = client.post(
        "/api/v1/alerts/replies", json={"sender": "+84912345678", "text": f"OK {code}"}
    )
    assert ok.json()["acknowledged"] is True


def test_the_api_records_the_token_and_officers_cannot_answer(
    world: tuple[World, httpx.Client],
) -> None:
    w, client = world
    episode, _ = fire(w, "farm-a1", "ApiFeedback", "2.1")
    url = f"/api/v1/alerts/{episode}/feedback"
    said = client.post(url, json={"answer": "useful", "by": "ignored"}, headers=w.headers("coop-x"))
    assert said.status_code == 200
    assert said.json()["who"] == GRANTS["coop-x"].name
    assert said.json()["channel"] == "api"
    assert (
        client.post(url, json={"answer": "useful"}, headers=w.headers("officer-th")).status_code
        == 403
    )
    other, _ = fire(w, "farm-b1", "ApiFeedback", "2.1")
    refused = client.post(
        f"/api/v1/alerts/{other}/feedback", json={"answer": "useful"}, headers=w.headers("farmer-a")
    )
    assert refused.status_code == 404
    assert [f.who for f in w.service.store.feedback(episode)] == [GRANTS["coop-x"].name]
    assert w.service.store.feedback(other) == []


def test_the_summary_counts_the_answers_per_rule(world: tuple[World, httpx.Client]) -> None:
    """Five answers about one rule, two about another: the rates are the answers given; the
    second rule is under the minimum and shows no shares; farmers get 403."""
    w, client = world
    given = {  # (value, answer) per alert of DoLowSummary; the limit is 2.3 (fires below)
        "a": ("2.2", "false_alarm"), "b": ("2.25", "false_alarm"), "c": ("2.1", "false_alarm"),
        "d": ("1.4", "useful"), "e": ("1.6", "too_late"),
    }  # fmt: skip
    for node, (value, answer) in given.items():
        episode, code = fire(w, "farm-a1", "DoLowSummary", value)
        w.service.store.save(w.service.store.get(episode).resolve(w.now))  # next one is new
        client.post(f"/a/{code}/feedback", data={"answer": answer, "by": f"person-{node}"})
    for answer in ("useful", "false_alarm"):
        episode, _ = fire(w, "farm-b1", "OtherRule", "1.0")
        w.service.store.save(w.service.store.get(episode).resolve(w.now))
        client.post(
            f"/api/v1/alerts/{episode}/feedback",
            json={"answer": answer},
            headers=w.headers("admin"),
        )
    summary = client.get("/api/v1/feedback/summary", headers=w.headers("admin")).json()
    rules = {r["rule"]: r for r in summary["rules"]}
    do = rules["DoLowSummary"]
    assert (do["answers"], do["false_alarm"], do["too_late"], do["useful"]) == (5, 3, 1, 1)
    assert do["false_alarm_share"] == pytest.approx(3 / 5)
    assert do["too_late_share"] == pytest.approx(1 / 5)
    # Real problems at 1.4 (useful) and 1.6 (too late); false alarms at 2.1-2.25: a limit
    # of 1.85 silences all three.
    assert do["suggestion"]["suggested"] == pytest.approx(1.85)
    assert do["suggestion"]["silenced"] == 3
    other = rules["OtherRule"]
    assert other["answers"] == 2
    assert other["enough_answers"] is False
    assert other["false_alarm_share"] is None
    assert client.get("/api/v1/feedback/summary", headers=w.headers("farmer-a")).status_code == 403
    coop = client.get("/api/v1/feedback/summary", headers=w.headers("coop-x")).json()
    assert {r["rule"] for r in coop["rules"]} == {"DoLowSummary"}  # farm-b1 is coop-y's
    assert client.get("/api/v1/feedback/summary").status_code == 401


def test_report_feedback_needs_a_genuine_link(world: tuple[World, httpx.Client]) -> None:
    w, client = world
    store = w.service.store
    ref = report_ref(store.signing_key(), "district", "Thanh Hà", "2026-11")
    url = f"/feedback/report/{quote(ref, safe='~')}"
    form = client.get(url)
    assert form.status_code == 200
    assert BUTTONS.findall(form.text) == ["useful", "not_useful"]
    forged = ref.replace("Thanh Hà", "Kinh Môn")
    assert client.get(f"/feedback/report/{quote(forged, safe='~')}").status_code == 404
    assert (
        client.post(
            f"/feedback/report/{quote(forged, safe='~')}", data={"answer": "useful"}
        ).status_code
        == 404
    )
    assert store.report_feedback() == []
    said = client.post(
        url, data={"answer": "not_useful", "comment": "thiếu biểu đồ pH", "by": "Hải"}
    )
    assert said.status_code == 200
    [stored] = store.report_feedback("district:Thanh Hà:2026-11")
    assert (stored.answer.value, stored.who, stored.comment) == (
        "not_useful",
        "link:Hải",
        "thiếu biểu đồ pH",
    )
    assert parse_report_ref(b"another key" * 3, ref) is None


def test_public_feedback_routes_are_rate_limited(tmp_path: Path) -> None:
    tight = ApiSettings(public_per_minute=3, public_burst=3)
    with api_world(tmp_path, tight) as w, served(w.app) as client:
        _, code = w.fire("farm-a1")
        statuses = [
            client.post(f"/a/{code}/feedback", data={"answer": "useful"}).status_code
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        ref = quote(
            report_ref(w.service.store.signing_key(), "farm", "farm-a1", "2026-11"), safe="~"
        )
        statuses = [client.get(f"/feedback/report/{ref}").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]


def test_an_older_store_gets_the_feedback_tables(tmp_path: Path) -> None:
    """A file written before feedback existed (no tables, user_version 0) opens, keeps its
    episodes and takes answers."""
    path = tmp_path / "alerts.sqlite"
    t = datetime(2026, 11, 1, tzinfo=UTC)
    old = AlertStore(path)
    episode = old.save(Alert.new({"alertname": "Old", "farm": "f"}, Severity.WARNING, t).fire(t))
    old.close()
    raw = sqlite3.connect(path)
    raw.executescript("DROP TABLE feedback; DROP TABLE report_feedback; PRAGMA user_version = 0;")
    raw.close()
    store = AlertStore(path)
    try:
        assert store.get(episode).name == "Old"
        store.add_feedback(episode, "useful", "x", t, "api")
        assert [f.answer for f in store.feedback(episode)] == [Answer.USEFUL]
        version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
        assert version == SCHEMA_VERSION
    finally:
        store.close()


@pytest.mark.parametrize(
    ("direction", "current", "falses", "useful", "expected"),
    [
        # false alarms just under the DO limit, useful ones far below: move the limit down
        ("below", 2.3, [2.2, 2.25, 2.1], [1.4, 1.6], 1.85),
        # NH3 above 25 ppm: false alarms at 26-27, useful at 35+: move it up
        ("above", 25.0, [26.0, 27.0, 26.5], [35.0, 40.0], 31.0),
        # a useful alert among the false ones: nothing can be silenced without losing it
        ("below", 2.3, [2.0, 2.1], [2.2], None),
        # no useful answer yet: the mildest false alarm's value
        ("below", 2.3, [2.0, 2.1, 2.2], [], 2.0),
        # half of the false alarms silenced: exactly the minimum share
        ("below", 2.3, [1.0, 2.2], [1.5], 1.85),
        # a third: not enough
        ("below", 2.3, [1.0, 1.2, 2.2], [1.5], None),
        # nothing to learn from
        ("above", 25.0, [], [30.0], None),
    ],
)
def test_suggested_limits(
    direction: str, current: float, falses: list[float], useful: list[float], expected: float | None
) -> None:
    found = suggest_limit(direction, current, falses, useful)
    if expected is None:
        assert found is None
        return
    assert found is not None
    assert found.suggested == pytest.approx(expected)
    limit = found.suggested

    def fires(value: float) -> bool:
        return value < limit if direction == "below" else value > limit

    assert all(fires(v) for v in useful)  # every useful alert would still have fired
    assert found.silenced == sum(1 for v in falses if not fires(v))
