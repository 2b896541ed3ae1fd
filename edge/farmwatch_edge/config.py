"""The agent's configuration: one YAML file, msgspec models, validated once at start.

Why YAML and not farmwatch's TOML settings: the file is written by a technician at the pond with
``nano``, register maps for Modbus probes are lists, and YAML keeps those readable. The
``mqtt`` section has the keys of the server's ``MqttSettings`` (:class:`MqttLinkSettings`), so
TLS (``mqtts://`` + ``ca_file``) and username/password work exactly as for the server.
Everything is checked at start-up (a misspelt key is an error, not a silently ignored setting),
by :func:`~farmwatch_edge.validation.validate`, with located reasons:

>>> validate(EdgeConfig, {"farm_id": "f", "node_id": "n",
...                       "sensors": [{"name": "a", "driver": "fake", "values": {"ph": 7}},
...                                   {"name": "b", "driver": "fake", "interval_s": 0}]})
Traceback (most recent call last):
...
farmwatch_edge.validation.InvalidConfig: sensors[1].interval_s: must be > 0

Why msgspec rather than pydantic (as the server): memory on a Pi Zero, see
:mod:`farmwatch_edge.validation`. Models built directly (``FakeSensor(name=...)``) run the
same ``__post_init__`` checks; range constraints are checked by ``validate``.

See ``edge/examples/*.yaml`` and docs/edge.md for complete files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from farmwatch_core.contract import QUANTITIES, ContractError, validate_id
from msgspec import field

from farmwatch_edge.clock import ClockMode
from farmwatch_edge.mqtt_link_settings import MqttLinkSettings
from farmwatch_edge.validation import InvalidConfig, Meta, Strict, field_error, validate

__all__ = [
    "ADS1115Sensor",
    "ActuatorConfig",
    "Ads1115Channel",
    "BH1750Sensor",
    "ClockConfig",
    "DS18B20Sensor",
    "EdgeConfig",
    "FakeActuator",
    "FakeSensor",
    "GpioActuator",
    "GpiodActuator",
    "HealthSensor",
    "InvalidConfig",
    "ModbusSensor",
    "MqttLinkSettings",
    "OutboxConfig",
    "Register",
    "RegisterMap",
    "SHT3xSensor",
    "SafetyRule",
    "SensorConfig",
    "check_rule_refs",
    "validate",
]


def _check_quantity(name: str, where: str = "quantity") -> None:
    if name not in QUANTITIES:
        raise field_error(
            where, f"unknown quantity {name!r}; see docs/contract.md for the registry"
        )


def _check_id(kind: str, value: str, where: str = "name") -> None:
    try:
        validate_id(kind, value)
    except ContractError as exc:
        raise field_error(where, exc.rejection.detail) from None


class _Tagged(Strict, tag_field="driver", kw_only=True):
    """A sensor or actuator: ``driver`` (the tag) says which model the entry is."""

    @property
    def driver(self) -> str:
        """The ``driver`` key of the entry (msgspec's tag for this model)."""
        return str(self.__struct_config__.tag)


class Register(Strict, kw_only=True):
    """One value in a Modbus register map: where it is and how to turn it into a quantity."""

    quantity: str
    address: Annotated[int, Meta(ge=0, le=65535)]
    table: Literal["holding", "input"] = "holding"
    data_type: Literal["int16", "uint16", "int32", "uint32", "float32"] = "uint16"
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        _check_quantity(self.quantity)


class RegisterMap(Strict, kw_only=True):
    """A probe model's register map; lives in its own file so one map serves many nodes."""

    model: str = ""
    registers: Annotated[list[Register], Meta(min_length=1)]

    @classmethod
    def load(cls, path: Path) -> RegisterMap:
        try:
            return validate(cls, yaml.safe_load(path.read_text()))
        except InvalidConfig as exc:
            raise InvalidConfig(str(exc), str(path)) from None


class _SensorBase(_Tagged, kw_only=True):
    name: str
    interval_s: Annotated[float, Meta(gt=0)] = 60.0
    enabled: bool = True

    def __post_init__(self) -> None:
        _check_id("sensor", self.name)


class ModbusSensor(_SensorBase, tag="modbus", kw_only=True):
    """A Modbus probe on RS485 (``rtu``) or Ethernet/Wi-Fi (``tcp``)."""

    transport: Literal["tcp", "rtu"] = "rtu"
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535)] = 502
    serial_port: str = "/dev/ttyUSB0"
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    device_id: Annotated[int, Meta(ge=0, le=247)] = 1
    timeout_s: Annotated[float, Meta(gt=0, le=10)] = 1.0
    register_map: Path | None = None
    registers: list[Register] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.register_map is None) == (not self.registers):
            raise ValueError("give either register_map (a file) or registers (inline), not both")


