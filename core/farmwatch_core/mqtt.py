"""MQTT connection helpers shared by edge agents, ingest and simulators (paho-mqtt 2.x).

Only connection set-up lives here; what is published where is the contract's business.
"""

from __future__ import annotations

import ssl

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from farmwatch_core.mqtt_settings import MqttSettings
from farmwatch_core.mqtt_url import BrokerAddress, parse_mqtt_url

__all__ = ["BrokerAddress", "new_client", "parse_mqtt_url"]


def new_client(
    settings: MqttSettings,
    client_id: str,
    *,
    persistent: bool,
    manual_ack: bool = False,
) -> tuple[paho.Client, BrokerAddress]:
    """A configured but not yet connected paho client and the address to connect to.

    ``persistent`` asks the broker to keep the session (subscriptions and unacknowledged QoS 1
    messages) across disconnects, which is what makes a restart of a subscriber lossless.
    """
    address = parse_mqtt_url(settings.url)
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=paho.MQTTv311,
        manual_ack=manual_ack,
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
