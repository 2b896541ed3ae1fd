"""SenML JSON (RFC 8428) onto the farmwatch contract: same records, same reason codes as v1."""

from __future__ import annotations

import contextlib
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from farmwatch_core.contract import (
    QUANTITIES,
    ContractError,
    Reason,
    Record,
    TimeWindow,
    decode_senml,
)
from farmwatch_core.contract.payload import MAX_BATCH_RECORDS, MAX_SEQ
from farmwatch_core.contract.senml import SENML_ALIASES, SENML_UNITS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
T = NOW.timestamp() - 60  # an absolute SenML time one minute before NOW
AT_T = datetime.fromtimestamp(T, UTC)
DEV = "urn:dev:ow:10e2073a01080063:"

# Reasons only the transport or the store can produce: no payload decoder returns them.
NOT_FROM_PAYLOADS = {Reason.BAD_TOPIC, Reason.BAD_ID, Reason.UNKNOWN_NODE, Reason.STORE_REJECTED}


def pack(*records: object) -> bytes:
    return json.dumps(list(records)).encode()


def decode(*records: object) -> tuple[list[Record], list[tuple[Reason, str | None]]]:
    decoded = decode_senml(pack(*records), now=NOW)
    return decoded.records, [(r.reason, r.quantity) for r in decoded.rejections]


# --------------------------------------------------------------------------------------------
# RFC 8428 §5.1's examples, adapted to farmwatch names (and given the 'seq' farmwatch needs)

RFC_EXAMPLES: list[
    tuple[str, list[dict[str, Any]], list[Record], set[tuple[Reason, str | None]]]
] = [
    (
        "5.1.1 single datapoint",
        [
            {"n": DEV + "water_temperature", "u": "Cel", "v": 23.1},
            {"n": DEV + "seq", "v": 1},
        ],
        [Record(NOW, 1, True, {"water_temperature": 23.1})],
        set(),
    ),
    (
        "5.1.2 multiple datapoints now",
        [
            {"bn": DEV, "n": "battery_voltage", "u": "V", "v": 3.91},
            {"n": "rssi", "u": "dBm", "v": -71},
            {"n": "seq", "v": 2},
        ],
        [Record(NOW, 2, True, {"battery_voltage": 3.91, "rssi": -71.0})],
        set(),
    ),
    (
        "5.1.2 base time, base unit, bver 5, relative t",
        [
            {"bn": DEV, "bt": T, "bu": "V", "bver": 5, "n": "battery_voltage", "v": 3.9},
            {"n": "seq", "v": 10},
            *(
                entry
                for back in range(1, 4)
                for entry in (
                    {"n": "battery_voltage", "t": -back, "v": 3.9 - back / 100},
                    {"n": "seq", "t": -back, "v": 10 - back},
                )
            ),
        ],
        [
            Record(AT_T, 10, False, {"battery_voltage": 3.9}),
            *(
                Record(
                    AT_T - timedelta(seconds=b), 10 - b, False, {"battery_voltage": 3.9 - b / 100}
                )
                for b in range(1, 4)
            ),
        ],
        set(),
    ),
    (
        "5.1.3 multiple measurements, one at a time without seq",
        [
            {"bn": DEV, "bt": T - 180, "bu": "%RH", "n": "humidity", "v": 20},
            {"n": "seq", "v": 1},
            {"n": "humidity", "t": 60, "v": 20.3},
            {"n": "seq", "t": 60, "v": 2},
            {"n": "battery", "u": "%EL", "t": 150, "v": 98},
            {"n": "humidity", "t": 180, "v": 21.2},
            {"n": "seq", "t": 180, "v": 4},
        ],
        [
            Record(AT_T - timedelta(seconds=180), 1, False, {"relative_humidity": 20.0}),
            Record(AT_T - timedelta(seconds=120), 2, False, {"relative_humidity": 20.3}),
            Record(AT_T, 4, False, {"relative_humidity": 21.2}),
        ],
        {(Reason.SCHEMA, None)},
    ),
    (
        "5.1.3 battery state of charge is not a voltage",
        [
            {"bn": DEV, "bt": T, "n": "battery", "u": "%EL", "v": 98},
            {"n": "seq", "v": 3},
        ],
        [],
        {(Reason.WRONG_UNIT, "battery_voltage")},
    ),
    (
        "5.1.5 multiple data types",
        [
            {"bn": DEV, "n": "water_temperature", "u": "Cel", "v": 23.1},
            {"n": "label", "vs": "Machine Room"},
            {"n": "aerator_state", "vb": False},
            {"n": "nfc-reader", "vd": "aGkgCg"},
            {"n": "salinity", "vs": "5"},
            {"n": "ph", "vd": "aGkgCg"},
            {"n": "seq", "v": 5},
        ],
        [Record(NOW, 5, True, {"water_temperature": 23.1, "aerator_state": 0.0})],
        {
            (Reason.UNKNOWN_QUANTITY, "label"),
            (Reason.UNKNOWN_QUANTITY, "nfc-reader"),
            (Reason.WRONG_TYPE, "salinity"),
            (Reason.WRONG_TYPE, "ph"),
        },
    ),
    (
        "5.1.6 collection of resources: two base names, one base time",
        [
            {"bn": DEV, "bt": T, "n": "water_temperature", "u": "Cel", "v": 27.2},
            {"n": "dissolved_oxygen", "v": 5.1},
            {"bn": "urn:dev:ow:10e2073a01080064/", "n": "air_temperature", "u": "Cel", "v": 31.5},
            {"n": "humidity", "u": "%RH", "v": 67},
            {"n": "seq", "v": 6},
            {"n": "synced", "vb": True},
        ],
        [
            Record(
                AT_T,
                6,
                True,
                {
                    "water_temperature": 27.2,
                    "dissolved_oxygen": 5.1,
                    "air_temperature": 31.5,
                    "relative_humidity": 67.0,
                },
            )
        ],
        set(),
    ),
    (
        "5.1.7 actuator states, a base-only first record, '/' units",
        [
            {"bn": DEV},
            {"n": "air_temperature", "u": "Cel", "v": 23.1},
            {"n": "aerator_state", "u": "/", "v": 1},
            {"n": "fan_state", "u": "/", "v": 0},
            {"n": "seq", "v": 9},
        ],
        [Record(NOW, 9, True, {"air_temperature": 23.1, "aerator_state": 1.0, "fan_state": 0.0})],
        set(),
    ),
]


