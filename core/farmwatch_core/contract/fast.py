"""A fast path for the commonest telemetry message, with exactly the contract's semantics.

Ingest decodes thousands of messages per second, nearly all of them one plain v1 record::

    {"v": 1, "ts": "2026-11-29T20:15:00.000Z", "seq": 4211, "synced": true,
     "readings": {"water_temperature": 27.8, "dissolved_oxygen": 4.6}}

:func:`plain_record` parses such a message with orjson (when installed; it is an ingest
dependency, not an edge one) and accepts it only when *every* check passes on the plain-number
route: known quantities, numbers in canonical units within bounds, a timestamp inside the
window. Anything else — a unit object, a batch, a rejection of any kind, SenML, line protocol,
JSON that orjson refuses (NaN literals, integers beyond 64 bits, a byte-order mark, UTF-16) —
gets None, and :func:`decode_fast` then hands it to
:func:`~farmwatch_core.contract.formats.decode_any`, the single definition of the contract. So
the fast path can only ever produce the result ``decode_any`` would have produced (the property
tests in tests/ingest/test_fast_decode.py compare both on generated input); it has no
rejections or messages of its own to keep in sync.

Why it is shaped like this (measured with bench/ingest_profile.py, 50,000 of the benchmark's
messages): ingest's network thread calls :func:`plain_record` once per message, so everything
that is the same for a whole network read is hoisted out of it — the time window becomes two
datetimes computed once per read (:func:`window_bounds`), not two subtractions per message; a
timestamp that already is UTC (``...Z``) is not converted again; and when every reading is
already a float, orjson's fresh ``readings`` dict *is* the record's, instead of a copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from farmwatch_core.contract.formats import decode_any
from farmwatch_core.contract.payload import (
    MAX_MESSAGE_BYTES,
    MAX_SEQ,
    PAYLOAD_VERSION,
    DecodedMessage,
    Record,
    TimeWindow,
)
from farmwatch_core.contract.quantities import QUANTITIES

__all__ = ["decode_fast", "plain_record", "window_bounds"]


def _json_loader() -> tuple[Callable[[bytes], Any], type[Exception]]:
    try:
        import orjson
    except ImportError:  # an edge install: the standard library is fast enough there
        return json.loads, ValueError
    return orjson.loads, orjson.JSONDecodeError


_loads, _LoadError = _json_loader()
# Per quantity: its (low, high) bounds in the canonical unit, looked up once per reading.
_BOUNDS = {name: (q.low, q.high) for name, q in QUANTITIES.items()}
_fromisoformat = datetime.fromisoformat


def window_bounds(now: datetime, window: TimeWindow = TimeWindow()) -> tuple[datetime, datetime]:  # noqa: B008 - frozen dataclass
    """The (earliest, latest) timestamps the window accepts at ``now``: compute once per batch
    of messages received together, pass to :func:`plain_record` for each."""
    return now - window.max_past, now + window.max_future


def decode_fast(
    payload: bytes,
    *,
    now: datetime,
    window: TimeWindow = TimeWindow(),  # noqa: B008 - frozen dataclass
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> DecodedMessage:
    """Decode like ``decode_any(payload, now=now, window=window, max_bytes=max_bytes)``.

    >>> from datetime import UTC
    >>> now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    >>> msg = b'{"v": 1, "ts": "2026-11-29T02:59:00Z", "seq": 7, "synced": true, "readings": {"ph": 7.1}}'
    >>> decode_fast(msg, now=now) == decode_any(msg, now=now)
    True
    >>> bad = msg.replace(b"7.1", b"15")
    >>> [r.reason.value for r in decode_fast(bad, now=now).rejections]
    ['out_of_bounds']
    """  # noqa: E501 - doctest payloads are clearer on one line
    if len(payload) <= max_bytes:
        earliest, latest = window_bounds(now, window)
        record = plain_record(payload, earliest, latest)
        if record is not None:
            return DecodedMessage([record], [])
    return decode_any(payload, now=now, window=window, max_bytes=max_bytes)


def plain_record(  # noqa: PLR0912 - one early return per contract rule, in one frame (hot path)
    payload: bytes, earliest: datetime, latest: datetime
) -> Record | None:
    """The record of a single-record v1 message that passes every check, else None (then
    :func:`decode_fast`'s slow path decides). The caller checks the size limit.

    Each test below is the accepting branch of the same test in ``payload._decode_record``,
    ``payload._parse_ts`` and ``payload.check_reading``; ``type(x) is int`` excludes bool as
    their isinstance checks do.

    >>> from datetime import UTC, timedelta
    >>> now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    >>> early, late = window_bounds(now)
    >>> plain_record(b'{"v":1,"ts":"2026-11-29T02:59:00Z","seq":7,"synced":true,'
    ...              b'"readings":{"ph":7}}', early, late).readings
    {'ph': 7.0}
    >>> plain_record(b'{"v":1,"ts":"2026-11-29T02:59:00Z","seq":7,"synced":true,'
    ...              b'"readings":{"ph":15}}', early, late) is None
    True
    """
    if payload[:1] != b"{":
        return None
    try:
        body = _loads(payload)
    except _LoadError:
        return None
    if type(body) is not dict or "records" in body:
        return None
    try:  # a missing key (KeyError) is the slow path's to name, like every other failure
        version = body["v"]
        if type(version) is not int or version != PAYLOAD_VERSION:
            return None
        seq = body["seq"]
        if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
            return None
        synced = body["synced"]
        if type(synced) is not bool:
            return None
        raw_ts = body["ts"]
        if type(raw_ts) is not str:
            return None
        ts = _fromisoformat(raw_ts)  # ValueError: not a timestamp
        if ts.tzinfo is not UTC:
            if ts.tzinfo is None:
                return None
            ts = ts.astimezone(UTC)
        if not earliest <= ts <= latest:
            return None
        raw = body["readings"]
        if type(raw) is not dict or not raw:
            return None
        bounds = _BOUNDS
        ints = False
        for name, value in raw.items():
            low, high = bounds[name]  # KeyError: not a known quantity
            if type(value) is not float:
                if type(value) is not int:
                    return None
                ints = True
            # NaN and the infinities fail this comparison too: the slow path names them.
            if not low <= value <= high:
                return None
    except (KeyError, ValueError, OverflowError):  # OverflowError: a UTC conversion off the range
        return None
    readings: dict[str, float] = (
        {name: float(value) for name, value in raw.items()} if ints else raw
    )
    return Record(ts, seq, synced, readings)
