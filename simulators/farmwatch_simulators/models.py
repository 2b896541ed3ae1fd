"""Node models: what each kind of farm node would measure, driven by the shared climate.

One model per node profile (pond water probe, barn climate box, greenhouse controller, field
station...). A model is a small stateful process: ``read(ts)`` advances its state (water and
soil temperature lag the air, dissolved oxygen integrates photosynthesis and respiration, the
soil integrates rain and evapotranspiration, the battery integrates solar charge and drain) from
the previous reading to ``ts`` in sub-steps of at most :attr:`NodeModel.max_step`, then returns
one reading per quantity in the contract's canonical units, with sensor noise and resolution.

Models are deterministic: the same climate seed, node seed, name and sequence of timestamps give
the same readings. Timestamps must not go backwards; a gap longer than
:attr:`NodeModel.spin_up` restarts the state as after a power cut.

>>> from datetime import UTC, datetime
>>> from farmwatch_simulators.climate import Climate
>>> pond = build_model("pond_water", Climate(seed=1), seed=1, name="pond-01-n1")
>>> readings = pond.read(datetime(2026, 7, 15, 22, 30, tzinfo=UTC))  # 05:30 local, pre-dawn
>>> sorted(readings) == sorted(pond.quantities)
True
>>> 0 < readings["dissolved_oxygen"] < 9
True
"""

from __future__ import annotations

import functools
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import ClassVar

from farmwatch_analytics.indicators.water_quality import do_saturation
from farmwatch_core.registry import ModelType

from farmwatch_simulators.climate import Climate, SmoothNoise, Weather, local_hour, local_time

HEALTH_QUANTITIES = ("battery_voltage", "rssi")


@dataclass(frozen=True, slots=True)
class Forcing:
    """A process event's push on the physics of a node, over ``[start, end)`` (UTC).

    Events (a cold surge, a still and overcast night over a pond, an ammonia build-up) change
    what the *medium* does, not what the sensor says, so they enter the model here, before the
    sensor noise, and every lagged state (water temperature, DO, soil water) carries them on
    after the window closes. The strength ramps linearly in and out over ``ramp_h`` hours
    because real cold surges and heat waves arrive over hours, not in one step.

    Offsets add to the outdoor weather the model sees (the node's battery and radio keep the
    real weather: they are not part of the process); factors multiply; the three switches turn
    a controller off for the window (aerator failure, no irrigation, cooling pads broken).
    """

    start: datetime
    end: datetime
    ramp_h: float = 0.0
    temperature_offset: float = 0.0  # °C added to the outdoor air temperature
    humidity_offset: float = 0.0  # %-points added to the outdoor relative humidity
    rain_rate: float | None = None  # mm/h replacing the rain (0.0: a dry spell)
    solar_factor: float = 1.0  # cloudiness: multiplies global radiation
    et_factor: float = 1.0  # multiplies crop evapotranspiration (hot, dry wind)
    respiration_factor: float = 1.0  # multiplies pond community respiration
    reaeration_factor: float = 1.0  # multiplies pond surface re-aeration (still air)
    ammonia_offset: float = 0.0  # NH3 ppm in a barn, TAN mg/L in a pond
    aerator: bool = True
    irrigation: bool = True
    cooling: bool = True
    # Clean-water and effluent stations: the chlorine dosing pump works, the raw-water pump
    # delivers water when it runs, the station has power (the pump can run at all), and a
    # factor on the effluent's pollutant load (a failing digester washes sludge out).
    chlorine_dosing: bool = True
    pump_delivers: bool = True
    supply: bool = True
    load_factor: float = 1.0

    def weight(self, ts: datetime) -> float:
        """0 outside the window, 1 inside it, linear ramps of ``ramp_h`` at both ends."""
        if ts < self.start or ts >= self.end:
            return 0.0
        if self.ramp_h <= 0:
            return 1.0
        ramp_s = self.ramp_h * 3600.0
        since = (ts - self.start).total_seconds()
        until = (self.end - ts).total_seconds()
        return min(1.0, (since + 1.0) / ramp_s, until / ramp_s)


@dataclass(frozen=True, slots=True)
class Process:
    """The combined effect of the forcings active at one instant (neutral when none are)."""

    temperature_offset: float = 0.0
    humidity_offset: float = 0.0
    rain_rate: float | None = None
    solar_factor: float = 1.0
    et_factor: float = 1.0
    respiration_factor: float = 1.0
    reaeration_factor: float = 1.0
    ammonia_offset: float = 0.0
    aerator: bool = True
    irrigation: bool = True
    cooling: bool = True
    chlorine_dosing: bool = True
    pump_delivers: bool = True
    supply: bool = True
    load_factor: float = 1.0

    @classmethod
    def combine(cls, forcings: Sequence[Forcing], ts: datetime) -> Process:
        """Blend the forcings at ``ts``: offsets add, factors multiply, switches AND."""
        out = NEUTRAL
        for f in forcings:
            w = f.weight(ts)
            if w <= 0.0:
                continue
            rain = out.rain_rate
            if f.rain_rate is not None:
                rain = f.rain_rate if rain is None else min(rain, f.rain_rate)
            out = cls(
                temperature_offset=out.temperature_offset + w * f.temperature_offset,
                humidity_offset=out.humidity_offset + w * f.humidity_offset,
                rain_rate=rain,
                solar_factor=out.solar_factor * (1.0 + w * (f.solar_factor - 1.0)),
                et_factor=out.et_factor * (1.0 + w * (f.et_factor - 1.0)),
                respiration_factor=out.respiration_factor
                * (1.0 + w * (f.respiration_factor - 1.0)),
                reaeration_factor=out.reaeration_factor * (1.0 + w * (f.reaeration_factor - 1.0)),
                ammonia_offset=out.ammonia_offset + w * f.ammonia_offset,
                aerator=out.aerator and f.aerator,
                irrigation=out.irrigation and f.irrigation,
                cooling=out.cooling and f.cooling,
                chlorine_dosing=out.chlorine_dosing and f.chlorine_dosing,
                pump_delivers=out.pump_delivers and f.pump_delivers,
                supply=out.supply and f.supply,
                load_factor=out.load_factor * (1.0 + w * (f.load_factor - 1.0)),
            )
        return out

    def apply(self, weather: Weather) -> Weather:
        """The weather as the forced process sees it."""
        if self is NEUTRAL or self == NEUTRAL:
            return weather
        solar = weather.solar_radiation * self.solar_factor
        return replace(
            weather,
            air_temperature=weather.air_temperature + self.temperature_offset,
            relative_humidity=_clip(weather.relative_humidity + self.humidity_offset, 5.0, 100.0),
            rain_rate=weather.rain_rate if self.rain_rate is None else self.rain_rate,
            solar_radiation=solar,
            illuminance=weather.illuminance * self.solar_factor,
        )


NEUTRAL = Process()
"""No event active: the model runs on the plain climate."""


