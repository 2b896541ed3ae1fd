"""Silences over HTTP on the real service: created, listed, muting notices, expired, persisted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from farmwatch_alerting.api import alerting_router
from farmwatch_alerting.config import default_config
from farmwatch_alerting.service import AlertingService
from farmwatch_core.access import Grant, Role
from farmwatch_core.mqtt_settings import MqttSettings
from farmwatch_core.registry import parse_registry
from fastapi import FastAPI
from support.api_world import token_guard
from support.asgi import served as served_app

REGISTRY = parse_registry(
    "farms: [{id: pond-01, name: Ao cá bà Hương, model: aquaculture_pond, nodes: [{id: n1}]}]"
)
T0 = datetime(2026, 7, 15, 19, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def make_service(data: Path, clock: Clock) -> AlertingService:
    mqtt = MqttSettings(url="mqtt://127.0.0.1:1")  # never started: only its logic is used
    return AlertingService(default_config(mqtt), REGISTRY, mqtt, data, clock=clock)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[httpx.Client, AlertingService, Clock]]:
    clock = Clock()
    service = make_service(tmp_path / "data", clock)
    owner = Grant("kỹ thuật viên", Role.FARMER, farms=("pond-01",))
    guard, tokens = token_guard(tmp_path / "tokens.db", {"owner": owner}, REGISTRY)
    app = FastAPI()
    app.state.guard = guard
    app.include_router(alerting_router(service.store, service.acknowledge, clock, service))
    with served_app(app) as client:
        client.headers["Authorization"] = f"Bearer {tokens['owner']}"
        yield client, service, clock
    guard.tokens.close()
    service.stop()


def crash(service: AlertingService, clock: Clock) -> int:
    """DO 1.9 at pond-01/n1: the notices routing sends now."""
    with service._lock:
        service._record(
            service.evaluator.observe("pond-01", "n1", clock.now, {"dissolved_oxygen": 1.9})
        )
    return len(service.dispatch_once(clock.now))


def test_a_silence_mutes_until_it_is_expired(
    served: tuple[httpx.Client, AlertingService, Clock],
) -> None:
    http, service, clock = served
    bad = http.post(
        "/api/v1/silences", json={"matchers": ["farm=~("], "duration": "2h", "created_by": "x"}
    )
    assert bad.status_code == 422
    made = http.post(
        "/api/v1/silences",
        json={
            "matchers": ['farm="pond-01"'], "duration": "2h", "created_by": "someone else",
            "comment": "tháo cạn ao để vệ sinh",
        },
    )  # fmt: skip
    assert made.status_code == 201
    silence = made.json()
    assert crash(service, clock) == 0  # muted: nothing sent
    assert silence["created_by"] == "kỹ thuật viên"  # the token's name, not the body's
    listed = http.get("/api/v1/silences").json()
    assert [s["id"] for s in listed] == [silence["id"]]
    assert listed[0]["comment"] == "tháo cạn ao để vệ sinh"

    clock.now += timedelta(minutes=5)
    ended = http.delete(f"/api/v1/silences/{silence['id']}")
    assert ended.status_code == 200
    assert ended.json()["ends_at"] == clock.now.isoformat()
    clock.now += timedelta(seconds=1)
    assert len(service.dispatch_once(clock.now)) == 1  # the held-back alert is sent now
    assert http.delete("/api/v1/silences/nope").status_code == 404


def test_silences_are_kept_across_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    first = make_service(tmp_path / "data", clock)
    made = first.add_silence(['node="n1"'], timedelta(hours=1), "officer")
    first.stop()
    second = make_service(tmp_path / "data", clock)
    try:
        assert list(second.silences) == [made.id]
        assert crash(second, clock) == 0
    finally:
        second.stop()
