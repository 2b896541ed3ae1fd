from __future__ import annotations

import contextlib
import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from farmwatch_core.contract import (
    QUANTITIES,
    ContractError,
    Reason,
    Record,
    decode_telemetry,
    encode_batch,
    encode_record,
)
from farmwatch_core.contract.payload import MAX_BATCH_RECORDS, format_ts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def msg(**fields: object) -> bytes:
    body: dict[str, object] = {
        "v": 1,
        "ts": "2026-11-29T02:59:00.000Z",
        "seq": 7,
        "synced": True,
        "readings": {"water_temperature": 27.5, "dissolved_oxygen": 5.2},
    }
    body.update(fields)
    return json.dumps(body).encode()


def reasons(payload: bytes) -> list[Reason]:
    return [r.reason for r in decode_telemetry(payload, now=NOW).rejections]


def test_valid_record_decodes() -> None:
    decoded = decode_telemetry(msg(), now=NOW)
    assert decoded.rejections == []
    (record,) = decoded.records
    assert record.seq == 7
    assert record.synced is True
    assert record.ts == datetime(2026, 11, 29, 2, 59, tzinfo=UTC)
    assert record.readings == {"water_temperature": 27.5, "dissolved_oxygen": 5.2}


def test_round_trip_single_and_batch() -> None:
    records = [
        Record(NOW - timedelta(minutes=i), i, i % 2 == 0, {"ph": 7.0 + i / 10, "rssi": -70.0})
        for i in range(5)
    ]
    assert decode_telemetry(encode_record(records[0]), now=NOW).records == [records[0]]
    assert decode_telemetry(encode_batch(records), now=NOW).records == records


def test_bad_reading_keeps_its_neighbours() -> None:
    payload = msg(
        readings={
            "water_temperature": 27.5,
            "dissolved_oxygen": float("nan"),
            "ph": 19,
            "do2": 3,
            "salinity": "5",
            "air_temperature": {"value": 86, "unit": "degF"},
            "co2": {"value": 1, "unit": "%"},
            "aerator_state": True,
            "rssi": True,
        }
    )
    decoded = decode_telemetry(payload, now=NOW)
    (record,) = decoded.records
    assert record.readings == {
        "water_temperature": 27.5,
        "air_temperature": pytest.approx(30.0),
        "aerator_state": 1.0,
    }
    got = {(r.quantity, r.reason) for r in decoded.rejections}
    assert got == {
        ("dissolved_oxygen", Reason.NOT_FINITE),
        ("ph", Reason.OUT_OF_BOUNDS),
        ("do2", Reason.UNKNOWN_QUANTITY),
        ("salinity", Reason.WRONG_TYPE),
        ("co2", Reason.WRONG_UNIT),
        ("rssi", Reason.WRONG_TYPE),
    }
    assert all(r.seq == 7 for r in decoded.rejections)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", Reason.MALFORMED_JSON),
        (b"\xff\xfe", Reason.MALFORMED_JSON),
        (b"[1, 2]", Reason.SCHEMA),
        (b'{"v": 2, "ts": 1}', Reason.UNSUPPORTED_VERSION),
        (b'{"v": true}', Reason.UNSUPPORTED_VERSION),
        (b'{"ts": 1}', Reason.UNSUPPORTED_VERSION),
        (b'{"v": 1, "records": {}}', Reason.SCHEMA),
        (b'{"v": 1, "records": []}', Reason.SCHEMA),
        (b"[" * 150_000 + b"]" * 150_000, Reason.TOO_LARGE),
    ],
)
def test_message_level_errors_raise(payload: bytes, reason: Reason) -> None:
    with pytest.raises(ContractError) as info:
        decode_telemetry(payload, now=NOW)
    assert info.value.reason is reason


def test_deep_nesting_is_refused_not_crashing() -> None:
    with pytest.raises(ContractError) as info:
        decode_telemetry(b"[" * 50_000 + b"]" * 50_000, now=NOW)
    assert info.value.reason is Reason.MALFORMED_JSON