@dataclass(frozen=True, slots=True)
class Sensor:
    """How a probe reports a quantity: noise (absolute + relative), resolution, physical range.

    ``low``/``high`` are the limits of the *medium and the probe* (RH cannot pass 100 %, a DO
    probe does not read below 0), narrower than the contract's bounds; readings are clipped to
    them after noise is added, as a real probe saturates.
    """

    sd: float
    decimals: int
    low: float
    high: float
    relative_sd: float = 0.0


# Noise levels follow the datasheets of the probes the contract's quantity registry names:
# SHT3x ±0.2 °C / ±2 %RH, optical DO ±0.1 mg/L, pH ±0.02, MH-Z19 CO2 ±(50 ppm + 5 %), MQ-137
# NH3 (coarse), RS485 soil probes ±0.5 %, BH1750 light ±20 % (we use a kinder 3 %).
SENSORS: Mapping[str, Sensor] = MappingProxyType(
    {
        "air_temperature": Sensor(0.15, 2, -10.0, 60.0),
        "relative_humidity": Sensor(1.2, 1, 5.0, 100.0),
        "water_temperature": Sensor(0.08, 2, 0.0, 45.0),
        "dissolved_oxygen": Sensor(0.08, 2, 0.0, 20.0),
        "ph": Sensor(0.02, 2, 4.0, 11.0),
        "total_ammonia_nitrogen": Sensor(0.02, 3, 0.0, 20.0),
        "nh3": Sensor(0.5, 1, 0.0, 100.0),
        "co2": Sensor(15.0, 0, 300.0, 10_000.0, relative_sd=0.02),
        "water_consumption": Sensor(0.0, 2, 0.0, 50_000.0, relative_sd=0.04),
        "illuminance": Sensor(0.0, 0, 0.0, 150_000.0, relative_sd=0.03),
        "soil_moisture": Sensor(0.4, 1, 0.0, 100.0),
        "electrical_conductivity": Sensor(0.0, 0, 0.0, 20_000.0, relative_sd=0.02),
        "soil_temperature": Sensor(0.1, 2, -5.0, 60.0),
        "rain": Sensor(0.0, 1, 0.0, 400.0),
        "leaf_wetness": Sensor(1.5, 0, 0.0, 100.0),
        "battery_voltage": Sensor(0.004, 3, 3.0, 4.25),
        "rssi": Sensor(1.5, 0, -100.0, -60.0),
        # Stations: amperometric chlorine ±0.02 mg/L, nephelometric turbidity ±2 %, ultrasonic
        # level ±0.3 %, magnetic flow meters ±1-2 %, ISE ammonium and UV254 COD probes ±5 %,
        # electrochemical H2S ±0.3 ppm.
        "free_chlorine": Sensor(0.015, 2, 0.0, 5.0),
        "turbidity": Sensor(0.03, 2, 0.0, 1000.0, relative_sd=0.02),
        "tank_level": Sensor(0.3, 1, 0.0, 100.0),
        "water_flow": Sensor(0.4, 1, 0.0, 100_000.0, relative_sd=0.015),
        "pump_state": Sensor(0.0, 0, 0.0, 1.0),
        "ammonium": Sensor(0.5, 1, 0.0, 2000.0, relative_sd=0.03),
        "cod": Sensor(2.0, 0, 0.0, 30_000.0, relative_sd=0.03),
        "h2s": Sensor(0.15, 1, 0.0, 200.0),
    }
)


def reference_et(temperature_c: float, solar_w_m2: float, hours: float) -> float:
    """Reference evapotranspiration in mm over ``hours`` (Hargreaves radiation form).

    ET0 = 0.0135 (T + 17.8) Rs with Rs in mm of evaporation equivalent (1 MJ/m² = 0.408 mm,
    FAO-56). FAO-56 eq. 52 (agronomy.md §2) is this formula with Rs estimated as
    0.17 Ra √(Tmax − Tmin) (0.0135 × 0.17 ≈ 0.0023); the simulator knows Rs, so it uses it.

    >>> round(reference_et(30.0, 900.0, 1.0), 2)
    0.85
    >>> reference_et(25.0, 0.0, 1.0)
    0.0
    """
    rs_mm = max(0.0, solar_w_m2) * 3600e-6 * hours * 0.408
    return max(0.0, 0.0135 * (temperature_c + 17.8) * rs_mm)


def _relax(value: float, target: float, dt_h: float, tau_h: float) -> float:
    """First-order lag: exact update of dv/dt = (target - v) / tau over dt (stable for any dt)."""
    return target + (value - target) * math.exp(-dt_h / tau_h)


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


_SensorRow = tuple[str, bool, float, float, float, float, int]


@functools.cache
def _sensor_table(cls: type[NodeModel]) -> tuple[_SensorRow, ...]:
    """``SENSORS`` for a model class's quantities, as flat tuples (built once per class)."""
    return tuple(
        (name, bool(s.sd or s.relative_sd), s.sd, s.relative_sd, s.low, s.high, s.decimals)
        for name in cls.quantities
        for s in (SENSORS[name],)
    )


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class NodeHealth:
    """Battery and radio of a solar-powered node.

    A 1S Li-ion cell between 3.6 V (nearly empty under load) and 4.2 V (full), charged by a small
    panel and drained by the node around the clock: full in sunny summer, sagging through the
    overcast late winter. RSSI is a per-site mean (-68 to -92 dBm for LoRa/4G links across
    fields) with slow fading and rain attenuation.
    """

    def __init__(self, rng: random.Random) -> None:
        self.soc = rng.uniform(0.55, 0.95)
        self._charge_per_kwh = rng.uniform(0.075, 0.095)  # state of charge per kWh/m² of sun
        self._drain_per_h = rng.uniform(0.0105, 0.0115)
        self._rssi_mean = rng.uniform(-92.0, -68.0)
        self._fading = SmoothNoise(rng, 0.5, 12.0, terms=8)
        self._charging = False

    def step(self, dt_h: float, weather: Weather) -> None:
        charge = self._charge_per_kwh * weather.solar_radiation / 1000.0
        self._charging = charge > self._drain_per_h
        self.soc = _clip(self.soc + dt_h * (charge - self._drain_per_h), 0.04, 1.0)

    def observe(self, hours: float, weather: Weather) -> dict[str, float]:
        # The cell voltage is ~linear in state of charge over 3.6-4.2 V; charging lifts it a bit.
        voltage = 3.6 + 0.58 * self.soc + (0.02 if self._charging else 0.0)
        rssi = self._rssi_mean + 3.0 * self._fading(hours) - 5.0 * min(1.0, weather.rain_rate / 5.0)
        return {"battery_voltage": voltage, "rssi": rssi}


