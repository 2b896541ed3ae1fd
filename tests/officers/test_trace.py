"""Traceability records: built by the CLI from a real SQLite store of a simulated growing period,
numbers checked against counts made independently from the simulated data, signatures that
verify and tampering that does not, a QR code that decodes to the record's URL, and the routes
that serve them over real HTTP.

The period: 3 days of 2 ponds × 2 nodes every 10 minutes. pond-01 has a dawn DO crash (the
injected excursion) and a 5-hour dropout of its second node (a gap in the data); pond-02 has
neither, and no excursion.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from farmwatch_alerting.alert import Alert, Severity
from farmwatch_alerting.store import STORE_FILE, AlertStore
from farmwatch_analytics.model_profiles import load_profile
from farmwatch_core.contract import Record
from farmwatch_core.registry import Deployment
from farmwatch_core.settings import load_settings
from farmwatch_ingest.stores.base import NodeRecord
from farmwatch_ingest.stores.sqlite import SqliteStore
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.scenarios import parse_scenario
from fastapi import FastAPI
from support.asgi import served

from farmwatch.cli import main
from farmwatch.components import start_api
from farmwatch.trace.api import trace_router
from farmwatch.trace.signing import load_public_key, sign, verify

START = datetime(2026, 5, 31, 17, tzinfo=UTC)  # 1 June, local midnight
END = START + timedelta(days=3)
MAX_GAP = timedelta(minutes=15)
URL = "https://trace.example.vn"
SCENARIO = f"""
name: trace
seed: 5
start: {START.isoformat().replace("+00:00", "Z")}
duration: 3d
interval: 10m
farms:
  - {{model: aquaculture_pond, count: 2, nodes_per_farm: 2}}
events:
  - {{kind: do_crash, farms: [pond-01], start: +1d, duration: 12h}}
faults:
  - {{kind: dropout, farm: pond-01, node: pond-01-n2, start: +2d, duration: 5h}}
"""


@dataclass(frozen=True)
class Setup:
    deployment: Deployment
    data: list[tuple[str, str, Record]]
    data_dir: Path
    registry: Path


@cache
def simulated(folder: str) -> Setup:
    """The scenario's records in a real SQLite store under ``folder`` (the data dir)."""
    scenario = parse_scenario(SCENARIO, "trace")
    data_dir = Path(folder)
    store = SqliteStore(data_dir / "farmwatch.db")
    data = list(generate_dataset(scenario))
    for i in range(0, len(data), 500):
        store.write([NodeRecord(f, n, r) for f, n, r in data[i : i + 500]])
    store.close()
    registry = data_dir / "registry.yaml"
    registry.write_text(scenario.deployment.to_yaml(), encoding="utf-8")
    return Setup(scenario.deployment, data, data_dir, registry)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    found = simulated(str(tmp_path_factory.mktemp("trace")))
    alerts = AlertStore(found.data_dir / "alerting" / STORE_FILE)
    t = START + timedelta(days=1, hours=2)
    episode = alerts.save(
        Alert.new(
            {"alertname": "DoLow", "farm": "pond-01", "node": "pond-01-n1"}, Severity.CRITICAL, t
        ).fire(t)
    )
    alerts.acknowledge(episode, "Hương", t + timedelta(minutes=7))
    late = START - timedelta(days=2)  # before the period: not in the record
    alerts.save(Alert.new({"alertname": "X", "farm": "pond-01"}, Severity.WARNING, late).fire(late))
    alerts.close()
    return found


def create(setup: Setup, farm: str, lot: str, out: Path, *extra: str) -> int:
    return main(
        [
            "trace", "create", "--data-dir", str(setup.data_dir), "--registry",
            str(setup.registry), "--farm", farm, "--lot", lot, "--start", "2026-06-01",
            "--end", "2026-06-04", "--product", "Cá rô phi", "--out", str(out),
            "--public-url", URL, *extra,
        ]
    )  # fmt: skip


