"""Validation of exported entities against the vendored Smart Data Models JSON Schemas.

The schemas (``schemas/``, see its README for origin and licence) ``$ref`` each other by their
published URLs (``https://smart-data-models.github.io/data-models/common-schema.json#...``).
Nothing is fetched: a :mod:`referencing` registry maps every such URL to the vendored file at
load time, so the files stay byte-for-byte as published and validation works offline.

The schemas describe an entity's *key-values* form, so a normalized entity is validated as
:func:`~farmwatch.opendata.ngsi.key_values` of it, and its NGSI-LD shape is checked by
:func:`~farmwatch.opendata.ngsi.normalized_problems`. Each schema is checked with the draft it
declares: 2020-12 for ``https://json-schema.org/draft/2020-12/schema``; the older files say
only ``http://json-schema.org/schema#`` ("the latest draft" when they were written) and use
draft-07 constructs such as ``"items": [...]``, so they get Draft 7.

    >>> errors = validate_entity({"id": "urn:ngsi-ld:AgriFarm:hd:f1", "type": "AgriFarm",
    ...     "@context": [], "location": {"type": "GeoProperty",
    ...     "value": {"type": "Point", "coordinates": ["106.4", 20.9]}}})
    >>> print(*errors)
    AgriFarm urn:ngsi-ld:AgriFarm:hd:f1: location.coordinates[0]: '106.4' is not of type 'number'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7, DRAFT202012

from farmwatch.opendata.ngsi import key_values, normalized_problems

__all__ = ["SCHEMAS_DIR", "SCHEMA_FILES", "schema_problems", "validate_entity", "validator_for"]

SCHEMAS_DIR = Path(__file__).parent / "schemas"

# Published URL (as the schemas $ref them) → vendored file.
SCHEMA_FILES: Mapping[str, str] = {
    "https://smart-data-models.github.io/data-models/common-schema.json": (
        "data-models/common-schema.json"
    ),
    "https://smart-data-models.github.io/dataModel.Agrifood/agrifood-schema.json": (
        "dataModel.Agrifood/agrifood-schema.json"
    ),
    "https://smart-data-models.github.io/dataModel.Agrifood/AgriFarm/schema.json": (
        "dataModel.Agrifood/AgriFarm/schema.json"
    ),
    "https://smart-data-models.github.io/dataModel.Agrifood/AgriParcel/schema.json": (
        "dataModel.Agrifood/AgriParcel/schema.json"
    ),
    "https://smart-data-models.github.io/dataModel.Agrifood/AgriGreenhouse/schema.json": (
        "dataModel.Agrifood/AgriGreenhouse/schema.json"
    ),
    "https://smart-data-models.github.io/dataModel.WaterQuality/WaterQualityObserved/schema.json": (
        "dataModel.WaterQuality/WaterQualityObserved/schema.json"
    ),
    "https://smart-data-models.github.io/dataModel.Device/Device/schema.json": (
        "dataModel.Device/Device/schema.json"
    ),
    "https://smart-data-models.github.io/dataModel.Device/device-schema.json": (
        "dataModel.Device/device-schema.json"
    ),
}
_ENTITY_SCHEMAS = {
    "AgriFarm": "https://smart-data-models.github.io/dataModel.Agrifood/AgriFarm/schema.json",
    "AgriParcel": "https://smart-data-models.github.io/dataModel.Agrifood/AgriParcel/schema.json",
    "AgriGreenhouse": (
        "https://smart-data-models.github.io/dataModel.Agrifood/AgriGreenhouse/schema.json"
    ),
    "WaterQualityObserved": (
        "https://smart-data-models.github.io/dataModel.WaterQuality/WaterQualityObserved/schema.json"
    ),
    "Device": "https://smart-data-models.github.io/dataModel.Device/Device/schema.json",
}
_DRAFT_2020 = "https://json-schema.org/draft/2020-12/schema"


def _load(relative: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS_DIR / relative).read_text(encoding="utf-8"))
    return loaded


@cache
def _registry() -> Registry[Any]:
    resources = []
    for url, relative in SCHEMA_FILES.items():
        contents = _load(relative)
        spec = DRAFT202012 if contents.get("$schema") == _DRAFT_2020 else DRAFT7
        resources.append((url, spec.create_resource(contents)))
    return Registry().with_resources(resources)


@cache
def validator_for(entity_type: str) -> Validator:
    """The validator of a Smart Data Model's schema, its $refs resolved to the vendored files.

    Raises KeyError for a type farmwatch does not export.
    """
    url = _ENTITY_SCHEMAS[entity_type]
    schema = _load(SCHEMA_FILES[url])
    cls = Draft202012Validator if schema.get("$schema") == _DRAFT_2020 else Draft7Validator
    validator: Validator = cls(schema, registry=_registry(), format_checker=FormatChecker())
    return validator


def _place(error: ValidationError) -> str:
    place = ""
    for part in error.absolute_path:
        place += f"[{part}]" if isinstance(part, int) else (f".{part}" if place else str(part))
    return place or "(entity)"


def _deepest(error: ValidationError) -> ValidationError:
    """For ``oneOf``/``anyOf`` failures, the alternative's error that went deepest: "not valid
    under any of the given schemas" does not tell a technician what to fix."""
    while error.context:
        branches: dict[object, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        # The alternative that failed least (a Point with a bad coordinate fails the Point
        # branch once, and every other geometry branch on its type too), its deepest error.
        closest = min(branches.values(), key=lambda b: (len(b), -max(len(e.path) for e in b)))
        error = max(closest, key=lambda e: len(e.path))
    return error


def schema_problems(simple: Mapping[str, Any]) -> list[str]:
    """Every schema error of a key-values entity, each with its place (``location.value``)."""
    validator = validator_for(str(simple.get("type")))
    errors = [_deepest(e) for e in validator.iter_errors(dict(simple))]
    errors.sort(key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{_place(e)}: {e.message}" for e in errors]


def validate_entity(entity: Mapping[str, Any]) -> list[str]:
    """Every problem of a normalized entity (shape and schema), each prefixed with the entity's
    type and id so a batch's report can be read; empty when it is valid."""
    kind, eid = entity.get("type"), entity.get("id")
    if kind not in _ENTITY_SCHEMAS:
        return [f"{kind} {eid}: no vendored schema for type {kind!r}"]
    found = normalized_problems(entity) + schema_problems(key_values(entity))
    return [f"{kind} {eid}: {problem}" for problem in found]
