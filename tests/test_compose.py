"""docker-compose.yml can't run here (no Docker engine), so hold it to what can be checked: it
parses, mounts files that exist, every farmwatch service runs a command our CLI accepts (the
same commands the test suite runs on the host), and the production hardening is all there:
secrets from files made by deploy/make-secrets.sh and never in the environment, production
mode, health checks, restart policies, the broker's auth and ACL files, InfluxDB's init script.
tests/security/test_compose_stack.py runs the broker config and the secrets for real."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from farmwatch_core.registry import load_registry
from farmwatch_simulators.scenario import build_deployment

from farmwatch.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    return {m.split(":")[1]: m.split(":")[0] for m in service.get("volumes", [])}


def _settings_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_broker_uses_the_project_config_with_auth_on() -> None:
    """Production's broker file is the project's mosquitto.conf with only the auth lines
    changed, so the settings tests exercise (queues, persistence...) are production's."""
    mosquitto = _compose()["services"]["mosquitto"]
    mounts = _mounts(mosquitto)
    source = ROOT / mounts["/mosquitto/config/mosquitto.conf"]
    assert source.resolve() == (ROOT / "deploy/mosquitto/production.conf").resolve()
    production = _settings_lines(source.read_text())
    development = _settings_lines((ROOT / "deploy/mosquitto/mosquitto.conf").read_text())
    auth = ["allow_anonymous false", "password_file /mosquitto/auth/passwd",
            "acl_file /mosquitto/auth/acl"]  # fmt: skip
    assert [line for line in production if line not in auth] == [
        line for line in development if line != "allow_anonymous true"
    ]
    assert set(auth) <= set(production)
    assert "persistence_location /mosquitto/data/" in production
    assert "/mosquitto/data" in mounts
    assert (ROOT / mounts["/mosquitto/auth"]).resolve() == (ROOT / "deploy/mosquitto/auth")


def test_bind_mounts_exist_and_volumes_are_declared() -> None:
    compose = _compose()
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"
        for dependency in service.get("depends_on", {}):
            assert dependency in compose["services"]


FARMWATCH_SERVICES = ["preflight", "ingest", "api", "analytics", "alerting", "simulator"]
LONG_RUNNING = ["ingest", "api", "analytics", "alerting"]


@pytest.mark.parametrize("service", FARMWATCH_SERVICES)
def test_farmwatch_commands_parse(service: str) -> None:
    command = _compose()["services"][service]["command"]
    assert command[0] == "farmwatch"
    args = build_parser().parse_args(command[1:])
    assert callable(args.func)


def test_example_registry_is_the_compose_simulators_scenario() -> None:
    """The compose stack's ingest must know every node its simulator publishes for."""
    command = _compose()["services"]["simulator"]["command"]
    args = build_parser().parse_args(command[1:])
    expected = build_deployment(args.farms, seed=args.seed)
    assert load_registry(ROOT / "deploy" / "registry.yaml") == expected


def test_grafana_mounts_the_generated_provisioning_and_dashboards() -> None:
    grafana = _compose()["services"]["grafana"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in grafana["volumes"]}
    sources = mounts["/etc/grafana/provisioning/datasources"]
    assert list((ROOT / sources).glob("*.yaml")), "no data source provisioning"
    dashboards = ROOT / mounts["/var/lib/grafana/dashboards/farmwatch"]
    assert len(list(dashboards.glob("*.json"))) >= 10
    provider = (ROOT / mounts["/etc/grafana/provisioning/dashboards"]).glob("*.yaml")
    assert any("/var/lib/grafana/dashboards/farmwatch" in p.read_text() for p in provider)


def test_the_farmwatch_services_are_the_ones_checked_here() -> None:
    services = _compose()["services"]
    built = sorted(n for n, s in services.items() if s.get("image", "").startswith("farmwatch:"))
    assert built == sorted(FARMWATCH_SERVICES)


