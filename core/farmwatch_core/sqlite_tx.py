"""One write transaction on an autocommit SQLite connection, as every local store here uses it.

``BEGIN IMMEDIATE`` takes the write lock at the start, so two writers never deadlock upgrading a
read lock; the block commits, or rolls back if it raises. ``lock`` serialises threads that share
the connection (``check_same_thread=False``).

    >>> import sqlite3
    >>> db = sqlite3.connect(":memory:", isolation_level=None)
    >>> with immediate_transaction(db) as tx:
    ...     _ = tx.execute("CREATE TABLE t (x)")
    >>> db.execute("SELECT count(*) FROM t").fetchone()
    (0,)
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

__all__ = ["immediate_transaction"]


@contextmanager
def immediate_transaction(
    db: sqlite3.Connection, lock: threading.Lock | threading.RLock | None = None
) -> Iterator[sqlite3.Connection]:
    with lock if lock is not None else nullcontext():
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
