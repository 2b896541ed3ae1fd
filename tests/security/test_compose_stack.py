"""The compose stack's broker and secrets, for real, without Docker.

deploy/make-secrets.sh writes the secrets and the service accounts as an operator would; the
real mosquitto runs deploy/mosquitto/production.conf (only its file paths moved into the test's
folder); the compose health check's own command runs against it; then a node added with
``farmwatch devices add`` publishes, and ``farmwatch ingest`` in production mode, its password
read from a secrets folder laid out as compose mounts it, stores the reading. Anonymous clients
and the wrong account are refused.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from farmwatch_core.contract import Record
from farmwatch_core.contract.payload import encode_record
from farmwatch_ingest.stores.sqlite import SqliteStore
from paho.mqtt.enums import CallbackAPIVersion
from support.waiting import eventually

from farmwatch.broker import MosquittoProcess, free_port

pytestmark = pytest.mark.mosquitto

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    deploy: Path
    broker: MosquittoProcess
    port: int

    def secret(self, name: str) -> str:
        return (self.deploy / "secrets" / name).read_text().strip()

    def farmwatch(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "farmwatch", *args],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/make-secrets.sh's output, made once (it runs `farmwatch devices add` 4 times)."""
    deploy = tmp_path_factory.mktemp("made") / "deploy"
    env = {
        **os.environ,
        "FARMWATCH_DEPLOY": str(deploy),
        "FARMWATCH": str(Path(sys.executable).with_name("farmwatch")),
    }
    subprocess.run(
        ["bash", str(ROOT / "deploy/make-secrets.sh")], env=env, check=True, capture_output=True
    )
    return deploy


@pytest.fixture
def stack(made: Path, tmp_path: Path) -> Iterator[Stack]:
    deploy = tmp_path / "deploy"
    shutil.copytree(made, deploy)
    config = (ROOT / "deploy/mosquitto/production.conf").read_text()
    assert "password_file /mosquitto/auth/passwd" in config
    config = config.replace("/mosquitto/auth/", f"{deploy}/mosquitto/auth/")
    (tmp_path / "mosquitto.conf").write_text(config)
    port = free_port()
    broker = MosquittoProcess(tmp_path / "broker", port, config=tmp_path / "mosquitto.conf")
    broker.start()
    try:
        yield Stack(deploy, broker, port)
    finally:
        broker.stop()


def _connack(port: int, username: str | None, password: str | None) -> bool:
    """Whether the broker accepts this login."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{time.time_ns()}")
    if username:
        client.username_pw_set(username, password)
    codes: list[Any] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: codes.append(reason)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        eventually(lambda: codes, timeout=10)
    finally:
        client.loop_stop()
        client.disconnect()
    return not codes[0].is_failure


def test_the_compose_health_check_passes_on_the_live_broker_only(stack: Stack) -> None:
    test = _compose()["services"]["mosquitto"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    command = test[1].replace("$$", "$").replace("-h localhost", f"-h 127.0.0.1 -p {stack.port}")
    assert subprocess.run(["sh", "-c", command], check=False).returncode == 0
    stack.broker.stop()
    assert subprocess.run(["sh", "-c", command], check=False).returncode != 0


def test_service_accounts_get_in_and_anonymous_clients_do_not(stack: Stack) -> None:
    for service in ("ingest", "analytics", "alerting", "simulator"):
        password = stack.secret(f"mqtt_{service}_password")
        assert _connack(stack.port, f"farmwatch-{service}", password), service
    assert not _connack(stack.port, None, None)
    assert not _connack(stack.port, "farmwatch-ingest", stack.secret("mqtt_analytics_password"))


def test_production_ingest_stores_what_a_registered_node_publishes(
    stack: Stack, tmp_path: Path
) -> None:
    auth = stack.deploy / "mosquitto" / "auth"
    added = stack.farmwatch(
        "devices", "add", "--farm", "pond-01", "--node", "pond-01-n1", "--data-dir",
        str(stack.deploy / "state"), "--password-file", str(auth / "passwd"),
        "--acl-file", str(auth / "acl"),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    node_password = added.stdout.split("password: ")[1].split()[0]
    assert stack.broker.pid is not None
    os.kill(stack.broker.pid, signal.SIGHUP)  # as `docker compose kill -s HUP mosquitto`
    eventually(lambda: _connack(stack.port, "pond-01/pond-01-n1", node_password), timeout=10)

    # /run/secrets as compose mounts it for ingest: its MQTT password under the settings' name.
    run_secrets = tmp_path / "run-secrets"
    run_secrets.mkdir()
    shutil.copy(stack.deploy / "secrets" / "mqtt_ingest_password", run_secrets / "mqtt__password")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FARMWATCH_")}
    env |= {
        "FARMWATCH_ENV": "production",
        "FARMWATCH_SECRETS_DIR": str(run_secrets),
        "FARMWATCH_MQTT__USERNAME": "farmwatch-ingest",
        "PYTHONUNBUFFERED": "1",
    }
    data = tmp_path / "data"
    log = tmp_path / "ingest.log"
    with log.open("wb") as out:
        ingest = subprocess.Popen(
            [sys.executable, "-m", "farmwatch", "ingest", "--mqtt-url",
             f"mqtt://127.0.0.1:{stack.port}", "--data-dir", str(data), "--registry",
             str(ROOT / "deploy/registry.yaml"), "--client-id", "prod-ingest"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        eventually(lambda: "subscribed to" in log.read_text(), timeout=60)
        node = paho.Client(CallbackAPIVersion.VERSION2, client_id="pond-01-n1")
        node.username_pw_set("pond-01/pond-01-n1", node_password)
        node.connect("127.0.0.1", stack.port)
        node.loop_start()
        record = Record(datetime.now(UTC).replace(microsecond=0), 1, False, {"ph": 7.2})
        node.publish("farms/pond-01/nodes/pond-01-n1/telemetry", encode_record(record), qos=1)
        # Spoofing a neighbour is dropped by the broker's ACL before ingest sees it.
        node.publish(
            "farms/pig-02/nodes/pig-02-n1/telemetry", encode_record(record), qos=1
        ).wait_for_publish(10)
        store = SqliteStore(data / "farmwatch.db")
        try:
            latest = eventually(store.latest, timeout=30)
            time.sleep(1.0)  # would the spoofed one arrive too?
            latest = store.latest()
        finally:
            store.close()
        node.loop_stop()
        node.disconnect()
    finally:
        ingest.send_signal(signal.SIGTERM)
        ingest.wait(30)
    assert [(r.farm_id, r.node_id, r.quantity, r.value) for r in latest] == [
        ("pond-01", "pond-01-n1", "ph", 7.2)
    ]
    output = log.read_text()
    assert "refuses to start" not in output
    for name in ("mqtt_ingest_password",):
        assert stack.secret(name) not in output
    assert node_password not in output
