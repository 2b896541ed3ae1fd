"""Local control without any broker: safety rules, hysteresis, minimum times, manual commands,
and the GPIO relay driver against a fake sysfs tree.

The rule logic is driven along a timeline (``now=``), not with sleeps; one test runs the real
agent loop pointed at a closed port, to show the rule fires with no broker at all.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from farmwatch_edge.actuators import ActuatorError, build_actuator
from farmwatch_edge.actuators import gpio as gpio_module
from farmwatch_edge.actuators.fake import FakeRelay
from farmwatch_edge.agent import Agent
from farmwatch_edge.clock import ClockMode
from farmwatch_edge.config import (
    ClockConfig,
    EdgeConfig,
    FakeActuator,
    FakeSensor,
    GpioActuator,
    MqttLinkSettings,
    SafetyRule,
)
from farmwatch_edge.control import Controller
from farmwatch_edge.validation import InvalidConfig, validate
from msgspec.structs import asdict, replace
from support.waiting import eventually

from farmwatch.broker import free_port


class Timeline:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _low_do(**changes: object) -> SafetyRule:
    rule = SafetyRule(
        name="low-do",
        quantity="dissolved_oxygen",
        actuator="aerator",
        when="below",
        on_at=3.0,
        off_at=4.0,
    )
    return replace(rule, **changes)


def _config(
    rules: list[SafetyRule] | list[dict[str, object]],
    *,
    min_on_s: float = 300,
    min_off_s: float = 60,
    **kw: object,
) -> EdgeConfig:
    return validate(
        EdgeConfig,
        {
            "farm_id": "pond-01",
            "node_id": "n1",
            "actuators": [
                FakeActuator(name="aerator", min_on_s=min_on_s, min_off_s=min_off_s),
                FakeActuator(name="fan", min_on_s=0, min_off_s=0),
            ],
            "rules": rules,
            **kw,
        },
    )


def _controller(config: EdgeConfig) -> tuple[Controller, FakeRelay, Timeline]:
    clock = Timeline()
    aerator = FakeRelay("aerator", now=clock)
    fan = FakeRelay("fan", now=clock)
    return Controller(config, [aerator, fan], now=clock), aerator, clock


def _at(controller: Controller, clock: Timeline, t: float, do: float | None = None) -> bool:
    clock.t = t
    if do is not None:
        controller.observe("probe", {"dissolved_oxygen": do})
    controller.step()
    return controller.actuators["aerator"].state


def test_low_do_switches_the_aerator_with_hysteresis_and_minimum_times() -> None:
    controller, aerator, clock = _controller(_config([_low_do()]))
    assert _at(controller, clock, 0, do=5.0) is False
    assert _at(controller, clock, 10, do=2.9) is True  # below 3 mg/L
    assert _at(controller, clock, 20, do=3.5) is True  # inside the band: stays on
    assert _at(controller, clock, 30, do=4.2) is True  # above 4 but on for only 20 s of 300
    assert controller.report()["aerator"]["held_s"] == 280.0
    assert _at(controller, clock, 309.9) is True
    assert _at(controller, clock, 310) is False  # minimum on-time served
    assert _at(controller, clock, 320, do=2.0) is False  # off for only 10 s of 60
    assert _at(controller, clock, 370) is True
    assert aerator.history == [(10, True), (310, False), (370, True)]
    assert controller.report()["aerator"]["rules_on"] == ["low-do"]


def test_above_rule_and_any_rule_wanting_on_wins() -> None:
    hot = SafetyRule(
        name="hot", quantity="air_temperature", actuator="fan", when="above", on_at=32, off_at=30
    )
    humid = SafetyRule(
        name="humid",
        quantity="relative_humidity",
        actuator="fan",
        when="above",
        on_at=90,
        off_at=80,
    )
    controller, _, _ = _controller(_config([hot, humid]))
    fan = controller.actuators["fan"]
    controller.observe("climate", {"air_temperature": 33.0, "relative_humidity": 70.0})
    controller.step()
    assert fan.state is True
    controller.observe("climate", {"air_temperature": 31.0})
    controller.step()
    assert fan.state is True  # in the band
    controller.observe("climate", {"air_temperature": 29.0, "relative_humidity": 95.0})
    controller.step()
    assert fan.state is True  # the other rule keeps it on
    controller.observe("climate", {"relative_humidity": 75.0})
    controller.step()
    assert fan.state is False


def test_stale_reading_fails_safe_when_asked() -> None:
    rule = _low_do(stale_after_s=120, on_stale="on")
    controller, _, clock = _controller(_config([rule], min_on_s=0, min_off_s=0))
    assert _at(controller, clock, 0) is True  # no DO reading at all: aerate
    assert _at(controller, clock, 10, do=6.0) is False
    assert _at(controller, clock, 100) is False
    assert _at(controller, clock, 131) is True  # the probe went silent for > 120 s


def test_no_reading_and_hold_leaves_the_relay_alone() -> None:
    controller, aerator, clock = _controller(_config([_low_do()]))
    aerator.set(True)  # e.g. adopted from the GPIO line after a restart
    assert _at(controller, clock, 0) is True
    assert _at(controller, clock, 10, do=3.5) is True  # inside the band, nothing latched


def _cmd(state: str, **extra: object) -> bytes:
    return json.dumps({"v": 1, "state": state, "id": "c-1", **extra}).encode()


def test_manual_command_overrides_the_rules_for_a_while() -> None:
    config = _config([_low_do()], min_on_s=0, min_off_s=0, manual_override_s=600)
    controller, _, clock = _controller(config)
    assert _at(controller, clock, 0, do=6.0) is False
    ack = controller.command("aerator", _cmd("on"))
    assert ack["result"] == "applied"
    assert (ack["state"], ack["mode"], ack["manual_left_s"], ack["id"]) == (
        "on",
        "manual",
        600,
        "c-1",
    )
    assert _at(controller, clock, 599, do=6.0) is True  # the rule says off; the farmer said on
    assert _at(controller, clock, 600) is False  # override over: the rule again
    controller.command("aerator", _cmd("on", for_s=30))
    assert _at(controller, clock, 629) is True
    ack = controller.command("aerator", _cmd("auto"))
    assert (ack["result"], ack["mode"], ack["state"]) == ("applied", "auto", "off")


def test_manual_command_respects_minimum_times() -> None:
    controller, aerator, clock = _controller(_config([_low_do()], min_on_s=300, min_off_s=60))
    controller.command("aerator", _cmd("on"))
    clock.t = 5
    ack = controller.command("aerator", _cmd("off"))
    assert ack["result"] == "pending"
    assert (ack["state"], ack["held_s"]) == ("on", 295.0)
    assert _at(controller, clock, 300) is False  # applied by the loop once allowed
    assert aerator.history == [(0, True), (300, False)]


def test_bad_commands_are_refused_with_a_reason() -> None:
    controller, aerator, _ = _controller(_config([_low_do()]))
    ack = controller.command("pump", _cmd("on"))
    assert ack["result"] == "refused"
    assert ack["reason"] == "unknown actuator 'pump' (this node has: aerator, fan)"
    ack = controller.command("aerator", _cmd("maybe"))
    assert (ack["result"], ack["id"]) == ("refused", "c-1")
    assert (
        ack["reason"]
        == "invalid command: state: invalid value 'maybe' (one of 'auto', 'off', 'on')"
    )
    assert controller.command("aerator", b"on")["reason"].startswith("payload is not JSON")
    assert (
        controller.command("aerator", b'{"state": "on"}')["reason"]
        == "invalid command: v: required"
    )
    long_for = b'{"v": 1, "state": "on", "for_s": 1e9}'
    assert controller.command("aerator", long_for)["reason"] == (
        "invalid command: for_s: must be <= 604800"
    )
    aerator.fail = "relay board unpowered"
    ack = controller.command("aerator", _cmd("on"))
    assert (ack["result"], ack["reason"]) == ("failed", "relay board unpowered")
    assert controller.report()["aerator"]["error"] == "relay board unpowered"
    aerator.fail = None
    controller.step()
    assert aerator.state is True  # retried on the next turn


def test_rules_are_validated() -> None:
    with pytest.raises(InvalidConfig, match="hysteresis band"):
        validate(SafetyRule, {**asdict(_low_do()), "off_at": 2.0})
    with pytest.raises(InvalidConfig, match="not configured"):
        _config([_low_do(actuator="pump")])
    with pytest.raises(InvalidConfig, match="unknown quantity"):
        _config([{**asdict(_low_do()), "quantity": "oxygen"}])


# --------------------------------------------------------------------------------------------
# GPIO relay through a fake /sys/class/gpio


def _line(root: Path, pin: int, direction: str = "in", value: str = "0") -> Path:
    line = root / f"gpio{pin}"
    line.mkdir(parents=True)
    (line / "direction").write_text(direction + "\n")
    (line / "value").write_text(value + "\n")
    (root / "export").write_text("")
    return line


def test_gpio_relay_configures_the_line_without_a_glitch(tmp_path: Path) -> None:
    line = _line(tmp_path, 17)
    relay = build_actuator(
        GpioActuator(name="aerator", pin=17, active_low=True, sysfs_root=tmp_path)
    )
    assert relay.state is False
    # Output and level "off" in one write: an active-low relay is off when the line is high.
    assert (line / "direction").read_text() == "high"
    relay.set(True)
    assert (line / "value").read_text() == "0"
    relay.set(False)
    assert (line / "value").read_text() == "1"
    relay.close()


def test_gpio_relay_adopts_the_state_left_by_a_previous_run(tmp_path: Path) -> None:
    line = _line(tmp_path, 27, direction="out", value="1")
    relay = build_actuator(GpioActuator(name="fan", pin=27, sysfs_root=tmp_path))
    assert relay.state is True  # the fan keeps running across an agent restart
    assert (line / "direction").read_text().strip() == "out"


def test_gpio_relay_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpio_module, "_EXPORT_WAIT_S", 0.1)
    (tmp_path / "export").write_text("")
    relay = build_actuator(GpioActuator(name="pump", pin=5, sysfs_root=tmp_path))
    with pytest.raises(ActuatorError, match="did not appear"):
        relay.set(True)
    assert (tmp_path / "export").read_text() == "5\n"
    nowhere = GpioActuator(name="pump", pin=5, sysfs_root=tmp_path / "missing")
    with pytest.raises(ActuatorError, match="gpio"):
        build_actuator(nowhere).set(True)


# --------------------------------------------------------------------------------------------
# The agent loop, with no broker at all


class DOProbe:
    """A DO sensor whose value the test sets; counts its reads."""

    name = "probe"
    quantities = ("dissolved_oxygen",)

    def __init__(self, value: float) -> None:
        self.value = value
        self.reads = 0

    def read(self) -> dict[str, float]:
        self.reads += 1
        return {"dissolved_oxygen": self.value}

    def close(self) -> None:
        """Nothing to release."""


def test_offline_safety_rule_fires_with_no_broker(tmp_path: Path) -> None:
    config = EdgeConfig(
        farm_id="pond-01",
        node_id="n1",
        data_dir=tmp_path / "edge",
        mqtt=MqttLinkSettings(url=f"mqtt://127.0.0.1:{free_port()}"),  # nothing listens
        status_interval_s=0.1,
        clock=ClockConfig(mode=ClockMode.UNSYNCED),
        sensors=[FakeSensor(name="probe", interval_s=0.01, values={"ph": 7.0})],
        actuators=[FakeActuator(name="aerator", min_on_s=0.5, min_off_s=0)],
        rules=[_low_do()],
    )
    probe = DOProbe(5.0)
    aerator = FakeRelay("aerator")
    agent = Agent(config, drivers=[probe], actuators=[aerator])
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        eventually(lambda: probe.reads >= 5)
        assert aerator.history == []
        probe.value = 2.5
        eventually(lambda: aerator.state, message="aerator on below 3 mg/L")
        probe.value = 4.5  # clear level reached at once; the minimum on-time holds it
        eventually(lambda: not aerator.state, message="aerator off above 4 mg/L")
        (on_at, _), (off_at, _) = aerator.history
        assert off_at - on_at >= 0.5
        probe.value = 3.5  # inside the band: stays off
        reads = probe.reads
        eventually(lambda: probe.reads >= reads + 10)
        assert [on for _, on in aerator.history] == [True, False]
        assert agent.delivery is not None
        assert not agent.delivery.connected
        eventually(lambda: json.loads(config.status_file.read_text())["actuators"]["aerator"])
        status = json.loads(config.status_file.read_text())
        assert status["actuators"]["aerator"]["switches"] == 2
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
