"""The agent loop: sample each sensor on its schedule, store, publish, report status.

One thread does all of it, in this order every turn: read the sensors that are due (each
reading becomes one contract :class:`Record` with a strictly increasing millisecond timestamp,
a sequence number from :class:`SequenceStore` and the ``synced`` flag) and write it to the
outbox; let :class:`Delivery` publish and handle acknowledgements; publish the status when due.
A single thread keeps the SQLite outbox simple and makes a slow sensor delay, never reorder,
the others. A failing driver is recorded (reason, error count) and read again at its next
interval; it never stops the loop.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from farmwatch_edge.clock import ClockCheck, Stamper, boot_id, mono_ms
from farmwatch_edge.config import EdgeConfig
from farmwatch_edge.delivery import Delivery
from farmwatch_edge.drivers import Driver, DriverError, build_driver
from farmwatch_edge.outbox import Outbox
from farmwatch_edge.sequence import SequenceStore

log = logging.getLogger(__name__)

VERSION = "0.1.0"
_CLOCK_CHECK_S = 1.0
_IDLE_S = 0.05


@dataclass(slots=True)
class SensorState:
    """Schedule and health of one sensor, reported in status."""

    driver: Driver
    interval_s: float
    next_due: float = 0.0
    reads: int = 0
    errors: int = 0
    last_error: str | None = None
    ok: bool | None = None  # None until the first read

    def report(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reads": self.reads,
            "errors": self.errors,
            "last_error": self.last_error,
        }


@dataclass(slots=True)
class Counters:
    records: int = 0
    restamped: int = 0
    started_mono: float = field(default_factory=time.monotonic)


class Agent:
    """One node's agent. ``drivers`` replaces the configured ones (tests, bench)."""

    def __init__(
        self,
        config: EdgeConfig,
        *,
        drivers: list[Driver] | None = None,
        clock: ClockCheck | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or ClockCheck(config.clock.mode)
        self._drivers = drivers
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
        drivers = self._drivers
        if drivers is None:
            drivers = [build_driver(s) for s in config.sensors if s.enabled]
            intervals = [s.interval_s for s in config.sensors if s.enabled]
        else:
            by_name = {s.name: s.interval_s for s in config.sensors}
            intervals = [by_name.get(d.name, 60.0) for d in drivers]
        self.sensors = [SensorState(d, i) for d, i in zip(drivers, intervals, strict=True)]
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
            if now < sensor.next_due:
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
            "state": "online",
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
