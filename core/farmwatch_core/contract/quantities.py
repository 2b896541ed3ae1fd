"""The registry of physical quantities farmwatch accepts, with canonical units and bounds.

A reading's value is always stored in the quantity's canonical unit. A node may declare another
unit only if a conversion is registered here (e.g. a cheap probe reporting °F); anything else is
rejected with :attr:`Reason.WRONG_UNIT` instead of being silently stored 1.8x too high.

Bounds are *physical plausibility* limits of the sensor and the medium (a pond at 80 °C is a
broken probe, not a hot day). They are deliberately wide: agronomic limits (DO ≥ 4 mg/L...)
belong to analytics and alert rules, not to validation. Sensor ranges follow common datasheets
of the probes used on Vietnamese farms (RS485 soil and water probes, SHT3x, BH1750, MH-Z19,
MQ-137).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Quantity:
    """One measurable quantity.

    ``unit`` is the ASCII code used on the wire and in storage; ``symbol`` is for people.
    ``state`` quantities are on/off actuator or contact states stored as 0.0/1.0; they accept
    JSON booleans.
    """

    name: str
    unit: str
    symbol: str
    low: float
    high: float
    label_en: str
    label_vi: str
    state: bool = False
    conversions: Mapping[str, Callable[[float], float]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def accepts_unit(self, unit: str) -> bool:
        return unit == self.unit or unit in self.conversions

    def to_canonical(self, value: float, unit: str) -> float:
        """Convert ``value`` given in ``unit`` to the canonical unit.

        >>> round(QUANTITIES["air_temperature"].to_canonical(86.0, "degF"), 3)
        30.0
        """
        if unit == self.unit:
            return value
        return self.conversions[unit](value)


def _f_to_c(value: float) -> float:
    return (value - 32.0) * 5.0 / 9.0


def _k_to_c(value: float) -> float:
    return value - 273.15


def _times(factor: float) -> Callable[[float], float]:
    def convert(value: float) -> float:
        return value * factor

    return convert


_TEMPERATURE_UNITS = MappingProxyType({"degF": _f_to_c, "K": _k_to_c, "Cel": lambda v: v})
_EC_UNITS = MappingProxyType({"mS/cm": _times(1000.0), "dS/m": _times(1000.0), "S/m": _times(1e4)})
_PERCENT_UNITS = MappingProxyType({"%RH": lambda v: v, "/": _times(100.0)})


def _q(
    name: str,
    unit: str,
    symbol: str,
    low: float,
    high: float,
    label_en: str,
    label_vi: str,
    *,
    state: bool = False,
    conversions: Mapping[str, Callable[[float], float]] | None = None,
) -> Quantity:
    return Quantity(
        name,
        unit,
        symbol,
        low,
        high,
        label_en,
        label_vi,
        state,
        MappingProxyType(dict(conversions or {})),
    )


_ALL = (
    # Climate
    _q(
        "air_temperature",
        "degC",
        "°C",
        -40,
        70,
        "Air temperature",
        "Nhiệt độ không khí",
        conversions=_TEMPERATURE_UNITS,
    ),
    _q(
        "relative_humidity",
        "%",
        "%",
        0,
        100,
        "Relative humidity",
        "Độ ẩm không khí",
        conversions=_PERCENT_UNITS,
    ),
    _q(
        "air_pressure",
        "hPa",
        "hPa",
        300,
        1100,
        "Air pressure",
        "Áp suất không khí",
        conversions={"Pa": _times(0.01), "kPa": _times(10.0)},
    ),
    _q("rain", "mm", "mm", 0, 500, "Rain since last reading", "Lượng mưa"),
    _q(
        "wind_speed",
        "m/s",
        "m/s",
        0,
        75,
        "Wind speed",
        "Tốc độ gió",
        conversions={"km/h": _times(1 / 3.6)},
    ),
    _q("solar_radiation", "W/m2", "W/m²", 0, 1500, "Solar radiation", "Bức xạ mặt trời"),
    _q("illuminance", "lx", "lx", 0, 200_000, "Light", "Cường độ ánh sáng"),
    _q("leaf_wetness", "%", "%", 0, 100, "Leaf wetness", "Độ ướt lá", conversions=_PERCENT_UNITS),
    # Gases (barns, greenhouses)
    _q("co2", "ppm", "ppm", 0, 20_000, "CO2", "Khí CO2"),
    _q("nh3", "ppm", "ppm", 0, 500, "Ammonia gas (NH3)", "Khí amoniac (NH3)"),
    _q("h2s", "ppm", "ppm", 0, 200, "Hydrogen sulphide (H2S)", "Khí H2S"),
    # Water quality (ponds, clean-water stations)
    _q(
        "water_temperature",
        "degC",
        "°C",
        -5,
        50,
        "Water temperature",
        "Nhiệt độ nước",
        conversions=_TEMPERATURE_UNITS,
    ),
    _q(
        "dissolved_oxygen",
        "mg/L",
        "mg/L",
        0,
        25,
        "Dissolved oxygen",
        "Oxy hòa tan (DO)",
        conversions={"ppm": lambda v: v},
    ),
    _q("ph", "pH", "pH", 0, 14, "pH", "Độ pH"),
    _q(
        "total_ammonia_nitrogen",
        "mg/L",
        "mg/L",
        0,
        100,
        "Total ammonia nitrogen (TAN)",
        "Tổng amoni (TAN)",
        conversions={"ppm": lambda v: v},
    ),
    _q("nitrite", "mg/L", "mg/L", 0, 50, "Nitrite (NO2)", "Nitrit (NO2)"),
    _q(
        "electrical_conductivity",
        "uS/cm",
        "µS/cm",
        0,
        200_000,
        "Electrical conductivity",
        "Độ dẫn điện (EC)",
        conversions=_EC_UNITS,
    ),
    _q("salinity", "ppt", "‰", 0, 70, "Salinity", "Độ mặn", conversions={"PSU": lambda v: v}),
    _q("turbidity", "NTU", "NTU", 0, 4000, "Turbidity", "Độ đục"),
    _q("free_chlorine", "mg/L", "mg/L", 0, 10, "Free residual chlorine", "Clo dư tự do"),
    _q(
        "water_level",
        "m",
        "m",
        -10,
        100,
        "Water level",
        "Mực nước",
        conversions={"cm": _times(0.01)},
    ),
    # L/min stays canonical (farms' drip and barn meters report it, and stored series must not
    # change unit); station flow meters reporting m3/h or L/s are converted.
    _q(
        "water_flow",
        "L/min",
        "L/min",
        0,
        100_000,
        "Water flow",
        "Lưu lượng nước",
        conversions={"m3/h": _times(1000.0 / 60.0), "L/s": _times(60.0)},
    ),
    # A storage tank's fill as a share of its useful height, not metres: "running dry" is then
    # one threshold for every tank (a 2 m rooftop tank and a 6 m water tower alike), and the
    # ultrasonic level controllers of small rural stations report % of the configured span.
    _q(
        "tank_level",
        "%",
        "%",
        0,
        100,
        "Tank level",
        "Mực nước bể chứa",
        conversions={"/": _times(100.0)},
    ),
    _q(
        "water_consumption",
        "L",
        "L",
        0,
        100_000,
        "Water used since last reading",
        "Lượng nước tiêu thụ",
    ),
    # Livestock effluent (after the biogas digester / settling pond, before discharge).
    # Ion-selective ammonium probes read 0.1-1000 mg/L NH4+-N; COD is measured by UV254 probes
    # calibrated to COD (a proxy, as the issue allows), raw pig slurry reaching 10-20 g/L.
    _q(
        "ammonium",
        "mg/L",
        "mg/L",
        0,
        2000,
        "Ammonium (NH4+-N)",
        "Amoni (NH4+-N)",
        conversions={"ppm": lambda v: v},
    ),
    _q("cod", "mg/L", "mg/L", 0, 30_000, "COD (UV254 probe)", "COD (đầu đo UV254)"),
    _q(
        "total_suspended_solids",
        "mg/L",
        "mg/L",
        0,
        50_000,
        "Total suspended solids (TSS)",
        "Chất rắn lơ lửng (TSS)",
    ),
    # Soil
    _q(
        "soil_moisture",
        "%",
        "%",
        0,
        100,
        "Soil moisture (volumetric)",
        "Độ ẩm đất",
        conversions={"/": _times(100.0), "m3/m3": _times(100.0)},
    ),
    _q(
        "soil_temperature",
        "degC",
        "°C",
        -20,
        70,
        "Soil temperature",
        "Nhiệt độ đất",
        conversions=_TEMPERATURE_UNITS,
    ),
    _q("soil_nitrogen", "mg/kg", "mg/kg", 0, 2000, "Soil nitrogen (N)", "Đạm trong đất (N)"),
    _q("soil_phosphorus", "mg/kg", "mg/kg", 0, 2000, "Soil phosphorus (P)", "Lân trong đất (P)"),
    _q("soil_potassium", "mg/kg", "mg/kg", 0, 2000, "Soil potassium (K)", "Kali trong đất (K)"),
    # Node health
    _q(
        "battery_voltage",
        "V",
        "V",
        0,
        60,
        "Battery voltage",
        "Điện áp pin",
        conversions={"mV": _times(0.001)},
    ),
    _q("rssi", "dBm", "dBm", -140, 0, "Signal strength (RSSI)", "Cường độ sóng"),
    _q(
        "cpu_temperature",
        "degC",
        "°C",
        -40,
        125,
        "Node CPU temperature",
        "Nhiệt độ CPU",
        conversions=_TEMPERATURE_UNITS,
    ),
    # Actuator states
    _q("aerator_state", "1", "", 0, 1, "Aerator on", "Máy sục khí bật", state=True),
    _q("fan_state", "1", "", 0, 1, "Fan on", "Quạt bật", state=True),
    _q("pump_state", "1", "", 0, 1, "Pump on", "Bơm bật", state=True),
)

QUANTITIES: Mapping[str, Quantity] = MappingProxyType({q.name: q for q in _ALL})


def quantity(name: str) -> Quantity | None:
    """Look a quantity up by name; ``None`` when unknown."""
    return QUANTITIES.get(name)
