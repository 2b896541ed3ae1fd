"""The libgpiod (character device) relay driver: configuration and error path.

This machine has no GPIO chip and no gpio-sim/gpio-mockup module, so switching a real line is
not tested here. What is: ``driver: gpiod`` is selected from the config, ``gpiod`` is imported
only when such a relay exists, and a missing or wrong chip is an error with a reason, shown in
status, while the node's other relays keep working (real ``gpiod`` package, real agent loop).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from farmwatch_edge.actuators import ActuatorError, build_actuator
from farmwatch_edge.actuators.gpiod import GpiodRelay
from farmwatch_edge.agent import Agent
from farmwatch_edge.config import EdgeConfig, GpiodActuator
from farmwatch_edge.validation import InvalidConfig, validate
from support.waiting import eventually

from farmwatch.broker import free_port


def _config(data_dir: Path, chip: str) -> EdgeConfig:
    return validate(
        EdgeConfig,
        {
            "farm_id": "barn-01",
            "node_id": "n1",
            "data_dir": str(data_dir),
            "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}"},  # no broker: not needed
            "status_interval_s": 0.1,
            "clock": {"mode": "unsynced"},
            "sensors": [
                {
                    "name": "climate",
                    "driver": "fake",
                    "interval_s": 0.02,
                    "values": {"air_temperature": 35.0},
                }
            ],
            "actuators": [
                {"name": "fan", "driver": "gpiod", "chip": chip, "line": 17, "active_low": True},
                {"name": "mister", "driver": "fake", "min_on_s": 0, "min_off_s": 0},
            ],
            "rules": [
                {
                    "name": f"hot-{actuator}",
                    "quantity": "air_temperature",
                    "actuator": actuator,
                    "when": "above",
                    "on_at": 32,
                    "off_at": 30,
                }
                for actuator in ("fan", "mister")
            ],
        },
    )


def test_gpiod_is_selected_from_the_config(tmp_path: Path) -> None:
    config = _config(tmp_path, "gpiochip4")
    fan = config.actuators[0]
    assert isinstance(fan, GpiodActuator)
    assert (fan.chip, fan.line, fan.active_low) == ("/dev/gpiochip4", 17, True)
    assert isinstance(build_actuator(fan), GpiodRelay)
    with pytest.raises(InvalidConfig, match="line"):
        validate(GpiodActuator, {"name": "fan", "driver": "gpiod", "line": -1})
    with pytest.raises(InvalidConfig, match="pin"):
        validate(GpiodActuator, {"name": "fan", "driver": "gpiod", "line": 1, "pin": 1})


def test_gpiod_is_imported_only_when_a_relay_uses_it() -> None:
    code = (
        "import sys; from farmwatch_edge.agent import Agent; "
        "from farmwatch_edge.actuators import build_actuator; "
        "from farmwatch_edge.config import FakeActuator; "
        "build_actuator(FakeActuator(name='a')); "
        "print('gpiod' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_missing_or_wrong_chip_is_a_clear_error(tmp_path: Path) -> None:
    missing = GpiodRelay(GpiodActuator(name="fan", chip="gpiochip99", line=17))
    with pytest.raises(ActuatorError, match=r"^/dev/gpiochip99 line 17: no such GPIO chip"):
        missing.set(True)
    with pytest.raises(ActuatorError, match="no such GPIO chip"):
        _ = missing.state  # retried later, same reason meanwhile
    not_a_chip = tmp_path / "gpiochip0"
    not_a_chip.write_text("")
    wrong = GpiodRelay(GpiodActuator(name="fan", chip=str(not_a_chip), line=17))
    with pytest.raises(ActuatorError, match=rf"^{re.escape(str(not_a_chip))} line 17: .*ioctl"):
        wrong.set(True)
    wrong.close()
    missing.close()


def test_a_broken_gpiod_relay_is_reported_and_the_others_keep_working(tmp_path: Path) -> None:
    config = _config(tmp_path / "edge", str(tmp_path / "no-such-chip"))
    agent = Agent(config)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        eventually(
            lambda: agent.controller is not None and agent.controller.actuators["mister"].state,
            message="the fake relay's rule still fires",
        )

        def fan_error() -> str | None:
            try:
                status = json.loads(config.status_file.read_text())
            except (OSError, ValueError):
                return None
            error = status["actuators"]["fan"]["error"]
            return str(error) if error else None

        error = eventually(fan_error, message="the fan's error in status")
        assert error is not None
        assert error.endswith("no-such-chip line 17: no such GPIO chip (see `gpiodetect`)")
        status = json.loads(config.status_file.read_text())
        assert status["actuators"]["fan"]["state"] is None
        assert status["actuators"]["mister"]["state"] == "on"
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