@pytest.mark.parametrize("service", FARMWATCH_SERVICES)
def test_farmwatch_services_run_in_production_mode_with_secrets_from_files(service: str) -> None:
    compose = _compose()
    spec = compose["services"][service]
    env = spec["environment"]
    assert env["FARMWATCH_ENV"] == "production"
    assert env["FARMWATCH_SECRETS_DIR"] == "/run/secrets"
    targets = {s if isinstance(s, str) else s["target"] for s in spec.get("secrets", [])}
    if "FARMWATCH_MQTT__USERNAME" in env:
        assert "mqtt__password" in targets, "an MQTT account needs its password file"
    if service not in ("preflight", "simulator", "analytics"):
        assert "influx__password" in targets  # they open the store
    if service != "preflight":
        assert spec["depends_on"]["preflight"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("service", [*LONG_RUNNING, "mosquitto", "influxdb", "grafana"])
def test_long_running_services_restart_and_have_health_checks(service: str) -> None:
    spec = _compose()["services"][service]
    assert spec["restart"] == "unless-stopped"
    test = spec["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    if test[:2] == ["CMD", "python"]:
        compile(test[3], f"{service} healthcheck", "exec")  # python -c CODE is valid Python
    assert spec["healthcheck"]["retries"] >= 3


def test_analytics_health_check_tells_a_fresh_state_file_from_a_stale_one(tmp_path: Path) -> None:
    """Run the health check's own code on the host against a fresh and a stale state file."""
    code = _compose()["services"]["analytics"]["healthcheck"]["test"][3]
    state = tmp_path / "analytics-state.pickle"
    state.write_bytes(b"")
    code = code.replace("/data/analytics-state.pickle", str(state))
    fresh = subprocess.run([sys.executable, "-c", code], check=False)
    os.utime(state, (time.time() - 3600, time.time() - 3600))
    stale = subprocess.run([sys.executable, "-c", code], check=False)
    assert (fresh.returncode, stale.returncode) == (0, 1)


def test_no_secret_is_in_an_environment_variable() -> None:
    """`docker inspect` shows environments to anyone with access to the Docker socket."""
    for name, spec in _compose()["services"].items():
        environment = spec.get("environment", {})
        for key, value in environment.items():
            secret_like = re.search(r"PASSWORD|TOKEN|SECRET(?!S_DIR)", key)
            if secret_like and not key.endswith("_FILE"):
                pytest.fail(f"{name}: {key}={value!r} puts a secret in the environment")
    assert not re.search(r"(?i)password|token|secret", _env_example_settings())


def _env_example_settings() -> str:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return "\n".join(line for line in lines if line and not line.startswith("#"))


def test_every_variable_the_file_uses_is_in_env_example() -> None:
    used = set(
        re.findall(r"\$\{([A-Z_]+)(?::-[^}]*)?\}", (ROOT / "docker-compose.yml").read_text())
    )
    documented = {line.split("=", 1)[0] for line in _env_example_settings().splitlines()}
    assert used == documented


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What deploy/make-secrets.sh writes, run once on the host as an operator would."""
    return _make_secrets(tmp_path_factory.mktemp("deploy"))


def test_secrets_are_declared_and_made_by_the_script(made: Path) -> None:
    compose = _compose()
    declared = compose["secrets"]
    for name, spec in compose["services"].items():
        for secret in spec.get("secrets", []):
            source = secret if isinstance(secret, str) else secret["source"]
            assert source in declared, f"{name} uses undeclared secret {source}"
    assert all(d["file"] == f"./deploy/secrets/{n}" for n, d in declared.items())
    assert "/secrets/" in (ROOT / "deploy/.gitignore").read_text().split()
    assert sorted(p.name for p in (made / "secrets").iterdir()) == sorted(declared)
    # The preflight checks every secret the stack has but the simulator's (a demo profile).
    assert sorted(compose["services"]["preflight"]["secrets"]) == sorted(
        n for n in declared if n != "mqtt_simulator_password"
    )


def test_every_mqtt_account_of_the_stack_is_in_the_broker_files(made: Path) -> None:
    users = {line.split(":", 1)[0] for line in (made / "mosquitto/auth/passwd").read_text().split()}
    for name, spec in _compose()["services"].items():
        username = spec.get("environment", {}).get("FARMWATCH_MQTT__USERNAME")
        if username:
            assert username in users, name
            (password_secret,) = [
                s["source"] for s in spec["secrets"]
                if isinstance(s, dict) and s["target"] == "mqtt__password"
            ]  # fmt: skip
            assert password_secret == f"mqtt_{username.removeprefix('farmwatch-')}_password"


def _make_secrets(folder: Path) -> Path:
    env = {**os.environ, "FARMWATCH_DEPLOY": str(folder), "FARMWATCH": _farmwatch_command()}
    subprocess.run(
        ["bash", str(ROOT / "deploy/make-secrets.sh")], env=env, check=True, capture_output=True
    )
    return folder


def _farmwatch_command() -> str:
    return str(Path(sys.executable).with_name("farmwatch"))


def test_influxdb_runs_the_init_script_with_the_secrets_it_reads() -> None:
    influxdb = _compose()["services"]["influxdb"]
    assert influxdb["image"].startswith("influxdb:2.")
    mounts = _mounts(influxdb)
    folder = ROOT / mounts["/docker-entrypoint-initdb.d"]
    scripts = sorted(folder.glob("*.sh"))
    assert scripts, "no init script"
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script} must be executable (the image skips it)"
        subprocess.run(["bash", "-n", str(script)], check=True)
        text = script.read_text()
        assert "influx v1 dbrp create" in text
        assert "influx v1 auth create" in text
        for secret in re.findall(r"\$\{secrets\}/(\w+)", text):
            assert secret in influxdb["secrets"], secret
    env = influxdb["environment"]
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for key in ("DOCKER_INFLUXDB_INIT_PASSWORD_FILE", "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN_FILE"):
        assert env[key].removeprefix("/run/secrets/") in influxdb["secrets"]
    # The services' v1 user is the one the init script creates.
    assert "--username farmwatch " in scripts[0].read_text()
    assert _compose()["services"]["ingest"]["environment"]["FARMWATCH_INFLUX__USERNAME"] == (
        "farmwatch"
    )


def test_grafana_admin_password_and_influx_token_come_from_files() -> None:
    grafana = _compose()["services"]["grafana"]
    env = grafana["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    token_dir = "/var/lib/farmwatch-grafana"
    assert f"{token_dir}/token" in grafana["entrypoint"][-1]
    assert _mounts(grafana)[token_dir] == _mounts(_compose()["services"]["influxdb"])[token_dir]
