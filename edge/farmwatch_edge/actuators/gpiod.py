"""A relay on a GPIO line through the Linux GPIO character device, with libgpiod v2.

Why a second GPIO driver: the sysfs interface (:mod:`farmwatch_edge.actuators.gpio`) is
deprecated, numbers lines by a chip base that moved with kernel 6.6, and may be compiled out of
future Raspberry Pi OS kernels. The character device is the supported interface: the line is
addressed as (chip, offset), and the offset on a Pi's ``gpiochip0`` is the BCM number.

The ``gpiod`` package (libgpiod's official bindings, v2 API) is imported only when a relay uses
this driver. The line is requested once and held while the agent runs (the kernel refuses it to
anyone else meanwhile, and shows the consumer ``farmwatch-edge`` in ``gpioinfo``):

1. request it ``AS_IS``: nothing changes on the pin yet;
2. if it already is an output (an earlier run left it so), read its level and keep it: the
   relay is adopted, not glitched off; otherwise make it an output at "off";
3. ``active_low`` is the kernel's line setting, so ``ACTIVE`` always means equipment on.

On close the request is released and the pin keeps its level on the Pi's GPIO controller
(the kernel does not promise that for every chip): stopping the agent must not stop an aerator.

Not tested on hardware here (no GPIO chip and no gpio-sim on the development machine): the tests
cover the configuration and the error path (no such chip, not a chip), not switching a line.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from farmwatch_edge.config import GpiodActuator

if TYPE_CHECKING:
    from gpiod import LineRequest

CONSUMER = "farmwatch-edge"
# A missing chip does not appear by itself: try again at this pace, not every loop turn.
_RETRY_S = 5.0


class GpiodRelay:
    """Requests the line on first use; every later ``set`` is one ioctl."""

    def __init__(self, config: GpiodActuator) -> None:
        self.config = config
        self._request: LineRequest | None = None
        self._state: bool | None = None
        self._error: str | None = None
        self._retry_at = 0.0

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def state(self) -> bool:
        if self._state is None:
            self._open()
        return bool(self._state)

    def _where(self) -> str:
        return f"{self.config.chip} line {self.config.line}"

    def _fail(self, reason: str) -> Exception:
        from farmwatch_edge.actuators import ActuatorError

        self._error = reason
        self._retry_at = time.monotonic() + _RETRY_S
        return ActuatorError(reason)

    def _open(self) -> None:
        from farmwatch_edge.actuators import ActuatorError

        if self._error is not None and time.monotonic() < self._retry_at:
            raise ActuatorError(self._error)
        try:
            import gpiod
            from gpiod.line import Direction, Value
        except ImportError as exc:
            raise self._fail(f"the gpiod package is not installed ({exc})") from exc
        where, line = self._where(), self.config.line
        try:
            with gpiod.Chip(self.config.chip) as chip:
                info = chip.get_line_info(line)
                if info.used:
                    raise self._fail(f"{where}: in use by {info.consumer or 'another program'!r}")
                request = chip.request_lines(
                    consumer=CONSUMER,
                    config={line: gpiod.LineSettings(active_low=self.config.active_low)},
                )
        except FileNotFoundError as exc:
            raise self._fail(f"{where}: no such GPIO chip (see `gpiodetect`)") from exc
        except PermissionError as exc:
            raise self._fail(f"{where}: {exc} (is the user in the 'gpio' group?)") from exc
        except (OSError, ValueError) as exc:
            raise self._fail(f"{where}: {exc}") from exc
        try:
            # An output already (an earlier run left it so): keep its level; else start off.
            on = info.direction == Direction.OUTPUT and request.get_value(line) == Value.ACTIVE
            request.reconfigure_lines(
                {
                    line: gpiod.LineSettings(
                        direction=Direction.OUTPUT,
                        output_value=Value.ACTIVE if on else Value.INACTIVE,
                        active_low=self.config.active_low,
                    )
                }
            )
        except (OSError, ValueError) as exc:
            request.release()
            raise self._fail(f"{where}: {exc}") from exc
        self._request, self._state, self._error = request, on, None

    def set(self, on: bool) -> None:
        if self._request is None:
            self._open()
        from gpiod.line import Value

        request = self._request
        if request is None:  # pragma: no cover - _open either sets it or raises
            raise self._fail(f"{self._where()}: not requested")
        try:
            request.set_value(self.config.line, Value.ACTIVE if on else Value.INACTIVE)
        except (OSError, ValueError) as exc:
            raise self._fail(f"{self._where()}: {exc}") from exc
        self._state = on

    def close(self) -> None:
        if self._request is not None:
            self._request.release()
            self._request = None
