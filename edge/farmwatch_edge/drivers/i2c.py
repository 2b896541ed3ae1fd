"""I2C sensors through smbus2 on ``/dev/i2c-N``: SHT3x, BH1750 and ADS1115.

All three are read the same way: open the bus lazily (a node boots before the i2c-dev module
is loaded and still starts its other sensors), start a *single* conversion, wait the
datasheet's maximum conversion time, read the result. Single-shot rather than the chips'
periodic modes because the agent samples every minute or so: a sensor that sleeps between
readings does not self-heat (SHT3x) and draws microamps on a battery node.

An ``OSError`` from the bus (``Remote I/O error``: nothing answered at that address, a loose
wire; ``No such file``: I2C not enabled) becomes a :class:`DriverError` with a hint; the bus
is closed and reopened at the next interval, so a sensor plugged back in recovers by itself.

The bus is injected (``bus_factory``) so tests drive the same code with a fake bus that speaks
exactly the smbus2 calls used here; production uses ``smbus2.SMBus(bus_number)``.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from farmwatch_core.contract import QUANTITIES
from smbus2 import i2c_msg

from farmwatch_edge.config import (
    ADS1115_DATA_RATE_BITS,
    ADS1115_MUX_BITS,
    ADS1115_PGA_BITS,
    Ads1115Channel,
    ADS1115Sensor,
    BH1750Sensor,
    SHT3xSensor,
)


class I2CBus(Protocol):
    """The part of ``smbus2.SMBus`` these drivers use (and a test fake implements)."""

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None: ...

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None: ...

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]: ...

    def i2c_rdwr(self, *i2c_msgs: i2c_msg) -> None: ...

    def close(self) -> None: ...


BusFactory = Callable[[int], I2CBus]


def open_smbus(bus_number: int) -> I2CBus:
    """The real bus: ``/dev/i2c-<bus_number>`` (needs the ``i2c`` group on Raspberry Pi OS)."""
    from smbus2 import SMBus

    return SMBus(bus_number)


def crc8_sensirion(data: bytes) -> int:
    """CRC-8 of the SHT3x (datasheet 4.12, Table 19): poly 0x31, init 0xFF, no reflection.

    Why check it: a long cable to a greenhouse sensor picks up noise, and a flipped bit in the
    high byte of humidity is a 25 %RH jump that looks like a real reading.

    >>> hex(crc8_sensirion(b"\\xbe\\xef"))  # the datasheet's example
    '0x92'
    """
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _msg_bytes(msg: i2c_msg) -> bytes:
    # Through the ctypes buffer, not iter(msg): smbus2's stubs type __iter__ wrongly.
    return bytes(msg.buf[: msg.len])


def _hint(exc: OSError, bus: int) -> str:
    if exc.errno == errno.ENOENT:
        return f"no /dev/i2c-{bus} (enable I2C with raspi-config, or wrong bus number)"
    if exc.errno in {errno.EACCES, errno.EPERM}:
        return f"no permission on /dev/i2c-{bus} (add the service user to the i2c group)"
    if exc.errno in {errno.EREMOTEIO, errno.ENXIO, errno.EIO}:
        return "no answer (check wiring, power and the address strap)"
    return "I/O error"


ConfigT = TypeVar("ConfigT", bound=SHT3xSensor | BH1750Sensor | ADS1115Sensor)


class I2cSensor(Generic[ConfigT]):
    """Lazy bus, error translation and close: what the three chips share.

    Generic in the chip's config model, so each driver sees its own fields (``channels``,
    ``data_rate``...) fully typed without re-declaring the constructor to narrow it.
    """

    def __init__(
        self,
        config: ConfigT,
        *,
        bus_factory: BusFactory = open_smbus,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config: ConfigT = config
        self._bus_factory = bus_factory
        self._sleep = sleep
        self._bus: I2CBus | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def where(self) -> str:
        return f"{self.config.driver} at 0x{self.config.address:02x} on i2c-{self.config.bus}"

    def read(self) -> dict[str, float]:
        from farmwatch_edge.drivers import DriverError

        try:
            if self._bus is None:
                self._bus = self._bus_factory(self.config.bus)
            return self._measure(self._bus)
        except OSError as exc:
            self.close()  # reopen next time: the adapter or the sensor may have been replugged
            raise DriverError(f"{self.where}: {_hint(exc, self.config.bus)}: {exc}") from exc

    def _measure(self, bus: I2CBus) -> dict[str, float]:
        raise NotImplementedError  # pragma: no cover

    def close(self) -> None:
        if self._bus is not None:
            bus, self._bus = self._bus, None
            bus.close()


class SHT3xDriver(I2cSensor[SHT3xSensor]):
    """Air temperature (°C) and relative humidity (%RH) from a Sensirion SHT3x."""

    # Single shot, high repeatability, clock stretching disabled (datasheet 4.3, Table 9):
    # without stretching the Pi's I2C controller (which mishandles stretching) is not involved.
    COMMAND = (0x24, 0x00)
    # Maximum measurement duration at high repeatability (datasheet 2.2, Table 4: 15 ms).
    MEASUREMENT_S = 0.016

    @property
    def quantities(self) -> tuple[str, ...]:
        return ("air_temperature", "relative_humidity")

    def _measure(self, bus: I2CBus) -> dict[str, float]:
        from farmwatch_edge.drivers import DriverError

        address = self.config.address
        command, argument = self.COMMAND
        bus.write_i2c_block_data(address, command, [argument])
        self._sleep(self.MEASUREMENT_S)
        # A plain read (no register byte): a repeated-start write would be taken as a command.
        msg = i2c_msg.read(address, 6)
        bus.i2c_rdwr(msg)
        data = _msg_bytes(msg)
        # Six bytes: T msb, T lsb, T CRC, RH msb, RH lsb, RH CRC (datasheet 4.4).
        for label, word, crc in (
            ("temperature", data[0:2], data[2]),
            ("humidity", data[3:5], data[5]),
        ):
            if crc8_sensirion(word) != crc:
                raise DriverError(
                    f"{self.where}: CRC mismatch on {label} (got 0x{crc:02x}, computed "
                    f"0x{crc8_sensirion(word):02x}): noise on the I2C cable; shorten it or "
                    "add pull-ups"
                )
        raw_t = int.from_bytes(data[0:2], "big")
        raw_rh = int.from_bytes(data[3:5], "big")
        # Conversion formulas (datasheet 4.13).
        return {
            "air_temperature": round(-45.0 + 175.0 * raw_t / 65535.0, 3),
            "relative_humidity": round(100.0 * raw_rh / 65535.0, 3),
        }


class BH1750Driver(I2cSensor[BH1750Sensor]):
    """Illuminance (lx) from a ROHM BH1750FVI."""

    # "One Time H-Resolution Mode" (datasheet p. 5, instruction set): 1 lx resolution, and the
    # chip powers down by itself afterwards.
    COMMAND = 0x20
    # Maximum H-resolution measurement time (datasheet p. 2: typ. 120 ms, max 180 ms).
    MEASUREMENT_S = 0.18

    @property
    def quantities(self) -> tuple[str, ...]:
        return ("illuminance",)

    def _measure(self, bus: I2CBus) -> dict[str, float]:
        address = self.config.address
        bus.write_byte(address, self.COMMAND)
        self._sleep(self.MEASUREMENT_S)
        msg = i2c_msg.read(address, 2)
        bus.i2c_rdwr(msg)
        raw = int.from_bytes(_msg_bytes(msg), "big")
        # 1.2 counts per lx at the default sensitivity (datasheet p. 7, measurement example).
        return {"illuminance": round(raw / 1.2, 2)}


def ads1115_config_word(channel: Ads1115Channel, data_rate: int) -> int:
    """The config register value that starts one conversion (datasheet 9.6.3, Table 8).

    OS=1 (start), MUX, PGA, MODE=1 (single-shot, power-down after), DR, comparator disabled
    (COMP_QUE=11). The classic "AIN0, ±4.096 V, 128 SPS" word:

    >>> hex(ads1115_config_word(Ads1115Channel(quantity="ph"), 128))
    '0xc383'
    """
    return (
        (1 << 15)
        | (ADS1115_MUX_BITS[channel.input] << 12)
        | (ADS1115_PGA_BITS[channel.full_scale_v] << 9)
        | (1 << 8)
        | (ADS1115_DATA_RATE_BITS[data_rate] << 5)
        | 0b11
    )


class ADS1115Driver(I2cSensor[ADS1115Sensor]):
    """Analogue probe boards (pH, DO, ...) through a TI ADS1115, one conversion per channel."""

    CONVERSION_REGISTER = 0x00
    CONFIG_REGISTER = 0x01
    # Times 1/data_rate before polling the OS bit: the internal oscillator may run 10 % slow
    # (datasheet 7.5, "Data rate variation"), plus the I2C transfer itself.
    POLLS = 5

    @property
    def quantities(self) -> tuple[str, ...]:
        return tuple(c.quantity for c in self.config.channels)

    def _measure(self, bus: I2CBus) -> dict[str, float]:
        return {c.quantity: self._convert(bus, c) for c in self.config.channels}

    def volts(self, bus: I2CBus, channel: Ads1115Channel) -> float:
        """One single-shot conversion of ``channel``, in volts."""
        from farmwatch_edge.drivers import DriverError

        address, rate = self.config.address, self.config.data_rate
        word = ads1115_config_word(channel, rate)
        bus.write_i2c_block_data(address, self.CONFIG_REGISTER, list(word.to_bytes(2, "big")))
        for _ in range(self.POLLS):
            self._sleep(1.1 / rate + 0.0005)
            status = bus.read_i2c_block_data(address, self.CONFIG_REGISTER, 2)
            if status[0] & 0x80:  # OS reads 1 once no conversion is running (9.6.3)
                break
        else:
            raise DriverError(f"{self.where}: conversion did not complete (is it an ADS1115?)")
        data = bus.read_i2c_block_data(address, self.CONVERSION_REGISTER, 2)
        # Two's complement, full scale = ±FSR (datasheet 9.3.3 and 9.6.1).
        raw = int.from_bytes(bytes(data), "big", signed=True)
        return raw * channel.full_scale_v / 32768.0

    def _convert(self, bus: I2CBus, channel: Ads1115Channel) -> float:
        value = self.volts(bus, channel) * channel.scale + channel.offset
        quantity = QUANTITIES[channel.quantity]
        return round(quantity.to_canonical(value, channel.unit or quantity.unit), 6)
