"""The registry from a spreadsheet: how a cooperative's lists (Excel or CSV) become the registry.

A workbook has up to three sheets, each with a header row naming its columns in English or in
the cooperatives' Vietnamese:

* **farms** (the sheet named ``farms``/``trại``, else the first sheet; a CSV file): one row per
  farm — ``id`` (``mã trại``), ``name``, ``model``, ``cooperative``, ``owner``, ``commune``,
  ``district``, ``lat``, ``lon``, ``area_ha``, ``growing_area_code``, ``certifications``,
  ``contacts`` and ``nodes`` (the last three separated by ``;``), ``model_farm`` (yes/no,
  có/không, 1/0);
* **contacts** (``contacts``/``liên hệ``; ``--contacts FILE.csv``): ``id``, ``name``, ``phone``,
  ``email``, ``language`` (vi/en), ``channels`` (``sms;zalo``), ``timezone``, and ``farms``
  (``;``): the farms that should tell this person;
* **nodes** (``nodes``/``nút đo``; ``--nodes FILE.csv``): ``farm``, ``node``, ``profile``,
  ``sensors`` (``;``), ``description`` — a node's details, replacing a bare ID from the farms
  sheet.

Each row is checked on its own, and every problem is reported with its sheet, row number and
column (``contacts row 3, phone: String should match pattern ...``; the farms sheet's errors
read ``row 4, lat: ...``); the good rows are not thrown away because of a bad one, but nothing is
written until every row is right, so a half-imported list never reaches the services. Imported
farms and contacts replace registry entries with the same ID; the rest of the registry stays.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from farmwatch_core.registry import Contact, Deployment, Farm, Node, RegistryError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

__all__ = ["ImportResult", "import_farms", "import_registry", "read_rows"]

_FARM_ALIASES = {
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
    "liên hệ": "contacts",
}  # fmt: skip
_CONTACT_ALIASES = {
    "mã": "id", "mã liên hệ": "id", "contact_id": "id",
    "họ tên": "name", "tên": "name", "ho ten": "name",
    "điện thoại": "phone", "số điện thoại": "phone", "sđt": "phone", "dien thoai": "phone",
    "ngôn ngữ": "language", "kênh": "channels", "kênh nhận": "channels",
    "múi giờ": "timezone", "trại": "farms", "các trại": "farms",
}  # fmt: skip
_NODE_ALIASES = {
    "mã trại": "farm", "trại": "farm", "farm_id": "farm",
    "mã nút": "node", "nút": "node", "nút đo": "node", "node_id": "node", "id": "node",
    "hồ sơ": "profile", "loại nút": "profile",
    "cảm biến": "sensors", "mô tả": "description",
}  # fmt: skip
_SHEETS = {
    "farms": {"farms", "trại", "trang trại", "trai"},
    "contacts": {"contacts", "liên hệ", "lien he"},
    "nodes": {"nodes", "nút đo", "nut do"},
}
_TRUE = {"yes", "y", "true", "1", "có", "co", "x"}
_FALSE = {"no", "n", "false", "0", "không", "khong", ""}


@dataclass(slots=True)
class ImportResult:
    farms: list[Farm] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    nodes: int = 0  # node rows applied from the nodes sheet
    errors: list[str] = field(default_factory=list)  # "row 4, lat: ..." in the sheet's numbering


def _sheet_kind(title: str) -> str | None:
    name = title.strip().lower()
    return next((kind for kind, names in _SHEETS.items() if name in names), None)


def read_rows(
    path: Path, sheet: str = "farms", aliases: Mapping[str, str] | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number as the spreadsheet shows it, cells by column name) for each data row.

    ``sheet`` picks a workbook's sheet by kind (``farms`` is also the first sheet when no sheet
    has a farms name); a CSV file is that one sheet.
    """
    names = _FARM_ALIASES if aliases is None else aliases
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        try:  # a read-only workbook keeps its file open until closed
            found = [ws for ws in book.worksheets if _sheet_kind(ws.title) == sheet]
            if not found and sheet == "farms" and _sheet_kind(book.worksheets[0].title) is None:
                found = [book.worksheets[0]]
            if not found:
                return
            rows = iter(found[0].iter_rows(values_only=True))
            header = [_column(c, names) for c in next(rows, ())]
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
        header = [_column(c, names) for c in next(reader, [])]
        for number, values in enumerate(reader, start=2):
            cells = {h: v.strip() for h, v in zip(header, values, strict=False)}
            if any(cells.values()):
                yield number, cells


