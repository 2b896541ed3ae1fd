"""alerting.yaml is checked at start-up: every problem with its file, section and place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from farmwatch_alerting.config import AlertingConfigError, default_config, load_alerting_config
from farmwatch_core.mqtt_settings import MqttSettings

MQTT = MqttSettings(url="mqtt://127.0.0.1:1")
GOOD = """
public_url: https://farm.example
rules:
  rules: [{name: NodeOffline, kind: absence, after: 20m}]
routing:
  receivers:
    - name: farmer
      contacts: [{channel: zalo, to: "0912345678"}]
  route: {receiver: farmer, group_by: [farm, node], group_wait: 0s}
channels:
  - {name: zalo, type: zalo, access_token: secret, template_id: "231456"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerting.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_file_loads_every_section(tmp_path: Path) -> None:
    config = load_alerting_config(write(tmp_path, GOOD), MQTT)
    assert config.public_url == "https://farm.example"
    assert [r.name for r in config.rules.rules] == ["NodeOffline"]
    assert [r.name for r in config.routing.receivers] == ["farmer"]
    assert [c.name for c in config.channels.channels] == ["zalo"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("public_url:", "publik_url:"), "unknown sections ['publik_url']"),
        (("after: 20m", "after: soon"), "rules[0]"),
        (("{channel: zalo,", "{channel: sms,"), "farmer → sms"),
        (('template_id: "231456"', "template_id: abc"), "channels"),
        (("receiver: farmer,", "receiver: nobody,"), "nobody"),
    ],
)
def test_each_mistake_is_named(tmp_path: Path, change: tuple[str, str], problem: str) -> None:
    with pytest.raises(AlertingConfigError) as caught:
        load_alerting_config(write(tmp_path, GOOD.replace(*change)), MQTT)
    assert problem in str(caught.value)


def test_without_a_file_alerts_go_to_the_farms_mqtt_topic() -> None:
    config = default_config(MQTT)
    assert [c.type for c in config.channels.channels] == ["mqtt"]
    assert config.rules.profile_defaults


def test_the_cli_check_says_ok_or_what_is_wrong(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "farmwatch", "alerting", "check", str(write(tmp_path, GOOD))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "OK — 1 rules" in ok.stdout
    bad = write(tmp_path, GOOD.replace("kind: absence", "kind: psychic"))
    wrong = subprocess.run(
        [sys.executable, "-m", "farmwatch", "alerting", "check", str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert wrong.returncode == 1
    assert "rules[0]" in wrong.stderr
