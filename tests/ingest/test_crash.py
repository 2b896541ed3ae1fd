"""Nothing is lost when ingest crashes: kill -9 mid-stream, restart, count every reading."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from farmwatch_core.settings import InfluxSettings, MqttSettings
from farmwatch_ingest.stores.base import Store
from farmwatch_ingest.stores.influx import InfluxStore
from farmwatch_ingest.stores.sqlite import SqliteStore
from farmwatch_simulators.runner import SimulatorRunner
from farmwatch_simulators.scenario import build_deployment
from support.processes import FarmwatchProcess
from support.waiting import eventually

RECORDS_PER_NODE = 400
KILLS = 3


def stored(store: Store, nodes: list[tuple[str, str]]) -> Counter[tuple[str, str, int]]:
    now = datetime.now(UTC)
    found: Counter[tuple[str, str, int]] = Counter()
    for farm_id, node_id in nodes:
        for record in store.records(
            farm_id, node_id, now - timedelta(hours=1), now + timedelta(minutes=1)
        ):
            found[(farm_id, node_id, record.seq)] += 1
    return found


@pytest.mark.parametrize("backend", ["sqlite", "influx"])
def test_kill_9_mid_stream_loses_nothing(
    backend: str,
    mqtt_settings: MqttSettings,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    deployment = build_deployment(2, seed=7)
    registry = tmp_path / "registry.yaml"
    registry.write_text(deployment.to_yaml(), encoding="utf-8")
    nodes = [(f.id, n.id) for f in deployment.farms for n in f.nodes]
    args = [
        "ingest",
        "--mqtt-url",
        mqtt_settings.url,
        "--topic-prefix",
        mqtt_settings.topic_prefix,
        "--registry",
        str(registry),
        "--data-dir",
        str(tmp_path / "data"),
        "--client-id",
        f"crash-{tmp_path.name}"[:60],
    ]
    influx: InfluxSettings | None = None
    if backend == "influx":
        influx = request.getfixturevalue("influx_settings")
        args += ["--influx-url", str(influx.url), "--influx-db", influx.database]
    ingest = FarmwatchProcess(args, tmp_path / "ingest.log")
    ingest.start()
    eventually(lambda: "subscribed to" in ingest.log(), timeout=30)
    store: Store = (
        InfluxStore(influx) if influx else SqliteStore(tmp_path / "data" / "farmwatch.db")
    )

    runner = SimulatorRunner(
        mqtt_settings, deployment, interval_s=0.01, count=RECORDS_PER_NODE, seed=7
    )
    publisher = runner.start()
    rng = random.Random(1)
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.5, 1.5))
        ingest.kill()  # at whatever moment: mid-batch, mid-write, between write and PUBACK
        time.sleep(rng.uniform(0.0, 0.5))
        ingest.start()
    publisher.join(120)
    assert runner.acknowledged == RECORDS_PER_NODE * len(nodes)
    assert ingest.starts == KILLS + 1

    expected = {(p.farm_id, p.node_id, p.seq) for p in runner.published_records()}
    try:
        try:
            eventually(lambda: set(stored(store, nodes)) == expected, timeout=60)
        except AssertionError:
            missing = sorted(expected - set(stored(store, nodes)))
            raise AssertionError(f"{len(missing)} readings lost, e.g. {missing[:10]}") from None
        assert all(n == 1 for n in stored(store, nodes).values())  # redelivery made no duplicates
    finally:
        store.close()
        assert ingest.stop() == 0, ingest.log()[-3000:]