def _column(name: object, aliases: Mapping[str, str]) -> str:
    text = str(name or "").strip().lower()
    return aliases.get(text, text)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


def _farm(cells: Mapping[str, str]) -> dict[str, Any]:
    """A row's cells as the registry's farm fields (type errors are left to the model)."""
    data: dict[str, Any] = {
        k: v for k, v in cells.items() if v and k in Farm.model_fields and k != "nodes"
    }
    if cells.get("lat") or cells.get("lon"):
        data["location"] = {"lat": cells.get("lat", ""), "lon": cells.get("lon", "")}
    for key in ("certifications", "contacts"):
        if cells.get(key):
            data[key] = _split(cells[key])
    if cells.get("nodes"):
        data["nodes"] = [{"id": part} for part in _split(cells["nodes"])]
    flag = cells.get("model_farm", "").strip().lower()
    if flag in _TRUE:
        data["model_farm"] = True
    elif flag in _FALSE:
        data.pop("model_farm", None)
    else:
        data["model_farm"] = flag  # the model says why it is not a yes or no
    return data


def _errors(where: str, exc: ValidationError, rename: Mapping[str, str]) -> list[str]:
    found = []
    for error in exc.errors():
        place = ".".join(str(p) for p in error["loc"]) or "row"
        place = rename.get(place, place)
        message = error["msg"].removeprefix("Value error, ")
        found.append(f"{where}, {place}: {message}")
    return found


def _validate(
    model: type[M], data: dict[str, Any], where: str, result: ImportResult,
    rename: Mapping[str, str] | None = None,
) -> M | None:  # fmt: skip
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        result.errors.extend(_errors(where, exc, rename or {}))
        return None


def _unknown(cells: Mapping[str, str], known: set[str], where: str, result: ImportResult) -> bool:
    unknown = sorted(k for k in cells if k and k not in known)
    if unknown:
        result.errors.append(f"{where}: unknown columns {unknown}")
    return bool(unknown)


def _read_farms(path: Path, result: ImportResult) -> dict[str, int]:
    """Farms into ``result``; returns each good farm's row number."""
    known = set(Farm.model_fields) | {"lat", "lon"}
    seen: dict[str, int] = {}
    rename = {"location.lat": "lat", "location.lon": "lon"}
    for number, cells in read_rows(path, "farms"):
        where = f"row {number}"
        if _unknown(cells, known, where, result):
            continue
        farm = _validate(Farm, _farm(cells), where, result, rename)
        if farm is None:
            continue
        if farm.id in seen:
            result.errors.append(f"{where}, id: {farm.id!r} is also on row {seen[farm.id]}")
            continue
        seen[farm.id] = number
        result.farms.append(farm)
    return seen


def _read_contacts(path: Path, result: ImportResult) -> dict[str, list[tuple[str, str]]]:
    """Contacts into ``result``; returns the farms each contact asked to be linked to."""
    known = set(Contact.model_fields) | {"farms"}
    links: dict[str, list[tuple[str, str]]] = {}
    seen: dict[str, int] = {}
    for number, cells in read_rows(path, "contacts", _CONTACT_ALIASES):
        where = f"contacts row {number}"
        if _unknown(cells, known, where, result):
            continue
        data: dict[str, Any] = {k: v for k, v in cells.items() if v and k in Contact.model_fields}
        if cells.get("channels"):
            data["channels"] = _split(cells["channels"])
        if "language" in data:
            data["language"] = data["language"].lower()
        contact = _validate(Contact, data, where, result)
        if contact is None:
            continue
        if contact.id in seen:
            result.errors.append(f"{where}, id: {contact.id!r} is also on row {seen[contact.id]}")
            continue
        seen[contact.id] = number
        result.contacts.append(contact)
        links[contact.id] = [(where, farm) for farm in _split(cells.get("farms", ""))]
    return links


