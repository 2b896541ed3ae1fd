"""The agent's MQTT settings: the same keys as the server's ``MqttSettings``, without pydantic.

Why a second class: :class:`farmwatch_core.mqtt_settings.MqttSettings` is a pydantic model,
and importing pydantic costs the agent ≈ 10 MB of its ≈ 30 MB budget on a Pi (docs/edge.md,
"Benchmark and memory"). The server keeps pydantic; the node's YAML ``mqtt:`` section has
exactly the same keys, so a technician writes it the same way for either, and
:func:`parse_mqtt_url` is the core's URL grammar (``tests/edge`` checks that both agree).

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

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

from farmwatch_core.contract.topics import validate_prefix

from farmwatch_edge.validation import Meta, Secret, Strict, field_error

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
    """Parse ``mqtt://[user:pass@]host[:port]`` (or ``mqtts://``); ValueError otherwise.

    >>> parse_mqtt_url("mqtts://node:s3cret@broker.example")
    BrokerAddress(host='broker.example', port=8883, tls=True, username='node', password='s3cret')
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
