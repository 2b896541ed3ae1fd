"""The agent's configuration: one YAML file, one pydantic model, validated once at start.

Why YAML and not farmwatch's TOML settings: the file is written by a technician at the pond with
``nano``, register maps for Modbus probes are lists, and YAML keeps those readable. MQTT
settings are the shared :class:`MqttSettings`, so TLS (``mqtts://`` + ``ca_file``) and
username/password work exactly as for the server. Everything is checked at start-up
(``extra="forbid"``: a misspelt key is an error, not a silently ignored setting).

See ``edge/examples/*.yaml`` and docs/edge.md for complete files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from farmwatch_core.contract import QUANTITIES, validate_id
from farmwatch_core.mqtt_settings import MqttSettings
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from farmwatch_edge.clock import ClockMode


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def explain(exc: ValidationError) -> str:
    """pydantic's errors as one line for a status message or an acknowledgement.

    Why not ``str(exc)``: it spans several lines with documentation URLs, which is noise in a
    retained MQTT status a farmer's app shows.

    >>> try:
    ...     FakeActuator.model_validate({"name": "fan", "driver": "fake", "min_on_s": -1})
    ... except ValidationError as exc:
    ...     explain(exc)
    'min_on_s: Input should be greater than or equal to 0'
    """
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _check_quantity(name: str) -> str:
    if name not in QUANTITIES:
        raise ValueError(f"unknown quantity {name!r}; see docs/contract.md for the registry")
    return name


class Register(_Strict):
    """One value in a Modbus register map: where it is and how to turn it into a quantity."""

    quantity: str
    address: Annotated[int, Field(ge=0, le=65535)]
    table: Literal["holding", "input"] = "holding"
    data_type: Literal["int16", "uint16", "int32", "uint32", "float32"] = "uint16"
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0

    _quantity = field_validator("quantity")(_check_quantity)


class RegisterMap(_Strict):
    """A probe model's register map; lives in its own file so one map serves many nodes."""

    model: str = ""
    registers: Annotated[list[Register], Field(min_length=1)]

    @classmethod
    def load(cls, path: Path) -> RegisterMap:
        return cls.model_validate(yaml.safe_load(path.read_text()))


class _SensorBase(_Strict):
    name: str
    interval_s: Annotated[float, Field(gt=0)] = 60.0
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_id("sensor", value)


class ModbusSensor(_SensorBase):
    """A Modbus probe on RS485 (``rtu``) or Ethernet/Wi-Fi (``tcp``)."""

    driver: Literal["modbus"]
    transport: Literal["tcp", "rtu"] = "rtu"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 502
    serial_port: str = "/dev/ttyUSB0"
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    device_id: Annotated[int, Field(ge=0, le=247)] = 1
    timeout_s: Annotated[float, Field(gt=0, le=10)] = 1.0
    register_map: Path | None = None
    registers: list[Register] = []

    @model_validator(mode="after")
    def _one_map(self) -> ModbusSensor:
        if (self.register_map is None) == (not self.registers):
            raise ValueError("give either register_map (a file) or registers (inline), not both")
        return self


class DS18B20Sensor(_SensorBase):
    """1-Wire DS18B20 probes through the kernel's w1-therm sysfs interface."""

    driver: Literal["ds18b20"]
    sysfs_root: Path = Path("/sys/bus/w1/devices")
    # device id (28-xxxxxxxxxxxx) -> quantity; empty: the first probe found is water_temperature.
    devices: dict[str, str] = {}

    @field_validator("devices")
    @classmethod
    def _quantities(cls, value: dict[str, str]) -> dict[str, str]:
        for quantity in value.values():
            _check_quantity(quantity)
        return value


class HealthSensor(_SensorBase):
    """The node's own health: CPU temperature, and battery voltage from a sysfs ADC if wired."""

    driver: Literal["health"]
    thermal_file: Path = Path("/sys/class/thermal/thermal_zone0/temp")
    battery_file: Path | None = None  # e.g. /sys/bus/iio/devices/iio:device0/in_voltage0_raw
    battery_scale: float = 1.0  # raw ADC value x scale = volts (include the divider ratio)
    # Wi-Fi signal (rssi, dBm) from the kernel's wireless statistics; null: do not read it.
    wireless_file: Path | None = Path("/proc/net/wireless")
    wireless_interface: str | None = None  # None: the first one listed (usually wlan0)