class DS18B20Sensor(_SensorBase, tag="ds18b20", kw_only=True):
    """1-Wire DS18B20 probes through the kernel's w1-therm sysfs interface."""

    sysfs_root: Path = Path("/sys/bus/w1/devices")
    # device id (28-xxxxxxxxxxxx) -> quantity; empty: the first probe found is water_temperature.
    devices: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        for quantity in self.devices.values():
            _check_quantity(quantity, "devices")


class HealthSensor(_SensorBase, tag="health", kw_only=True):
    """The node's own health: CPU temperature, and battery voltage from a sysfs ADC if wired."""

    thermal_file: Path = Path("/sys/class/thermal/thermal_zone0/temp")
    battery_file: Path | None = None  # e.g. /sys/bus/iio/devices/iio:device0/in_voltage0_raw
    battery_scale: float = 1.0  # raw ADC value x scale = volts (include the divider ratio)
    # Wi-Fi signal (rssi, dBm) from the kernel's wireless statistics; null: do not read it.
    wireless_file: Path | None = Path("/proc/net/wireless")
    wireless_interface: str | None = None  # None: the first one listed (usually wlan0)


class FakeSensor(_SensorBase, tag="fake", kw_only=True):
    """A simulated sensor: fixed values (plus a small ramp), or failing on purpose."""

    values: dict[str, float]
    fail: str | None = None  # if set, every read fails with this reason

    def __post_init__(self) -> None:
        super().__post_init__()
        for quantity in self.values:
            _check_quantity(quantity, "values")


# ADS1115 full-scale ranges (datasheet SBAS444, 9.6.3 Table 8, PGA[2:0]) -> register bits.
ADS1115_PGA_BITS: dict[float, int] = {
    6.144: 0b000,
    4.096: 0b001,
    2.048: 0b010,
    1.024: 0b011,
    0.512: 0b100,
    0.256: 0b101,
}
# Data rates in samples/s (DR[2:0]) -> register bits.
ADS1115_DATA_RATE_BITS: dict[int, int] = {
    8: 0b000,
    16: 0b001,
    32: 0b010,
    64: 0b011,
    128: 0b100,
    250: 0b101,
    475: 0b110,
    860: 0b111,
}
# Input multiplexer (MUX[2:0]): single-ended against GND, or differential pairs.
ADS1115_MUX_BITS: dict[str, int] = {
    "ain0-ain1": 0b000,
    "ain0-ain3": 0b001,
    "ain1-ain3": 0b010,
    "ain2-ain3": 0b011,
    "ain0": 0b100,
    "ain1": 0b101,
    "ain2": 0b110,
    "ain3": 0b111,
}

Ads1115Input = Literal[
    "ain0", "ain1", "ain2", "ain3", "ain0-ain1", "ain0-ain3", "ain1-ain3", "ain2-ain3"
]


class _I2CSensor(_SensorBase, kw_only=True):
    # /dev/i2c-1 is the header's SDA/SCL (GPIO2/3) on every Pi since the Model B rev 2.
    bus: Annotated[int, Meta(ge=0)] = 1


