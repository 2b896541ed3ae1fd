"""The public traceability routes: what a buyer's phone opens when it scans a lot's QR code.

``GET /trace/{lot}`` is the printable page (Vietnamese, ``?lang=en`` for English) with the
signature checked against the issuer's published key on every request, ``/trace/{lot}.json`` is
the signed record byte for byte as issued, ``/trace/public-key.pem`` the issuer's public key.
These routes are meant to be public (no token): a lot record is made to be read by anyone
holding the product, and holds no personal data (see :mod:`farmwatch.trace.record`). Being
public, they are rate-limited per client address like the other public routes (the guard's
``trace`` bucket: a scan is one request, a script walking lot numbers is cut off after a burst).
Records are read from the published folder on each request, so a lot issued while the API runs
is served at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from farmwatch_core.access import guard_of
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from farmwatch.trace.page import render_page
from farmwatch.trace.record import LOT_PATTERN
from farmwatch.trace.signing import PUBLIC_KEY_FILE, load_public_key, verify

__all__ = ["trace_router"]


def trace_router(folder: Path, *, rate_limit: str | None = None) -> APIRouter:
    """Routes serving the records published in ``folder`` (``data_dir/trace``).

    ``rate_limit`` is the bucket of the app's guard (``app.state.guard``) every request takes
    from; ``build_app`` passes ``"trace"``. Without it (a bare app in a test) nothing is limited.
    """
    dependencies: list[Any] = [] if rate_limit is None else [Depends(_limited(rate_limit))]
    router = APIRouter(prefix="/trace", tags=["traceability"], dependencies=dependencies)

    def record_path(lot: str) -> Path:
        if not LOT_PATTERN.fullmatch(lot):
            raise HTTPException(404, "no such lot")
        path = folder / f"{lot}.json"
        if not path.is_file():
            raise HTTPException(404, f"no record for lot {lot}")
        return path

    @router.get("/public-key.pem", response_class=Response)
    def public_key() -> Response:
        """The issuer's Ed25519 public key (PEM): what records are checked against."""
        path = folder / PUBLIC_KEY_FILE
        if not path.is_file():
            raise HTTPException(404, "no record has been issued yet")
        return Response(path.read_bytes(), media_type="application/x-pem-file")

    @router.get("/{lot}.json", response_class=FileResponse)
    def record_json(lot: str) -> FileResponse:
        """The signed record as issued (canonical content, pretty layout)."""
        return FileResponse(record_path(lot), media_type="application/json")

    @router.get("/{lot}", response_class=HTMLResponse)
    def record_page(lot: str, lang: str = Query("vi", pattern="^(vi|en)$")) -> HTMLResponse:
        """The printable page, with the signature checked against the published key."""
        path = record_path(lot)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HTTPException(500, f"the record of lot {lot} is unreadable: {exc}") from None
        key_path = folder / PUBLIC_KEY_FILE
        trusted = load_public_key(key_path) if key_path.is_file() else None
        ok = verify(record, trusted).ok and trusted is not None
        try:
            return HTMLResponse(render_page(record, lang, signature_ok=ok))
        except (KeyError, TypeError, ValueError) as exc:
            raise HTTPException(500, f"the record of lot {lot} is incomplete: {exc}") from None

    return router


def _limited(bucket: str) -> Any:
    def take(request: Request) -> None:
        guard_of(request).limit(bucket, request)

    return take
