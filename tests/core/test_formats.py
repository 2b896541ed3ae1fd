"""Format dispatch: content types, sniffing, and one validation whatever the format."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from farmwatch_core.contract import (
    ContractError,
    DecodedMessage,
    PayloadFormat,
    Reason,
    Record,
    TimeWindow,
    decode_any,
    encode_batch,
    sniff_format,
)
from farmwatch_core.contract.formats import parse_content_type
from farmwatch_core.contract.payload import format_ts
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
AT = NOW - timedelta(minutes=1)
AT_S = int(AT.timestamp())

V1 = json.dumps(
    {"v": 1, "ts": "2026-11-29T02:59:00Z", "seq": 7, "synced": True, "readings": {"ph": 7.1}}
).encode()
SENML = json.dumps(
    [{"bt": AT_S, "n": "seq", "v": 7}, {"n": "synced", "vb": True}, {"n": "ph", "v": 7.1}]
).encode()
LP = f"telemetry ph=7.1,seq=7i,synced=true {AT_S * 10**9}".encode()
EXPECTED = [Record(AT, 7, True, {"ph": 7.1})]


@pytest.mark.parametrize(
    ("content_type", "payload_format", "precision"),
    [
        ("application/json", PayloadFormat.V1, "ns"),
        ("Application/JSON; charset=utf-8", PayloadFormat.V1, "ns"),
        ("application/senml+json", PayloadFormat.SENML, "ns"),
        (" application/senml+json ; charset=UTF-8", PayloadFormat.SENML, "ns"),
        ("text/plain; influx-line-protocol", PayloadFormat.LINE_PROTOCOL, "ns"),
        ("text/plain; charset=utf-8; precision=ms", PayloadFormat.LINE_PROTOCOL, "ms"),
        ('text/plain; precision="S"', PayloadFormat.LINE_PROTOCOL, "s"),
        ("text/plain;precision=us", PayloadFormat.LINE_PROTOCOL, "us"),
        ("v1", PayloadFormat.V1, "ns"),
        ("senml", PayloadFormat.SENML, "ns"),
        ("lp", PayloadFormat.LINE_PROTOCOL, "ns"),
        ("LP; precision=ns", PayloadFormat.LINE_PROTOCOL, "ns"),
    ],
)
def test_content_types(content_type: str, payload_format: PayloadFormat, precision: str) -> None:
    assert parse_content_type(content_type) == (payload_format, precision)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/cbor",
        "application/senml+cbor",  # RFC 8428 §6 CBOR: not supported
        "application/senml+xml",
        "json",
        "",
        "application/json; precision=ms",  # precision means nothing for JSON
        "text/plain; precision=h",
        "text/plain; precision=",
    ],
)
def test_unsupported_content_types_are_refused_not_guessed(content_type: str) -> None:
    with pytest.raises(ContractError) as info:
        parse_content_type(content_type)
    assert info.value.reason is Reason.SCHEMA


@pytest.mark.parametrize(
    ("payload", "payload_format"),
    [
        (b'{"v": 1}', PayloadFormat.V1),
        (b' \t\r\n{"v": 1}', PayloadFormat.V1),
        (b'\xef\xbb\xbf{"v": 1}', PayloadFormat.V1),
        (b"[]", PayloadFormat.SENML),
        (b"\n  [{}]", PayloadFormat.SENML),
        (b"\xef\xbb\xbf [", PayloadFormat.SENML),
        (b"telemetry ph=7,seq=1i", PayloadFormat.LINE_PROTOCOL),
        (b"# comment\n{", PayloadFormat.LINE_PROTOCOL),
        (b"", PayloadFormat.LINE_PROTOCOL),
        (b"   ", PayloadFormat.LINE_PROTOCOL),
        (b"\xff\xfe{", PayloadFormat.LINE_PROTOCOL),
    ],
)
def test_sniffing(payload: bytes, payload_format: PayloadFormat) -> None:
    assert sniff_format(payload) is payload_format


@pytest.mark.parametrize("payload", [V1, SENML, LP], ids=["v1", "senml", "lp"])
@pytest.mark.parametrize("content_type", [None, "", "   "])
def test_the_same_record_in_every_format_decodes_the_same(
    payload: bytes, content_type: str | None
) -> None:
    decoded = decode_any(payload, content_type=content_type, now=NOW)
    assert decoded == DecodedMessage(EXPECTED, [])


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        (V1, "application/json"),
        (SENML, "application/senml+json"),
        (LP, "text/plain"),
        (f"telemetry ph=7.1,seq=7i,synced=true {AT_S * 1000}".encode(), "lp; precision=ms"),
    ],
)
def test_explicit_content_type(payload: bytes, content_type: str) -> None:
    assert decode_any(payload, content_type=content_type, now=NOW).records == EXPECTED


def test_content_type_wins_over_sniffing() -> None:
    decoded = decode_any(V1, content_type="lp", now=NOW)
    assert decoded.records == []
    assert {r.reason for r in decoded.rejections} == {Reason.SCHEMA}
    with pytest.raises(ContractError) as info:
        decode_any(LP, content_type="application/senml+json", now=NOW)
    assert info.value.reason is Reason.MALFORMED_JSON


def test_a_v1_batch_still_goes_to_v1() -> None:
    records = [Record(AT - timedelta(minutes=i), i, True, {"ph": 7.0}) for i in range(3)]
    assert decode_any(encode_batch(records), now=NOW).records == records


# One invalid reading or record, said in each format: the same reason, quantity and seq.
BAD: list[tuple[str, dict[str, Any], dict[str, Any], str, Reason]] = [
    ("out of bounds", {"ph": 15}, {"n": "ph", "v": 15}, "ph=15", Reason.OUT_OF_BOUNDS),
    ("unknown", {"do2": 3}, {"n": "do2", "v": 3}, "do2=3", Reason.UNKNOWN_QUANTITY),
    ("string", {"ph": "7"}, {"n": "ph", "vs": "7"}, 'ph="7"', Reason.WRONG_TYPE),
    ("boolean", {"ph": True}, {"n": "ph", "vb": True}, "ph=true", Reason.WRONG_TYPE),
    ("nan", {"ph": float("nan")}, {"n": "ph", "v": float("nan")}, "ph=nan", Reason.NOT_FINITE),
    (
        "converted out of bounds",
        {"water_temperature": {"value": 140, "unit": "degF"}},
        {"n": "water_temperature", "u": "K", "v": 333.15},
        "water_temperature=60",
        Reason.OUT_OF_BOUNDS,
    ),
]


@pytest.mark.parametrize(
    ("v1_reading", "senml_entry", "lp_field", "reason"),
    [pytest.param(a, b, c, r, id=name) for name, a, b, c, r in BAD],
)
def test_every_format_gives_the_same_reason(
    v1_reading: dict[str, Any], senml_entry: dict[str, Any], lp_field: str, reason: Reason
) -> None:
    v1 = {"v": 1, "ts": "2026-11-29T02:59:00Z", "seq": 7, "synced": True}
    payloads = [
        json.dumps({**v1, "readings": {"rssi": -70, **v1_reading}}).encode(),
        json.dumps(
            [
                {"bt": AT_S, "n": "seq", "v": 7},
                {"n": "synced", "vb": True},
                {"n": "rssi", "v": -70},
                senml_entry,
            ]
        ).encode(),
        f"telemetry rssi=-70,{lp_field},seq=7i,synced=true {AT_S * 10**9}".encode(),
    ]
    results = [decode_any(p, now=NOW) for p in payloads]
    for decoded in results:
        assert decoded.records == [Record(AT, 7, True, {"rssi": -70.0})]
        ((got, quantity, seq),) = [(r.reason, r.quantity, r.seq) for r in decoded.rejections]
        assert (got, seq) == (reason, 7)
        assert quantity == next(iter(v1_reading))


@pytest.mark.parametrize(
    ("offset", "reason"),
    [(timedelta(hours=2), Reason.CLOCK_IN_FUTURE), (-timedelta(days=200), Reason.TOO_OLD)],
)
def test_every_format_applies_the_same_time_window(offset: timedelta, reason: Reason) -> None:
    seconds = int((NOW + offset).timestamp())
    ts = (NOW + offset).isoformat()
    payloads = [
        json.dumps({"v": 1, "ts": ts, "seq": 7, "synced": True, "readings": {"ph": 7}}).encode(),
        json.dumps(
            [{"bt": seconds, "n": "seq", "v": 7}, {"n": "synced", "vb": True}, {"n": "ph", "v": 7}]
        ).encode(),
        f"telemetry ph=7,seq=7i,synced=true {seconds * 10**9}".encode(),
    ]
    details = []
    for payload in payloads:
        decoded = decode_any(payload, now=NOW)
        ((got, seq),) = [(r.reason, r.seq) for r in decoded.rejections]
        assert (got, seq) == (reason, 7)
        details.append(decoded.rejections[0].detail)
    assert len(set(details)) == 1  # word for word the same advice


def test_window_and_size_limit_are_passed_through() -> None:
    ahead = int((NOW + timedelta(minutes=30)).timestamp())
    lp = f"telemetry ph=7,seq=7i {ahead * 10**9}".encode()
    assert decode_any(lp, now=NOW).records == []
    wide = TimeWindow(max_future=timedelta(hours=1))
    assert len(decode_any(lp, now=NOW, window=wide).records) == 1
    for payload in (V1, SENML, LP):
        with pytest.raises(ContractError) as info:
            decode_any(payload, now=NOW, max_bytes=10)
        assert info.value.reason is Reason.TOO_LARGE


content_types = st.none() | st.sampled_from(
    ["application/json", "application/senml+json", "text/plain; precision=s", "lp", "x/y"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=200)
    | st.sampled_from([V1, SENML, LP]).flatmap(
        lambda p: st.integers(0, len(p)).map(lambda n: p[:n])
    ),
    content_types,
)
def test_only_contract_errors_escape(payload: bytes, content_type: str | None) -> None:
    with contextlib.suppress(ContractError):
        decode_any(payload, content_type=content_type, now=NOW)


DOC = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text(encoding="utf-8")


def doc_example(heading: str) -> bytes:
    """The first fenced block after ``heading`` in docs/contract.md."""
    section = DOC[DOC.index(heading) :]
    match = re.search(r"```[a-z]*\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match[1].encode()


def test_the_documented_senml_example_decodes_as_documented() -> None:
    decoded = decode_any(doc_example("### SenML JSON (RFC 8428)"), now=NOW)
    assert decoded.rejections == []
    assert [(format_ts(r.ts), r.seq, r.synced) for r in decoded.records] == [
        ("2026-11-29T02:59:00.000Z", 4211, True),
        ("2026-11-29T02:54:00.000Z", 4210, False),
    ]
    assert decoded.records[0].readings == {
        "dissolved_oxygen": 4.6,
        "water_temperature": 27.8,
        "aerator_state": 1.0,
    }


def test_the_documented_line_protocol_example_decodes_as_documented() -> None:
    decoded = decode_any(doc_example("### InfluxDB line protocol"), now=NOW)
    assert decoded.rejections == []
    assert decoded.records == [
        Record(AT, 42, True, {"dissolved_oxygen": 5.2, "water_temperature": 27.1}),
        Record(NOW, 43, True, {"dissolved_oxygen": 4.9}),
    ]
