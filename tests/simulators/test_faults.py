"""Sensor faults as a layer over clean readings: exact spans, the right change, nothing else.

These run the :class:`FaultLayer` over synthetic clean series (fast, and any value is
possible), so Hypothesis can throw windows, kinds and values at it; the dataset tests then
check the same promises end to end on the real models.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from farmwatch_core.contract import QUANTITIES
from farmwatch_core.registry import ModelType
from farmwatch_simulators.faults import (
    EVENT_PROFILES,
    NODE_WIDE_FAULTS,
    TYPICAL_SCALE,
    UNIT_ERRORS,
    EventKind,
    FaultKind,
    FaultLayer,
    SensorFault,
    affected,
    event_forcing,
)
from farmwatch_simulators.models import SENSORS, Forcing, Process
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = datetime(2026, 7, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
QUANTITY_NAMES = ("water_temperature", "dissolved_oxygen", "ph", "battery_voltage", "rssi")


def clean_series(count: int, seed: int) -> list[tuple[datetime, dict[str, float]]]:
    """Plausible pond-node readings, rounded like the probes, varying every record."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        values = {
            "water_temperature": rng.uniform(20.0, 32.0),
            "dissolved_oxygen": rng.uniform(2.0, 9.0),
            "ph": rng.uniform(6.8, 8.8),
            "battery_voltage": rng.uniform(3.7, 4.1),
            "rssi": rng.uniform(-95.0, -70.0),
        }
        out.append((T0 + STEP * i, {q: round(v, SENSORS[q].decimals) for q, v in values.items()}))
    return out


def run_layer(
    faults: list[SensorFault], series: list[tuple[datetime, dict[str, float]]]
) -> tuple[FaultLayer, list[tuple[datetime, dict[str, float] | None, bool]]]:
    layer = FaultLayer(faults, seed=3)
    out = []
    for ts, clean in series:
        snapshot = dict(clean)
        readings, used_seq = layer.apply(ts, clean)
        assert clean == snapshot, "the layer must not mutate the clean readings"
        out.append((ts, readings, used_seq))
    return layer, out


@st.composite
def faults_on_a_series(draw: st.DrawFn) -> tuple[SensorFault, int]:
    count = draw(st.integers(min_value=5, max_value=120))
    kind = draw(st.sampled_from(list(FaultKind)))
    first = draw(st.integers(min_value=0, max_value=count - 2))
    length = draw(st.integers(min_value=1, max_value=count - first))
    start = T0 + STEP * first - draw(st.sampled_from([timedelta(0), timedelta(seconds=90)]))
    end = start + STEP * length
    quantity = None
    if kind not in NODE_WIDE_FAULTS:
        choices = ["water_temperature"] if kind is FaultKind.UNIT_ERROR else list(QUANTITY_NAMES)
        quantity = draw(st.sampled_from(choices))
    fault = SensorFault(
        kind,
        "pond-01",
        "pond-01-n1",
        start,
        end,
        quantity,
        value=draw(st.none() | st.floats(min_value=0.0, max_value=14.0)),
        rate_per_day=draw(st.floats(min_value=-2.0, max_value=2.0)),
        bias=draw(st.floats(min_value=-1.0, max_value=1.0)),
        unit="degF",
        decay=draw(st.sampled_from([timedelta(hours=1), timedelta(hours=6)])),
    )
    return fault, count


@given(case=faults_on_a_series(), seed=st.integers(0, 1000))
@settings(max_examples=300, deadline=None)
def test_a_fault_changes_only_its_labelled_span(case: tuple[SensorFault, int], seed: int) -> None:
    fault, count = case
    series = clean_series(count, seed)
    layer, out = run_layer([fault], series)
    labels = layer.labels()
    in_window = [ts for ts, _ in series if fault.covers(ts)]
    if fault.kind is FaultKind.SPIKE:
        in_window = [ts for ts, _ in series if ts >= fault.start][:1]
    assert in_window, "the strategy always puts a record in the window"
    # The label is exactly the records in the window (or, for a battery, up to the end).
    assert len(labels) == 1
    label = labels[0]
    assert (label.start, label.end) == (in_window[0], in_window[-1])
    assert label.kind == fault.kind
    assert label.quantity == (None if fault.kind in NODE_WIDE_FAULTS else fault.quantity)
    # Outside the span: byte-for-byte the clean readings, and a sequence number each.
    for (ts, clean), (_, sent, used_seq) in zip(series, out, strict=True):
        if not label.start <= ts <= label.end:
            assert sent == clean
            assert used_seq
        elif fault.quantity is not None and sent is not None:
            others = {q: v for q, v in sent.items() if q != fault.quantity}
            assert others == {q: v for q, v in clean.items() if q != fault.quantity}


