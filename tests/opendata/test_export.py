"""Open-data export: every exported entity validates against its vendored Smart Data Models
schema, a broken one fails with a readable place, and the SenML readings decode back to exactly
the stored records."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from farmwatch_core.contract import Record, TimeWindow
from farmwatch_core.contract.senml import decode_senml
from farmwatch_core.registry import Deployment, parse_registry
from farmwatch_ingest.stores.base import NodeRecord
from farmwatch_ingest.stores.sqlite import SqliteStore
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.scenarios import parse_scenario

from farmwatch.opendata.export import export_opendata
from farmwatch.opendata.ngsi import WATER_QUALITY, iso
from farmwatch.opendata.validate import validate_entity

START = datetime(2026, 10, 31, 17, tzinfo=UTC)
HOURS = 30  # crosses a day boundary: the export reads one node-day at a time
SCENARIO = f"""
name: opendata
seed: 5
start: {START.isoformat().replace("+00:00", "Z")}
duration: {HOURS}h
interval: 30m
farms:
  - {{model: aquaculture_pond, count: 2, nodes_per_farm: 2}}
  - {{model: rice_field, count: 1}}
  - {{model: orchard, count: 1}}
  - {{model: greenhouse, count: 1}}
  - {{model: pig_barn, count: 1}}
