"""I2C drivers (SHT3x, BH1750, ADS1115) against a fake bus speaking exactly the smbus2 calls.

The fake records every transaction and answers with byte sequences laid out as in the
datasheets; expected values are computed here from the datasheet formulas, independently of
the driver's code (including a table-free CRC written differently).
"""

from __future__ import annotations

import errno
from collections.abc import Sequence

import pytest
from farmwatch_edge.config import (
    Ads1115Channel,
    ADS1115Sensor,
    BH1750Sensor,
    SHT3xSensor,
)
from farmwatch_edge.drivers import DriverError, build_driver
from farmwatch_edge.drivers.i2c import ADS1115Driver, BH1750Driver, SHT3xDriver, crc8_sensirion
from farmwatch_edge.validation import InvalidConfig, validate
from msgspec.structs import replace
from smbus2 import i2c_msg


class FakeBus:
    """Implements ``write_byte``, ``write_i2c_block_data``, ``read_i2c_block_data``,
    ``i2c_rdwr`` and ``close``: exactly what the drivers call on ``smbus2.SMBus``."""

    def __init__(self) -> None:
        self.log: list[tuple[object, ...]] = []
        self.plain_reads: list[bytes] = []  # answers to i2c_msg.read, in order
        self.registers: dict[tuple[int, int], list[list[int]]] = {}  # (addr, reg) -> answers
        self.fail: OSError | None = None
        self.closed = False

    def _check(self) -> None:
        assert not self.closed, "used after close()"
        if self.fail is not None:
            raise self.fail

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        self._check()
        self.log.append(("write_byte", i2c_addr, value))

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        self._check()
        self.log.append(("write_block", i2c_addr, register, list(data)))

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        self._check()
        self.log.append(("read_block", i2c_addr, register, length))
        answer = self.registers[(i2c_addr, register)].pop(0)
        assert len(answer) == length
        return answer

    def i2c_rdwr(self, *i2c_msgs: i2c_msg) -> None:
        self._check()
        for msg in i2c_msgs:
            assert msg.flags & 0x0001, "only reads are expected as raw messages"
            data = self.plain_reads.pop(0)
            assert len(data) == msg.len
            for i, byte in enumerate(data):
                msg.buf[i] = bytes([byte])
            self.log.append(("read", msg.addr, msg.len))

    def close(self) -> None:
        self.closed = True


class Factory:
    def __init__(self, bus: FakeBus) -> None:
        self.bus = bus
        self.opened: list[int] = []

    def __call__(self, bus_number: int) -> FakeBus:
        self.opened.append(bus_number)
        self.bus.closed = False
        return self.bus


def _crc(data: bytes) -> int:
    """CRC-8/NRSC-5 as in the SHT3x datasheet 4.12, written as polynomial long division."""
    value = (int.from_bytes(data, "big") ^ (0xFF << (8 * (len(data) - 1)))) << 8
    for bit in range(8 * len(data) + 7, 7, -1):
        if value & (1 << bit):
            value ^= 0x131 << (bit - 8)
    return value


def _sht_frame(raw_t: int, raw_rh: int) -> bytes:
    t, rh = raw_t.to_bytes(2, "big"), raw_rh.to_bytes(2, "big")
    return t + bytes([_crc(t)]) + rh + bytes([_crc(rh)])


def _sleeps() -> list[float]:
    return []


def test_crc_matches_the_datasheet_example_and_an_independent_implementation() -> None:
    assert crc8_sensirion(b"\xbe\xef") == 0x92 == _crc(b"\xbe\xef")
    for word in (b"\x00\x00", b"\xff\xff", b"\x66\x66", b"\x8f\x5c", b"\x01\x80"):
        assert crc8_sensirion(word) == _crc(word)


def test_sht3x_single_shot_reads_and_converts() -> None:
    bus, sleeps = FakeBus(), _sleeps()
    raw_t, raw_rh = 0x6666, 0x8F5C  # ≈ 25 °C, ≈ 56 %RH
    bus.plain_reads.append(_sht_frame(raw_t, raw_rh))
    config = SHT3xSensor(name="air", address=0x45, bus=3)
    driver = SHT3xDriver(config, bus_factory=Factory(bus), sleep=sleeps.append)

    readings = driver.read()

    assert readings["air_temperature"] == pytest.approx(-45 + 175 * raw_t / 65535, abs=1e-3)
    assert readings["relative_humidity"] == pytest.approx(100 * raw_rh / 65535, abs=1e-3)
    assert readings["air_temperature"] == pytest.approx(25.0, abs=0.01)
    assert set(readings) == set(driver.quantities)
    # Command 0x2400, then a plain 6-byte read after at least the 15 ms maximum.
    assert bus.log == [("write_block", 0x45, 0x24, [0x00]), ("read", 0x45, 6)]
    assert sleeps
    assert sleeps[0] >= 0.015
    driver.close()
    assert bus.closed