@given(seed=st.integers(0, 1000), first=st.integers(1, 30))
@settings(max_examples=50, deadline=None)
def test_stuck_repeats_the_last_good_reading(seed: int, first: int) -> None:
    series = clean_series(60, seed)
    fault = SensorFault(
        FaultKind.STUCK, "f", "n", T0 + STEP * first, T0 + STEP * (first + 10), "ph"
    )
    _, out = run_layer([fault], series)
    last_good = series[first - 1][1]["ph"]
    for ts, sent, _ in out:
        assert sent is not None
        if fault.covers(ts):
            assert sent["ph"] == last_good


def test_stuck_at_a_given_value() -> None:
    series = clean_series(20, 1)
    fault = SensorFault(
        FaultKind.STUCK, "f", "n", T0, T0 + STEP * 5, "water_temperature", value=85.0
    )
    _, out = run_layer([fault], series)
    assert [sent["water_temperature"] for _, sent, _ in out[:5] if sent] == [85.0] * 5


@given(seed=st.integers(0, 1000), sign=st.sampled_from([-1, 1, None]))
@settings(max_examples=100, deadline=None)
def test_a_spike_is_one_record_and_visible(seed: int, sign: int | None) -> None:
    series = clean_series(20, seed)
    fault = SensorFault(
        FaultKind.SPIKE, "f", "n", T0 + STEP * 7, T0 + STEP * 7, "dissolved_oxygen", sign=sign
    )
    _, out = run_layer([fault], series)
    changed = [
        (ts, sent["dissolved_oxygen"] - clean["dissolved_oxygen"])
        for (ts, clean), (_, sent, _) in zip(series, out, strict=True)
        if sent is not None and sent != clean
    ]
    assert len(changed) == 1
    ts, jump = changed[0]
    assert ts == T0 + STEP * 7
    q = QUANTITIES["dissolved_oxygen"]
    spiked = series[7][1]["dissolved_oxygen"] + jump
    assert q.low <= spiked <= q.high, "spikes stay ingestible: finding them is analytics' job"
    assert abs(jump) == pytest.approx(TYPICAL_SCALE["dissolved_oxygen"], abs=0.011) or (
        spiked in {q.low, q.high}
    )


def test_drift_grows_linearly_from_the_start() -> None:
    series = clean_series(300, 2)
    fault = SensorFault(
        FaultKind.DRIFT, "f", "n", T0, T0 + timedelta(days=1), "ph", bias=0.1, rate_per_day=0.5
    )
    _, out = run_layer([fault], series)
    for (ts, clean), (_, sent, _) in zip(series, out, strict=True):
        assert sent is not None
        if fault.covers(ts):
            expected = 0.1 + 0.5 * (ts - T0) / timedelta(days=1)
            assert sent["ph"] - clean["ph"] == pytest.approx(expected, abs=0.0051)


def test_unit_error_sends_fahrenheit_numbers_as_celsius() -> None:
    series = clean_series(10, 4)
    fault = SensorFault(
        FaultKind.UNIT_ERROR, "f", "n", T0, T0 + STEP * 10, "water_temperature", unit="degF"
    )
    _, out = run_layer([fault], series)
    for (_, clean), (_, sent, _) in zip(series, out, strict=True):
        assert sent is not None
        assert sent["water_temperature"] == round(clean["water_temperature"] * 1.8 + 32.0, 2)


@pytest.mark.parametrize(("unit", "quantity", "clean", "sent"), [
    ("fraction", "soil_moisture", 31.4, 0.314),
    ("mS/cm", "electrical_conductivity", 1530.0, 1.53),
    ("mV", "battery_voltage", 3.912, 3912.0),
])  # fmt: skip
def test_other_unit_errors(unit: str, quantity: str, clean: float, sent: float) -> None:
    assert quantity in UNIT_ERRORS[unit].quantities
    fault = SensorFault(FaultKind.UNIT_ERROR, "f", "n", T0, T0 + STEP, quantity, unit=unit)
    readings, _ = FaultLayer([fault]).apply(T0, {quantity: clean})
    assert readings == {quantity: sent}