@pytest.mark.parametrize(
    ("records", "expected", "rejections"),
    [pytest.param(r, e, j, id=name) for name, r, e, j in RFC_EXAMPLES],
)
def test_rfc_8428_examples_adapted(
    records: list[dict[str, Any]],
    expected: list[Record],
    rejections: set[tuple[Reason, str | None]],
) -> None:
    got, got_rejections = decode(*records)
    assert got == expected
    assert set(got_rejections) == rejections


# --------------------------------------------------------------------------------------------
# Every reason code a payload can cause, through SenML

SEQ = {"n": "seq", "v": 7}
GOOD = {"n": "rssi", "v": -70}  # keeps the record at NOW alive when the entry under test fails

MESSAGE_ERRORS: list[tuple[str, bytes, Reason]] = [
    ("too large", pack({"n": "ph", "v": 7, "pad": "x" * 300_000}), Reason.TOO_LARGE),
    ("not json", b"[{", Reason.MALFORMED_JSON),
    ("not utf-8", b"\xff[", Reason.MALFORMED_JSON),
    ("too deep", b"[" * 50_000 + b"]" * 50_000, Reason.MALFORMED_JSON),
    ("huge int literal", b'[{"n": "ph", "v": 1' + b"0" * 5000 + b"}]", Reason.MALFORMED_JSON),
    ("an object, not a pack", b'{"n": "ph", "v": 7}', Reason.SCHEMA),
    ("empty pack", b"[]", Reason.SCHEMA),
    ("bn not a string", pack({"bn": 5, "n": "ph", "v": 7}), Reason.SCHEMA),
    ("bt not a number", pack({"bt": "now", "n": "ph", "v": 7}), Reason.SCHEMA),
    ("bu not a string", pack({"bu": 1, "n": "ph", "v": 7}), Reason.SCHEMA),
    ("bv not a number", pack({"bv": True, "n": "ph", "v": 7}), Reason.SCHEMA),
    ("must-understand field", pack({"n": "ph", "v": 7, "xyz_": 1}), Reason.SCHEMA),
    ("bver 11", pack({"bver": 11, "n": "ph", "v": 7}), Reason.UNSUPPORTED_VERSION),
    ("bver string", pack({"bver": "10", "n": "ph", "v": 7}), Reason.UNSUPPORTED_VERSION),
    ("bver boolean", pack({"bver": True, "n": "ph", "v": 7}), Reason.UNSUPPORTED_VERSION),
    ("bver 0", pack({"bver": 0, "n": "ph", "v": 7}), Reason.UNSUPPORTED_VERSION),
    (
        "bver changes within a pack",
        pack({"bver": 10, "n": "ph", "v": 7}, {"bver": 9, "n": "seq", "v": 1}),
        Reason.UNSUPPORTED_VERSION,
    ),
    (
        "more distinct times than a batch may hold",
        pack(*({"n": "seq", "t": -i, "v": i} for i in range(MAX_BATCH_RECORDS + 1))),
        Reason.TOO_LARGE,
    ),
]


