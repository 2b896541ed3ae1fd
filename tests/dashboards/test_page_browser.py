"""The built-in page in a real headless Chromium (Debian's package, driven by playwright), at
phone and desktop sizes, on a real `farmwatch up`: farms and values show, a new reading
arrives live, a DO crash appears as an alert, the Acknowledge button acknowledges it, and
"Báo nhầm" (false alarm) is stored and counted in the operators' summary and the programme's
satisfaction per district.

`farmwatch up` starts in demo mode (no token, loopback: the page says so); each test then
issues a token with the real `farmwatch tokens add` and logs in — the phone by the login
link, the desktop through the form — as a farmer and an admin would."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from farmwatch_core.contract import Channel, Record, encode_record, node_topic
from farmwatch_core.mqtt import new_client
from farmwatch_core.mqtt_settings import MqttSettings
from farmwatch_core.registry import load_registry
from playwright.sync_api import Browser, Page, expect, sync_playwright
from support.up import UpProcess, farmwatch_up
from support.waiting import eventually

from farmwatch.broker import free_port

CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


class Node:
    """Publishes records of one pond node as its edge agent would."""

    def __init__(self, mqtt_url: str, farm: str, node: str) -> None:
        self.farm, self.node, self.seq = farm, node, 1000
        self.client, address = new_client(
            MqttSettings(url=mqtt_url), f"page-{node}", persistent=False
        )
        self.client.connect(address.host, address.port)
        self.client.loop_start()

    def send(self, **readings: float) -> None:
        self.seq += 1
        record = Record(datetime.now(UTC), self.seq, True, readings)
        topic = str(node_topic(self.farm, self.node, Channel.TELEMETRY))
        self.client.publish(topic, encode_record(record), qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[UpProcess, str, Node]]:
    mqtt_port = free_port()
    args = ["--farms", "2", "--no-simulator", "--api-port", "0", "--mqtt-port", str(mqtt_port)]
    with farmwatch_up(args, tmp_path) as process:
        url = process.wait_for(r"dashboard\s+: (http://\S+)/").group(1)
        registry = load_registry(tmp_path / "registry.yaml")
        pond = next(f for f in registry.farms if f.model.value == "aquaculture_pond")
        node = Node(f"mqtt://127.0.0.1:{mqtt_port}", pond.id, pond.nodes[0].id)
        node.send(dissolved_oxygen=6.4, water_temperature=29.1, ph=7.6)
        try:
            yield process, url, node
        finally:
            node.close()


def keep(shot: Path) -> None:
    """FARMWATCH_SCREENSHOTS=docs/img keeps the screenshots (how the docs' images are made)."""
    target = os.environ.get("FARMWATCH_SCREENSHOTS")
    if target:
        shutil.copy(shot, Path(target) / shot.name)


def add_token(data_dir: Path, *args: str) -> str:
    """`farmwatch tokens add ...` on the running up's data directory; the token it printed."""
    out = subprocess.run(
        [sys.executable, "-m", "farmwatch", "tokens", "add", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    found = re.search(r"^token: (\S+)$", out, re.MULTILINE)
    assert found, out
    return found[1]


def open_page(
    browser: Browser, url: str, viewport: dict[str, int], path: str = "/"
) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + path)
    expect(page.locator("#live")).to_have_text("Trực tiếp", timeout=15_000)
    return page, errors


def test_phone_live_values_alert_and_acknowledge(
    browser: Browser, up: tuple[UpProcess, str, Node], tmp_path: Path
) -> None:
    process, url, node = up
    token = add_token(process.data_dir, "--role", "farmer", "--farm", node.farm, "--name", "Hương")
    page, errors = open_page(browser, url, PHONE, f"/login#t={token}")  # the link, as sent
    assert page.url == url + "/"  # logged in and back on the page, the token out of the URL
    expect(page.locator("#who")).to_contain_text("Hương")
    expect(page.locator(".farm")).to_have_count(1)  # a farmer sees their own farm only
    expect(page.locator(".farm .sub")).to_contain_text("Ao nuôi thủy sản")
    do = page.locator(f'[data-node="{node.farm}|{node.node}"] .v[data-q="dissolved_oxygen"]')
    expect(do).to_have_text("6,4 mg/L", timeout=15_000)  # Vietnamese decimal comma
    node.send(dissolved_oxygen=5.8, water_temperature=29.0, ph=7.6)
    expect(do).to_have_text("5,8 mg/L", timeout=15_000)  # arrived live, no reload
    node.send(dissolved_oxygen=1.7, water_temperature=29.0, ph=7.6)  # the crash
    alert = page.locator(".alert.critical")
    expect(alert).to_have_count(1, timeout=20_000)
    expect(alert).to_contain_text("Oxy hòa tan (DO) 1,7 mg/L (< 2,3)")
    expect(do).to_have_class("v critical")  # coloured by the pond profile's limit
    page.screenshot(path=str(tmp_path / "page-phone.png"), full_page=True)
    keep(tmp_path / "page-phone.png")
    alert.get_by_role("button", name="Xác nhận").click()
    expect(alert).to_contain_text("Đã xác nhận: Hương", timeout=10_000)  # the token's name
    alert.get_by_role("button", name="Báo nhầm").click()  # "was this useful?": false alarm
    expect(alert.locator('button[data-answer="false_alarm"]')).to_have_attribute(
        "aria-pressed", "true", timeout=10_000
    )
    check_the_answer_is_counted(process, url, node, tmp_path)
    page.locator(f'[data-node="{node.farm}|{node.node}"] h3').click()
    expect(page.locator(".plot canvas")).to_have_count(1, timeout=10_000)  # the 24-hour chart
    assert errors == []


def check_the_answer_is_counted(process: UpProcess, url: str, node: Node, tmp_path: Path) -> None:
    """The false alarm given on the page, in the operators' summary and the programme table."""
    admin = add_token(process.data_dir, "--role", "admin", "--name", "Quản trị")
    summary = httpx.get(
        url + "/api/v1/feedback/summary", headers={"Authorization": f"Bearer {admin}"}, timeout=10
    ).json()
    [rule] = summary["rules"]
    assert (rule["answers"], rule["false_alarm"], rule["useful"]) == (1, 1, 0)
    assert rule["false_alarm_share"] is None  # one answer is under the minimum: no rate shown
    out = tmp_path / "programme.csv"
    subprocess.run(
        [sys.executable, "-m", "farmwatch", "report", "programme", "--data-dir",
         str(process.data_dir), "--out", str(out)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    district = load_registry(process.data_dir / "registry.yaml").farm(node.farm).district  # type: ignore[union-attr]
    with out.open(encoding="utf-8") as handle:
        row = next(r for r in csv.DictReader(handle) if r["district"] == (district or "—"))
    assert (row["feedback_answers"], row["satisfaction"]) == ("1", "0.00")


def test_desktop_in_english(
    browser: Browser, up: tuple[UpProcess, str, Node], tmp_path: Path
) -> None:
    process, url, node = up
    page, errors = open_page(browser, url, DESKTOP)  # no token yet: the demo
    expect(page.locator("#demo")).to_contain_text("Chế độ demo")
    token = add_token(process.data_dir, "--role", "admin", "--name", "Quản trị")
    # The API notices the first token within a second (no restart); then the login form.
    eventually(lambda: httpx.get(url + "/api/v1/latest").status_code == 401)
    page.goto(url + "/")
    page.get_by_label("Mã truy cập").fill(token)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.locator("#live")).to_have_text("Trực tiếp", timeout=15_000)
    expect(page.locator("#demo")).to_have_count(0)
    page.get_by_role("link", name="English").click()
    expect(page.locator("#live")).to_have_text("Live", timeout=15_000)
    expect(page.locator(".farm")).to_have_count(2)
    expect(page.locator(".farm .sub").first).to_contain_text("nodes")
    # Model types are named as their profiles name them (every type, the stations too).
    expect(page.locator(".farm .sub").filter(has_text="Aquaculture pond")).to_have_count(1)
    do = page.locator(f'[data-node="{node.farm}|{node.node}"] .v[data-q="dissolved_oxygen"]')
    expect(do).to_have_text("6.4 mg/L", timeout=15_000)
    expect(page.locator("#feedback h2")).to_contain_text("Farmers' answers")  # operators only
    page.screenshot(path=str(tmp_path / "page-desktop.png"), full_page=True)
    keep(tmp_path / "page-desktop.png")
    assert errors == []
