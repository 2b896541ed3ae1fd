"""The registry through the HTTP API, on the served app with real tokens: every write reaches the
registry file (validated as a whole, replaced in one step) or changes nothing and says where the
problem is; a cooperative manages only its own farms. Who may call which route is proven for
every role by tests/security/test_api_authz.py; this file checks what the routes do."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from farmwatch_core.registry import load_registry
from openpyxl import Workbook
from support.api_world import GRANTS, World, api_world
from support.asgi import served

from farmwatch.cli import main
from farmwatch.registry_api import AUDIT_FILE

REG = "/api/v1/registry"
NEW_FARM: dict[str, Any] = {
    "id": "lychee-09",
    "name": "Vườn vải bà Chín",
    "model": "orchard",
    "cooperative": "coop-x",
    "district": "Thanh Hà",
    "commune": "Thanh Xuân",
    "location": {"lat": 20.88, "lon": 106.41},
    "area_ha": 1.5,
    "growing_area_code": "VN-HD-TH-009",
    "certifications": ["VietGAP"],
    "contacts": ["an"],
    "nodes": [{"id": "lychee-09-soil", "profile": "orchard_soil", "sensors": ["soil_moisture"]}],
}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[World, httpx.Client]]:
    with api_world(tmp_path) as w, served(w.app) as client:
        yield w, client


def audit(w: World) -> list[dict[str, Any]]:
    path = w.settings.data_dir / AUDIT_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_create_replace_delete_round_trip_through_the_file(
    world: tuple[World, httpx.Client],
) -> None:
    w, client = world
    admin = w.headers("admin")
    created = client.post(f"{REG}/farms", json=NEW_FARM, headers=admin)
    assert created.status_code == 201, created.text
    assert "restart" in created.json()["note"]
    on_disk = load_registry(w.registry_file).farm("lychee-09")
    assert on_disk is not None
    assert on_disk.model_dump(mode="json", exclude_defaults=True) == NEW_FARM
    assert client.get(f"{REG}/farms/lychee-09", headers=admin).json()["name"] == NEW_FARM["name"]
    nodes = client.get(f"{REG}/farms/lychee-09/nodes", headers=admin).json()
    assert [n["id"] for n in nodes] == ["lychee-09-soil"]

    replaced = {**NEW_FARM, "name": "Vườn vải bà Chín (mới)", "model_farm": True}
    del replaced["location"]  # a PUT replaces the whole farm: what is left out is cleared
    answer = client.put(f"{REG}/farms/lychee-09", json=replaced, headers=admin)
    assert answer.status_code == 200, answer.text
    on_disk = load_registry(w.registry_file).farm("lychee-09")
    assert on_disk is not None
    assert (on_disk.name, on_disk.model_farm, on_disk.location) == (replaced["name"], True, None)
    assert [f.id for f in load_registry(w.registry_file).farms][-1] == "lychee-09"  # in place

    assert client.delete(f"{REG}/farms/lychee-09", headers=admin).status_code == 200
    after = load_registry(w.registry_file)
    assert after.farm("lychee-09") is None
    assert [f.id for f in after.farms] == ["farm-a1", "farm-a2", "farm-b1", "farm-b2"]
    assert client.get(f"{REG}/farms/lychee-09", headers=admin).status_code == 404
    assert client.post(f"{REG}/farms", json=NEW_FARM, headers=admin).status_code == 201
    again = client.post(f"{REG}/farms", json=NEW_FARM, headers=admin)
    assert again.status_code == 409  # create does not overwrite
    # Every write is on record with the token's name.
    assert [(e["action"], e["farms"], e["by"]) for e in audit(w)] == [
        ("create", ["lychee-09"], GRANTS["admin"].name),
        ("replace", ["lychee-09"], GRANTS["admin"].name),
        ("delete", ["lychee-09"], GRANTS["admin"].name),
        ("create", ["lychee-09"], GRANTS["admin"].name),
    ]


def test_an_invalid_farm_is_refused_with_the_place_and_the_file_is_untouched(
    world: tuple[World, httpx.Client],
) -> None:
    w, client = world
    before = w.registry_file.read_bytes()
    bad = {**NEW_FARM, "location": {"lat": 120, "lon": 106.4}, "model": "spaceship"}
    answer = client.post(f"{REG}/farms", json=bad, headers=w.headers("admin"))
    assert answer.status_code == 422
    places = {p["place"]: p["message"] for p in answer.json()["problems"]}
    assert set(places) == {"location.lat", "model"}
    assert "less than or equal to 90" in places["location.lat"]
    # A reference the whole registry must resolve: named at the registry's top level.
    unknown = {**NEW_FARM, "contacts": ["nobody"]}
    answer = client.put(f"{REG}/farms/farm-a1", json=unknown, headers=w.headers("admin"))
    assert answer.status_code == 422
    assert answer.json()["problems"][0]["place"] == "id"  # lychee-09 sent to farm-a1's address
    answer = client.post(f"{REG}/farms", json=unknown, headers=w.headers("admin"))
    assert answer.status_code == 422
    assert answer.json()["problems"] == [
        {"place": "(top level)", "message": "farm 'lychee-09' names unknown contact 'nobody'"}
    ]
    assert w.registry_file.read_bytes() == before
    assert not (w.settings.data_dir / AUDIT_FILE).exists()


def workbook(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "trại"
    sheet.append(["mã trại", "tên trại", "mô hình", "htx", "huyện", "vĩ độ", "kinh độ", "nút đo"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_xlsx_upload_with_a_bad_row_is_refused_row_by_row(
    world: tuple[World, httpx.Client],
) -> None:
    w, client = world
    before = w.registry_file.read_bytes()
    good = ["pond-11", "Ao ông Mười", "aquaculture_pond", "coop-x", "Thanh Hà", 20.9, 106.4, "n1"]
    bad = ["pond-12", "Ao bà Mười Hai", "aquaculture_pond", "coop-x", "Thanh Hà", 200, 106.4, ""]
    sheet = workbook([good, bad])
    files = {"farms": ("trai-htx-x.xlsx", sheet, XLSX)}
    answer = client.post(f"{REG}/import", files=files, headers=w.headers("coop-x"))
    assert answer.status_code == 422
    problems = answer.json()["problems"]
    assert [p["place"] for p in problems] == ["row 3, lat"]
    assert "less than or equal to 90" in problems[0]["message"]
    assert w.registry_file.read_bytes() == before  # the good row is not written alone

    bad[5] = 20.91
    files = {"farms": ("trai-htx-x.xlsx", workbook([good, bad]), XLSX)}
    answer = client.post(f"{REG}/import", files=files, headers=w.headers("coop-x"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["changed_farms"] == ["pond-11", "pond-12"]
    after = load_registry(w.registry_file)
    assert [f.id for f in after.farms if f.cooperative == "coop-x"] == [
        "farm-a1", "farm-a2", "pond-11", "pond-12",
    ]  # fmt: skip
    assert audit(w)[-1]["by"] == GRANTS["coop-x"].name
    # The cooperative sees its new farms at once: its scope is read from the file.
    listed = client.get(f"{REG}/farms", headers=w.headers("coop-x")).json()
    assert [f["id"] for f in listed] == ["farm-a1", "farm-a2", "pond-11", "pond-12"]
    # Not a spreadsheet at all: 422 naming the file, nothing written.
    files = {"farms": ("trai.xlsx", b"not a zip", XLSX)}
    answer = client.post(f"{REG}/import", files=files, headers=w.headers("admin"))
    assert answer.status_code == 422
    assert answer.json()["problems"][0]["place"] == "trai.xlsx"


def test_a_cooperative_manages_only_farms_of_its_own_cooperative(
    world: tuple[World, httpx.Client],
) -> None:
    w, client = world
    coop = w.headers("coop-x")
    before = w.registry_file.read_bytes()
    elsewhere = {**NEW_FARM, "cooperative": "coop-y"}
    refused = client.post(f"{REG}/farms", json=elsewhere, headers=coop)
    assert refused.status_code == 403
    no_coop = {k: v for k, v in NEW_FARM.items() if k != "cooperative"}
    farmer = client.post(f"{REG}/farms", json=no_coop, headers=w.headers("farmer-a"))
    assert farmer.status_code == 403  # farmers and officers are read-only here
    assert w.registry_file.read_bytes() == before
    # Left out, the cooperative is the token's own.
    assert client.post(f"{REG}/farms", json=no_coop, headers=coop).status_code == 201
    made = load_registry(w.registry_file).farm("lychee-09")
    assert made is not None
    assert made.cooperative == "coop-x"
    # Its own farm cannot be moved out, another's cannot be taken in.
    moved = client.put(f"{REG}/farms/lychee-09", json=elsewhere, headers=coop)
    assert moved.status_code == 403
    b1 = client.get(f"{REG}/farms/farm-b1", headers=w.headers("admin")).json()
    taken = client.put(f"{REG}/farms/farm-b1", json={**b1, "cooperative": "coop-x"}, headers=coop)
    assert taken.status_code == 404
    assert client.delete(f"{REG}/farms/farm-b1", headers=coop).status_code == 404
    farm_b1 = load_registry(w.registry_file).farm("farm-b1")
    assert farm_b1 is not None
    assert farm_b1.cooperative == "coop-y"
    # A contact that a farm of the other cooperative uses is the admin's to change.
    sheet = "mã trại,tên trại,mô hình\n".encode()
    contacts = "mã,họ tên,điện thoại\nhoa,Đỗ Văn Hòa,+84900000009\n".encode()
    files = {"farms": ("trai.csv", sheet, "text/csv"), "contacts": ("lh.csv", contacts, "text/csv")}
    answer = client.post(f"{REG}/import", files=files, headers=coop)
    assert answer.status_code == 403
    assert "'hoa'" in answer.json()["detail"]


def test_officers_see_contacts_without_phone_or_email(world: tuple[World, httpx.Client]) -> None:
    w, client = world
    officer = client.get(f"{REG}/contacts", headers=w.headers("officer-th")).json()
    assert {c["id"]: c["farms"] for c in officer} == {
        "an": ["farm-a1"], "bich": ["farm-b2"], "hoa": ["farm-b2"],
    }  # fmt: skip
    assert all("phone" not in c and "email" not in c for c in officer)
    assert all(c["name"] for c in officer)
    coop = client.get(f"{REG}/contacts", headers=w.headers("coop-x")).json()
    assert {c["id"]: c["phone"] for c in coop} == {
        "an": "+84911000001", "ba": "+84911000002", "hoa": "+84911000005",
    }  # fmt: skip
    assert {c["id"]: c["farms"] for c in coop}["hoa"] == ["farm-a2"]  # not farm-b2


def test_concurrent_writers_lose_nothing(world: tuple[World, httpx.Client]) -> None:
    """Each write reads, changes and replaces the file under the writers' lock: two clients
    creating farms at once both get every farm in."""
    w, client = world
    base = str(client.base_url)
    failures: list[str] = []

    def create(prefix: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as mine:
            for i in range(8):
                body = {"id": f"{prefix}-{i}", "name": f"Trại {prefix} {i}", "model": "orchard"}
                answer = mine.post(f"{REG}/farms", json=body, headers=w.headers("coop-x"))
                if answer.status_code != 201:
                    failures.append(answer.text)

    threads = [threading.Thread(target=create, args=(p,)) for p in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    ids = {f.id for f in load_registry(w.registry_file).farms}
    assert {f"{p}-{i}" for p in ("left", "right") for i in range(8)} <= ids
    assert len(audit(w)) == 16


def test_the_cli_changes_the_file_the_api_reads(
    world: tuple[World, httpx.Client], capsys: pytest.CaptureFixture[str]
) -> None:
    """``farmwatch registry farm add|remove`` shares the API's validate-and-replace."""
    w, client = world
    where = ["--registry", str(w.registry_file)]
    add = ["registry", "farm", "add", "--name", "Ruộng lúa", "--model", "rice_field", *where]
    assert main([*add, "--id", "rice-03", "--cooperative", "coop-x"]) == 0
    listed = client.get(f"{REG}/farms", headers=w.headers("coop-x")).json()
    assert "rice-03" in [f["id"] for f in listed]
    assert main([*add, "--id", "rice-04", "--cooperative", "htx-nowhere"]) == 1
    assert "names unknown cooperative 'htx-nowhere'" in capsys.readouterr().err
    assert main(["registry", "farm", "remove", "rice-03", *where]) == 0
    assert client.get(f"{REG}/farms/rice-03", headers=w.headers("admin")).status_code == 404


def test_a_broken_registry_file_is_reported_not_served(world: tuple[World, httpx.Client]) -> None:
    """Someone edits the file by hand and breaks it: reads and writes answer 503 without the
    file's content (which names other tenants' farms), and nothing overwrites it."""
    w, client = world
    broken = "farms:\n  - {id: farm-a1, name: Ao, model: spaceship}\n"
    w.registry_file.write_text(broken, encoding="utf-8")
    answer = client.get(f"{REG}/farms", headers=w.headers("farmer-a"))
    assert answer.status_code == 503
    assert "farm-a1" not in answer.text
    create = client.post(f"{REG}/farms", json=NEW_FARM, headers=w.headers("admin"))
    assert create.status_code == 503
    assert w.registry_file.read_text(encoding="utf-8") == broken