@pytest.mark.parametrize(
    ("payload", "reason"), [pytest.param(p, r, id=name) for name, p, r in MESSAGE_ERRORS]
)
def test_message_level_errors_raise(payload: bytes, reason: Reason) -> None:
    with pytest.raises(ContractError) as info:
        decode_senml(payload, now=NOW, max_bytes=10**7 if reason is not Reason.TOO_LARGE else 2**18)
    assert info.value.reason is reason
    assert info.value.rejection.detail


RECORD_ERRORS: list[tuple[str, list[Any], Reason, str | None]] = [
    ("record not an object", [SEQ, {"n": "ph", "v": 7}, "junk"], Reason.SCHEMA, None),
    ("n not a string", [SEQ, GOOD, {"n": 5, "v": 7}], Reason.SCHEMA, None),
    ("no name at all", [SEQ, GOOD, {"v": 7}], Reason.SCHEMA, None),
    ("t not a number", [SEQ, GOOD, {"n": "ph", "v": 7, "t": "now"}], Reason.SCHEMA, "ph"),
    ("t out of range", [SEQ, GOOD, {"n": "ph", "v": 7, "t": 1e300}], Reason.SCHEMA, "ph"),
    ("t not finite", [SEQ, GOOD, {"n": "ph", "v": 7, "t": float("nan")}], Reason.SCHEMA, "ph"),
    ("t huge negative", [SEQ, GOOD, {"n": "ph", "v": 7, "t": -1e300}], Reason.SCHEMA, "ph"),
    ("no seq at that time", [{"n": "ph", "v": 7}], Reason.SCHEMA, None),
    ("seq negative", [{"n": "seq", "v": -1}, {"n": "ph", "v": 7}], Reason.SCHEMA, None),
    ("seq fractional", [{"n": "seq", "v": 1.5}, {"n": "ph", "v": 7}], Reason.SCHEMA, None),
    ("seq as a string", [{"n": "seq", "vs": "1"}, {"n": "ph", "v": 7}], Reason.SCHEMA, None),
    ("seq too big", [{"n": "seq", "v": MAX_SEQ + 1}, {"n": "ph", "v": 7}], Reason.SCHEMA, None),
    (
        "seq made huge by a base value",
        [{"bv": 9 * 10**4299, "n": "seq", "v": 9 * 10**4299}, {"n": "ph"}],
        Reason.SCHEMA,
        None,
    ),
    ("seq conflicting", [SEQ, {"n": "seq", "v": 8}, {"n": "ph", "v": 7}], Reason.SCHEMA, None),
    ("synced not vb", [SEQ, {"n": "synced", "v": 1}, {"n": "ph", "v": 7}], Reason.SCHEMA, None),
    (
        "synced conflicting",
        [SEQ, {"n": "synced", "vb": True}, {"n": "synced", "vb": False}, {"n": "ph", "v": 7}],
        Reason.SCHEMA,
        None,
    ),
    ("only seq, no readings", [SEQ], Reason.SCHEMA, None),
    ("no value", [SEQ, {"n": "ph"}], Reason.SCHEMA, "ph"),
    ("two value fields", [SEQ, {"n": "ph", "v": 7, "vs": "7"}], Reason.SCHEMA, "ph"),
    (
        "a quantity twice at one time",
        [SEQ, {"n": "rssi", "v": -70}, {"n": "ph", "v": 7}, {"n": "ph", "v": 7.1}],
        Reason.SCHEMA,
        "ph",
    ),
    (
        "absolute time ahead",
        [{"bt": T + 7200, **SEQ}, {"n": "ph", "v": 7}],
        Reason.CLOCK_IN_FUTURE,
        None,
    ),
    (
        "relative time ahead",
        [{"t": 3600, **SEQ}, {"t": 3600, "n": "ph", "v": 7}],
        Reason.CLOCK_IN_FUTURE,
        None,
    ),
    ("absolute time too old", [{"bt": 2**28, **SEQ}, {"n": "ph", "v": 7}], Reason.TOO_OLD, None),
    (
        "relative time too old",
        [{"bt": -200 * 86400, **SEQ}, {"n": "ph", "v": 7}],
        Reason.TOO_OLD,
        None,
    ),
    ("unknown quantity", [SEQ, {"n": "do2", "v": 7}], Reason.UNKNOWN_QUANTITY, "do2"),
    (
        "ambiguous name",
        [SEQ, {"n": "temperature", "v": 27}],
        Reason.UNKNOWN_QUANTITY,
        "temperature",
    ),
    (
        "bn glued without separator",
        [{"bn": "urn:dev:ow:1", **SEQ}, {"n": "ph", "v": 7}],
        Reason.SCHEMA,
        None,
    ),
    ("string value", [SEQ, {"n": "ph", "vs": "7"}], Reason.WRONG_TYPE, "ph"),
    ("data value", [SEQ, {"n": "ph", "vd": "aGkgCg"}], Reason.WRONG_TYPE, "ph"),
    ("boolean for a number", [SEQ, {"n": "ph", "vb": True}], Reason.WRONG_TYPE, "ph"),
    (
        "vb not a boolean",
        [SEQ, {"n": "aerator_state", "vb": 1}],
        Reason.WRONG_TYPE,
        "aerator_state",
    ),
    ("v a string", [SEQ, {"n": "ph", "v": "7"}], Reason.WRONG_TYPE, "ph"),
    ("sum only", [SEQ, {"n": "rain", "s": 12}], Reason.WRONG_TYPE, "rain"),
    ("NaN", [SEQ, {"n": "ph", "v": float("nan")}], Reason.NOT_FINITE, "ph"),
    ("Infinity", [SEQ, {"n": "ph", "v": float("inf")}], Reason.NOT_FINITE, "ph"),
    ("base value overflows", [SEQ, {"bv": 1e308, "n": "ph", "v": 1e308}], Reason.NOT_FINITE, "ph"),
    (
        "unit not SenML",
        [SEQ, {"n": "air_temperature", "u": "degF", "v": 80}],
        Reason.WRONG_UNIT,
        "air_temperature",
    ),
    ("unit wrong for it", [SEQ, {"n": "co2", "u": "%", "v": 1}], Reason.WRONG_UNIT, "co2"),
    (
        "base unit wrong for it",
        [{"bu": "Cel", **SEQ}, {"n": "ph", "v": 7}],
        Reason.WRONG_UNIT,
        "ph",
    ),
    ("unit not a string", [SEQ, {"n": "ph", "u": 7, "v": 7}], Reason.WRONG_UNIT, "ph"),
    ("out of bounds", [SEQ, {"n": "ph", "v": 15}], Reason.OUT_OF_BOUNDS, "ph"),
    (
        "out of bounds after conversion",
        [SEQ, {"n": "water_temperature", "u": "K", "v": 373.15}],
        Reason.OUT_OF_BOUNDS,
        "water_temperature",
    ),
    ("integer beyond float range", [SEQ, {"n": "ph", "v": 10**400}], Reason.OUT_OF_BOUNDS, "ph"),
]


