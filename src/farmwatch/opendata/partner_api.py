"""The partner read API, ``/api/partner/v1``: NGSI-LD entities and observations for partner
systems (provincial and national data platforms), versioned so farmwatch can change its own
API without breaking theirs.

* ``GET /api/partner/v1/entities[?type=AgriFarm]``: the entities in the caller's scope;
* ``GET /api/partner/v1/entities/{id}``: one entity (404 outside the scope, as elsewhere);
* ``GET /api/partner/v1/entities/{id}/observations?start=&end=``: the readings of a Device,
  or of every node of a farm, parcel or greenhouse, in a period.

Listings are paginated with an opaque ``page_token`` (a cursor: the last item's sort key, so
pages stay stable while data arrives), ``limit`` capped at :data:`MAX_LIMIT`, and a ``next``
link that is null on the last page. Any API token may call it, seeing its own scope; a
``partner`` key (``farmwatch tokens add --role partner``) may call nothing else. Every caller
is rate-limited per token (per address for the loopback demo).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from farmwatch_core.access import Principal, guard_of
from farmwatch_core.contract import Record
from farmwatch_core.contract.quantities import QUANTITIES
from farmwatch_core.registry import Deployment, Farm
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from farmwatch.opendata.ngsi import DEFAULT_NAMESPACE, Entity, entity_id, farm_entities, iso
from farmwatch.opendata.units import unit_code

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "PARTNER_BURST",
    "PARTNER_PER_MINUTE",
    "PartnerLimiter",
    "partner_router",
]

PREFIX = "/api/partner/v1"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_PERIOD = timedelta(days=366)  # one request reads at most a year (paginated)
PARTNER_PER_MINUTE = 120  # per token: a platform syncing every few minutes stays far below
PARTNER_BURST = 60


class RecordSource(Protocol):
    def records(
        self, farm_id: str, node_id: str, start: datetime, end: datetime
    ) -> list[Record]: ...


class PartnerLimiter(Protocol):
    def take(self, key: Any) -> float:
        """0.0 if the request may go ahead, else the seconds to wait."""
        ...


class EntityPage(BaseModel):
    """A page of NGSI-LD entities (normalized, each with its ``@context``)."""

    items: list[dict[str, Any]] = Field(
        description="NGSI-LD entities in the normalized representation, sorted by id",
        examples=[
            [
                {
                    "id": "urn:ngsi-ld:AgriFarm:hd:pond-01",
                    "type": "AgriFarm",
                    "name": {"type": "Property", "value": "Ao cá ông Sơn"},
                    "location": {
                        "type": "GeoProperty",
                        "value": {"type": "Point", "coordinates": [106.43, 20.9]},
                    },
                    "@context": [
                        "https://raw.githubusercontent.com/smart-data-models/dataModel.Agrifood/master/context.jsonld",
                        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
                    ],
                }
            ]
        ],
    )
    next: str | None = Field(
        description="the next page (same query, with page_token), or null on the last page",
        examples=["/api/partner/v1/entities?limit=100&page_token=eyJhIjoidXJuOi4uLiJ9"],
    )


class Value(BaseModel):
    value: float = Field(examples=[4.6])
    unit: str = Field(description="farmwatch unit code (docs/contract.md)", examples=["mg/L"])
    unitCode: str | None = Field(  # noqa: N815 - the NGSI-LD name
        description="UN/CEFACT common code of the value as given here, when one exists",
        examples=["M1"],
    )


class Observation(BaseModel):
    """One record of one node: its readings at one time."""

    observedAt: str = Field(examples=["2026-11-29T03:00:00Z"])  # noqa: N815
    device: str = Field(examples=["urn:ngsi-ld:Device:hd:pond-01:pond-01-water"])
    seq: int = Field(description="the node's message sequence number", examples=[4211])
    values: dict[str, Value] = Field(description="quantity name (docs/contract.md) → value")


class ObservationPage(BaseModel):
    entity: str = Field(examples=["urn:ngsi-ld:AgriFarm:hd:pond-01"])
    start: str
    end: str
    items: list[Observation] = Field(description="sorted by observedAt, then device")
    next: str | None = Field(description="the next page, or null on the last page")


@dataclass(frozen=True, slots=True)
class _Indexed:
    farm: Farm
    entity: Entity
    node: str | None  # a Device's node; None: every node of the farm


def _index(deployment: Deployment | None, namespace: str) -> dict[str, _Indexed]:
    found: dict[str, _Indexed] = {}
    for farm in deployment.farms if deployment is not None else ():
        nodes = {entity_id("Device", farm.id, n.id, namespace=namespace): n.id for n in farm.nodes}
        for entity in farm_entities(farm, namespace=namespace):
            found[entity["id"]] = _Indexed(farm, entity, nodes.get(entity["id"]))
    return dict(sorted(found.items()))


def _token(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _untoken(token: str | None) -> list[Any] | None:
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise HTTPException(400, "page_token is not one this API issued") from None
    if not isinstance(key, list) or not all(isinstance(k, str) for k in key):
        raise HTTPException(400, "page_token is not one this API issued")
    return key


def _next(request: Request, key: list[str]) -> str:
    """The same request with the cursor after ``key``, as a path (behind a proxy the partner
    knows the host it called)."""
    query = dict(request.query_params)
    query["page_token"] = _token(key)
    return f"{request.url.path}?{urlencode(query)}"


def _when(text: str | None, default: datetime) -> datetime:
    if text is None:
        return default
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, f"not an ISO 8601 time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def partner_router(
    deployment: Deployment | None,
    store: RecordSource,
    limiter: PartnerLimiter,
    *,
    namespace: str = DEFAULT_NAMESPACE,
) -> APIRouter:
    """The partner API over the registry the app started with and the readings store."""
    index = _index(deployment, namespace)
    router = APIRouter(prefix=PREFIX, tags=["partner API v1 (open data)"])

    def caller(request: Request) -> Principal:
        principal = guard_of(request).principal(request)
        key = principal.token_id or (request.client.host if request.client else "?")
        wait = limiter.take(("partner", key))
        if wait:
            seconds = max(1, math.ceil(wait))
            raise HTTPException(
                429,
                f"Quá nhiều yêu cầu, thử lại sau {seconds} giây / too many requests, "
                f"retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
        return principal

    def visible(principal: Principal, entity_id_: str) -> _Indexed:
        found = index.get(entity_id_)
        if found is None or not principal.sees(found.farm.id):
            raise HTTPException(404, f"no entity {entity_id_!r}")
        return found

    @router.get("/entities", response_model=EntityPage, summary="entities in scope, paginated")
    def entities(
        request: Request,
        type: str | None = Query(None, description="only this entity type", examples=["AgriFarm"]),
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
        page_token: str | None = Query(None, description="from the previous page's next"),
    ) -> EntityPage:
        """Farms, parcels, greenhouses and devices as NGSI-LD entities (Smart Data Models),
        sorted by id; no contact or personal data."""
        principal = caller(request)
        after = _untoken(page_token)
        items: list[dict[str, Any]] = []
        more = False
        for eid, found in index.items():
            if after is not None and eid <= after[0]:
                continue
            if (type is not None and found.entity["type"] != type) or not principal.sees(
                found.farm.id
            ):
                continue
            if len(items) == limit:
                more = True
                break
            items.append(found.entity)
        return EntityPage(items=items, next=_next(request, [items[-1]["id"]]) if more else None)

    @router.get(
        "/entities/{entity_id}", response_model=dict[str, Any], summary="one NGSI-LD entity"
    )
    def entity(request: Request, entity_id: str) -> dict[str, Any]:
        """One entity by its URN; 404 when it does not exist or is outside the caller's
        scope (so a partner cannot probe which farms exist)."""
        return visible(caller(request), entity_id).entity

    @router.get(
        "/entities/{entity_id}/observations",
        response_model=ObservationPage,
        summary="readings of an entity in a period, paginated",
    )
    def observations(
        request: Request,
        entity_id: str,
        start: str | None = Query(None, description="ISO 8601; default: end minus 1 day"),
        end: str | None = Query(None, description="ISO 8601, exclusive; default: now"),
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
        page_token: str | None = Query(None, description="from the previous page's next"),
    ) -> ObservationPage:
        """The readings of a Device, or of every node of a farm, parcel or greenhouse, in
        [start, end), oldest first, values in canonical units with their UN/CEFACT code."""
        principal = caller(request)
        found = visible(principal, entity_id)
        upto = _when(end, datetime.now(UTC))
        since = _when(start, upto - timedelta(days=1))
        if not since < upto or upto - since > MAX_PERIOD:
            raise HTTPException(422, "start must be before end, at most 366 days apart")
        after = _untoken(page_token)
        nodes = [found.node] if found.node else [n.id for n in found.farm.nodes]
        items: list[Observation] = []
        more = False
        last: list[str] = []
        for key, node, record in _merged(store, found.farm.id, nodes, since, upto, after):
            if len(items) == limit:
                more = True
                break
            items.append(_observation(found.farm.id, node, record, namespace))
            last = key
        return ObservationPage(
            entity=entity_id,
            start=iso(since),
            end=iso(upto),
            items=items,
            next=_next(request, last) if more else None,
        )

    return router


def _merged(
    store: RecordSource,
    farm_id: str,
    nodes: list[str],
    start: datetime,
    end: datetime,
    after: list[str] | None,
) -> Iterator[tuple[list[str], str, Record]]:
    """The nodes' records in (ts, node) order past the cursor, read a day at a time, so a page
    of a long period reads only the days it needs."""
    cursor: tuple[datetime, str] | None = None
    if after is not None:
        if len(after) != 2:
            raise HTTPException(400, "page_token is not one this API issued")
        cursor = (_when(after[0], start), after[1])
    day = start if cursor is None else min(max(start, cursor[0]), end)
    while day < end:
        upto = min(day + timedelta(days=1), end)
        batch = [(r.ts, node, r) for node in nodes for r in store.records(farm_id, node, day, upto)]
        batch.sort(key=lambda item: (item[0], item[1]))
        for ts, node, record in batch:
            if cursor is not None and (ts, node) <= cursor:
                continue
            yield [iso(ts), node], node, record
        day = upto


def _observation(farm_id: str, node: str, record: Record, namespace: str) -> Observation:
    values: dict[str, Value] = {}
    for name, value in record.readings.items():
        q = QUANTITIES.get(name)
        if q is None:
            continue  # an indicator stored beside the readings, not a reading
        values[name] = Value(value=value, unit=q.unit, unitCode=unit_code(q.unit))
    return Observation(
        observedAt=iso(record.ts),
        device=entity_id("Device", farm_id, node, namespace=namespace),
        seq=record.seq,
        values=values,
    )