def record_of(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


# ------------------------------------------------------------------------------------------
# The numbers, computed another way from the simulated data


def series(setup: Setup, node: str, subject: str) -> list[tuple[datetime, float]]:
    return sorted(
        (r.ts, float(r.readings[subject]))
        for _, n, r in setup.data
        if n == node and subject in r.readings and START <= r.ts < END
    )


def runs(stream: list[tuple[datetime, float]], breached: Any) -> list[tuple[int, int]]:
    """(first, last second) of each run of breaching readings; a run ends at the first reading
    back within (if it came within MAX_GAP) or at its last breaching reading."""
    found: list[tuple[int, int]] = []
    first = previous = None
    for ts, value in stream:
        second = int((ts - START).total_seconds())
        close_gap = previous is not None and ts - previous > MAX_GAP
        if first is not None and (close_gap or not breached(value)):
            end = int((previous - START).total_seconds()) if close_gap else second  # type: ignore[operator]
            found.append((first, end))
            first = None
        if breached(value) and first is None:
            first = second
        previous = ts
        if first is not None:
            last_breach = second
    if first is not None:
        found.append((first, last_breach))
    return found


def test_summary_matches_independent_counts(setup: Setup, tmp_path: Path) -> None:
    assert create(setup, "pond-01", "LOT-P1", tmp_path) == 0
    record = record_of(tmp_path / "LOT-P1.json")
    profile = load_profile("aquaculture_pond")
    hours = math.ceil((END - START) / timedelta(hours=1))
    subjects = {s["subject"]: s for s in record["monitoring"]["subjects"]}
    assert set(subjects) == set(profile.limits)
    every_count = 0
    for subject, limits in profile.limits.items():
        row = subjects[subject]
        if subject not in {"water_temperature", "dissolved_oxygen", "ph"}:
            # indicators: the analytics did not run, nothing stored
            assert (row["status"], row["readings"]) == ("not computed", 0)
            continue
        covered = 0
        count = 0
        seconds_by_severity: dict[str, set[int]] = {}
        for node in ("pond-01-n1", "pond-01-n2"):
            stream = series(setup, node, subject)
            node_row = next(n for n in row["nodes"] if n["node"] == node)
            node_hours = {int((ts - START) / timedelta(hours=1)) for ts, _ in stream}
            assert node_row["readings"] == len(stream)
            assert node_row["hours_with_data"] == len(node_hours)
            covered += len(node_hours)
            for limit in limits:
                found = runs(stream, limit.breached_by)
                count += len(found)
                seconds = seconds_by_severity.setdefault(limit.severity.value, set())
                for a, b in found:
                    seconds.update(range(a, b))
        assert row["readings"] == sum(n["readings"] for n in row["nodes"])
        assert row["completeness"] == round(covered / (2 * hours), 4)
        assert row["excursions"]["count"] == len(row["excursions"]["episodes"]) == count
        by = row["excursions"]["by_severity"]
        expected_minutes = {k: round(len(v) / 60, 4) for k, v in seconds_by_severity.items()}
        for severity, total in by.items():
            assert total["minutes_outside"] == pytest.approx(expected_minutes[severity])
        assert {k for k, v in expected_minutes.items() if v} <= set(by)
        every_count += count
    do = subjects["dissolved_oxygen"]["excursions"]
    assert do["by_severity"]["critical"]["count"] >= 2  # the injected crash, on both nodes
    assert record["monitoring"]["excursions"]["count"] == every_count
    assert record["monitoring"]["statement"]["en"].startswith(f"{every_count} excursions beyond")
    dropout = next(n for n in subjects["ph"]["nodes"] if n["node"] == "pond-01-n2")
    assert dropout["completeness"] < 1.0  # the 5-hour dropout shows
    assert record["alerts"]["available"] is True
    assert record["alerts"]["count"] == 1  # the one before the period is not in it
    assert record["alerts"]["items"][0]["acknowledged_at"] is not None
    assert record["period"] == {"start": "2026-05-31T17:00:00Z", "end": "2026-06-03T17:00:00Z"}
    assert record["growing_area_codes"] == [setup.deployment.farm("pond-01").growing_area_code]  # type: ignore[union-attr]
    assert "owner" not in record["farms"][0]
    assert "location" not in record["farms"][0]


def test_a_farm_without_excursion_says_so(setup: Setup, tmp_path: Path) -> None:
    assert create(setup, "pond-02", "LOT-P2", tmp_path, "--lang", "en") == 0
    record = record_of(tmp_path / "LOT-P2.json")
    assert record["monitoring"]["excursions"] == {"count": 0, "by_severity": {}}
    assert record["monitoring"]["statement"]["en"].startswith(
        "No excursion beyond limits during the growing cycle"
    )
    assert record["monitoring"]["statement"]["vi"].startswith("Không có lần nào vượt ngưỡng")
    page = (tmp_path / "LOT-P2.en.html").read_text(encoding="utf-8")
    assert "No excursion beyond limits" in page
    assert record["alerts"]["count"] == 0


def test_a_period_without_data_claims_nothing(setup: Setup, tmp_path: Path) -> None:
    code = main(
        [
            "trace", "create", "--data-dir", str(setup.data_dir), "--registry",
            str(setup.registry), "--farm", "pond-02", "--lot", "LOT-EMPTY", "--start",
            "2025-01-01", "--end", "2025-01-02", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0
    monitoring = record_of(tmp_path / "LOT-EMPTY.json")["monitoring"]
    assert monitoring["completeness"] == 0
    assert monitoring["statement"]["en"].startswith("No monitoring data in the period")


# ------------------------------------------------------------------------------------------
# Signatures


@pytest.fixture(scope="module")
def issued(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("issued")
    assert create(setup, "pond-01", "LOT-SIG", out) == 0
    return out


def verify_cli(path: Path, key: Path | None, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(
        ["trace", "verify", str(path), *([] if key is None else ["--public-key", str(key)])]
    )
    return code, capsys.readouterr().out


def test_the_key_is_private_and_the_record_verifies(
    setup: Setup, issued: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private = setup.data_dir / "keys" / "trace-ed25519.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    code, out = verify_cli(issued / "LOT-SIG.json", issued / "public-key.pem", capsys)
    assert code == 0, out
    assert out.startswith("VALID: valid signature by the trusted key SHA256:")
    record = record_of(issued / "LOT-SIG.json")
    assert record["issuer"]["key_fingerprint"] in out
    # published where the API serves it, byte for byte
    published = setup.data_dir / "trace" / "LOT-SIG.json"
    assert published.read_bytes() == (issued / "LOT-SIG.json").read_bytes()


def test_a_published_lot_is_not_reissued_silently(setup: Setup, issued: Path) -> None:
    assert create(setup, "pond-01", "LOT-SIG", issued) == 1
    assert create(setup, "pond-01", "../etc", issued) == 2


def tampered(record: dict[str, Any], how: str) -> dict[str, Any]:
    changed = copy.deepcopy(record)
    if how == "value":  # hide the DO crash
        do = next(
            s for s in changed["monitoring"]["subjects"] if s["subject"] == "dissolved_oxygen"
        )
        assert do["excursions"]["count"] > 0
        do["excursions"]["count"] = 0
    elif how == "date":
        changed["period"]["end"] = "2026-06-30T17:00:00Z"
    elif how == "signature":
        raw = bytearray(base64.b64decode(changed["signature"]["value"]))
        raw[10] ^= 0x01
        changed["signature"]["value"] = base64.b64encode(bytes(raw)).decode()
    elif how == "embedded key":
        other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        changed["signature"]["public_key"] = base64.b64encode(other).decode()
    elif how == "other key":  # re-signed by someone else: valid, but not by the issuer
        changed = sign(changed, Ed25519PrivateKey.generate())
    return changed


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("value", "the signature does not match the content"),
        ("date", "the signature does not match the content"),
        ("signature", "the signature does not match the content"),
        ("embedded key", "the embedded public key (SHA256:"),
        ("other key", "not with the trusted key"),
    ],
)
def test_tampering_is_detected_with_a_reason(
    issued: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, reason: str
) -> None:
    changed = tampered(record_of(issued / "LOT-SIG.json"), how)
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(changed, ensure_ascii=False, indent=2), encoding="utf-8")
    code, out = verify_cli(path, issued / "public-key.pem", capsys)
    assert code == 1
    assert out.startswith("INVALID: ")
    assert reason in out


def test_without_a_trusted_key_a_resigned_record_is_valid_only_for_its_own_key(
    issued: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    original = record_of(issued / "LOT-SIG.json")
    resigned = tampered(original, "other key")
    path = tmp_path / "resigned.json"
    path.write_text(json.dumps(resigned), encoding="utf-8")
    code, out = verify_cli(path, None, capsys)
    assert code == 0
    assert resigned["issuer"]["key_fingerprint"] in out
    assert original["issuer"]["key_fingerprint"] not in out
    assert "compare this fingerprint" in out


def test_layout_does_not_matter_but_content_does(issued: Path) -> None:
    record = record_of(issued / "LOT-SIG.json")
    key = load_public_key(issued / "public-key.pem")
    compact = json.loads(json.dumps(record, separators=(",", ":")))  # other layout, same content
    assert verify(compact, key).ok
    assert not verify(tampered(record, "value"), key).ok
    assert not verify({k: v for k, v in record.items() if k != "signature"}, key).ok
    assert not verify("nope", key).ok


def test_cli_says_why_a_file_is_not_a_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.json"
    path.write_text("{not json", encoding="utf-8")
    code, out = verify_cli(path, None, capsys)
    assert (code, out.startswith(f"INVALID: {path} is not JSON")) == (1, True)
    path.write_text("{}", encoding="utf-8")
    code, out = verify_cli(path, None, capsys)
    assert (code, out.strip()) == (1, "INVALID: not signed: the record has no 'signature' member")


# ------------------------------------------------------------------------------------------
# The QR code


def svg_modules(svg: str) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """segno's inline SVG (one path of horizontal runs) back to a black/white module matrix."""
    size = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    scale = int(re.search(r"scale\((\d+)\)", svg).group(1))  # type: ignore[union-attr]
    path = re.search(r' d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    n = size // scale
    grid = np.full((n, n), 255, dtype=np.uint8)
    x = y = 0.0
    for op, a, b in re.findall(r"([MmHh])(-?[\d.]+)(?:\s(-?[\d.]+))?", path):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            length = float(a)
            grid[int(y), int(x) : int(x + length)] = 0
            x += length
    return np.kron(grid, np.ones((6, 6), dtype=np.uint8))


def qr_from_page(page: str) -> str:
    svg = re.search(r"<svg.*?</svg>", page, re.DOTALL).group(0)  # type: ignore[union-attr]
    found = zxingcpp.read_barcodes(svg_modules(svg))
    assert len(found) == 1
    text: str = found[0].text
    return text


def test_the_printed_qr_code_decodes_to_the_record_url(issued: Path) -> None:
    page = (issued / "LOT-SIG.html").read_text(encoding="utf-8")
    assert qr_from_page(page) == f"{URL}/trace/LOT-SIG" == record_of(issued / "LOT-SIG.json")["url"]
    assert '<html lang="vi">' in page
    assert "Hồ sơ truy xuất nguồn gốc lô hàng" in page
    assert "Cá rô phi" in page


# ------------------------------------------------------------------------------------------
# Served over HTTP


@pytest.fixture
def client(setup: Setup, issued: Path) -> Iterator[Any]:
    app = FastAPI()
    app.include_router(trace_router(setup.data_dir / "trace"))
    with served(app) as http:
        yield http


def test_the_routes_serve_the_record_the_page_and_the_key(
    client: Any, setup: Setup, issued: Path
) -> None:
    raw = client.get("/trace/LOT-SIG.json")
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/json"
    assert raw.content == (issued / "LOT-SIG.json").read_bytes()
    page = client.get("/trace/LOT-SIG")
    assert page.status_code == 200
    assert "Chữ ký hợp lệ" in page.text
    assert qr_from_page(page.text) == f"{URL}/trace/LOT-SIG"
    english = client.get("/trace/LOT-SIG", params={"lang": "en"})
    assert "Signature valid" in english.text
    assert "Lot traceability record" in english.text
    key = client.get("/trace/public-key.pem")
    assert key.content == (issued / "public-key.pem").read_bytes()
    assert client.get("/trace/LOT-NONE").status_code == 404
    assert client.get("/trace/LOT-NONE.json").status_code == 404
    assert client.get("/trace/..%2Fkeys%2Ftrace-ed25519.pem").status_code == 404
    assert client.get("/trace/LOT-SIG", params={"lang": "fr"}).status_code == 422


def test_a_tampered_published_record_is_flagged_on_its_page(client: Any, setup: Setup) -> None:
    folder = setup.data_dir / "trace"
    changed = tampered(record_of(folder / "LOT-SIG.json"), "value")
    (folder / "LOT-BAD.json").write_text(json.dumps(changed), encoding="utf-8")
    page = client.get("/trace/LOT-BAD")
    assert page.status_code == 200
    assert "Chữ ký KHÔNG hợp lệ" in page.text


def test_farmwatch_api_serves_the_published_records(setup: Setup, issued: Path) -> None:
    """The routes are part of the app `farmwatch up` / `farmwatch api` start (components.py)."""
    settings = load_settings(None, data_dir=setup.data_dir, registry=setup.registry)
    api = start_api(settings, None, None, None, port=0)
    try:
        base = f"http://127.0.0.1:{api.port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/trace/LOT-SIG.json").content == (issued / "LOT-SIG.json").read_bytes()
            assert "Chữ ký hợp lệ" in http.get("/trace/LOT-SIG").text
    finally:
        api.stop()
