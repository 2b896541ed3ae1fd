"""Telemetry payload, schema version 1: encoding and tolerant, explicit decoding.

A single record::

    {"v": 1, "ts": "2026-11-29T20:15:00.000Z", "seq": 4211, "synced": true,
     "readings": {"water_temperature": 27.8, "dissolved_oxygen": 4.6,
                  "air_temperature": {"value": 84.2, "unit": "degF"}}}

A batch (a node flushing the records it buffered while offline)::

    {"v": 1, "records": [{"ts": ..., "seq": 4209, "synced": true, "readings": {...}}, ...]}

Decoding never raises for problems inside a record: each refused record or reading becomes a
:class:`Rejection` next to the records that were fine. Only problems with the whole message
(too large, not JSON, wrong shape, unknown version) raise :class:`ContractError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from farmwatch_core.contract.quantities import QUANTITIES
from farmwatch_core.contract.rejections import ContractError, Reason, Rejection

PAYLOAD_VERSION = 1
MAX_MESSAGE_BYTES = 256 * 1024
MAX_BATCH_RECORDS = 2000
MAX_SEQ = 2**63 - 1  # stored as an InfluxDB int64 field


@dataclass(frozen=True, slots=True)
class Record:
    """One timestamped set of readings from one node, values in canonical units."""

    ts: datetime
    seq: int
    synced: bool
    readings: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """How far from the server's clock a node timestamp may be.

    The future limit catches nodes with a wrong clock (a Pi without RTC that guessed); the past
    limit is wide because rural links drop for days and nodes flush what they buffered.
    """

    max_future: timedelta = timedelta(minutes=5)
    max_past: timedelta = timedelta(days=180)


@dataclass(slots=True)
class DecodedMessage:
    """What survived decoding, and what did not (with reasons)."""

    records: list[Record] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def reading_count(self) -> int:
        return sum(len(r.readings) for r in self.records)


def format_ts(ts: datetime) -> str:
    """RFC 3339 UTC with milliseconds and 'Z', the form nodes send.

    >>> format_ts(datetime(2026, 11, 29, 3, 4, 5, 678000, tzinfo=UTC))
    '2026-11-29T03:04:05.678Z'
    """
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _record_dict(record: Record) -> dict[str, Any]:
    return {
        "ts": format_ts(record.ts),
        "seq": record.seq,
        "synced": record.synced,
        "readings": dict(record.readings),
    }


def encode_record(record: Record) -> bytes:
    """Encode one record as a v1 message."""
    return json.dumps({"v": PAYLOAD_VERSION, **_record_dict(record)}, allow_nan=False).encode()


def encode_batch(records: Iterable[Record]) -> bytes:
    """Encode many records as one v1 batch message."""
    body = {"v": PAYLOAD_VERSION, "records": [_record_dict(r) for r in records]}
    return json.dumps(body, allow_nan=False).encode()


def decode_telemetry(
    payload: bytes,
    *,
    now: datetime,
    window: TimeWindow = TimeWindow(),
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> DecodedMessage:
    """Decode and validate a telemetry message against the contract.

    Raises ContractError for message-level problems; returns per-record and per-reading
    rejections otherwise.
    """
    if len(payload) > max_bytes:
        raise ContractError(
            Reason.TOO_LARGE, f"message is {len(payload)} bytes; the limit is {max_bytes}"
        )
    body = parse_json(payload)
    if not isinstance(body, dict):
        raise ContractError(Reason.SCHEMA, f"payload must be a JSON object, not {_kind(body)}")
    version = body.get("v")
    if version != PAYLOAD_VERSION or isinstance(version, bool):
        raise ContractError(
            Reason.UNSUPPORTED_VERSION,
            f'payload version {version!r} is not supported; send "v": {PAYLOAD_VERSION}',
        )
    if "records" in body:
        items = body["records"]
        if not isinstance(items, list):
            raise ContractError(Reason.SCHEMA, f"'records' must be a list, not {_kind(items)}")
        if not items:
            raise ContractError(Reason.SCHEMA, "'records' is empty")
        if len(items) > MAX_BATCH_RECORDS:
            raise ContractError(
                Reason.TOO_LARGE,
                f"batch has {len(items)} records; the limit is {MAX_BATCH_RECORDS}",
            )
    else:
        items = [body]
    decoded = DecodedMessage()
    for item in items:
        _decode_record(item, now, window, decoded)
    return decoded


def parse_json(payload: bytes) -> object:
    """Parse a JSON payload, turning every way it can fail into one ContractError.

    Shared by the JSON formats (v1 and SenML) so both refuse the same inputs the same way.

    >>> parse_json(b'{"v": 1}')
    {'v': 1}
    >>> try:
    ...     parse_json(b"{")
    ... except ContractError as exc:
    ...     exc.reason
    <Reason.MALFORMED_JSON: 'malformed_json'>
    """
    try:
        return json.loads(payload)
    except RecursionError:
        raise ContractError(Reason.MALFORMED_JSON, "payload nests too deeply") from None
    except ValueError as exc:
        # JSONDecodeError and UnicodeDecodeError are ValueErrors, and so is the refusal to parse
        # an integer literal of more than 4300 digits (CPython's int/str limit): all malformed.
        raise ContractError(Reason.MALFORMED_JSON, f"payload is not UTF-8 JSON: {exc}") from None


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else "null"
    )


def _decode_record(item: object, now: datetime, window: TimeWindow, out: DecodedMessage) -> None:
    if not isinstance(item, dict):
        out.rejections.append(
            Rejection(Reason.SCHEMA, f"a record must be an object, not {_kind(item)}")
        )
        return
    seq = item.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
        out.rejections.append(
            Rejection(Reason.SCHEMA, f"'seq' must be an integer from 0 to 2^63-1, got {seq!r}")
        )
        return
    synced = item.get("synced")
    if not isinstance(synced, bool):
        out.rejections.append(
            Rejection(Reason.SCHEMA, f"'synced' must be true or false, got {synced!r}", seq=seq)
        )
        return
    ts_or_rejection = _parse_ts(item.get("ts"), seq)
    if isinstance(ts_or_rejection, Rejection):
        out.rejections.append(ts_or_rejection)
        return
    ts = ts_or_rejection
    outside = check_time_window(ts, now=now, window=window, synced=synced, seq=seq)
    if outside is not None:
        out.rejections.append(outside)
        return
    raw = item.get("readings")
    if not isinstance(raw, dict) or not raw:
        out.rejections.append(
            Rejection(Reason.SCHEMA, "'readings' must be a non-empty object", seq=seq)
        )
        return
    readings: dict[str, float] = {}
    for name, value in raw.items():
        checked = check_reading(name, value)
        if isinstance(checked, Rejection):
            out.rejections.append(
                Rejection(checked.reason, checked.detail, quantity=checked.quantity, seq=seq)
            )
        else:
            readings[name] = checked
    if readings:
        out.records.append(Record(ts, seq, synced, readings))


def check_time_window(
    ts: datetime,
    *,
    now: datetime,
    window: TimeWindow,
    synced: bool | None,
    seq: int | None = None,
) -> Rejection | None:
    """Refuse a record whose timestamp is implausibly far from the server's clock.

    Shared by every payload format (v1 JSON, SenML, line protocol) so that a node with a wrong
    clock gets the same reason code and advice whichever format it speaks. ``synced`` is what
    the node reported about its clock; ``None`` when it did not say (formats where the flag is
    optional), so the detail does not claim a report that never came.

    >>> now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    >>> check_time_window(now, now=now, window=TimeWindow(), synced=True) is None
    True
    >>> later = now + timedelta(hours=2)
    >>> late = check_time_window(later, now=now, window=TimeWindow(), synced=True)
    >>> late.reason if late else None
    <Reason.CLOCK_IN_FUTURE: 'clock_in_future'>
    """
    clock_note = " (the node reports its clock as not synchronised)" if synced is False else ""
    if ts > now + window.max_future:
        return Rejection(
            Reason.CLOCK_IN_FUTURE,
            f"timestamp {format_ts(ts)} is {_human(ts - now)} ahead of the server clock "
            f"(allowed: {_human(window.max_future)}); check the node's clock/NTP{clock_note}",
            seq=seq,
        )
    if ts < now - window.max_past:
        return Rejection(
            Reason.TOO_OLD,
            f"timestamp {format_ts(ts)} is older than {_human(window.max_past)}{clock_note}",
            seq=seq,
        )
    return None


def _parse_ts(raw: object, seq: int) -> datetime | Rejection:
    if isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError:
            return Rejection(
                Reason.SCHEMA, f"'ts' {raw[:40]!r} is not an RFC 3339 timestamp", seq=seq
            )
        if ts.tzinfo is None:
            return Rejection(
                Reason.SCHEMA, f"'ts' {raw!r} has no time zone; send UTC with 'Z'", seq=seq
            )
        try:
            return ts.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
            return Rejection(
                Reason.SCHEMA, f"'ts' {raw[:40]!r} is outside the years 1-9999", seq=seq
            )
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            return datetime.fromtimestamp(raw, UTC)
        except (OverflowError, OSError, ValueError):
            return Rejection(Reason.SCHEMA, f"'ts' {raw!r} is not a valid Unix time", seq=seq)
    return Rejection(
        Reason.SCHEMA, f"'ts' must be an RFC 3339 string or Unix seconds, got {raw!r}", seq=seq
    )


def check_reading(name: object, value: object) -> float | Rejection:
    """Validate one ``quantity -> value`` entry; return the canonical value or a Rejection.

    >>> check_reading("ph", 7.2)
    7.2
    >>> str(check_reading("ph", 15))
    'out_of_bounds: [ph] 15 pH is outside the physical range 0 to 14 pH'
    """
    if not isinstance(name, str) or (q := QUANTITIES.get(name)) is None:
        shown = name[:64] if isinstance(name, str) else name
        return Rejection(
            Reason.UNKNOWN_QUANTITY,
            f"unknown quantity {shown!r}; see docs/contract.md for the registry",
            quantity=shown if isinstance(shown, str) else None,
        )
    unit = q.unit
    if isinstance(value, dict):
        unit_raw = value.get("unit", q.unit)
        if not isinstance(unit_raw, str) or not q.accepts_unit(unit_raw):
            accepted = ", ".join([q.unit, *q.conversions])
            return Rejection(
                Reason.WRONG_UNIT,
                f"unit {unit_raw!r} is not accepted for {name} (accepted: {accepted})",
                quantity=name,
            )
        unit = unit_raw
        value = value.get("value")
    if isinstance(value, bool):
        if not q.state:
            return Rejection(
                Reason.WRONG_TYPE, f"{name} needs a number, got {str(value).lower()}", quantity=name
            )
        number = 1.0 if value else 0.0
    elif isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            # A JSON integer beyond ~1.8e308 is finite but no float can hold it, let alone a
            # sensor range.
            return Rejection(
                Reason.OUT_OF_BOUNDS,
                f"{name} is an integer too large for a float, outside the physical range "
                f"{q.low:g} to {q.high:g} {q.unit}",
                quantity=name,
            )
    else:
        shown_value = value[:40] if isinstance(value, str) else value
        return Rejection(
            Reason.WRONG_TYPE,
            f"{name} needs a number, got {_kind(value)} {shown_value!r}",
            quantity=name,
        )
    if not math.isfinite(number):
        return Rejection(
            Reason.NOT_FINITE, f"{name} is {number}, not a finite number", quantity=name
        )
    number = q.to_canonical(number, unit)
    if not q.low <= number <= q.high:
        return Rejection(
            Reason.OUT_OF_BOUNDS,
            f"{number:g} {q.unit} is outside the physical range {q.low:g} to {q.high:g} {q.unit}",
            quantity=name,
        )
    return number


def _human(delta: timedelta) -> str:
    seconds = abs(delta.total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
