"""InfluxDB line protocol onto the farmwatch contract: same records, same reason codes as v1."""

from __future__ import annotations

import contextlib
import math
from datetime import UTC, datetime, timedelta

import pytest
from farmwatch_core.contract import (
    QUANTITIES,
    ContractError,
    Reason,
    Record,
    TimeWindow,
    decode_line_protocol,
)
from farmwatch_core.contract.lineprotocol import PRECISION_NS, Precision, _parse_line
from farmwatch_core.contract.payload import MAX_BATCH_RECORDS, MAX_SEQ
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
AT = NOW - timedelta(minutes=1)
AT_NS = 1_795_921_140_000_000_000  # AT in nanoseconds since the epoch
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Reasons only the transport or the store can produce, and those line protocol cannot express:
# it has no units, no version and is not JSON (unparsable lines are `schema`).
NOT_FROM_PAYLOADS = {Reason.BAD_TOPIC, Reason.BAD_ID, Reason.UNKNOWN_NODE, Reason.STORE_REJECTED}
NOT_IN_LINE_PROTOCOL = {Reason.WRONG_UNIT, Reason.UNSUPPORTED_VERSION, Reason.MALFORMED_JSON}


def decode(
    text: str, precision: Precision = "ns"
) -> tuple[list[Record], list[tuple[Reason, str | None]]]:
    decoded = decode_line_protocol(text.encode(), now=NOW, precision=precision)
    return decoded.records, [(r.reason, r.quantity) for r in decoded.rejections]


def test_the_documented_example() -> None:
    records, rejections = decode(
        "telemetry,farm=pond-01,node=n1 dissolved_oxygen=5.2,water_temperature=27.1,"
        f"seq=42i,synced=true {AT_NS}"
    )
    assert rejections == []
    assert records == [Record(AT, 42, True, {"dissolved_oxygen": 5.2, "water_temperature": 27.1})]


