"""TLS from the services to InfluxDB and Grafana, with generated certificates.

InfluxDB: the real influxd 1.6 serving https (``[http] https-enabled``) with a certificate from
tests/support/tls.py. The store writes and reads through it when it trusts the certificate
(``influx.ca_file``), a real ``farmwatch query`` process does too, and a store that does not
trust it is refused with a message that says what to set.

Grafana cannot run here, so ``farmwatch dashboards push`` talks to a small HTTPS server (uvicorn
with ``ssl_certfile``/``ssl_keyfile``) that answers the three endpoints a push uses, as Grafana
does, and checks the bearer token.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from farmwatch_core.contract import Record
from farmwatch_core.registry import load_registry
from farmwatch_core.settings import InfluxSettings
from farmwatch_dashboards.generate import write_files
from farmwatch_dashboards.push import PushError, push_dashboards
from farmwatch_ingest.stores.base import NodeRecord, StoreUnavailable
from farmwatch_ingest.stores.influx import InfluxStore
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from support.influxd import InfluxServer, unique_database
from support.tls import TlsFiles, make_tls_files

from farmwatch.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "glsa_tls_test_token_0123456789"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def influxd_tls(
    tmp_path_factory: pytest.TempPathFactory, tls_files: TlsFiles
) -> Iterator[InfluxServer]:
    with InfluxServer.launch(tmp_path_factory.mktemp("influxd-tls"), tls=tls_files) as server:
        yield server


def _records(count: int) -> list[NodeRecord]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=count)
    return [
        NodeRecord(
            "pond-01",
            "n1",
            Record(start + timedelta(minutes=i), i, False, {"water_temp_c": 28.0 + i / 10}),
        )
        for i in range(count)
    ]


def test_influxd_really_serves_https_only(influxd_tls: InfluxServer) -> None:
    assert influxd_tls.url.startswith("https://")
    plain = InfluxStore(InfluxSettings(url=influxd_tls.url.replace("https", "http"), timeout_s=3))
    try:
        with pytest.raises(StoreUnavailable):
            plain.ping()
    finally:
        plain.close()


def test_store_writes_and_reads_over_https_with_the_ca_file(
    influxd_tls: InfluxServer, tls_files: TlsFiles
) -> None:
    settings = InfluxSettings(
        url=influxd_tls.url, database=unique_database(), ca_file=tls_files.cert, timeout_s=10
    )
    store = InfluxStore(settings)
    records = _records(5)
    try:
        store.write(records)
        got = store.records(
            "pond-01", "n1", records[0].record.ts, records[-1].record.ts + timedelta(seconds=1)
        )
        latest = store.latest("pond-01")
    finally:
        store.close()
    assert [r.seq for r in got] == [0, 1, 2, 3, 4]
    assert [r.readings for r in got] == [r.record.readings for r in records]
    assert [x.quantity for x in latest] == ["water_temp_c"]
    assert latest[0].value == pytest.approx(28.4)


def test_an_untrusted_certificate_is_refused_with_what_to_set(influxd_tls: InfluxServer) -> None:
    store = InfluxStore(
        InfluxSettings(url=influxd_tls.url, database=unique_database(), timeout_s=5)
    )
    try:
        with pytest.raises(StoreUnavailable) as caught:
            store.write(_records(1))
    finally:
        store.close()
    message = str(caught.value)
    assert "does not trust" in message
    assert "influx.ca_file" in message
    assert "127.0.0.1" in message


def test_a_ca_file_that_is_not_a_certificate_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(ValueError, match=r"influx\.ca_file .*ca\.pem"):
        InfluxStore(InfluxSettings(url="https://127.0.0.1:9", ca_file=bogus))


def test_farmwatch_query_reads_over_https_in_a_real_process(
    influxd_tls: InfluxServer, tls_files: TlsFiles, tmp_path: Path
) -> None:
    database = unique_database()
    store = InfluxStore(
        InfluxSettings(url=influxd_tls.url, database=database, ca_file=tls_files.cert)
    )
    try:
        store.write(_records(3))
    finally:
        store.close()
    command = [
        sys.executable, "-m", "farmwatch", "query", "--influx-url", influxd_tls.url,
        "--influx-db", database, "--data-dir", str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "FARMWATCH_INFLUX__CA_FILE": str(tls_files.cert)}
    trusted = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert trusted.returncode == 0, trusted.stderr
    assert "pond-01" in trusted.stdout
    assert "water_temp_c" in trusted.stdout
    env.pop("FARMWATCH_INFLUX__CA_FILE")
    untrusted = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert untrusted.returncode != 0
    assert "does not trust" in untrusted.stderr + untrusted.stdout


# -- Grafana over HTTPS ----------------------------------------------------------------------


class _FakeGrafana:
    """Grafana's answers for a push: folders and dashboards, behind a bearer token."""

    def __init__(self) -> None:
        self.folders: dict[str, str] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}

    def app(self) -> Starlette:
        async def folders(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"message": "Unauthorized"}, status_code=401)
            if request.method == "POST":
                body = await request.json()
                uid = body.get("uid") or f"f{len(self.folders)}"
                self.folders[uid] = body["title"]
                return JSONResponse({"uid": uid, "title": body["title"]})
            return JSONResponse([{"uid": u, "title": t} for u, t in self.folders.items()])

        async def dashboard(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"message": "Unauthorized"}, status_code=401)
            body = await request.json()
            if body.get("folderUid") not in self.folders:
                return JSONResponse({"message": "folder not found"}, status_code=400)
            self.dashboards[body["dashboard"]["uid"]] = body
            return JSONResponse({"status": "success", "uid": body["dashboard"]["uid"]})

        return Starlette(
            routes=[
                Route("/api/folders", folders, methods=["GET", "POST"]),
                Route("/api/dashboards/db", dashboard, methods=["POST"]),
            ]
        )


