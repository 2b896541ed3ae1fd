"""MQTT connection helpers shared by edge agents, ingest and simulators (paho-mqtt 2.x).

Only connection set-up lives here; what is published where is the contract's business.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from farmwatch_core.mqtt_settings import MqttSettings

_SCHEMES = {"mqtt": False, "tcp": False, "mqtts": True, "ssl": True}


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> BrokerAddress:
    """Parse ``mqtt://[user:pass@]host[:port]`` (or ``mqtts://``).

    >>> parse_mqtt_url("mqtts://node:s3cret@broker.example:8883")
    BrokerAddress(host='broker.example', port=8883, tls=True, username='node', password='s3cret')
    >>> parse_mqtt_url("mqtt://localhost").port
    1883
    """
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise ValueError(f"MQTT URL {url!r} must look like mqtt://host:1883 or mqtts://host:8883")
    tls = _SCHEMES[parts.scheme]
    return BrokerAddress(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


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