@pytest.mark.parametrize(
    ("records", "reason", "quantity"),
    [pytest.param(r, why, q, id=name) for name, r, why, q in RECORD_ERRORS],
)
def test_record_and_reading_errors_are_rejections(
    records: list[Any], reason: Reason, quantity: str | None
) -> None:
    decoded = decode_senml(json.dumps(records).encode(), now=NOW)
    assert [(r.reason, r.quantity) for r in decoded.rejections] == [(reason, quantity)]
    assert decoded.rejections[0].detail
    # Whatever else the pack held at that time and was valid is kept.
    for record in decoded.records:
        assert record.readings


def test_every_payload_reason_is_reachable_through_senml() -> None:
    reached = {r for _, _, r in MESSAGE_ERRORS} | {r for _, _, r, _ in RECORD_ERRORS}
    assert reached == set(Reason) - NOT_FROM_PAYLOADS


def test_valid_readings_are_kept_beside_invalid_ones() -> None:
    records, rejections = decode(
        {"bn": DEV, **SEQ},
        {"n": "water_temperature", "u": "Cel", "v": 27.5},
        {"n": "dissolved_oxygen", "v": float("nan")},
        {"n": "ph", "v": 19},
        {"n": "do2", "v": 3},
        {"n": "salinity", "vs": "5"},
        {"n": "air_temperature", "u": "K", "v": 303.15},
        {"n": "co2", "u": "%", "v": 1},
        {"n": "aerator_state", "vb": True},
        {"n": "rssi", "vb": True},
    )
    (record,) = records
    assert record.readings == {
        "water_temperature": 27.5,
        "air_temperature": pytest.approx(30.0),
        "aerator_state": 1.0,
    }
    assert set(rejections) == {
        (Reason.NOT_FINITE, "dissolved_oxygen"),
        (Reason.OUT_OF_BOUNDS, "ph"),
        (Reason.UNKNOWN_QUANTITY, "do2"),
        (Reason.WRONG_TYPE, "salinity"),
        (Reason.WRONG_UNIT, "co2"),
        (Reason.WRONG_TYPE, "rssi"),
    }


