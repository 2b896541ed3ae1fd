"""MQTT broker URLs: ``mqtt://[user:pass@]host[:port]`` or ``mqtts://``, parsed one way.

A module of its own, with nothing but the standard library, so the edge agent (which keeps
pydantic out of its memory, docs/edge.md) and the server's connection helpers
(:mod:`farmwatch_core.mqtt`) read a broker URL with the same grammar.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

__all__ = ["BrokerAddress", "display_url", "parse_mqtt_url"]

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


def display_url(url: str) -> str:
    """``url`` without its user and password, for logs, messages and errors.

    Secrets never go to a log: a broker or database URL may carry them
    (``mqtt://node:s3cret@host``), and logs are read, copied and pasted into chat groups.

    >>> display_url("mqtts://node:s3cret@broker.example:8883")
    'mqtts://broker.example:8883'
    >>> display_url("http://127.0.0.1:8086/")
    'http://127.0.0.1:8086/'
    """
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()
