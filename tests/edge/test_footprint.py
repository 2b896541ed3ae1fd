"""The agent's memory footprint depends on what it imports; this guards the heavy imports.

bench/edge.py measures the RSS itself. What a test can pin down without timing: an agent whose
config uses no Modbus, I2C or gpiod hardware does not load pymodbus, pyserial, smbus2 or gpiod;
no agent loads pydantic (≈ 10 MB with what only it imports; the agent validates with msgspec)
or pydantic-settings (≈ 3 MB; the server's settings loader); and ``ctypes.util`` (which imports
``subprocess``) is not needed for the clock check. The agent runs here as the systemd unit runs
it, with ``python -OO``, so the unit's setting is exercised too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_HEAVY = (
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "annotated_types",
    "typing_inspection",
    "pymodbus",
    "serial",
    "smbus2",
    "gpiod",
    "dotenv",
    "subprocess",
)

_PROBE = """
import json, sys, threading
from pathlib import Path
from farmwatch_edge.agent import Agent
from farmwatch_edge.config import EdgeConfig

config = EdgeConfig.load(Path(sys.argv[1]))
stop = threading.Event()
agent = Agent(config)
thread = threading.Thread(target=agent.run, args=(stop,))
thread.start()
while not config.status_file.exists():
    stop.wait(0.05)
stop.set()
thread.join(30)
assert sys.flags.optimize == 2  # as the unit runs it (PYTHONOPTIMIZE=2)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} | set(sys.modules))))
"""


def test_an_agent_without_such_hardware_loads_no_heavy_driver(tmp_path: Path) -> None:
    config = tmp_path / "edge.yaml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "farm_id": "pond-01",
                "node_id": "n1",
                "data_dir": str(tmp_path / "edge"),
                "mqtt": {"url": "mqtt://127.0.0.1:9"},  # nothing listens: not needed
                "status_interval_s": 0.1,
                "clock": {"mode": "auto"},  # the default: asks the kernel through ctypes
                "sensors": [
                    {"name": "probe", "driver": "fake", "interval_s": 0.05, "values": {"ph": 7}},
                    {"name": "health", "driver": "health", "interval_s": 0.05},
                    {"name": "w1", "driver": "ds18b20", "sysfs_root": str(tmp_path)},
                ],
                "actuators": [{"name": "aerator", "driver": "fake"}],
            }
        )
    )
    result = subprocess.run(
        [sys.executable, "-OO", "-c", _PROBE, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert "paho" in loaded  # the probe really ran the agent
    assert "ctypes" in loaded  # and asked the kernel whether the clock is synchronised
    assert loaded.isdisjoint(_HEAVY), sorted(loaded & set(_HEAVY))
    assert "ctypes.util" not in loaded


def test_the_probe_would_see_pydantic() -> None:
    # The check above can fail: the same listing finds pydantic where the server's settings are.
    code = "import sys, farmwatch_core.settings; print('pydantic' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True"