def test_rejections_carry_the_seq_of_their_time() -> None:
    decoded = decode_senml(
        pack(
            {"bt": T, **SEQ},
            {"n": "ph", "v": 19},
            {"t": -60, "n": "seq", "v": 6},
            {"t": -60, "n": "x", "v": 1},
        ),
        now=NOW,
    )
    assert [(r.seq, r.quantity) for r in decoded.rejections] == [(7, "ph"), (6, "x")]


def test_a_bad_record_does_not_cost_the_rest_of_the_pack() -> None:
    records, rejections = decode(
        {"bt": T, **SEQ},
        {"n": "ph", "v": 7.1},
        "junk",
        {"t": 7200, "n": "seq", "v": 8},
        {"t": 7200, "n": "ph", "v": 7.2},
        {"t": -60, "n": "ph", "v": 7.0},
        {"t": -120, "n": "seq", "v": 5},
        {"t": -120, "n": "ph", "v": 6.9},
    )
    assert [(r.seq, dict(r.readings)) for r in records] == [(7, {"ph": 7.1}), (5, {"ph": 6.9})]
    assert [reason for reason, _ in rejections] == [
        Reason.SCHEMA,  # "junk"
        Reason.CLOCK_IN_FUTURE,  # seq 8
        Reason.SCHEMA,  # no seq at T - 60
    ]


# --------------------------------------------------------------------------------------------
# Resolution rules (RFC 8428 §4)


