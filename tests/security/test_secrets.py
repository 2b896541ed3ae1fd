"""Secrets never reach a log, the console or an error: broker and database URLs may carry a
user and password, and logs get pasted into chat groups."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from farmwatch_core.mqtt_url import display_url
from farmwatch_core.settings import InfluxSettings
from farmwatch_ingest.stores.base import StoreUnavailable
from farmwatch_ingest.stores.influx import InfluxStore

from farmwatch.broker import MosquittoProcess

SECRET = "S3cret-Pw-9f2e"


def test_display_url_drops_the_user_and_password_only() -> None:
    assert (
        display_url(f"mqtts://node:{SECRET}@broker.example:8883/") == "mqtts://broker.example:8883/"
    )
    assert display_url("mqtt://127.0.0.1:1883") == "mqtt://127.0.0.1:1883"


def test_an_unreachable_influxdb_error_names_the_host_not_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    store = InfluxStore(InfluxSettings(url=f"http://admin:{SECRET}@127.0.0.1:9", timeout_s=1))
    try:
        with pytest.raises(StoreUnavailable) as caught:
            store.ping()
    finally:
        store.close()
    assert "127.0.0.1:9" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in caplog.text


@pytest.mark.mosquitto
def test_ingest_prints_and_logs_the_broker_without_its_password(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    host_port = mosquitto.url.removeprefix("mqtt://")
    url = f"mqtt://ingest:{SECRET}@{host_port}"  # the test broker lets anyone in
    (tmp_path / "registry.yaml").write_text(
        "farms: [{id: pond-01, name: Ao, model: aquaculture_pond, nodes: [{id: n1}]}]\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "farmwatch", "ingest", "--mqtt-url", url, "--data-dir",
         str(tmp_path), "--api-port", "0", "--topic-prefix", "secrets-test"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    time.sleep(6)  # connected, subscribed, logged
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert host_port in output  # it did say where it connected
    assert SECRET not in output
