"""Secrets never reach a log, the console, an error, an HTTP answer or a data file: broker and
database URLs may carry a user and password, tokens travel in headers, and logs get pasted into
chat groups. The later tests capture everything from real failing runs (a refused InfluxDB token,
an unreachable Grafana, a broker refusing the password) and look for the secrets in it."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pytest
from farmwatch_core.contract import Record
from farmwatch_core.contract.payload import encode_record
from farmwatch_core.mqtt_url import display_url
from farmwatch_core.settings import InfluxSettings
from farmwatch_ingest.stores.base import StoreUnavailable
from farmwatch_ingest.stores.influx import InfluxStore
from paho.mqtt.enums import CallbackAPIVersion
from support.influxd import InfluxServer
from support.waiting import eventually

from farmwatch.broker import MosquittoProcess, free_port, project_mosquitto_config
from farmwatch.cli import main

ROOT = Path(__file__).resolve().parents[2]

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


# -- real failing runs: the secrets in use never reach output, logs, files or HTTP answers ----

TOKEN_SECRET = "Tok-7c1d9e55aa0b4f2e"


def _files_containing(folder: Path, needle: str) -> list[Path]:
    """Every file under ``folder`` whose bytes contain ``needle`` (SQLite files included)."""
    return [p for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


@pytest.fixture(scope="module")
def influxd_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """influxd with authentication on and an admin: wrong credentials get HTTP 401."""
    server = InfluxServer.launch(tmp_path_factory.mktemp("influxd-auth"), auth_enabled=True)
    try:
        created = server.query("CREATE USER root WITH PASSWORD 'root-pw-1f0e' WITH ALL PRIVILEGES")
        assert created.status_code == 200, created.text
        yield server
    finally:
        server.close()


@pytest.mark.mosquitto
def test_wrong_influxdb_credentials_leave_no_secret_anywhere(
    influxd_auth: InfluxServer, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """ingest with a refused token (and a password in the URL) while a node publishes: the
    readings wait in the spool, a malformed message goes to the dead letters, the API's
    /readyz explains — and neither secret is in the output, a data file or an answer."""
    host_port = influxd_auth.url.removeprefix("http://")
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FARMWATCH_")}
    env |= {"FARMWATCH_INFLUX__TOKEN": TOKEN_SECRET, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "ingest.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "farmwatch", "ingest", "-v", "--mqtt-url", mosquitto.url,
             "--influx-url", f"http://farmwatch:{SECRET}@{host_port}", "--data-dir", str(data),
             "--registry", str(ROOT / "deploy/registry.yaml"), "--topic-prefix", "secrets-influx",
             "--client-id", "secrets-influx", "--api-port", "0"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        eventually(lambda: "subscribed to" in log.read_text(), timeout=60)
        api = re.search(r"API on (http://[\d.]+:\d+)/", log.read_text())
        assert api, log.read_text()
        publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="secrets-node")
        address = mosquitto.url.removeprefix("mqtt://").split(":")
        publisher.connect(address[0], int(address[1]))
        publisher.loop_start()
        topic = "secrets-influx/farms/pond-01/nodes/pond-01-n1/telemetry"
        record = Record(datetime.now(UTC).replace(microsecond=0), 1, False, {"ph": 7.1})
        publisher.publish(topic, encode_record(record), qos=1).wait_for_publish(10)
        publisher.publish(topic, b'{"v": 1, "ts": "not a time"}', qos=1).wait_for_publish(10)
        publisher.loop_stop()
        publisher.disconnect()
        eventually((data / "dead-letters.db").exists, timeout=30)
        readyz = f"{api.group(1)}/readyz"

        def not_ready() -> httpx.Response | None:
            answer = httpx.get(readyz, timeout=10)
            return answer if answer.status_code == 503 else None

        ready = eventually(not_ready, timeout=30)
        assert ready is not None
        eventually(lambda: "refused the credentials" in log.read_text(), timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    output = log.read_text()
    assert host_port in output  # it did say which InfluxDB refused it
    assert "refused the credentials" in ready.text  # /readyz checks them, not just /ping
    for secret in (SECRET, TOKEN_SECRET):
        assert secret not in output
        assert secret not in ready.text
        assert _files_containing(data, secret) == []
    assert (data / "dead-letters.db").stat().st_size > 0


def test_an_unreachable_grafana_error_names_neither_token_nor_password(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "d.json").write_text('{"uid": "d", "title": "D"}')
    code = main(
        ["dashboards", "push", "--grafana-url", f"http://admin:{SECRET}@127.0.0.1:9",
         "--token", TOKEN_SECRET, "--source", str(tmp_path)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert "127.0.0.1:9" in captured.err
    for secret in (SECRET, TOKEN_SECRET):
        assert secret not in captured.out + captured.err
        assert secret not in caplog.text


@pytest.mark.mosquitto
@pytest.mark.parametrize(
    "command", [["analytics", "run"], ["alerting", "run", "--api-port", "0"]], ids=str
)
def test_a_broker_refusing_the_password_never_hears_it_repeated(
    command: list[str], tmp_path: Path
) -> None:
    """analytics and alerting against a broker that refuses every login (auth on, no
    accounts): they say where they tried and why, never with the password."""
    (tmp_path / "passwd").write_text("")
    config = (
        project_mosquitto_config()
        .read_text()
        .replace(
            "allow_anonymous true", f"allow_anonymous false\npassword_file {tmp_path / 'passwd'}"
        )
    )
    (tmp_path / "mosquitto.conf").write_text(config)
    broker = MosquittoProcess(tmp_path / "broker", free_port(), config=tmp_path / "mosquitto.conf")
    broker.start()
    host_port = broker.url.removeprefix("mqtt://")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FARMWATCH_")}
    env |= {"FARMWATCH_MQTT__PASSWORD": TOKEN_SECRET, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "service.log"
    try:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "farmwatch", *command, "-v", "--mqtt-url",
                 f"mqtt://svc:{SECRET}@{host_port}", "--data-dir", str(tmp_path / "data"),
                 "--registry", str(ROOT / "deploy/registry.yaml")],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            eventually(lambda: host_port in log.read_text(), timeout=60)
            time.sleep(3)  # a reconnection attempt or two
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        broker.stop()
    output = log.read_text()
    for secret in (SECRET, TOKEN_SECRET):
        assert secret not in output
        assert _files_containing(tmp_path / "data", secret) == []