def test_base_value_is_added_and_stands_alone() -> None:
    records, _ = decode(
        {"bn": DEV, "bv": 20, **SEQ},
        {"n": "water_temperature", "v": 7.5},
        {"n": "air_temperature"},  # no value: the base value alone (§4.5.4)
        {"n": "aerator_state", "vb": True},  # bv is for numbers only
    )
    assert records[0].readings == {
        "water_temperature": 27.5,
        "air_temperature": 20.0,
        "aerator_state": 1.0,
    }
    assert records[0].seq == 27  # the base value applies to every numeric value, seq included


def test_names_aliases_and_separators() -> None:
    records, rejections = decode(
        {"bn": "farm/pond-01/n1/", **SEQ},
        {"n": "CO2", "v": 800},
        {"n": "pH", "v": 7.2},
        {"n": "Humidity", "v": 80},
        {"n": "battery", "v": 3.7},
        {"n": "RSSI", "v": -80},
        {"n": "conductivity", "u": "S/m", "v": 0.5},
        {"bn": "", "n": "urn:dev:ow:1:dissolved_oxygen", "v": 5},
    )
    assert rejections == []
    assert records[0].readings == {
        "co2": 800.0,
        "ph": 7.2,
        "relative_humidity": 80.0,
        "battery_voltage": 3.7,
        "rssi": -80.0,
        "electrical_conductivity": 5000.0,
        "dissolved_oxygen": 5.0,
    }


def test_ambiguous_names_list_the_candidates() -> None:
    decoded = decode_senml(pack(SEQ, {"n": "temperature", "u": "Cel", "v": 27}), now=NOW)
    (rejection,) = decoded.rejections
    assert "water_temperature" in rejection.detail
    assert "air_temperature" in rejection.detail
    assert "temperature" not in SENML_ALIASES


def test_missing_seq_detail_points_to_the_docs() -> None:
    decoded = decode_senml(pack({"n": "ph", "v": 7}), now=NOW)
    assert "SenML records need a 'seq' entry per timestamp; see docs/contract.md" in str(
        decoded.rejections[0]
    )


@pytest.mark.parametrize(
    ("time_fields", "synced_entry", "ts", "synced"),
    [
        pytest.param({}, None, NOW, True, id="no time: now, server clock"),
        pytest.param({"t": -30}, None, NOW - timedelta(seconds=30), True, id="relative"),
        pytest.param({"bt": T}, None, AT_T, False, id="absolute, not vouched for"),
        pytest.param({"bt": T}, True, AT_T, True, id="absolute, synced entry"),
        pytest.param(
            {"t": -30}, False, NOW - timedelta(seconds=30), False, id="relative, says not"
        ),
        pytest.param({"bt": T - 10, "t": 10}, None, AT_T, False, id="bt plus t"),
        pytest.param(
            {"bt": -100, "t": 40}, None, NOW - timedelta(seconds=60), True, id="relative sum"
        ),
    ],
)
def test_time_and_synced_conventions(
    time_fields: dict[str, float], synced_entry: bool | None, ts: datetime, synced: bool
) -> None:
    records = [{**time_fields, **SEQ}, {**time_fields, "n": "ph", "v": 7}]
    if synced_entry is not None:
        records.append({**time_fields, "n": "synced", "vb": synced_entry})
    (record,), _ = decode(*records)
    assert record.ts == ts
    assert record.synced is synced


def test_too_old_detail_does_not_invent_a_clock_report() -> None:
    decoded = decode_senml(pack({"bt": 2**28, **SEQ}, {"n": "ph", "v": 7}), now=NOW)
    assert "reports" not in decoded.rejections[0].detail
    decoded = decode_senml(
        pack({"bt": 2**28, **SEQ}, {"n": "synced", "vb": False}, {"n": "ph", "v": 7}), now=NOW
    )
    assert "not synchronised" in decoded.rejections[0].detail


def test_window_is_configurable() -> None:
    payload = pack({"t": 600, **SEQ}, {"t": 600, "n": "ph", "v": 7})
    assert decode_senml(payload, now=NOW).records == []
    wide = TimeWindow(max_future=timedelta(hours=1))
    assert len(decode_senml(payload, now=NOW, window=wide).records) == 1