def _read_nodes(path: Path, result: ImportResult) -> list[tuple[str, str, Node]]:
    """(where, farm ID, node) for each good row of the nodes sheet."""
    known = {"farm", *Node.model_fields, "node"} - {"id"}
    found: list[tuple[str, str, Node]] = []
    seen: dict[tuple[str, str], int] = {}
    for number, cells in read_rows(path, "nodes", _NODE_ALIASES):
        where = f"nodes row {number}"
        if _unknown(cells, known, where, result):
            continue
        data: dict[str, Any] = {k: v for k, v in cells.items() if v and k in Node.model_fields}
        data["id"] = cells.get("node", "")
        if cells.get("sensors"):
            data["sensors"] = _split(cells["sensors"])
        node = _validate(Node, data, where, result, {"id": "node"})
        farm = cells.get("farm", "")
        if not farm:
            result.errors.append(f"{where}, farm: the node's farm is missing")
            continue
        if node is None:
            continue
        if (farm, node.id) in seen:
            result.errors.append(
                f"{where}, node: {farm}/{node.id} is also on row {seen[(farm, node.id)]}"
            )
            continue
        seen[(farm, node.id)] = number
        found.append((where, farm, node))
    return found


def import_registry(
    path: Path,
    registry: Deployment,
    *,
    contacts: Path | None = None,
    nodes: Path | None = None,
) -> tuple[Deployment | None, ImportResult]:
    """Check every row of every sheet; the merged registry when all are right (``None`` and
    the errors if not). ``contacts``/``nodes`` are separate CSV files (a workbook's own sheets
    are read when they are not given)."""
    result = ImportResult()
    farm_rows = _read_farms(path, result)
    links = _read_contacts(contacts or path, result) if contacts or _is_book(path) else {}
    node_rows = _read_nodes(nodes or path, result) if nodes or _is_book(path) else []
    farms = {f.id: f for f in registry.farms}
    farms.update({f.id: f for f in result.farms})
    contact_ids = {c.id for c in registry.contacts} | {c.id for c in result.contacts}
    for farm in result.farms:
        result.errors.extend(
            f"row {farm_rows[farm.id]}, contacts: unknown contact {c!r} "
            "(not in the contacts sheet or the registry)"
            for c in farm.contacts
            if c not in contact_ids
        )
    updates: dict[str, dict[str, Any]] = {}

    def farm_update(farm_id: str) -> dict[str, Any]:
        if farm_id not in updates:
            updates[farm_id] = farms[farm_id].model_dump()
        return updates[farm_id]

    for contact_id, wanted in links.items():
        for where, farm_id in wanted:
            if farm_id not in farms:
                result.errors.append(f"{where}, farms: no farm {farm_id!r}")
                continue
            data = farm_update(farm_id)
            if contact_id not in data["contacts"]:
                data["contacts"] = (*data["contacts"], contact_id)
    for where, farm_id, node in node_rows:
        if farm_id not in farms:
            result.errors.append(f"{where}, farm: no farm {farm_id!r} in the sheet or registry")
            continue
        data = farm_update(farm_id)
        kept = [n for n in data["nodes"] if n["id"] != node.id]
        data["nodes"] = (*kept, node.model_dump())
        result.nodes += 1
    if result.errors:
        return None, result
    farms.update({farm_id: Farm.model_validate(data) for farm_id, data in updates.items()})
    imported_contacts = {c.id for c in result.contacts}
    merged_contacts = [c for c in registry.contacts if c.id not in imported_contacts]
    merged_contacts += result.contacts
    try:
        merged = Deployment.model_validate(
            {
                **registry.model_dump(),
                "farms": [f.model_dump() for f in farms.values()],
                "contacts": [c.model_dump() for c in merged_contacts],
            }
        )
    except (ValidationError, RegistryError) as exc:
        result.errors.append(f"{path.name}: {exc}")
        return None, result
    return merged, result


def _is_book(path: Path) -> bool:
    return path.suffix.lower() in {".xlsx", ".xlsm"}


def import_farms(path: Path, registry: Deployment) -> tuple[Deployment | None, ImportResult]:
    """:func:`import_registry` of one file (a workbook's contacts and nodes sheets included)."""
    return import_registry(path, registry)