class SHT3xSensor(_I2CSensor, tag="sht3x", kw_only=True):
    """Sensirion SHT30/31/35: air temperature and relative humidity.

    ADDR pin low = 0x44, high = 0x45 (datasheet 3.5, Table 7).
    """

    address: Literal[0x44, 0x45] = 0x44


class BH1750Sensor(_I2CSensor, tag="bh1750", kw_only=True):
    """ROHM BH1750FVI ambient light: illuminance in lux.

    ADDR pin low = 0x23, high = 0x5C (datasheet p. 10, "Slave Address").
    """

    address: Literal[0x23, 0x5C] = 0x23


class Ads1115Channel(Strict, kw_only=True):
    """One analogue input of an ADS1115 and how its voltage becomes a quantity.

    ``value = volts × scale + offset`` in ``unit`` (default: the quantity's canonical unit),
    then converted to the canonical unit. The two numbers come from the probe board's
    calibration: e.g. a pH board giving 2.5 V at pH 7 and falling 0.18 V per pH unit has
    ``scale = -5.556``, ``offset = 20.89``.

    ``full_scale_v`` is the PGA range (±V). Pick the smallest one above the board's maximum
    output for the best resolution, but never above the supply: an ADS1115 on 3.3 V cannot
    measure beyond 3.3 V whatever the range says (datasheet 9.3.3).
    """

    quantity: str
    input: Ads1115Input = "ain0"
    full_scale_v: float = 4.096
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None

    def __post_init__(self) -> None:
        _check_quantity(self.quantity)
        if self.full_scale_v not in ADS1115_PGA_BITS:
            ranges = ", ".join(f"{v:g}" for v in ADS1115_PGA_BITS)
            raise field_error("full_scale_v", f"must be one of {ranges} (the ADS1115's PGA ranges)")
        if self.unit is not None and not QUANTITIES[self.quantity].accepts_unit(self.unit):
            raise field_error(
                "unit",
                f"{self.quantity} cannot be given in {self.unit!r} "
                f"(canonical unit: {QUANTITIES[self.quantity].unit})",
            )


class ADS1115Sensor(_I2CSensor, tag="ads1115", kw_only=True):
    """TI ADS1115 16-bit ADC reading analogue probe boards (pH, DO, soil moisture, ...).

    ADDR tied to GND/VDD/SDA/SCL = 0x48/0x49/0x4A/0x4B (datasheet 9.5.1.1, Table 4).
    """

    address: Literal[0x48, 0x49, 0x4A, 0x4B] = 0x48
    data_rate: int = 128
    channels: Annotated[list[Ads1115Channel], Meta(min_length=1, max_length=8)]

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.data_rate not in ADS1115_DATA_RATE_BITS:
            rates = ", ".join(str(r) for r in ADS1115_DATA_RATE_BITS)
            raise field_error("data_rate", f"must be one of {rates} samples/s")
        quantities = [c.quantity for c in self.channels]
        if len(quantities) != len(set(quantities)):
            raise field_error("channels", f"each channel needs its own quantity: {quantities}")


# One entry of ``sensors``: its ``driver`` key picks the model.
SensorConfig = (
    ModbusSensor
    | DS18B20Sensor
    | HealthSensor
    | FakeSensor
    | SHT3xSensor
    | BH1750Sensor
    | ADS1115Sensor
)


class _ActuatorBase(_Tagged, kw_only=True):
    name: str
    # Minimum times protect the motor and the relay contacts: an aerator or fan restarted
    # every few seconds (a reading hovering at a threshold, an impatient operator) burns out.
    min_on_s: Annotated[float, Meta(ge=0)] = 60.0
    min_off_s: Annotated[float, Meta(ge=0)] = 60.0

    def __post_init__(self) -> None:
        _check_id("actuator", self.name)


class GpioActuator(_ActuatorBase, tag="gpio", kw_only=True):
    """A relay on a GPIO line through the kernel's sysfs interface (``/sys/class/gpio``)."""

    pin: Annotated[int, Meta(ge=0)]  # the sysfs number (see docs/edge.md for Pi OS Bookworm)
    active_low: bool = False  # most cheap opto-isolated relay boards switch on a LOW input
    sysfs_root: Path = Path("/sys/class/gpio")


