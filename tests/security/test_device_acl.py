"""Per-device credentials on the real mosquitto, with the password and ACL files farmwatch
generates: a node publishes only as itself, reads only its own commands, a revoked node and an
anonymous client are refused."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from farmwatch.broker import MosquittoProcess, free_port, project_mosquitto_config
from farmwatch.devices import DeviceRegistry, mosquitto_hash, verify_mosquitto_hash

pytestmark = pytest.mark.mosquitto


class Client:
    """A paho client that records its CONNACK and what it receives."""

    def __init__(self, port: int, username: str | None, password: str | None) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{username}-{time.time_ns()}"
        )
        if username:
            self.client.username_pw_set(username, password)
        self.connack: object = None
        self.connected = threading.Event()
        self.received: list[tuple[str, bytes]] = []
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, bytes(m.payload)))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        self.connack = reason
        self.connected.set()

    def accepted(self) -> bool:
        assert self.connected.wait(10), "no CONNACK"
        return not getattr(self.connack, "is_failure", True)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[MosquittoProcess, DeviceRegistry, Path]]:
    registry = DeviceRegistry(tmp_path / "devices.json")
    config = (
        project_mosquitto_config()
        .read_text()
        .replace(
            "allow_anonymous true",
            "allow_anonymous false\n"
            f"password_file {tmp_path / 'passwd'}\nacl_file {tmp_path / 'acl'}",
        )
    )
    assert "allow_anonymous false" in config
    (tmp_path / "mosquitto.conf").write_text(config)
    registry.write_broker_files(tmp_path / "passwd", tmp_path / "acl")
    broker = MosquittoProcess(tmp_path / "broker", free_port(), config=tmp_path / "mosquitto.conf")
    yield broker, registry, tmp_path
    broker.stop()


def test_our_hash_is_mosquittos_format() -> None:
    stored = mosquitto_hash("s3cret", salt=b"0123456789ab")
    assert stored.startswith("$7$101$MDEyMzQ1Njc4OWFi$")
    assert verify_mosquitto_hash("s3cret", stored)
    assert not verify_mosquitto_hash("s3cret!", stored)


def test_a_node_speaks_only_for_itself_and_a_revoked_node_is_refused(
    secured: tuple[MosquittoProcess, DeviceRegistry, Path],
) -> None:
    broker, registry, folder = secured
    n1 = registry.add_node("pond-01", "n1")
    n2 = registry.add_node("pond-01", "n2")
    ingest = registry.add_service("ingest")
    registry.write_broker_files(folder / "passwd", folder / "acl")
    broker.start()
    port = int(broker.url.rsplit(":", 1)[1])

    service = Client(port, *ingest)
    assert service.accepted()
    service.client.subscribe("farms/#", qos=1)
    node1 = Client(port, *n1)
    assert node1.accepted()
    node1.client.subscribe("farms/pond-01/nodes/+/cmd/+", qos=1)  # only its own may arrive
    time.sleep(0.5)  # the subscriptions are in place

    node1.publish("farms/pond-01/nodes/n1/telemetry", b"mine")
    node1.publish("farms/pond-01/nodes/n2/telemetry", b"spoofed neighbour")
    node1.publish("farms/pond-02/nodes/n1/telemetry", b"spoofed farm")
    service.publish("farms/pond-01/nodes/n2/cmd/aerator", b"for n2")
    service.publish("farms/pond-01/nodes/n1/cmd/aerator", b"for n1")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(node1.received) < 1:
        time.sleep(0.05)
    time.sleep(0.5)
    telemetry = [p for t, p in service.received if t.endswith("/telemetry")]
    assert telemetry == [b"mine"]  # the broker dropped both spoofed publications
    assert node1.received == [("farms/pond-01/nodes/n1/cmd/aerator", b"for n1")]

    assert not Client(port, None, None).accepted()  # anonymous
    assert not Client(port, n1[0], "wrong password").accepted()

    node1.close()
    registry.revoke(n1[0])
    registry.write_broker_files(folder / "passwd", folder / "acl")
    pid = broker.pid
    assert pid is not None
    os.kill(pid, signal.SIGHUP)  # mosquitto re-reads its password and ACL files
    time.sleep(1.0)
    assert not Client(port, *n1).accepted()  # revoked
    assert Client(port, *n2).accepted()  # the others are unaffected
    service.close()


def test_credentials_are_stored_as_hashes_and_cannot_be_issued_twice(tmp_path: Path) -> None:
    registry = DeviceRegistry(tmp_path / "devices.json")
    username, password = registry.add_node("pond-01", "n1")
    text = (tmp_path / "devices.json").read_text()
    assert password not in text
    assert "$7$101$" in text
    with pytest.raises(ValueError, match="revoke them first"):
        registry.add_node("pond-01", "n1")
    registry.revoke(username)
    again = DeviceRegistry(tmp_path / "devices.json")  # reloaded from disk
    assert again.active() == []
    assert again.add_node("pond-01", "n1")[1] != password
    with pytest.raises(ValueError, match="farm"):
        registry.add_node("pond/01", "n1")  # not a valid farm id


def test_the_cli_issues_revokes_and_writes_the_broker_files(tmp_path: Path) -> None:
    import subprocess
    import sys

    def farmwatch(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "farmwatch", "devices", *args, "--data-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    added = farmwatch("add", "--farm", "pond-01", "--node", "n1")
    assert added.returncode == 0, added.stderr
    password = added.stdout.split("password: ")[1].split()[0]
    line = (tmp_path / "broker" / "passwd").read_text().strip()
    assert line.startswith("pond-01/n1:$7$")
    assert verify_mosquitto_hash(password, line.split(":", 1)[1])
    assert (
        "topic write farms/pond-01/nodes/n1/telemetry" in (tmp_path / "broker" / "acl").read_text()
    )
    assert farmwatch("add", "--farm", "pond-01", "--node", "n1").returncode == 1  # issued already
    assert farmwatch("revoke", "pond-01/n1").returncode == 0
    assert (tmp_path / "broker" / "passwd").read_text() == ""
    assert "revoked" in farmwatch("list").stdout
