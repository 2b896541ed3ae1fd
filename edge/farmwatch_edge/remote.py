"""Remote configuration: the retained ``.../config`` document, validated, applied, persisted.

The document is an *overlay* on the node's local YAML file, not a replacement::

    {"v": 1, "version": 7,
     "sensors": {"do-probe": {"interval_s": 30}, "water-temp": {"enabled": false}},
     "actuators": {"aerator": {"min_on_s": 600}},
     "rules": {"low-do": {"on_at": 3.5, "off_at": 4.5}},
     "manual_override_s": 900}

Why an overlay of named entries: what is wired where (serial ports, GPIO pins, which quantity
drives which relay) is the technician's, in the local file; what is tuned from the office
(sampling intervals, thresholds, which sensors run) is the agronomist's, remotely. A remote
document therefore cannot add a sensor, repoint a rule or change a pin: naming something the
node does not have is an error. Each retained document is complete: keys it leaves out take
their local values again, so the retained message alone says what the node runs. An empty
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

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from farmwatch_edge.config import EdgeConfig, SafetyRule, explain

log = logging.getLogger(__name__)


class _Patch(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SensorPatch(_Patch):
    interval_s: Annotated[float, Field(gt=0)] | None = None
    enabled: bool | None = None


class ActuatorPatch(_Patch):
    min_on_s: Annotated[float, Field(ge=0)] | None = None
    min_off_s: Annotated[float, Field(ge=0)] | None = None


class RulePatch(_Patch):
    on_at: float | None = None
    off_at: float | None = None
    enabled: bool | None = None
    stale_after_s: Annotated[float, Field(gt=0)] | None = None
    on_stale: Literal["hold", "on", "off"] | None = None


class RemoteConfig(_Patch):
    """Schema v1 of the ``.../config`` document (see docs/edge.md)."""

    v: Literal[1]
    version: int | Annotated[str, Field(max_length=64)] | None = None
    sensors: dict[str, SensorPatch] = {}
    actuators: dict[str, ActuatorPatch] = {}
    rules: dict[str, RulePatch] = {}
    manual_override_s: Annotated[float, Field(gt=0)] | None = None


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
        return RemoteConfig.model_validate(body), body
    except ValidationError as exc:
        raise ConfigRefused(explain(exc)) from None


def overlay(base: EdgeConfig, remote: RemoteConfig) -> EdgeConfig:
    """``base`` (the local file) with the remote settings applied; ConfigRefused if the
    document names something this node does not have or breaks a rule's hysteresis band.

    >>> base = EdgeConfig(farm_id="f", node_id="n")
    >>> overlay(base, RemoteConfig(v=1, manual_override_s=60)).manual_override_s
    60.0
    """
    _known("sensor", remote.sensors, [s.name for s in base.sensors])
    _known("actuator", remote.actuators, [a.name for a in base.actuators])
    _known("rule", remote.rules, [r.name for r in base.rules])
    sensors = [
        s.model_copy(update=remote.sensors[s.name].model_dump(exclude_none=True))
        if s.name in remote.sensors
        else s
        for s in base.sensors
    ]
    actuators = [
        a.model_copy(update=remote.actuators[a.name].model_dump(exclude_none=True))
        if a.name in remote.actuators
        else a
        for a in base.actuators
    ]
    rules = []
    for rule in base.rules:
        patch = remote.rules.get(rule.name)
        if patch is None:
            rules.append(rule)
            continue
        try:
            # Validated again as a whole: on_at/off_at must still form a hysteresis band.
            merged = {**rule.model_dump(), **patch.model_dump(exclude_none=True)}
            rules.append(SafetyRule.model_validate(merged))
        except ValidationError as exc:
            raise ConfigRefused(f"rules.{rule.name}: {explain(exc)}") from None
    update: dict[str, Any] = {"sensors": sensors, "actuators": actuators, "rules": rules}
    if remote.manual_override_s is not None:
        update["manual_override_s"] = remote.manual_override_s
    return base.model_copy(update=update)


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
