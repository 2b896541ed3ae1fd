"""Remote config and commands over a real mosquitto.

* A retained ``.../config`` changes the sampling rate and disables a sensor without a restart,
  and the retained status acknowledges it; a bad document is refused with its reason while the
  old config keeps running; the accepted config survives a restart with no broker.
* ``.../cmd/aerator`` switches a (fake) relay and is acknowledged on ``.../cmd/aerator/ack``;
  an unknown actuator is refused there too.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from farmwatch_core.contract import Channel, TimeWindow, decode_telemetry, node_topic
from farmwatch_core.mqtt import new_client
from farmwatch_core.settings import MqttSettings
from farmwatch_edge.actuators.fake import FakeRelay
from farmwatch_edge.agent import Agent
from farmwatch_edge.clock import ClockMode
from farmwatch_edge.config import (
    ClockConfig,
    EdgeConfig,
    FakeActuator,
    FakeSensor,
    MqttLinkSettings,
    SafetyRule,
)
from farmwatch_edge.remote import ConfigRefused, overlay, parse
from msgspec.structs import replace
from support.waiting import eventually

from farmwatch.broker import free_port

_ANY_TIME = TimeWindow(max_future=timedelta(days=3650), max_past=timedelta(days=3650))


class Node:
    """The server's side of one node: publishes to it, records what it says."""

    def __init__(self, settings: MqttSettings, farm_id: str, node_id: str) -> None:
        prefix = settings.topic_prefix
        self.base = str(node_topic(farm_id, node_id, Channel.STATUS, prefix=prefix))[:-7]
        self.client, address = new_client(
            settings, f"server-{uuid.uuid4().hex[:8]}", persistent=False
        )
        self.client.on_message = self._on_message
        self._lock = threading.Lock()
        self.statuses: list[dict[str, Any]] = []
        self.acks: list[tuple[str, dict[str, Any]]] = []
        self.records: list[tuple[datetime, dict[str, float]]] = []
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        for topic in ("status", "telemetry", "cmd/+/ack"):
            self.client.subscribe(f"{self.base}/{topic}", qos=1)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            if msg.topic.endswith("/telemetry"):
                decoded = decode_telemetry(
                    bytes(msg.payload), now=datetime.now(UTC), window=_ANY_TIME
                )
                self.records.extend((r.ts, dict(r.readings)) for r in decoded.records)
            elif msg.topic.endswith("/status"):
                self.statuses.append(json.loads(msg.payload))
            else:
                self.acks.append((msg.topic.removeprefix(self.base + "/"), json.loads(msg.payload)))

    def status(self) -> dict[str, Any]:
        with self._lock:
            return self.statuses[-1] if self.statuses else {}

    def status_where(self, key: str, value: object = None) -> dict[str, Any]:
        """The latest status if its ``key`` equals ``value`` (or, without one, is truthy);
        else ``{}`` (for ``eventually``)."""
        status = self.status()
        found = status.get(key)
        return status if (found == value if value is not None else found) else {}

    def acks_upto(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        """The first ``count`` acknowledgements, once that many have arrived (else [])."""
        with self._lock:
            return self.acks[:count] if len(self.acks) >= count else []

    def readings(self, quantity: str, start: datetime, end: datetime) -> int:
        with self._lock:
            return sum(1 for ts, r in self.records if quantity in r and start <= ts < end)

    def publish(self, topic: str, body: dict[str, Any] | None, *, retain: bool = False) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.client.publish(f"{self.base}/{topic}", payload, qos=1, retain=retain).wait_for_publish(
            5
        )

    def close(self) -> None:
        self.publish("config", None, retain=True)  # leave no retained config on the broker
        self.client.disconnect()
        self.client.loop_stop()


def _config(settings: MqttSettings, data_dir: Path) -> EdgeConfig:
    return EdgeConfig(
        farm_id="pond-01",
        node_id="n1",
        data_dir=data_dir,
        mqtt=MqttLinkSettings(url=settings.url, topic_prefix=settings.topic_prefix),
        reconnect_min_s=1,
        reconnect_max_s=1,
        status_interval_s=5,
        clock=ClockConfig(mode=ClockMode.SYNCED),
        sensors=[
            FakeSensor(name="a", interval_s=0.2, values={"ph": 7.0}),
            FakeSensor(name="b", interval_s=0.2, values={"salinity": 12.0}),
        ],
        actuators=[FakeActuator(name="aerator", min_on_s=0, min_off_s=0)],
    )


@contextmanager
def running(agent: Agent) -> Iterator[Agent]:
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        yield agent
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_remote_config_is_applied_acknowledged_refused_and_persisted(
    tmp_path: Path, mqtt_settings: MqttSettings
) -> None:
    data_dir = tmp_path / "edge"
    node = Node(mqtt_settings, "pond-01", "n1")
    try:
        with running(Agent(_config(mqtt_settings, data_dir))) as agent:
            eventually(lambda: node.status().get("state") == "online", message="status")
            assert node.status()["config_source"] == "local"
            eventually(
                lambda: (
                    node.readings(
                        "salinity",
                        datetime.min.replace(tzinfo=UTC),
                        datetime.max.replace(tzinfo=UTC),
                    )
                    >= 3
                )
            )
            node.publish(
                "config",
                {
                    "v": 1,
                    "version": 2,
                    "sensors": {"a": {"interval_s": 0.02}, "b": {"enabled": False}},
                },
                retain=True,
            )
            status = eventually(lambda: node.status_where("config_version", 2), message="ack")
            assert status["config_source"] == "remote"
            assert status["config_error"] is None
            assert status["sensors"]["b"]["enabled"] is False
            applied = _iso(status["config_applied_at"])
            second = timedelta(seconds=1)
            after = applied + 0.3 * second
            eventually(
                lambda: node.readings("ph", after, after + second) >= 20,
                timeout=15,
                message="~50 ph readings per second at interval 0.02 s",
            )
            assert node.readings("ph", applied - 2 * second, applied - second) <= 8
            assert node.readings("salinity", after, after + 5 * second) == 0  # b disabled

            # A document naming a sensor this node lacks is refused; the old config keeps going.
            node.publish(
                "config",
                {"v": 1, "version": 3, "sensors": {"nope": {"interval_s": 1}}},
                retain=True,
            )
            status = eventually(lambda: node.status_where("config_error"))
            assert status["config_error"]["version"] == 3
            assert status["config_error"]["reason"] == "unknown sensor nope (this node has: a, b)"
            assert status["config_version"] == 2
            reads = agent.sensors[0].reads
            eventually(lambda: agent.sensors[0].reads >= reads + 20, message="still at 0.02 s")
            # A value out of range is refused with its location and reason, in one line.
            node.publish("config", {"v": 1, "sensors": {"a": {"interval_s": -1}}}, retain=True)
            eventually(
                lambda: (
                    node.status()["config_error"]["reason"] == "sensors.a.interval_s: must be > 0"
                )
            )

            node.publish(
                "config", {"v": 1, "version": 4, "sensors": {"b": {"enabled": False}}}, retain=True
            )
            status = eventually(lambda: node.status_where("config_version", 4))
            assert status["config_error"] is None
            assert agent.sensors[0].interval_s == 0.2  # omitted: back to the local value
    finally:
        node.close()

    # Restart with no broker at all: the persisted remote config runs.
    offline = replace(
        _config(mqtt_settings, data_dir),
        mqtt=MqttLinkSettings(url=f"mqtt://127.0.0.1:{free_port()}"),
    )
    with running(Agent(offline)) as agent:
        eventually(lambda: agent.sensors and agent.sensors[0].reads >= 3)
        status = agent.status()
        assert (status["config_source"], status["config_version"]) == ("remote", 4)
        assert status["sensors"]["b"]["enabled"] is False
        assert agent.sensors[1].reads == 0
        assert not status["connected"]


def test_commands_switch_the_relay_and_are_acknowledged(
    tmp_path: Path, mqtt_settings: MqttSettings
) -> None:
    aerator = FakeRelay("aerator")
    agent = Agent(_config(mqtt_settings, tmp_path / "edge"), actuators=[aerator])
    node = Node(mqtt_settings, "pond-01", "n1")
    try:
        with running(agent):
            eventually(lambda: node.status().get("state") == "online", message="status")
            node.publish("cmd/aerator", {"v": 1, "state": "on", "id": "c-1"})
            topic, ack = eventually(lambda: node.acks_upto(1))[-1]
            assert topic == "cmd/aerator/ack"
            assert ack["id"] == "c-1"
            assert (ack["result"], ack["state"], ack["mode"]) == ("applied", "on", "manual")
            assert aerator.state is True
            eventually(lambda: node.status()["actuators"]["aerator"]["state"] == "on")
            assert node.status()["actuators"]["aerator"]["command_id"] == "c-1"

            node.publish("cmd/pump", {"v": 1, "state": "on", "id": "c-2"})
            topic, ack = eventually(lambda: node.acks_upto(2))[-1]
            assert topic == "cmd/pump/ack"
            assert (ack["id"], ack["result"]) == ("c-2", "refused")
            assert ack["reason"] == "unknown actuator 'pump' (this node has: aerator)"

            node.publish("cmd/aerator", {"v": 1, "state": "open", "id": "c-3"})
            _, ack = eventually(lambda: node.acks_upto(3))[-1]
            assert ack["result"] == "refused"
            assert ack["reason"].startswith("invalid command: state:")
            assert aerator.state is True
    finally:
        node.close()


def test_rule_thresholds_are_tuned_remotely_but_keep_their_band(tmp_path: Path) -> None:
    rule = SafetyRule(
        name="low-do",
        quantity="dissolved_oxygen",
        actuator="aerator",
        when="below",
        on_at=3.0,
        off_at=4.0,
    )
    base = replace(_config(MqttSettings(), tmp_path), rules=[rule])
    remote, _ = parse(b'{"v": 1, "rules": {"low-do": {"on_at": 3.5, "off_at": 4.5}}}')
    tuned = overlay(base, remote)
    assert (tuned.rules[0].on_at, tuned.rules[0].off_at) == (3.5, 4.5)
    assert base.rules[0].on_at == 3.0  # the local config is untouched
    remote, _ = parse(b'{"v": 1, "rules": {"low-do": {"off_at": 2.0}}}')
    with pytest.raises(ConfigRefused, match=r"rules\.low-do: .*hysteresis band"):
        overlay(base, remote)
    with pytest.raises(ConfigRefused, match="version v=2 is not supported"):
        parse(b'{"v": 2}')
    with pytest.raises(ConfigRefused, match=r"^actuators\.aerator\.pin: unknown key"):
        parse(b'{"v": 1, "actuators": {"aerator": {"pin": 4}}}')


# --------------------------------------------------------------------------------------------
# Rules added, replaced and removed remotely


def _rule_base(tmp_path: Path) -> EdgeConfig:
    low_do = SafetyRule(
        name="low-do",
        quantity="dissolved_oxygen",
        actuator="aerator",
        when="below",
        on_at=3.0,
        off_at=4.0,
    )
    return replace(_config(MqttSettings(), tmp_path), rules=[low_do])


def _overlay(base: EdgeConfig, body: dict[str, Any]) -> EdgeConfig:
    remote, _ = parse(json.dumps({"v": 1, **body}).encode())
    return overlay(base, remote)


def test_remote_rules_add_replace_remove_and_are_validated(tmp_path: Path) -> None:
    base = _rule_base(tmp_path)
    hot = {"quantity": "ph", "sensor": "a", "actuator": "aerator", "when": "above"}
    added = _overlay(base, {"rules": {"high-ph": {**hot, "on_at": 9.0, "off_at": 8.5}}})
    assert [r.name for r in added.rules] == ["low-do", "high-ph"]
    assert (added.rules[1].sensor, added.rules[1].stale_after_s) == ("a", 600.0)  # defaults

    replaced = _overlay(
        base,
        {"rules": {"low-do": {"quantity": "salinity", "actuator": "aerator", "when": "above",
                              "on_at": 20, "off_at": 15}}},
    )  # fmt: skip
    assert [(r.name, r.quantity, r.when) for r in replaced.rules] == [
        ("low-do", "salinity", "above")
    ]
    assert _overlay(base, {"rules": {"low-do": None}}).rules == []
    assert base.rules[0].quantity == "dissolved_oxygen"  # the local config is untouched

    refusals = {
        "cannot remove rule nope: no such rule (this node has: low-do)": {"nope": None},
        "unknown rule nope (this node has: low-do); to add a rule give quantity, actuator, "
        "when, on_at and off_at": {"nope": {"on_at": 1, "off_at": 2}},
        "rules.r: rule r switches actuator 'pump', which is not configured (actuators: aerator)": {
            "r": {**hot, "actuator": "pump", "on_at": 9, "off_at": 8}
        },
        "rules.r: rule r reads sensor 'zz': not configured": {
            "r": {**hot, "sensor": "zz", "on_at": 9, "off_at": 8}
        },
        "rules.r: on_at: required": {"r": hot},
    }
    for reason, rules in refusals.items():
        with pytest.raises(ConfigRefused) as refused:
            _overlay(base, {"rules": rules})
        assert str(refused.value) == reason
    with pytest.raises(ConfigRefused, match=r"rules\.r: .*hysteresis band"):
        _overlay(base, {"rules": {"r": {**hot, "on_at": 8, "off_at": 9}}})
    with pytest.raises(ConfigRefused, match=r"^rules\.r: quantity: unknown quantity .oxygen."):
        _overlay(base, {"rules": {"r": {**hot, "quantity": "oxygen", "on_at": 9, "off_at": 8}}})


class SetProbe:
    """A pH sensor whose value the test sets."""

    name = "a"
    quantities = ("ph",)

    def __init__(self, value: float) -> None:
        self.value = value

    def read(self) -> dict[str, float]:
        return {"ph": self.value}

    def close(self) -> None:
        """Nothing to release."""


def test_rules_added_over_mqtt_run_without_restart_and_survive_one(
    tmp_path: Path, mqtt_settings: MqttSettings
) -> None:
    data_dir = tmp_path / "edge"
    config = _config(mqtt_settings, data_dir)  # no local rules at all
    aerator = FakeRelay("aerator")
    probe = SetProbe(9.5)
    node = Node(mqtt_settings, "pond-01", "n1")
    high_ph = {"quantity": "ph", "actuator": "aerator", "when": "above", "on_at": 9.0}
    try:
        with running(Agent(config, drivers=[probe], actuators=[aerator])) as agent:
            eventually(lambda: node.status().get("state") == "online", message="status")
            assert aerator.history == []

            # Invalid (no hysteresis band): refused with the reason, nothing switches.
            node.publish(
                "config",
                {"v": 1, "version": 1, "rules": {"high-ph": {**high_ph, "off_at": 9.5}}},
                retain=True,
            )
            status = eventually(lambda: node.status_where("config_error"))
            assert status["config_error"]["version"] == 1
            assert "hysteresis band" in status["config_error"]["reason"]
            assert status["config_source"] == "local"

            node.publish(
                "config",
                {"v": 1, "version": 2, "rules": {"high-ph": {**high_ph, "off_at": 8.5}}},
                retain=True,
            )
            status = eventually(lambda: node.status_where("config_version", 2), message="ack")
            assert status["config_error"] is None
            eventually(lambda: aerator.state, message="the added rule switches the relay on")
            eventually(lambda: node.status()["actuators"]["aerator"]["rules_on"] == ["high-ph"])
            assert [r.name for r in agent.config.rules] == ["high-ph"]

            # Each document is complete: one without the rule returns to the local rules (none).
            node.publish("config", {"v": 1, "version": 3}, retain=True)
            eventually(lambda: node.status_where("config_version", 3), message="ack")
            assert agent.config.rules == []
            eventually(lambda: node.status()["actuators"]["aerator"]["rules_on"] == [])
            node.publish(
                "config",
                {"v": 1, "version": 4, "rules": {"high-ph": {**high_ph, "off_at": 8.5}}},
                retain=True,
            )
            eventually(lambda: node.status_where("config_version", 4), message="ack")
    finally:
        node.close()  # deletes the retained config, after the agent stopped

    # Restarted with no broker: the persisted remote rule still protects the pond.
    offline = replace(config, mqtt=MqttLinkSettings(url=f"mqtt://127.0.0.1:{free_port()}"))
    again = FakeRelay("aerator")
    with running(Agent(offline, drivers=[SetProbe(9.6)], actuators=[again])) as agent:
        eventually(lambda: again.state, message="the stored rule fires offline")
        assert agent.status()["config_version"] == 4
