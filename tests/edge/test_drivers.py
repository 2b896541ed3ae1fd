"""Sensor drivers against real protocols or faithful fakes of the kernel interfaces.

Modbus runs against pymodbus's TCP server (real Modbus frames on a real socket); DS18B20 and
node health read a fake sysfs tree laid out like the kernel's; a failing driver is reported
and retried while the other sensors keep producing records.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from farmwatch_edge.agent import Agent
from farmwatch_edge.clock import ClockMode
from farmwatch_edge.config import (
    ClockConfig,
    DS18B20Sensor,
    EdgeConfig,
    FakeSensor,
    HealthSensor,
    ModbusSensor,
    MqttLinkSettings,
    Register,
)
from farmwatch_edge.drivers import DriverError, build_driver
from farmwatch_edge.drivers.onewire import parse_w1_slave
from msgspec.structs import replace
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from support.waiting import eventually

from farmwatch.broker import free_port

_PH_WORDS = list(struct.unpack(">HH", struct.pack(">f", 7.25)))


@pytest.fixture
def modbus_port() -> Iterator[int]:
    """A real Modbus TCP server (device 1) holding a water-quality probe's registers."""
    port = free_port()
    registers = [523, 0xFFEC, *_PH_WORDS]  # DO x0.01, temperature int16 -20 x0.1, pH float32
    device = SimDevice(
        id=1, simdata=[SimData(address=0, values=registers, datatype=DataType.REGISTERS)]
    )

    async def start() -> ModbusTcpServer:
        # pymodbus binds its transport to the running loop: create it inside that loop.
        server = ModbusTcpServer(device, address=("127.0.0.1", port))
        await server.serve_forever(background=True)
        return server

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="modbus-server")
    thread.start()
    server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(10)  # type: ignore[no-untyped-call]
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _modbus(port: int, **changes: object) -> ModbusSensor:
    registers = [
        Register(quantity="dissolved_oxygen", address=0, scale=0.01),
        Register(quantity="water_temperature", address=1, data_type="int16", scale=0.1),
        Register(quantity="ph", address=2, data_type="float32"),
    ]
    base = ModbusSensor(name="probe", transport="tcp", port=port, registers=registers)
    return replace(base, **changes)


def test_modbus_tcp_reads_and_scales_a_register_map(modbus_port: int) -> None:
    driver = build_driver(_modbus(modbus_port))
    try:
        assert driver.read() == {"dissolved_oxygen": 5.23, "water_temperature": -2.0, "ph": 7.25}
        assert driver.quantities == ("dissolved_oxygen", "water_temperature", "ph")
    finally:
        driver.close()


def test_modbus_errors_are_driver_errors(modbus_port: int) -> None:
    wrong_device = build_driver(_modbus(modbus_port, device_id=7, timeout_s=0.5))
    with pytest.raises(DriverError):
        wrong_device.read()
    wrong_device.close()
    nobody = build_driver(_modbus(free_port(), timeout_s=0.5))
    with pytest.raises(DriverError, match="cannot connect"):
        nobody.read()
    nobody.close()


def test_modbus_register_map_file(tmp_path: Path, modbus_port: int) -> None:
    regmap = tmp_path / "probe.yaml"
    regmap.write_text(
        "model: test probe\nregisters:\n"
        "  - {quantity: dissolved_oxygen, address: 0, table: holding, scale: 0.01}\n"
    )
    driver = build_driver(_modbus(modbus_port, registers=[], register_map=regmap))
    try:
        assert driver.read() == {"dissolved_oxygen": 5.23}
    finally:
        driver.close()


_GOOD = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
_BAD_CRC = "72 01 4b 46 7f ff 0e 10 57 : crc=57 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
_RESET = "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n"


def _w1(root: Path, device: str, text: str) -> None:
    (root / device).mkdir(parents=True, exist_ok=True)
    (root / device / "w1_slave").write_text(text)


def test_ds18b20_from_sysfs(tmp_path: Path) -> None:
    _w1(tmp_path, "28-0316a2794bff", _GOOD)
    (tmp_path / "w1_bus_master1").mkdir()
    driver = build_driver(DS18B20Sensor(name="water", sysfs_root=tmp_path))
    assert driver.read() == {"water_temperature": 23.125}


