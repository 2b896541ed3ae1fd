"""`farmwatch up` end to end, as a user runs it: a real process, real brokers and stores.

Every sequence number the simulated nodes publish is counted in the store.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from farmwatch_core.registry import load_registry
from farmwatch_core.settings import InfluxSettings
from farmwatch_ingest.stores.base import Store
from farmwatch_ingest.stores.influx import InfluxStore
from farmwatch_ingest.stores.sqlite import SqliteStore
from support.up import farmwatch_up
from support.waiting import eventually

from farmwatch.broker import MosquittoProcess, free_port

RECORDS_PER_NODE = 12


def expected_nodes(data_dir: Path) -> list[tuple[str, str]]:
    deployment = load_registry(data_dir / "registry.yaml")
    return [(f.id, n.id) for f in deployment.farms for n in f.nodes]


def all_seqs(store: Store, nodes: list[tuple[str, str]]) -> dict[tuple[str, str], list[int]]:
    now = datetime.now(UTC)
    return {
        node: [
            r.seq
            for r in store.records(*node, now - timedelta(hours=1), now + timedelta(minutes=1))
        ]
        for node in nodes
    }


def every_seq_stored(store: Store, nodes: list[tuple[str, str]]) -> bool:
    want = list(range(1, RECORDS_PER_NODE + 1))
    return all(seqs == want for seqs in all_seqs(store, nodes).values())


def base_args(*extra: str) -> list[str]:
    return [
        "--farms",
        "2",
        "--interval",
        "0.2",
        "--sim-count",
        str(RECORDS_PER_NODE),
        "--api-port",
        "0",
        "--mqtt-port",
        str(free_port()),
        *extra,
    ]


def test_up_on_embedded_defaults_stores_every_reading_in_sqlite(tmp_path: Path) -> None:
    with farmwatch_up(base_args(), tmp_path) as up:
        assert "MosquittoProcess" in up.output
        dashboard = up.wait_for(r"dashboard\s+: (http://\S+)/").group(1)
        nodes = expected_nodes(tmp_path)
        assert len(nodes) >= 2
        store = SqliteStore(tmp_path / "farmwatch.db")
        try:
            eventually(lambda: every_seq_stored(store, nodes), timeout=60)
        finally:
            store.close()
        with urllib.request.urlopen(dashboard + "/", timeout=10) as response:
            assert "/assets/app.js" in response.read().decode()  # the live page (browser-tested)
        with urllib.request.urlopen(dashboard + "/plain", timeout=10) as response:
            page = response.read().decode()  # the no-script fallback, rendered on the server
        assert "Oxy hòa tan" in page or "Nhiệt độ" in page
        with urllib.request.urlopen(dashboard + "/api/v1/alerts", timeout=10) as response:
            assert isinstance(json.loads(response.read()), list)  # alerting runs inside up
        assert "alerts      : on MQTT" in up.output
        query = subprocess.run(
            [sys.executable, "-m", "farmwatch", "query", "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        for farm_id, node_id in nodes:
            assert f"{farm_id} / {node_id}" in query.stdout
    assert "farmwatch stopped" in up.output


def test_up_with_influx_stores_every_reading_there(
    tmp_path: Path, influx_settings: InfluxSettings
) -> None:
    args = base_args(
        "--influx-url", str(influx_settings.url), "--influx-db", influx_settings.database
    )
    with farmwatch_up(args, tmp_path) as up:
        assert "InfluxDB" in up.output
        nodes = expected_nodes(tmp_path)
        store = InfluxStore(influx_settings)
        try:
            eventually(lambda: every_seq_stored(store, nodes), timeout=60)
        finally:
            store.close()
    assert not (tmp_path / "farmwatch.db").exists()


def test_up_with_the_in_process_broker(tmp_path: Path) -> None:
    with farmwatch_up(base_args("--broker", "inprocess"), tmp_path) as up:
        assert "InProcessBroker" in up.output
        nodes = expected_nodes(tmp_path)
        store = SqliteStore(tmp_path / "farmwatch.db")
        try:
            eventually(lambda: every_seq_stored(store, nodes), timeout=60)
        finally:
            store.close()


@pytest.mark.parametrize("use_it", [False, True])
def test_taken_port_is_reported(tmp_path: Path, mosquitto: MosquittoProcess, use_it: bool) -> None:
    args = base_args()
    args[args.index("--mqtt-port") + 1] = str(mosquitto.port)
    if use_it:
        args += ["--use-running-broker", "--topic-prefix", f"up-{tmp_path.name}"]
    with farmwatch_up(args, tmp_path / "data") as up:
        assert f"Port {mosquitto.port} is taken by another MQTT broker" in up.output
        url = up.wait_for(r"MQTT broker : mqtt://127\.0\.0\.1:(\d+)")
        assert (url.group(1) == str(mosquitto.port)) is use_it
        nodes = expected_nodes(tmp_path / "data")
        store = SqliteStore(tmp_path / "data" / "farmwatch.db")
        try:
            eventually(lambda: every_seq_stored(store, nodes), timeout=60)
        finally:
            store.close()


def test_up_with_an_external_broker(tmp_path: Path, mosquitto: MosquittoProcess) -> None:
    args = [*base_args(), "--mqtt-url", mosquitto.url, "--topic-prefix", f"ext-{tmp_path.name}"]
    with farmwatch_up(args, tmp_path) as up:
        assert f"MQTT broker : {mosquitto.url} (external broker)" in up.output
        nodes = expected_nodes(tmp_path)
        store = SqliteStore(tmp_path / "farmwatch.db")
        try:
            eventually(lambda: every_seq_stored(store, nodes), timeout=60)
        finally:
            store.close()