class FakeSensor(_SensorBase):
    """A simulated sensor: fixed values (plus a small ramp), or failing on purpose."""

    driver: Literal["fake"]
    values: dict[str, float]
    fail: str | None = None  # if set, every read fails with this reason

    @field_validator("values")
    @classmethod
    def _quantities(cls, value: dict[str, float]) -> dict[str, float]:
        for quantity in value:
            _check_quantity(quantity)
        return value


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


class _I2CSensor(_SensorBase):
    # /dev/i2c-1 is the header's SDA/SCL (GPIO2/3) on every Pi since the Model B rev 2.
    bus: Annotated[int, Field(ge=0)] = 1


class SHT3xSensor(_I2CSensor):
    """Sensirion SHT30/31/35: air temperature and relative humidity.

    ADDR pin low = 0x44, high = 0x45 (datasheet 3.5, Table 7).
    """

    driver: Literal["sht3x"]
    address: Literal[0x44, 0x45] = 0x44


class BH1750Sensor(_I2CSensor):
    """ROHM BH1750FVI ambient light: illuminance in lux.

    ADDR pin low = 0x23, high = 0x5C (datasheet p. 10, "Slave Address").
    """

    driver: Literal["bh1750"]
    address: Literal[0x23, 0x5C] = 0x23


class Ads1115Channel(_Strict):
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

    @field_validator("quantity")
    @classmethod
    def _quantity(cls, value: str) -> str:
        if value not in QUANTITIES:
            raise ValueError(f"unknown quantity {value!r}; see docs/contract.md for the registry")
        return value

    @field_validator("full_scale_v")
    @classmethod
    def _range(cls, value: float) -> float:
        if value not in ADS1115_PGA_BITS:
            ranges = ", ".join(f"{v:g}" for v in ADS1115_PGA_BITS)
            raise ValueError(f"full_scale_v must be one of {ranges} (the ADS1115's PGA ranges)")
        return value

    @model_validator(mode="after")
    def _unit(self) -> Ads1115Channel:
        if self.unit is not None and not QUANTITIES[self.quantity].accepts_unit(self.unit):
            raise ValueError(
                f"{self.quantity} cannot be given in {self.unit!r} "
                f"(canonical unit: {QUANTITIES[self.quantity].unit})"
            )
        return self


class ADS1115Sensor(_I2CSensor):
    """TI ADS1115 16-bit ADC reading analogue probe boards (pH, DO, soil moisture, ...).

    ADDR tied to GND/VDD/SDA/SCL = 0x48/0x49/0x4A/0x4B (datasheet 9.5.1.1, Table 4).
    """

    driver: Literal["ads1115"]
    address: Literal[0x48, 0x49, 0x4A, 0x4B] = 0x48
    data_rate: int = 128
    channels: Annotated[list[Ads1115Channel], Field(min_length=1, max_length=8)]

    @field_validator("data_rate")
    @classmethod
    def _rate(cls, value: int) -> int:
        if value not in ADS1115_DATA_RATE_BITS:
            rates = ", ".join(str(r) for r in ADS1115_DATA_RATE_BITS)
            raise ValueError(f"data_rate must be one of {rates} samples/s")
        return value

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[Ads1115Channel]) -> list[Ads1115Channel]:
        quantities = [c.quantity for c in value]
        if len(quantities) != len(set(quantities)):
            raise ValueError(f"each channel needs its own quantity: {quantities}")
        return value


SensorConfig = Annotated[
    ModbusSensor
    | DS18B20Sensor
    | HealthSensor
    | FakeSensor
    | SHT3xSensor
    | BH1750Sensor
    | ADS1115Sensor,
    Field(discriminator="driver"),
]


class _ActuatorBase(_Strict):
    name: str
    # Minimum times protect the motor and the relay contacts: an aerator or fan restarted
    # every few seconds (a reading hovering at a threshold, an impatient operator) burns out.
    min_on_s: Annotated[float, Field(ge=0)] = 60.0
    min_off_s: Annotated[float, Field(ge=0)] = 60.0

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_id("actuator", value)


class GpioActuator(_ActuatorBase):
    """A relay on a GPIO line through the kernel's sysfs interface (``/sys/class/gpio``)."""

    driver: Literal["gpio"]
    pin: Annotated[int, Field(ge=0)]  # the sysfs number (see docs/edge.md for Pi OS Bookworm)
    active_low: bool = False  # most cheap opto-isolated relay boards switch on a LOW input
    sysfs_root: Path = Path("/sys/class/gpio")


