"""Horizontal scale: ingest workers share one subscription ($share/...) and together store
every reading exactly once."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from farmwatch_core.settings import InfluxSettings, MqttSettings
from farmwatch_ingest.stores.influx import InfluxStore
from farmwatch_simulators.runner import SimulatorRunner
from farmwatch_simulators.scenario import build_deployment
from support.processes import FarmwatchProcess
from support.waiting import eventually

from farmwatch.broker import free_port

RECORDS_PER_NODE = 300


def ingest_stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/stats", timeout=5) as response:
        stats: dict[str, int] = json.loads(response.read())
    return stats


def test_two_shared_subscription_workers_store_everything_once(
    mqtt_settings: MqttSettings, influx_settings: InfluxSettings, tmp_path: Path
) -> None:
    deployment = build_deployment(3, seed=3)
    registry = tmp_path / "registry.yaml"
    registry.write_text(deployment.to_yaml(), encoding="utf-8")
    workers = []
    ports = []
    for n in (1, 2):
        port = free_port()
        worker = FarmwatchProcess(
            [
                "ingest",
                "--mqtt-url",
                mqtt_settings.url,
                "--topic-prefix",
                mqtt_settings.topic_prefix,
                "--registry",
                str(registry),
                "--data-dir",
                str(tmp_path / f"w{n}"),
                "--influx-url",
                str(influx_settings.url),
                "--influx-db",
                influx_settings.database,
                "--client-id",
                f"{tmp_path.name[:40]}-w{n}",
                "--shared-group",
                "ingest",
                "--api-port",
                str(port),
            ],
            tmp_path / f"w{n}.log",
        )
        worker.start()
        workers.append(worker)
        ports.append(port)

    def subscribed(worker: FarmwatchProcess) -> bool:
        return "subscribed to $share/ingest/" in worker.log()

    for worker in workers:
        eventually(partial(subscribed, worker), timeout=30)

    runner = SimulatorRunner(
        mqtt_settings, deployment, interval_s=0.005, count=RECORDS_PER_NODE, seed=3
    )
    runner.run()
    expected = {(p.farm_id, p.node_id, p.seq) for p in runner.published_records()}
    assert len(expected) == RECORDS_PER_NODE * sum(len(f.nodes) for f in deployment.farms)

    store = InfluxStore(influx_settings)
    now = datetime.now(UTC)

    def stored() -> Counter[tuple[str, str, int]]:
        found: Counter[tuple[str, str, int]] = Counter()
        for farm in deployment.farms:
            for node in farm.nodes:
                for r in store.records(
                    farm.id, node.id, now - timedelta(hours=1), now + timedelta(minutes=5)
                ):
                    found[(farm.id, node.id, r.seq)] += 1
        return found

    try:
        eventually(lambda: set(stored()) == expected, timeout=60)
        handled = [ingest_stats(port)["records"] for port in ports]
        # Each worker took a real share, and together they handled each message once.
        assert min(handled) > len(expected) // 10, handled
        assert sum(handled) == len(expected), handled
    finally:
        store.close()
        for worker in workers:
            assert worker.stop() == 0, worker.log()[-2000:]