def test_sht3x_crc_mismatch_is_a_driver_error_with_the_reason() -> None:
    bus = FakeBus()
    frame = bytearray(_sht_frame(0x6666, 0x8F5C))
    frame[3] ^= 0x40  # a flipped bit in the humidity MSB
    bus.plain_reads.append(bytes(frame))
    driver = SHT3xDriver(SHT3xSensor(name="air"), bus_factory=Factory(bus), sleep=_sleeps().append)
    with pytest.raises(DriverError, match=r"0x44 on i2c-1: CRC mismatch on humidity"):
        driver.read()
    driver.close()


def test_bh1750_datasheet_example() -> None:
    """Datasheet p. 7: high byte 1000_0011, low byte 1001_0000 -> 28067 lx."""
    bus, sleeps = FakeBus(), _sleeps()
    bus.plain_reads.append(bytes([0b1000_0011, 0b1001_0000]))
    driver = BH1750Driver(
        BH1750Sensor(name="light", address=0x5C),
        bus_factory=Factory(bus),
        sleep=sleeps.append,
    )
    readings = driver.read()
    assert readings == {"illuminance": pytest.approx((2**15 + 2**9 + 2**8 + 2**7 + 2**4) / 1.2)}
    assert round(readings["illuminance"]) == 28067
    assert bus.log == [("write_byte", 0x5C, 0x20), ("read", 0x5C, 2)]
    assert sleeps == [pytest.approx(0.18)]
    driver.close()


def _ads_config(**changes: object) -> ADS1115Sensor:
    base = ADS1115Sensor(
        name="probes",
        address=0x49,
        channels=[
            # A pH board: 2.5 V at pH 7, -0.18 V per pH unit.
            Ads1115Channel(
                quantity="ph",
                input="ain0",
                full_scale_v=4.096,
                scale=-1 / 0.18,
                offset=7 + 2.5 / 0.18,
            ),
            # A DO board calibrated in mg/L, on AIN1 with the ±2.048 V range.
            Ads1115Channel(
                quantity="dissolved_oxygen", input="ain1", full_scale_v=2.048, scale=10.0
            ),
        ],
    )
    return replace(base, **changes)


def test_ads1115_single_shot_per_channel_with_scaling() -> None:
    bus, sleeps = FakeBus(), _sleeps()
    ph_raw = round(2.14 / 4.096 * 32768)  # 2.14 V on AIN0
    do_raw = round(0.52 / 2.048 * 32768)  # 0.52 V on AIN1
    bus.registers[(0x49, 0x01)] = [[0x43, 0x83], [0xC3, 0x83], [0xD5, 0x83]]  # busy, done, done
    bus.registers[(0x49, 0x00)] = [list(ph_raw.to_bytes(2, "big")), list(do_raw.to_bytes(2, "big"))]
    driver = ADS1115Driver(_ads_config(), bus_factory=Factory(bus), sleep=sleeps.append)

    readings = driver.read()

    ph_volts = ph_raw * 4.096 / 32768
    do_volts = do_raw * 2.048 / 32768
    assert readings["ph"] == pytest.approx(7 + (2.5 - ph_volts) / 0.18, abs=1e-5)
    assert readings["ph"] == pytest.approx(9.0, abs=0.01)
    assert readings["dissolved_oxygen"] == pytest.approx(do_volts * 10, abs=1e-5)
    # Config words from datasheet Table 8, bit by bit:
    # OS=1 | MUX=100 (AIN0) | PGA=001 (±4.096) | MODE=1 | DR=100 (128 SPS) | COMP_QUE=11
    ain0 = 0b1_100_001_1_100_0_0_0_11
    # OS=1 | MUX=101 (AIN1) | PGA=010 (±2.048) | MODE=1 | DR=100 | COMP_QUE=11
    ain1 = 0b1_101_010_1_100_0_0_0_11
    assert bus.log == [
        ("write_block", 0x49, 0x01, [ain0 >> 8, ain0 & 0xFF]),
        ("read_block", 0x49, 0x01, 2),  # still converting (OS=0)
        ("read_block", 0x49, 0x01, 2),
        ("read_block", 0x49, 0x00, 2),
        ("write_block", 0x49, 0x01, [ain1 >> 8, ain1 & 0xFF]),
        ("read_block", 0x49, 0x01, 2),
        ("read_block", 0x49, 0x00, 2),
    ]
    assert all(s >= 1 / 128 for s in sleeps)
    driver.close()


