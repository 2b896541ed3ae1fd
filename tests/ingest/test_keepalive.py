"""The InfluxDB write path's own kept-alive connection (stores/keepalive.py), on real servers.

It replaces httpx for ``/write`` only, so what must hold is that nothing about writing changed:
points land, a connection influxd dropped (restart, idle timeout) is replaced without losing
the write, and every failure still becomes the store's StoreUnavailable with the same advice —
unreachable, no answer in time, a certificate this host does not trust — while the cases it
cannot serve (a proxy, credentials in the URL) stay on httpx.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from farmwatch_core.contract import Record
from farmwatch_core.settings import InfluxSettings
from farmwatch_ingest.stores.base import NodeRecord, StoreUnavailable
from farmwatch_ingest.stores.influx import InfluxStore
from farmwatch_ingest.stores.keepalive import KeepAliveClient, supports
from support.influxd import InfluxServer, unique_database
from support.tls import make_tls_files

from farmwatch.broker import free_port


def _records(count: int, node: str = "n1") -> list[NodeRecord]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=count)
    return [
        NodeRecord(
            "pond-01", node, Record(start + timedelta(seconds=i), i, True, {"ph": 7.0 + i / 100})
        )
        for i in range(count)
    ]


def _count(url: str, database: str) -> int:
    answer = httpx.get(
        f"{url}/query", params={"db": database, "q": 'SELECT count("seq") FROM telemetry'}
    ).json()
    series = answer["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def test_writes_go_through_the_kept_alive_connection(influx_settings: InfluxSettings) -> None:
    store = InfluxStore(influx_settings)
    try:
        store.write(_records(300))
        store.write(_records(200, node="n2"))
        writer = store._keepalive()
        assert writer is not None
        connection = writer._conn
        store.write(_records(10, node="n3"))
        assert writer._conn is connection is not None  # kept, not reopened
    finally:
        store.close()
    assert writer._conn is None  # closed with the store
    assert influx_settings.url is not None
    assert _count(influx_settings.url, influx_settings.database) == 510


def test_a_connection_influxd_dropped_is_replaced_and_the_write_lands(tmp_path: Path) -> None:
    server = InfluxServer.launch(tmp_path)
    settings = InfluxSettings(url=server.url, database=unique_database(), timeout_s=5)
    store = InfluxStore(settings)
    try:
        store.write(_records(5))
        server.kill()  # the kept-alive connection dies with it
        server.start()
        store.write(_records(5, node="n2"))
        assert _count(server.url, settings.database) == 10
    finally:
        store.close()
        server.close()


def test_an_unreachable_influxdb_is_unavailable_with_the_usual_advice() -> None:
    settings = InfluxSettings(
        url=f"http://127.0.0.1:{free_port()}", create_database=False, timeout_s=2
    )
    store = InfluxStore(settings)
    try:
        with pytest.raises(StoreUnavailable, match="cannot reach InfluxDB") as caught:
            store.write(_records(1))
    finally:
        store.close()
    assert "check influx.url" in str(caught.value)
    assert store._writer is not None  # it was the kept-alive path that failed


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A real TCP server that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()


def test_no_answer_in_time_is_unavailable_and_names_the_timeout(silent_server: int) -> None:
    settings = InfluxSettings(
        url=f"http://127.0.0.1:{silent_server}", create_database=False, timeout_s=0.5
    )
    store = InfluxStore(settings)
    try:
        with pytest.raises(StoreUnavailable, match=r"did not answer \(write\) within 0.5 s"):
            store.write(_records(1))
    finally:
        store.close()


def test_an_untrusted_certificate_is_refused_on_the_write_path_too(tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir()
    tls = make_tls_files(tmp_path / "tls")
    server = InfluxServer.launch(tmp_path, tls=tls)
    database = unique_database()
    try:
        untrusting = InfluxStore(
            InfluxSettings(url=server.url, database=database, create_database=False, timeout_s=5)
        )
        try:
            with pytest.raises(StoreUnavailable, match="does not trust") as caught:
                untrusting.write(_records(1))
        finally:
            untrusting.close()
        assert "influx.ca_file" in str(caught.value)
        trusting = InfluxStore(
            InfluxSettings(url=server.url, database=database, ca_file=tls.cert, timeout_s=5)
        )
        try:
            trusting.write(_records(3))
            assert trusting._writer is not None
            assert trusting._writer.tls
            assert len(trusting.records("pond-01", "n1", datetime(2020, 1, 1, tzinfo=UTC),
                                        datetime.now(UTC) + timedelta(days=1))) == 3  # fmt: skip
        finally:
            trusting.close()
    finally:
        server.close()


def test_what_only_httpx_serves_stays_on_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    assert supports("http://127.0.0.1:8086")
    assert supports("https://influx.example:8086/sub/path")
    assert not supports("http://user:secret@127.0.0.1:8086")  # httpx makes Basic auth of it
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert not supports("http://influx.example:8086")
    monkeypatch.setenv("NO_PROXY", "influx.example")
    assert supports("http://influx.example:8086")


def test_a_sub_path_is_kept_in_the_request_target() -> None:
    client = KeepAliveClient("http://127.0.0.1:9/influx/", {}, 1.0, None)
    assert client.prefix == "/influx"
    client.close()
