"""The agent's MQTT settings: the same keys as the server's ``MqttSettings``, without pydantic.

Why a second class: :class:`farmwatch_core.mqtt_settings.MqttSettings` is a pydantic model,
and importing pydantic costs the agent ≈ 10 MB of its ≈ 30 MB budget on a Pi (docs/edge.md,
"Benchmark and memory"). The server keeps pydantic; the node's YAML ``mqtt:`` section has
exactly the same keys, so a technician writes it the same way for either, and
:func:`parse_mqtt_url` is the core's own (:mod:`farmwatch_core.mqtt_url`, standard library only).

>>> from farmwatch_edge.validation import validate
>>> settings = validate(MqttLinkSettings, {"url": "mqtts://broker:8883", "password": "pw"})
>>> settings.password
Secret('**********')
>>> validate(MqttLinkSettings, {"keepalive_s": 1})
Traceback (most recent call last):
...
farmwatch_edge.validation.InvalidConfig: keepalive_s: must be >= 5
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from farmwatch_core.contract.topics import validate_prefix
from farmwatch_core.mqtt_url import parse_mqtt_url

from farmwatch_edge.validation import Meta, Secret, Strict, field_error


class MqttLinkSettings(Strict, kw_only=True):
    """Where the broker is and how to log in: ``url`` (``mqtts://`` for TLS), ``username``,
    ``password`` (or both in the URL), ``ca_file`` (TLS), ``topic_prefix``, ``keepalive_s``."""

    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: Secret | None = None
    topic_prefix: str = ""
    ca_file: Path | None = None
    # MQTT 3.1.1 keep alive, seconds (the server's MqttSettings has the same bounds).
    keepalive_s: Annotated[int, Meta(ge=5, le=3600)] = 30

    def __post_init__(self) -> None:
        try:
            self.topic_prefix = validate_prefix(self.topic_prefix)
        except ValueError as exc:
            raise field_error("topic_prefix", str(exc)) from None
        try:
            parse_mqtt_url(self.url)  # refused at start, not at the first connection attempt
        except ValueError as exc:
            raise field_error("url", str(exc)) from None
