"""Farms from a spreadsheet: how a cooperative's farm list (Excel or CSV) becomes the registry.

One row per farm, with a header row naming the columns (English names, or the Vietnamese ones
the cooperatives use — ``mã trại``, ``tên trại``, ``mô hình``...): ``id``, ``name``, ``model``,
``cooperative``, ``owner``, ``commune``, ``district``, ``lat``, ``lon``, ``area_ha``,
``growing_area_code``, ``certifications`` and ``nodes`` (both separated by ``;``),
``model_farm`` (yes/no, có/không, 1/0). Each row is checked on its own: every problem is
reported with its row number and column, and the good rows are not thrown away because of a bad
one — but nothing is written until every row is right, so a half-imported list never reaches the
services. Imported farms replace registry farms with the same ID; the rest of the registry stays.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farmwatch_core.registry import Deployment, Farm, RegistryError
from pydantic import ValidationError

__all__ = ["ImportResult", "import_farms", "read_rows"]

_ALIASES = {
    "mã trại": "id", "ma trai": "id", "farm_id": "id",
    "tên trại": "name", "ten trai": "name",
    "mô hình": "model", "mo hinh": "model",
    "htx": "cooperative", "hợp tác xã": "cooperative",
    "chủ hộ": "owner", "chu ho": "owner",
    "xã": "commune", "huyện": "district",
    "vĩ độ": "lat", "kinh độ": "lon",
    "diện tích (ha)": "area_ha", "diện tích": "area_ha",
    "mã vùng trồng": "growing_area_code", "ma vung trong": "growing_area_code",
    "chứng nhận": "certifications", "nút đo": "nodes", "mô hình điểm": "model_farm",
}  # fmt: skip
_TRUE = {"yes", "y", "true", "1", "có", "co", "x"}
_FALSE = {"no", "n", "false", "0", "không", "khong", ""}


@dataclass(slots=True)
class ImportResult:
    farms: list[Farm] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "row 4, lat: ..." in the sheet's numbering


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number as the spreadsheet shows it, cells by column name) for each data row."""
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        try:  # a read-only workbook keeps its file open until closed
            rows = iter(book.worksheets[0].iter_rows(values_only=True))
            header = [_column(c) for c in next(rows, ())]
            for number, values in enumerate(rows, start=2):
                pairs = zip(header, values, strict=False)
                cells = {h: "" if v is None else str(v).strip() for h, v in pairs}
                if any(cells.values()):
                    yield number, cells
        finally:
            book.close()
        return
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [_column(c) for c in next(reader, [])]
        for number, values in enumerate(reader, start=2):
            cells = {h: v.strip() for h, v in zip(header, values, strict=False)}
            if any(cells.values()):
                yield number, cells


def _column(name: object) -> str:
    text = str(name or "").strip().lower()
    return _ALIASES.get(text, text)


def _farm(cells: Mapping[str, str]) -> dict[str, Any]:
    """A row's cells as the registry's farm fields (type errors are left to the model)."""
    data: dict[str, Any] = {
        k: v for k, v in cells.items() if v and k in Farm.model_fields and k != "nodes"
    }
    if cells.get("lat") or cells.get("lon"):
        data["location"] = {"lat": cells.get("lat", ""), "lon": cells.get("lon", "")}
    for key in ("certifications", "contacts"):
        if cells.get(key):
            data[key] = [part.strip() for part in cells[key].split(";") if part.strip()]
    if cells.get("nodes"):
        data["nodes"] = [{"id": part.strip()} for part in cells["nodes"].split(";") if part.strip()]
    flag = cells.get("model_farm", "").strip().lower()
    if flag in _TRUE:
        data["model_farm"] = True
    elif flag in _FALSE:
        data.pop("model_farm", None)
    else:
        data["model_farm"] = flag  # the model says why it is not a yes or no
    return data


def import_farms(path: Path, registry: Deployment) -> tuple[Deployment | None, ImportResult]:
    """Check every row; the merged registry when all are right (``None`` and the errors if not)."""
    result = ImportResult()
    known = set(Farm.model_fields) | {"lat", "lon"}
    seen: dict[str, int] = {}
    for number, cells in read_rows(path):
        unknown = sorted(k for k in cells if k and k not in known)
        if unknown:
            result.errors.append(f"row {number}: unknown columns {unknown}")
            continue
        try:
            farm = Farm.model_validate(_farm(cells))
        except ValidationError as exc:
            for error in exc.errors():
                place = ".".join(str(p) for p in error["loc"]) or "row"
                place = {"location.lat": "lat", "location.lon": "lon"}.get(place, place)
                message = error["msg"].removeprefix("Value error, ")
                result.errors.append(f"row {number}, {place}: {message}")
            continue
        if farm.id in seen:
            result.errors.append(f"row {number}, id: {farm.id!r} is also on row {seen[farm.id]}")
            continue
        seen[farm.id] = number
        result.farms.append(farm)
    if result.errors:
        return None, result
    imported = {farm.id for farm in result.farms}
    farms = [f for f in registry.farms if f.id not in imported] + result.farms
    try:
        merged = Deployment.model_validate(
            {**registry.model_dump(), "farms": [f.model_dump() for f in farms]}
        )
    except (ValidationError, RegistryError) as exc:
        result.errors.append(f"{path.name}: {exc}")
        return None, result
    return merged, result
