"""A fast path for the commonest telemetry message, with exactly the contract's semantics.

Ingest decodes thousands of messages per second, nearly all of them one plain v1 record::

    {"v": 1, "ts": "2026-11-29T20:15:00.000Z", "seq": 4211, "synced": true,
     "readings": {"water_temperature": 27.8, "dissolved_oxygen": 4.6}}

:func:`decode_fast` parses such a message with orjson (when installed; it is an ingest
dependency, not an edge one) and accepts it only when *every* check passes on the plain-number
route: known quantities, numbers in canonical units within bounds, a timestamp inside the
window. Anything else — a unit object, a batch, a rejection of any kind, SenML, line protocol,
JSON that orjson refuses (NaN literals, integers beyond 64 bits, a byte-order mark, UTF-16) —
goes to :func:`~farmwatch_core.contract.formats.decode_any`, the single definition of the
contract. So the fast path can only ever produce the result ``decode_any`` would have produced
(the property tests in tests/ingest/test_fast_decode.py compare both on generated input); it has
no rejections or messages of its own to keep in sync.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from farmwatch_core.contract.formats import decode_any
from farmwatch_core.contract.payload import (
    MAX_MESSAGE_BYTES,
    MAX_SEQ,
    PAYLOAD_VERSION,
    DecodedMessage,
    Record,
    TimeWindow,
    _parse_ts,
)
from farmwatch_core.contract.quantities import QUANTITIES
from farmwatch_core.contract.rejections import Rejection

__all__ = ["decode_fast"]


def _json_loader() -> tuple[Callable[[bytes], Any], type[Exception]]:
    try:
        import orjson
    except ImportError:  # an edge install: the standard library is fast enough there
        return json.loads, ValueError
    return orjson.loads, orjson.JSONDecodeError


_loads, _LoadError = _json_loader()
# Per quantity: its (low, high) bounds in the canonical unit, looked up once per reading.
_BOUNDS = {name: (q.low, q.high) for name, q in QUANTITIES.items()}


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
    if payload[:1] == b"{" and len(payload) <= max_bytes:
        try:
            body = _loads(payload)
        except _LoadError:
            body = None
        if type(body) is dict:
            record = _plain_record(body, now, window)
            if record is not None:
                return DecodedMessage([record], [])
    return decode_any(payload, now=now, window=window, max_bytes=max_bytes)


def _plain_record(body: dict[str, Any], now: datetime, window: TimeWindow) -> Record | None:
    """The record of a single-record v1 body that passes every check, else None (slow path).

    Each test below is the accepting branch of the same test in ``payload._decode_record`` and
    ``payload.check_reading``; ``type(x) is int`` excludes bool as their isinstance checks do.
    """
    version = body.get("v")
    if type(version) is not int or version != PAYLOAD_VERSION or "records" in body:
        return None
    seq = body.get("seq")
    if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
        return None
    synced = body.get("synced")
    if type(synced) is not bool:
        return None
    raw_ts = body.get("ts")
    if type(raw_ts) is not str:
        return None
    ts = _parse_ts(raw_ts, seq)
    if isinstance(ts, Rejection) or not now - window.max_past <= ts <= now + window.max_future:
        return None
    raw = body.get("readings")
    if type(raw) is not dict or not raw:
        return None
    readings: dict[str, float] = {}
    for name, value in raw.items():
        bounds = _BOUNDS.get(name)
        kind = type(value)
        if bounds is None or (kind is not float and kind is not int):
            return None
        number = float(value)
        # NaN and the infinities fail this comparison too: the slow path names them.
        if not bounds[0] <= number <= bounds[1]:
            return None
        readings[name] = number
    return Record(ts, seq, synced, readings)