def test_ads1115_negative_reading_and_unit_conversion() -> None:
    bus = FakeBus()
    bus.registers[(0x48, 0x01)] = [[0x80, 0x00]]
    bus.registers[(0x48, 0x00)] = [[0xFF, 0x38]]  # -200 counts, two's complement
    config = ADS1115Sensor(
        name="soil",
        data_rate=860,
        channels=[
            # A probe board giving 0.1 V per mS/cm around 0 V (differential input).
            Ads1115Channel(
                quantity="electrical_conductivity",
                input="ain2-ain3",
                full_scale_v=0.256,
                scale=10.0,
                unit="mS/cm",
            ),
        ],
    )
    driver = ADS1115Driver(config, bus_factory=Factory(bus), sleep=_sleeps().append)
    volts = -200 * 0.256 / 32768
    assert driver.read() == {"electrical_conductivity": pytest.approx(volts * 10 * 1000)}
    word = 0b1_011_101_1_111_0_0_0_11
    assert bus.log[0] == ("write_block", 0x48, 0x01, [word >> 8, word & 0xFF])
    driver.close()


def test_ads1115_conversion_that_never_completes_is_reported() -> None:
    bus = FakeBus()
    bus.registers[(0x48, 0x01)] = [[0x00, 0x00]] * ADS1115Driver.POLLS
    driver = ADS1115Driver(
        _ads_config(address=0x48), bus_factory=Factory(bus), sleep=_sleeps().append
    )
    with pytest.raises(DriverError, match="conversion did not complete"):
        driver.read()
    driver.close()


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        (errno.EREMOTEIO, "no answer"),
        (errno.ENOENT, "enable I2C with raspi-config"),
        (errno.EACCES, "i2c group"),
    ],
)
def test_os_error_is_a_driver_failure_and_is_retried(code: int, hint: str) -> None:
    bus = FakeBus()
    bus.fail = OSError(code, "boom")
    factory = Factory(bus)
    driver = BH1750Driver(BH1750Sensor(name="light"), bus_factory=factory, sleep=_sleeps().append)
    with pytest.raises(DriverError, match=hint) as info:
        driver.read()
    assert "bh1750 at 0x23 on i2c-1" in str(info.value)
    assert bus.closed  # closed on error, reopened next time
    bus.fail = None
    bus.plain_reads.append(bytes([0x01, 0x00]))
    assert driver.read() == {"illuminance": pytest.approx(256 / 1.2, abs=0.01)}
    assert factory.opened == [1, 1]
    driver.close()


def test_opening_the_bus_fails_cleanly() -> None:
    def no_bus(number: int) -> FakeBus:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", f"/dev/i2c-{number}")

    driver = SHT3xDriver(SHT3xSensor(name="air"), bus_factory=no_bus)
    with pytest.raises(DriverError, match="no /dev/i2c-1"):
        driver.read()
    driver.close()


def test_bus_is_opened_lazily_and_once() -> None:
    bus = FakeBus()
    factory = Factory(bus)
    driver = BH1750Driver(BH1750Sensor(name="light"), bus_factory=factory, sleep=_sleeps().append)
    assert factory.opened == []
    bus.plain_reads += [bytes([0, 12]), bytes([0, 24])]
    driver.read()
    driver.read()
    assert factory.opened == [1]
    driver.close()
    driver.close()  # idempotent


def test_build_driver_selects_the_i2c_drivers() -> None:
    sht = build_driver(SHT3xSensor(name="a"))
    bh = build_driver(BH1750Sensor(name="b"))
    ads = build_driver(_ads_config())
    assert isinstance(sht, SHT3xDriver)
    assert isinstance(bh, BH1750Driver)
    assert isinstance(ads, ADS1115Driver)
    assert ads.quantities == ("ph", "dissolved_oxygen")
    assert bh.quantities == ("illuminance",)
    for driver in (sht, bh, ads):
        driver.close()  # never opened: nothing to release


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (SHT3xSensor, {"driver": "sht3x", "name": "a", "address": 0x46}, "address"),
        (BH1750Sensor, {"driver": "bh1750", "name": "a", "address": 0x44}, "address"),
        (ADS1115Sensor, {"driver": "ads1115", "name": "a", "channels": []}, "channels"),
        (
            ADS1115Sensor,
            {"driver": "ads1115", "name": "a", "data_rate": 100, "channels": [{"quantity": "ph"}]},
            "data_rate",
        ),
        (
            ADS1115Sensor,
            {"driver": "ads1115", "name": "a", "channels": [{"quantity": "ph", "full_scale_v": 5}]},
            "PGA",
        ),
        (
            ADS1115Sensor,
            {"driver": "ads1115", "name": "a", "channels": [{"quantity": "nope"}]},
            "unknown quantity",
        ),
        (
            ADS1115Sensor,
            {"driver": "ads1115", "name": "a", "channels": [{"quantity": "ph", "unit": "V"}]},
            "cannot be given",
        ),
        (
            ADS1115Sensor,
            {
                "driver": "ads1115",
                "name": "a",
                "channels": [{"quantity": "ph"}, {"quantity": "ph", "input": "ain1"}],
            },
            "own quantity",
        ),
    ],
)
def test_config_rejects_nonsense(
    model: type[object], data: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidConfig, match=message):
        validate(model, data)
