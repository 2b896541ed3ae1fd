"""A cooperative's farm list from Excel or CSV: good rows in, every bad cell named by row and
column, nothing written while any row is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from farmwatch_core.registry import load_registry, parse_registry
from openpyxl import Workbook

from farmwatch.cli import main
from farmwatch.registry_import import import_farms, import_registry

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
    assert "2 farms, 0 contacts and 0 node rows imported" in done.stdout
    assert len(load_registry(target).farms) == 2
    broken = tmp_path / "sai.csv"
    broken.write_text(lines[0] + "\nx y,Trại,pig_barn\n", encoding="utf-8")
    wrong = run(broken)
    assert wrong.returncode == 1
    assert "row 2, id:" in wrong.stderr
    assert len(load_registry(target).farms) == 2  # unchanged


CONTACTS = [
    ["mã", "họ tên", "điện thoại", "ngôn ngữ", "kênh", "trại"],
    ["huong", "Nguyễn Thị Hương", "+84912345678", "vi", "sms;zalo", "pond-01"],
    ["mark", "Mark Lee", "", "EN", "email", "pond-01;lychee-07"],
]
NODES = [
    ["mã trại", "mã nút", "hồ sơ", "cảm biến", "mô tả"],
    ["pond-01", "n1", "pond_water", "water_temperature;dissolved_oxygen;ph", "Ao 1"],
    ["pond-01", "n3", "pond_water", "dissolved_oxygen", ""],
    ["lychee-07", "s1", "orchard_soil", "soil_moisture;air_temperature", ""],
]


def workbook(path: Path, farms: list[list[str]], contacts: list[list[str]],
             nodes: list[list[str]]) -> Path:  # fmt: skip
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Trại"
    for row in [HEADER, *farms]:
        sheet.append(row)
    for title, rows in (("Liên hệ", contacts), ("Nút đo", nodes)):
        extra = book.create_sheet(title)
        for row in rows:
            extra.append(row)
    book.save(path)
    return path


def test_a_workbook_with_contacts_and_nodes_sheets(tmp_path: Path) -> None:
    merged, result = import_registry(
        workbook(tmp_path / "htx.xlsx", GOOD, CONTACTS, NODES), REGISTRY
    )
    assert result.errors == []
    assert merged is not None
    assert (len(result.farms), len(result.contacts), result.nodes) == (2, 2, 3)
    huong = next(c for c in merged.contacts if c.id == "huong")
    assert (huong.phone, huong.channels, huong.language) == ("+84912345678", ("sms", "zalo"), "vi")
    assert next(c for c in merged.contacts if c.id == "mark").language == "en"
    pond = merged.farm("pond-01")
    assert pond is not None
    assert pond.contacts == ("huong", "mark")
    nodes = {n.id: n for n in pond.nodes}
    assert list(nodes) == ["n2", "n1", "n3"]  # n1 detailed by the nodes sheet, n3 added
    assert nodes["n1"].sensors == ("water_temperature", "dissolved_oxygen", "ph")
    assert (nodes["n1"].profile, nodes["n1"].description) == ("pond_water", "Ao 1")
    assert nodes["n2"].sensors == ()  # only named on the farms sheet
    lychee = merged.farm("lychee-07")
    assert lychee is not None
    assert lychee.contacts == ("mark",)
    assert lychee.nodes[0].sensors == ("soil_moisture", "air_temperature")


def test_bad_contacts_and_nodes_rows_are_named_by_sheet_row_and_column(tmp_path: Path) -> None:
    contacts = [
        *CONTACTS,
        ["bad phone", "X", "call me", "vi", "", ""],  # id with a space, phone not a number
        ["huong", "Again", "", "fr", "", "nowhere"],  # duplicate, bad language, unknown farm
        ["ok", "Ok", "", "", "", "nowhere"],
    ]
    nodes = [
        *NODES,
        ["pond-01", "n9", "pond_water", "water_temperature;do2", ""],  # unknown quantity
        ["", "n10", "", "", ""],  # no farm
        ["ghost", "n1", "", "", ""],  # unknown farm
        ["pond-01", "n3", "", "", ""],  # same node twice
    ]
    farms = [[*GOOD[0][:-1], "n1"], GOOD[1]]
    book = workbook(tmp_path / "sai.xlsx", farms, contacts, nodes)
    merged, result = import_registry(book, REGISTRY)
    assert merged is None
    text = "\n".join(result.errors)
    assert "contacts row 4, id:" in text
    assert "contacts row 4, phone:" in text
    assert "contacts row 5, language:" in text
    assert "contacts row 6, farms: no farm 'nowhere'" in text
    assert "nodes row 5, sensors: unknown quantity 'do2'" in text
    assert "nodes row 6, farm: the node's farm is missing" in text
    assert "nodes row 7, farm: no farm 'ghost'" in text
    assert "nodes row 8, node: pond-01/n3 is also on row 3" in text
    # 8: row 5's duplicate ID is not checked once its language is wrong (one error per cell)
    assert len(result.errors) == 8, result.errors


def test_a_farm_naming_an_unknown_contact_is_refused_by_row(tmp_path: Path) -> None:
    header = [*HEADER, "liên hệ"]
    sheet = tmp_path / "trai.csv"
    rows = [[*GOOD[0], "huong"], [*GOOD[1], "nobody"]]
    sheet.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    contacts = tmp_path / "lien-he.csv"
    contacts.write_text("\n".join(",".join(r) for r in CONTACTS[:2]) + "\n", encoding="utf-8")
    merged, result = import_registry(sheet, REGISTRY, contacts=contacts)
    assert merged is None
    assert result.errors == [
        "row 3, contacts: unknown contact 'nobody' (not in the contacts sheet or the registry)"
    ]


def test_csv_contacts_and_nodes_through_the_cli_then_list_add_remove(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "registry.yaml"
    target.write_text(REGISTRY.to_yaml(), encoding="utf-8")
    files = {}
    for name, rows in (("farms", [HEADER, *GOOD]), ("contacts", CONTACTS), ("nodes", NODES)):
        files[name] = tmp_path / f"{name}.csv"
        files[name].write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    code = main(["registry", "import", str(files["farms"]), "--registry", str(target),
                 "--contacts", str(files["contacts"]), "--nodes", str(files["nodes"])])  # fmt: skip
    assert code == 0
    assert "2 farms, 2 contacts and 3 node rows imported" in capsys.readouterr().out
    assert main(["registry", "contacts", "list", "--registry", str(target)]) == 0
    out = capsys.readouterr().out
    assert "Nguyễn Thị Hương" in out
    assert "pond-01,lychee-07" in out
    assert main(["registry", "nodes", "list", "--registry", str(target), "--farm", "pond-01"]) == 0
    out = capsys.readouterr().out
    assert "water_temperature, dissolved_oxygen, ph" in out
    assert out.strip().endswith("3 nodes")
    add = ["registry", "farm", "add", "--registry", str(target), "--id", "pig-09", "--name",
           "Trại lợn", "--model", "pig_barn", "--cooperative", "htx-cg", "--model-farm",
           "--node", "b1"]  # fmt: skip
    assert main(add) == 0
    assert main(add) == 1  # already there
    bad = ["registry", "farm", "add", "--registry", str(target), "--id", "x-1", "--name", "X",
           "--model", "pig_barn", "--cooperative", "htx-none"]  # fmt: skip
    assert main(bad) == 1
    assert "unknown cooperative 'htx-none'" in capsys.readouterr().err
    assert main(["registry", "farms", "list", "--registry", str(target)]) == 0
    out = capsys.readouterr().out
    assert "pig-09" in out
    assert "3 farms" in out
    pig = load_registry(target).farm("pig-09")
    assert pig is not None
    assert (pig.model_farm, pig.cooperative, [n.id for n in pig.nodes]) == (True, "htx-cg", ["b1"])
    assert main(["registry", "farm", "remove", "--registry", str(target), "pig-09"]) == 0
    assert main(["registry", "farm", "remove", "--registry", str(target), "pig-09"]) == 1
    assert load_registry(target).farm("pig-09") is None
    assert len(load_registry(target).farms) == 2
