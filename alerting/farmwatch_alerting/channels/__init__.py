"""Delivery channels: each sends one :class:`Notification` and says whether to retry.

:func:`build_channels` is the one place configuration becomes channel objects (no import-time
registration): the outbox looks a notification's channel up by name in what it returns.

    >>> from farmwatch_alerting.channels.config import ChannelsConfig
    >>> channels = build_channels(ChannelsConfig.model_validate({"channels": [
    ...     {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/h"}]}))
    >>> sorted(channels), type(channels["hook"]).__name__
    (['hook'], 'WebhookChannel')
    >>> close_channels(channels)
"""

from __future__ import annotations

from collections.abc import Mapping

from farmwatch_core.mqtt_settings import MqttSettings

from farmwatch_alerting.channels.apprise_channel import AppriseChannel
from farmwatch_alerting.channels.config import (
    AppriseChannelConfig,
    ChannelConfig,
    ChannelsConfig,
    EmailChannelConfig,
    MqttChannelConfig,
    WebhookChannelConfig,
    ZaloChannelConfig,
)
from farmwatch_alerting.channels.email import EmailChannel
from farmwatch_alerting.channels.http_results import RetryLater
from farmwatch_alerting.channels.mqtt import MqttChannel
from farmwatch_alerting.channels.webhook import WebhookChannel
from farmwatch_alerting.channels.zalo import ZaloChannel
from farmwatch_alerting.notification import Channel

__all__ = [
    "AppriseChannel",
    "ChannelsConfig",
    "EmailChannel",
    "MqttChannel",
    "RetryLater",
    "WebhookChannel",
    "ZaloChannel",
    "build_channel",
    "build_channels",
    "close_channels",
]


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return None if getter is None else str(getter())


def build_channel(config: ChannelConfig) -> Channel:
    """One channel from its configuration (raises ValueError for what only shows here)."""
    match config:
        case EmailChannelConfig():
            return EmailChannel(
                config.name,
                config.host,
                config.effective_port,
                config.sender,
                security=config.security,
                username=config.username,
                password=_secret(config.password),
                ca_file=config.ca_file,
                timeout_s=config.timeout_s,
            )
        case WebhookChannelConfig():
            return WebhookChannel(
                config.name,
                None if config.url is None else str(config.url),
                bearer_token=_secret(config.bearer_token),
                hmac_secret=_secret(config.hmac_secret),
                headers=config.headers,
                timeout_s=config.timeout_s,
            )
        case MqttChannelConfig():
            settings = MqttSettings.model_validate(
                config.model_dump(include=set(MqttSettings.model_fields))
            )
            return MqttChannel(config.name, settings, timeout_s=config.timeout_s)
        case AppriseChannelConfig():
            return AppriseChannel(
                config.name,
                [url.get_secret_value() for url in config.urls],
                short=config.short,
                timeout_s=config.timeout_s,
            )
        case ZaloChannelConfig():
            return ZaloChannel(
                config.name,
                config.access_token.get_secret_value(),
                config.template_id,
                base_url=str(config.base_url),
                timeout_s=config.timeout_s,
            )


def build_channels(config: ChannelsConfig) -> dict[str, Channel]:
    """Every configured channel by name; a channel that cannot be built stops the start-up."""
    channels: dict[str, Channel] = {}
    for entry in config.channels:
        try:
            channels[entry.name] = build_channel(entry)
        except ValueError as exc:
            close_channels(channels)
            raise ValueError(f"channel {entry.name!r} ({entry.type}): {exc}") from exc
    return channels


def close_channels(channels: Mapping[str, Channel]) -> None:
    """Close the channels that hold connections (HTTP clients); the others have nothing to."""
    for channel in channels.values():
        close = getattr(channel, "close", None)
        if callable(close):
            close()
