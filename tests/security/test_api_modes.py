"""When the API serves without tokens: only the loopback demo; everywhere else it refuses to
start, as the real ``farmwatch api`` command, with what to do."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from farmwatch_core.access import Grant, Role
from farmwatch_core.api_tokens import TokenStore
from farmwatch_core.settings import ApiSettings, FarmwatchSettings
from support.api_world import FARMS, GENEROUS, api_world
from support.asgi import served
from support.waiting import eventually

from farmwatch.broker import free_port
from farmwatch.components import build_guard, tokens_path


def test_the_loopback_demo_is_open_until_a_token_exists(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), api_world(tmp_path, grants={}) as w:
        assert any("demo mode" in r.getMessage() for r in caplog.records)
        with served(w.app) as client:
            latest = client.get("/api/v1/latest")
            assert latest.status_code == 200
            assert {r["farm_id"] for r in latest.json()} == set(FARMS)
            meta = client.get("/api/v1/page/meta").json()
            assert meta["auth"]["demo"] is True  # the page shows its "demo mode" note
            episode, _ = w.fire("farm-a1")
            acked = client.post(f"/api/v1/alerts/{episode}/ack", json={"by": "Hương"})
            assert acked.json()["acknowledged_by"] == "Hương"  # no token: the name given

            store = TokenStore(tokens_path(w.settings))
            store.issue(Grant("ops", Role.ADMIN))
            store.close()
            # The first token closes the demo, without a restart.
            eventually(lambda: client.get("/api/v1/latest").status_code == 401, timeout=5)


@pytest.mark.parametrize(
    ("host", "auth"),
    [("0.0.0.0", "auto"), ("192.0.2.10", "auto"), ("0.0.0.0", "off"), ("::", "auto")],
)
def test_no_tokens_beyond_loopback_is_refused(tmp_path: Path, host: str, auth: str) -> None:
    settings = FarmwatchSettings(data_dir=tmp_path, api=ApiSettings(host=host, auth=auth))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="farmwatch tokens add --role admin"):
        build_guard(settings, None)


def test_off_and_required_on_loopback(tmp_path: Path) -> None:
    off = FarmwatchSettings(data_dir=tmp_path, api=GENEROUS.model_copy(update={"auth": "off"}))
    guard = build_guard(off, None)
    assert guard.is_open()
    guard.tokens.close()
    required = FarmwatchSettings(
        data_dir=tmp_path, api=GENEROUS.model_copy(update={"auth": "required"})
    )
    guard = build_guard(required, None)
    assert not guard.is_open()
    guard.tokens.close()


def farmwatch_api(data: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "FARMWATCH_API__HOST": "0.0.0.0", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "farmwatch", "api", "--api-port", str(port),
         "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip


def test_farmwatch_api_on_all_interfaces_needs_a_token(tmp_path: Path) -> None:
    port = free_port()
    refused = farmwatch_api(tmp_path, port)
    out, _ = refused.communicate(timeout=60)
    assert refused.returncode == 2
    assert "no API token exists" in out
    assert "farmwatch tokens add --role admin" in out

    token = subprocess.run(
        [sys.executable, "-m", "farmwatch", "tokens", "add", "--role", "admin", "--name", "ops",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert re.search(r"token: fwt_[0-9a-f]{8}_\S+", token)
    started = farmwatch_api(tmp_path, port)
    try:
        assert started.stdout is not None
        for line in started.stdout:  # warnings first (no registry: auto-register), then this
            if line.startswith("API on"):
                break
        assert line.startswith(f"API on http://0.0.0.0:{port}/"), line
    finally:
        started.terminate()
        started.communicate(timeout=30)
