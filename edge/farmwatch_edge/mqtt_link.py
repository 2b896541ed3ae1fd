"""The agent's paho client: the core's :func:`~farmwatch_core.mqtt.new_client` on a clean session.

A clean session on purpose: commands sent while the node was offline must not be applied hours
later, and the outbox, not the broker, keeps what is not yet delivered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from farmwatch_core.mqtt import new_client as _new_client

if TYPE_CHECKING:
    import paho.mqtt.client as paho
    from farmwatch_core.mqtt_url import BrokerAddress

    from farmwatch_edge.mqtt_link_settings import MqttLinkSettings


def new_client(settings: MqttLinkSettings, client_id: str) -> tuple[paho.Client, BrokerAddress]:
    """A configured, not yet connected paho client (MQTT 3.1.1, clean session) and its address."""
    return _new_client(settings, client_id, persistent=False)