class GpiodActuator(_ActuatorBase):
    """A relay on a GPIO line through the character device (libgpiod v2, ``/dev/gpiochipN``).

    The modern interface: sysfs GPIO is deprecated and numbered by a chip base that changed
    with kernel 6.6, while here ``line`` is the offset on the chip, which on every Pi's
    ``gpiochip0`` is the BCM number printed on pinout diagrams.
    """

    driver: Literal["gpiod"]
    chip: str = "/dev/gpiochip0"  # a path, or a name such as gpiochip0 (under /dev)
    line: Annotated[int, Field(ge=0)]
    active_low: bool = False

    @field_validator("chip")
    @classmethod
    def _chip(cls, value: str) -> str:
        if not value:
            raise ValueError("chip must name a GPIO chip, e.g. /dev/gpiochip0")
        return value if value.startswith("/") else f"/dev/{value}"


class FakeActuator(_ActuatorBase):
    """A relay that only remembers its state: commissioning, tests and the bench."""

    driver: Literal["fake"]


ActuatorConfig = Annotated[
    GpioActuator | GpiodActuator | FakeActuator, Field(discriminator="driver")
]


class SafetyRule(_Strict):
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
    stale_after_s: Annotated[float, Field(gt=0)] = 600.0
    on_stale: Literal["hold", "on", "off"] = "hold"

    _quantity = field_validator("quantity")(_check_quantity)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_id("rule", value)

    @model_validator(mode="after")
    def _band(self) -> SafetyRule:
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
        return self


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


class OutboxConfig(_Strict):
    max_records: Annotated[int, Field(ge=1)] = 500_000
    # Replay pace after an outage, so a farm's nodes coming back together do not flood ingest.
    rate_limit_per_s: Annotated[float, Field(gt=0)] = 5000.0
    # Records per message. 500 keeps what waits for a PUBACK (max_inflight messages, held by
    # paho until acknowledged) near 0.5 MB; 2000 measured 4 MB more peak RSS during a replay
    # (bench/edge.py) for no faster replay, which the rate limit paces anyway.
    batch_records: Annotated[int, Field(ge=1, le=2000)] = 500
    # Unacknowledged messages in flight at once (each up to batch_records records).
    max_inflight: Annotated[int, Field(ge=1, le=1000)] = 10


class ClockConfig(_Strict):
    mode: ClockMode = ClockMode.AUTO


class EdgeConfig(_Strict):
    """Everything one node's agent needs."""

    farm_id: str
    node_id: str
    model_type: Literal["pond", "barn", "greenhouse", "field", "other"] = "other"
    data_dir: Path = Path("/var/lib/farmwatch-edge")
    mqtt: MqttSettings = MqttSettings()
    status_interval_s: Annotated[float, Field(gt=0)] = 30.0
    reconnect_min_s: Annotated[float, Field(gt=0)] = 1.0
    reconnect_max_s: Annotated[float, Field(gt=0)] = 60.0
    outbox: OutboxConfig = OutboxConfig()
    clock: ClockConfig = ClockConfig()
    sensors: list[SensorConfig] = []
    actuators: list[ActuatorConfig] = []
    rules: list[SafetyRule] = []
    # How long a manual command over MQTT overrides the safety rules of its actuator.
    manual_override_s: Annotated[float, Field(gt=0)] = 1800.0

    @field_validator("farm_id", "node_id")
    @classmethod
    def _ids(cls, value: str) -> str:
        return validate_id("farm/node", value)

    @model_validator(mode="after")
    def _unique_sensors(self) -> EdgeConfig:
        names = [s.name for s in self.sensors]
        if len(names) != len(set(names)):
            raise ValueError(f"sensor names must be unique: {names}")
        actuators = [a.name for a in self.actuators]
        if len(actuators) != len(set(actuators)):
            raise ValueError(f"actuator names must be unique: {actuators}")
        rules = [r.name for r in self.rules]
        if len(rules) != len(set(rules)):
            raise ValueError(f"rule names must be unique: {rules}")
        for rule in self.rules:
            check_rule_refs(rule, sensors=names, actuators=actuators)
        return self

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
        """Read and validate a YAML file; relative paths in it are relative to the file."""
        config = cls.model_validate(yaml.safe_load(path.read_text()))
        base = path.parent
        if not config.data_dir.is_absolute():
            config.data_dir = base / config.data_dir
        for sensor in config.sensors:
            if isinstance(sensor, ModbusSensor) and sensor.register_map is not None:
                if not sensor.register_map.is_absolute():
                    sensor.register_map = base / sensor.register_map
                RegisterMap.load(sensor.register_map)  # validate now, not at the first read
        return config
