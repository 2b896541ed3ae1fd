"""InfluxDB line protocol telemetry, decoded onto the same records and rejections as payload v1.

Telegraf, ESPHome/Tasmota bridges and many data loggers can already emit line protocol, and it
is the layout farmwatch's InfluxDB store writes (docs/contract.md, "Storage mapping"; the store
uses millisecond precision)::

    telemetry,farm=pond-01,node=n1 dissolved_oxygen=5.2,seq=42i,synced=true 1795921140000000000

One line is one :class:`Record`. Mapping rules (also in docs/contract.md):

* The **measurement** and the **tags** are parsed (so syntax errors are caught) but ignored:
  the farm and node come from the MQTT topic, as for every format, so identity has one source
  (a broker ACL can restrict topics per node; nothing restricts what a tag claims).
* Field ``seq`` (integer ``42i`` or ``42u``) and field ``synced`` (boolean) are the record's
  metadata; every other field key is a quantity in its canonical unit (line protocol has no
  units). ``seq`` is required. ``synced`` is optional: without it the record counts as
  synced only when it has no timestamp, because then the server's clock stamped it.
* Values go through the same :func:`check_reading` as v1: a string field is ``wrong_type``,
  a boolean is only accepted for state quantities. ``nan``/``inf``, which InfluxDB itself
  refuses, are decoded so that the reading is refused as ``not_finite`` and its neighbours
  survive.
* The **timestamp** is an integer in ``precision`` units (nanoseconds by default, as
  InfluxDB's ``/write``), truncated to microseconds; missing means "now" (the server's
  receipt time).
* Blank lines and ``#`` comments are skipped. A line that does not parse is refused as
  ``schema`` with its line number; the other lines are kept.

Escaping follows InfluxDB: in the measurement ``\\,`` and ``\\ ``; in tag keys, tag values and
field keys also ``\\=``; in string field values ``\\"`` and ``\\\\``; ``\\\\`` is one backslash
everywhere and any other backslash is literal. Deliberate subset: string field values cannot
span lines (they are ``wrong_type`` anyway).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Literal

from farmwatch_core.contract.payload import (
    MAX_BATCH_RECORDS,
    MAX_MESSAGE_BYTES,
    MAX_SEQ,
    DecodedMessage,
    Record,
    TimeWindow,
    check_reading,
    check_time_window,
)
from farmwatch_core.contract.rejections import ContractError, Reason, Rejection

Precision = Literal["ns", "us", "ms", "s"]

PRECISION_NS: Mapping[str, int] = MappingProxyType(
    {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
)
"""Nanoseconds per timestamp unit, for InfluxDB's ``precision`` values."""

SEQ_FIELD = "seq"
SYNCED_FIELD = "synced"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64 = 2**63
_WHITESPACE = " \t"
_TRUE = frozenset({"t", "T", "true", "True", "TRUE"})
_FALSE = frozenset({"f", "F", "false", "False", "FALSE"})
# ASCII digits only: Python's float() and int() would also take "٣" or "1_000".
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_NON_FINITE = re.compile(r"[-+]?(?:nan|inf|infinity)", re.IGNORECASE)
_INTEGER = re.compile(r"([-+]?[0-9]{1,20})([iu])")
_TIMESTAMP = re.compile(r"-?[0-9]{1,19}")

FieldKind = Literal["float", "int", "uint", "bool", "string"]
_KIND_WORDS: Mapping[FieldKind, str] = MappingProxyType(
    {
        "float": "a float",
        "int": "an integer",
        "uint": "an unsigned integer",
        "bool": "a boolean",
        "string": "a string",
    }
)


class _LineError(Exception):
    """A line that is not line protocol; becomes a ``schema`` rejection with its number."""


@dataclass(frozen=True, slots=True)
class _Field:
    key: str
    kind: FieldKind
    value: float | int | bool | str


@dataclass(frozen=True, slots=True)
class _Point:
    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[_Field, ...]
    timestamp: int | None