EXAMPLES: list[tuple[str, str, list[Record], list[tuple[Reason, str | None]]]] = [
    (
        "comments, blank lines, CRLF, several records",
        f"# node n1, flushed after an outage\r\n\r\n"
        f"  telemetry ph=7.1,seq=1i,synced=true {AT_NS - 60 * 10**9}\r\n"
        f"\t# indented comment\n"
        f"telemetry ph=7.2,seq=2i,synced=true {AT_NS}  \n",
        [Record(AT - timedelta(minutes=1), 1, True, {"ph": 7.1}), Record(AT, 2, True, {"ph": 7.2})],
        [],
    ),
    (
        "no timestamp: the server's clock stamps it, so it is synced",
        "telemetry ph=7,seq=3i",
        [Record(NOW, 3, True, {"ph": 7.0})],
        [],
    ),
    (
        "timestamp without a synced field: not vouched for",
        f"telemetry ph=7,seq=3i {AT_NS}",
        [Record(AT, 3, False, {"ph": 7.0})],
        [],
    ),
    (
        "integer, unsigned and float values; booleans for states",
        f"m rssi=-70i,co2=800u,ph=7.,water_level=-.5,air_pressure=1.01325e3,"
        f"aerator_state=T,fan_state=false,pump_state=1i,seq=4u {AT_NS}",
        [
            Record(
                AT,
                4,
                False,
                {
                    "rssi": -70.0,
                    "co2": 800.0,
                    "ph": 7.0,
                    "water_level": -0.5,
                    "air_pressure": 1013.25,
                    "aerator_state": 1.0,
                    "fan_state": 0.0,
                    "pump_state": 1.0,
                },
            )
        ],
        [],
    ),
    (
        "measurement and tags are ignored, however escaped",
        rf"my\ farm\,data,farm=pond\ 01,node=n\=1,x\\y=a\,b ph=7,seq=5i {AT_NS}",
        [Record(AT, 5, False, {"ph": 7.0})],
        [],
    ),
    (
        "a bad reading keeps its neighbours",
        "telemetry water_temperature=27.5,dissolved_oxygen=nan,ph=19,do2=3,"
        'salinity="5",rssi=true,aerator_state=t,seq=7i,synced=true',
        [Record(NOW, 7, True, {"water_temperature": 27.5, "aerator_state": 1.0})],
        [
            (Reason.NOT_FINITE, "dissolved_oxygen"),
            (Reason.OUT_OF_BOUNDS, "ph"),
            (Reason.UNKNOWN_QUANTITY, "do2"),
            (Reason.WRONG_TYPE, "salinity"),
            (Reason.WRONG_TYPE, "rssi"),
        ],
    ),
    (
        "a malformed line keeps the other lines",
        f"telemetry ph=7.1,seq=1i {AT_NS}\n"
        "telemetry ph=,seq=2i\n"
        f"telemetry ph=7.3,seq=3i {AT_NS + 10**9}\n",
        [
            Record(AT, 1, False, {"ph": 7.1}),
            Record(AT + timedelta(seconds=1), 3, False, {"ph": 7.3}),
        ],
        [(Reason.SCHEMA, None)],
    ),
    (
        "escaped field key reaches the registry unescaped",
        r"telemetry dissolved\ oxygen=5,ph=7,seq=6i",
        [Record(NOW, 6, True, {"ph": 7.0})],
        [(Reason.UNKNOWN_QUANTITY, "dissolved oxygen")],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected", "rejections"),
    [pytest.param(t, e, r, id=name) for name, t, e, r in EXAMPLES],
)
def test_examples(
    text: str, expected: list[Record], rejections: list[tuple[Reason, str | None]]
) -> None:
    records, got = decode(text)
    assert records == expected
    assert got == rejections


@pytest.mark.parametrize(
    ("precision", "timestamp"),
    [
        ("ns", AT_NS + 999),  # below a microsecond: truncated
        ("us", AT_NS // 1000),
        ("ms", AT_NS // 10**6),
        ("s", AT_NS // 10**9),
    ],
)
def test_precision(precision: Precision, timestamp: int) -> None:
    records, _ = decode(f"t ph=7,seq=1i {timestamp}", precision=precision)
    assert records[0].ts == AT


# --------------------------------------------------------------------------------------------
# Every reason code line protocol can express


MESSAGE_ERRORS: list[tuple[str, bytes, Reason]] = [
    ("too large", b"t ph=7,seq=1i\n" * 20_000, Reason.TOO_LARGE),
    ("empty", b"", Reason.SCHEMA),
    ("blank lines only", b"\n \n\t\r\n", Reason.SCHEMA),
    ("comments only", b"# nothing\n  # here\n", Reason.SCHEMA),
    (
        "more lines than a batch may hold",
        b"t ph=7,seq=1i\n" * (MAX_BATCH_RECORDS + 1),
        Reason.TOO_LARGE,
    ),
]


@pytest.mark.parametrize(
    ("payload", "reason"), [pytest.param(p, r, id=name) for name, p, r in MESSAGE_ERRORS]
)
def test_message_level_errors_raise(payload: bytes, reason: Reason) -> None:
    with pytest.raises(ContractError) as info:
        decode_line_protocol(payload, now=NOW)
    assert info.value.reason is reason
    assert info.value.rejection.detail


def test_unknown_precision_is_a_contract_error() -> None:
    with pytest.raises(ContractError) as info:
        decode_line_protocol(b"t ph=7,seq=1i", now=NOW, precision="h")  # type: ignore[arg-type]
    assert info.value.reason is Reason.SCHEMA


MALFORMED_LINES = [
    ("no fields", "telemetry"),
    ("no fields after tags", "telemetry,farm=a"),
    ("empty measurement", ",farm=a ph=7,seq=1i"),
    ("tag without value", "telemetry,farm= ph=7,seq=1i"),
    ("tag without equals", "telemetry,farm ph=7,seq=1i"),
    ("unescaped equals in tag value", "telemetry,farm=a=b ph=7,seq=1i"),
    ("field without value", "telemetry ph=,seq=1i"),
    ("field without equals", "telemetry ph,seq=1i"),
    ("empty field key", "telemetry =7,seq=1i"),
    ("trailing comma", "telemetry ph=7,seq=1i,"),
    ("duplicate field", "telemetry ph=7,ph=8,seq=1i"),
    ("bare word value", "telemetry ph=seven,seq=1i"),
    ("underscore digits", "telemetry ph=1_0,seq=1i"),
    ("non-ASCII digits", "telemetry ph=٣,seq=1i"),
    ("unterminated string", 'telemetry note="open,seq=1i'),
    ("text glued to a string", 'telemetry note="a"b,seq=1i'),
    ("integer out of range", f"telemetry ph=7,seq={2**63}i"),
    ("negative unsigned", "telemetry ph=7,seq=-1u"),
    ("unsigned out of range", f"telemetry ph=7,seq={2**64}u"),
    ("timestamp not an integer", "telemetry ph=7,seq=1i 1.5e9"),
    ("timestamp out of int64", f"telemetry ph=7,seq=1i {2**63}"),
    ("text after the timestamp", "telemetry ph=7,seq=1i 1795921140000000000 extra"),
    ("not utf-8", "telemetry ph=7,seq=1i \udcff"),
]


@pytest.mark.parametrize("line", [pytest.param(line, id=name) for name, line in MALFORMED_LINES])
def test_malformed_lines_are_schema_rejections_with_line_numbers(line: str) -> None:
    payload = b"# header\nt rssi=-70i,seq=9i\n" + line.encode("utf-8", "surrogateescape")
    decoded = decode_line_protocol(payload, now=NOW)
    assert [r.seq for r in decoded.records] == [9]
    (rejection,) = decoded.rejections
    assert rejection.reason is Reason.SCHEMA
    assert rejection.detail.startswith("line 3: ")


RECORD_ERRORS: list[tuple[str, str, Reason, str | None]] = [
    ("no seq", "t ph=7", Reason.SCHEMA, None),
    ("float seq", "t ph=7,seq=42", Reason.SCHEMA, None),
    ("string seq", 't ph=7,seq="42"', Reason.SCHEMA, None),
    ("seq beyond int64", f"t ph=7,seq={2**63}u", Reason.SCHEMA, None),
    ("negative seq", "t ph=7,seq=-1i", Reason.SCHEMA, None),
    ("synced not a boolean", "t ph=7,seq=1i,synced=1i", Reason.SCHEMA, None),
    ("only metadata", "t seq=1i,synced=true", Reason.SCHEMA, None),
    (
        "ahead of the server clock",
        f"t ph=7,seq=1i {AT_NS + 7200 * 10**9}",
        Reason.CLOCK_IN_FUTURE,
        None,
    ),
    ("too old", "t ph=7,seq=1i 0", Reason.TOO_OLD, None),
    ("before 1970", "t ph=7,seq=1i -1000000000", Reason.TOO_OLD, None),
    ("unknown quantity", "t do2=7,seq=1i", Reason.UNKNOWN_QUANTITY, "do2"),
    ("string value", 't salinity="5",seq=1i', Reason.WRONG_TYPE, "salinity"),
    ("boolean for a number", "t rssi=true,seq=1i", Reason.WRONG_TYPE, "rssi"),
    ("nan", "t ph=NaN,seq=1i", Reason.NOT_FINITE, "ph"),
    ("inf", "t ph=-inf,seq=1i", Reason.NOT_FINITE, "ph"),
    ("float overflow", "t ph=1e999,seq=1i", Reason.NOT_FINITE, "ph"),
    ("out of bounds", "t ph=15,seq=1i", Reason.OUT_OF_BOUNDS, "ph"),
    ("out of bounds integer", f"t ph={2**62}i,seq=1i", Reason.OUT_OF_BOUNDS, "ph"),
]


@pytest.mark.parametrize(
    ("line", "reason", "quantity"),
    [pytest.param(line, r, q, id=name) for name, line, r, q in RECORD_ERRORS],
)
def test_record_and_reading_errors_are_rejections(
    line: str, reason: Reason, quantity: str | None
) -> None:
    decoded = decode_line_protocol(line.encode(), now=NOW)
    assert [(r.reason, r.quantity) for r in decoded.rejections] == [(reason, quantity)]
    assert decoded.records == []


def test_timestamp_overflow_reaches_schema_at_second_precision() -> None:
    decoded = decode_line_protocol(f"t ph=7,seq=1i {2**62}".encode(), now=NOW, precision="s")
    assert decoded.rejections[0].reason is Reason.SCHEMA
    assert "out of range" in decoded.rejections[0].detail


def test_every_expressible_reason_is_reachable_through_line_protocol() -> None:
    reached = {r for _, _, r in MESSAGE_ERRORS} | {r for _, _, r, _ in RECORD_ERRORS}
    assert reached == set(Reason) - NOT_FROM_PAYLOADS - NOT_IN_LINE_PROTOCOL


def test_rejections_carry_seq_and_details_name_the_line() -> None:
    decoded = decode_line_protocol(b"t ph=19,seq=4i\nt ph=7\n", now=NOW)
    assert [(r.seq, r.quantity) for r in decoded.rejections] == [(4, "ph"), (None, None)]
    assert decoded.rejections[1].detail.startswith("line 2: no 'seq' field")


def test_too_old_detail_reports_the_node_clock_only_when_told() -> None:
    silent = decode_line_protocol(b"t ph=7,seq=1i 0", now=NOW).rejections[0]
    told = decode_line_protocol(b"t ph=7,seq=1i,synced=false 0", now=NOW).rejections[0]
    assert "not synchronised" not in silent.detail
    assert "not synchronised" in told.detail


def test_window_is_configurable() -> None:
    line = f"t ph=7,seq=1i {AT_NS + 600 * 10**9}".encode()
    assert decode_line_protocol(line, now=NOW).records == []
    wide = TimeWindow(max_future=timedelta(hours=1))
    assert len(decode_line_protocol(line, now=NOW, window=wide).records) == 1


@pytest.mark.parametrize(
    ("line", "measurement", "tags", "fields"),
    [
        (r"a\ b\,c\=d x=1", "a b,c\\=d", (), [("x", 1.0)]),
        (r"m,k\ 1=v\=1,k\,2=v\,2 x=1", "m", (("k 1", "v=1"), ("k,2", "v,2")), [("x", 1.0)]),
        (r"m f\=\ \,=1", "m", (), [("f= ,", 1.0)]),
        (r"m\\ x=1", "m\\", (), [("x", 1.0)]),
        (r"m\x x=1", "m\\x", (), [("x", 1.0)]),
        (r'm s="a\"b\\c\d"', "m", (), [("s", 'a"b\\c\\d')]),
        ('m s="a,b c=d"', "m", (), [("s", "a,b c=d")]),
        ('m s=""', "m", (), [("s", "")]),
        ("m   x=1   123   ", "m", (), [("x", 1.0)]),
        ("m x=+1.5E-3", "m", (), [("x", 0.0015)]),
    ],
)
def test_escaping_rules(
    line: str,
    measurement: str,
    tags: tuple[tuple[str, str], ...],
    fields: list[tuple[str, object]],
) -> None:
    point = _parse_line(line)
    assert point.measurement == measurement
    assert point.tags == tags
    assert [(f.key, f.value) for f in point.fields] == fields


# --------------------------------------------------------------------------------------------
# Properties

QUANTITY_NAMES = sorted(QUANTITIES)
# Anything a name may hold, specials included; no line breaks, tabs or other control characters.
text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(list(',= "\\')),
    min_size=1,
    max_size=8,
)


def escape(value: str, specials: str) -> str:
    return "".join("\\" + c if c in specials or c == "\\" else c for c in value)


def measurement_text(value: str) -> str:
    return escape(value, ", ")


# A line starting with '#' is a comment, so no measurement can start with one.
measurements = text.filter(lambda m: not m.startswith("#"))


@st.composite
def records(draw: st.DrawFn, align: timedelta) -> list[Record]:
    count = draw(st.integers(1, 4))
    steps = draw(
        st.lists(
            st.integers(-(170 * 86400 * 10**6) // (align // timedelta(microseconds=1)), 240),
            min_size=count,
            max_size=count,
        )
    )
    out = []
    for step in steps:
        names = draw(st.lists(st.sampled_from(QUANTITY_NAMES), min_size=1, max_size=6, unique=True))
        readings: dict[str, float] = {}
        for name in names:
            q = QUANTITIES[name]
            readings[name] = (
                float(draw(st.booleans()))
                if q.state
                else draw(st.floats(q.low, q.high, allow_nan=False, allow_infinity=False))
            )
        out.append(
            Record(
                EPOCH + (NOW - EPOCH) // align * align + step * align,
                draw(st.integers(0, MAX_SEQ)),
                draw(st.booleans()),
                readings,
            )
        )
    return out


ALIGN: dict[str, timedelta] = {
    "ns": timedelta(microseconds=1),
    "us": timedelta(microseconds=1),
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
}


@st.composite
def encoded(draw: st.DrawFn) -> tuple[bytes, Precision, list[Record]]:
    """The test's own line protocol encoder, with random escaping, order and layout."""
    precision: Precision = draw(st.sampled_from(["ns", "us", "ms", "s"]))
    expected = draw(records(ALIGN[precision]))
    lines: list[str] = []
    for record in expected:
        if draw(st.booleans()):
            lines.append("# " + draw(text).replace("\n", ""))
        measurement = measurement_text(draw(measurements))
        tags = draw(st.lists(st.tuples(text, text), max_size=3))
        head = measurement + "".join(f",{escape(k, ',= ')}={escape(v, ',= ')}" for k, v in tags)
        fields = [f"seq={record.seq}{draw(st.sampled_from('iu'))}"]
        if record.synced:
            fields.append("synced=" + draw(st.sampled_from(["t", "T", "true", "True", "TRUE"])))
        elif draw(st.booleans()):  # else absent: with a timestamp that means not synced
            fields.append("synced=" + draw(st.sampled_from(["f", "F", "false", "False", "FALSE"])))
        for name, value in record.readings.items():
            if QUANTITIES[name].state:
                fields.append(f"{name}={'true' if value else 'false'}")
            elif value.is_integer() and draw(st.booleans()):
                fields.append(f"{name}={int(value)}i")
            else:
                fields.append(f"{name}={value!r}")
        fields = draw(st.permutations(fields))
        ns = (record.ts - EPOCH) // timedelta(microseconds=1) * 1000
        if precision == "ns":
            ns += draw(st.integers(0, 999))  # sub-microsecond part is truncated
        timestamp = ns // PRECISION_NS[precision]
        gap = draw(st.sampled_from([" ", "  ", "\t"]))
        lines.append(f"{head}{gap}{','.join(fields)}{gap}{timestamp}")
        if draw(st.booleans()):
            lines.append("")
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(lines).encode(), precision, expected


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(encoded())
def test_round_trip(case: tuple[bytes, Precision, list[Record]]) -> None:
    payload, precision, expected = case
    decoded = decode_line_protocol(payload, now=NOW, precision=precision)
    assert decoded.rejections == []
    assert decoded.records == expected


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    measurements,
    st.lists(st.tuples(text, text), max_size=3),
    st.lists(st.tuples(text, text), min_size=1, max_size=3, unique_by=lambda kv: kv[0]),
)
def test_escaping_round_trips(
    measurement: str, tags: list[tuple[str, str]], fields: list[tuple[str, str]]
) -> None:
    line = (
        measurement_text(measurement)
        + "".join(f",{escape(k, ',= ')}={escape(v, ',= ')}" for k, v in tags)
        + " "
        + ",".join(f'{escape(k, ",= ")}="{escape(v, chr(34))}"' for k, v in fields)
    )
    point = _parse_line(line)
    assert point.measurement == measurement
    assert point.tags == tuple(tags)
    assert [(f.key, f.kind, f.value) for f in point.fields] == [(k, "string", v) for k, v in fields]


lp_alphabet = st.sampled_from(
    [
        *'tmph=,. \t"\\#-+0123456789eEiuTFnaNIf_\n\r',
        *["seq=", "synced=", "ph=", "true", "1795921140000000000", "\udcff", "٣", "nan", "1e999"],
    ]
)


def assert_valid(records: list[Record]) -> None:
    for record in records:
        assert 0 <= record.seq <= MAX_SEQ
        assert record.readings
        for name, value in record.readings.items():
            q = QUANTITIES[name]
            assert math.isfinite(value)
            assert q.low <= value <= q.high


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lp_alphabet, max_size=40).map("".join), st.sampled_from(list(PRECISION_NS)))
def test_never_crashes_on_line_protocol_like_text(payload: str, precision: Precision) -> None:
    try:
        decoded = decode_line_protocol(
            payload.encode("utf-8", "surrogateescape"), now=NOW, precision=precision
        )
    except ContractError:
        return
    assert_valid(decoded.records)
    assert all(r.reason not in NOT_FROM_PAYLOADS | NOT_IN_LINE_PROTOCOL for r in decoded.rejections)


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_never_crashes_on_bytes(payload: bytes) -> None:
    with contextlib.suppress(ContractError):
        decode_line_protocol(payload, now=NOW)
