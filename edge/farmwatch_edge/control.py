"""Local control: safety rules with hysteresis, minimum on/off times and manual overrides.

Why this runs on the node and not on the server: a pond's dissolved oxygen can crash at 3 a.m.
while the 4G link is down, and shrimp die within hours. So the rules ("DO below 3 mg/L → aerator
on, off again at 4 mg/L") run in the agent loop on the latest readings and need no broker.

What the :class:`Controller` decides, every turn of the agent loop, for each actuator:

1. each enabled rule of the actuator has an opinion: on, off, or none (no reading yet, or inside
   the hysteresis band with nothing latched). A stale reading counts as none, unless the rule
   says to fail safe (``on_stale``);
2. the actuator should be on if any rule wants it on, off if some rule wants it off and none
   on, and stays as it is if no rule has an opinion;
3. a manual command (``.../cmd/{actuator}``) overrides the rules for ``manual_override_s``
   (or the command's ``for_s``); ``{"state": "auto"}`` hands control back early;
4. a switch happens only if the relay has been in its current state for at least
   ``min_on_s``/``min_off_s``; until then the change is held (and shown in status). This
   applies to manual commands too: the motor does not care who asked. Each switch is also
   written to a :class:`SwitchLog`, so a restarted agent keeps counting from it.

Time is a parameter (``now``) everywhere, so tests drive a timeline instead of sleeping.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from farmwatch_core.contract.payload import format_ts

from farmwatch_edge.actuators import Actuator, ActuatorError
from farmwatch_edge.config import ActuatorConfig, EdgeConfig, FakeActuator, SafetyRule
from farmwatch_edge.switchlog import SwitchLog
from farmwatch_edge.validation import InvalidConfig, Meta, Strict, validate

log = logging.getLogger(__name__)

MAX_OVERRIDE_S = 7 * 86400.0


class Command(Strict, kw_only=True):
    """A command on ``.../cmd/{actuator}``: ``{"v": 1, "state": "on", "id": "c-42"}``."""

    v: Literal[1]
    state: Literal["on", "off", "auto"]
    id: Annotated[str, Meta(max_length=128)] | None = None
    for_s: Annotated[float, Meta(gt=0, le=MAX_OVERRIDE_S)] | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    value: float
    at: float  # monotonic seconds


class LatestReadings:
    """The most recent value of every quantity, per sensor and across sensors.

    >>> latest = LatestReadings()
    >>> latest.update("probe", {"dissolved_oxygen": 2.5}, at=1.0)
    >>> latest.get("dissolved_oxygen")
    Reading(value=2.5, at=1.0)
    >>> latest.get("dissolved_oxygen", sensor="other") is None
    True
    """

    def __init__(self) -> None:
        self._by_sensor: dict[tuple[str, str], Reading] = {}
        self._any: dict[str, Reading] = {}

    def update(self, sensor: str, readings: Mapping[str, float], at: float) -> None:
        for quantity, value in readings.items():
            reading = Reading(value, at)
            self._by_sensor[sensor, quantity] = reading
            self._any[quantity] = reading

    def get(self, quantity: str, sensor: str | None = None) -> Reading | None:
        if sensor is None:
            return self._any.get(quantity)
        return self._by_sensor.get((sensor, quantity))


def _identity(rule: SafetyRule) -> tuple[str, str, str | None, str, str]:
    return (rule.name, rule.quantity, rule.sensor, rule.actuator, rule.when)


@dataclass(slots=True)
class _RuleState:
    rule: SafetyRule
    latched: bool | None = None  # the last decision taken from a fresh reading

    def opinion(self, latest: LatestReadings, now: float) -> bool | None:
        rule = self.rule
        if not rule.enabled:
            self.latched = None
            return None
        reading = latest.get(rule.quantity, rule.sensor)
        if reading is None or now - reading.at > rule.stale_after_s:
            if rule.on_stale == "on":
                return True
            if rule.on_stale == "off":
                return False
            return self.latched
        value = reading.value
        if rule.when == "below":
            if value < rule.on_at:
                self.latched = True
            elif value >= rule.off_at:
                self.latched = False
        elif value > rule.on_at:
            self.latched = True
        elif value <= rule.off_at:
            self.latched = False
        return self.latched


@dataclass(slots=True)
class _ActuatorState:
    actuator: Actuator
    config: ActuatorConfig
    rules: list[_RuleState] = field(default_factory=list)
    last_change: float | None = None  # None: free to switch (nothing known since start)
    manual: bool | None = None
    manual_until: float = 0.0
    command_id: str | None = None
    held_until: float | None = None
    switches: int = 0
    error: str | None = None
    wanting: list[str] = field(default_factory=list)

    def report(self, now: float) -> dict[str, Any]:
        try:
            state: str | None = "on" if self.actuator.state else "off"
        except ActuatorError:
            state = None
        manual = self.manual is not None
        return {
            "state": state,
            "mode": "manual" if manual else "auto",
            "manual_left_s": round(self.manual_until - now, 1) if manual else None,
            "command_id": self.command_id,
            "held_s": round(self.held_until - now, 1) if self.held_until is not None else None,
            "rules_on": list(self.wanting),
            "switches": self.switches,
            "error": self.error,
        }


class Controller:
    """Owns the actuators of one node; call :meth:`step` from the agent loop."""

    def __init__(
        self,
        config: EdgeConfig,
        actuators: Sequence[Actuator],
        *,
        now: Callable[[], float] = time.monotonic,
        switch_log: SwitchLog | None = None,
    ) -> None:
        self.now = now
        self.switch_log = switch_log
        self.latest = LatestReadings()
        self._actuators: dict[str, _ActuatorState] = {}
        configs = {a.name: a for a in config.actuators}
        for actuator in actuators:
            default = FakeActuator(name=actuator.name)
            self._actuators[actuator.name] = _ActuatorState(
                actuator, configs.get(actuator.name, default)
            )
        self.manual_override_s = config.manual_override_s
        self.configure(config)
        if switch_log is not None:
            # A restarted agent must not switch a relay sooner than a running one would have.
            start = now()
            for name, state in self._actuators.items():
                elapsed = switch_log.elapsed(name, start)
                if elapsed is not None:
                    state.last_change = start - elapsed

    @property
    def actuators(self) -> dict[str, Actuator]:
        return {name: state.actuator for name, state in self._actuators.items()}

    def configure(self, config: EdgeConfig) -> None:
        """Take new thresholds, minimum times and override length (remote config) without
        forgetting what each rule has latched: a threshold change must not switch by itself."""
        self.manual_override_s = config.manual_override_s
        for actuator in config.actuators:
            if actuator.name in self._actuators:
                self._actuators[actuator.name].config = actuator
        # A rule keeps its latch only if it still watches the same thing the same way: a rule
        # replaced by remote config (another quantity or relay) starts from no opinion.
        latched = {_identity(r.rule): r.latched for s in self._actuators.values() for r in s.rules}
        for state in self._actuators.values():
            state.rules = [
                _RuleState(rule, latched.get(_identity(rule)))
                for rule in config.rules
                if rule.actuator == state.actuator.name
            ]

    def observe(self, sensor: str, readings: Mapping[str, float], at: float | None = None) -> None:
        """Record a sensor's readings for the rules."""
        self.latest.update(sensor, readings, self.now() if at is None else at)

    def step(self, now: float | None = None) -> bool:
        """Evaluate every actuator once; return whether any relay switched."""
        now = self.now() if now is None else now
        changed = False
        for state in self._actuators.values():
            changed |= self._step_one(state, now)
        return changed

    def _step_one(self, state: _ActuatorState, now: float) -> bool:
        opinions = [(r.rule.name, r.opinion(self.latest, now)) for r in state.rules]
        state.wanting = [name for name, opinion in opinions if opinion is True]
        if state.wanting:
            desired: bool | None = True
        elif any(opinion is False for _, opinion in opinions):
            desired = False
        else:
            desired = None
        if state.manual is not None:
            if now >= state.manual_until:
                log.info("manual override of %s expired", state.actuator.name)
                state.manual = None
            else:
                desired = state.manual
        if desired is None:
            state.held_until = None
            return False
        try:
            current = state.actuator.state
        except ActuatorError as exc:
            self._error(state, str(exc))
            return False
        if desired == current:
            state.held_until = None
            return False
        if state.last_change is not None:
            minimum = state.config.min_on_s if current else state.config.min_off_s
            if now - state.last_change < minimum:
                state.held_until = state.last_change + minimum
                return False
        try:
            state.actuator.set(desired)
        except ActuatorError as exc:
            self._error(state, str(exc))
            return False
        self._switched(state, desired, now)
        return True

    def _switched(self, state: _ActuatorState, on: bool, now: float) -> None:
        why = "manual command" if state.manual is not None else ", ".join(state.wanting) or "rules"
        log.info("%s switched %s (%s)", state.actuator.name, "on" if on else "off", why)
        state.error = None
        state.held_until = None
        state.last_change = now
        state.switches += 1
        if self.switch_log is not None:
            self.switch_log.record(state.actuator.name, on, now)

    @staticmethod
    def _error(state: _ActuatorState, reason: str) -> None:
        if state.error != reason:
            log.warning("actuator %s failed: %s (retrying)", state.actuator.name, reason)
        state.error = reason

    def command(self, actuator: str, payload: bytes, now: float | None = None) -> dict[str, Any]:
        """Apply a command from ``.../cmd/{actuator}`` and return its acknowledgement.

        The ack says ``result``: ``applied`` (the relay is now as asked), ``pending`` (held by
        the minimum on/off time for ``held_s`` more seconds, then applied by the loop),
        ``failed`` (the relay refused: ``reason``) or ``refused`` (bad command: ``reason``).
        """
        now = self.now() if now is None else now
        ack: dict[str, Any] = {
            "v": 1,
            "id": None,
            "actuator": actuator,
            "ts": format_ts(datetime.now(UTC)),
        }
        try:
            body = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._refuse(ack, f"payload is not JSON: {exc}")
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            ack["id"] = body["id"][:128]  # echoed even when refused, for correlation
        state = self._actuators.get(actuator)
        if state is None:
            known = ", ".join(self._actuators) or "none"
            return self._refuse(ack, f"unknown actuator {actuator!r} (this node has: {known})")
        try:
            command = validate(Command, body)
        except InvalidConfig as exc:
            return self._refuse(ack, f"invalid command: {exc}")
        ack["requested"] = command.state
        if command.state == "auto":
            state.manual = None
        else:
            state.manual = command.state == "on"
            state.manual_until = now + (command.for_s or self.manual_override_s)
        state.command_id = command.id
        self._step_one(state, now)
        report = state.report(now)
        ack.update(
            state=report["state"],
            mode=report["mode"],
            manual_left_s=report["manual_left_s"],
        )
        if command.state != "auto" and report["state"] != command.state:
            if state.held_until is not None:
                ack.update(result="pending", held_s=report["held_s"])
                ack["reason"] = "minimum on/off time of the relay"
            else:
                ack.update(result="failed", reason=state.error)
        else:
            ack["result"] = "applied"
        log.info("command %s for %s: %s", command.id, actuator, ack["result"])
        return ack

    @staticmethod
    def _refuse(ack: dict[str, Any], reason: str) -> dict[str, Any]:
        log.warning("command for %s refused: %s", ack["actuator"], reason)
        return {**ack, "result": "refused", "reason": reason}

    def report(self, now: float | None = None) -> dict[str, dict[str, Any]]:
        """Per-actuator state for the node's status."""
        now = self.now() if now is None else now
        return {name: state.report(now) for name, state in self._actuators.items()}

    def close(self) -> None:
        for state in self._actuators.values():
            state.actuator.close()
