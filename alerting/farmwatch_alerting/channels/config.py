"""Channel configuration: one pydantic model per channel type, validated at start-up.

A deployment lists its channels, each with a unique ``name`` (what routing's receivers and
:attr:`Notification.channel` refer to) and a ``type`` that picks the model (a discriminated
union, so a typo in ``type`` or a missing field is one clear message, not a crash at 3 a.m.)::

    channels:
      - {name: zalo, type: zalo, access_token: "...", template_id: "231456"}
      - {name: email-coop, type: email, host: smtp.example.vn, sender: canhbao@example.vn,
         username: canhbao, password: "..."}
      - {name: apps, type: mqtt, url: "mqtt://127.0.0.1:1883"}

Secrets are ``SecretStr`` (never printed in a repr or a log); they may come from the
environment or a secrets directory through the service's settings.

    >>> cfg = ChannelsConfig.model_validate({"channels": [
    ...     {"name": "hook", "type": "webhook", "url": "https://example.vn/hook",
    ...      "bearer_token": "t0ken"}]})
    >>> cfg.channels[0].bearer_token
    SecretStr('**********')
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from farmwatch_core.mqtt_settings import MqttSettings
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

__all__ = [
    "AppriseChannelConfig",
    "ChannelConfig",
    "ChannelsConfig",
    "EmailChannelConfig",
    "MqttChannelConfig",
    "WebhookChannelConfig",
    "ZaloChannelConfig",
]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Timeout = Annotated[float, Field(gt=0, le=300)]


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=_NAME)]


class EmailChannelConfig(_Channel):
    type: Literal["email"]
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] | None = None  # by security: 587, 465 or 25
    sender: Annotated[str, Field(min_length=3)]
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    timeout_s: Timeout = 15.0

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError(f"sender {value!r} must be an e-mail address")
        return value

    @model_validator(mode="after")
    def _login(self) -> EmailChannelConfig:
        if self.password is not None and not self.username:
            raise ValueError("a password needs a username")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"ca_file {self.ca_file} does not exist")
        return self


class WebhookChannelConfig(_Channel):
    type: Literal["webhook"]
    url: AnyHttpUrl | None = None  # None: each notification's `to` is the URL
    bearer_token: SecretStr | None = None
    hmac_secret: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: Timeout = 10.0

    @field_validator("hmac_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("hmac_secret must be at least 16 characters")
        return value


class MqttChannelConfig(MqttSettings, _Channel):
    """The broker settings of :class:`MqttSettings` (url, credentials, ``topic_prefix``...)."""

    type: Literal["mqtt"]
    timeout_s: Timeout = 10.0


class AppriseChannelConfig(_Channel):
    type: Literal["apprise"]
    urls: Annotated[list[SecretStr], Field(min_length=1)]  # Apprise URLs carry tokens
    short: bool | None = None  # None: short_text for SMS-sized services (body ≤ 160)
    timeout_s: Timeout = 30.0

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[SecretStr]) -> list[SecretStr]:
        for number, url in enumerate(value, 1):
            if "://" not in url.get_secret_value():
                raise ValueError(f"Apprise URL number {number} must look like scheme://...")
        return value


class ZaloChannelConfig(_Channel):
    type: Literal["zalo"]
    access_token: SecretStr
    template_id: Annotated[str, Field(pattern=r"^\d+$")]
    base_url: AnyHttpUrl = AnyHttpUrl("https://business.openapi.zalo.me")
    timeout_s: Timeout = 10.0


ChannelConfig = Annotated[
    EmailChannelConfig
    | WebhookChannelConfig
    | MqttChannelConfig
    | AppriseChannelConfig
    | ZaloChannelConfig,
    Field(discriminator="type"),
]


class ChannelsConfig(BaseModel):
    """Every channel of a deployment; names must be unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: list[ChannelConfig] = Field(default_factory=list)

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[ChannelConfig]) -> list[ChannelConfig]:
        seen: set[str] = set()
        for channel in value:
            if channel.name in seen:
                raise ValueError(f"two channels are named {channel.name!r}; names must be unique")
            seen.add(channel.name)
        return value
