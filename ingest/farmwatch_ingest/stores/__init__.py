"""Storage backends behind one protocol; :func:`open_store` picks one from the settings.

The backends are imported inside :func:`open_store`, so an SQLite-only deployment never loads
the HTTP client stack, and importing this package has no side effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from farmwatch_ingest.stores.base import (
    LatestReading,
    NodeRecord,
    Store,
    StoreError,
    StoreRejected,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from farmwatch_core.settings import FarmwatchSettings

__all__ = [
    "LatestReading",
    "NodeRecord",
    "Store",
    "StoreError",
    "StoreRejected",
    "StoreUnavailable",
    "open_store",
]


def open_store(settings: FarmwatchSettings) -> Store:
    """The configured store: InfluxDB when ``influx.url`` is set, else the SQLite file.

    Creates the SQLite file's directory (a fresh install has no ``var/`` yet). Does not fail
    when InfluxDB is down: the store retries on use, so ingest can start and keep buffering.

    Example::

        store = open_store(load_settings())
        try:
            store.ping()
        finally:
            store.close()
    """
    if settings.influx.url:
        from farmwatch_ingest.stores.influx import InfluxStore

        return InfluxStore(settings.influx)
    from farmwatch_ingest.stores.sqlite import SqliteStore

    path = settings.sqlite_file
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteStore(path)
