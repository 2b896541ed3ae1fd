"""Sensor drivers behind one small interface, and the one function that builds them.

Every driver, however it talks to hardware (Modbus, 1-Wire sysfs, I2C, a file), answers
``read() -> {quantity: value}`` in the contract's canonical units. A driver that cannot read
raises :class:`DriverError` with a reason a technician can act on ("no DS18B20 under
/sys/bus/w1/devices: is dtoverlay=w1-gpio set?"); the agent reports it in the node's status
and tries again at the next interval, and the other sensors carry on.
"""

from __future__ import annotations

from typing import Protocol

from farmwatch_edge.config import (
    ADS1115Sensor,
    BH1750Sensor,
    DS18B20Sensor,
    FakeSensor,
    HealthSensor,
    ModbusSensor,
    SensorConfig,
    SHT3xSensor,
)


class DriverError(Exception):
    """A sensor could not be read; the message is the reason shown in status."""


class Driver(Protocol):
    """What the agent needs from a sensor driver."""

    @property
    def name(self) -> str: ...

    @property
    def quantities(self) -> tuple[str, ...]: ...

    def read(self) -> dict[str, float]:
        """One reading of every quantity; raise DriverError when the sensor cannot be read."""
        ...

    def close(self) -> None: ...


def build_driver(config: SensorConfig) -> Driver:
    """The driver for one configured sensor (imports lazily: a node loads only what it uses)."""
    if isinstance(config, SHT3xSensor | BH1750Sensor | ADS1115Sensor):
        from farmwatch_edge.drivers.i2c import ADS1115Driver, BH1750Driver, SHT3xDriver

        if isinstance(config, SHT3xSensor):
            return SHT3xDriver(config)
        if isinstance(config, BH1750Sensor):
            return BH1750Driver(config)
        return ADS1115Driver(config)
    if isinstance(config, ModbusSensor):
        from farmwatch_edge.drivers.modbus import ModbusDriver

        return ModbusDriver(config)
    if isinstance(config, DS18B20Sensor):
        from farmwatch_edge.drivers.onewire import DS18B20Driver

        return DS18B20Driver(config)
    if isinstance(config, HealthSensor):
        from farmwatch_edge.drivers.health import HealthDriver

        return HealthDriver(config)
    if isinstance(config, FakeSensor):
        from farmwatch_edge.drivers.fake import FakeDriver

        return FakeDriver(config)
    raise TypeError(f"no driver for {type(config).__name__}")  # pragma: no cover


__all__ = ["Driver", "DriverError", "build_driver"]
