"""The committed Grafana files are what the code generates, and they are valid SDK models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from farmwatch_analytics.model_profiles import Limit
from farmwatch_core.contract.candidates import Severity
from farmwatch_core.registry import load_registry
from farmwatch_dashboards.build import build_dashboards, to_json
from farmwatch_dashboards.generate import generated_files, write_files
from farmwatch_dashboards.influxql import DATASOURCE_UID, InfluxQLQuery, register
from farmwatch_dashboards.limits import steps
from farmwatch_dashboards.provisioning import DASHBOARDS_DIR_IN_GRAFANA
from grafana_foundation_sdk.models.dashboard import Dashboard

from farmwatch.cli import main

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "dashboards" / "grafana"
REGISTRY = ROOT / "deploy" / "registry.yaml"


def test_committed_files_equal_the_generated_ones() -> None:
    expected = generated_files(load_registry(REGISTRY))
    committed = {
        str(p.relative_to(COMMITTED)): p.read_text(encoding="utf-8")
        for p in COMMITTED.rglob("*")
        if p.is_file()
    }
    stale = sorted(set(committed) - set(expected))
    assert not stale, f"files no longer generated: {stale}; delete them"
    for name, content in expected.items():
        assert committed.get(name) == content, (
            f"dashboards/grafana/{name} differs from the code's output: do not edit the JSON, "
            "edit dashboards/farmwatch_dashboards and run `farmwatch dashboards generate`"
        )


def test_cli_generate_writes_the_same_files(tmp_path: Path) -> None:
    assert (
        main(["dashboards", "generate", "--registry", str(REGISTRY), "--out", str(tmp_path)]) == 0
    )
    for name, content in generated_files(load_registry(REGISTRY)).items():
        assert (tmp_path / name).read_text(encoding="utf-8") == content


@pytest.mark.parametrize("name", sorted(build_dashboards(load_registry(REGISTRY))))
def test_dashboard_round_trips_through_the_sdk_model(name: str) -> None:
    """Parsed back by the SDK (panels, field config, variables, our InfluxQL targets) and
    serialised again, every dashboard is unchanged: nothing the SDK's model cannot hold."""
    register()
    text = (COMMITTED / "dashboards" / f"{name}.json").read_text(encoding="utf-8")
    model = Dashboard.from_json(json.loads(text))
    assert to_json(model) == text
    targets = [t for p in model.panels or [] for t in getattr(p, "targets", None) or []]
    assert targets
    assert all(isinstance(t, InfluxQLQuery) for t in targets)
    assert (model.uid or "").startswith("farmwatch-")
    assert model.title
    assert model.description


def test_every_dashboard_has_a_unique_uid() -> None:
    uids = [d.uid for d in build_dashboards(load_registry(REGISTRY)).values()]
    assert len(set(uids)) == len(uids) == 12  # 4 overviews + one per model type


def test_generate_is_deterministic(tmp_path: Path) -> None:
    deployment = load_registry(REGISTRY)
    first = [p.read_bytes() for p in write_files(deployment, tmp_path / "a")]
    second = [p.read_bytes() for p in write_files(deployment, tmp_path / "b")]
    assert first == second


def test_thresholds_follow_two_sided_limits() -> None:
    limits = [
        Limit(severity=Severity.WARNING, below=6.5, above=9.0, source="TCVN 13952:2024"),
        Limit(severity=Severity.CRITICAL, below=5.5, above=9.5, source="provincial level 2"),
    ]
    assert steps(limits) == [
        (None, "red"),
        (5.5, "orange"),
        (6.5, "green"),
        (9.0, "orange"),
        (9.5, "red"),
    ]


def test_provisioning_points_at_the_dashboards_data_source() -> None:
    files = generated_files(load_registry(REGISTRY))
    datasources = yaml.safe_load(files["provisioning/datasources/farmwatch.yaml"])["datasources"]
    (source,) = datasources
    assert source["uid"] == DATASOURCE_UID
    assert source["type"] == "influxdb"
    assert source["jsonData"]["version"] == "InfluxQL"
    # Values come from Grafana's environment, in the syntax Grafana documents ($VAR / ${VAR}).
    assert source["url"] == "${FARMWATCH_INFLUX_URL}"
    assert source["jsonData"]["dbName"] == "${FARMWATCH_INFLUX_DATABASE}"
    assert source["secureJsonData"]["httpHeaderValue1"] == "Token ${FARMWATCH_INFLUX_TOKEN}"
    (provider,) = yaml.safe_load(files["provisioning/dashboards/farmwatch.yaml"])["providers"]
    assert provider["options"]["path"] == DASHBOARDS_DIR_IN_GRAFANA
    sources = {
        json.dumps(t["datasource"], sort_keys=True)
        for name, text in files.items()
        if name.startswith("dashboards/")
        for p in json.loads(text)["panels"]
        for t in p.get("targets", [])
    }
    assert sources == {json.dumps({"type": "influxdb", "uid": DATASOURCE_UID}, sort_keys=True)}


def test_gazetteer_places_every_farm_with_a_location() -> None:
    deployment = load_registry(REGISTRY)
    places = json.loads(generated_files(deployment)["gazetteer/farmwatch-farms.json"])
    located = {f.id: f.location for f in deployment.farms if f.location is not None}
    assert {p["key"] for p in places} == set(located)
    for place in places:
        location = located[place["key"]]
        assert location is not None
        assert (place["latitude"], place["longitude"]) == (location.lat, location.lon)
