"""Channel configuration: inline YAML in, channels out, or one clear message at start-up."""

from __future__ import annotations

import pytest
import yaml
from farmwatch_alerting.channels import (
    AppriseChannel,
    EmailChannel,
    MqttChannel,
    WebhookChannel,
    ZaloChannel,
    build_channels,
    close_channels,
)
from farmwatch_alerting.channels.config import ChannelsConfig
from pydantic import ValidationError

FULL = """
channels:
  - {name: zalo, type: zalo, access_token: "oa-t0ken", template_id: "231456"}
  - name: email-coop
    type: email
    host: smtp.example.vn
    sender: canhbao@example.vn
    username: canhbao
    password: "mật khẩu"
  - {name: relay, type: email, host: 127.0.0.1, sender: a@b.vn, security: none}
  - {name: hook, type: webhook, url: "https://example.vn/hook", hmac_secret: "0123456789abcdef"}
  - {name: apps, type: mqtt, url: "mqtt://127.0.0.1:1883", topic_prefix: "site-a/"}
  - {name: telegram, type: apprise, urls: ["tgram://123456789:abcdefghijk/12345"]}
"""


def load(text: str) -> ChannelsConfig:
    return ChannelsConfig.model_validate(yaml.safe_load(text))


def test_every_type_builds() -> None:
    channels = build_channels(load(FULL))
    try:
        kinds = {name: type(channel) for name, channel in channels.items()}
        assert kinds == {
            "zalo": ZaloChannel,
            "email-coop": EmailChannel,
            "relay": EmailChannel,
            "hook": WebhookChannel,
            "apps": MqttChannel,
            "telegram": AppriseChannel,
        }
        email = channels["email-coop"]
        relay = channels["relay"]
        apps = channels["apps"]
        assert isinstance(email, EmailChannel)
        assert isinstance(relay, EmailChannel)
        assert isinstance(apps, MqttChannel)
        assert (email.port, email.security, email.password) == (587, "starttls", "mật khẩu")
        assert (relay.port, relay.security) == (25, "none")
        assert apps.settings.topic_prefix == "site-a"
    finally:
        close_channels(channels)


def test_secrets_stay_out_of_reprs() -> None:
    text = repr(load(FULL))
    for secret in ("oa-t0ken", "mật khẩu", "0123456789abcdef", "abcdefghijk"):
        assert secret not in text


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("channels: [{name: x, type: sms}]", "does not match any of the expected tags"),
        ("channels: [{name: x, type: zalo, template_id: '1'}]", "access_token"),
        ("channels: [{name: x, type: zalo, access_token: t, template_id: abc}]", "template_id"),
        ("channels: [{name: x, type: email, host: h, sender: nobody}]", "must be an e-mail"),
        (
            "channels: [{name: x, type: email, host: h, sender: a@b.vn, password: p}]",
            "a password needs a username",
        ),
        (
            "channels: [{name: x, type: email, host: h, sender: a@b.vn, ca_file: /nonexistent}]",
            "does not exist",
        ),
        ("channels: [{name: x, type: webhook, url: 'ftp://h/x'}]", "URL scheme"),
        ("channels: [{name: x, type: webhook, hmac_secret: short}]", "at least 16"),
        ("channels: [{name: x, type: mqtt, topic_prefix: 'a+b'}]", "topic prefix"),
        ("channels: [{name: x, type: mqtt, timeout_s: 0}]", "greater than 0"),
        ("channels: [{name: x, type: apprise, urls: []}]", "at least 1"),
        ("channels: [{name: x, type: apprise, urls: ['nope']}]", "scheme://"),
        ("channels: [{name: 'bad name', type: mqtt}]", "String should match pattern"),
        ("channels: [{name: x, type: mqtt, colour: red}]", "Extra inputs are not permitted"),
        ("channels: [{name: x, type: mqtt}, {name: x, type: mqtt}]", "two channels are named 'x'"),
    ],
)
def test_invalid_configuration_is_refused_with_a_clear_message(
    yaml_text: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        load(yaml_text)


def test_an_apprise_url_apprise_cannot_use_names_the_channel() -> None:
    config = load("channels: [{name: phones, type: apprise, urls: ['nosuch://x']}]")
    with pytest.raises(ValueError, match=r"channel 'phones' \(apprise\): Apprise cannot use"):
        build_channels(config)
