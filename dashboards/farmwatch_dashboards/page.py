"""The built-in page: what a farmer opens on a phone when there is no Grafana.

Served by the farmwatch HTTP app at ``/``, from files in ``page/`` (one HTML shell, one script,
one stylesheet, and uPlot vendored in ``page/vendor/``: no CDN, no build step, ~75 KB in all
before gzip, so it loads over a rural 3G link). The script reads the same JSON API as
everyone else (``/api/v1/nodes``, ``/api/v1/latest``, ``.../series``, ``/api/v1/alerts``)
plus two routes here:

* ``/api/v1/page/meta`` — farms and nodes from the registry, the quantities' names in
  Vietnamese and English with units, and each model type's limits (from the model profiles)
  so values are coloured the way the alert rules judge them;
* ``/api/v1/page/events`` — Server-Sent Events: every few seconds the readings that changed
  and the open alerts. SSE rather than WebSocket: one-way is all the page needs, it passes
  proxies, and the browser reconnects by itself after a dropped link.

Without JavaScript the page points to ``/plain`` (server-rendered, refreshes itself).

Feedback (docs/feedback.md): the script puts "was this useful?" buttons under open alerts and
alerts resolved in the last 24 hours (``POST /api/v1/alerts/{id}/feedback``, not for read-only
officers) and, for operators, a table of ``/api/v1/feedback/summary`` (false-alarm rates per
rule with suggested limits). Those routes are alerting's; this router serves the files only.

Access: the shell and its assets hold no data; ``/`` itself asks for a login (a browser gets
the login form with its 401) so a phone lands on it, and the data routes show only the farms
of the caller's principal (the app's guard, ``app.state.guard``). The event stream checks the
token again before every update, so a revoked token's open page stops within seconds. In the
tokenless loopback demo the meta says ``auth.demo`` and the page shows a "demo mode" note.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from farmwatch_analytics.model_profiles import profile_for_model
from farmwatch_core.access import Principal, guard_of
from farmwatch_core.contract import QUANTITIES
from farmwatch_core.contract.derived import DERIVED
from farmwatch_core.registry import Deployment
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

__all__ = ["PAGE_DIR", "OpenAlerts", "page_router"]

PAGE_DIR = Path(__file__).parent / "page"
# What may be fetched from /assets/: file name → (path, media type). A fixed list, not a
# directory listing, so nothing else under the package can be read over HTTP.
_ASSETS = {
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "app.css": ("app.css", "text/css; charset=utf-8"),
    "uplot.min.js": ("vendor/uplot.min.js", "text/javascript; charset=utf-8"),
    "uplot.min.css": ("vendor/uplot.min.css", "text/css; charset=utf-8"),
}
_UNITS = {"degC": "°C", "1": "", "pH": ""}

Latest = Callable[[], Sequence[Any]]  # rows with farm_id, node_id, quantity, value, ts
OpenAlerts = Callable[[], list[dict[str, Any]]]


# Declares the bearer scheme in the OpenAPI docs (the "Authorize" button of /docs); the
# guard reads the header (or the page's cookie) itself.
_BEARER = HTTPBearer(auto_error=False, description="`farmwatch tokens add` (docs/api.md)")


def _who(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
) -> Principal:
    return guard_of(request).principal(request)


Who = Annotated[Principal, Depends(_who)]


def _meta(deployment: Deployment | None, who: Principal) -> dict[str, Any]:
    farms = []
    limits: dict[str, dict[str, list[dict[str, Any]]]] = {}
    titles: dict[str, dict[str, str]] = {}  # each model type's name, from its profile
    for farm in deployment.farms if deployment else ():
        if not who.sees(farm.id):
            continue
        farms.append(
            {
                "id": farm.id, "name": farm.name, "model": farm.model.value,
                "cooperative": farm.cooperative, "district": farm.district,
                "nodes": [{"id": n.id, "name": n.description or n.id} for n in farm.nodes],
            }
        )  # fmt: skip
        if farm.model.value not in limits:
            profile = profile_for_model(farm.model)
            titles[farm.model.value] = {"vi": profile.title.vi, "en": profile.title.en}
            limits[farm.model.value] = {
                subject: [
                    {
                        "severity": lim.severity.value,
                        "below": lim.below,
                        "above": lim.above,
                        "source": lim.source,
                    }
                    for lim in profile.limits_by_severity[subject]
                ]
                for subject in profile.limits
            }
    specs: list[tuple[str, Any]] = [*QUANTITIES.items(), *DERIVED.items()]
    names = {
        name: {"vi": spec.label_vi, "en": spec.label_en, "unit": _UNITS.get(spec.unit, spec.unit)}
        for name, spec in specs
    }
    derived = dict.fromkeys(DERIVED, True)
    auth = {
        "demo": who.demo,
        "name": None if who.demo else who.name,
        "role": who.role.value,
        "read_only": who.read_only,
    }
    return {
        "farms": farms, "quantities": names, "derived": derived, "limits": limits,
        "models": titles, "auth": auth,
    }  # fmt: skip


def _row(row: Any) -> dict[str, Any]:
    ts: datetime = row.ts
    return {
        "farm_id": row.farm_id, "node_id": row.node_id, "quantity": row.quantity,
        "value": row.value, "ts": ts.isoformat().replace("+00:00", "Z"),
    }  # fmt: skip


def page_router(
    deployment: Deployment | None,
    latest: Latest,
    open_alerts: OpenAlerts | None = None,
    every_s: float = 3.0,
) -> APIRouter:
    """``/``, its assets, its metadata and its live events; include in the farmwatch app."""
    router = APIRouter()
    metas: dict[Principal, dict[str, Any]] = {}  # a handful of principals; registry is fixed
    shell = (PAGE_DIR / "index.html").read_text(encoding="utf-8")

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(who: Who, lang: str = "vi") -> str:
        """The shell (``who``: without a login, a browser gets the login form instead)."""
        return shell.replace("{{lang}}", "en" if lang == "en" else "vi")

    @router.get("/assets/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        if name not in _ASSETS:
            raise HTTPException(404, "no such asset")
        path, media = _ASSETS[name]
        return FileResponse(
            PAGE_DIR / path, media_type=media, headers={"Cache-Control": "max-age=3600"}
        )

    @router.get("/api/v1/page/meta", tags=["page"])
    def page_meta(who: Who) -> dict[str, Any]:
        """Farms in scope, nodes, quantity names (vi/en) with units, each model type's limits,
        and who is logged in (or that this is the tokenless demo)."""
        if who not in metas:
            metas[who] = _meta(deployment, who)
        return metas[who]

    @router.get("/api/v1/page/events", tags=["page"])
    async def events(request: Request, who: Who) -> StreamingResponse:
        """Server-Sent Events: ``update`` with the readings that changed and the open alerts,
        of the farms in scope."""

        def still_allowed() -> bool:
            try:
                return guard_of(request).principal(request) == who
            except HTTPException:
                return False

        async def stream() -> AsyncIterator[bytes]:
            sent: dict[tuple[str, str, str], str] = {}
            yield b"retry: 3000\n\n"  # reconnect after 3 s when the link drops
            while not await request.is_disconnected():
                if not await asyncio.to_thread(still_allowed):
                    yield b"event: logout\ndata: {}\n\n"  # revoked: the page goes to /login
                    return
                try:
                    rows = [r for r in await asyncio.to_thread(latest) if who.sees(r.farm_id)]
                    alerts = await asyncio.to_thread(open_alerts) if open_alerts else []
                    alerts = [a for a in alerts if who.sees(a.get("labels", {}).get("farm"))]
                except Exception as exc:  # noqa: BLE001 - the page shows it and keeps trying
                    body: dict[str, Any] = {"error": str(exc)}
                else:
                    changed: list[dict[str, Any]] = []
                    for row in rows:
                        item = _row(row)
                        key = (item["farm_id"], item["node_id"], item["quantity"])
                        if sent.get(key) != item["ts"]:
                            sent[key] = item["ts"]
                            changed.append(item)
                    body = {"latest": changed, "alerts": alerts}
                data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
                yield f"event: update\ndata: {data}\n\n".encode()
                await asyncio.sleep(every_s)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
