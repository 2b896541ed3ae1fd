"""The sample configs validate, and ``farmwatch-edge probe``/``status`` work from a shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from farmwatch_edge.config import EdgeConfig, ModbusSensor, RegisterMap
from pydantic import ValidationError

EXAMPLES = Path(__file__).resolve().parents[2] / "edge" / "examples"


@pytest.mark.parametrize("model_type", ["pond", "barn", "greenhouse", "field"])
def test_sample_config_per_model_type_is_valid(model_type: str) -> None:
    config = EdgeConfig.load(EXAMPLES / f"{model_type}.yaml")
    assert config.model_type == model_type
    for sensor in config.sensors:
        if isinstance(sensor, ModbusSensor) and sensor.register_map is not None:
            assert RegisterMap.load(sensor.register_map).registers


def test_config_refuses_nonsense(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown quantity"):
        EdgeConfig.model_validate(
            {
                "farm_id": "f",
                "node_id": "n",
                "sensors": [{"name": "x", "driver": "fake", "values": {"temperature": 1}}],
            }
        )
    with pytest.raises(ValidationError, match="extra"):
        EdgeConfig.model_validate({"farm_id": "f", "node_id": "n", "sampling": 5})


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farmwatch_edge", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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
