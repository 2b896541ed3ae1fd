"""A relay on a GPIO line through the Linux sysfs GPIO interface (``/sys/class/gpio``).

Why sysfs and not RPi.GPIO or libgpiod's bindings: it needs no compiled package, works on
every Pi model and kernel Raspberry Pi OS ships, and is plain file I/O, so tests use a fake
tree laid out like the kernel's (as the DS18B20 tests do). The sequence is the kernel's:

1. write the line number to ``export`` (skipped if ``gpioN/`` already exists: the line was
   exported by an earlier run, whose relay state we then adopt instead of glitching it off);
2. write ``low`` or ``high`` to ``gpioN/direction``: that makes it an output *and* sets the
   level in one step, so the relay never blips on while being configured;
3. write ``0``/``1`` to ``gpioN/value`` to switch.

Relay boards are often active-low (the relay closes when the input is pulled LOW);
``active_low`` inverts in software so ``set(True)`` always means "equipment on".
"""

from __future__ import annotations

import time

from farmwatch_edge.config import GpioActuator

_EXPORT_WAIT_S = 2.0  # udev needs a moment to create gpioN/ and fix its permissions


class SysfsGpioRelay:
    """Opens the line on first use; every later ``set`` is one small write."""

    def __init__(self, config: GpioActuator) -> None:
        self.config = config
        self.line = config.sysfs_root / f"gpio{config.pin}"
        self._state: bool | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def state(self) -> bool:
        if self._state is None:
            self._open()
        return bool(self._state)

    def _level(self, on: bool) -> int:
        return int(on != self.config.active_low)

    def _open(self) -> None:
        from farmwatch_edge.actuators import ActuatorError

        pin = self.config.pin
        try:
            if self.line.is_dir():
                direction = (self.line / "direction").read_text().strip()
                if direction == "out":
                    level = int((self.line / "value").read_text().strip())
                    self._state = level != int(self.config.active_low)
                    return
            else:
                (self.config.sysfs_root / "export").write_text(f"{pin}\n")
                deadline = time.monotonic() + _EXPORT_WAIT_S
                while not (self.line / "direction").exists():
                    if time.monotonic() > deadline:
                        raise ActuatorError(
                            f"GPIO {pin}: exported but {self.line} did not appear "
                            "(wrong pin number? on kernels >= 6.6 add the chip base, see docs)"
                        )
                    time.sleep(0.02)
            off = "high" if self.config.active_low else "low"
            (self.line / "direction").write_text(off)
            self._state = False
        except OSError as exc:
            raise ActuatorError(f"GPIO {pin}: {exc} (is the user in the 'gpio' group?)") from exc

    def set(self, on: bool) -> None:
        from farmwatch_edge.actuators import ActuatorError

        if self._state is None:
            self._open()
        try:
            (self.line / "value").write_text(str(self._level(on)))
        except OSError as exc:
            raise ActuatorError(f"GPIO {self.config.pin}: {exc}") from exc
        self._state = on

    def close(self) -> None:
        """Leave the line exported and at its level: stopping the agent must not stop an
        aerator (systemd restarts the agent; the pond must not notice)."""