@pytest.mark.parametrize(
    ("quantity", "unit", "value", "canonical"),
    [
        ("air_temperature", "Cel", 30.0, 30.0),
        ("water_temperature", "K", 300.15, 27.0),
        ("relative_humidity", "%RH", 80.0, 80.0),
        ("relative_humidity", "/", 0.8, 80.0),
        ("soil_moisture", "/", 0.25, 25.0),
        ("soil_moisture", "%", 25.0, 25.0),
        ("salinity", "/1000", 15.0, 15.0),
        ("air_pressure", "Pa", 101_325.0, 1013.25),
        ("air_pressure", "hPa", 1013.0, 1013.0),
        ("rain", "mm", 2.5, 2.5),
        ("water_level", "cm", 150.0, 1.5),
        ("wind_speed", "km/h", 36.0, 10.0),
        ("solar_radiation", "W/m2", 800.0, 800.0),
        ("illuminance", "lx", 12_000.0, 12_000.0),
        ("dissolved_oxygen", "ppm", 5.0, 5.0),
        ("dissolved_oxygen", "mg/L", 5.0, 5.0),  # farmwatch's own unit: SenML has no mg/L
        ("electrical_conductivity", "S/m", 0.2, 2000.0),
        ("battery_voltage", "mV", 3700.0, 3.7),
        ("rssi", "dBm", -90.0, -90.0),
        ("water_consumption", "l", 12.0, 12.0),
        ("pump_state", "/", 1.0, 1.0),
        ("pump_state", "1", 0.0, 0.0),
        ("ph", "pH", 7.0, 7.0),
    ],
)
def test_senml_units_map_onto_accepted_units(
    quantity: str, unit: str, value: float, canonical: float
) -> None:
    (record,), rejections = decode(SEQ, {"n": quantity, "u": unit, "v": value})
    assert rejections == []
    assert record.readings[quantity] == pytest.approx(canonical)


def test_unit_table_only_names_units_some_quantity_accepts() -> None:
    for unit, codes in SENML_UNITS.items():
        assert any(q.accepts_unit(c) for q in QUANTITIES.values() for c in codes), unit


def test_wrong_unit_lists_the_senml_units_accepted() -> None:
    decoded = decode_senml(pack(SEQ, {"n": "air_temperature", "u": "degF", "v": 80}), now=NOW)
    assert "accepted: Cel, K, degC" in decoded.rejections[0].detail


def test_unknown_fields_are_ignored_and_sums_beside_values_too() -> None:
    records, rejections = decode(
        {"bn": DEV, "bver": 10, "bs": 3, "foo": [1], **SEQ},
        {"n": "rain", "v": 1.5, "s": 300, "ut": 60},
    )
    assert rejections == []
    assert records[0].readings == {"rain": 1.5}


def test_entries_group_by_time_in_first_seen_order() -> None:
    records, _ = decode(
        {"bt": T, "t": -60, **SEQ},
        {"bt": T, "n": "seq", "v": 8},
        {"bt": T, "t": -60, "n": "ph", "v": 7.0},
        {"bt": T, "n": "ph", "v": 7.1},
        {"bt": T, "t": -60, "n": "rssi", "v": -70},
    )
    assert [(r.seq, dict(r.readings)) for r in records] == [
        (7, {"ph": 7.0, "rssi": -70.0}),
        (8, {"ph": 7.1}),
    ]


# --------------------------------------------------------------------------------------------
# Properties

QUANTITY_NAMES = sorted(QUANTITIES)


