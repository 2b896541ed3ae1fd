"""Production refuses missing and default secrets (farmwatch_core.production).

The rules are checked as a table, then on real service processes: every farmwatch service the
compose stack runs exits with code 2 and one message naming every problem (never the value),
and starts normally once its secrets come from a secrets directory, as compose mounts them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from farmwatch_core.production import (
    Needs,
    ProductionConfigError,
    check_production,
    problem_with,
    production_problems,
    secret_file_problems,
)
from farmwatch_core.settings import FarmwatchSettings, InfluxSettings, MqttSettings, load_settings
from pydantic import SecretStr
from support.waiting import eventually

from farmwatch.broker import MosquittoProcess

ROOT = Path(__file__).resolve().parents[2]
GOOD = "q7Vd-2Lx9_pWm4Tz8RkY"  # what deploy/make-secrets.sh makes (shorter)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "is missing"),
        ("", "is missing"),
        ("   \n", "is missing"),
        ("admin", "known default"),
        ("ChangeMe", "known default"),
        ("changeme\n", "known default"),  # a secret file's trailing newline changes nothing
        ("change-me-before-going-live", "known default"),
        ("REPLACE_WITH_YOUR_TOKEN", "known default"),
        ("my-super-secret-auth-token", "known default"),  # InfluxDB docs' example token
        ("Farmwatch", "known default"),
        ("k8Dq2mZ1", "shorter than 16"),
        (GOOD, None),
    ],
)
def test_secret_rules(value: str | None, expected: str | None) -> None:
    problem = problem_with("x.password", value)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        assert expected in problem
        assert problem.startswith("x.password ")
        if value and value.strip():
            assert value.strip() not in problem  # the message never quotes the secret


def test_optional_secrets_may_be_absent_but_not_default() -> None:
    assert problem_with("alerting channel hook bearer_token", None, required=False) is None
    assert problem_with("alerting channel hook bearer_token", "changeme", required=False)


def test_what_each_service_needs() -> None:
    bare = FarmwatchSettings(env="production", influx=InfluxSettings(url="http://influxdb:8086"))
    everything = production_problems(bare)
    assert any(p.startswith("mqtt.username is missing") for p in everything)
    assert "mqtt.password is missing" in everything
    assert any(p.startswith("InfluxDB credentials are missing") for p in everything)
    assert not any("mqtt" in p for p in production_problems(bare, Needs(mqtt=False)))
    assert not any("InfluxDB" in p for p in production_problems(bare, Needs(influx=False)))
    # SQLite (no influx.url): nothing to authenticate to.
    assert production_problems(FarmwatchSettings(), Needs(mqtt=False)) == []


def test_good_settings_pass_and_weak_ones_are_named() -> None:
    good = FarmwatchSettings(
        env="production",
        mqtt=MqttSettings(
            url="mqtt://mosquitto:1883", username="farmwatch-ingest", password=SecretStr(GOOD)
        ),
        influx=InfluxSettings(
            url="https://influxdb:8086", username="farmwatch", password=SecretStr(GOOD)
        ),
    )
    assert production_problems(good) == []
    check_production(good, "ingest")  # does not raise
    in_url = FarmwatchSettings(mqtt=MqttSettings(url=f"mqtt://farmwatch-ingest:{GOOD}@broker:1883"))
    assert production_problems(in_url, Needs(influx=False)) == []
    weak = good.model_copy(
        update={
            "influx": good.influx.model_copy(update={"username": "admin", "verify_tls": False}),
        }
    )
    problems = production_problems(weak)
    assert any("administrator account" in p for p in problems)
    assert any("verify_tls is off" in p for p in problems)


def test_outside_production_nothing_is_checked() -> None:
    check_production(FarmwatchSettings(), "ingest")  # the embedded defaults: no error
    with pytest.raises(ProductionConfigError, match=r"(?s)ingest refuses.*mqtt.password"):
        check_production(FarmwatchSettings(env="production"), "ingest")


def test_secret_files_are_checked_by_the_same_rules(tmp_path: Path) -> None:
    (tmp_path / "grafana_admin_password").write_text("admin\n")
    (tmp_path / "influx__password").write_text(GOOD + "\n")
    problems = secret_file_problems(tmp_path)
    assert len(problems) == 1
    assert "grafana_admin_password" in problems[0]
    assert "known default" in problems[0]
    assert secret_file_problems(tmp_path, ["influx__password"]) == []
    missing = secret_file_problems(tmp_path, ["mqtt__password"])
    assert missing == [f"secret file {tmp_path / 'mqtt__password'} is missing"]


def test_nested_secret_files_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """compose mounts secrets as files named like the nested keys (settings.py)."""
    (tmp_path / "mqtt__password").write_text(GOOD + "\n")
    (tmp_path / "influx__password").write_text("db-" + GOOD)
    (tmp_path / "grafana_admin_password").write_text("not a farmwatch setting")
    monkeypatch.setenv("FARMWATCH_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("FARMWATCH_ENV", "production")
    settings = load_settings()
    assert settings.env == "production"
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == GOOD
    assert settings.influx.password is not None
    assert settings.influx.password.get_secret_value() == "db-" + GOOD
    # The environment still wins over a file.
    monkeypatch.setenv("FARMWATCH_MQTT__PASSWORD", "from-env-" + GOOD)
    again = load_settings()
    assert again.mqtt.password is not None
    assert again.mqtt.password.get_secret_value() == "from-env-" + GOOD


# -- real processes ---------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FARMWATCH_")}
    return {**env, "FARMWATCH_ENV": "production", **extra}


def _alerting_yaml(folder: Path, token: str) -> Path:
    path = folder / "alerting.yaml"
    path.write_text(
        "routing:\n"
        "  receivers: [{name: hook, contacts: [{channel: hook, to: coop}]}]\n"
        "  route: {receiver: hook}\n"
        "channels:\n"
        "  - {name: hook, type: webhook, url: 'https://example.vn/hook',\n"
        f"     bearer_token: {token}}}\n"
    )
    return path


DEFAULT_SECRETS = {"FARMWATCH_MQTT__PASSWORD": "changeme", "FARMWATCH_INFLUX__PASSWORD": "admin"}
SERVICES = {
    "ingest": ["ingest", "--client-id", "prod-test"],
    "api": ["api", "--api-port", "0"],
    "analytics": ["analytics", "run", "--client-id", "prod-test"],
    "alerting": ["alerting", "run", "--api-port", "0"],
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_refuses_default_secrets_at_start(service: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "farmwatch", *SERVICES[service]]
    data = tmp_path / "data"
    command += ["--data-dir", str(data), "--registry", str(ROOT / "deploy/registry.yaml")]
    command += ["--mqtt-url", "mqtt://127.0.0.1:9", "--influx-url", "http://127.0.0.1:9"]
    env = _env(
        FARMWATCH_MQTT__USERNAME="farmwatch-" + service,
        FARMWATCH_INFLUX__USERNAME="farmwatch",
    )
    env.update(DEFAULT_SECRETS)
    if service == "alerting":
        env["FARMWATCH_ALERTING__CONFIG"] = str(_alerting_yaml(tmp_path, "changeme-token"))
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{service} refuses to start in production" in done.stderr
    wants_mqtt = service != "api"
    wants_influx = service != "analytics"
    assert ("mqtt.password is a known default" in done.stderr) == wants_mqtt
    assert ("influx.password is a known default" in done.stderr) == wants_influx
    if service == "alerting":
        assert "alerting channel hook bearer_token is a known default" in done.stderr
    assert "changeme" not in done.stderr.replace("known default", "")
    assert not data.exists()  # it stopped before opening or creating anything


@pytest.mark.mosquitto
def test_a_service_with_proper_secrets_files_starts(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "mqtt__password").write_text(GOOD + "\n")
    env = _env(
        FARMWATCH_SECRETS_DIR=str(secrets),
        FARMWATCH_MQTT__USERNAME="farmwatch-analytics",
        FARMWATCH_MQTT__URL=mosquitto.url,  # the test broker lets anyone in
        FARMWATCH_MQTT__TOPIC_PREFIX="prod-ok",
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "analytics.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "farmwatch", "analytics", "run", "--client-id", "prod-ok",
             "--data-dir", str(tmp_path), "--registry", str(ROOT / "deploy/registry.yaml")],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        eventually(lambda: "\nanalytics: " in "\n" + log.read_text(), timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    output = log.read_text()
    assert process.returncode == 0, output
    assert "refuses to start" not in output
    assert GOOD not in output


def test_production_check_command(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "influx__password").write_text(GOOD)
    (secrets / "grafana_admin_password").write_text("admin")
    command = [sys.executable, "-m", "farmwatch", "production", "check", "--influx-url",
               "http://influxdb:8086"]  # fmt: skip
    env = _env(FARMWATCH_SECRETS_DIR=str(secrets), FARMWATCH_INFLUX__USERNAME="farmwatch")
    refused = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert "grafana_admin_password is a known default" in refused.stderr
    (secrets / "grafana_admin_password").write_text("g-" + GOOD)
    passed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert passed.returncode == 0, passed.stderr
