"""TLS between a node and the broker, and between the broker and the server's subscriber, with
generated certificates on the real mosquitto: the edge agent's paho link publishes over mqtts://
and ingest's subscriber (farmwatch_core.mqtt_subscriber) receives over TLS; a plain client and a
client that does not trust the certificate are turned away."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from farmwatch_core.mqtt_settings import MqttSettings
from farmwatch_core.mqtt_subscriber import Connection, MqttError, Publish
from farmwatch_edge.mqtt_link import new_client
from farmwatch_edge.mqtt_link_settings import MqttLinkSettings
from support.tls import TlsFiles, make_tls_files

from farmwatch.broker import MosquittoProcess, free_port, project_mosquitto_config

pytestmark = pytest.mark.mosquitto


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, TlsFiles]]:
    tls = make_tls_files(tmp_path)
    # The project config with its listener made a TLS one (the options follow the listener).
    config = (
        project_mosquitto_config()
        .read_text()
        .replace("listener 1883", f"listener 1883\ncertfile {tls.cert}\nkeyfile {tls.key}")
    )
    (tmp_path / "mosquitto.conf").write_text(config)
    port = free_port()
    broker = MosquittoProcess(
        tmp_path / "broker", port, config=tmp_path / "mosquitto.conf", tls_ca=tls.cert
    )
    broker.start()
    yield port, tls
    broker.stop()


def test_a_node_publishes_over_tls_and_the_server_subscriber_reads_over_tls(
    tls_broker: tuple[int, TlsFiles],
) -> None:
    port, tls = tls_broker
    url = f"mqtts://127.0.0.1:{port}"
    received: list[Publish] = []
    stop = threading.Event()
    server = Connection(MqttSettings(url=url, ca_file=tls.cert), "tls-ingest")
    server.connect(["farms/+/nodes/+/telemetry"])

    def deliver(batch: list[Publish]) -> None:
        received.extend(batch)
        server.ack([p.mid for p in batch if p.qos])

    reader = threading.Thread(target=server.loop, args=(deliver, stop), daemon=True)
    reader.start()
    node, address = new_client(MqttLinkSettings(url=url, ca_file=tls.cert), "tls-node")
    assert address.tls
    node.connect(address.host, address.port)
    node.loop_start()
    node.publish("farms/pond-01/nodes/n1/telemetry", b"qua TLS", qos=1).wait_for_publish(10)
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    node.loop_stop()
    node.disconnect()
    stop.set()
    reader.join(10)
    server.close()
    assert [(p.topic, p.payload) for p in received] == [
        ("farms/pond-01/nodes/n1/telemetry", b"qua TLS")
    ]


def test_plain_and_untrusting_clients_are_turned_away(tls_broker: tuple[int, TlsFiles]) -> None:
    port, _ = tls_broker
    with pytest.raises((MqttError, OSError)):  # no TLS handshake: the broker drops it
        Connection(MqttSettings(url=f"mqtt://127.0.0.1:{port}"), "plain").connect(["x/#"], 5)
    with pytest.raises((MqttError, OSError), match=r"(?i)certificate"):  # not trusted
        Connection(MqttSettings(url=f"mqtts://127.0.0.1:{port}"), "untrusting").connect(["x/#"], 5)