@pytest.fixture
def grafana_tls(tls_files: TlsFiles) -> Iterator[tuple[str, _FakeGrafana]]:
    fake = _FakeGrafana()
    port = free_port()
    config = uvicorn.Config(
        fake.app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ssl_certfile=str(tls_files.cert),
        ssl_keyfile=str(tls_files.key),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "HTTPS server died"
        assert time.monotonic() < deadline, "HTTPS server did not start"
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}", fake
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def dashboard_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("grafana")
    write_files(load_registry(ROOT / "deploy" / "registry.yaml"), out)
    return sorted((out / "dashboards").glob("*.json"))


def test_push_over_https_with_the_ca_file(
    grafana_tls: tuple[str, _FakeGrafana], tls_files: TlsFiles, dashboard_files: list[Path]
) -> None:
    url, fake = grafana_tls
    result = push_dashboards(url, TOKEN, dashboard_files, ca_file=tls_files.cert)
    assert len(result.dashboards) == len(dashboard_files) == len(fake.dashboards) >= 10
    assert list(fake.folders) == [result.folder_uid]


def test_push_to_an_untrusted_grafana_is_refused_clearly(
    grafana_tls: tuple[str, _FakeGrafana], dashboard_files: list[Path]
) -> None:
    url, fake = grafana_tls
    with pytest.raises(PushError) as caught:
        push_dashboards(url, TOKEN, dashboard_files)
    assert "does not trust" in str(caught.value)
    assert "--ca-file" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert not fake.folders  # nothing went over the untrusted link
    assert not fake.dashboards


def test_push_command_takes_a_ca_file(
    grafana_tls: tuple[str, _FakeGrafana], tls_files: TlsFiles, tmp_path: Path
) -> None:
    url, fake = grafana_tls
    write_files(load_registry(ROOT / "deploy" / "registry.yaml"), tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "farmwatch", "dashboards", "push", "--grafana-url", url,
         "--token", TOKEN, "--source", str(tmp_path), "--ca-file", str(tls_files.cert)],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(fake.dashboards) >= 10
