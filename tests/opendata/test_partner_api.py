"""The partner API over real HTTP: keys are enforced (a partner key opens nothing else), pages
are complete, stable and capped, observations page through a period, partner keys are
rate-limited, and the OpenAPI document describes it. Who may call what on every route is in
tests/security/test_api_authz.py (the partner role is one of its roles)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from farmwatch_core.access import Grant, Role
from farmwatch_core.api_tokens import TokenStore
from farmwatch_core.contract import Record
from farmwatch_ingest.ratelimit import RateLimiter
from farmwatch_ingest.stores.base import NodeRecord
from fastapi import FastAPI
from support.api_world import World, api_world, token_guard
from support.asgi import served

from farmwatch.cli import main
from farmwatch.components import tokens_path
from farmwatch.opendata.partner_api import MAX_LIMIT, partner_router

P = "/api/partner/v1"
PARTNER_ALL = Grant("Cổng dữ liệu tỉnh", Role.PARTNER)  # every district's model farms


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, httpx.Client]]:
    from support.api_world import GRANTS

    grants = {**GRANTS, "partner-all": PARTNER_ALL}
    with api_world(tmp_path_factory.mktemp("partner"), grants=grants) as w, served(w.app) as c:
        yield w, c


def _all_pages(client: httpx.Client, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    pages = 0
    while next_url is not None:
        response = client.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        next_url = body["next"]
        pages += 1
        assert pages < 100
    return items


def test_pages_are_complete_stable_and_scoped(world: tuple[World, httpx.Client]) -> None:
    w, client = world
    headers = w.headers("partner-all")
    whole = client.get(f"{P}/entities", params={"limit": MAX_LIMIT}, headers=headers).json()
    assert whole["next"] is None
    ids = [e["id"] for e in whole["items"]]
    # Every model farm (a1, b1, b2) and its device; not farm-a2, which is no model farm.
    farms = {i.split(":")[4] for i in ids}
    assert farms == {"farm-a1", "farm-b1", "farm-b2"}
    assert ids == sorted(ids)
    paged = _all_pages(client, f"{P}/entities?limit=2", headers)
    assert [e["id"] for e in paged] == ids
    devices = _all_pages(client, f"{P}/entities?limit=1&type=Device", headers)
    assert [e["id"] for e in devices] == [i for i in ids if ":Device:" in i]
    # A district's partner sees that district's model farms only.
    district = client.get(f"{P}/entities", headers=w.headers("partner-th")).json()
    assert {e["id"].split(":")[4] for e in district["items"]} == {"farm-a1", "farm-b2"}


def test_limits_and_tokens_are_checked(world: tuple[World, httpx.Client]) -> None:
    w, client = world
    headers = w.headers("partner-all")
    assert (
        client.get(f"{P}/entities", params={"limit": MAX_LIMIT + 1}, headers=headers).status_code
        == 422
    )
    assert client.get(f"{P}/entities", params={"limit": 0}, headers=headers).status_code == 422
    bad = client.get(f"{P}/entities", params={"page_token": "not-a-token"}, headers=headers)
    assert bad.status_code == 400
    assert client.get(f"{P}/entities").status_code == 401
    wrong = {"Authorization": "Bearer fwt_deadbeef_" + "x" * 43}
    assert client.get(f"{P}/entities", headers=wrong).status_code == 401
    # The partner key opens the partner API only; not even the read-only views of the page.
    for path in ("/api/v1/latest", "/api/v1/alerts", "/api/v1/registry/farms", "/metrics"):
        assert client.get(path, headers=headers).status_code == 403, path
    hidden = client.get(f"{P}/entities/urn:ngsi-ld:AgriFarm:hd:farm-a2", headers=headers)
    assert hidden.status_code == 404  # exists, but no model farm: not confirmed


def test_observations_page_through_a_period(world: tuple[World, httpx.Client]) -> None:
    w, client = world
    start = (w.now - timedelta(hours=3)).replace(microsecond=0)  # the store keeps ms
    w.store.write(
        [
            NodeRecord(
                "farm-b1", "farm-b1-n1", Record(start + timedelta(minutes=5 * i), 100 + i, True,
                                               {"air_temperature": 20.0 + i, "nh3": 3.0}),
            )
            for i in range(25)
        ]
    )  # fmt: skip
    url = (
        f"{P}/entities/urn:ngsi-ld:AgriFarm:hd:farm-b1/observations?limit=10"
        f"&start={start.isoformat().replace('+00:00', 'Z')}"
        f"&end={(start + timedelta(hours=2, minutes=5)).isoformat().replace('+00:00', 'Z')}"
    )
    items = _all_pages(client, url.replace("+", "%2B"), w.headers("partner-all"))
    assert [o["seq"] for o in items] == list(range(100, 125))
    assert items[0]["values"]["air_temperature"] == {
        "value": 20.0,
        "unit": "degC",
        "unitCode": "CEL",
    }
    assert items[0]["values"]["nh3"]["unitCode"] == "59"
    assert all(o["observedAt"].endswith("Z") for o in items)
    assert {o["device"] for o in items} == {"urn:ngsi-ld:Device:hd:farm-b1:farm-b1-n1"}
    reversed_period = client.get(
        f"{P}/entities/urn:ngsi-ld:AgriFarm:hd:farm-b1/observations",
        params={"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
        headers=w.headers("partner-all"),
    )
    assert reversed_period.status_code == 422


def test_the_openapi_document_describes_the_partner_api(
    world: tuple[World, httpx.Client],
) -> None:
    _, client = world
    doc = client.get("/openapi.json").json()
    listing = doc["paths"][f"{P}/entities"]["get"]
    assert listing["tags"] == ["partner API v1 (open data)"]
    assert {p["name"] for p in listing["parameters"]} == {"type", "limit", "page_token"}
    schema = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/EntityPage")
    assert "next" in doc["components"]["schemas"]["EntityPage"]["properties"]
    assert f"{P}/entities/{{entity_id}}/observations" in doc["paths"]


def test_partner_keys_are_rate_limited(tmp_path: Path) -> None:
    guard, tokens = token_guard(tmp_path / "t.db", {"p": PARTNER_ALL, "q": PARTNER_ALL})
    app = FastAPI()
    app.state.guard = guard
    app.include_router(partner_router(None, _NoRecords(), RateLimiter(60, 3)))
    with served(app) as client:
        headers = {"Authorization": f"Bearer {tokens['p']}"}
        answers = [client.get(f"{P}/entities", headers=headers) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert int(answers[-1].headers["Retry-After"]) >= 1
        other = {"Authorization": f"Bearer {tokens['q']}"}  # per key, not per address
        assert client.get(f"{P}/entities", headers=other).status_code == 200
    guard.tokens.close()


class _NoRecords:
    def records(self, *_: object) -> list[Record]:
        return []


def test_tokens_add_issues_partner_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert main(["tokens", "add", "--role", "partner", "--name", "Cổng tỉnh", *data]) == 0
    assert main(["tokens", "add", "--role", "partner", "--name", "Sở", "--district",
                 "Thanh Hà", *data]) == 0  # fmt: skip
    assert main(["tokens", "add", "--role", "partner", "--name", "x", "--farm", "f1", *data]) == 2
    assert "takes no --farm" in capsys.readouterr().err
    from farmwatch_core.settings import FarmwatchSettings

    store = TokenStore(tokens_path(FarmwatchSettings(data_dir=tmp_path)))
    try:
        grants = sorted((t.grant for t in store.tokens()), key=lambda g: len(g.districts))
    finally:
        store.close()
    assert [(g.role, g.districts) for g in grants] == [
        (Role.PARTNER, ()), (Role.PARTNER, ("Thanh Hà",)),
    ]  # fmt: skip
    assert grants[0].scope_text() == "open data: model farms of every district"
