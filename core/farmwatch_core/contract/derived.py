"""Derived values: what analytics computes from a node's readings and stores beside them.

Indicators (THI, VPD, un-ionised ammonia...), anomaly scores and forecasts travel from the
analytics service to ingest on the node's ``analytics`` channel
(``farms/{farm}/nodes/{node}/analytics``) so that ingest, the only writer to the store, keeps
them with the same durability as readings, and dashboards query both alike. Like quantities,
each name has a unit and bounds here and nowhere else.

A message carries the ``ts``, ``seq`` and ``synced`` of the record the values were computed
from, so the store files them as more fields of that same point (one row of a node's data
holds what was measured and what it means), and a redelivery overwrites instead of adding.

    >>> from datetime import UTC, datetime
    >>> payload = encode_derived(datetime(2026, 7, 1, 12, tzinfo=UTC), 42, True, {"thi_pig": 27.4})
    >>> json.loads(payload)["values"]
    {'thi_pig': 27.4}
    >>> record = decode_derived(payload)
    >>> record.seq, record.synced, record.readings
    (42, True, {'thi_pig': 27.4})
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from farmwatch_core.contract.payload import PAYLOAD_VERSION, Record, format_ts
from farmwatch_core.contract.quantities import QUANTITIES
from farmwatch_core.contract.rejections import ContractError, Reason

__all__ = ["DERIVED", "DerivedSpec", "decode_derived", "derived_spec", "encode_derived"]

MAX_VALUES = 200  # one message carries one record's derived values, not a history


@dataclass(frozen=True, slots=True)
class DerivedSpec:
    name: str
    unit: str
    low: float
    high: float
    label_en: str
    label_vi: str


def _d(name: str, unit: str, low: float, high: float, en: str, vi: str) -> DerivedSpec:
    return DerivedSpec(name, unit, low, high, en, vi)


DERIVED: Mapping[str, DerivedSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            _d("thi_pig", "1", 0, 60, "THI (pig, °C scale)", "Chỉ số THI (lợn)"),
            _d("thi_poultry", "1", 0, 60, "THI (poultry, °C scale)", "Chỉ số THI (gia cầm)"),
            _d("thi_cattle", "1", 0, 120, "THI (cattle)", "Chỉ số THI (bò)"),
            _d("vpd", "kPa", 0, 10, "Vapour-pressure deficit", "Độ thiếu hụt áp suất hơi"),
            _d("unionised_ammonia", "mg/L", 0, 100, "Un-ionised ammonia (NH3)", "NH3 tự do"),
            _d("do_percent_saturation", "%", 0, 500, "DO saturation", "Độ bão hòa oxy"),
            _d("do_dawn_forecast", "mg/L", 0, 25, "Forecast dawn DO", "Dự báo oxy lúc rạng sáng"),
            _d("ph_daily_swing", "pH", 0, 14, "Daily pH swing", "Biên độ pH trong ngày"),
            _d("gdd", "degC.d", 0, 60, "Growing degree days", "Tích ôn"),
            _d("et0_hargreaves", "mm/d", 0, 20, "ET0 (Hargreaves)", "Bốc thoát hơi ET0"),
            _d("et0_penman_monteith", "mm/d", 0, 20, "ET0 (FAO-56 PM)", "Bốc thoát hơi ET0"),
            _d("soil_water_depletion", "mm", 0, 1000, "Root-zone depletion", "Thiếu hụt nước"),
            _d("days_until_irrigation", "d", 0, 365, "Days until irrigation", "Số ngày đến tưới"),
            _d("leaf_wetness_hours", "h", 0, 24, "Leaf-wetness hours", "Số giờ lá ướt"),
            _d("rice_blast_risk", "1", 0, 1, "Rice blast risk", "Nguy cơ đạo ôn"),
            _d("downy_blight_risk", "1", 0, 1, "Lychee downy blight risk", "Nguy cơ sương mai"),
            _d("water_use_drop", "1", 0, 1, "Drop in water use", "Mức giảm nước uống"),
            _d("air_temperature_daily_mean", "degC", -40, 70, "Daily mean", "Nhiệt độ TB ngày"),
            # Clean-water stations (indicators/water_supply.py): minutes the pump has run
            # without flow, the tank's trend, and the two conditions as 0/1 flags.
            _d(
                "pump_no_flow_minutes",
                "min",
                0,
                10080,
                "Pump on without flow",
                "Bơm chạy không ra nước",
            ),
            _d(
                "pump_failure",
                "1",
                0,
                1,
                "Pump failure (on, no flow)",
                "Bơm hỏng (chạy, không ra nước)",
            ),
            _d("tank_level_trend", "%/h", -100, 100, "Tank level trend", "Xu hướng mực nước bể"),
            _d("tank_running_dry", "1", 0, 1, "Tank running dry", "Bể sắp cạn"),
            # Bands as their rank: 0 none/normal … 3 the worst (thermal.ThiBand/ColdBand/HeatBand).
            _d("thi_band", "1", 0, 3, "THI band (0 normal … 3 emergency)", "Mức stress nhiệt"),
            _d("cold_band", "1", 0, 3, "Cold (0 none … 3 rét hại)", "Mức rét"),
            _d("heat_band", "1", 0, 3, "Heat (0 none … 3 đặc biệt gay gắt)", "Mức nắng nóng"),
            # The node's hourly means together against its IsolationForest (share of the
            # fitted hours that were more normal; 1 = stranger than all of them).
            _d(
                "anomaly_node",
                "1",
                0,
                1,
                "Anomaly score: the node as a whole",
                "Bất thường tổng hợp",
            ),
        )
    }
    | {
        f"anomaly_{name}": DerivedSpec(
            f"anomaly_{name}",
            "1",
            0,
            1,
            f"Anomaly score: {q.label_en}",
            f"Bất thường: {q.label_vi}",
        )
        for name, q in QUANTITIES.items()
        if not q.state
    }
)


def derived_spec(name: str) -> DerivedSpec | None:
    """The spec of a derived value; ``None`` when unknown."""
    return DERIVED.get(name)


def encode_derived(ts: datetime, seq: int, synced: bool, values: Mapping[str, float]) -> bytes:
    """One record's derived values as a v1 message for the analytics channel."""
    body = {
        "v": PAYLOAD_VERSION,
        "ts": format_ts(ts),
        "seq": seq,
        "synced": synced,
        "values": dict(values),
    }
    return json.dumps(body, allow_nan=False).encode()