class GpiodActuator(_ActuatorBase, tag="gpiod", kw_only=True):
    """A relay on a GPIO line through the character device (libgpiod v2, ``/dev/gpiochipN``).

    The modern interface: sysfs GPIO is deprecated and numbered by a chip base that changed
    with kernel 6.6, while here ``line`` is the offset on the chip, which on every Pi's
    ``gpiochip0`` is the BCM number printed on pinout diagrams.
    """

    chip: str = "/dev/gpiochip0"  # a path, or a name such as gpiochip0 (under /dev)
    line: Annotated[int, Meta(ge=0)]
    active_low: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.chip:
            raise field_error("chip", "must name a GPIO chip, e.g. /dev/gpiochip0")
        if not self.chip.startswith("/"):
            self.chip = f"/dev/{self.chip}"


class FakeActuator(_ActuatorBase, tag="fake", kw_only=True):
    """A relay that only remembers its state: commissioning, tests and the bench."""


# One entry of ``actuators``: its ``driver`` key picks the model.
ActuatorConfig = GpioActuator | GpiodActuator | FakeActuator


class SafetyRule(Strict, kw_only=True):
    """Switch an actuator on when a quantity crosses ``on_at``, off again past ``off_at``.

    The gap between the two is the hysteresis band: with DO hovering around 3.0 mg/L an aerator
    that switched at one value would chatter; "on below 3.0, off above 4.0" does not.

    >>> SafetyRule(name="low-do", quantity="dissolved_oxygen", actuator="aerator",
    ...            when="below", on_at=3.0, off_at=4.0).off_at
    4.0
    """

    name: str
    quantity: str
    sensor: str | None = None  # only readings of this sensor (default: the latest of any)
    actuator: str
    when: Literal["below", "above"]
    on_at: float
    off_at: float
    enabled: bool = True
    # A reading older than this is no evidence; then ``on_stale`` decides: keep the last
    # decision (hold), or fail safe (on: an aerator should run when its DO probe has died).
    stale_after_s: Annotated[float, Meta(gt=0)] = 600.0
    on_stale: Literal["hold", "on", "off"] = "hold"

    def __post_init__(self) -> None:
        _check_id("rule", self.name)
        _check_quantity(self.quantity)
        if self.when == "below" and not self.off_at > self.on_at:
            raise ValueError(
                f"rule {self.name}: off_at ({self.off_at}) must be above on_at ({self.on_at}) "
                "for a 'below' rule; the gap is the hysteresis band"
            )
        if self.when == "above" and not self.off_at < self.on_at:
            raise ValueError(
                f"rule {self.name}: off_at ({self.off_at}) must be below on_at ({self.on_at}) "
                "for an 'above' rule; the gap is the hysteresis band"
            )


def check_rule_refs(rule: SafetyRule, *, sensors: list[str], actuators: list[str]) -> None:
    """ValueError unless the rule's actuator (and sensor, if named) exist on this node.

    Shared by the local file's validation and remote config, which may add rules.
    """
    if rule.actuator not in actuators:
        raise ValueError(
            f"rule {rule.name} switches actuator {rule.actuator!r}, which is not "
            f"configured (actuators: {', '.join(actuators) or 'none'})"
        )
    if rule.sensor is not None and rule.sensor not in sensors:
        raise ValueError(f"rule {rule.name} reads sensor {rule.sensor!r}: not configured")


