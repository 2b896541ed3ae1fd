"""Minimum on/off times hold across an agent restart (the last switch is persisted).

Driven along a timeline first (a restarted :class:`Controller` reading the same switch log),
then with the real agent loop: start, switch, stop, start again, and the relay is not switched
back before its minimum on-time, counted from the switch made by the first run.
"""

from __future__ import annotations

import threading
from pathlib import Path

from farmwatch_edge.actuators.fake import FakeRelay
from farmwatch_edge.agent import Agent
from farmwatch_edge.clock import ClockMode
from farmwatch_edge.config import (
    ClockConfig,
    EdgeConfig,
    FakeActuator,
    FakeSensor,
    MqttLinkSettings,
    SafetyRule,
)
from farmwatch_edge.control import Controller
from farmwatch_edge.switchlog import SwitchLog
from support.waiting import eventually

from farmwatch.broker import free_port

_LOW_DO = SafetyRule(
    name="low-do",
    quantity="dissolved_oxygen",
    actuator="aerator",
    when="below",
    on_at=3.0,
    off_at=4.0,
)


def _config(data_dir: Path, *, min_on_s: float, min_off_s: float) -> EdgeConfig:
    return EdgeConfig(
        farm_id="pond-01",
        node_id="n1",
        data_dir=data_dir,
        mqtt=MqttLinkSettings(url=f"mqtt://127.0.0.1:{free_port()}"),  # no broker: not needed
        status_interval_s=0.2,
        clock=ClockConfig(mode=ClockMode.UNSYNCED),
        sensors=[FakeSensor(name="probe", interval_s=0.01, values={"ph": 7.0})],
        actuators=[FakeActuator(name="aerator", min_on_s=min_on_s, min_off_s=min_off_s)],
        rules=[_LOW_DO],
    )


class Timeline:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _restarted(
    config: EdgeConfig, log: SwitchLog, clock: Timeline, *, on: bool
) -> tuple[Controller, FakeRelay]:
    relay = FakeRelay("aerator", state=on, now=clock)  # the level adopted from the line
    return Controller(config, [relay], now=clock, switch_log=log), relay


def test_a_restarted_controller_keeps_the_minimum_on_time(tmp_path: Path) -> None:
    config = _config(tmp_path, min_on_s=300, min_off_s=60)
    clock = Timeline()
    first, relay = _restarted(config, SwitchLog(config.switch_log_file, "boot-1"), clock, on=False)
    clock.t = 10
    first.observe("probe", {"dissolved_oxygen": 2.0})
    first.step()
    assert relay.history == [(10, True)]

    # Restart 50 s later (same boot): DO is fine, but the aerator ran only 50 s of 300.
    clock.t = 60
    second, relay = _restarted(config, SwitchLog(config.switch_log_file, "boot-1"), clock, on=True)
    second.observe("probe", {"dissolved_oxygen": 6.0})
    second.step()
    assert relay.state is True
    assert second.report()["aerator"]["held_s"] == 250.0
    clock.t = 309.9
    second.step()
    assert relay.state is True
    clock.t = 310
    second.step()
    assert relay.history == [(310, False)]

    # Another restart right after switching off: the 60 s minimum off-time holds too.
    clock.t = 320
    third, relay = _restarted(config, SwitchLog(config.switch_log_file, "boot-1"), clock, on=False)
    third.observe("probe", {"dissolved_oxygen": 1.0})
    third.step()
    assert relay.state is False
    clock.t = 370
    third.step()
    assert relay.history == [(370, True)]


def test_after_a_reboot_the_wall_clock_counts_and_never_overestimates(tmp_path: Path) -> None:
    config = _config(tmp_path, min_on_s=300, min_off_s=60)
    clock = Timeline(1000.0)
    wall = Timeline(1_800_000_000.0)
    log = SwitchLog(config.switch_log_file, "boot-1", wall=wall)
    first, _ = _restarted(config, log, clock, on=False)
    first.observe("probe", {"dissolved_oxygen": 2.0})
    first.step()

    # Rebooted 100 s later by the wall clock; the monotonic clock started again near zero.
    clock.t, wall.t = 5.0, 1_800_000_100.0
    log = SwitchLog(config.switch_log_file, "boot-2", wall=wall)
    second, relay = _restarted(config, log, clock, on=True)
    second.observe("probe", {"dissolved_oxygen": 6.0})
    second.step()
    assert second.report()["aerator"]["held_s"] == 200.0

    # A Pi without RTC rebooting with its clock in the past: the full minimum time is kept.
    wall.t = 1_700_000_000.0
    log = SwitchLog(config.switch_log_file, "boot-3", wall=wall)
    third, relay = _restarted(config, log, clock, on=True)
    third.observe("probe", {"dissolved_oxygen": 6.0})
    third.step()
    assert third.report()["aerator"]["held_s"] == 300.0
    assert relay.history == []


def test_an_unreadable_switch_log_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "actuators.json"
    path.write_text("{not json")
    assert SwitchLog(path, "b").elapsed("aerator", now=5.0) is None
    log = SwitchLog(path, "b")
    log.record("aerator", True, at=1.0)
    assert SwitchLog(path, "b").elapsed("aerator", now=5.0) == 4.0


def _run(agent: Agent) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    return stop, thread


class DOProbe:
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


def test_agent_restart_does_not_switch_a_relay_before_its_minimum_time(tmp_path: Path) -> None:
    config = _config(tmp_path / "edge", min_on_s=3.0, min_off_s=0)
    aerator = FakeRelay("aerator")
    stop, thread = _run(Agent(config, drivers=[DOProbe(2.0)], actuators=[aerator]))
    try:
        eventually(lambda: aerator.state, message="aerator on below 3 mg/L")
    finally:
        stop.set()
        thread.join(30)
    switched_on_at = aerator.history[0][0]

    # The restarted agent sees good DO at once, and the relay still on (adopted level).
    again = FakeRelay("aerator", state=True)
    probe = DOProbe(6.0)
    stop, thread = _run(Agent(config, drivers=[probe], actuators=[again]))
    try:
        eventually(lambda: probe.reads >= 5)
        eventually(lambda: not again.state, timeout=10, message="off once min_on_s is served")
    finally:
        stop.set()
        thread.join(30)
    (off_at, on), *_ = again.history
    assert on is False
    assert off_at - switched_on_at >= 3.0
