"""MQTT connection helpers shared by edge agents, ingest and simulators (paho-mqtt 2.x).

Only connection set-up lives here; what is published where is the contract's business.
:func:`new_client` reads its settings through :class:`BrokerLogin`, so the server's pydantic
``MqttSettings`` and the edge agent's msgspec ``MqttLinkSettings`` both fit, and importing this
module does not import pydantic (the agent's memory budget, docs/edge.md).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Protocol

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from farmwatch_core.mqtt_url import BrokerAddress, parse_mqtt_url

__all__ = ["BrokerAddress", "BrokerLogin", "new_client", "parse_mqtt_url"]


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class BrokerLogin(Protocol):
    """What a client needs to reach the broker (read-only, so either settings type fits)."""

    @property
    def url(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> _Secret | None: ...
    @property
    def ca_file(self) -> Path | None: ...


def new_client(
    settings: BrokerLogin,
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
