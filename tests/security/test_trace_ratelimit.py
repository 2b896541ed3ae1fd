"""The public traceability routes (``/trace/...``, no token) are rate-limited per client like
the other public routes, in their own bucket, on the app exactly as served."""

from __future__ import annotations

from pathlib import Path

from farmwatch_core.settings import ApiSettings
from support.api_world import api_world
from support.asgi import served

TIGHT = ApiSettings(
    public_per_minute=3, public_burst=3, auth_failures_per_minute=3, auth_failure_burst=3
)


def test_walking_lot_numbers_is_cut_off_after_a_burst(tmp_path: Path) -> None:
    with api_world(tmp_path, TIGHT) as w, served(w.app) as client:
        paths = ["/trace/LOT-1", "/trace/LOT-2.json", "/trace/public-key.pem"]
        answers = [client.get(path).status_code for path in paths]  # one bucket for all three
        assert answers == [404, 404, 404]
        refused = client.get("/trace/LOT-4")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 20
        # Other public routes keep their own buckets; tokens are not affected.
        _, code = w.fire("farm-a1")
        assert client.get(f"/a/{code}").status_code == 200
        assert client.get("/api/v1/latest", headers=w.headers("admin")).status_code == 200
