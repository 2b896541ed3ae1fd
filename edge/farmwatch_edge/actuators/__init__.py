"""Actuators (relays for aerators, pumps, fans, heaters) behind one small interface.

An actuator is ``set(on)`` and ``state``, nothing more: what decides *when* to switch (safety
rules, manual commands, minimum on/off times) lives in :mod:`farmwatch_edge.control`, so every
relay driver gets those guarantees without re-implementing them. A relay that cannot be
switched raises :class:`ActuatorError` with a reason a technician can act on; the controller
reports it in the node's status and tries again on the next turn of the agent loop.
"""

from __future__ import annotations

from typing import Protocol

from farmwatch_edge.config import ActuatorConfig, FakeActuator, GpioActuator, GpiodActuator


class ActuatorError(Exception):
    """A relay could not be switched or read; the message is the reason shown in status."""


class Actuator(Protocol):
    """What the controller needs from a relay driver."""

    @property
    def name(self) -> str: ...

    @property
    def state(self) -> bool:
        """True when the equipment is on (after any active-low inversion)."""
        ...

    def set(self, on: bool) -> None:
        """Switch; raise ActuatorError if the hardware refused."""
        ...

    def close(self) -> None: ...


def build_actuator(config: ActuatorConfig) -> Actuator:
    """The driver for one configured actuator (imported lazily, like the sensor drivers)."""
    if isinstance(config, GpioActuator):
        from farmwatch_edge.actuators.gpio import SysfsGpioRelay

        return SysfsGpioRelay(config)
    if isinstance(config, GpiodActuator):
        from farmwatch_edge.actuators.gpiod import GpiodRelay

        return GpiodRelay(config)
    if isinstance(config, FakeActuator):
        from farmwatch_edge.actuators.fake import FakeRelay

        return FakeRelay(config.name)
    raise TypeError(f"no actuator driver for {type(config).__name__}")  # pragma: no cover


__all__ = ["Actuator", "ActuatorError", "build_actuator"]
