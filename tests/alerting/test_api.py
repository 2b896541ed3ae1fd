"""Acknowledging over real HTTP: the message's link (GET shows, POST acks), SMS replies, the API.

The link and the SMS reply need no token (the code is the capability); the API does, and
records the token's name (tests/security/test_api_authz.py has every role)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from farmwatch_alerting.alert import Alert, AlertState, Severity
from farmwatch_alerting.api import alerting_router
from farmwatch_alerting.store import AlertStore
from farmwatch_core.access import Grant, Role
from fastapi import FastAPI
from support.api_world import token_guard
from support.asgi import served as served_app

T0 = datetime(2026, 7, 15, 19, 40, tzinfo=UTC)


TECHNICIAN = Grant("kỹ thuật viên", Role.ADMIN)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[httpx.Client, AlertStore, list[str]]]:
    store = AlertStore(tmp_path / "alerts.sqlite")
    guard, tokens = token_guard(tmp_path / "tokens.db", {"technician": TECHNICIAN})
    acked: list[str] = []

    def acknowledge(code: str | int, by: str, at: datetime) -> Alert:
        alert = store.acknowledge(code, by, at)
        acked.append(by)
        return alert

    app = FastAPI()
    app.state.guard = guard
    app.include_router(alerting_router(store, acknowledge, clock=lambda: T0))
    with served_app(app) as client:
        client.headers["Authorization"] = f"Bearer {tokens['technician']}"
        yield client, store, acked
    guard.tokens.close()
    store.close()


def firing(store: AlertStore, node: str = "n1") -> tuple[int, str]:
    alert = Alert.new(
        {"alertname": "DissolvedOxygenLowCritical", "farm": "pond-02", "node": node},
        Severity.CRITICAL, T0, {"farm_name": "Ao cá bà Hương", "value": "1.85", "unit": "mg/L"},
    ).fire(T0)  # fmt: skip
    episode = store.save(alert)
    return episode, store.ack_code(episode)


def test_the_link_shows_the_alert_and_only_the_button_acknowledges(
    served: tuple[httpx.Client, AlertStore, list[str]],
) -> None:
    http, store, acked = served
    episode, code = firing(store)
    del http.headers["Authorization"]  # the link works without a token: the code is enough
    page = http.get(f"/a/{code.lower()}")  # a link preview bot, or the farmer opening it
    assert page.status_code == 200
    assert "Ao cá bà Hương / n1 — 1.85 mg/L" in page.text
    assert store.get(episode).state is AlertState.FIRING  # looking changed nothing
    done = http.post(f"/a/{code}", data={"by": "Hương"})
    assert done.status_code == 200
    assert "Đã xác nhận" in done.text
    assert store.get(episode).state is AlertState.ACKNOWLEDGED
    assert store.get(episode).acknowledged_by == "Hương"
    assert acked == ["Hương"]
    assert "Đã xác nhận bởi Hương" in http.get(f"/a/{code}").text
    assert http.get("/a/ZZZZZ").status_code == 404


def test_an_sms_reply_acknowledges_and_chatter_does_not(
    served: tuple[httpx.Client, AlertStore, list[str]],
) -> None:
    http, store, _ = served
    del http.headers["Authorization"]  # the SMS gateway has no token: the code is enough
    episode, code = firing(store)
    chat = http.post(
        "/api/v1/alerts/replies", json={"sender": "+84912345678", "text": "ao sao vậy"}
    )
    assert chat.json()["acknowledged"] is False
    assert store.get(episode).state is AlertState.FIRING
    reply = http.post(
        "/api/v1/alerts/replies", json={"sender": "+84912345678", "text": f"ok {code.lower()}"}
    )
    assert reply.json()["acknowledged"] is True
    assert store.get(episode).acknowledged_by == "+84912345678"
    wrong = http.post("/api/v1/alerts/replies", json={"sender": "x", "text": "OK 22222"})
    assert wrong.status_code == 404


def test_the_api_lists_acknowledges_and_shows_history(
    served: tuple[httpx.Client, AlertStore, list[str]],
) -> None:
    http, store, _ = served
    first, _ = firing(store, "n1")
    second, _ = firing(store, "n2")
    listed = http.get("/api/v1/alerts", params={"open": "true"}).json()
    assert [a["id"] for a in listed] == [second, first]
    assert listed[0]["labels"]["node"] == "n2"
    assert len(listed[0]["ack_code"]) == 5
    anonymous = http.post(f"/api/v1/alerts/{first}/ack", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    acked = http.post(f"/api/v1/alerts/{first}/ack", json={"by": "someone else"})
    assert acked.json()["state"] == "acknowledged"
    detail = http.get(f"/api/v1/alerts/{first}").json()
    assert [h["state"] for h in detail["history"]] == ["firing", "acknowledged"]
    assert detail["history"][1]["detail"] == "by kỹ thuật viên"  # the token's, not the body's
    assert http.get("/api/v1/alerts/999").status_code == 404
    resolved = store.get(second).resolve(T0)
    store.save(resolved)
    assert http.post(f"/api/v1/alerts/{second}/ack", json={"by": "x"}).status_code == 404
