"""InfluxDB stopped for 30 s under load: ingest keeps every reading and catches up after."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from farmwatch_core.settings import InfluxSettings, MqttSettings
from farmwatch_ingest.stores.influx import InfluxStore
from farmwatch_simulators.runner import SimulatorRunner
from farmwatch_simulators.scenario import build_deployment
from support.influxd import InfluxServer
from support.processes import FarmwatchProcess
from support.waiting import eventually

OUTAGE_S = 30.0


def test_influxd_down_for_30_s_under_load_loses_nothing(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    deployment = build_deployment(2, seed=5)
    registry = tmp_path / "registry.yaml"
    registry.write_text(deployment.to_yaml(), encoding="utf-8")
    nodes = [(f.id, n.id) for f in deployment.farms for n in f.nodes]
    with InfluxServer.launch(tmp_path) as influxd:  # our own: this test kills it
        settings = InfluxSettings(url=influxd.url, database="outage")
        ingest = FarmwatchProcess(
            [
                "ingest",
                "--mqtt-url",
                mqtt_settings.url,
                "--topic-prefix",
                mqtt_settings.topic_prefix,
                "--registry",
                str(registry),
                "--data-dir",
                str(tmp_path / "data"),
                "--influx-url",
                influxd.url,
                "--influx-db",
                "outage",
                "--client-id",
                f"outage-{tmp_path.name}"[:60],
            ],
            tmp_path / "ingest.log",
        )
        ingest.start()
        eventually(lambda: "subscribed to" in ingest.log(), timeout=30)
        # About 40 records/s for the whole outage and beyond.
        runner = SimulatorRunner(mqtt_settings, deployment, interval_s=0.1, count=450, seed=5)
        publisher = runner.start()
        time.sleep(3)
        influxd.kill()
        down_at = time.monotonic()
        time.sleep(OUTAGE_S)
        assert runner.acknowledged > 0
        influxd.start()
        outage = time.monotonic() - down_at
        publisher.join(120)
        expected = {(p.farm_id, p.node_id, p.seq) for p in runner.published_records()}
        store = InfluxStore(settings)
        now = datetime.now(UTC)

        def stored() -> set[tuple[str, str, int]]:
            return {
                (farm, node, r.seq)
                for farm, node in nodes
                for r in store.records(
                    farm, node, now - timedelta(hours=1), now + timedelta(minutes=5)
                )
            }

        try:
            eventually(stored, timeout=60)
            eventually(lambda: stored() == expected, timeout=90)
        finally:
            store.close()
            assert ingest.stop() == 0
        log = ingest.log()
        assert outage >= OUTAGE_S
        assert "store unavailable" in log or "spool" in log