def decode_line_protocol(
    payload: bytes,
    *,
    now: datetime,
    window: TimeWindow = TimeWindow(),  # noqa: B008 - frozen dataclass
    max_bytes: int = MAX_MESSAGE_BYTES,
    precision: Precision = "ns",
) -> DecodedMessage:
    r"""Decode and validate InfluxDB line protocol against the contract, one record per line.

    Raises :class:`ContractError` only for the whole message: too large, more than 2000 lines,
    no data line at all, or an unknown ``precision``.

    >>> now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    >>> lines = (
    ...     b"# flushed after an outage\n"
    ...     b"telemetry,farm=pond-01,node=n1 dissolved_oxygen=5.2,ph=19,seq=42i,synced=true "
    ...     b"1795921140000000000\n"
    ...     b"telemetry dissolved_oxygen=5.1 1795921080000000000\n"
    ... )
    >>> decoded = decode_line_protocol(lines, now=now)
    >>> [(r.ts.isoformat(), r.seq, r.synced, dict(r.readings)) for r in decoded.records]
    [('2026-11-29T02:59:00+00:00', 42, True, {'dissolved_oxygen': 5.2})]
    >>> for rejection in decoded.rejections:
    ...     print(rejection)
    out_of_bounds: [seq 42, ph] 19 pH is outside the physical range 0 to 14 pH
    schema: line 3: no 'seq' field; add one such as seq=42i (see docs/contract.md)
    """
    factor = PRECISION_NS.get(precision)
    if factor is None:
        raise ContractError(
            Reason.SCHEMA,
            f"line protocol precision {precision!r} is not one of {', '.join(PRECISION_NS)}",
        )
    if len(payload) > max_bytes:
        raise ContractError(
            Reason.TOO_LARGE, f"message is {len(payload)} bytes; the limit is {max_bytes}"
        )
    lines = [
        (number, raw)
        for number, line in enumerate(payload.split(b"\n"), 1)
        if (raw := line.rstrip(b"\r").strip(b" \t")) and not raw.startswith(b"#")
    ]
    if not lines:
        raise ContractError(
            Reason.SCHEMA, "no line protocol data: the payload is empty or only comments"
        )
    if len(lines) > MAX_BATCH_RECORDS:
        raise ContractError(
            Reason.TOO_LARGE,
            f"payload has {len(lines)} lines (records); the limit is {MAX_BATCH_RECORDS}",
        )
    decoded = DecodedMessage()
    for number, raw in lines:
        _decode_line(number, raw, factor, now, window, decoded)
    return decoded


