"""A cooperative's farm list from Excel or CSV: good rows in, every bad cell named by row and
column, nothing written while any row is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from farmwatch_core.registry import load_registry, parse_registry
from openpyxl import Workbook

from farmwatch.registry_import import import_farms

REGISTRY = parse_registry(
    """
cooperatives: [{id: htx-cg, name: HTX Cẩm Giàng}]
farms: [{id: pond-01, name: Ao cũ, model: aquaculture_pond, nodes: [{id: n1}]}]
"""
)
HEADER = ["mã trại", "tên trại", "mô hình", "htx", "vĩ độ", "kinh độ", "diện tích (ha)",
          "mã vùng trồng", "chứng nhận", "mô hình điểm", "nút đo"]  # fmt: skip
GOOD = [
    ["pond-01", "Ao cá bà Hương", "aquaculture_pond", "htx-cg", "20.98", "106.24", "2.1",
     "VN-HD-CG-001", "VietGAP", "có", "n1;n2"],
    ["lychee-07", "Vườn vải ông Sơn", "orchard", "", "20.91", "106.43", "", "VN-HD-TH-007",
     "", "không", "s1"],
]  # fmt: skip


def xlsx(path: Path, rows: list[list[str]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_an_excel_list_replaces_and_adds_farms(tmp_path: Path) -> None:
    merged, result = import_farms(xlsx(tmp_path / "trai.xlsx", GOOD), REGISTRY)
    assert result.errors == []
    assert merged is not None
    pond = merged.farm("pond-01")
    assert pond is not None
    assert (pond.name, pond.model_farm, pond.certifications) == (
        "Ao cá bà Hương",
        True,
        ("VietGAP",),
    )
    assert [n.id for n in pond.nodes] == ["n1", "n2"]
    assert pond.location is not None
    assert pond.location.lat == 20.98
    lychee = merged.farm("lychee-07")
    assert lychee is not None
    assert (lychee.model.value, lychee.growing_area_code, lychee.model_farm) == (
        "orchard",
        "VN-HD-TH-007",
        False,
    )


def test_every_bad_cell_is_named_and_nothing_is_imported(tmp_path: Path) -> None:
    bad = [
        GOOD[0],
        ["pig 02", "Trại lợn", "pig_barn", "", "", "", "", "", "", "", ""],  # id with a space
        ["gh-03", "Nhà màng", "greenhouse", "", "95", "106.1", "-1", "", "", "có lẽ", ""],
        ["pond-01", "Trùng", "aquaculture_pond", "", "", "", "", "", "", "", ""],
    ]
    merged, result = import_farms(xlsx(tmp_path / "sai.xlsx", bad), REGISTRY)
    assert merged is None
    text = "\n".join(result.errors)
    assert "row 3, id:" in text
    assert "row 4, lat:" in text
    assert "row 4, area_ha:" in text
    assert "row 4, model_farm:" in text
    assert "row 5, id: 'pond-01' is also on row 2" in text


def test_the_cli_imports_a_csv_or_says_what_is_wrong(tmp_path: Path) -> None:
    target = tmp_path / "registry.yaml"
    target.write_text(REGISTRY.to_yaml(), encoding="utf-8")
    sheet = tmp_path / "trai.csv"
    lines = [",".join(HEADER)] + [",".join(row) for row in GOOD]
    sheet.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "farmwatch", "registry", "import", str(path), "--registry",
             str(target)], capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    done = run(sheet)
    assert done.returncode == 0, done.stderr
    assert "2 farms imported" in done.stdout
    assert len(load_registry(target).farms) == 2
    broken = tmp_path / "sai.csv"
    broken.write_text(lines[0] + "\nx y,Trại,pig_barn\n", encoding="utf-8")
    wrong = run(broken)
    assert wrong.returncode == 1
    assert "row 2, id:" in wrong.stderr
    assert len(load_registry(target).farms) == 2  # unchanged
