"""Ingest's own MQTT subscriber against the real mosquitto: persistent sessions, PUBACK only on
demand, shared subscriptions, keepalive, refusals, and the packet parser on split input."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from farmwatch_core.mqtt import new_client
from farmwatch_core.mqtt_subscriber import Connection, MqttError, Publish, parse_packets
from farmwatch_core.settings import MqttSettings
from hypothesis import given, settings
from hypothesis import strategies as st
from support.mosquitto import start_mosquitto
from support.waiting import eventually

from farmwatch.broker import free_port


@contextmanager
def publisher(mqtt: MqttSettings) -> Iterator[paho.Client]:
    client, address = new_client(mqtt, f"pub-{time.monotonic_ns()}", persistent=False)
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


@contextmanager
def looping(connection: Connection) -> Iterator[list[Publish]]:
    """Run the connection's loop in a thread, collecting what it delivers."""
    received: list[Publish] = []
    stop = threading.Event()
    errors: list[Exception] = []

    def run() -> None:
        try:
            connection.loop(received.extend, stop)
        except MqttError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield received
    finally:
        stop.set()
        thread.join(10)
        connection.disconnect()
    assert not errors, errors


def send(client: paho.Client, topic: str, payloads: list[bytes]) -> None:
    for payload in payloads:
        client.publish(topic, payload, qos=1).wait_for_publish(10)


def test_unacknowledged_messages_come_back_to_the_persistent_session(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    prefix = mqtt_settings.topic_prefix
    topic, client_id = f"{prefix}/x", f"sub-{tmp_path.name}"[:60]
    first = Connection(mqtt_settings, client_id)
    first.connect([f"{prefix}/#"])
    payloads = [f"m{i}".encode() for i in range(20)]
    with publisher(mqtt_settings) as pub, looping(first) as got:
        send(pub, topic, payloads)
        eventually(lambda: len(got) == 20)
    assert [p.payload for p in got] == payloads
    assert {p.qos for p in got} == {1}
    assert all(p.mid for p in got)

    # Nothing was acknowledged: the broker redelivers all of it to the same session.
    second = Connection(mqtt_settings, client_id)
    second.connect([f"{prefix}/#"])
    assert second.session_present
    with looping(second) as again:
        eventually(lambda: len(again) == 20)
        second.ack([p.mid for p in again[:15]])  # disconnect() sends what is still queued
    assert sorted(p.payload for p in again) == sorted(payloads)

    # Only the 5 never acknowledged come back a third time.
    third = Connection(mqtt_settings, client_id)
    third.connect([f"{prefix}/#"])
    with looping(third) as rest:
        eventually(lambda: len(rest) >= 5)
        time.sleep(0.3)
        assert len(rest) == 5, [p.payload for p in rest]
        third.ack([p.mid for p in rest])
    assert [p.payload for p in rest] == [p.payload for p in again[15:]]

    # All acknowledged now: a fourth connection of the session gets nothing.
    fourth = Connection(mqtt_settings, client_id)
    fourth.connect([f"{prefix}/#"])
    with looping(fourth) as nothing:
        time.sleep(0.5)
    assert nothing == []


def test_a_shared_subscription_hands_each_message_to_one_member(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    prefix = mqtt_settings.topic_prefix
    members = [Connection(mqtt_settings, f"share-{tmp_path.name[:40]}-{i}") for i in (1, 2)]
    for member in members:
        member.connect([f"$share/g/{prefix}/#"])
    payloads = [f"{i}".encode() for i in range(60)]
    with (
        publisher(mqtt_settings) as pub,
        looping(members[0]) as one,
        looping(members[1]) as two,
    ):
        send(pub, f"{prefix}/t", payloads)
        eventually(lambda: len(one) + len(two) == 60)
        for member, got in zip(members, (one, two), strict=True):
            member.ack([p.mid for p in got])
        time.sleep(0.3)
    assert sorted(p.payload for p in one + two) == sorted(payloads)
    assert one
    assert two


def test_keepalive_pings_are_answered(mqtt_settings: MqttSettings, tmp_path: Path) -> None:
    quick = mqtt_settings.model_copy(update={"keepalive_s": 5})
    connection = Connection(quick, f"ka-{tmp_path.name}"[:60])
    connection.connect([f"{quick.topic_prefix}/#"])
    with looping(connection):
        eventually(lambda: connection.pongs >= 1, timeout=6)  # PINGREQ after keepalive / 2


def test_refusals_are_errors(mqtt_settings: MqttSettings, tmp_path: Path) -> None:
    with pytest.raises(MqttError, match="cannot connect"):
        Connection(
            mqtt_settings.model_copy(update={"url": f"mqtt://127.0.0.1:{free_port()}"}), "x"
        ).connect(["a/#"])
    # mosquitto refuses a filter with '#' not at the end (it closes the connection or answers
    # SUBACK 0x80, depending on the version): either way, never a silent gap.
    with pytest.raises(MqttError):
        Connection(mqtt_settings, f"bad-{tmp_path.name}"[:60]).connect(["a/#/b"])


def test_losing_the_broker_ends_the_loop_with_an_error(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path / "own")
    try:
        connection = Connection(MqttSettings(url=broker.url), "lost")
        connection.connect(["t/#"])
        stop = threading.Event()
        errors: list[Exception] = []

        def run() -> None:
            try:
                connection.loop(lambda _: None, stop)
            except MqttError as exc:
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        broker.stop()
        thread.join(10)
        assert not thread.is_alive()
        assert errors
        assert "broker" in str(errors[0])
        connection.close()
    finally:
        broker.stop()


def publish_packet(topic: str, payload: bytes, mid: int, qos: int) -> bytes:
    body = len(topic.encode()).to_bytes(2, "big") + topic.encode()
    if qos:
        body += mid.to_bytes(2, "big")
    body += payload
    length = len(body)
    encoded = bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([0x30 | (qos << 1)]) + bytes(encoded) + body


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=30),
            st.binary(max_size=400),
            st.integers(1, 65535),
            st.sampled_from([0, 1]),
        ),
        max_size=20,
    ),
    st.lists(st.integers(1, 300), max_size=10),
)
def test_parser_reassembles_packets_split_anywhere(
    messages: list[tuple[str, bytes, int, int]], cuts: list[int]
) -> None:
    stream = b"".join(publish_packet(*m) for m in messages) + b"\xd0\x00"
    expected = [Publish(t, p, mid if qos else 0, qos) for t, p, mid, qos in messages]
    got: list[Publish] = []
    others: list[tuple[int, bytes]] = []
    pending = b""
    position = 0
    for size in [*cuts, len(stream)]:
        pending += stream[position : position + size]
        position += size
        used, more = parse_packets(pending, got)
        others += more
        pending = pending[used:]
    assert got == expected
    assert others == [(0xD0, b"")]
    assert pending == b""
