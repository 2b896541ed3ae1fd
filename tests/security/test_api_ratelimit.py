"""Rate limits on the public endpoints and on failed token checks, over real HTTP.

The limits are small here (a burst of 3, then 3 a minute) so a few requests reach them; the
buckets are per client IP, so every test gets its own app (its own buckets).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from farmwatch_core.settings import ApiSettings
from support.api_world import World, api_world
from support.asgi import served

TIGHT = ApiSettings(
    public_per_minute=3, public_burst=3, auth_failures_per_minute=3, auth_failure_burst=3
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[World, httpx.Client]]:
    with api_world(tmp_path, TIGHT) as w, served(w.app) as client:
        yield w, client


def refused_after(client: httpx.Client, burst: int, send: object) -> httpx.Response:
    """``send`` ``burst`` times (none refused), then once more: that answer."""
    assert callable(send)
    for i in range(burst):
        response = send()
        assert response.status_code != 429, f"request {i + 1} of the burst was refused"
    last: httpx.Response = send()
    return last


def assert_too_many(response: httpx.Response) -> None:
    assert response.status_code == 429
    # 3 a minute: one token back in 20 s at most.
    assert 1 <= int(response.headers["Retry-After"]) <= 20


def test_ack_links_are_rate_limited(world: tuple[World, httpx.Client]) -> None:
    """Guessing codes at /a/<code> (GET and POST share one bucket) is cut off after a burst."""
    w, client = world
    _, code = w.fire("farm-a1")
    guesses = iter(["AAAAA", "BBBBB", "CCCCC", code])  # the last one right, too late
    last = refused_after(client, 3, lambda: client.get(f"/a/{next(guesses)}"))
    assert_too_many(last)
    refused = client.post(f"/a/{code}", data={"by": "x"})  # the right code, too late
    assert_too_many(refused)
    phone = client.get(f"/a/{code}", headers={"Accept": "text/html"})  # a readable page
    assert_too_many(phone)
    assert "thử lại sau" in phone.text
    assert phone.headers["content-type"].startswith("text/html")
    # Other endpoints and the SMS webhook keep their own buckets.
    reply = client.post("/api/v1/alerts/replies", json={"sender": "+84900000000", "text": "hi"})
    assert reply.status_code == 200


def test_sms_replies_are_rate_limited(world: tuple[World, httpx.Client]) -> None:
    _, client = world
    body = {"sender": "+84900000000", "text": "OK ZZZZZ"}
    last = refused_after(client, 3, lambda: client.post("/api/v1/alerts/replies", json=body))
    assert_too_many(last)


def test_login_attempts_are_rate_limited(world: tuple[World, httpx.Client]) -> None:
    w, client = world
    guess = {"token": "fwt_00000000_" + "x" * 43}
    last = refused_after(client, 3, lambda: client.post("/login", data=guess))
    assert_too_many(last)
    # Even the right token is refused until the bucket refills: no free guesses.
    assert_too_many(client.post("/login", data={"token": w.tokens["admin"]}))


def test_failed_tokens_are_limited_and_logged_without_the_token(
    world: tuple[World, httpx.Client], caplog: pytest.LogCaptureFixture
) -> None:
    w, client = world
    secret_guess = "fwt_0badc0de_" + "S3cretGuessThatMustNotBeLogged_1234567890ab"
    with caplog.at_level(logging.WARNING, logger="farmwatch_ingest.auth"):
        bad = {"Authorization": f"Bearer {secret_guess}"}
        last = refused_after(client, 3, lambda: client.get("/api/v1/latest", headers=bad))
        assert_too_many(last)
        # The client is now refused before any check, even with a valid token...
        assert_too_many(client.get("/api/v1/latest", headers=w.headers("admin")))
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 3
    assert "/api/v1/latest" in refusals[0].getMessage()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "S3cretGuess" not in logged
    assert "0badc0de" not in logged
    # ...while requests that present no token are not held against the client.
    assert client.get("/healthz").status_code == 200
