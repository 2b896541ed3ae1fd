"""Every panel's query, as Grafana would send it, returns data from a real influxd.

A simulator scenario (one farm of each model type, the last three days up to now) is run
through the analytics engine, and each record is written through farmwatch's InfluxDB store
with its derived values as more fields of the same point, exactly as ingest stores the
analytics channel. Then the dashboards are generated for the scenario's registry and each
target's InfluxQL is expanded (``$timeFilter`` → ``time >= now() - 24h`` from the dashboard's
range, ``$__interval``, the cooperative/farm/node variables → a real farm and node) and run.
A query without a single non-null value fails the test, naming the dashboard and panel.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from farmwatch_analytics.service import build_engine
from farmwatch_core.contract import Record
from farmwatch_core.contract.derived import derived_spec
from farmwatch_core.registry import Deployment, Farm, ModelType
from farmwatch_core.settings import InfluxSettings
from farmwatch_dashboards import queries
from farmwatch_dashboards.area_dashboards import gazetteer
from farmwatch_dashboards.build import build_dashboards
from farmwatch_dashboards.influxql import InfluxQLQuery
from farmwatch_dashboards.macros import expand
from farmwatch_dashboards.variables import cooperative_options
from farmwatch_ingest.stores.base import NodeRecord
from farmwatch_ingest.stores.influx import InfluxStore
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.scenarios import parse_scenario
from grafana_foundation_sdk.models.dashboard import Dashboard
from support.influxd import InfluxServer, unique_database

pytestmark = pytest.mark.influx

INTERVAL = timedelta(minutes=10)
SCENARIO = """
name: dashboards
seed: 5
start: {start}
end: {end}
interval: 10m
farms:
  - {{model: aquaculture_pond, nodes_per_farm: 1}}
  - {{model: pig_barn, nodes_per_farm: 2}}
  - {{model: poultry_house, nodes_per_farm: 1}}
  - {{model: greenhouse, nodes_per_farm: 1}}
  - {{model: rice_field, nodes_per_farm: 1}}
  - {{model: orchard, nodes_per_farm: 1}}
  - {{model: clean_water_station, nodes_per_farm: 1}}
  - {{model: effluent_station, nodes_per_farm: 1}}
"""
# Grafana's interval for the dashboards' default ranges (about 300-1000 points per chart).
GRAFANA_INTERVAL = {"now-24h": "5m", "now-7d": "30m"}


@dataclass(frozen=True)
class Filled:
    settings: InfluxSettings
    deployment: Deployment


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def filled(influxd: InfluxServer) -> Iterator[Filled]:
    now = datetime.now(UTC)
    end = now - (now - datetime(2000, 1, 1, tzinfo=UTC)) % INTERVAL
    scenario = parse_scenario(
        SCENARIO.format(start=_iso(end - timedelta(days=3)), end=_iso(end)), "dashboards"
    )
    engine = build_engine(scenario.deployment)
    batch: list[NodeRecord] = []
    for farm, node, record in generate_dataset(scenario):
        out = engine.process(farm, node, record.ts, record.readings)
        readings = dict(record.readings)
        for point in out.derived:  # what ingest stores from the analytics channel
            spec = derived_spec(point.name)
            if spec is not None and spec.low <= point.value <= spec.high:
                readings[point.name] = point.value
        batch.append(NodeRecord(farm, node, Record(record.ts, record.seq, record.synced, readings)))
    settings = InfluxSettings(url=influxd.url, database=unique_database("dash"), timeout_s=30.0)
    store = InfluxStore(settings)
    try:
        store.write(batch)
    finally:
        store.close()
    yield Filled(settings, scenario.deployment)
    influxd.query(f'DROP DATABASE "{settings.database}"')


def run(settings: InfluxSettings, query: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{settings.url}/query",
        params={"db": settings.database, "q": query, "epoch": "ms"},
        timeout=30.0,
    )
    response.raise_for_status()
    series: list[dict[str, Any]] = []
    for result in response.json().get("results", []):
        assert "error" not in result, f"InfluxDB refused {query!r}: {result['error']}"
        series.extend(result.get("series", []))
    return series


def has_values(series: list[dict[str, Any]]) -> bool:
    return any(
        value is not None
        for s in series
        for row in s.get("values", [])
        for value in row[1:] or row  # SHOW TAG VALUES rows have no time column
    )


def variables_for(deployment: Deployment, farm: Farm) -> dict[str, str]:
    coop = next(
        farms for _name, farms in cooperative_options(deployment) if farm.id in farms.split("|")
    )
    return {"cooperative": coop, "farm": farm.id, "node": farm.nodes[0].id}


def farm_for(deployment: Deployment, stem: str) -> list[Farm]:
    """The farms a dashboard is checked with: its model's farm, or every farm."""
    for model in ModelType:
        if stem == model.value.replace("_", "-"):
            return [f for f in deployment.farms if f.model == model][:1]
    return list(deployment.farms)


