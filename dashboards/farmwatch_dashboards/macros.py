"""Grafana's InfluxQL interpolation, for running a panel's query outside Grafana (the tests).

Follows what Grafana's InfluxDB data source does: ``$timeFilter`` becomes ``time >= now() - 24h``
for a relative range ending now; ``$__interval`` the interval Grafana would pick; template
variables ``$name``/``${name}``/``${name:raw}`` their value as is and ``${name:regex}`` the
value regex-escaped (Grafana's ``regexEscape``), ``(a|b)`` for several values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["expand", "regex_escape", "time_filter"]

_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")


def regex_escape(value: str) -> str:
    r"""Escape like Grafana's ``regexEscape`` (``/`` too: InfluxQL regexes are ``/.../``).

    >>> regex_escape("pond-01.a")
    'pond-01\\.a'
    """
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def time_filter(time_from: str) -> str:
    """``$timeFilter`` for a dashboard range ``now-24h`` … ``now``.

    >>> time_filter("now-7d")
    'time >= now() - 7d'
    """
    if not time_from.startswith("now-"):
        raise ValueError(f"only relative ranges ending now are expanded here, not {time_from!r}")
    return f"time >= now() - {time_from.removeprefix('now-')}"


def expand(
    query: str,
    variables: Mapping[str, str | Sequence[str]],
    *,
    time_from: str = "now-24h",
    interval: str = "5m",
) -> str:
    """The query as Grafana would send it.

    >>> expand('SELECT mean("x") FROM t WHERE "farm" =~ /^${farm:regex}$/ AND $timeFilter '
    ...        'GROUP BY time($__interval)', {"farm": "pond-01"})
    'SELECT mean("x") FROM t WHERE "farm" =~ /^pond-01$/ AND time >= now() - 24h GROUP BY time(5m)'
    """
    builtins = {"timeFilter": time_filter(time_from), "__interval": interval}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        form = match.group(2) or ""
        if name in builtins:
            return builtins[name]
        if name not in variables:
            raise KeyError(f"no value for template variable ${name} in {query!r}")
        value = variables[name]
        values = [value] if isinstance(value, str) else list(value)
        if form == "regex":
            escaped = [regex_escape(v) for v in values]
            return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
        return ",".join(values)

    return _VARIABLE.sub(substitute, query)