@st.composite
def records(draw: st.DrawFn) -> list[Record]:
    """Records with distinct millisecond times inside the default window, canonical values."""
    count = draw(st.integers(1, 5))
    offsets = draw(
        st.lists(
            st.integers(-86_400_000 * 170, 240_000), min_size=count, max_size=count, unique=True
        )
    )
    out = []
    for offset in offsets:
        names = draw(st.lists(st.sampled_from(QUANTITY_NAMES), min_size=1, max_size=6, unique=True))
        readings: dict[str, float] = {}
        for name in names:
            q = QUANTITIES[name]
            if q.state:
                readings[name] = float(draw(st.booleans()))
            else:
                readings[name] = draw(
                    st.floats(q.low, q.high, allow_nan=False, allow_infinity=False)
                )
        out.append(
            Record(
                NOW + timedelta(milliseconds=offset),
                draw(st.integers(0, MAX_SEQ)),
                draw(st.booleans()),
                readings,
            )
        )
    return out


def encode_senml(records: list[Record], style: str, base_name: str) -> bytes:
    """The test's own SenML encoder: one style per pack, exercising the base fields."""
    entries: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        seconds = record.ts.timestamp()
        time: dict[str, float]
        if style == "absolute t":
            time = {"t": seconds}
        elif style == "relative t":
            time = {"t": (record.ts - NOW).total_seconds()}
        else:  # "base time per record"
            time = {"bt": seconds}
        first = {"bn": base_name} if index == 0 else {}
        entries.append({**first, **time, "n": "seq", "v": record.seq})
        entries.append({**time, "n": "synced", "vb": record.synced})
        for name, value in record.readings.items():
            if QUANTITIES[name].state:
                entries.append({**time, "n": name, "vb": value == 1.0})
            else:
                entries.append({**time, "n": name, "u": QUANTITIES[name].unit, "v": value})
    return json.dumps(entries).encode()


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records(),
    st.sampled_from(["absolute t", "relative t", "base time per record"]),
    st.sampled_from(["", DEV, "farm/pond-01/n1/"]),
)
def test_round_trip(records: list[Record], style: str, base_name: str) -> None:
    decoded = decode_senml(encode_senml(records, style, base_name), now=NOW)
    assert decoded.rejections == []
    assert decoded.records == records


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats()
    | st.integers()
    | st.integers(-(10**400), 10**400)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)
names = st.sampled_from([*QUANTITY_NAMES[:8], "seq", "synced", "temperature", "CO2"]) | st.text(
    max_size=8
)
HUGE = 9 * 10**4299  # the longest integer literal CPython will parse (4300 digits)
numbers = st.floats() | st.integers() | st.sampled_from([2**28, -(2**28), T, 10**400, HUGE])
senml_record = st.fixed_dictionaries(
    {},
    optional={
        "bn": st.sampled_from(["", DEV, "a/"]) | json_values,
        "bt": numbers | json_values,
        "bu": st.sampled_from(sorted(SENML_UNITS)) | json_values,
        "bv": numbers | json_values,
        "bver": st.integers(0, 12) | json_values,
        "n": names | json_values,
        "u": st.sampled_from(sorted(SENML_UNITS)) | json_values,
        "v": numbers | json_values,
        "vs": json_values,
        "vb": st.booleans() | json_values,
        "vd": json_values,
        "s": numbers,
        "t": numbers | json_values,
        "ut": json_values,
        "x_": json_values,
    },
)


def assert_valid(records: list[Record]) -> None:
    for record in records:
        assert 0 <= record.seq <= MAX_SEQ
        assert isinstance(record.synced, bool)
        assert record.readings
        for name, value in record.readings.items():
            q = QUANTITIES[name]
            assert math.isfinite(value)
            assert q.low <= value <= q.high


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(senml_record | json_values, min_size=0, max_size=8) | json_values)
def test_never_crashes_on_arbitrary_json(body: object) -> None:
    error: ContractError | None = None
    try:
        decoded = decode_senml(json.dumps(body).encode(), now=NOW)
    except ContractError as exc:
        error = exc
    if error is not None:
        assert error.rejection.detail
        return
    assert_valid(decoded.records)
    for rejection in decoded.rejections:
        assert rejection.reason not in NOT_FROM_PAYLOADS
        assert rejection.detail


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_never_crashes_on_bytes(payload: bytes) -> None:
    with contextlib.suppress(ContractError):
        decode_senml(payload, now=NOW)
