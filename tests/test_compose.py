"""docker-compose.yml can't run here (no Docker engine), so hold it to what can be checked: it
parses, mounts files that exist, and every farmwatch service runs a command our CLI accepts
(the same commands the test suite runs on the host)."""

from __future__ import annotations

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


def test_broker_uses_the_project_config_file() -> None:
    mosquitto = _compose()["services"]["mosquitto"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in mosquitto["volumes"]}
    source = mounts["/mosquitto/config/mosquitto.conf"]
    assert (ROOT / source).resolve() == (ROOT / "deploy/mosquitto/mosquitto.conf").resolve()
    assert "persistence_location /mosquitto/data/" in (ROOT / source).read_text()
    assert "/mosquitto/data" in mounts


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


@pytest.mark.parametrize("service", ["ingest", "api", "analytics", "alerting", "simulator"])
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
