"""When each relay last switched, on disk, so minimum on/off times hold across restarts.

Why: ``min_on_s``/``min_off_s`` protect a motor from being restarted too soon. The controller
knows when it last switched a relay only while it runs; systemd restarting a crashed agent (or
a new config, or an upgrade) would otherwise free every relay at once, and an aerator switched
off 5 seconds before the crash could be switched on again 5 seconds after it.

Each switch is written as ``{"on": true, "boot_id": "...", "at": 1234.5, "wall": 1795...}``
(atomically, fsynced; switches are rare, minutes apart). ``at`` is the controller's clock
(``time.monotonic()`` in the agent), which keeps counting across an agent restart within the
same boot, so the elapsed time is exact. After a reboot the monotonic clock starts again; then
the wall clock gives the elapsed time, and if it went backwards (a Pi without RTC boots in the
past) the elapsed time counts as zero: the full minimum time is kept, the safe side for a motor.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Switch:
    """One relay's last switch."""

    on: bool
    boot_id: str
    at: float  # the controller's clock (monotonic seconds in the agent)
    wall: float  # Unix seconds, for after a reboot

    def elapsed(self, *, boot_id: str, now: float, wall: float) -> float:
        """Seconds since this switch, never overestimated.

        >>> Switch(True, "b1", at=100.0, wall=5000.0).elapsed(boot_id="b1", now=130.0, wall=0.0)
        30.0
        >>> Switch(True, "b1", at=100.0, wall=5000.0).elapsed(boot_id="b2", now=1.0, wall=4000.0)
        0.0
        """
        if boot_id == self.boot_id:
            return max(0.0, now - self.at)
        return max(0.0, wall - self.wall)


class SwitchLog:
    """``actuator name -> Switch`` in one small JSON file."""

    def __init__(self, path: Path, boot_id: str, *, wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self.boot_id = boot_id
        self.wall = wall
        self._switches: dict[str, Switch] | None = None

    def load(self) -> dict[str, Switch]:
        """The stored switches; an unreadable file counts as none (and is logged)."""
        if self._switches is None:
            self._switches = {}
            try:
                stored = json.loads(self.path.read_text())
                for name, item in stored.items():
                    self._switches[name] = Switch(
                        bool(item["on"]),
                        str(item["boot_id"]),
                        float(item["at"]),
                        float(item["wall"]),
                    )
            except FileNotFoundError:
                pass
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                log.warning("ignoring unreadable %s", self.path, exc_info=True)
        return self._switches

    def record(self, name: str, on: bool, at: float) -> None:
        """Store a switch durably; a disk error is logged, never raised (the relay switched)."""
        switches = self.load()
        switches[name] = Switch(on, self.boot_id, at, self.wall())
        body = {
            n: {"on": s.on, "boot_id": s.boot_id, "at": s.at, "wall": s.wall}
            for n, s in switches.items()
        }
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("w") as fh:
                json.dump(body, fh)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self.path)
        except OSError:
            log.warning("cannot write %s", self.path, exc_info=True)

    def elapsed(self, name: str, now: float) -> float | None:
        """Seconds since ``name`` last switched, or None if it never did (as far as we know)."""
        switch = self.load().get(name)
        if switch is None:
            return None
        return switch.elapsed(boot_id=self.boot_id, now=now, wall=self.wall())