def test_every_panel_query_returns_data(filled: Filled) -> None:
    dashboards = build_dashboards(filled.deployment)
    empty: list[str] = []
    ran = 0
    for stem, dashboard in dashboards.items():
        assert isinstance(dashboard, Dashboard)
        time_from = dashboard.time.from_val if dashboard.time else "now-24h"
        for farm in farm_for(filled.deployment, stem):
            values = variables_for(filled.deployment, farm)
            for variable in dashboard.templating.list_val or []:
                query = variable.query
                if isinstance(query, str) and query.startswith("SHOW"):
                    q = expand(query, values, time_from=time_from)
                    ran += 1
                    rows = run(filled.settings, q)
                    wanted = values[variable.name]
                    if not any(wanted in row for s in rows for row in s.get("values", [])):
                        empty.append(f"{stem} / variable {variable.name} ({farm.id}): {q}")
            for panel in dashboard.panels or []:
                for target in getattr(panel, "targets", None) or []:
                    assert isinstance(target, InfluxQLQuery)
                    q = expand(
                        target.query,
                        values,
                        time_from=time_from,
                        interval=GRAFANA_INTERVAL[time_from],
                    )
                    ran += 1
                    if not has_values(run(filled.settings, q)):
                        title = getattr(panel, "title", "?")
                        empty.append(f"{stem} / {title} / {target.ref_id} ({farm.id}): {q}")
    assert ran > 100
    assert not empty, "queries without data:\n" + "\n".join(empty)


def test_map_query_names_farms_the_gazetteer_places(filled: Filled) -> None:
    """Geomap's lookup matches the query's farm column to the gazetteer's keys."""
    places = {p["key"] for p in gazetteer(filled.deployment)}
    q = expand(queries.online([queries.COOPERATIVE], by="farm"), {"cooperative": ".*"})
    farms = {s["tags"]["farm"] for s in run(filled.settings, q)}
    assert farms == places == {f.id for f in filled.deployment.farms}


def test_online_state_is_zero_for_a_node_that_fell_silent(influxd: InfluxServer) -> None:
    """The online query can fail: a node that stopped 2 h ago reads 0 (offline), one that
    reported 10 min ago reads more than 0, one silent for the whole range has no row."""
    settings = InfluxSettings(url=influxd.url, database=unique_database("online"), timeout_s=30.0)
    now = datetime.now(UTC)
    last_seen = {"live": now - timedelta(minutes=10), "silent": now - timedelta(hours=2)}
    batch = [
        NodeRecord("farm-a", node, Record(seen - i * INTERVAL, 1000 - i, True, {"rssi": -70.0}))
        for node, seen in last_seen.items()
        for i in range(30)
    ]
    batch.append(
        NodeRecord("farm-a", "gone", Record(now - timedelta(days=2), 1, True, {"rssi": -70.0}))
    )
    store = InfluxStore(settings)
    try:
        store.write(batch)
    finally:
        store.close()
    q = expand(queries.online([queries.FARM]), {"farm": "farm-a"}, time_from="now-24h")
    state = {s["tags"]["node"]: s["values"][-1][1] for s in run(settings, q)}
    influxd.query(f'DROP DATABASE "{settings.database}"')
    assert state["live"] > 0
    assert state["silent"] == 0
    assert "gone" not in state