def _decode_line(
    number: int,
    raw: bytes,
    factor: int,
    now: datetime,
    window: TimeWindow,
    out: DecodedMessage,
) -> None:
    """Decode one line into one record, with the checks and order of a v1 record."""
    where = f"line {number}"
    try:
        point = _parse_line(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        out.rejections.append(
            Rejection(Reason.SCHEMA, f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})")
        )
        return
    except _LineError as exc:
        shown = raw[:60].decode("utf-8", "replace")
        out.rejections.append(Rejection(Reason.SCHEMA, f"{where}: {exc} in {shown!r}"))
        return
    fields = {f.key: f for f in point.fields}
    meta = _metadata(fields, where)
    if isinstance(meta, Rejection):
        out.rejections.append(meta)
        return
    seq, reported = meta
    if point.timestamp is None:
        ts = now.astimezone(UTC)
    else:
        try:
            ts = _EPOCH + timedelta(microseconds=point.timestamp * factor // 1000)
        except OverflowError:
            out.rejections.append(
                Rejection(
                    Reason.SCHEMA,
                    f"{where}: timestamp {point.timestamp} is out of range for its precision",
                    seq=seq,
                )
            )
            return
    outside = check_time_window(ts, now=now, window=window, synced=reported, seq=seq)
    if outside is not None:
        out.rejections.append(outside)
        return
    if not fields:
        out.rejections.append(
            Rejection(Reason.SCHEMA, f"{where}: no quantity fields besides seq and synced", seq=seq)
        )
        return
    readings: dict[str, float] = {}
    for key, field in fields.items():
        checked = check_reading(key, field.value)
        if isinstance(checked, Rejection):
            out.rejections.append(
                Rejection(checked.reason, checked.detail, quantity=checked.quantity, seq=seq)
            )
        else:
            readings[key] = checked
    if readings:
        # Without a synced field, only a server-stamped record (no timestamp) is synced.
        synced = reported if reported is not None else point.timestamp is None
        out.records.append(Record(ts, seq, synced, readings))


def _metadata(fields: dict[str, _Field], where: str) -> tuple[int, bool | None] | Rejection:
    """Take ``seq`` and ``synced`` out of ``fields``; what remains are quantities."""
    seq_field = fields.pop(SEQ_FIELD, None)
    if seq_field is None:
        return Rejection(
            Reason.SCHEMA,
            f"{where}: no 'seq' field; add one such as seq=42i (see docs/contract.md)",
        )
    seq = seq_field.value
    if seq_field.kind not in {"int", "uint"} or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        return Rejection(
            Reason.SCHEMA,
            f"{where}: 'seq' must be an integer field from 0i to 2^63-1 (such as seq=42i), "
            f"got {_KIND_WORDS[seq_field.kind]} {_shown(seq)}",
        )
    synced_field = fields.pop(SYNCED_FIELD, None)
    if synced_field is None:
        return seq, None
    if synced_field.kind != "bool" or not isinstance(synced_field.value, bool):
        return Rejection(
            Reason.SCHEMA,
            f"{where}: 'synced' must be a boolean field (synced=true), got "
            f"{_KIND_WORDS[synced_field.kind]} {_shown(synced_field.value)}",
            seq=seq,
        )
    return seq, synced_field.value


def _shown(value: object) -> str:
    return repr(value[:40] if isinstance(value, str) else value)


def _parse_line(line: str) -> _Point:
    r"""Parse one line of InfluxDB line protocol, resolving escapes; raise on bad syntax.

    >>> p = _parse_line(r'my\ data,site=a\,b x=1,y=-2i,z="say \"hi\"",w=T 1700000000')
    >>> p.measurement, p.tags, p.timestamp
    ('my data', (('site', 'a,b'),), 1700000000)
    >>> for f in p.fields:
    ...     print(f.key, f.kind, repr(f.value))
    x float 1.0
    y int -2
    z string 'say "hi"'
    w bool True
    """
    pos = _skip_whitespace(line, 0)
    measurement, pos = _token(line, pos, stops=",", escapable=", ")
    if not measurement:
        raise _LineError("missing measurement name")
    tags, pos = _tags(line, pos)
    if pos >= len(line):
        raise _LineError("no fields after the measurement")
    fields, pos = _fields(line, _skip_whitespace(line, pos))
    return _Point(measurement, tags, fields, _timestamp(line, pos))


def _tags(line: str, pos: int) -> tuple[tuple[tuple[str, str], ...], int]:
    n = len(line)
    tags: list[tuple[str, str]] = []
    while pos < n and line[pos] == ",":
        key, pos = _token(line, pos + 1, stops=",=", escapable=",= ")
        if not key or pos >= n or line[pos] != "=":
            raise _LineError("a tag must be key=value")
        text, pos = _token(line, pos + 1, stops=",=", escapable=",= ")
        if not text or (pos < n and line[pos] == "="):
            raise _LineError(f"tag {key!r} needs a value (escape '=', ',' and ' ' with '\\')")
        tags.append((key, text))
    return tuple(tags), pos


def _fields(line: str, pos: int) -> tuple[tuple[_Field, ...], int]:
    n = len(line)
    fields: list[_Field] = []
    seen: set[str] = set()
    while True:
        key, pos = _token(line, pos, stops=",=", escapable=",= ")
        if not key:
            raise _LineError("a field key is empty")
        if pos >= n or line[pos] != "=":
            raise _LineError(f"field {key!r} has no '=value'")
        if key in seen:
            raise _LineError(f"field {key!r} appears twice")
        seen.add(key)
        kind, value, pos = _field_value(line, pos + 1, key)
        fields.append(_Field(key, kind, value))
        if pos < n and line[pos] == ",":
            pos += 1
            continue
        if pos < n and line[pos] not in _WHITESPACE:
            raise _LineError(f"unexpected {line[pos]!r} after field {key!r}")
        return tuple(fields), pos


def _timestamp(line: str, pos: int) -> int | None:
    """The optional timestamp after the fields; nothing but whitespace may follow it."""
    pos = _skip_whitespace(line, pos)
    end = pos
    while end < len(line) and line[end] not in _WHITESPACE:
        end += 1
    token = line[pos:end]
    if not token:
        return None
    if "=" in token:
        raise _LineError(f"{token[:30]!r} after a space; separate fields with ',' not ' '")
    if not _TIMESTAMP.fullmatch(token) or not -_INT64 <= int(token) < _INT64:
        raise _LineError(f"timestamp {token[:30]!r} is not a 64-bit integer")
    if _skip_whitespace(line, end) < len(line):
        raise _LineError("unexpected text after the timestamp")
    return int(token)


def _skip_whitespace(line: str, pos: int) -> int:
    while pos < len(line) and line[pos] in _WHITESPACE:
        pos += 1
    return pos


def _token(line: str, pos: int, *, stops: str, escapable: str) -> tuple[str, int]:
    """Read up to an unescaped stop character or whitespace; resolve backslash escapes."""
    out: list[str] = []
    n = len(line)
    while pos < n:
        char = line[pos]
        if char == "\\" and pos + 1 < n and line[pos + 1] in escapable + "\\":
            out.append(line[pos + 1])
            pos += 2
            continue
        if char in stops or char in _WHITESPACE:
            break
        out.append(char)
        pos += 1
    return "".join(out), pos


def _field_value(line: str, pos: int, key: str) -> tuple[FieldKind, float | int | bool | str, int]:
    n = len(line)
    if pos < n and line[pos] == '"':
        out: list[str] = []
        pos += 1
        while pos < n:
            char = line[pos]
            if char == "\\" and pos + 1 < n and line[pos + 1] in '"\\':
                out.append(line[pos + 1])
                pos += 2
                continue
            if char == '"':
                return "string", "".join(out), pos + 1
            out.append(char)
            pos += 1
        raise _LineError(f"field {key!r} has an unterminated string")
    end = pos
    while end < n and line[end] != "," and line[end] not in _WHITESPACE:
        end += 1
    token = line[pos:end]
    if token in _TRUE:
        return "bool", True, end
    if token in _FALSE:
        return "bool", False, end
    if _FLOAT.fullmatch(token) or _NON_FINITE.fullmatch(token):
        return "float", float(token), end
    if match := _INTEGER.fullmatch(token):
        number = int(match[1])
        if match[2] == "i" and -_INT64 <= number < _INT64:
            return "int", number, end
        if match[2] == "u" and 0 <= number < 2 * _INT64 and not match[1].startswith("-"):
            return "uint", number, end
        raise _LineError(f"field {key!r} has {token[:30]!r}, out of range for its integer type")
    raise _LineError(
        f"field {key!r} has {token[:30]!r}, which is not a float, integer (42i), unsigned (42u), "
        'boolean or "string"'
    )
