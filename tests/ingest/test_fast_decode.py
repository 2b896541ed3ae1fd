"""The fast v1 decoder ingest uses must give exactly what the contract's decoder gives.

``decode_fast`` (farmwatch_core/contract/fast.py) takes a shortcut for plain single records and
defers to ``decode_any`` for everything else; these properties compare the two on generated
messages that mix valid and invalid fields, on arbitrary bytes, and on number literals that
stress orjson's float parser against the standard library's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from farmwatch_core.contract import (
    QUANTITIES,
    ContractError,
    DecodedMessage,
    Reason,
    Record,
    TimeWindow,
    decode_any,
    decode_fast,
)
from farmwatch_core.contract.fast import plain_record, window_bounds
from farmwatch_core.contract.payload import format_ts
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
WINDOW = TimeWindow()
NAMES = sorted(QUANTITIES)


def outcome(decode: Any, payload: bytes) -> DecodedMessage | tuple[Reason, str]:
    try:
        result: DecodedMessage = decode(payload, now=NOW, window=WINDOW, max_bytes=4096)
    except ContractError as exc:
        return exc.rejection.reason, exc.rejection.detail
    return result


def same(payload: bytes) -> None:
    assert outcome(decode_fast, payload) == outcome(decode_any, payload), payload


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.fixed_dictionaries(
        {},
        optional={
            "value": st.floats(min_value=-100, max_value=400) | st.booleans(),
            "unit": st.sampled_from(["degF", "K", "°C", "mg/L", "furlong", ""]),
        },
    ),
    st.floats(min_value=-50, max_value=1000),  # mostly in bounds for many quantities
)
timestamps = st.one_of(
    st.timedeltas(min_value=timedelta(days=-200), max_value=timedelta(hours=1)).map(
        lambda d: format_ts(NOW + d)
    ),
    st.sampled_from(["2026-11-29T02:59:00", "yesterday", "", "2026-11-29T02:59:00+07:00"]),
    st.integers(min_value=1_780_000_000, max_value=1_800_000_000),
    st.floats(allow_nan=True),
    st.none(),
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([1, 1.0, 2, True, "1", None]),
        "ts": timestamps,
        "seq": st.one_of(
            st.integers(min_value=-2, max_value=2**64), st.booleans(), st.floats(), st.none()
        ),
        "synced": st.one_of(st.booleans(), st.integers(0, 1), st.none()),
        "readings": st.dictionaries(
            st.sampled_from([*NAMES, "unknown_thing", "seq", ""]), values, max_size=6
        )
        | st.lists(st.integers(), max_size=2),
        "records": st.lists(st.dictionaries(st.text(max_size=3), st.integers()), max_size=2),
        "extra": st.integers(),
    },
)


@settings(max_examples=600, deadline=None)
@given(bodies)
def test_generated_messages_decode_identically(body: dict[str, Any]) -> None:
    same(json.dumps(body).encode())  # NaN and Infinity literals included (allow_nan default)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "v": st.just(1),
            "ts": st.timedeltas(min_value=timedelta(days=-1), max_value=timedelta(0)).map(
                lambda d: format_ts(NOW + d)
            ),
            "seq": st.integers(min_value=0, max_value=2**63 - 1),
            "synced": st.booleans(),
            "readings": st.dictionaries(
                st.sampled_from(NAMES),
                st.floats(min_value=-1000, max_value=3000) | st.integers(-5, 3000),
                min_size=1,
                max_size=8,
            ),
        }
    )
)
def test_plausible_records_decode_identically(body: dict[str, Any]) -> None:
    """Mostly valid records, where the fast path is taken most often."""
    same(json.dumps(body).encode())


number_literals = st.from_regex(
    r"-?(0|[1-9][0-9]{0,22})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
)


@settings(max_examples=400, deadline=None)
@given(
    number_literals, st.sampled_from(["ph", "water_temperature", "dissolved_oxygen", "turbidity"])
)
def test_number_literals_parse_to_the_same_float(literal: str, name: str) -> None:
    payload = (
        '{"v": 1, "ts": "2026-11-29T02:59:00.000Z", "seq": 1, "synced": true, '
        f'"readings": {{"{name}": {literal}}}}}'
    ).encode()
    same(payload)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80).map(lambda b: b"{" + b))
def test_arbitrary_bytes_decode_identically(payload: bytes) -> None:
    same(payload)


HEAD = b'{"v": 1, "ts": "2026-11-29T02:59:00Z", "synced": true, '


@pytest.mark.parametrize(
    "payload",
    [
        HEAD + b'"seq": 1, "readings": {"ph": NaN}}',
        HEAD + b'"seq": 1, "readings": {"ph": 1e400}}',
        HEAD + b'"seq": 1, "readings": {"ph": 7, "ph": 99}}',
        HEAD + b'"seq": 1, "readings": {"ph": 7}, "s": "\\ud800"}',
        b"\xef\xbb\xbf" + HEAD + b'"seq": 1, "readings": {"ph": 7}}',
        HEAD + b'"seq": 99999999999999999999, "readings": {"ph": 7}}',
        b'{"v": 1, "records": [{' + HEAD[9:] + b'"seq": 1, "readings": {"ph": 7}}]}',
        b" " * 5000,
    ],
    ids=["nan", "overflow", "duplicate-key", "lone-surrogate", "bom", "huge-seq", "batch", "big"],
)
def test_what_orjson_refuses_or_the_shortcut_skips_still_decodes_like_the_contract(
    payload: bytes,
) -> None:
    same(payload)


def test_the_shortcut_takes_plain_records_and_nothing_else() -> None:
    """Guards the point of the module: if the shortcut stopped matching the messages nodes
    actually send, the identity tests above would still pass while ingest got slow."""
    body = {
        "v": 1,
        "ts": "2026-11-29T02:59:00.000Z",
        "seq": 4211,
        "synced": True,
        "readings": {"water_temperature": 27.8, "dissolved_oxygen": 5},
    }
    bounds = window_bounds(NOW, WINDOW)

    def shortcut(message: dict[str, Any]) -> Record | None:
        return plain_record(json.dumps(message).encode(), *bounds)

    record = shortcut(body)
    assert record == Record(
        datetime(2026, 11, 29, 2, 59, tzinfo=UTC),
        4211,
        True,
        {"water_temperature": 27.8, "dissolved_oxygen": 5.0},
    )
    assert record is not None
    assert type(record.readings["dissolved_oxygen"]) is float
    with_unit = {**body, "readings": {"air_temperature": {"value": 80.0, "unit": "degF"}}}
    assert shortcut(with_unit) is None
    out_of_bounds = {**body, "readings": {"ph": 15.0}}
    assert shortcut(out_of_bounds) is None
    assert shortcut({**body, "v": True}) is None
    # A UTC offset other than Z is converted, as the contract's decoder does.
    offset = shortcut({**body, "ts": "2026-11-29T09:59:00+07:00"})
    assert offset is not None
    assert offset.ts == record.ts
    assert offset.ts.tzinfo is UTC
    too_old = {**body, "ts": format_ts(NOW - WINDOW.max_past - timedelta(milliseconds=1))}
    assert shortcut(too_old) is None


def test_a_timestamp_that_overflows_becomes_a_dead_letter_not_a_crash() -> None:
    """0001-01-01T00:00:00+01:00 is a valid RFC 3339 time whose UTC conversion overflows
    ``datetime``. Raised on the network thread, it would drop the connection and come back
    with every redelivery (a poison message); the contract refuses it with a reason, and the
    fast path leaves it to the contract."""
    from farmwatch_ingest.validation import TelemetryValidator

    payload = json.dumps(
        {"v": 1, "ts": "0001-01-01T00:00:00+01:00", "seq": 1, "synced": True,
         "readings": {"ph": 7.0}}
    ).encode()  # fmt: skip
    assert plain_record(payload, *window_bounds(NOW, WINDOW)) is None
    validator = TelemetryValidator(None, auto_register=True)
    checked = validator.check("farms/pond-01/nodes/n1/telemetry", payload, NOW)
    assert checked.records == []
    assert checked.dead_letter is not None
    assert checked.dead_letter.reason == "schema"
    assert "outside the years 1-9999" in checked.dead_letter.detail
