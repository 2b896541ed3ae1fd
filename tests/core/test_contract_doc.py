"""docs/contract.md is the human contract; it must list exactly the quantities and reasons the
code accepts and produces."""

from __future__ import annotations

import re
from pathlib import Path

from farmwatch_core.contract import QUANTITIES, Reason
from farmwatch_core.contract.derived import DERIVED

DOC = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text(encoding="utf-8")


def _table_rows(first_cell: str) -> dict[str, list[str]]:
    rows = {}
    for line in DOC.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 2 and re.fullmatch(r"`[a-z0-9_]+`", cells[0]):
            rows[cells[0].strip("`")] = cells
    assert first_cell
    return rows


def test_every_quantity_is_documented_with_its_unit_and_bounds() -> None:
    rows = _table_rows("quantity")
    for name, q in QUANTITIES.items():
        assert name in rows, f"{name} missing from docs/contract.md"
        assert rows[name][1] == f"`{q.unit}`"
        assert rows[name][3] == f"{q.low:g} … {q.high:g}"
    documented = {n for n, cells in rows.items() if len(cells) == 7}
    assert documented == set(QUANTITIES)


def test_every_reason_is_documented() -> None:
    rows = _table_rows("reason")
    assert {r.value for r in Reason} <= set(rows)


def test_every_derived_value_is_documented_with_its_unit_and_bounds() -> None:
    rows = _table_rows("name")
    for name, spec in DERIVED.items():
        if name.startswith("anomaly_"):
            continue  # one row documents the anomaly_{quantity} family
        assert name in rows, f"{name} missing from docs/contract.md"
        assert rows[name][1] == f"`{spec.unit}`"
        assert rows[name][2] == f"{spec.low:g} … {spec.high:g}"
