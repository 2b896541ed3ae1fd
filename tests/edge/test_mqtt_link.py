"""The agent's MQTT settings and client: the same URLs and keys as the server's, no pydantic.

:class:`MqttLinkSettings` mirrors the server's pydantic ``MqttSettings`` so a technician writes
the ``mqtt:`` section of the node's YAML the same way; these tests pin that the two agree.
"""

from __future__ import annotations

import ssl

import pytest
from farmwatch_core.mqtt_settings import MqttSettings
from farmwatch_core.mqtt_url import parse_mqtt_url as core_parse
from farmwatch_edge.config import EdgeConfig
from farmwatch_edge.mqtt_link import new_client
from farmwatch_edge.mqtt_link_settings import MqttLinkSettings
from farmwatch_edge.validation import InvalidConfig, Secret, validate


@pytest.mark.parametrize("url", ["http://broker", "mqtt://", "broker:1883"])
def test_bad_urls_are_refused_by_both(url: str) -> None:
    with pytest.raises(ValueError, match="must look like"):
        core_parse(url)
    with pytest.raises(InvalidConfig, match=r"^url: MQTT URL .* must look like"):
        validate(MqttLinkSettings, {"url": url})


def test_the_same_keys_and_defaults_as_the_server_settings() -> None:
    server = MqttSettings()
    edge = MqttLinkSettings()
    assert set(MqttSettings.model_fields) == set(MqttLinkSettings.__struct_fields__)
    for key in MqttSettings.model_fields:
        assert getattr(edge, key) == getattr(server, key), key
    body = {
        "url": "mqtts://broker:8883",
        "username": "n1",
        "password": "pw",
        "topic_prefix": "/farms/",
        "ca_file": "/etc/ssl/ca.pem",
        "keepalive_s": 60,
    }
    server = MqttSettings.model_validate(body)
    edge = validate(MqttLinkSettings, body)
    assert edge.topic_prefix == server.topic_prefix == "farms"
    assert edge.ca_file == server.ca_file
    assert edge.password is not None
    assert server.password is not None
    assert edge.password.get_secret_value() == server.password.get_secret_value()
    for bad in ({"keepalive_s": 4}, {"topic_prefix": "a+b"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            MqttSettings.model_validate(bad)
        with pytest.raises(InvalidConfig, match=f"^{next(iter(bad))}: "):
            validate(MqttLinkSettings, bad)


def test_the_password_does_not_show() -> None:
    config = validate(
        EdgeConfig, {"farm_id": "f", "node_id": "n", "mqtt": {"password": "s3cret-pw"}}
    )
    assert config.mqtt.password == Secret("s3cret-pw")
    assert "s3cret-pw" not in repr(config)


def test_the_client_gets_login_and_tls_from_the_settings() -> None:
    settings = validate(
        MqttLinkSettings, {"url": "mqtts://u:urlpw@broker.example", "password": "pw"}
    )
    client, address = new_client(settings, "fw-edge-f-n")
    assert (address.host, address.port, address.tls) == ("broker.example", 8883, True)
    assert client.username == "u"
    assert client.password == "pw"  # the settings' password wins over the URL's
    context = client._ssl_context  # paho exposes no getter
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
