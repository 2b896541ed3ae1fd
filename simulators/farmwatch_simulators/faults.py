"""Sensor faults and process events, with the ground-truth labels analytics is scored against.

Two different things go wrong on a farm, and the simulator keeps them apart:

* **Sensor faults** are lies the node tells about a world that is fine: a probe stuck on one
  value, an EMI spike, a fouled membrane drifting, a firmware sending °F as °C, a node that
  falls silent. They are a *layer over the clean readings* (:class:`FaultLayer`), applied after
  the model, so the clean signal is still there to compare against.
* **Process events** change the physics, and so the clean signal itself: a still, overcast,
  hot night that crashes a pond's dissolved oxygen, a heat wave over a barn, a rét đậm cold
  surge. They enter the model as a :class:`~farmwatch_simulators.models.Forcing` and every
  lagged state carries them on after the window closes (DO takes hours to recover).
* **Delivery faults** leave the readings alone: an ``outage`` delays them (the publisher holds
  them in a real edge outbox, :mod:`farmwatch_simulators.outages`), a ``clock_unsynced`` node
  stamps them with a wrong clock and ``synced=false`` (:mod:`farmwatch_simulators.timing`).

Every fault and event that touched the data becomes a :class:`Label` with the **exact** span
of data it affected, inclusive at both ends, as timestamps of the records:

* a sensor fault: from the first to the last record the layer changed or suppressed (for a
  dropout or a dead battery those are the records that would have been sent);
* a process event: one label per affected quantity, from the first to the last record whose
  value differs from a counterfactual run without that event by more than the sensor's last
  digit (a rounding flip from a vanishing difference is not an effect).

A fault that touches no record (its window falls between two readings) leaves no label, since
nothing was injected; scenario validation refuses windows shorter than the node interval.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal, cast

from farmwatch_core.contract import QUANTITIES
from farmwatch_core.contract.payload import format_ts
from farmwatch_core.registry import ModelType

from farmwatch_simulators.models import SENSORS, Forcing


class FaultKind(StrEnum):
    """Sensor faults: the data is wrong, the process is fine."""

    STUCK = "stuck"
    SPIKE = "spike"
    DRIFT = "drift"
    DROPOUT = "dropout"
    NOISE_BURST = "noise_burst"
    UNIT_ERROR = "unit_error"
    BATTERY_DEATH = "battery_death"
    OUTAGE = "outage"  # the network is down: records wait in the edge outbox, arrive late
    CLOCK_UNSYNCED = "clock_unsynced"  # the node's clock is wrong (no RTC, no NTP yet)


class EventKind(StrEnum):
    """Process events: the data is right, the process is in trouble."""

    DO_CRASH = "do_crash"
    HEAT_STRESS = "heat_stress"
    COLD_SPELL = "cold_spell"
    IRRIGATION_NEED = "irrigation_need"
    AMMONIA_RISE = "ammonia_rise"
    DISEASE_RISK = "disease_risk"
    HEAT_WAVE = "heat_wave"
    TYPHOON = "typhoon"
    # Clean-water and effluent stations.
    CHLORINE_DOSING_FAILURE = "chlorine_dosing_failure"
    TURBIDITY_SPIKE = "turbidity_spike"
    TANK_DRY = "tank_dry"
    PUMP_FAILURE = "pump_failure"
    EFFLUENT_OVERLOAD = "effluent_overload"


#: Faults that concern the whole node (no quantity): the node sends nothing, dies, cannot
#: reach the broker for a while, or stamps its records with a wrong clock.
NODE_WIDE_FAULTS = frozenset(
    {FaultKind.DROPOUT, FaultKind.BATTERY_DEATH, FaultKind.OUTAGE, FaultKind.CLOCK_UNSYNCED}
)

#: Node-wide faults that change *when* or *with which timestamp* a record arrives, never its
#: readings: an outage delays delivery (the publisher holds the records in an edge outbox), an
#: unsynchronised clock changes the stamp (:mod:`farmwatch_simulators.timing`).
DELIVERY_FAULTS = frozenset({FaultKind.OUTAGE, FaultKind.CLOCK_UNSYNCED})

#: A "big excursion" per quantity, in canonical units: the default spike size, four times the
#: default noise-burst SD and ten times the default drift per day. Chosen against the models'
#: normal ranges (e.g. a 4 mg/L DO jump is as large as its whole daily swing).
TYPICAL_SCALE: Mapping[str, float] = MappingProxyType(
    {
        "air_temperature": 8.0,
        "relative_humidity": 25.0,
        "water_temperature": 6.0,
        "dissolved_oxygen": 4.0,
        "ph": 1.5,
        "total_ammonia_nitrogen": 1.5,
        "nh3": 20.0,
        "co2": 1500.0,
        "water_consumption": 50.0,
        "illuminance": 30_000.0,
        "soil_moisture": 15.0,
        "electrical_conductivity": 1000.0,
        "soil_temperature": 6.0,
        "rain": 20.0,
        "leaf_wetness": 50.0,
        "battery_voltage": 0.5,
        "rssi": 20.0,
        "free_chlorine": 0.5,
        "turbidity": 5.0,
        "tank_level": 30.0,
        "water_flow": 50.0,
        "ammonium": 50.0,
        "cod": 200.0,
        "h2s": 5.0,
    }
)


@dataclass(frozen=True, slots=True)
class UnitError:
    """A firmware unit bug: the node converts to the wrong unit but declares the canonical one.

    This is *not* a reading sent as ``{"value": 86, "unit": "degF"}``: the contract converts
    that, correctly. The bug is the bare number 86 arriving as ``degC``, which ingest stores
    (or rejects when it leaves the physical bounds) as if it were true.
    """

    quantities: frozenset[str]
    convert: Callable[[float], float]
    extra_decimals: int  # the wrong unit needs more (fraction) or fewer (mV) digits


UNIT_ERRORS: Mapping[str, UnitError] = MappingProxyType(
    {
        "degF": UnitError(
            frozenset({"air_temperature", "water_temperature", "soil_temperature"}),
            lambda c: c * 1.8 + 32.0,
            0,
        ),
        "fraction": UnitError(
            frozenset({"relative_humidity", "soil_moisture", "leaf_wetness"}),
            lambda pct: pct / 100.0,
            2,
        ),
        "mS/cm": UnitError(frozenset({"electrical_conductivity"}), lambda us: us / 1000.0, 3),
        "mV": UnitError(frozenset({"battery_voltage"}), lambda v: v * 1000.0, -3),
    }
)
"""Wrong units a node may send its numbers in, by name (``unit:`` in a scenario file)."""


def default_unit_error(quantity: str) -> str | None:
    """The wrong unit a ``unit_error`` on ``quantity`` uses when the scenario names none.

    >>> default_unit_error("water_temperature"), default_unit_error("ph")
    ('degF', None)
    """
    for name, error in UNIT_ERRORS.items():
        if quantity in error.quantities:
            return name
    return None


@dataclass(frozen=True, slots=True)
class Label:
    """One ground-truth row: what went wrong where, over which records (inclusive)."""

    start: datetime
    end: datetime
    farm_id: str
    node_id: str
    quantity: str | None  # None: the whole node
    kind: str
    category: Literal["fault", "event"]
    source: str = ""  # where in the scenario it came from: "faults[3]", "events[0]"

    def sort_key(self) -> tuple[datetime, str, str, str, str, datetime, str]:
        return (
            self.start,
            self.farm_id,
            self.node_id,
            self.quantity or "",
            self.kind,
            self.end,
            self.source,
        )

    def row(self) -> tuple[str, str, str, str, str, str, str, str]:
        """The CSV row (see :data:`LABEL_FIELDS`); times as RFC 3339 UTC like the payload."""
        return (
            format_ts(self.start),
            format_ts(self.end),
            self.farm_id,
            self.node_id,
            self.quantity or "",
            self.kind,
            self.category,
            self.source,
        )


LABEL_FIELDS = ("start", "end", "farm_id", "node_id", "quantity", "kind", "category", "source")


@dataclass(frozen=True, slots=True)
class SensorFault:
    """A resolved sensor fault on one node over ``[start, end)`` (UTC).

    Parameters that do not apply to ``kind`` are ignored; :mod:`farmwatch_simulators.scenarios`
    fills the defaults and rejects nonsense before anything runs.
    """

    kind: FaultKind
    farm_id: str
    node_id: str
    start: datetime
    end: datetime
    quantity: str | None = None
    value: float | None = None  # stuck: the value it sticks at (default: the last reading)
    magnitude: float | None = None  # spike: size (default TYPICAL_SCALE)
    sign: int | None = None  # spike: +1/-1 (default: drawn from the seed)
    bias: float = 0.0  # drift: constant offset ...
    rate_per_day: float = 0.0  # ... plus a linear drift per day since the start
    sd: float | None = None  # noise_burst: extra noise SD (default TYPICAL_SCALE / 4)
    unit: str | None = None  # unit_error: a key of UNIT_ERRORS
    decay: timedelta = timedelta(days=1)  # battery_death: voltage fall before going silent
    cutoff_v: float = 3.3  # battery_death: brown-out voltage reached at the end of the decay
    offset: timedelta | None = None  # clock_unsynced: clock error (None: back to the Unix epoch)
    source: str = ""  # "faults[3]": the scenario entry, copied to the label

    def covers(self, ts: datetime) -> bool:
        return self.start <= ts < self.end


@dataclass(slots=True)
class _Span:
    first: datetime | None = None
    last: datetime | None = None

    def add(self, ts: datetime) -> None:
        if self.first is None:
            self.first = ts
        self.last = ts


def _bounded(quantity: str, value: float) -> float:
    """Round to the probe's digits and keep inside the contract's physical bounds.

    Spikes, drifts and noise bursts stay *plausible-looking*: ingest accepts them, and finding
    them is analytics' job. (A unit error may leave the bounds; ingest rejecting it is real.)
    """
    q = QUANTITIES[quantity]
    return round(min(q.high, max(q.low, value)), SENSORS[quantity].decimals)


class FaultLayer:
    """Applies a node's sensor faults to its clean readings, record by record, in time order.

    ``apply`` returns the readings to send (a new dict; the clean one is not mutated), or
    ``None`` when the node sends nothing, plus whether the node used a sequence number: a node
    whose radio drops out keeps counting (ingest sees the gap), a node whose battery died does
    not (it was off). Faults apply in scenario order, so a spike on a stuck sensor is a spike.

    >>> from datetime import UTC, datetime, timedelta
    >>> t0 = datetime(2026, 7, 1, tzinfo=UTC)
    >>> fault = SensorFault(FaultKind.STUCK, "f", "n", t0, t0 + timedelta(hours=1), "ph")
    >>> layer = FaultLayer([fault], seed=1)
    >>> layer.apply(t0 - timedelta(minutes=5), {"ph": 7.5})
    ({'ph': 7.5}, True)
    >>> layer.apply(t0, {"ph": 7.9})
    ({'ph': 7.5}, True)
    >>> [(label.kind, label.start == t0) for label in layer.labels()]
    [('stuck', True)]
    """

    def __init__(self, faults: Sequence[SensorFault], seed: int = 1) -> None:
        self.faults = tuple(faults)
        self.seed = seed
        self._rngs = [
            random.Random(f"farmwatch-fault/{seed}/{f.farm_id}/{f.node_id}/{i}")
            for i, f in enumerate(self.faults)
        ]
        self._spans = [_Span() for _ in self.faults]
        self._stuck: list[float | None] = [f.value for f in self.faults]
        self._spiked = [False] * len(self.faults)
        self._battery_from: list[float | None] = [None] * len(self.faults)
        self._previous: dict[str, float] = {}

    def apply(
        self, ts: datetime, clean: Mapping[str, float]
    ) -> tuple[dict[str, float] | None, bool]:
        out = dict(clean)
        silent, used_seq = self._silence(ts, clean, out)
        for index, fault in enumerate(self.faults):
            if fault.kind in NODE_WIDE_FAULTS:
                continue
            if fault.kind is FaultKind.SPIKE:
                if self._spiked[index] or ts < fault.start:
                    continue
                self._spiked[index] = True  # a spike while the node is silent is lost
            elif not fault.covers(ts):
                continue
            quantity = fault.quantity
            if silent or quantity is None or quantity not in out:
                continue
            value = self._fault_value(index, fault, ts, quantity, out[quantity])
            cancelled = value == clean[quantity] != out[quantity]
            if fault.kind is FaultKind.SPIKE and cancelled:
                # Two spikes on one record went opposite ways and cancelled: a labelled spike
                # must show, so this one goes on in the first one's direction.
                value = _bounded(quantity, 2.0 * out[quantity] - value)
            out[quantity] = value
            self._spans[index].add(ts)
        self._previous.update(clean)
        return (None if silent else out), used_seq

    def _silence(
        self, ts: datetime, clean: Mapping[str, float], out: dict[str, float]
    ) -> tuple[bool, bool]:
        """Node-wide faults first: (sends nothing?, uses a sequence number?).

        A silent record carries no other fault: what is never sent cannot be stuck or spiked,
        so those faults' labels cover only records that exist.
        """
        silent, used_seq = False, True
        for index, fault in enumerate(self.faults):
            if fault.kind not in NODE_WIDE_FAULTS or not fault.covers(ts):
                continue
            self._spans[index].add(ts)
            if fault.kind in DELIVERY_FAULTS:
                continue  # the readings are right; their delivery or stamp is not
            if fault.kind is FaultKind.DROPOUT:
                silent = True
            elif not self._battery(index, fault, ts, clean, out):
                silent, used_seq = True, False
        return silent, used_seq

    def held_until(self, ts: datetime) -> datetime | None:
        """When a record taken at ``ts`` reaches the broker if an outage holds it, else None.

        The end of the latest outage covering ``ts``: the edge flushes its outbox when the
        link is back, so a record taken during an outage waits for the window to close.
        """
        end: datetime | None = None
        for fault in self.faults:
            if fault.kind is FaultKind.OUTAGE and fault.covers(ts):
                end = fault.end if end is None else max(end, fault.end)
        return end

    def _battery(
        self,
        index: int,
        fault: SensorFault,
        ts: datetime,
        clean: Mapping[str, float],
        out: dict[str, float],
    ) -> bool:
        """Lower the voltage towards the cut-off; False once the node has browned out."""
        elapsed = (ts - fault.start) / fault.decay
        if elapsed >= 1.0:
            return False
        v0 = self._battery_from[index]
        if v0 is None:
            v0 = self._previous.get("battery_voltage", clean.get("battery_voltage", 3.9))
            self._battery_from[index] = v0
        if "battery_voltage" in out:
            out["battery_voltage"] = _bounded(
                "battery_voltage", v0 + (fault.cutoff_v - v0) * elapsed
            )
        return True

    def _fault_value(
        self, index: int, fault: SensorFault, ts: datetime, quantity: str, value: float
    ) -> float:
        scale = TYPICAL_SCALE.get(quantity, 1.0)
        kind = fault.kind
        if kind is FaultKind.STUCK:
            stuck = self._stuck[index]
            if stuck is None:
                stuck = self._previous.get(quantity, value)
                self._stuck[index] = stuck
            return stuck
        if kind is FaultKind.SPIKE:
            magnitude = fault.magnitude if fault.magnitude is not None else scale
            sign = fault.sign or (1 if self._rngs[index].random() < 0.5 else -1)
            spiked = _bounded(quantity, value + sign * magnitude)
            other = _bounded(quantity, value - sign * magnitude)
            if abs(spiked - value) < abs(other - value):
                return other  # clipped at a physical bound: a spike must show, go the other way
            return spiked
        if kind is FaultKind.DRIFT:
            days = (ts - fault.start) / timedelta(days=1)
            return _bounded(quantity, value + fault.bias + fault.rate_per_day * days)
        if kind is FaultKind.NOISE_BURST:
            sd = fault.sd if fault.sd is not None else scale / 4.0
            return _bounded(quantity, value + self._rngs[index].gauss(0.0, sd))
        if kind is FaultKind.UNIT_ERROR:
            error = UNIT_ERRORS[fault.unit or default_unit_error(quantity) or "degF"]
            digits = max(0, SENSORS[quantity].decimals + error.extra_decimals)
            return round(error.convert(value), digits)
        raise AssertionError(f"unhandled fault kind {kind}")  # pragma: no cover

    def labels(self) -> list[Label]:
        """Labels of the faults that touched at least one record so far."""
        out: list[Label] = []
        for fault, span in zip(self.faults, self._spans, strict=True):
            if span.first is None or span.last is None:
                continue
            quantity = None if fault.kind in NODE_WIDE_FAULTS else fault.quantity
            out.append(
                Label(
                    span.first,
                    span.last,
                    fault.farm_id,
                    fault.node_id,
                    quantity,
                    str(fault.kind),
                    "fault",
                    fault.source,
                )
            )
        return out


# ------------------------------------------------------------------------ process events


@dataclass(frozen=True, slots=True)
class EventProfile:
    """What a process event does to the physics by default, and to which farm types."""

    models: frozenset[ModelType]
    forcing: Mapping[str, float | bool | None]
    ammonia_by_model: Mapping[ModelType, float] = field(
        default_factory=lambda: MappingProxyType({})
    )


_ALL_MODELS = frozenset(ModelType)
_BARNS = frozenset({ModelType.PIG_BARN, ModelType.POULTRY_HOUSE})
_CROPS = frozenset({ModelType.GREENHOUSE, ModelType.RICE_FIELD, ModelType.ORCHARD})
_WATER = frozenset({ModelType.CLEAN_WATER_STATION})

EVENT_PROFILES: Mapping[EventKind, EventProfile] = MappingProxyType(
    {
        # A pond crash needs a dull day (little photosynthesis), a hot night (fast respiration),
        # no wind (little re-aeration) and no running aerator: agronomy.md §6 "lowest just
        # before dawn"; falling DO after sunset predicts it.
        EventKind.DO_CRASH: EventProfile(
            frozenset({ModelType.AQUACULTURE_POND}),
            {
                "solar_factor": 0.15,
                "respiration_factor": 1.8,
                "reaeration_factor": 0.2,
                "temperature_offset": 1.5,
                "aerator": False,
                "ramp_h": 1.0,
            },
        ),
        # A heat wave: +6 °C lifts a July Tmax of ~33 °C to ~39 °C, "đặc biệt gay gắt"
        # (agronomy.md §7), with muggy air; barn THI climbs into the danger bands of §4.
        EventKind.HEAT_STRESS: EventProfile(
            _BARNS | {ModelType.GREENHOUSE},
            {"temperature_offset": 6.0, "humidity_offset": 5.0, "ramp_h": 6.0},
        ),
        # A north-east monsoon cold surge: -8 °C turns a January daily mean of ~16.6 °C into
        # ~9 °C, well inside rét hại (daily mean ≤ 13 °C, agronomy.md §7), under grey skies.
        EventKind.COLD_SPELL: EventProfile(
            _ALL_MODELS,
            {"temperature_offset": -8.0, "solar_factor": 0.6, "ramp_h": 12.0},
        ),
        # No irrigation and no rain under a drying wind: root-zone depletion passes RAW = p TAW
        # (agronomy.md §9, FAO-56 ch. 8) within days.
        EventKind.IRRIGATION_NEED: EventProfile(
            _CROPS,
            {"irrigation": False, "rain_rate": 0.0, "et_factor": 1.5},
        ),
        # Manure build-up or a ventilation fault in a barn (NH3 above 25 ppm harms pigs and
        # birds); overfeeding or a die-off in a pond (TAN above ~2 mg/L is dangerous at high
        # pH and temperature, agronomy.md §6).
        EventKind.AMMONIA_RISE: EventProfile(
            _BARNS | {ModelType.AQUACULTURE_POND},
            {"ramp_h": 12.0},
            MappingProxyType(
                {
                    ModelType.PIG_BARN: 25.0,
                    ModelType.POULTRY_HOUSE: 25.0,
                    ModelType.AQUACULTURE_POND: 2.5,
                }
            ),
        ),
        # Wet days in the EPIRICE sense (agronomy.md §8): RH ≥ 90 % and drizzle of ~0.6 mm/h,
        # about 14 mm a day, well over the 5 mm of a "wet day".
        EventKind.DISEASE_RISK: EventProfile(
            _ALL_MODELS,
            {"humidity_offset": 15.0, "rain_rate": 0.6, "solar_factor": 0.5, "ramp_h": 3.0},
        ),
        # A summer heat wave over the whole province: +5 °C lifts a June-July Tmax of ~33 °C to
        # ~38 °C, "nắng nóng gay gắt" (Tmax 37-39 °C, agronomy.md §7), under the dry south-west
        # "gió Lào" (lower humidity, no rain, faster ET). The climate makes its own heat waves
        # (climate.py); this injects one where a scenario wants it.
        EventKind.HEAT_WAVE: EventProfile(
            _ALL_MODELS,
            {
                "temperature_offset": 5.0,
                "humidity_offset": -10.0,
                "rain_rate": 0.0,
                "et_factor": 1.3,
                "ramp_h": 12.0,
            },
        ),
        # A typhoon-like storm crossing the delta: 4 mm/h for two days is ~190 mm, within the
        # 100-300 mm a landfalling storm brings (see climate.py, TYPHOON_RAIN_MM), under thick
        # cloud, 3 °C cooler and saturated air; the wind mixes ponds (faster re-aeration).
        EventKind.TYPHOON: EventProfile(
            _ALL_MODELS,
            {
                "rain_rate": 4.0,
                "solar_factor": 0.2,
                "temperature_offset": -3.0,
                "humidity_offset": 12.0,
                "reaeration_factor": 2.0,
                "ramp_h": 6.0,
            },
        ),
        # The chlorine dosing pump stops (empty chemical tank, clogged injector, tripped
        # breaker): the tank's residual is diluted and decays below 0.2 mg/L within hours.
        EventKind.CHLORINE_DOSING_FAILURE: EventProfile(_WATER, {"chlorine_dosing": False}),
        # Very heavy rain over the intake's catchment (20 mm/h, ~60 mm in 3 h, "mưa rất to"):
        # run-off lifts the raw water's turbidity and the treated water's past 2 NTU.
        EventKind.TURBIDITY_SPIKE: EventProfile(_WATER, {"rain_rate": 20.0, "ramp_h": 0.5}),
        # The station loses power (or the operator leaves the pump off): the tank drains.
        EventKind.TANK_DRY: EventProfile(_WATER, {"supply": False}),
        # The pump runs but delivers nothing (dry-running, air lock, broken coupling).
        EventKind.PUMP_FAILURE: EventProfile(_WATER, {"pump_delivers": False}),
        # A failing biogas digester or an overloaded settling pond washes sludge out: the
        # effluent's pollutant load triples (COD and NH4+ far over the discharge limits).
        EventKind.EFFLUENT_OVERLOAD: EventProfile(
            frozenset({ModelType.EFFLUENT_STATION}), {"load_factor": 3.0, "ramp_h": 1.0}
        ),
    }
)


def event_forcing(
    kind: EventKind,
    model: ModelType,
    start: datetime,
    end: datetime,
    overrides: Mapping[str, float | bool | None] | None = None,
) -> Forcing:
    """The :class:`Forcing` an event of ``kind`` puts on a node of a ``model`` farm.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 10, tzinfo=UTC)
    >>> event_forcing(EventKind.COLD_SPELL, ModelType.RICE_FIELD, t, t).temperature_offset
    -8.0
    """
    profile = EVENT_PROFILES[kind]
    values: dict[str, float | bool | None] = dict(profile.forcing)
    if model in profile.ammonia_by_model:
        values["ammonia_offset"] = profile.ammonia_by_model[model]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = sorted(set(values) - FORCING_PARAMETERS)
    if unknown:
        raise ValueError(f"not forcing parameters: {', '.join(unknown)}")
    return replace(Forcing(start=start, end=end), **cast("dict[str, Any]", values))


FORCING_PARAMETERS = frozenset(f.name for f in fields(Forcing)) - {"start", "end"}
"""What a scenario's event may override (``temperature_offset: -10`` ...)."""


def affected(quantity: str, value: float, counterfactual: float) -> bool:
    """Whether an event changed a reading: by more than one unit of the sensor's last digit.

    Two runs that differ only by a vanishing amount can still round apart by one digit; that
    is not an effect of the event, and counting it would stretch labels for days.

    >>> affected("dissolved_oxygen", 4.12, 4.11), affected("dissolved_oxygen", 4.12, 4.10)
    (False, True)
    """
    unit = 10.0 ** -SENSORS[quantity].decimals
    return abs(value - counterfactual) > 1.5 * unit and not math.isclose(
        abs(value - counterfactual), 1.5 * unit
    )