def decode_derived(payload: bytes) -> Record:
    """Parse and check an analytics-channel message; raise ContractError with the reason."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractError(Reason.MALFORMED_JSON, f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ContractError(Reason.SCHEMA, "a derived message is a JSON object")
    if body.get("v") != PAYLOAD_VERSION:
        raise ContractError(Reason.UNSUPPORTED_VERSION, f"expected v{PAYLOAD_VERSION}")
    values, raw_ts, seq, synced = (body.get(k) for k in ("values", "ts", "seq", "synced"))
    if not isinstance(values, dict) or not isinstance(raw_ts, str):
        raise ContractError(Reason.SCHEMA, "a derived message needs 'ts' and 'values'")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0 or not isinstance(synced, bool):
        raise ContractError(Reason.SCHEMA, "a derived message needs 'seq' (int ≥ 0) and 'synced'")
    if len(values) > MAX_VALUES:
        raise ContractError(Reason.SCHEMA, f"{len(values)} values; the limit is {MAX_VALUES}")
    try:
        ts = datetime.fromisoformat(raw_ts)
    except ValueError:
        raise ContractError(Reason.SCHEMA, f"'ts' {raw_ts[:40]!r} is not RFC 3339") from None
    if ts.tzinfo is None:
        raise ContractError(Reason.SCHEMA, f"'ts' {raw_ts!r} has no time zone")
    checked = {name: _checked_value(name, value) for name, value in values.items()}
    return Record(ts.astimezone(UTC), seq, synced, checked)


def _checked_value(name: str, value: object) -> float:
    spec = DERIVED.get(name)
    if spec is None:
        raise ContractError(Reason.UNKNOWN_QUANTITY, f"unknown derived value {name!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractError(Reason.WRONG_TYPE, f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ContractError(Reason.NOT_FINITE, f"{name} is {number}")
    if not spec.low <= number <= spec.high:
        raise ContractError(
            Reason.OUT_OF_BOUNDS, f"{name} {number:g} outside {spec.low:g} … {spec.high:g}"
        )
    return number