class NodeModel(ABC):
    """Base of all node models: time stepping, spin-up, health, noise and rounding.

    Subclasses set :attr:`profile` and :attr:`quantities` and implement ``_init_state``,
    ``_step`` and ``_observe``. The constructor draws the node's own parameters (herd size,
    pond depth, radio quality...) from ``seed`` and ``name`` so every node differs but
    reproducibly.
    """

    profile: ClassVar[str]
    model_type: ClassVar[ModelType]
    quantities: ClassVar[tuple[str, ...]]
    #: Longest integration sub-step. State updates are exact first-order lags, stable for any
    #: step; an hour resolves the diurnal cycles (the pond uses 30 min for its DO dynamics).
    max_step: ClassVar[timedelta] = timedelta(hours=1)
    #: History simulated before the first reading so lagged states start realistic.
    spin_up: ClassVar[timedelta] = timedelta(days=3)

    def __init__(
        self, climate: Climate, *, seed: int = 1, name: str = "node", interval_s: float = 300.0
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.climate = climate
        #: Where the model gets its outdoor weather: ``climate.at`` unless a run shares a
        #: :class:`~farmwatch_simulators.weather_cache.WeatherCache` between its nodes.
        self.weather_at: Callable[[datetime], Weather] = climate.at
        self.seed = seed
        self.name = name
        self.interval_s = interval_s
        self._params = random.Random(f"farmwatch-node/{seed}/{name}/params")
        self._noise = random.Random(f"farmwatch-node/{seed}/{name}/noise")
        self.health = NodeHealth(random.Random(f"farmwatch-node/{seed}/{name}/health"))
        self._last: datetime | None = None
        #: Process events acting on this node (see :class:`Forcing`); empty for plain climate.
        self.forcings: tuple[Forcing, ...] = ()
        #: The combined forcing of the step being integrated; models read it in ``_step``.
        self.process: Process = NEUTRAL
        self._plain_weather: Weather | None = None  # the unforced weather of the last step

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.climate!r}, seed={self.seed!r}, name={self.name!r})"

    def read(self, ts: datetime) -> dict[str, float]:
        """Advance to ``ts`` (aware, not before the previous reading) and return readings."""
        if ts.tzinfo is not UTC:  # UTC already is the common case: skip the conversion
            if ts.tzinfo is None or ts.utcoffset() is None:
                raise ValueError(f"timestamp {ts.isoformat()} has no time zone; pass UTC")
            ts = ts.astimezone(UTC)
        if self._last is not None and ts < self._last:
            raise ValueError(
                f"time went backwards for {self.name}: {ts.isoformat()} < {self._last.isoformat()}"
            )
        if self._last is None or ts - self._last > self.spin_up:
            start = ts - self.spin_up - timedelta(seconds=self.interval_s)
            self._init_state(start)
            self._advance(start, ts - timedelta(seconds=self.interval_s), timedelta(hours=1))
            self._reset_accumulators()
            self._last = ts - timedelta(seconds=self.interval_s)
        weather = self._advance(self._last, ts, self.max_step)
        self._last = ts
        raw = self._observe(ts, weather)
        # The node's own battery and radio see the real weather, not the event's.
        plain = self._plain_weather or self.weather_at(ts)
        raw.update(self.health.observe(plain.ts.timestamp() / 3600.0, plain))
        self._reset_accumulators()
        return self._finish(raw)

    def _advance(self, start: datetime, end: datetime, max_step: timedelta) -> Weather:
        """Integrate from ``start`` to ``end``; return the weather at ``end``."""
        span = end - start
        # One step when the span fits (every reading of a 5-min node): no division needed.
        steps = 1 if span <= max_step else math.ceil(span / max_step)
        dt = span if steps == 1 else span / steps
        dt_h = dt.total_seconds() / 3600.0
        if dt_h <= 0:
            self._plain_weather = self.weather_at(end)
            return self._forced(end, self._plain_weather)
        for i in range(1, steps):
            t = start + dt * i
            weather = self.weather_at(t)
            self._step(t, self._forced(t, weather), dt_h)
            self.health.step(dt_h, weather)
        weather = self.weather_at(end)  # the last step ends exactly at `end`, no rounding drift
        forced = self._forced(end, weather)
        self._step(end, forced, dt_h)
        self.health.step(dt_h, weather)
        self._plain_weather = weather
        return forced

    def _forced(self, ts: datetime, weather: Weather) -> Weather:
        """Set :attr:`process` for ``ts`` and return the weather the process sees."""
        if not self.forcings:
            self.process = NEUTRAL
            return weather
        self.process = Process.combine(self.forcings, ts)
        return self.process.apply(weather)

    def _finish(self, raw: Mapping[str, float]) -> dict[str, float]:
        # The hottest loop of a simulation (once per reading): the sensor table is flattened
        # per class, and the arithmetic is _clip's, inlined, in the same order.
        out: dict[str, float] = {}
        gauss = self._noise.gauss
        isfinite = math.isfinite
        for name, noisy, sd0, relative_sd, low, high, decimals in _sensor_table(type(self)):
            value = raw[name]
            if not isfinite(value):
                raise ArithmeticError(f"{self.name}: {name} came out as {value}")
            if noisy:
                value += gauss(0.0, sd0 + relative_sd * abs(value))
            out[name] = round(max(low, min(high, value)), decimals)
        return out

    @abstractmethod
    def _init_state(self, ts: datetime) -> None:
        """Set the state to plausible values for ``ts`` (before spin-up)."""

    @abstractmethod
    def _step(self, ts: datetime, weather: Weather, dt_h: float) -> None:
        """Advance the state by ``dt_h`` hours ending at ``ts`` under ``weather``."""

    @abstractmethod
    def _observe(self, ts: datetime, weather: Weather) -> dict[str, float]:
        """True (noise-free) values of this model's quantities, health excluded."""

    def _reset_accumulators(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Zero the 'since last reading' totals (rain, water used); nothing by default."""


# Light at which pond phytoplankton photosynthesis saturates, W/m² of global radiation, for the
# Jassby & Platt (1976) curve P = Pmax tanh(I / Ik); Ik of ~100-200 W/m² PAR (roughly half of
# global radiation) is typical of turbid, algae-rich fish ponds.
_LIGHT_SATURATION = 250.0


class PondWaterModel(NodeModel):
    """An aquaculture pond's water probe (fish pond, 1.2-2 m deep, with an automatic aerator).

    * Water temperature is the air temperature damped and delayed by the water's heat capacity
      (time constant ~10 h for 1.5 m) plus solar heating of the surface layer.
    * Dissolved oxygen integrates algal photosynthesis (saturating with light, Jassby & Platt
      1976, so it starts soon after sunrise) minus community respiration
      (temperature dependent, θ = 1.047 as in Streeter-Phelps BOD kinetics) plus re-aeration
      towards saturation (Benson & Krause). It therefore peaks in the late afternoon and is
      *lowest around dawn*, after a night of respiration (agronomy.md §6), sagging further
      after overcast days. Like real
      farmers' controllers, an aerator switches on below 3 mg/L and off above 5 mg/L.
    * pH follows photosynthesis (algae take up CO2 by day): 7.2 at low DO to 8.5 at high DO.
    * TAN drifts slowly between 0.2 and 1.5 mg/L with feeding (higher when warm).
    """

    profile = "pond_water"
    model_type = ModelType.AQUACULTURE_POND
    max_step = timedelta(minutes=30)
    quantities = (
        "water_temperature",
        "dissolved_oxygen",
        "ph",
        "total_ammonia_nitrogen",
        *HEALTH_QUANTITIES,
    )

    def __init__(
        self, climate: Climate, *, seed: int = 1, name: str = "node", interval_s: float = 300.0
    ) -> None:
        super().__init__(climate, seed=seed, name=name, interval_s=interval_s)
        p = self._params
        self.depth_m = p.uniform(1.2, 2.0)
        self.respiration_20 = p.uniform(0.24, 0.29)  # mg/L/h at 20 °C
        self.photosynthesis_max = p.uniform(0.6, 0.7)  # mg/L/h at light saturation, 20 °C
        self.reaeration = p.uniform(0.035, 0.05)  # 1/h, still pond with some wind
        self.ph_offset = p.uniform(-0.1, 0.1)
        self._tan_drift = SmoothNoise(p, 3 * 24.0, 20 * 24.0, terms=10)
        self.water_temperature = 25.0
        self.dissolved_oxygen = 7.0
        self.aerator_on = False

    def _init_state(self, ts: datetime) -> None:
        self.water_temperature = self.climate.baseline_temperature(ts) + 0.5
        self.dissolved_oxygen = 0.85 * do_saturation(self.water_temperature)
        self.aerator_on = False

    def _step(self, ts: datetime, weather: Weather, dt_h: float) -> None:
        tau_h = 10.0 * self.depth_m / 1.5
        target = weather.air_temperature + 3.0 * weather.solar_radiation / 1000.0
        self.water_temperature = _relax(self.water_temperature, target, dt_h, tau_h)
        tw = self.water_temperature
        light = math.tanh(weather.solar_radiation / _LIGHT_SATURATION)
        production = self.photosynthesis_max * light * 1.024 ** (tw - 20)
        process = self.process
        respiration = self.respiration_20 * 1.047 ** (tw - 20) * process.respiration_factor
        if not process.aerator:
            self.aerator_on = False  # power cut or broken aerator: the crash a farmer fears
        elif self.dissolved_oxygen < 3.0:
            self.aerator_on = True
        elif self.dissolved_oxygen > 5.0:
            self.aerator_on = False
        k = self.reaeration * process.reaeration_factor + (0.35 if self.aerator_on else 0.0)
        equilibrium = do_saturation(tw) + (production - respiration) / k
        do = _relax(self.dissolved_oxygen, equilibrium, dt_h, 1.0 / k)
        self.dissolved_oxygen = max(0.3, do)

    def _observe(self, ts: datetime, weather: Weather) -> dict[str, float]:
        do = self.dissolved_oxygen
        ph = 7.2 + 1.3 * _clip((do - 3.5) / 6.0, 0.0, 1.0) + self.ph_offset
        drift = 0.9 * self._tan_drift(ts.timestamp() / 3600.0)
        tan = 0.2 + 1.3 * _logistic(drift + 0.12 * (self.water_temperature - 25.0))
        tan += self.process.ammonia_offset
        return {
            "water_temperature": self.water_temperature,
            "dissolved_oxygen": do,
            "ph": ph,
            "total_ammonia_nitrogen": tan,
        }


@dataclass(frozen=True, slots=True)
class _Herd:
    head: tuple[int, int]  # herd size range
    litres_per_head_day: float
    nh3_base: float  # ppm with curtains open
    co2_base: float  # ppm with curtains open
    drinking_peaks: tuple[float, ...]  # local hours of feeding / drinking peaks
    peak_width_h: float
    offset_open: float  # °C warmer than outside with curtains open (animal heat)


def _gauss_bump(hour: float, centre: float, width: float) -> float:
    d = (hour - centre + 12.0) % 24.0 - 12.0
    return math.exp(-0.5 * (d / width) ** 2)


class BarnModel(NodeModel):
    """Climate box of a closed livestock house (curtains, fans and evaporative cooling pads).

    Curtains close as it gets cold (fully below ~16 °C outside): the house then keeps the
    animals' heat (+5 °C) but NH3 and CO2 build up (NH3 ~7 → ~20 ppm, CO2 ~1000 → ~2700 ppm).
    Above 28 °C inside, cooling pads halve the excess and add humidity. Water use follows the
    herd's drinking pattern (peaks at feeding), rising ~3 % per °C above 20 °C; the reading is
    litres since the previous reading.
    """

    herd: ClassVar[_Herd]

    def __init__(
        self, climate: Climate, *, seed: int = 1, name: str = "node", interval_s: float = 300.0
    ) -> None:
        super().__init__(climate, seed=seed, name=name, interval_s=interval_s)
        p = self._params
        self.head_count = p.randint(*self.herd.head)
        self._nh3_drift = SmoothNoise(p, 24.0, 4 * 24.0, terms=8)
        self._co2_drift = SmoothNoise(p, 2.0, 24.0, terms=8)
        peaks, width = self.herd.drinking_peaks, self.herd.peak_width_h
        # Normalise the drinking pattern (0.35 baseline + feeding peaks) to a mean of 1.
        mean = (
            sum(0.35 + sum(_gauss_bump(h / 10.0, c, width) for c in peaks) for h in range(240))
            / 240.0
        )
        self._pattern_scale = 1.0 / mean
        self.inside_temperature = 25.0
        self.nh3 = self.herd.nh3_base
        self.co2 = self.herd.co2_base
        self.pad_cooling = 0.0
        self.water_used = 0.0

    @staticmethod
    def closure(outside_temperature: float) -> float:
        """How closed the curtains are, 0 (open) .. 1 (closed), from the outside temperature."""
        return _clip((24.0 - outside_temperature) / 8.0, 0.0, 1.0)

    def _init_state(self, ts: datetime) -> None:
        weather = self.weather_at(ts)
        self.inside_temperature = weather.air_temperature + self.herd.offset_open
        self.nh3 = self.herd.nh3_base
        self.co2 = self.herd.co2_base

    def _targets(self, ts: datetime, weather: Weather) -> tuple[float, float, float, float]:
        c = self.closure(weather.air_temperature)
        inside = weather.air_temperature + self.herd.offset_open + 3.5 * c
        pad = 0.0
        if inside > 28.0 and self.process.cooling:
            pad = min(1.0, (inside - 28.0) / 4.0)
            inside = 28.0 + 0.5 * (inside - 28.0)
        hours = ts.timestamp() / 3600.0
        nh3 = self.herd.nh3_base + 12.0 * c + 0.35 * max(0.0, inside - 22.0)
        nh3 += self.process.ammonia_offset
        nh3 += 2.0 * self._nh3_drift(hours)
        co2 = self.herd.co2_base + 1700.0 * c + 120.0 * self._co2_drift(hours)
        return inside, max(3.0, nh3), max(600.0, co2), pad

    def _step(self, ts: datetime, weather: Weather, dt_h: float) -> None:
        inside, nh3, co2, pad = self._targets(ts, weather)
        self.inside_temperature = _relax(self.inside_temperature, inside, dt_h, 1.0)
        self.nh3 = _relax(self.nh3, nh3, dt_h, 1.5)
        self.co2 = _relax(self.co2, co2, dt_h, 0.5)
        self.pad_cooling = pad
        hour = local_hour(ts)
        pattern = 0.35 + sum(
            _gauss_bump(hour, c, self.herd.peak_width_h) for c in self.herd.drinking_peaks
        )
        heat = 1.0 + 0.03 * max(0.0, self.inside_temperature - 20.0)
        per_hour = self.head_count * self.herd.litres_per_head_day / 24.0
        self.water_used += per_hour * pattern * self._pattern_scale * heat * dt_h

    def _observe(self, ts: datetime, weather: Weather) -> dict[str, float]:
        c = self.closure(weather.air_temperature)
        humidity = weather.relative_humidity + 2.0 + 3.0 * c + 6.0 * self.pad_cooling
        return {
            "air_temperature": self.inside_temperature,
            "relative_humidity": _clip(humidity, 45.0, 95.0),
            "nh3": self.nh3,
            "co2": self.co2,
            "water_consumption": self.water_used,
        }

    def _reset_accumulators(self) -> None:
        self.water_used = 0.0


class PigBarnModel(BarnModel):
    """A closed fattening-pig barn of 150-400 pigs drinking ~7 L/head/day (finishers drink
    ~5-10 L/day), with peaks after the morning and afternoon feeds."""

    profile = "pig_barn_climate"
    model_type = ModelType.PIG_BARN
    quantities = (
        "air_temperature",
        "relative_humidity",
        "nh3",
        "co2",
        "water_consumption",
        *HEALTH_QUANTITIES,
    )
    herd = _Herd((150, 400), 7.0, 7.0, 1000.0, (7.0, 16.5), 1.5, 1.5)


class PoultryHouseModel(BarnModel):
    """A closed broiler house of 3 000-8 000 birds drinking ~0.25 L/bird/day (about twice the
    feed intake), mostly in the light hours, peaking at dawn and before dusk."""

    profile = "poultry_house_climate"
    model_type = ModelType.POULTRY_HOUSE
    quantities = PigBarnModel.quantities
    herd = _Herd((3000, 8000), 0.25, 6.0, 950.0, (6.5, 11.0, 17.5), 2.0, 2.0)


class _Soil:
    """A root-zone soil water bucket (FAO-56 ch. 8; agronomy.md §9), volumetric % units."""

    def __init__(
        self,
        wilting: float,
        field_capacity: float,
        saturation: float,
        root_depth_m: float,
        p: float,
    ) -> None:
        self.wilting = wilting
        self.field_capacity = field_capacity
        self.saturation = saturation
        self.root_mm = root_depth_m * 1000.0
        self.p = p
        self.theta = field_capacity

    @property
    def taw_mm(self) -> float:
        """Total available water, mm: 1000 (θFC − θWP) Zr."""
        return (self.field_capacity - self.wilting) / 100.0 * self.root_mm

    @property
    def depletion_mm(self) -> float:
        return max(0.0, (self.field_capacity - self.theta) / 100.0 * self.root_mm)

    def add_water(self, mm: float) -> None:
        """Rain or irrigation; what the soil cannot hold above saturation runs off."""
        self.theta = min(self.saturation, self.theta + mm / self.root_mm * 100.0)

    def evapotranspire(self, etc_mm: float) -> None:
        """Remove crop ET, reduced by water stress Ks = (TAW − Dr) / ((1 − p) TAW) (eq. 84)."""
        taw = self.taw_mm
        dr = self.depletion_mm
        raw = self.p * taw
        ks = 1.0 if dr <= raw else max(0.0, (taw - dr) / ((1.0 - self.p) * taw))
        floor = 0.9 * self.wilting  # surface evaporation can dry a little below wilting point
        self.theta = max(floor, self.theta - ks * etc_mm / self.root_mm * 100.0)

    def drain(self, dt_h: float, tau_h: float) -> None:
        """Water above field capacity percolates away with time constant ``tau_h``."""
        if self.theta > self.field_capacity:
            self.theta = _relax(self.theta, self.field_capacity, dt_h, tau_h)


class GreenhouseModel(NodeModel):
    """A film greenhouse (nhà màng) with drip fertigation, e.g. melons or vegetables.

    Inside air is warmer than outside by day (≈ +8 °C at 900 W/m²) until vents and fans cap the
    rise above 30 °C; night is ~1 °C above outside. The film passes ~70 % of the light. CO2 rises
    overnight from plant and soil respiration and is drawn down in the morning. The loam
    substrate (θWP 15 %, θFC 31 %, θsat 46 %, agronomy.md §9) loses crop ET and is refilled by
    drip irrigation at 07:00 and 15:00 when depletion exceeds half the readily available water
    (RAW = p TAW, p = 0.4), or at once when it exceeds RAW. EC concentrates as the soil dries.
    """

    profile = "greenhouse_climate"
    model_type = ModelType.GREENHOUSE
    quantities = (
        "air_temperature",
        "relative_humidity",
        "illuminance",
        "co2",
        "soil_moisture",
        "electrical_conductivity",
        *HEALTH_QUANTITIES,
    )
    irrigation_hours = (7.0, 15.0)

    def __init__(
        self, climate: Climate, *, seed: int = 1, name: str = "node", interval_s: float = 300.0
    ) -> None:
        super().__init__(climate, seed=seed, name=name, interval_s=interval_s)
        p = self._params
        self.transmission = p.uniform(0.65, 0.75)
        self.ec_reference = p.uniform(1200.0, 2000.0)  # µS/cm at field capacity
        self.crop_coefficient = p.uniform(0.9, 1.1)
        self.soil = _Soil(15.0, 31.0, 46.0, 0.25, 0.4)
        self.inside_temperature = 25.0
        self.co2 = 450.0

    def _inside_target(self, weather: Weather) -> float:
        inside = weather.air_temperature + 0.8 + 0.009 * weather.solar_radiation
        return 30.0 + 0.45 * (inside - 30.0) if inside > 30.0 else inside

    def _init_state(self, ts: datetime) -> None:
        self.inside_temperature = self._inside_target(self.weather_at(ts))
        self.soil.theta = self.soil.field_capacity - 2.0
        self.co2 = 450.0

    def _step(self, ts: datetime, weather: Weather, dt_h: float) -> None:
        self.inside_temperature = _relax(
            self.inside_temperature, self._inside_target(weather), dt_h, 0.5
        )
        solar = weather.solar_radiation
        dark = max(0.0, 1.0 - solar / 150.0)
        light = min(1.0, solar / 600.0)
        venting = 1.0 if self.inside_temperature >= 29.0 else 0.3
        target = 430.0 + 250.0 * dark - 80.0 * light * (1.0 - venting)
        self.co2 = _relax(self.co2, target, dt_h, 1.0)

        inside_solar = solar * self.transmission
        etc = self.crop_coefficient * reference_et(self.inside_temperature, inside_solar, dt_h)
        etc *= self.process.et_factor
        self.soil.evapotranspire(etc)
        self.soil.drain(dt_h, 12.0)
        raw = self.soil.p * self.soil.taw_mm
        hour_end = local_hour(ts)
        hour_start = hour_end - dt_h
        scheduled = any(
            hour_start < h <= hour_end or hour_start < h - 24.0 <= hour_end
            for h in self.irrigation_hours
        )
        depletion = self.soil.depletion_mm
        if not self.process.irrigation:
            return  # pump failure or dry canal: the crop draws the root zone down past RAW
        if (scheduled and depletion > 0.5 * raw) or depletion > raw:
            self.soil.add_water(depletion * 1.05)  # drip refills to just above field capacity

    def _observe(self, ts: datetime, weather: Weather) -> dict[str, float]:
        humidity = weather.relative_humidity + 6.0
        humidity -= 1.5 * (self.inside_temperature - weather.air_temperature)
        theta = self.soil.theta
        return {
            "air_temperature": self.inside_temperature,
            "relative_humidity": _clip(humidity, 40.0, 98.0),
            "illuminance": weather.illuminance * self.transmission,
            "co2": self.co2,
            "soil_moisture": theta,
            "electrical_conductivity": self.ec_reference * self.soil.field_capacity / theta,
        }


@dataclass(frozen=True, slots=True)
class _Crop:
    soil: tuple[float, float, float]  # θWP, θFC, θsat (% vol), agronomy.md §9
    root_depth_m: float
    p: float  # FAO-56 depletion fraction
    kc_crop: float
    kc_fallow: float
    seasons: tuple[tuple[int, int], ...]  # (first, last) day of year of the crop seasons
    flooded: bool  # paddy: irrigation keeps standing water in season
    drain_tau_h: float
    soil_heating: float  # °C per 1000 W/m² of sun on the soil surface


class FieldModel(NodeModel):
    """An outdoor field station: soil probe, rain gauge, air sensor and leaf-wetness sensor.

    Soil moisture is a daily-style water balance (agronomy.md §9, FAO-56 ch. 8) stepped hourly:
    rain raises it (up to saturation, the rest runs off), water above field capacity drains, and
    crop evapotranspiration (Kc × ET0, reduced by water stress) lowers it. The rain gauge is a
    0.2 mm tipping bucket and reports what fell since the last reading. Leaf wetness is wet in
    rain, gathers dew when RH ≥ 90 % in the dark (the RH ≥ 90 % proxy of agronomy.md §8) and
    dries with sun and wind.
    """

    crop: ClassVar[_Crop]
    quantities = (
        "soil_moisture",
        "soil_temperature",
        "air_temperature",
        "relative_humidity",
        "rain",
        "leaf_wetness",
        *HEALTH_QUANTITIES,
    )
    spin_up = timedelta(days=10)
    bucket_mm = 0.2

    def __init__(
        self, climate: Climate, *, seed: int = 1, name: str = "node", interval_s: float = 300.0
    ) -> None:
        super().__init__(climate, seed=seed, name=name, interval_s=interval_s)
        wilting, capacity, saturation = self.crop.soil
        self.soil = _Soil(wilting, capacity, saturation, self.crop.root_depth_m, self.crop.p)
        self.soil_temperature = 25.0
        self.leaf_wetness = 0.0
        self._bucket = self._params.uniform(0.0, self.bucket_mm)  # water already in the bucket
        self.rain_tipped = 0.0

    def in_season(self, ts: datetime) -> bool:
        day = local_time(ts).timetuple().tm_yday
        return any(first <= day <= last for first, last in self.crop.seasons)

    def _init_state(self, ts: datetime) -> None:
        self.soil_temperature = self.climate.baseline_temperature(ts)
        soil = self.soil
        if self.crop.flooded and self.in_season(ts):
            soil.theta = soil.saturation
        else:
            soil.theta = soil.field_capacity - 0.3 * (soil.field_capacity - soil.wilting)
        self.leaf_wetness = 0.0

    def _step(self, ts: datetime, weather: Weather, dt_h: float) -> None:
        rain_mm = weather.rain_rate * dt_h
        self._bucket += rain_mm
        tips = math.floor(self._bucket / self.bucket_mm + 1e-9)
        self._bucket -= tips * self.bucket_mm
        self.rain_tipped += tips * self.bucket_mm

        season = self.in_season(ts)
        soil = self.soil
        soil.add_water(rain_mm)
        soil.drain(dt_h, self.crop.drain_tau_h)
        kc = self.crop.kc_crop if season else self.crop.kc_fallow
        et0 = reference_et(weather.air_temperature, weather.solar_radiation, dt_h)
        soil.evapotranspire(kc * et0 * self.process.et_factor)
        if self.crop.flooded and season and self.process.irrigation:
            soil.theta = soil.saturation  # irrigation keeps the paddy under standing water

        surface = weather.air_temperature + self.crop.soil_heating * weather.solar_radiation / 1000
        tau = 12.0 if (self.crop.flooded and season) else 6.0
        self.soil_temperature = _relax(self.soil_temperature, surface, dt_h, tau)

        if weather.rain_rate > 0.1:
            self.leaf_wetness = _relax(self.leaf_wetness, 100.0, dt_h, 0.1)
        elif weather.relative_humidity >= 90.0 and weather.solar_radiation < 50.0:
            dew = 100.0 * min(1.0, (weather.relative_humidity - 88.0) / 8.0)
            self.leaf_wetness = _relax(self.leaf_wetness, max(dew, self.leaf_wetness), dt_h, 1.0)
        else:
            drying_tau = 0.7 if weather.solar_radiation > 300.0 else 2.5
            self.leaf_wetness = _relax(self.leaf_wetness, 0.0, dt_h, drying_tau)

    def _observe(self, ts: datetime, weather: Weather) -> dict[str, float]:
        return {
            "soil_moisture": self.soil.theta,
            "soil_temperature": self.soil_temperature,
            "air_temperature": weather.air_temperature,
            "relative_humidity": weather.relative_humidity,
            "rain": self.rain_tipped,
            "leaf_wetness": self.leaf_wetness,
        }

    def _reset_accumulators(self) -> None:
        self.rain_tipped = 0.0


class RiceFieldModel(FieldModel):
    """A paddy (paddy soil θWP 32 %, θFC 50 %, θsat 54 %) with the delta's two rice crops.

    Spring crop (vụ chiêm xuân) flooded from early February to late May, summer crop (vụ mùa)
    from July to late September; in between the field drains and dries. Kc 1.15 in season
    (FAO-56 Table 12 gives 1.05-1.20 for rice), 0.5 for wet bare soil and stubble.
    """

    profile = "rice_field_soil"
    model_type = ModelType.RICE_FIELD
    crop = _Crop(
        soil=(32.0, 50.0, 54.0),
        root_depth_m=0.3,
        p=0.2,
        kc_crop=1.15,
        kc_fallow=0.5,
        seasons=((36, 145), (182, 268)),
        flooded=True,
        drain_tau_h=48.0,
        soil_heating=1.5,
    )


class OrchardModel(FieldModel):
    """A lychee orchard (vải thiều, as in Thanh Hà) on loam (θWP 15 %, θFC 31 %, θsat 46 %).

    Rain-fed: the soil dries through the winter (which growers use to induce flowering) and
    is wet through the summer rains. Kc ≈ 0.7, as for other evergreen fruit trees in FAO-56
    Table 12; roots to 0.6 m; p = 0.5.
    """

    profile = "orchard_soil"
    model_type = ModelType.ORCHARD
    crop = _Crop(
        soil=(15.0, 31.0, 46.0),
        root_depth_m=0.6,
        p=0.5,
        kc_crop=0.7,
        kc_fallow=0.7,
        seasons=(),
        flooded=False,
        drain_tau_h=24.0,
        soil_heating=2.5,
    )


def _daily_mean(pattern: Callable[[float], float]) -> float:
    """Mean of a 24-hour pattern (sampled every 6 minutes), to normalise it to 1."""
    return sum(pattern(i / 10.0) for i in range(240)) / 240.0


def _demand_shape(hour: float) -> float:
    """A Vietnamese village's water use over the day: low at night, a morning peak (cooking,
    washing before work, ~06:00-07:30), a smaller midday one and the largest in the evening
    (cooking, bathing, ~17:30-19:30), as in the diurnal curves of rural piped schemes."""
    return (
        0.25
        + 1.6 * _gauss_bump(hour, 6.5, 1.1)
        + 0.6 * _gauss_bump(hour, 11.5, 1.0)
        + 1.9 * _gauss_bump(hour, 18.5, 1.4)
    )


_DEMAND_MEAN = _daily_mean(_demand_shape)


class CleanWaterStationModel(NodeModel):
    """A rural clean-water station: raw-water pump → treatment and chlorine dosing → tank → village.

    * Demand follows :func:`_demand_shape` (morning and evening peaks) around a daily volume of
      1.6-2.4 times the tank (a tank for about half a day's use, as small schemes are built).
    * The raw-water pump (capacity 1.6 times the mean demand) is switched by level floats: on
      below 40 %, off above 95 %, so it cycles a few times a day; ``water_flow`` is its flow
      (L/min) and ``pump_state`` whether it runs. ``tank_level`` integrates inflow − outflow.
    * Chlorine is dosed in proportion to the pump's flow (1.0-1.2 mg/L, of which 0.3-0.45 mg/L
      is used at once by iron and organics); in the well-mixed tank
      it is diluted by incoming water and decays first-order (bulk decay ~0.6-1.0 /day at
      25 °C, faster when warm, θ = 1.05), so the outlet's residual falls with residence time:
      about 0.5-0.8 mg/L normally, dropping below 0.2 mg/L within hours once dosing stops.
    * Raw-water turbidity rises with rain (run-off into the river or canal), relaxes back over
      ~10 hours; treatment removes ~97 %, so an ordinary shower stays under 2 NTU in the
      treated water and only very heavy rain (~20 mm/h for hours) lifts it past 2 NTU (on
      four simulated stations in July: 3 such alerts in 120 station-days).
      Rain also dilutes the raw water's conductivity.
    * Events switch the dosing off (``chlorine_dosing``), make the running pump deliver nothing
      (``pump_delivers``: dry-running, air-locked, broken coupling) or cut the station's power
      (``supply``: the pump cannot run and the tank drains).
    """

    profile = "water_station"
    model_type = ModelType.CLEAN_WATER_STATION
    max_step = timedelta(minutes=5)
    spin_up = timedelta(days=2)
    quantities = (
        "ph",
        "turbidity",
        "free_chlorine",
        "electrical_conductivity",
        "water_flow",
        "tank_level",
        "pump_state",
        *HEALTH_QUANTITIES,
    )
    pump_on_below = 40.0
    pump_off_above = 95.0

    def __init__(
        self, climate: Climate, *, seed: int = 1, name: str = "node", interval_s: float = 300.0
    ) -> None:
        super().__init__(climate, seed=seed, name=name, interval_s=interval_s)
        p = self._params
        self.tank_m3 = p.uniform(40.0, 120.0)
        self.demand_m3_day = self.tank_m3 * p.uniform(1.6, 2.4)
        self.pump_m3_h = 1.6 * self.demand_m3_day / 24.0
        self.dose_mg_l = p.uniform(1.0, 1.2)
        self.chlorine_demand = p.uniform(0.3, 0.45)  # mg/L used at once (iron, organics)
        self.decay_per_h = p.uniform(0.6, 1.0) / 24.0
        self.raw_turbidity_base = p.uniform(8.0, 20.0)
        self.removal_pass = p.uniform(0.025, 0.035)  # share of raw turbidity left after treatment
        self.ec_base = p.uniform(280.0, 420.0)
        self.ph_base = p.uniform(7.0, 7.5)
        self._demand_noise = SmoothNoise(p, 0.12, 3.0, terms=6)
        self._init_state(datetime(2026, 1, 1, tzinfo=UTC))

    def _init_state(self, ts: datetime) -> None:
        self.level = 70.0
        self.pump_on = False
        self.chlorine = 0.6
        self.raw_turbidity = self.raw_turbidity_base
        self.rain_index = 0.0  # recent rain (mm/h, relaxed), dilutes conductivity

    def _flow_m3_h(self) -> float:
        """What the pump delivers now (0 when off or failed)."""
        delivers = self.pump_on and self.process.pump_delivers
        return self.pump_m3_h if delivers else 0.0

    def _step(self, ts: datetime, weather: Weather, dt_h: float) -> None:
        if not self.process.supply:
            self.pump_on = False
        elif self.level < self.pump_on_below:
            self.pump_on = True
        elif self.level > self.pump_off_above:
            self.pump_on = False
        hour = local_hour(ts)
        demand = self.demand_m3_day / 24.0 * _demand_shape(hour) / _DEMAND_MEAN
        demand *= 1.0 + 0.1 * self._demand_noise(ts.timestamp() / 3600.0)
        inflow = self._flow_m3_h()
        volume = self.level / 100.0 * self.tank_m3
        outflow = min(demand, volume / dt_h + inflow)  # an empty tank gives what comes in
        new_volume = _clip(volume + (inflow - outflow) * dt_h, 0.0, self.tank_m3)
        # Chlorine: dilution by the inflow at its dosed concentration, and bulk decay.
        rain = weather.rain_rate
        self.rain_index = _relax(self.rain_index, rain, dt_h, 6.0)
        runoff = self.raw_turbidity_base + 10.0 * rain**0.8
        tau = 1.5 if runoff > self.raw_turbidity else 10.0  # rises fast, settles slowly
        self.raw_turbidity = _relax(self.raw_turbidity, runoff, dt_h, tau)
        treated = 0.15 + self.removal_pass * self.raw_turbidity
        demand_now = self.chlorine_demand + 0.02 * treated
        dosed = self.dose_mg_l - demand_now if self.process.chlorine_dosing else 0.0
        decay = self.decay_per_h * 1.05 ** (weather.air_temperature - 25.0)
        mixed = max(new_volume, 0.05 * self.tank_m3)
        exchange = inflow * dt_h / mixed
        self.chlorine = (self.chlorine + exchange * max(0.0, dosed)) / (1.0 + exchange)
        self.chlorine *= math.exp(-decay * dt_h)
        self.level = 100.0 * new_volume / self.tank_m3

    def _observe(self, ts: datetime, weather: Weather) -> dict[str, float]:
        treated = 0.15 + self.removal_pass * self.raw_turbidity
        dilution = 1.0 / (1.0 + 0.08 * self.rain_index)
        return {
            "ph": self.ph_base - 0.15 * min(1.0, self.rain_index / 5.0),
            "turbidity": treated,
            "free_chlorine": self.chlorine,
            "electrical_conductivity": self.ec_base * dilution,
            "water_flow": self._flow_m3_h() * 1000.0 / 60.0,
            "tank_level": self.level,
            "pump_state": 1.0 if self.pump_on else 0.0,
        }


def _washing_shape(hour: float) -> float:
    """A pig farm's wash water over the day: barns hosed down after the morning and afternoon
    feeds (~07:30 and ~15:30), a little drinking spill and urine around the clock."""
    return 0.3 + 1.5 * _gauss_bump(hour, 7.5, 1.0) + 1.2 * _gauss_bump(hour, 15.5, 1.0)


_WASHING_MEAN = _daily_mean(_washing_shape)


class EffluentStationModel(NodeModel):
    """A pig farm's effluent at the discharge point (after the biogas digester and the
    settling and aerobic ponds), with a barn-air box beside it.

    * 300-1 000 pigs produce ~25-35 L of wastewater per head per day (manure, urine and the
      wash water of Vietnamese barns); the discharge follows the washing peaks, smoothed by
      the digester and ponds (a ~2 h lag), and rises with rain falling on the open ponds.
    * Treated concentrations are modest (COD ~120-220 mg/L, NH4+-N ~50-110 mg/L) and rise a
      little at the washing peaks; rain dilutes them. A failing digester (event
      ``load_factor``) washes sludge out: the pollutant load multiplies, pH falls a little.
    * Barn air near the station: NH3 5-15 ppm and H2S under 2 ppm, with slow drift.
    """

    profile = "effluent_station"
    model_type = ModelType.EFFLUENT_STATION
    max_step = timedelta(minutes=10)
    spin_up = timedelta(days=1)
    quantities = ("ph", "ammonium", "cod", "water_flow", "nh3", "h2s", *HEALTH_QUANTITIES)

    def __init__(
        self, climate: Climate, *, seed: int = 1, name: str = "node", interval_s: float = 300.0
    ) -> None:
        super().__init__(climate, seed=seed, name=name, interval_s=interval_s)
        p = self._params
        head = p.randint(300, 1000)
        self.litres_day = head * p.uniform(25.0, 35.0)
        self.pond_m2 = head * p.uniform(1.0, 2.0)  # open pond surface catching rain
        self.cod_base = p.uniform(120.0, 200.0)
        self.nh4_base = p.uniform(50.0, 100.0)
        self.ph_base = p.uniform(7.2, 7.7)
        self.nh3_base = p.uniform(5.0, 10.0)
        self._drift = SmoothNoise(p, 1.0, 18.0, terms=6)
        self._init_state(datetime(2026, 1, 1, tzinfo=UTC))

    def _init_state(self, ts: datetime) -> None:
        self.flow_l_min = self.litres_day / 1440.0
        self.load = 1.0
        self.rain_l_min = 0.0

    def _step(self, ts: datetime, weather: Weather, dt_h: float) -> None:
        wash = self.litres_day / 1440.0 * _washing_shape(local_hour(ts) - 2.0) / _WASHING_MEAN
        self.flow_l_min = _relax(self.flow_l_min, wash, dt_h, 1.0)
        rain = weather.rain_rate * self.pond_m2 / 60.0  # mm/h on m² → L/min
        self.rain_l_min = _relax(self.rain_l_min, rain, dt_h, 2.0)
        self.load = _relax(self.load, self.process.load_factor, dt_h, 1.5)

    def _observe(self, ts: datetime, weather: Weather) -> dict[str, float]:
        hours = ts.timestamp() / 3600.0
        wash = _washing_shape(local_hour(ts) - 2.0) / _WASHING_MEAN
        flow = self.flow_l_min + self.rain_l_min
        dilution = self.flow_l_min / flow
        strength = (0.85 + 0.15 * wash) * self.load * dilution
        drift = self._drift(hours)
        return {
            "ph": self.ph_base - 0.35 * (self.load - 1.0) + 0.05 * drift,
            "ammonium": self.nh4_base * strength * (1.0 + 0.05 * drift),
            "cod": self.cod_base * strength * (1.0 + 0.05 * drift),
            "water_flow": flow,
            "nh3": self.nh3_base + 2.0 * wash + 1.5 * drift,
            "h2s": max(0.0, 0.6 + 0.3 * wash + 0.2 * drift),
        }


MODEL_CLASSES: Mapping[str, type[NodeModel]] = MappingProxyType(
    {
        cls.profile: cls
        for cls in (
            PondWaterModel,
            PigBarnModel,
            PoultryHouseModel,
            GreenhouseModel,
            RiceFieldModel,
            OrchardModel,
            CleanWaterStationModel,
            EffluentStationModel,
        )
    }
)
"""Node model class by registry ``Node.profile``."""

PROFILE_BY_MODEL_TYPE: Mapping[ModelType, str] = MappingProxyType(
    {cls.model_type: profile for profile, cls in MODEL_CLASSES.items()}
)
"""The default node profile of each farm model type."""


def quantities_for(profile: str) -> tuple[str, ...]:
    """The quantities a profile's model reports (for the registry's ``sensors`` list)."""
    return _model_class(profile).quantities


def build_model(
    profile: str, climate: Climate, *, seed: int = 1, name: str = "node", interval_s: float = 300.0
) -> NodeModel:
    """A fresh model for a node ``profile``, with node parameters drawn from ``seed``/``name``."""
    factory: Callable[..., NodeModel] = _model_class(profile)
    return factory(climate, seed=seed, name=name, interval_s=interval_s)


def _model_class(profile: str) -> type[NodeModel]:
    try:
        return MODEL_CLASSES[profile]
    except KeyError:
        known = ", ".join(sorted(MODEL_CLASSES))
        raise ValueError(
            f"no simulator model for node profile {profile!r} (known: {known})"
        ) from None
