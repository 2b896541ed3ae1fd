"""The agent's paho client: TLS, login and reconnect delays from :class:`MqttLinkSettings`.

Why not :func:`farmwatch_core.mqtt.new_client`, which does the same for the server: its module
imports the pydantic ``MqttSettings`` model, which the agent avoids (docs/edge.md, "Benchmark
and memory").
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

import paho.mqtt.client as paho
from farmwatch_core.mqtt_url import BrokerAddress, parse_mqtt_url
from paho.mqtt.enums import CallbackAPIVersion

if TYPE_CHECKING:
    from farmwatch_edge.mqtt_link_settings import MqttLinkSettings


def new_client(settings: MqttLinkSettings, client_id: str) -> tuple[paho.Client, BrokerAddress]:
    """A configured, not yet connected paho client (MQTT 3.1.1, clean session) and the
    address to connect to.

    A clean session on purpose: commands sent while the node was offline must not be applied
    hours later, and the outbox, not the broker, keeps what is not yet delivered.
    """
    address = parse_mqtt_url(settings.url)
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=True,
        protocol=paho.MQTTv311,
    )
    username = settings.username or address.username
    password = settings.password.get_secret_value() if settings.password else address.password
    if username:
        client.username_pw_set(username, password)
    if address.tls:
        client.tls_set(
            ca_certs=str(settings.ca_file) if settings.ca_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client, address
