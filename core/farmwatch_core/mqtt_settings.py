"""MQTT connection settings, in a module of their own.

Why not in :mod:`farmwatch_core.settings` only: that module needs pydantic-settings for the
server's environment/TOML loading, which costs ~13 MB of RSS at import. The edge agent on a
Pi Zero needs only this model, so it imports it from here; ``farmwatch_core.settings``
re-exports the same class, so every other import keeps working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator

from farmwatch_core.contract.topics import validate_prefix


class MqttSettings(BaseModel):
    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: SecretStr | None = None
    topic_prefix: str = ""
    ca_file: Path | None = None
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return validate_prefix(value)