def test_huge_batch_is_refused() -> None:
    records = [
        {"ts": 0, "seq": i, "synced": True, "readings": {"ph": 7}}
        for i in range(MAX_BATCH_RECORDS + 1)
    ]
    with pytest.raises(ContractError) as info:
        decode_telemetry(
            json.dumps({"v": 1, "records": records}).encode(), now=NOW, max_bytes=10**8
        )
    assert info.value.reason is Reason.TOO_LARGE


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"seq": -1}, Reason.SCHEMA),
        ({"seq": 1.5}, Reason.SCHEMA),
        ({"seq": True}, Reason.SCHEMA),
        ({"seq": 2**63}, Reason.SCHEMA),
        ({"synced": "yes"}, Reason.SCHEMA),
        ({"ts": "yesterday"}, Reason.SCHEMA),
        ({"ts": "2026-11-29T02:59:00"}, Reason.SCHEMA),
        ({"ts": None}, Reason.SCHEMA),
        ({"ts": 1e20}, Reason.SCHEMA),
        ({"readings": {}}, Reason.SCHEMA),
        ({"readings": [1]}, Reason.SCHEMA),
        ({"ts": "2026-11-29T03:10:00Z"}, Reason.CLOCK_IN_FUTURE),
        ({"ts": "2025-01-01T00:00:00Z"}, Reason.TOO_OLD),
        ({"ts": 0, "synced": False}, Reason.TOO_OLD),
    ],
)
def test_record_level_errors_are_rejections(fields: dict[str, object], reason: Reason) -> None:
    assert reasons(msg(**fields)) == [reason]


def test_batch_keeps_good_records_beside_bad_ones() -> None:
    good = {"ts": "2026-11-29T02:00:00Z", "seq": 1, "synced": True, "readings": {"ph": 7.1}}
    future = {**good, "seq": 2, "ts": "2027-01-01T00:00:00Z"}
    payload = json.dumps({"v": 1, "records": [good, future, "junk", {**good, "seq": 3}]}).encode()
    decoded = decode_telemetry(payload, now=NOW)
    assert [r.seq for r in decoded.records] == [1, 3]
    assert [r.reason for r in decoded.rejections] == [Reason.CLOCK_IN_FUTURE, Reason.SCHEMA]
    assert "ahead of the server clock" in decoded.rejections[0].detail


def test_unix_seconds_and_offsets_are_accepted_as_utc() -> None:
    decoded = decode_telemetry(msg(ts="2026-11-29T09:59:00+07:00"), now=NOW)
    assert decoded.records[0].ts == datetime(2026, 11, 29, 2, 59, tzinfo=UTC)
    decoded = decode_telemetry(msg(ts=NOW.timestamp() - 60), now=NOW)
    assert decoded.records[0].ts == datetime(2026, 11, 29, 2, 59, tzinfo=UTC)


def test_too_large_before_parsing() -> None:
    with pytest.raises(ContractError) as info:
        decode_telemetry(msg(pad="x" * 300_000), now=NOW)
    assert info.value.reason is Reason.TOO_LARGE
    assert "limit" in str(info.value)


def test_format_ts_is_millisecond_utc() -> None:
    assert (
        format_ts(datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)) == "2026-01-02T03:04:05.999Z"
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


quantity_names = st.sampled_from(sorted(QUANTITIES)) | st.text(max_size=6)
record_like = st.fixed_dictionaries(
    {},
    optional={
        "ts": st.one_of(st.just("2026-11-29T02:00:00Z"), st.floats(), st.integers(), json_values),
        "seq": st.one_of(st.integers(min_value=-2, max_value=2**64), json_values),
        "synced": st.one_of(st.booleans(), json_values),
        "readings": st.one_of(
            st.dictionaries(
                quantity_names,
                st.one_of(st.floats(), st.integers(), st.booleans(), json_values),
                max_size=5,
            ),
            json_values,
        ),
    },
)


# Generation can be slow on a loaded 2-core CI machine; the property itself is fast.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        record_like.map(lambda r: {"v": 1, **r}),
        st.lists(record_like, min_size=1, max_size=5).map(lambda rs: {"v": 1, "records": rs}),
        st.dictionaries(st.sampled_from(["v", "ts", "records", "x"]), json_values, max_size=4),
    )
)
def test_decoder_never_crashes_on_arbitrary_json(body: dict[str, object]) -> None:
    error: ContractError | None = None
    try:
        decoded = decode_telemetry(json.dumps(body).encode(), now=NOW)
    except ContractError as exc:
        error = exc
    if error is not None:
        assert error.rejection.detail
        return
    for record in decoded.records:
        for name, value in record.readings.items():
            q = QUANTITIES[name]
            assert math.isfinite(value)
            assert q.low <= value <= q.high


@given(st.binary(max_size=300))
def test_decoder_never_crashes_on_bytes(payload: bytes) -> None:
    with contextlib.suppress(ContractError):
        decode_telemetry(payload, now=NOW)


@given(
    st.sampled_from(sorted(QUANTITIES)),
    st.floats(allow_nan=False, allow_infinity=False),
)
def test_bounds_are_exactly_the_registry(name: str, value: float) -> None:
    q = QUANTITIES[name]
    decoded = decode_telemetry(msg(readings={name: value}), now=NOW)
    inside = q.low <= value <= q.high
    assert bool(decoded.records) == inside
    if not inside:
        assert decoded.rejections[0].reason is Reason.OUT_OF_BOUNDS
