"""The agent loop: sample each sensor on its schedule, store, publish, report status.

One thread does all of it, in this order every turn: read the sensors that are due (each
reading becomes one contract :class:`Record` with a strictly increasing millisecond timestamp,
a sequence number from :class:`SequenceStore` and the ``synced`` flag) and write it to the
outbox; let :class:`Delivery` publish and handle acknowledgements; publish the status when due.
A single thread keeps the SQLite outbox simple and makes a slow sensor delay, never reorder,
the others. A failing driver is recorded (reason, error count) and read again at its next
interval; it never stops the loop.

The same loop runs the local control (:class:`Controller`): every reading is handed to the
safety rules, which are evaluated every turn whether or not a broker is reachable, and
messages to the node (remote config, commands) are taken from :meth:`Delivery.inbox` and
applied here, on this thread, so nothing else ever touches the actuators or the schedule.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from farmwatch_core.contract import Channel, ContractError, NodeTopic
from farmwatch_core.contract.payload import format_ts

from farmwatch_edge.actuators import Actuator, build_actuator
from farmwatch_edge.clock import ClockCheck, Stamper, boot_id, mono_ms
from farmwatch_edge.config import EdgeConfig
from farmwatch_edge.control import Controller
from farmwatch_edge.delivery import Delivery
from farmwatch_edge.drivers import Driver, DriverError, build_driver
from farmwatch_edge.outbox import Outbox
from farmwatch_edge.remote import ConfigRefused, RemoteConfigStore, digest, overlay, parse
from farmwatch_edge.sequence import SequenceStore
from farmwatch_edge.switchlog import SwitchLog

log = logging.getLogger(__name__)

VERSION = "0.1.0"
_CLOCK_CHECK_S = 1.0
_IDLE_S = 0.05


@dataclass(slots=True)
class SensorState:
    """Schedule and health of one sensor, reported in status."""

    driver: Driver
    interval_s: float
    enabled: bool = True
    next_due: float = 0.0
    reads: int = 0
    errors: int = 0
    last_error: str | None = None
    ok: bool | None = None  # None until the first read

    def report(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "ok": self.ok,
            "reads": self.reads,
            "errors": self.errors,
            "last_error": self.last_error,
        }


@dataclass(slots=True)
class ConfigState:
    """Which configuration runs, reported in status as ``config_*``."""

    source: str = "local"  # "local" (the YAML file only) or "remote" (file + overlay)
    version: int | str | None = None
    digest: str | None = None
    applied_at: str | None = None
    error: dict[str, Any] | None = None  # the last refused document: reason, version, digest

    def report(self) -> dict[str, Any]:
        return {
            "config_source": self.source,
            "config_version": self.version,
            "config_digest": self.digest,
            "config_applied_at": self.applied_at,
            "config_error": self.error,
        }


def _now_iso() -> str:
    return format_ts(datetime.now(UTC))


@dataclass(slots=True)
class Counters:
    records: int = 0
    restamped: int = 0
    started_mono: float = field(default_factory=time.monotonic)


class Agent:
    """One node's agent. ``drivers`` and ``actuators`` replace the configured ones (tests,
    bench); ``config`` is the local file, remote config is laid over it."""

    def __init__(
        self,
        config: EdgeConfig,
        *,
        drivers: list[Driver] | None = None,
        actuators: list[Actuator] | None = None,
        clock: ClockCheck | None = None,
    ) -> None:
        self.base_config = config
        self.config = config
        self.clock = clock or ClockCheck(config.clock.mode)
        self._drivers = drivers
        self._actuators = actuators
        self.controller: Controller | None = None
        self.config_state = ConfigState()
        self._remote_store = RemoteConfigStore(config.remote_config_file)
        self.sensors: list[SensorState] = []
        self.counters = Counters()
        self._boot_id = boot_id()
        self._synced = False
        self._next_clock_check = 0.0
        self._next_status = 0.0
        self._connects_seen = 0
        self.outbox: Outbox | None = None
        self.delivery: Delivery | None = None

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; always closes drivers, the connection and the outbox."""
        config = self.config
        # Disabled sensors get a driver too (drivers connect lazily, so this costs nothing):
        # remote config may enable them without a restart.
        drivers = self._drivers
        if drivers is None:
            drivers = [build_driver(s) for s in config.sensors]
        self.sensors = [SensorState(d, 60.0) for d in drivers]
        actuators = self._actuators
        if actuators is None:
            actuators = [build_actuator(a) for a in config.actuators]
        controller = Controller(
            config, actuators, switch_log=SwitchLog(config.switch_log_file, self._boot_id)
        )
        self.controller = controller
        self._reconfigure(config)
        self._load_remote()
        sequence = SequenceStore(config.sequence_file)
        with Outbox(config.outbox_file, max_records=config.outbox.max_records) as outbox:
            self.outbox = outbox
            stamper = Stamper(last_ms=outbox.last_ts_ms)
            delivery = Delivery(config, outbox)
            self.delivery = delivery
            delivery.start()
            try:
                while not stop.is_set():
                    now = time.monotonic()
                    self._check_clock(now, outbox, stamper)
                    due = self._sample(now, outbox, stamper, sequence)
                    for topic, payload in delivery.inbox():
                        self._on_message(delivery, topic, payload)
                    if controller.step():
                        self._next_status = 0.0  # tell the server promptly
                    delivery.pump()
                    if now >= self._next_status or delivery.connects != self._connects_seen:
                        self._connects_seen = delivery.connects
                        self._next_status = now + config.status_interval_s
                        self._report(delivery)
                    if not due:
                        stop.wait(self._idle_for(delivery))
            finally:
                self._report(delivery, publish=False)
                delivery.stop(self.status())
                for sensor in self.sensors:
                    sensor.driver.close()
                controller.close()

    # -- remote config and commands -----------------------------------------------------------

    def _load_remote(self) -> None:
        """Apply the remote config persisted by an earlier run (a reboot without a broker)."""
        stored = self._remote_store.load()
        if stored is None:
            return
        payload, applied_at = stored
        try:
            remote, body = parse(payload)
            effective = overlay(self.base_config, remote)
        except ConfigRefused as exc:
            # The local file changed under it (a sensor renamed): run the local file, say why.
            reason = f"stored remote config no longer applies: {exc}"
            log.warning("%s", reason)
            self.config_state.error = {"reason": reason, "version": None, "digest": None}
            return
        self._reconfigure(effective)
        self.config_state = ConfigState(
            "remote", remote.version, digest(body), applied_at or _now_iso()
        )
        log.info("running the stored remote config (version %s)", remote.version)

    def apply_remote_config(self, payload: bytes) -> bool:
        """Validate and apply a ``.../config`` document; return whether it was accepted.

        An empty payload (the retained message was deleted) returns to the local file.
        """
        state = self.config_state
        if not payload.strip():
            if state.source == "remote":
                log.info("remote config deleted: back to the local file")
                self._remote_store.clear()
                self._reconfigure(self.base_config)
            self.config_state = ConfigState(applied_at=_now_iso())
            return True
        try:
            remote, body = parse(payload)
            effective = overlay(self.base_config, remote)
        except ConfigRefused as exc:
            version = _peek_version(payload)
            fingerprint = hashlib.sha256(payload).hexdigest()[:12]
            if state.error is None or state.error.get("reason") != str(exc):
                log.warning("remote config refused (keeping the current one): %s", exc)
            state.error = {"reason": str(exc), "version": version, "digest": fingerprint}
            return False
        fingerprint = digest(body)
        if state.source == "remote" and state.digest == fingerprint:
            state.error = None  # the same document again (redelivered on reconnect)
            return True
        applied_at = _now_iso()
        self._remote_store.save(body, applied_at)  # durable before it is acknowledged
        self._reconfigure(effective)
        self.config_state = ConfigState("remote", remote.version, fingerprint, applied_at)
        log.info("remote config version %s applied (%s)", remote.version, fingerprint)
        return True

    def _reconfigure(self, config: EdgeConfig) -> None:
        """Run ``config`` from now on: new intervals and enabled sensors, new control settings."""
        self.config = config
        by_name = {s.name: s for s in config.sensors}
        now = time.monotonic()
        for sensor in self.sensors:
            cfg = by_name.get(sensor.driver.name)
            if cfg is None:
                continue
            if cfg.interval_s != sensor.interval_s:
                sensor.interval_s = cfg.interval_s
                sensor.next_due = min(sensor.next_due, now + cfg.interval_s)
            if cfg.enabled and not sensor.enabled:
                sensor.next_due = now  # read it right away
            sensor.enabled = cfg.enabled
        if self.controller is not None:
            self.controller.configure(config)

    def _on_message(self, delivery: Delivery, topic: str, payload: bytes) -> None:
        if topic == delivery.config_topic:
            self.apply_remote_config(payload)
            self._next_status = 0.0  # acknowledge in the status right away
            return
        try:
            command = NodeTopic.parse(topic, delivery.prefix)
        except ContractError:
            log.warning("ignoring a message on %s: not a command topic of this node", topic)
            return
        if command.channel is Channel.CMD and command.actuator and self.controller is not None:
            ack = self.controller.command(command.actuator, payload)
            delivery.publish_json(command.ack(), ack)
            self._next_status = 0.0

    def _idle_for(self, delivery: Delivery) -> float:
        if delivery.connected and self.outbox is not None and self.outbox.depth > delivery.inflight:
            return 0.001  # more to send: come back as soon as the rate allows
        wait = min((s.next_due for s in self.sensors), default=time.monotonic() + _IDLE_S)
        return max(0.0005, min(_IDLE_S, wait - time.monotonic()))

    def _check_clock(self, now: float, outbox: Outbox, stamper: Stamper) -> None:
        if self._synced or now < self._next_clock_check:
            return
        self._next_clock_check = now + _CLOCK_CHECK_S
        if not self.clock.synced():
            return
        self._synced = True
        offset = time.time_ns() // 1_000_000 - mono_ms()
        fixed = outbox.restamp(boot_id=self._boot_id, offset_ms=offset)
        stamper.last_ms = max(stamper.last_ms, outbox.last_ts_ms)
        self.counters.restamped += fixed
        if fixed:
            log.info("clock synchronised: re-stamped %d records taken before", fixed)

    def _sample(
        self, now: float, outbox: Outbox, stamper: Stamper, sequence: SequenceStore
    ) -> bool:
        """Read every due sensor; return whether any was due."""
        any_due = False
        for sensor in self.sensors:
            if not sensor.enabled or now < sensor.next_due:
                continue
            any_due = True
            # Schedule from the previous due time, not from now, so intervals do not drift.
            sensor.next_due = max(sensor.next_due + sensor.interval_s, now)
            sensor.reads += 1
            try:
                readings = sensor.driver.read()
            except DriverError as exc:
                self._failed(sensor, str(exc))
                continue
            except Exception as exc:  # a driver bug must not stop the other sensors
                log.exception("driver %s crashed", sensor.driver.name)
                self._failed(sensor, f"{type(exc).__name__}: {exc}")
                continue
            if sensor.ok is False:
                log.info("sensor %s recovered", sensor.driver.name)
            sensor.ok = True
            sensor.last_error = None
            if not readings:
                continue
            if self.controller is not None:
                self.controller.observe(sensor.driver.name, readings, at=now)
            outbox.add(
                ts_ms=stamper(),
                seq=sequence.next(self.config.node_id),
                synced=self._synced,
                readings=readings,
                boot_id=self._boot_id,
                mono_ms=mono_ms(),
            )
            self.counters.records += 1
        return any_due

    def _failed(self, sensor: SensorState, reason: str) -> None:
        if sensor.last_error != reason:
            log.warning(
                "sensor %s failed: %s (retrying every %gs)",
                sensor.driver.name,
                reason,
                sensor.interval_s,
            )
        sensor.ok = False
        sensor.errors += 1
        sensor.last_error = reason

    def status(self) -> dict[str, Any]:
        """The status body; also written to ``status.json`` for ``farmwatch-edge status``."""
        outbox = self.outbox
        return {
            "v": 1,
            "state": "online",
            "ts": _now_iso(),
            "version": VERSION,
            "farm_id": self.config.farm_id,
            "node_id": self.config.node_id,
            "uptime_s": round(time.monotonic() - self.counters.started_mono, 1),
            "queue_depth": outbox.depth if outbox else 0,
            "evicted": outbox.evicted if outbox else 0,
            "records": self.counters.records,
            "restamped": self.counters.restamped,
            "clock_synced": self._synced,
            "connected": bool(self.delivery and self.delivery.connected),
            "sensors": {s.driver.name: s.report() for s in self.sensors},
            "driver_errors": {
                s.driver.name: s.last_error for s in self.sensors if s.last_error is not None
            },
            **self.config_state.report(),
            "actuators": self.controller.report() if self.controller else {},
        }

    def _report(self, delivery: Delivery, *, publish: bool = True) -> None:
        status = self.status()
        if publish:
            delivery.publish_status(status)
        path = self.config.status_file
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(status, indent=2))
            tmp.replace(path)
        except OSError:
            log.warning("cannot write %s", path, exc_info=True)


def _peek_version(payload: bytes) -> Any:
    """The ``version`` of a refused document, if it has one, to say which one was refused."""
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    return body.get("version") if isinstance(body, dict) else None
