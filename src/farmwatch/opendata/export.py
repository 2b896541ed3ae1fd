"""``farmwatch opendata export``: entities and readings as files a platform can load as is.

The output directory gets:

* ``entities.jsonld``: a JSON array of NGSI-LD entities (AgriFarm, AgriParcel, AgriGreenhouse,
  Device), each with its ``@context``;
* ``--format ngsi-ld`` (default): ``observations.jsonld``, the ``WaterQualityObserved``
  entities of every water-quality record in the period;
* ``--format senml``: ``readings.senml.json``, one SenML pack (RFC 8428) of every raw reading,
  ``bn`` switching per node;
* ``manifest.json``: period, counts, contexts and the vendored schema versions.

Readings are read one node-day at a time and written as they come (as in
``farmwatch.exports``), so a year of a hundred nodes needs no more memory than a day of one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

from farmwatch_core.contract import Record
from farmwatch_core.contract.senml import encode_senml
from farmwatch_core.registry import Farm
from farmwatch_ingest.stores.base import LatestReading

from farmwatch.exports import CHUNK, RecordSource
from farmwatch.opendata.ngsi import (
    CONTEXT,
    DEFAULT_NAMESPACE,
    Entity,
    entity_id,
    farm_entities,
    iso,
    water_quality_observed,
)

__all__ = ["Format", "OpenDataExport", "export_opendata", "last_reported", "node_records"]

Format = Literal["ngsi-ld", "senml"]
Check = Callable[[Entity], list[str]]


@dataclass
class OpenDataExport:
    """What an export wrote."""

    out: Path
    entities: int = 0
    observations: int = 0
    records: int = 0
    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # from ``check``: first 20 shown
    invalid: int = 0  # entities ``check`` found problems in

    def checked(self, entity: Entity, check: Check | None) -> None:
        if check is None:
            return
        problems = check(entity)
        if problems:
            self.invalid += 1
            self.problems.extend(problems[: max(0, 20 - len(self.problems))])


class JsonArrayWriter:
    """A JSON array written one item at a time (valid JSON at close, never held in memory)."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self._first = True
        handle.write("[")

    def add(self, item: Any) -> None:
        self._handle.write("\n" if self._first else ",\n")
        self._handle.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")))
        self._first = False

    def close(self) -> None:
        self._handle.write("\n]\n")


def last_reported(latest: Iterable[LatestReading]) -> dict[str, datetime]:
    """Node id → the time of its newest reading, from a store's latest readings."""
    found: dict[str, datetime] = {}
    for reading in latest:
        if reading.node_id not in found or reading.ts > found[reading.node_id]:
            found[reading.node_id] = reading.ts
    return found


def node_records(
    store: RecordSource, farm_id: str, node_id: str, start: datetime, end: datetime
) -> Iterator[Record]:
    """A node's records in [start, end), one store query per day."""
    day = start
    while day < end:
        upto = min(day + CHUNK, end)
        yield from store.records(farm_id, node_id, day, upto)
        day = upto


def export_opendata(
    store: RecordSource,
    farms: Sequence[Farm],
    start: datetime,
    end: datetime,
    out: Path,
    fmt: Format = "ngsi-ld",
    *,
    namespace: str = DEFAULT_NAMESPACE,
    progress: Callable[[int], None] | None = None,
    check: Check | None = None,
    latest: Callable[[str], Sequence[LatestReading]] | None = None,
) -> OpenDataExport:
    """Write the farms' entities and their readings in [start, end) under ``out``; ``check``
    (e.g. :func:`farmwatch.opendata.validate.validate_entity`) sees every entity written;
    ``latest`` (the store's, by farm) dates each Device's ``dateLastValueReported``."""
    if fmt not in ("ngsi-ld", "senml"):
        raise ValueError(f"format {fmt!r}: ngsi-ld or senml")
    out.mkdir(parents=True, exist_ok=True)
    result = OpenDataExport(out)
    entities_path = out / "entities.jsonld"
    with entities_path.open("w", encoding="utf-8") as handle:
        writer = JsonArrayWriter(handle)
        for farm in farms:
            reported = last_reported(latest(farm.id)) if latest is not None else None
            for entity in farm_entities(farm, namespace=namespace, last_reported=reported):
                result.checked(entity, check)
                writer.add(entity)
                result.entities += 1
        writer.close()
    result.files.append(entities_path)
    name = "observations.jsonld" if fmt == "ngsi-ld" else "readings.senml.json"
    readings_path = out / name
    with readings_path.open("w", encoding="utf-8") as handle:
        writer = JsonArrayWriter(handle)
        for farm in farms:
            for node in farm.nodes:
                for item in _node_items(store, farm, node.id, start, end, fmt, namespace, result):
                    if fmt == "ngsi-ld":
                        result.checked(item, check)
                    writer.add(item)
                    if progress is not None and result.records % 10_000 == 0:
                        progress(result.records)
        writer.close()
    result.files.append(readings_path)
    manifest = out / "manifest.json"
    manifest.write_text(
        json.dumps(_manifest(result, farms, start, end, fmt, namespace), indent=2) + "\n",
        encoding="utf-8",
    )
    result.files.append(manifest)
    return result


def _node_items(
    store: RecordSource,
    farm: Farm,
    node_id: str,
    start: datetime,
    end: datetime,
    fmt: Format,
    namespace: str,
    result: OpenDataExport,
) -> Iterator[Entity | dict[str, object]]:
    base = entity_id("Device", farm.id, node_id, namespace=namespace) + ":"
    first = True
    for record in node_records(store, farm.id, node_id, start, end):
        result.records += 1
        if fmt == "senml":
            entries = encode_senml([record], base)
            if not first:  # the node's base name once, at its first record
                entries[0].pop("bn", None)
            first = False
            yield from entries
            continue
        entity = water_quality_observed(farm, node_id, record, namespace=namespace)
        if entity is not None:
            result.observations += 1
            yield entity


def _manifest(
    result: OpenDataExport,
    farms: Sequence[Farm],
    start: datetime,
    end: datetime,
    fmt: Format,
    namespace: str,
) -> dict[str, Any]:
    from farmwatch.opendata.validate import SCHEMA_FILES, SCHEMAS_DIR

    versions = {}
    for relative in SCHEMA_FILES.values():
        schema = json.loads((SCHEMAS_DIR / relative).read_text(encoding="utf-8"))
        versions[relative] = schema.get("$schemaVersion")
    return {
        "generator": "farmwatch opendata export",
        "format": fmt,
        "namespace": namespace,
        "start": iso(start),
        "end": iso(end),
        "farms": [f.id for f in farms],
        "entities": result.entities,
        "observations": result.observations,
        "records": result.records,
        "files": [p.name for p in result.files],
        "@context": list(CONTEXT),
        "schemas": versions,
        "licence": "data: as agreed with the data owners; schemas: Smart Data Models, CC-BY-4.0",
    }
