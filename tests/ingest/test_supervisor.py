"""``farmwatch ingest --workers 2``: two worker processes share the load, a worker killed with
SIGKILL is restarted, and every reading is still stored exactly once."""

from __future__ import annotations

import os
import signal
import socket
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from farmwatch_core.settings import MqttSettings
from farmwatch_ingest.stores.sqlite import SqliteStore
from farmwatch_simulators.runner import SimulatorRunner
from farmwatch_simulators.scenario import build_deployment
from support.processes import FarmwatchProcess
from support.waiting import eventually

from farmwatch.broker import free_port

RECORDS_PER_NODE = 100


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def two_free_ports() -> int:
    while True:
        port = free_port()
        try:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port


def test_workers_share_the_load_and_a_killed_worker_is_restarted(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    deployment = build_deployment(2, seed=11)
    registry = tmp_path / "registry.yaml"
    registry.write_text(deployment.to_yaml(), encoding="utf-8")
    nodes = [(f.id, n.id) for f in deployment.farms for n in f.nodes]
    api_port = two_free_ports()
    ingest = FarmwatchProcess(
        [
            "ingest",
            *("--workers", "2"),
            *("--mqtt-url", mqtt_settings.url),
            *("--topic-prefix", mqtt_settings.topic_prefix),
            *("--registry", str(registry)),
            *("--data-dir", str(tmp_path / "data")),
            *("--client-id", f"sup-{tmp_path.name}"[:50]),
            *("--api-port", str(api_port)),
        ],
        tmp_path / "ingest.log",
    )
    ingest.start()
    assert ingest.proc is not None
    supervisor = ingest.proc.pid
    try:
        eventually(lambda: ingest.log().count("subscribed to $share/") == 2, timeout=30)
        workers = children(supervisor)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        eventually(lambda: "restarting it" in ingest.log(), timeout=10)
        eventually(lambda: ingest.log().count("subscribed to $share/") == 3, timeout=30)
        assert len(children(supervisor)) == 2

        runner = SimulatorRunner(
            mqtt_settings, deployment, interval_s=0.005, count=RECORDS_PER_NODE, seed=11
        )
        runner.run()
        expected = {(p.farm_id, p.node_id, p.seq) for p in runner.published_records()}
        store = SqliteStore(tmp_path / "data" / "farmwatch.db")
        now = datetime.now(UTC)

        def stored() -> Counter[tuple[str, str, int]]:
            found: Counter[tuple[str, str, int]] = Counter()
            for farm, node in nodes:
                for r in store.records(
                    farm, node, now - timedelta(hours=1), now + timedelta(minutes=5)
                ):
                    found[(farm, node, r.seq)] += 1
            return found

        try:
            eventually(lambda: set(stored()) == expected, timeout=60)
            assert all(n == 1 for n in stored().values())
        finally:
            store.close()
        handled = [
            httpx.get(f"http://127.0.0.1:{api_port + i}/api/v1/stats", timeout=5).json()["records"]
            for i in (0, 1)
        ]
        assert min(handled) > 0, handled  # both took a share (worker i's API on port + i)
        assert sum(handled) == len(expected), handled
        # One spool per worker: each replays its own, in order.
        assert sorted(p.name for p in (tmp_path / "data").glob("spool-w*.db")) == [
            "spool-w0.db",
            "spool-w1.db",
        ]
    finally:
        assert ingest.stop() == 0, ingest.log()[-3000:]
    assert children(supervisor) == []
