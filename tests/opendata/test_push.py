"""Pushing to an NGSI-LD context broker, against a small real one: an ASGI app served on a real
port that records every request and keeps entities by id as a broker's batch upsert does
(201 when it created them, 204 when all existed, 207 with per-entity errors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from farmwatch_core.contract import Record
from farmwatch_core.registry import parse_registry
from farmwatch_ingest.stores.base import NodeRecord
from farmwatch_ingest.stores.sqlite import SqliteStore
from fastapi import FastAPI, Request, Response
from support.asgi import served

from farmwatch.cli import main
from farmwatch.opendata.ngsi import farm_entities
from farmwatch.opendata.push import PushError, push_entities

REGISTRY = """
farms:
  - {id: pond-01, name: Ao ông Sơn, model: aquaculture_pond, district: Thanh Hà,
     location: {lat: 20.9, lon: 106.43}, area_ha: 0.8,
     nodes: [{id: pond-01-w1, sensors: [dissolved_oxygen, ph]},
             {id: pond-01-w2, sensors: [dissolved_oxygen, ph]}]}
  - {id: lychee-02, name: Vườn vải bà Hoa, model: orchard, district: Thanh Hà,
     location: {lat: 20.95, lon: 106.4}, area_ha: 1.2,
     nodes: [{id: lychee-02-n1, sensors: [air_temperature, soil_moisture]}]}
"""


@dataclass
class Broker:
    """The receiver's state: every request as received, and the entities it holds."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer first
    refuse: set[str] = field(default_factory=set)  # entity ids answered as errors (207)


def broker_app(broker: Broker) -> FastAPI:
    app = FastAPI()

    @app.post("/ngsi-ld/v1/entityOperations/upsert")
    async def upsert(request: Request) -> Response:
        body = json.loads(await request.body())
        broker.requests.append({"headers": dict(request.headers), "body": body})
        if broker.fail_next:
            return Response(status_code=broker.fail_next.pop(0), headers={"Retry-After": "0"})
        if request.headers.get("content-type") != "application/ld+json" or any(
            "@context" not in e for e in body
        ):
            return Response(status_code=400)
        created, errors = [], []
        for entity in body:
            if entity["id"] in broker.refuse:
                errors.append({"entityId": entity["id"], "error": {"title": "BadRequestData"}})
                continue
            if entity["id"] not in broker.entities:
                created.append(entity["id"])
            broker.entities[entity["id"]] = entity  # upsert: replace
        if errors:
            content = json.dumps({"success": created, "errors": errors})
            return Response(content, status_code=207, media_type="application/json")
        if created:
            return Response(json.dumps(created), status_code=201, media_type="application/json")
        return Response(status_code=204)

    return app


@pytest.fixture
def broker() -> Iterator[tuple[Broker, httpx.Client]]:
    state = Broker()
    with served(broker_app(state)) as client:
        yield state, client


def _entities() -> list[dict[str, Any]]:
    deployment = parse_registry(REGISTRY)
    return [e for farm in deployment.farms for e in farm_entities(farm)]


def test_batches_headers_retries_and_idempotent_repush(
    broker: tuple[Broker, httpx.Client],
) -> None:
    state, client = broker
    url = str(client.base_url)
    entities = _entities()
    assert len(entities) == 6  # 2 AgriFarm, 1 AgriParcel, 3 Device
    state.fail_next = [503]  # the broker is busy once: retried, not lost
    waits: list[float] = []
    with httpx.Client(timeout=10) as http:
        first = push_entities(
            http, url, entities, tenant="hai-duong", batch_size=4, sleep=waits.append
        )
    assert (first.sent, first.created, first.updated, first.errors) == (6, 6, 0, [])
    assert first.requests == 3
    assert waits == [0.0]  # the broker's Retry-After: 0, not our own backoff
    assert [len(r["body"]) for r in state.requests] == [4, 4, 2]  # the failed try, then 4 + 2
    for request in state.requests:
        assert request["headers"]["content-type"] == "application/ld+json"
        assert request["headers"]["ngsild-tenant"] == "hai-duong"
        assert all(
            e["@context"][-1].startswith("https://uri.etsi.org/ngsi-ld/") for e in request["body"]
        )
    held = json.dumps(state.entities, sort_keys=True)
    assert sorted(state.entities) == sorted(e["id"] for e in entities)
    # Pushing again changes nothing: every entity is updated with the same content.
    with httpx.Client(timeout=10) as http:
        again = push_entities(http, url, entities, tenant="hai-duong", batch_size=4)
    assert (again.created, again.updated, again.requests) == (0, 6, 2)
    assert json.dumps(state.entities, sort_keys=True) == held


def test_refusals_are_reported_and_fatal_answers_not_retried(
    broker: tuple[Broker, httpx.Client],
) -> None:
    state, client = broker
    entities = _entities()
    state.refuse = {entities[0]["id"]}
    with httpx.Client(timeout=10) as http:
        result = push_entities(http, str(client.base_url), entities, batch_size=10)
        assert result.created == 5
        assert result.errors == [f"{entities[0]['id']}: BadRequestData"]
        state.fail_next = [400]
        with pytest.raises(PushError, match="answered 400"):
            push_entities(http, str(client.base_url), entities)
        assert len(state.requests) == 2  # a 400 is not retried
        state.fail_next = [503, 503, 503]
        with pytest.raises(PushError, match="HTTP 503, after 3 tries"):
            push_entities(http, str(client.base_url), entities, attempts=3, sleep=lambda _: None)


def test_the_command_pushes_entities_and_observations(
    broker: tuple[Broker, httpx.Client], tmp_path: Path
) -> None:
    state, client = broker
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY, encoding="utf-8")
    at = datetime(2026, 11, 28, 21, 0, tzinfo=UTC)
    store = SqliteStore(tmp_path / "farmwatch.db")
    store.write(
        [
            NodeRecord("pond-01", "pond-01-w1", Record(at + timedelta(minutes=10 * i), i, True,
                                                       {"dissolved_oxygen": 5.0, "ph": 7.4}))
            for i in range(3)
        ]
    )  # fmt: skip
    store.close()
    args = [
        "opendata", "push", "--all", "--broker-url", str(client.base_url), "--tenant", "hd",
        "--registry", str(registry), "--data-dir", str(tmp_path), "--batch-size", "5",
        "--start", "2026-11-29", "--end", "2026-11-30",
    ]  # fmt: skip
    assert main(args) == 0
    kinds = sorted(e["type"] for e in state.entities.values())
    assert kinds.count("WaterQualityObserved") == 3
    assert len(state.entities) == 9
    assert [len(r["body"]) for r in state.requests] == [5, 4]