def test_noise_burst_adds_noise_of_the_asked_size() -> None:
    series = clean_series(400, 5)
    fault = SensorFault(
        FaultKind.NOISE_BURST, "f", "n", T0, T0 + STEP * 400, "water_temperature", sd=2.0
    )
    _, out = run_layer([fault], series)
    diffs = [
        sent["water_temperature"] - clean["water_temperature"]
        for (_, clean), (_, sent, _) in zip(series, out, strict=True)
        if sent is not None
    ]
    mean = sum(diffs) / len(diffs)
    sd = (sum((d - mean) ** 2 for d in diffs) / len(diffs)) ** 0.5
    assert abs(mean) < 0.3
    assert 1.7 < sd < 2.3


def test_dropout_keeps_counting_but_a_dead_battery_does_not() -> None:
    series = clean_series(40, 6)
    dropout = SensorFault(FaultKind.DROPOUT, "f", "n", T0 + STEP * 2, T0 + STEP * 5)
    battery = SensorFault(
        FaultKind.BATTERY_DEATH, "f", "n", T0 + STEP * 10, T0 + STEP * 30, decay=STEP * 8
    )
    _, out = run_layer([dropout, battery], series)
    sent = [(i, readings, used) for i, (_, readings, used) in enumerate(out)]
    assert [i for i, r, _ in sent if r is None] == [2, 3, 4, *range(18, 30)]
    assert [i for i, _, used in sent if not used] == list(range(18, 30))
    volts = [r["battery_voltage"] for i, r, _ in sent if r is not None and 10 <= i < 18]
    assert volts == sorted(volts, reverse=True), "the voltage falls until the node goes silent"
    assert volts[-1] < 3.45


def test_faults_apply_in_order_and_each_keeps_its_span() -> None:
    series = clean_series(30, 7)
    stuck = SensorFault(FaultKind.STUCK, "f", "n", T0 + STEP * 5, T0 + STEP * 15, "ph")
    spike = SensorFault(FaultKind.SPIKE, "f", "n", T0 + STEP * 10, T0 + STEP * 10, "ph", sign=1)
    layer, out = run_layer([stuck, spike], series)
    stuck_value = series[4][1]["ph"]
    readings = out[10][1]
    assert readings is not None
    assert readings["ph"] == round(stuck_value + TYPICAL_SCALE["ph"], 2)
    spans = {label.kind: (label.start, label.end) for label in layer.labels()}
    assert spans == {
        "stuck": (T0 + STEP * 5, T0 + STEP * 14),
        "spike": (T0 + STEP * 10, T0 + STEP * 10),
    }


# ---------------------------------------------------------------- process events


def test_forcing_ramps_in_and_out() -> None:
    forcing = Forcing(T0, T0 + timedelta(hours=10), ramp_h=2.0, temperature_offset=-8.0)
    assert forcing.weight(T0 - timedelta(seconds=1)) == 0.0
    assert forcing.weight(T0 + timedelta(hours=1)) == pytest.approx(0.5, abs=1e-3)
    assert forcing.weight(T0 + timedelta(hours=5)) == 1.0
    assert forcing.weight(T0 + timedelta(hours=9)) == pytest.approx(0.5)
    assert forcing.weight(T0 + timedelta(hours=10)) == 0.0
    process = Process.combine([forcing], T0 + timedelta(hours=1))
    assert process.temperature_offset == pytest.approx(-4.0, abs=0.01)


def test_forcings_combine() -> None:
    window = (T0, T0 + timedelta(hours=1))
    a = Forcing(*window, temperature_offset=2.0, solar_factor=0.5, aerator=False)
    b = Forcing(*window, temperature_offset=1.0, solar_factor=0.5, rain_rate=0.0)
    p = Process.combine([a, b], T0)
    assert (p.temperature_offset, p.solar_factor, p.aerator, p.rain_rate) == (3.0, 0.25, False, 0.0)


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_event_has_a_profile_that_builds(kind: EventKind) -> None:
    for model in EVENT_PROFILES[kind].models:
        forcing = event_forcing(kind, model, T0, T0 + timedelta(hours=1))
        assert forcing != Forcing(T0, T0 + timedelta(hours=1)), f"{kind} does nothing to {model}"


def test_event_overrides_are_checked() -> None:
    with pytest.raises(ValueError, match="not forcing parameters: wind"):
        event_forcing(EventKind.COLD_SPELL, ModelType.ORCHARD, T0, T0, {"wind": 3.0})
    forcing = event_forcing(
        EventKind.COLD_SPELL, ModelType.ORCHARD, T0, T0, {"temperature_offset": -3.0}
    )
    assert forcing.temperature_offset == -3.0


def test_affected_ignores_a_last_digit_flip() -> None:
    assert not affected("ph", 7.51, 7.50)
    assert affected("ph", 7.52, 7.50)
    assert not affected("co2", 801.0, 800.0)
    assert affected("co2", 802.0, 800.0)
