from __future__ import annotations

from pathlib import Path

import pytest
from farmwatch_core.mqtt import parse_mqtt_url
from farmwatch_core.settings import load_settings
from pydantic import ValidationError


def test_precedence_cli_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "farmwatch.toml"
    config.write_text(
        '[mqtt]\nurl = "mqtt://file:1883"\ntopic_prefix = "coop"\n'
        '[influx]\nurl = "http://file:8086"\ndatabase = "fromfile"\n'
    )
    monkeypatch.setenv("FARMWATCH_INFLUX__DATABASE", "fromenv")
    monkeypatch.setenv("FARMWATCH_INFLUX__TOKEN", "s3cret")
    settings = load_settings(config, mqtt={"url": "mqtt://cli:1883"})
    assert settings.mqtt.url == "mqtt://cli:1883"
    assert settings.mqtt.topic_prefix == "coop"  # file value kept beside the CLI override
    assert settings.influx.url == "http://file:8086"
    assert settings.influx.database == "fromenv"
    assert settings.influx.token is not None
    assert settings.influx.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text('data_dir = "/srv/farmwatch"\n')
    monkeypatch.setenv("FARMWATCH_CONFIG", str(config))
    settings = load_settings()
    assert settings.data_dir == Path("/srv/farmwatch")
    assert settings.sqlite_file == Path("/srv/farmwatch/farmwatch.db")


def test_invalid_values_fail_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FARMWATCH_INGEST__BATCH_MAX_MESSAGES", "0")
    with pytest.raises(ValidationError, match="batch_max_messages"):
        load_settings()
    monkeypatch.delenv("FARMWATCH_INGEST__BATCH_MAX_MESSAGES")
    with pytest.raises(ValidationError, match="topic prefix"):
        load_settings(mqtt={"topic_prefix": "a/+/b"})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_mqtt_urls() -> None:
    assert parse_mqtt_url("mqtt://u:p%40ss@h").password == "p@ss"
    with pytest.raises(ValueError, match="must look like"):
        parse_mqtt_url("http://h:1883")