class OutboxConfig(Strict, kw_only=True):
    """The outbox's bound and the replay's pace.

    >>> validate(OutboxConfig, {"batch_records": 5000})
    Traceback (most recent call last):
    ...
    farmwatch_edge.validation.InvalidConfig: batch_records: must be <= 2000
    """

    max_records: Annotated[int, Meta(ge=1)] = 500_000
    # Replay pace after an outage, so a farm's nodes coming back together do not flood ingest.
    rate_limit_per_s: Annotated[float, Meta(gt=0)] = 5000.0
    # Records per message. 500 keeps what waits for a PUBACK (max_inflight messages, held by
    # paho until acknowledged) near 0.5 MB; 2000 measured 4 MB more peak RSS during a replay
    # (bench/edge.py) for no faster replay, which the rate limit paces anyway.
    batch_records: Annotated[int, Meta(ge=1, le=2000)] = 500
    # Unacknowledged messages in flight at once (each up to batch_records records).
    max_inflight: Annotated[int, Meta(ge=1, le=1000)] = 10


class ClockConfig(Strict, kw_only=True):
    mode: ClockMode = ClockMode.AUTO


class EdgeConfig(Strict, kw_only=True):
    """Everything one node's agent needs."""

    farm_id: str
    node_id: str
    model_type: Literal["pond", "barn", "greenhouse", "field", "other"] = "other"
    data_dir: Path = Path("/var/lib/farmwatch-edge")
    mqtt: MqttLinkSettings = field(default_factory=MqttLinkSettings)
    status_interval_s: Annotated[float, Meta(gt=0)] = 30.0
    reconnect_min_s: Annotated[float, Meta(gt=0)] = 1.0
    reconnect_max_s: Annotated[float, Meta(gt=0)] = 60.0
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    sensors: list[SensorConfig] = field(default_factory=list)
    actuators: list[ActuatorConfig] = field(default_factory=list)
    rules: list[SafetyRule] = field(default_factory=list)
    # How long a manual command over MQTT overrides the safety rules of its actuator.
    manual_override_s: Annotated[float, Meta(gt=0)] = 1800.0

    def __post_init__(self) -> None:
        _check_id("farm", self.farm_id, "farm_id")
        _check_id("node", self.node_id, "node_id")
        names = [s.name for s in self.sensors]
        if len(names) != len(set(names)):
            raise field_error("sensors", f"sensor names must be unique: {names}")
        actuators = [a.name for a in self.actuators]
        if len(actuators) != len(set(actuators)):
            raise field_error("actuators", f"actuator names must be unique: {actuators}")
        rules = [r.name for r in self.rules]
        if len(rules) != len(set(rules)):
            raise field_error("rules", f"rule names must be unique: {rules}")
        for i, rule in enumerate(self.rules):
            try:
                check_rule_refs(rule, sensors=names, actuators=actuators)
            except ValueError as exc:
                raise ValueError(f"rules[{i}]: {exc}") from None

    @property
    def outbox_file(self) -> Path:
        return self.data_dir / "outbox.db"

    @property
    def sequence_file(self) -> Path:
        return self.data_dir / "sequence.json"

    @property
    def status_file(self) -> Path:
        return self.data_dir / "status.json"

    @property
    def switch_log_file(self) -> Path:
        """When each relay last switched, so minimum on/off times survive a restart."""
        return self.data_dir / "actuators.json"

    @property
    def remote_config_file(self) -> Path:
        """The last accepted remote config, so it survives a restart without a broker."""
        return self.data_dir / "remote-config.json"

    @classmethod
    def load(cls, path: Path) -> EdgeConfig:
        """Read and validate a YAML file; relative paths in it are relative to the file.

        InvalidConfig names the file and where in it the problem is.
        """
        try:
            config = validate(cls, yaml.safe_load(path.read_text()))
        except InvalidConfig as exc:
            raise InvalidConfig(str(exc), str(path)) from None
        base = path.parent
        if not config.data_dir.is_absolute():
            config.data_dir = base / config.data_dir
        for sensor in config.sensors:
            if isinstance(sensor, ModbusSensor) and sensor.register_map is not None:
                if not sensor.register_map.is_absolute():
                    sensor.register_map = base / sensor.register_map
                RegisterMap.load(sensor.register_map)  # validate now, not at the first read
        return config