@pytest.mark.parametrize(
    ("text", "reason"),
    [(_BAD_CRC, "CRC check failed"), (_RESET, "85 °C power-on reset"), ("", "incomplete")],
)
def test_ds18b20_bad_readings_are_errors(tmp_path: Path, text: str, reason: str) -> None:
    _w1(tmp_path, "28-0316a2794bff", text)
    sensor = DS18B20Sensor(
        name="water",
        sysfs_root=tmp_path,
        devices={"28-0316a2794bff": "water_temperature"},
    )
    with pytest.raises(DriverError, match=reason):
        build_driver(sensor).read()


def test_ds18b20_missing_probe(tmp_path: Path) -> None:
    driver = build_driver(DS18B20Sensor(name="water", sysfs_root=tmp_path))
    with pytest.raises(DriverError, match="no DS18B20"):
        driver.read()
    with pytest.raises(ValueError, match="t="):
        parse_w1_slave("aa : crc=57 YES\nbb\n")


def test_health_from_sysfs(tmp_path: Path) -> None:
    thermal = tmp_path / "temp"
    thermal.write_text("48312\n")
    battery = tmp_path / "in_voltage0_raw"
    battery.write_text("1650\n")
    sensor = HealthSensor(
        name="health",
        thermal_file=thermal,
        battery_file=battery,
        battery_scale=0.0025,
        wireless_file=tmp_path / "no-wireless",  # a wired node: no rssi, and no error
    )
    assert build_driver(sensor).read() == {"cpu_temperature": 48.312, "battery_voltage": 4.125}
    thermal.unlink()
    with pytest.raises(DriverError, match="health"):
        build_driver(sensor).read()


_WIRELESS_HEADER = (
    "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n"
    " face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n"
)


@pytest.mark.parametrize(
    ("lines", "interface", "rssi"),
    [
        (
            " wlan0: 0000   54.  -56.  -256        0      0      0      0     12        0\n",
            None,
            -56.0,
        ),
        # Two radios: the named one; an old driver's unsigned level (190 = -66 dBm).
        (
            " wlan0: 0000   54.  -56.  -256  0 0 0 0 0 0\n"
            " wlan1: 0000   40.  190.  0  0 0 0 0 0 0\n",
            "wlan1",
            -66.0,
        ),
        (" wlan0: 0000    0.    0.     0  0 0 0 0 0 0\n", None, None),  # not associated
        ("", None, None),  # wireless extensions present, no Wi-Fi interface
        (" wlan0: 0000   54.  -56.  -256  0 0 0 0 0 0\n", "wlan1", None),  # that one is down
        (" wlan0: garbage\n", None, None),
    ],
)
def test_health_reads_rssi_where_available(
    tmp_path: Path, lines: str, interface: str | None, rssi: float | None
) -> None:
    thermal = tmp_path / "temp"
    thermal.write_text("51000\n")
    wireless = tmp_path / "proc-net-wireless"
    wireless.write_text(_WIRELESS_HEADER + lines)
    sensor = HealthSensor(
        name="health",
        thermal_file=thermal,
        wireless_file=wireless,
        wireless_interface=interface,
    )
    driver = build_driver(sensor)
    assert driver.quantities == ("cpu_temperature", "rssi")
    expected = {"cpu_temperature": 51.0} | ({} if rssi is None else {"rssi": rssi})
    assert driver.read() == expected


def test_failing_driver_is_reported_and_retried_without_stopping_others(tmp_path: Path) -> None:
    water = tmp_path / "w1"
    config = EdgeConfig(
        farm_id="pond-01",
        node_id="n3",
        data_dir=tmp_path / "edge",
        # Nothing listens there: the node is offline, which must not matter for sampling.
        mqtt=MqttLinkSettings(url=f"mqtt://127.0.0.1:{free_port()}"),
        status_interval_s=0.1,
        clock=ClockConfig(mode=ClockMode.UNSYNCED),
        sensors=[
            FakeSensor(name="ok", interval_s=0.02, values={"ph": 7.1}),
            DS18B20Sensor(name="water", interval_s=0.02, sysfs_root=water),
        ],
    )
    agent = Agent(config)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        eventually(lambda: agent.sensors and agent.sensors[1].errors >= 3, timeout=10)
        status = agent.status()
        assert status["driver_errors"]["water"].startswith("no DS18B20")
        assert status["sensors"]["ok"]["ok"] is True
        assert status["records"] >= 3  # the healthy sensor kept going
        _w1(water, "28-0316a2794bff", _GOOD)  # the technician plugs the probe in
        eventually(lambda: agent.sensors[1].ok is True, timeout=10, message="retried")
        assert "water" not in agent.status()["driver_errors"]
        assert status["clock_synced"] is False
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert (config.status_file).exists()
