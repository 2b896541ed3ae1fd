"""All farmwatch configuration, in one place.

Precedence, highest first: command-line options (passed as overrides), environment variables
``FARMWATCH_*`` (nested keys with ``__``, e.g. ``FARMWATCH_MQTT__URL``), the TOML file named by
``--config`` or ``FARMWATCH_CONFIG``, secrets files in ``FARMWATCH_SECRETS_DIR``
(``influx__token``...), then the defaults below. Nothing is read at import time: call
:func:`load_settings` in a ``main()``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from farmwatch_core.mqtt_settings import MqttSettings

__all__ = [
    "ApiSettings",
    "FarmwatchSettings",
    "InfluxSettings",
    "IngestSettings",
    "MqttSettings",
    "load_settings",
]


class InfluxSettings(BaseModel):
    """InfluxDB through its v1 HTTP API (1.x natively; 2.x and 3.x via their v1 compatibility)."""

    url: str | None = None
    database: str = "farmwatch"
    retention_policy: str | None = None
    token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    create_database: bool = True
    # https:// only: trust this CA (PEM) besides the system's, e.g. a cooperative's own CA.
    ca_file: Path | None = None
    # https:// only: False turns certificate checks off (never in production: refused there).
    verify_tls: bool = True


class IngestSettings(BaseModel):
    client_id: str = "farmwatch-ingest"
    shared_group: str | None = None
    # Worker processes sharing one subscription (`farmwatch ingest --workers N`); see README.
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    # Messages per store write. influxd's CPU per point falls with bigger writes (2.14 / 1.64 /
    # 1.40 CPU s per 100k points at 100 / 500 / 2,000 per write, bench/ingest_profile.py); the
    # broker's max_inflight_messages (1,000 in deploy/mosquitto) bounds a batch anyway, since
    # nothing is acknowledged before its write. 500 -> 1,000 took bench/ingest.py's ratio to the
    # ceiling from 0.78-0.81 to 0.83-0.86 (README).
    batch_max_messages: Annotated[int, Field(ge=1, le=10_000)] = 1000
    batch_linger_s: Annotated[float, Field(ge=0, le=10)] = 0.05
    max_message_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024
    max_future_s: Annotated[float, Field(ge=0)] = 300.0
    max_past_days: Annotated[float, Field(gt=0)] = 180.0
    auto_register: bool = False
    # Readings the store cannot take (database down) wait on disk, bounded; oldest dropped first.
    spool_max_mb: Annotated[float, Field(gt=0)] = 512.0
    replay_batch_records: Annotated[int, Field(ge=1)] = 5000


class ApiSettings(BaseModel):
    """The HTTP API's address and access control (docs/api.md).

    ``auth``: ``auto`` (default) requires a token as soon as one exists, and without any token
    serves openly only on a loopback address (the ``farmwatch up`` demo) — on any other address
    it refuses to start; ``required`` always asks for a token; ``off`` never does and is
    refused on a non-loopback address too (a proxy in front gets a token of its own).
    Rate limits apply per client IP and per process to the public endpoints (ack links, SMS
    replies, login) and to failed token checks.
    """

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    auth: Literal["auto", "required", "off"] = "auto"
    tokens_file: Path | None = None  # default: <data_dir>/api-tokens.db
    public_per_minute: Annotated[float, Field(gt=0)] = 30.0
    public_burst: Annotated[int, Field(ge=1)] = 10
    auth_failures_per_minute: Annotated[float, Field(gt=0)] = 10.0
    auth_failure_burst: Annotated[int, Field(ge=1)] = 10
    login_days: Annotated[int, Field(ge=1, le=400)] = 90  # how long the page's login cookie lasts


class AlertingSettings(BaseModel):
    """Where the alerting rules, routing and channels are, and where ack links point."""

    config: Path | None = None  # alerting.yaml; none: profile rules, alerts on MQTT only
    public_url: str | None = None  # base of the ack links in messages (default: the API's)
    tick_s: Annotated[float, Field(gt=0, le=60)] = 1.0


def _secrets_source(file_secret_settings: PydanticBaseSettingsSource) -> PydanticBaseSettingsSource:
    """Files in ``FARMWATCH_SECRETS_DIR`` named like the nested keys (``influx__token``,
    ``mqtt__password``), as compose ``secrets:`` mounts them in ``/run/secrets``.

    pydantic-settings' default secrets source knows only top-level fields (a file
    ``farmwatch_influx`` holding JSON), so nested names need its NestedSecretsSettingsSource.
    The directory is looked up when settings are built, not at import; a named directory that
    does not exist is an error, not a silent fallback to defaults.
    """
    folder = os.environ.get("FARMWATCH_SECRETS_DIR") or None
    return NestedSecretsSettingsSource(
        file_secret_settings, secrets_dir=folder, secrets_prefix="", secrets_dir_missing="error"
    )


class FarmwatchSettings(BaseSettings):
    """Settings shared by every farmwatch service."""

    model_config = SettingsConfigDict(
        env_prefix="FARMWATCH_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _secrets_source(file_secret_settings))

    # FARMWATCH_ENV=production: services refuse to start with missing or default secrets
    # (farmwatch_core.production); docker-compose sets it.
    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    registry: Path | None = None
    sqlite_path: Path | None = None
    mqtt: MqttSettings = MqttSettings()
    influx: InfluxSettings = InfluxSettings()
    ingest: IngestSettings = IngestSettings()
    api: ApiSettings = ApiSettings()
    alerting: AlertingSettings = AlertingSettings()

    @property
    def registry_path(self) -> Path:
        return self.registry or self.data_dir / "registry.yaml"

    @property
    def sqlite_file(self) -> Path:
        return self.sqlite_path or self.data_dir / "farmwatch.db"

    @property
    def dead_letter_file(self) -> Path:
        return self.data_dir / "dead-letters.db"

    @property
    def alerting_dir(self) -> Path:
        """Where the alerting service keeps its alert store and notification outbox."""
        return self.data_dir / "alerting"

    @property
    def spool_file(self) -> Path:
        return self.data_dir / "spool.db"


def load_settings(config_file: Path | None = None, **overrides: Any) -> FarmwatchSettings:
    """Build settings from every source; ``overrides`` are command-line values (may be nested)."""
    path_text = str(config_file) if config_file else os.environ.get("FARMWATCH_CONFIG")
    clean = {k: v for k, v in overrides.items() if v is not None}
    if not path_text:
        return FarmwatchSettings(**clean)
    path = Path(path_text)
    if not path.is_file():
        raise FileNotFoundError(
            f"config file {path} does not exist (from --config/FARMWATCH_CONFIG)"
        )

    class FromFile(FarmwatchSettings):
        model_config = SettingsConfigDict(toml_file=path)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (
                init_settings,
                env_settings,
                TomlConfigSettingsSource(settings_cls),
                _secrets_source(file_secret_settings),
            )

    return FromFile(**clean)
