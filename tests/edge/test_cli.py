"""The sample configs validate, and ``farmwatch-edge probe``/``status`` work from a shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from farmwatch_edge.config import EdgeConfig, ModbusSensor, RegisterMap
from farmwatch_edge.validation import InvalidConfig, validate

EXAMPLES = Path(__file__).resolve().parents[2] / "edge" / "examples"


@pytest.mark.parametrize("model_type", ["pond", "barn", "greenhouse", "field"])
def test_sample_config_per_model_type_is_valid(model_type: str) -> None:
    config = EdgeConfig.load(EXAMPLES / f"{model_type}.yaml")
    assert config.model_type == model_type
    for sensor in config.sensors:
        if isinstance(sensor, ModbusSensor) and sensor.register_map is not None:
            assert RegisterMap.load(sensor.register_map).registers


def test_config_refuses_nonsense(tmp_path: Path) -> None:
    with pytest.raises(
        InvalidConfig, match=r"^sensors\[0\]\.values: unknown quantity 'temperature'"
    ):
        validate(
            EdgeConfig,
            {
                "farm_id": "f",
                "node_id": "n",
                "sensors": [{"name": "x", "driver": "fake", "values": {"temperature": 1}}],
            },
        )
    with pytest.raises(InvalidConfig, match=r"^sampling: unknown key"):
        validate(EdgeConfig, {"farm_id": "f", "node_id": "n", "sampling": 5})


_FAKE = {"name": "a", "driver": "fake", "values": {"ph": 7}}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"sensors": [_FAKE, {**_FAKE, "name": "b", "interval_s": 0}]},
            "sensors[1].interval_s: must be > 0",
        ),
        ({"sensors": [{**_FAKE, "driver": "nope"}]}, "sensors[0].driver: invalid value 'nope'"),
        ({"sensors": [{"name": "a"}]}, "sensors[0].driver: required"),
        (
            {"sensors": [{**_FAKE, "name": "a b"}]},
            "sensors[0].name: sensor ID 'a b' may contain only",
        ),
        ({"sensors": [_FAKE, _FAKE]}, "sensors: sensor names must be unique: ['a', 'a']"),
        ({"mqtt": {"keepalive_s": "often"}}, "mqtt.keepalive_s: expected integer, got text"),
        ({"mqtt": {"url": "http://broker"}}, "mqtt.url: MQTT URL 'http://broker' must look like"),
        ({"outbox": {"batch_records": 0}}, "outbox.batch_records: must be >= 1"),
        ({"clock": {"mode": "sometimes"}}, "clock.mode: invalid value 'sometimes'"),
        ({"farm_id": ""}, "farm_id: farm ID must be a non-empty string"),
        ({"sensors": {}}, "sensors: expected list, got mapping"),
    ],
)
def test_config_errors_are_located(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidConfig) as refused:
        validate(EdgeConfig, {"farm_id": "f", "node_id": "n", **changes})
    assert str(refused.value).startswith(reason)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farmwatch_edge", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_invalid_config_file_is_one_line_naming_the_file_and_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "farm_id: f\nnode_id: n\nsensors:\n"
        "  - {name: a, driver: fake, values: {ph: 7.2}}\n"
        "  - {name: b, driver: fake, values: {ph: 7.2}, interval_s: -5}\n"
    )
    result = _cli("run", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr == f"invalid config: {config}: sensors[1].interval_s: must be > 0\n"


def test_probe_and_status(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "farm_id: f\nnode_id: n\ndata_dir: data\nsensors:\n"
        "  - {name: ok, driver: fake, values: {ph: 7.2}}\n"
        "  - {name: broken, driver: ds18b20, sysfs_root: nowhere}\n"
    )
    probed = _cli("probe", "--config", str(config))
    assert probed.returncode == 1  # one sensor failed
    assert "ok               ok      ph=7.2" in probed.stdout
    assert "broken           FAILED  no DS18B20" in probed.stdout
    missing = _cli("status", "--config", str(config))
    assert missing.returncode == 1
    assert "no status yet" in missing.stderr
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "status.json").write_text('{"state": "online", "queue_depth": 3}')
    shown = _cli("status", "--config", str(config))
    assert shown.returncode == 0
    assert '"queue_depth": 3' in shown.stdout
