"""The InfluxQL the panels run, in one place: the storage schema is ingest's.

Readings and analytics' derived values are fields of measurement ``telemetry`` with tags
``farm`` and ``node`` (docs/contract.md, "Storage mapping"). Template variables are used in
Grafana's explicit formats: ``${farm:regex}`` (regex-escaped, ``(a|b)`` for several values)
and ``${cooperative:raw}`` (a ready-made alternation of farm IDs, see variables.py).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "MEASUREMENT",
    "daily",
    "farm_regex",
    "latest_table",
    "online",
    "series",
    "where",
]

MEASUREMENT = '"telemetry"'
FARM = '"farm" =~ /^${farm:regex}$/'
NODE = '"node" =~ /^${node:regex}$/'
COOPERATIVE = '"farm" =~ /^(${cooperative:raw})$/'
ONLINE_BUCKET = "30m"
"""A node counts as online when it stored a record in the last two 30 min buckets (the current
one and the one before), so it does not look offline right after a half hour turns."""


def farm_regex(farm_ids: Iterable[str]) -> str:
    """An InfluxQL regex condition matching exactly these farms.

    >>> farm_regex(["pond-01", "pig-02"])
    '"farm" =~ /^(pond-01|pig-02)$/'
    """
    return '"farm" =~ /^(' + "|".join(farm_ids) + ")$/"


def where(*conditions: str) -> str:
    return " AND ".join([*conditions, "$timeFilter"])


def series(field: str, conditions: Iterable[str], fn: str = "mean", by: str = "node") -> str:
    """One field aggregated per ``$__interval`` and per node (or farm)."""
    return (
        f'SELECT {fn}("{field}") AS "{field}" FROM {MEASUREMENT} WHERE {where(*conditions)} '
        f'GROUP BY time($__interval), "{by}" fill(none)'
    )


def daily(field: str, conditions: Iterable[str], by: str = "node") -> str:
    """A value analytics files once a day (GDD, ET0...): its raw points, no aggregation."""
    return f'SELECT "{field}" FROM {MEASUREMENT} WHERE {where(*conditions)} GROUP BY "{by}"'


def latest_table(conditions: Iterable[str], by: str = '"node"') -> str:
    """Every field's latest value per node (``last(*)``), for a table."""
    return f"SELECT last(*) FROM {MEASUREMENT} WHERE {where(*conditions)} GROUP BY {by}"


def online(conditions: Iterable[str], by: str = "node") -> str:
    """Records per 30 min, averaged over the current and the previous half hour, per node or
    farm: 0 means nothing stored for 30-60 min (offline).

    ``fill(0)`` makes the empty half hours up to now count as 0 for everything that has data
    in the dashboard's range; something silent for the whole range has no row at all. (An
    outer ``max()`` with its own ``WHERE time > now() - 1h`` would be simpler, but InfluxDB 1.6
    returns nothing for it: the tests caught that.)
    """
    inner = (
        f'SELECT moving_average(count("seq"), 2) AS "recent" FROM {MEASUREMENT} '
        f'WHERE {where(*conditions)} GROUP BY time({ONLINE_BUCKET}), "{by}" fill(0)'
    )
    return f'SELECT last("recent") AS "records_per_30m" FROM ({inner}) GROUP BY "{by}"'