"""


@cache
def dataset(folder: str) -> tuple[Deployment, Path]:
    scenario = parse_scenario(SCENARIO, "opendata")
    path = Path(folder) / "farmwatch.db"
    store = SqliteStore(path)
    store.write([NodeRecord(f, n, r) for f, n, r in generate_dataset(scenario)])
    store.close()
    return scenario.deployment, path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Deployment, Path, Path]:
    folder = tmp_path_factory.mktemp("opendata")
    deployment, db = dataset(str(folder))
    store = SqliteStore(db)
    try:
        export_opendata(
            store, deployment.farms, START, START + timedelta(hours=HOURS), folder / "ngsi",
            latest=store.latest,
        )  # fmt: skip
        export_opendata(
            store, deployment.farms, START, START + timedelta(hours=HOURS), folder / "senml",
            "senml",
        )  # fmt: skip
    finally:
        store.close()
    return deployment, db, folder


def _load(path: Path) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _stored(db: Path, farm: str, node: str) -> list[Record]:
    store = SqliteStore(db)
    try:
        return store.records(farm, node, START, START + timedelta(hours=HOURS))
    finally:
        store.close()


def test_every_exported_entity_validates_against_its_schema(
    exported: tuple[Deployment, Path, Path],
) -> None:
    deployment, db, folder = exported
    entities = _load(folder / "ngsi" / "entities.jsonld")
    observations = _load(folder / "ngsi" / "observations.jsonld")
    problems = [p for e in entities + observations for p in validate_entity(e)]
    assert problems == []
    kinds = Counter(e["type"] for e in entities)
    nodes = sum(len(f.nodes) for f in deployment.farms)
    assert kinds == {
        "AgriFarm": len(deployment.farms), "AgriParcel": 3, "AgriGreenhouse": 1, "Device": nodes,
    }  # fmt: skip
    ids = [e["id"] for e in entities + observations]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("urn:ngsi-ld:") for i in ids)
    # One WaterQualityObserved per stored pond record, counted from the store, not the code.
    ponds = [f for f in deployment.farms if f.model.value == "aquaculture_pond"]
    expected = sum(
        1
        for farm in ponds
        for node in farm.nodes
        for record in _stored(db, farm.id, node.id)
        if set(record.readings) & set(WATER_QUALITY)
    )
    assert expected > 0
    assert Counter(e["type"] for e in observations) == {"WaterQualityObserved": expected}
    newest = max(r.ts for r in _stored(db, "pond-01", "pond-01-n1"))
    device = next(e for e in entities if e["id"] == "urn:ngsi-ld:Device:hd:pond-01:pond-01-n1")
    assert device["dateLastValueReported"]["value"] == iso(newest)
    first = observations[0]
    assert first["O2"]["unitCode"] == "M1"
    assert first["temperature"]["unitCode"] == "CEL"
    assert first["dateObserved"]["value"].endswith("Z")
    assert "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld" in first["@context"]
    manifest = json.loads((folder / "ngsi" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["observations"] == expected
    assert manifest["schemas"]["dataModel.Agrifood/AgriFarm/schema.json"] == "0.0.5"


def _parcel(folder: Path) -> dict[str, Any]:
    entities = _load(folder / "ngsi" / "entities.jsonld")
    return copy.deepcopy(next(e for e in entities if e["type"] == "AgriParcel"))


def test_a_broken_entity_fails_with_a_readable_place(
    exported: tuple[Deployment, Path, Path],
) -> None:
    _, _, folder = exported
    parcel = _parcel(folder)
    assert validate_entity(parcel) == []
    parcel["area"]["value"] = -5
    del parcel["hasAgriCrop"]
    parcel["location"]["value"]["coordinates"][0] = "106.4"
    problems = validate_entity(parcel)
    prefix = f"AgriParcel {parcel['id']}: "
    assert all(p.startswith(prefix) for p in problems)
    assert sorted(p.removeprefix(prefix) for p in problems) == [
        "(entity): 'hasAgriCrop' is a required property",
        "area: -5 is less than the minimum of 0",
        "location.coordinates[0]: '106.4' is not of type 'number'",
    ]
    observation = copy.deepcopy(_load(folder / "ngsi" / "observations.jsonld")[0])
    observation["pH"]["value"] = 15
    observation["O2"] = 4.6  # key-values where normalized is required
    observation["id"] = "pond-01"
    found = validate_entity(observation)
    assert "WaterQualityObserved pond-01: pH: 15 is greater than the maximum of 14" in found
    assert "WaterQualityObserved pond-01: O2: not an NGSI-LD attribute" in found
    assert "WaterQualityObserved pond-01: id: not a URN" in found


def _packs(pack: list[dict[str, Any]]) -> dict[str, list[list[dict[str, Any]]]]:
    """The export's one pack split per node (at each ``bn``) into packs of at most 100
    records, each starting with a base-only record naming the node, as a reader with a record
    limit would decode it."""
    records: dict[str, list[list[dict[str, Any]]]] = {}
    bn = ""
    for entry in pack:
        if "bn" in entry:
            bn = entry["bn"]
        if "bt" in entry:
            records.setdefault(bn, []).append([])
        records[bn][-1].append({k: v for k, v in entry.items() if k != "bn"})
    return {
        bn: [
            [{"bn": bn}, *(e for record in found[i : i + 100] for e in record)]
            for i in range(0, len(found), 100)
        ]
        for bn, found in records.items()
    }


def test_senml_readings_decode_back_to_the_stored_records(
    exported: tuple[Deployment, Path, Path],
) -> None:
    deployment, db, folder = exported
    pack = _load(folder / "senml" / "readings.senml.json")
    per_node = _packs(pack)
    now = START + timedelta(hours=HOURS)
    window = TimeWindow(max_past=timedelta(days=3650))
    checked = 0
    for farm in deployment.farms:
        for node in farm.nodes:
            bn = f"urn:ngsi-ld:Device:hd:{farm.id}:{node.id}:"
            decoded: list[Record] = []
            for chunk in per_node[bn]:
                message = decode_senml(json.dumps(chunk).encode(), now=now, window=window)
                assert message.rejections == []
                decoded += message.records
            stored = _stored(db, farm.id, node.id)
            assert len(decoded) == len(stored) > 0
            for got, want in zip(decoded, stored, strict=True):
                assert (got.ts, got.seq, got.synced) == (want.ts, want.seq, want.synced)
                assert got.readings == pytest.approx(dict(want.readings))
            checked += len(stored)
    assert checked == sum(1 for e in pack if "bt" in e)


def test_the_command_exports_and_validates(
    exported: tuple[Deployment, Path, Path], tmp_path: Path
) -> None:
    deployment, db, _ = exported
    registry = tmp_path / "registry.yaml"
    registry.write_text(deployment.to_yaml(), encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "farmwatch.db").write_bytes(db.read_bytes())
    out = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable, "-m", "farmwatch", "opendata", "export", "--farm", "pond-01",
            "--registry", str(registry), "--data-dir", str(tmp_path / "data"),
            "--start", "2026-11-01", "--end", "2026-11-02", "--out", str(out),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "WaterQualityObserved" in run.stdout
    entities = _load(out / "entities.jsonld")
    assert {e["type"] for e in entities} == {"AgriFarm", "Device"}
    assert _load(out / "observations.jsonld")


class _Synthetic:
    """A store of one reading a minute for any period, made on demand (no database): the
    export's memory, not the store's, is what is measured."""

    def records(self, farm_id: str, node_id: str, start: datetime, end: datetime) -> list[Record]:
        minutes = int((end - start).total_seconds() // 60)
        base = int((start - START).total_seconds() // 60)
        return [
            Record(start + timedelta(minutes=i), base + i, True,
                   {"dissolved_oxygen": 5.0 + (i % 7) / 10, "ph": 7.2, "water_temperature": 28.0})
            for i in range(minutes)
        ]  # fmt: skip


def _peak(days: int, out: Path) -> tuple[int, int]:
    farm = parse_registry("""
farms:
  - {id: pond-01, name: Ao, model: aquaculture_pond, location: {lat: 20.9, lon: 106.4},
     nodes: [{id: w1, sensors: [dissolved_oxygen, ph, water_temperature]}]}
""").farms[0]
    tracemalloc.start()
    try:
        done = export_opendata(_Synthetic(), [farm], START, START + timedelta(days=days), out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, done.observations


def test_memory_does_not_grow_with_the_period(tmp_path: Path) -> None:
    short, short_n = _peak(1, tmp_path / "short")
    long, long_n = _peak(8, tmp_path / "long")
    assert (short_n, long_n) == (1440, 8 * 1440)
    assert len(_load(tmp_path / "long" / "observations.jsonld")) == long_n
    assert long < short * 1.5, (short, long)  # a day's records at a time, whatever the period
