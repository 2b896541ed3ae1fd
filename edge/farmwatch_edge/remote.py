"""Remote configuration: the retained ``.../config`` document, validated, applied, persisted.

The document is an *overlay* on the node's local YAML file, not a replacement::

    {"v": 1, "version": 7,
     "sensors": {"do-probe": {"interval_s": 30}, "water-temp": {"enabled": false}},
     "actuators": {"aerator": {"min_on_s": 600}},
     "rules": {"low-do": {"on_at": 3.5, "off_at": 4.5}},
     "manual_override_s": 900}

Why an overlay of named entries: what is wired where (serial ports, GPIO pins, which sensors
and relays exist) is the technician's, in the local file; what is decided from the office
(sampling intervals, which sensors run, and the safety rules: thresholds, and which reading
switches which relay) is the agronomist's, remotely. A remote document therefore cannot add a
sensor or a relay or change a pin: naming one the node does not have is an error. It can add,
replace or remove rules over the sensors and relays the node has::

    "rules": {"hot-barn": {"quantity": "air_temperature", "actuator": "fan", "when": "above",
                           "on_at": 32, "off_at": 30},      # add (or replace) a whole rule
              "low-do": {"on_at": 3.5, "off_at": 4.5},      # tune a rule
              "old-rule": null}                             # remove a rule

A rule entry naming any of ``quantity``, ``sensor``, ``actuator``, ``when`` is a complete
definition (validated like a local rule); one with only tunables patches the existing rule.

Each retained document is complete: what it leaves out takes its local value again (a rule it
added is gone, a rule it removed is back), so the retained message alone says what the node
runs. An empty
retained message (how MQTT deletes one) returns the node to its local file.

A refused document changes nothing: the node keeps its current configuration and reports the
reason in its status. An accepted one is written to ``remote-config.json`` (atomically,
fsynced) before it is acknowledged, so a node that reboots without a broker runs it too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from msgspec import UNSET, UnsetType, field
from msgspec.structs import asdict, replace

from farmwatch_edge.config import EdgeConfig, SafetyRule, check_rule_refs
from farmwatch_edge.validation import InvalidConfig, Meta, Strict, validate

log = logging.getLogger(__name__)


class SensorPatch(Strict, kw_only=True):
    interval_s: Annotated[float, Meta(gt=0)] | None = None
    enabled: bool | None = None


class ActuatorPatch(Strict, kw_only=True):
    min_on_s: Annotated[float, Meta(ge=0)] | None = None
    min_off_s: Annotated[float, Meta(ge=0)] | None = None


class RulePatch(Strict, kw_only=True):
    """A rule entry: tunables only (patches the node's rule of that name), or a definition
    (any of ``quantity``, ``sensor``, ``actuator``, ``when`` given: a complete rule that adds or
    replaces the one of that name; keys left out take their defaults, not the old values).

    A key left out is ``UNSET``, so a definition is told apart from a patch even when it
    gives ``"sensor": null``."""

    quantity: str | UnsetType | None = UNSET
    sensor: str | UnsetType | None = UNSET
    actuator: str | UnsetType | None = UNSET
    when: Literal["below", "above"] | UnsetType | None = UNSET
    on_at: float | UnsetType | None = UNSET
    off_at: float | UnsetType | None = UNSET
    enabled: bool | UnsetType | None = UNSET
    stale_after_s: Annotated[float, Meta(gt=0)] | UnsetType | None = UNSET
    on_stale: Literal["hold", "on", "off"] | UnsetType | None = UNSET


# The keys that say what a rule watches and switches: giving any of them defines a whole rule.
_DEFINING = frozenset({"quantity", "sensor", "actuator", "when"})


class RemoteConfig(Strict, kw_only=True):
    """Schema v1 of the ``.../config`` document (see docs/edge.md)."""

    v: Literal[1]
    version: int | Annotated[str, Meta(max_length=64)] | None = None
    sensors: dict[str, SensorPatch] = field(default_factory=dict)
    actuators: dict[str, ActuatorPatch] = field(default_factory=dict)
    # None (JSON null) removes the rule.
    rules: dict[str, RulePatch | None] = field(default_factory=dict)
    manual_override_s: Annotated[float, Meta(gt=0)] | None = None


# The named sections, validated entry by entry first so a refusal names the entry
# (``sensors.do-probe.interval_s``); msgspec's own paths do not show mapping keys.
_SECTIONS: dict[str, type[Strict]] = {
    "sensors": SensorPatch,
    "actuators": ActuatorPatch,
    "rules": RulePatch,
}


def _given(patch: Strict) -> dict[str, Any]:
    """The keys a patch sets to a value (neither left out nor null)."""
    return {k: v for k, v in asdict(patch).items() if v is not None and v is not UNSET}


class ConfigRefused(ValueError):
    """The document cannot be applied; the message is the reason shown in status."""


def digest(body: Any) -> str:
    """A short fingerprint of a parsed document (key order and spacing do not matter).

    >>> digest({"v": 1, "sensors": {}}) == digest({"sensors": {}, "v": 1})
    True
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def parse(payload: bytes) -> tuple[RemoteConfig, Any]:
    """The validated document and its parsed JSON body; ConfigRefused with the reason."""
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigRefused(f"config is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ConfigRefused(f"config must be a JSON object, not {type(body).__name__}")
    if body.get("v") != 1:
        raise ConfigRefused(f'config version v={body.get("v")!r} is not supported; send "v": 1')
    try:
        for section, patch in _SECTIONS.items():
            entries = body.get(section)
            if isinstance(entries, dict):
                for name, entry in entries.items():
                    if entry is not None or section != "rules":
                        _validate_entry(patch, entry, f"{section}.{name}")
        return validate(RemoteConfig, body), body
    except InvalidConfig as exc:
        raise ConfigRefused(str(exc)) from None


def _validate_entry(patch: type[Strict], entry: object, where: str) -> None:
    try:
        validate(patch, entry)
    except InvalidConfig as exc:
        raise exc.within(where) from None


def overlay(base: EdgeConfig, remote: RemoteConfig) -> EdgeConfig:
    """``base`` (the local file) with the remote settings applied; ConfigRefused if the
    document names something this node does not have or breaks a rule's hysteresis band.

    >>> base = EdgeConfig(farm_id="f", node_id="n")
    >>> overlay(base, RemoteConfig(v=1, manual_override_s=60.0)).manual_override_s
    60.0
    """
    sensor_names = [s.name for s in base.sensors]
    actuator_names = [a.name for a in base.actuators]
    _known("sensor", remote.sensors, sensor_names)
    _known("actuator", remote.actuators, actuator_names)
    sensors = [
        replace(s, **_given(remote.sensors[s.name])) if s.name in remote.sensors else s
        for s in base.sensors
    ]
    actuators = [
        replace(a, **_given(remote.actuators[a.name])) if a.name in remote.actuators else a
        for a in base.actuators
    ]
    by_name = {r.name: r for r in base.rules}  # local order; new rules go after
    for name, patch in remote.rules.items():
        by_name = _apply_rule(by_name, name, patch, sensor_names, actuator_names)
    rules = list(by_name.values())
    update: dict[str, Any] = {"sensors": sensors, "actuators": actuators, "rules": rules}
    if remote.manual_override_s is not None:
        update["manual_override_s"] = remote.manual_override_s
    try:
        return replace(base, **update)  # runs EdgeConfig's checks on the result
    except ValueError as exc:
        raise ConfigRefused(str(exc)) from None


def _apply_rule(
    rules: dict[str, SafetyRule],
    name: str,
    patch: RulePatch | None,
    sensors: list[str],
    actuators: list[str],
) -> dict[str, SafetyRule]:
    """``rules`` with one remote entry applied: removed, patched, added or replaced."""
    out = dict(rules)
    if patch is None:
        if name not in out:
            have = ", ".join(out) or "none"
            raise ConfigRefused(f"cannot remove rule {name}: no such rule (this node has: {have})")
        del out[name]
        return out
    fields = _given(patch)
    if any(getattr(patch, key) is not UNSET for key in _DEFINING):
        body = {"name": name, **fields}
    elif name in out:
        body = {**asdict(out[name]), **fields}
    else:
        have = ", ".join(out) or "none"
        raise ConfigRefused(
            f"unknown rule {name} (this node has: {have}); to add a rule give quantity, "
            "actuator, when, on_at and off_at"
        )
    try:
        # Validated as a whole: on_at/off_at must still form a hysteresis band.
        rule = validate(SafetyRule, body)
        check_rule_refs(rule, sensors=sensors, actuators=actuators)
    except ValueError as exc:  # InvalidConfig too
        raise ConfigRefused(f"rules.{name}: {exc}") from None
    out[name] = rule
    return out


def _known(kind: str, named: dict[str, Any], present: list[str]) -> None:
    unknown = sorted(set(named) - set(present))
    if unknown:
        have = ", ".join(present) or "none"
        raise ConfigRefused(f"unknown {kind} {', '.join(unknown)} (this node has: {have})")


class RemoteConfigStore:
    """The last accepted document on disk: ``{"applied_at": "...", "config": {...}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[bytes, str | None] | None:
        """The stored document (as a payload) and when it was applied, or None."""
        try:
            stored = json.loads(self.path.read_text())
            return json.dumps(stored["config"]).encode(), stored.get("applied_at")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("ignoring unreadable %s", self.path, exc_info=True)
            return None

    def save(self, body: Any, applied_at: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            json.dump({"applied_at": applied_at, "config": body}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
