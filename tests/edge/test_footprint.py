"""The agent's memory footprint depends on what it imports; this guards the heavy imports.

bench/edge.py measures the RSS itself. What a test can pin down without timing: an agent whose
config uses no Modbus, I2C or gpiod hardware does not load pymodbus, pyserial, smbus2 or gpiod,
and no agent loads pydantic-settings (≈ 3 MB; the server's settings loader, not needed here).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_HEAVY = ("pydantic_settings", "pymodbus", "serial", "smbus2", "gpiod", "dotenv")

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
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)))
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
                "clock": {"mode": "unsynced"},
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
        [sys.executable, "-c", _PROBE, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert "paho" in loaded  # the probe really ran the agent
    assert loaded.isdisjoint(_HEAVY), sorted(loaded & set(_HEAVY))
