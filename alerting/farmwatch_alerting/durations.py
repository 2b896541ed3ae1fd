"""Durations as Alertmanager's YAML writes them (``30s``, ``5m``, ``4h``, ``1h30m``, ``2d``).

Config files say ``group_wait: 30s`` rather than ISO 8601, so the routing models accept that
form (and plain numbers of seconds) and hand out :class:`~datetime.timedelta`.

    >>> parse_duration("1h30m"), parse_duration(90), format_duration(parse_duration("4h"))
    (datetime.timedelta(seconds=5400), datetime.timedelta(seconds=90), '4h')
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

__all__ = ["Duration", "format_duration", "parse_duration"]

# The units of Prometheus' model.ParseDuration (without y, which has no fixed length here).
_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[wdhms])")


def parse_duration(value: object) -> timedelta:
    """``"5m"`` → 5 minutes; numbers are seconds; a ``timedelta`` passes through."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")  # noqa: TRY004 (pydantic wants ValueError)
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r}: a duration cannot be negative")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration")  # noqa: TRY004 (pydantic wants ValueError)
    text = value.strip()
    parts = _PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration like 30s, 5m, 4h or 1h30m")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def format_duration(value: timedelta) -> str:
    """The shortest ``1h30m``-style spelling (whole seconds)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        size = int(_UNITS[unit])
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
"""A pydantic field type: parsed from ``5m``-style strings, serialised back the same way."""
