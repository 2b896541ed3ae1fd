"""The farmwatch HTTP API (FastAPI; OpenAPI docs at /docs) and the minimal built-in page.

The app is built by :func:`create_app` from objects the caller owns (store, dead letters,
registry, the access guard), so the same app serves ``farmwatch up`` (embedded SQLite) and a
production API next to InfluxDB, and tests run it against real stores.

Every data route takes the caller's :class:`~farmwatch_core.access.Principal` and shows only
the farms in its scope: a farm outside it is "not found" (404, so its existence is not
confirmed), the operator's views (``/metrics``, ``/api/v1/stats``) are admin-only (403).
``/healthz``, ``/readyz`` and the OpenAPI docs are public: they say nothing about any farm.
docs/api.md has the whole matrix.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from farmwatch_core.access import Principal, guard_of
from farmwatch_core.contract import QUANTITIES
from farmwatch_core.contract.derived import derived_spec
from farmwatch_core.contract.payload import format_ts
from farmwatch_core.registry import Deployment
from farmwatch_core.timefmt import local_text
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from farmwatch_ingest.auth import ApiGuard, login_page, login_router
from farmwatch_ingest.deadletter import DeadLetterStore
from farmwatch_ingest.service import IngestService
from farmwatch_ingest.stores.base import Aggregate, Store, StoreUnavailable


class LatestOut(BaseModel):
    farm_id: str
    node_id: str
    quantity: str
    value: float
    unit: str
    ts: datetime


class RecordOut(BaseModel):
    ts: datetime
    seq: int
    synced: bool
    readings: dict[str, float]


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    farm_id: str | None
    node_id: str | None
    reason: str
    detail: str
    rejections: list[dict[str, Any]]
    payload_base64: str
    payload_size: int


class BucketOut(BaseModel):
    start: datetime
    value: float
    count: int


class NodeOut(BaseModel):
    farm_id: str
    node_id: str
    registered: bool
    state: str
    status_at: datetime | None
    last_reading_at: datetime | None
    last_received_at: datetime | None
    records: int | None
    missing_seq: int | None
    out_of_order: int | None
    duplicates: int | None


# Declares the bearer scheme in the OpenAPI docs (the "Authorize" button of /docs); the
# guard reads the header (or the page's cookie) itself.
_BEARER = HTTPBearer(auto_error=False, description="`farmwatch tokens add` (docs/api.md)")


def _who(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
) -> Principal:
    return guard_of(request).principal(request)


Who = Annotated[Principal, Depends(_who)]


def _in_scope(who: Principal, farm_id: str) -> None:
    """404 for a farm outside the caller's scope: the same answer as for a farm that does not
    exist, so a farmer cannot probe which farm IDs are real."""
    if not who.sees(farm_id):
        raise HTTPException(404, f"unknown farm {farm_id!r}")


def _admin_only(who: Principal) -> None:
    if not who.is_admin:
        raise HTTPException(403, "admin only (every farm's counters)")


# Dead letters and alerts are filtered after reading: a scoped caller's page is taken from
# up to this many of the newest rows.
_SCOPED_SCAN = 1000


def create_app(  # noqa: PLR0915 - one small closure per route, kept together
    store: Store,
    dead_letters: DeadLetterStore | None = None,
    deployment: Deployment | None = None,
    ingest: IngestService | None = None,
    routers: Sequence[APIRouter] = (),
    *,
    guard: ApiGuard,
) -> FastAPI:
    """The farmwatch HTTP app; ``routers`` add other services' routes (alerting's acks), which
    find ``guard`` on ``app.state.guard``."""
    app = FastAPI(
        title="farmwatch API",
        version="1",
        description="Telemetry, dead letters and status of farmwatch model farms. "
        "Times are UTC (ISO 8601); the built-in page shows them in Asia/Ho_Chi_Minh. "
        "Send `Authorization: Bearer <token>` (`farmwatch tokens add`); see docs/api.md.",
    )
    app.state.guard = guard

    @app.exception_handler(StarletteHTTPException)
    async def login_instead(request: Request, exc: StarletteHTTPException) -> Response:
        """A browser opening a page without being logged in gets the login form (still 401),
        and a phone over a rate limit a readable page (still 429 with Retry-After)."""
        browser = "text/html" in request.headers.get("accept", "")
        if exc.status_code == 401 and request.method == "GET" and browser:
            lang = "en" if request.query_params.get("lang") == "en" else "vi"
            return HTMLResponse(login_page(lang), 401, headers=exc.headers)
        if exc.status_code == 429 and browser:
            body = (
                "<!doctype html><meta charset='utf-8'><meta name='viewport' "
                "content='width=device-width,initial-scale=1'><title>farmwatch</title>"
                f"<p style='font:18px system-ui,sans-serif'>{html.escape(str(exc.detail))}</p>"
            )
            return HTMLResponse(body, 429, headers=exc.headers)
        return await http_exception_handler(request, exc)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> dict[str, Any]:
        """The store answers; 503 with the reason otherwise."""
        try:
            store.ping()
        except StoreUnavailable as exc:
            raise HTTPException(503, f"store unavailable: {exc}") from None
        return {"status": "ready", "mqtt_connected": ingest.stats.connected if ingest else None}

    @app.get("/api/v1/latest", response_model=list[LatestOut], tags=["readings"])
    def latest(who: Who, farm_id: str | None = None) -> list[LatestOut]:
        """The newest value of every quantity of every node in scope (optionally of one farm)."""
        if farm_id is not None:
            _in_scope(who, farm_id)
        try:
            rows = [r for r in store.latest(farm_id) if who.sees(r.farm_id)]
        except StoreUnavailable as exc:
            raise HTTPException(503, f"store unavailable: {exc}") from None
        return [
            LatestOut(
                farm_id=r.farm_id,
                node_id=r.node_id,
                quantity=r.quantity,
                value=r.value,
                unit=_unit(r.quantity),
                ts=r.ts,
            )
            for r in rows
        ]

    @app.get(
        "/api/v1/farms/{farm_id}/nodes/{node_id}/records",
        response_model=list[RecordOut],
        tags=["readings"],
    )
    def records(
        who: Who,
        farm_id: str,
        node_id: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[RecordOut]:
        """A node's records in [start, end); the last 24 hours by default."""
        _in_scope(who, farm_id)
        end = _utc(end) if end else datetime.now(UTC)
        start = _utc(start) if start else end - timedelta(days=1)
        try:
            found = store.records(farm_id, node_id, start, end)
        except StoreUnavailable as exc:
            raise HTTPException(503, f"store unavailable: {exc}") from None
        return [
            RecordOut(ts=r.ts, seq=r.seq, synced=r.synced, readings=dict(r.readings)) for r in found
        ]

    @app.get(
        "/api/v1/farms/{farm_id}/nodes/{node_id}/series",
        response_model=list[BucketOut],
        tags=["readings"],
    )
    def series(
        who: Who,
        farm_id: str,
        node_id: str,
        quantity: str,
        start: datetime | None = None,
        end: datetime | None = None,
        interval_s: Annotated[int, Query(ge=1, le=31 * 86400)] = 300,
        fn: Aggregate = "mean",
    ) -> list[BucketOut]:
        """One quantity aggregated per interval (mean, min or max), intervals aligned to the
        Unix epoch; empty intervals are left out. The last 24 hours by default."""
        _in_scope(who, farm_id)
        if quantity not in QUANTITIES:
            raise HTTPException(404, f"unknown quantity {quantity!r}; see docs/contract.md")
        end = _utc(end) if end else datetime.now(UTC)
        start = _utc(start) if start else end - timedelta(days=1)
        if (end - start) / timedelta(seconds=interval_s) > 100_000:
            raise HTTPException(
                422, "too many intervals; use a longer interval_s or a shorter range"
            )
        try:
            buckets = store.aggregate(
                farm_id, node_id, quantity, start, end, timedelta(seconds=interval_s), fn
            )
        except StoreUnavailable as exc:
            raise HTTPException(503, f"store unavailable: {exc}") from None
        return [BucketOut(start=b.start, value=b.value, count=b.count) for b in buckets]

    @app.get("/api/v1/nodes", response_model=list[NodeOut], tags=["nodes"])
    def nodes(who: Who, farm_id: str | None = None) -> list[NodeOut]:
        """Every registered or reporting node in scope: online state from its retained status,
        last reading, and sequence-number health (missing, late, duplicated messages)."""
        if farm_id is not None:
            _in_scope(who, farm_id)
        tracked = {(n.farm_id, n.node_id): n for n in ingest.nodes.snapshot()} if ingest else {}
        keys = set(tracked)
        if deployment is not None:
            keys |= {(f.id, n.id) for f in deployment.farms for n in f.nodes}
        newest: dict[tuple[str, str], datetime] = {}
        if not ingest:  # an API-only process learns "last reading" from the store
            try:
                for row in store.latest(farm_id):
                    key = (row.farm_id, row.node_id)
                    newest[key] = max(row.ts, newest.get(key, row.ts))
            except StoreUnavailable as exc:
                raise HTTPException(503, f"store unavailable: {exc}") from None
            keys |= set(newest)
        out = []
        for key in sorted(keys):
            if (farm_id is not None and key[0] != farm_id) or not who.sees(key[0]):
                continue
            node = tracked.get(key)
            out.append(
                NodeOut(
                    farm_id=key[0],
                    node_id=key[1],
                    registered=deployment is not None and deployment.node(*key) is not None,
                    state=node.state if node else "unknown",
                    status_at=node.status_at if node else None,
                    last_reading_at=node.last_reading_at if node else newest.get(key),
                    last_received_at=node.last_received_at if node else None,
                    records=node.records if node else None,
                    missing_seq=node.missing_count if node else None,
                    out_of_order=node.out_of_order if node else None,
                    duplicates=node.duplicates if node else None,
                )
            )
        return out

    @app.get("/metrics", include_in_schema=False)
    def metrics(who: Who) -> Response:
        """Prometheus exposition of this process's ingest counters (admin: every farm's
        labels; Prometheus sends the token with ``authorization: {credentials: ...}``)."""
        _admin_only(who)
        if ingest is None:
            return Response("# no ingest in this process\n", media_type=CONTENT_TYPE_LATEST)
        return Response(generate_latest(ingest.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/dead-letters", response_model=list[DeadLetterOut], tags=["operations"])
    def list_dead_letters(
        who: Who, limit: Annotated[int, Query(ge=1, le=1000)] = 100, reason: str | None = None
    ) -> list[DeadLetterOut]:
        """Refused messages in scope, newest first, with the reasons and the raw payload
        (those not tied to a registered farm's topic: admin only)."""
        if dead_letters is None:
            return []
        found = dead_letters.recent(limit if who.is_admin else _SCOPED_SCAN, reason)
        return [
            DeadLetterOut(
                id=d.id,
                received_at=d.received_at,
                topic=d.topic,
                farm_id=d.farm_id,
                node_id=d.node_id,
                reason=d.reason,
                detail=d.detail,
                rejections=d.rejections,
                payload_base64=base64.b64encode(d.payload).decode(),
                payload_size=d.payload_size,
            )
            for d in [d for d in found if who.sees(d.farm_id)][:limit]
        ]

    @app.get("/api/v1/stats", tags=["operations"])
    def ingest_stats(who: Who) -> dict[str, Any]:
        """Ingest counters of this process (empty when the API runs without ingest); admin."""
        _admin_only(who)
        if ingest is None:
            return {}
        stats = ingest.stats
        return {
            "messages": stats.messages,
            "records": stats.records,
            "readings": stats.readings,
            "dead_letters": stats.dead_letters,
            "rejections": dict(stats.rejections),
            "store_retries": stats.store_retries,
            "spooled_records": stats.spooled_records,
            "replayed_records": stats.replayed_records,
            "spool_dropped_records": stats.spool_dropped_records,
            "spool_records": len(ingest.spool),
            "mqtt_connected": stats.connected,
            "last_write_at": stats.last_write_at,
        }

    @app.get("/plain", response_class=HTMLResponse, include_in_schema=False)
    def page(who: Who, lang: str = "vi") -> str:
        """The latest readings without scripts (the built-in page's fallback for old phones)."""
        try:
            rows = [r for r in store.latest() if who.sees(r.farm_id)]
        except StoreUnavailable as exc:
            rows = []
            error = str(exc)
        else:
            error = ""
        return _render_page(rows, deployment, "en" if lang == "en" else "vi", error)

    app.include_router(login_router(guard))
    for router in routers:
        app.include_router(router)
    return app


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


_TEXT = {
    "vi": {
        "title": "farmwatch — số liệu mới nhất",
        "none": "Chưa có số liệu. Các nút cảm biến sẽ hiện ở đây khi gửi dữ liệu.",
        "updated": "Cập nhật",
        "error": "Không đọc được cơ sở dữ liệu",
        "other": "English",
    },
    "en": {
        "title": "farmwatch — latest readings",
        "none": "No readings yet. Sensor nodes appear here once they report.",
        "updated": "Updated",
        "error": "Cannot read the database",
        "other": "Tiếng Việt",
    },
}


def _render_page(rows: list[Any], deployment: Deployment | None, lang: str, error: str) -> str:
    """A small server-rendered page (no scripts, no CDN) that refreshes itself: works on any
    phone over a slow link; the live page at ``/`` (farmwatch_dashboards.page) links to it."""
    text = _TEXT[lang]
    by_node: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        by_node.setdefault((row.farm_id, row.node_id), []).append(row)
    parts = [
        "<!doctype html><html lang='" + lang + "'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<meta http-equiv='refresh' content='15'>",
        f"<title>{html.escape(text['title'])}</title><style>",
        "body{font-family:system-ui,sans-serif;margin:0;padding:.5rem;background:#f4f7f2}",
        "h1{font-size:1.2rem}",
        "section{background:#fff;border-radius:8px;padding:.5rem;margin:.5rem 0}",
        "h2{font-size:1rem;margin:.2rem 0}table{width:100%;border-collapse:collapse}",
        "td{padding:.2rem;border-top:1px solid #eee}td.v{text-align:right;font-weight:600}",
        "small{color:#666}</style></head><body>",
        f"<h1>{html.escape(text['title'])}</h1>",
        f"<p><a href='?lang={'en' if lang == 'vi' else 'vi'}'>{text['other']}</a></p>",
    ]
    if error:
        parts.append(f"<p><b>{text['error']}:</b> {html.escape(error)}</p>")
    elif not by_node:
        parts.append(f"<p>{text['none']}</p>")
    for (farm_id, node_id), node_rows in sorted(by_node.items()):
        farm = deployment.farm(farm_id) if deployment else None
        title = f"{farm.name} — {node_id}" if farm else f"{farm_id} — {node_id}"
        newest = max(r.ts for r in node_rows)
        parts.append(f"<section><h2>{html.escape(title)}</h2><table>")
        for r in node_rows:
            q = QUANTITIES.get(r.quantity)
            label = (q.label_vi if lang == "vi" else q.label_en) if q else r.quantity
            parts.append(
                f"<tr><td>{html.escape(label)}</td><td class='v'>{r.value:.4g}"
                f" {html.escape(q.symbol if q else '')}</td></tr>"
            )
        parts.append(
            f"</table><small>{text['updated']}: {local_text(newest)}"
            f" <span title='{format_ts(newest)}'>(UTC {format_ts(newest)[11:19]})</span>"
            "</small></section>"
        )
    parts.append("</body></html>")
    return "".join(parts)


def _unit(name: str) -> str:
    """The unit of a quantity, or of a derived value analytics stored beside the readings."""
    if name in QUANTITIES:
        return QUANTITIES[name].unit
    spec = derived_spec(name)
    return spec.unit if spec is not None else ""
