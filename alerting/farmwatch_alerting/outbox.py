"""The persistent outbox: every notification is sent, retried with backoff, or given up on
visibly — never lost, and every attempt is in the audit log.

Routing/templates :meth:`Outbox.enqueue` a notification (one SQLite transaction, WAL,
``synchronous=FULL``: once ``enqueue`` returns, a ``kill -9`` or a power cut does not lose it);
a worker calls :meth:`Outbox.deliver_due` with the current time. For each due item it first
records the attempt as *in flight* (committed), then calls the channel, then records the
outcome. So after a crash the audit log shows the interrupted attempt, and the item is still
pending and is sent again: delivery is **at least once**. Channels pass the notification id
as an idempotency key where the receiver supports one (webhook ``Idempotency-Key``, ZNS
``tracking_id``, e-mail ``Message-ID``) so receivers can drop that rare duplicate.

Outcomes of one attempt (the channel's :class:`DeliveryResult`):

- ok: ``sent``.
- not retryable (a bad address, a rejected token): ``failed`` at once, logged with what to do.
- retryable: pending again after an exponential backoff with jitter — ``base · factorⁿ``
  capped at ``max_delay``, then ± ``jitter`` ("Exponential Backoff And Jitter", AWS
  Architecture Blog, 2015: jitter spreads the retries of many notifications that failed in
  the same outage) — and no earlier than a ``Retry-After`` the receiver asked for
  (:class:`RetryLater`). After ``max_attempts`` attempts or ``max_age`` since enqueueing:
  ``failed``, counted and logged.

Time is an argument everywhere (``now``), so tests are timelines, not sleeps::

    outbox.enqueue(notification, now=t0)
    outbox.deliver_due(t0)                      # receiver down: retry at about t0 + 10 s
    outbox.deliver_due(t0 + timedelta(seconds=11))  # receiver up: sent

One worker per outbox file: :meth:`deliver_due` takes an exclusive lock on ``<file>.lock``
(released by the OS if the process dies), so a second worker fails loudly instead of sending
everything twice. Any process may enqueue, and within a process one ``Outbox`` may be shared
by threads (the service enqueues from its dispatch thread and delivers from another): every
use of the connection holds a lock, never across a channel's ``send``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import random
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

from farmwatch_core.sqlite_tx import immediate_transaction

from farmwatch_alerting.channels.http_results import RetryLater
from farmwatch_alerting.channels.payload import notification_from_json, notification_to_json
from farmwatch_alerting.notification import Channel, DeliveryResult, Notification

__all__ = [
    "Attempt",
    "DeliveryRound",
    "Outbox",
    "OutboxBusy",
    "OutboxCounts",
    "OutboxItem",
    "RetryPolicy",
]

log = logging.getLogger(__name__)

State = Literal["pending", "sent", "failed"]
Outcome = Literal["in_flight", "sent", "retry", "failed", "interrupted"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id          TEXT PRIMARY KEY,
    channel     TEXT NOT NULL,
    body        TEXT NOT NULL,               -- the notification as JSON (channels/payload.py)
    state       TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    enqueued_at REAL NOT NULL,               -- Unix seconds, UTC
    next_at     REAL NOT NULL,
    done_at     REAL,
    last_detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_at);
CREATE TABLE IF NOT EXISTS attempts (
    notification_id TEXT NOT NULL,
    attempt         INTEGER NOT NULL,        -- 1, 2, ...
    at              REAL NOT NULL,
    channel         TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    retryable       INTEGER,
    detail          TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (notification_id, attempt)
);
"""


class OutboxBusy(RuntimeError):
    """Another process is already the delivery worker of this outbox file."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again and when to give up (defaults suit a farmer's phone at 3 a.m.:
    fast first retries, then every 15 minutes, for at most 6 hours)."""

    base_delay_s: float = 10.0
    factor: float = 2.0
    max_delay_s: float = 900.0
    jitter: float = 0.2  # ± this fraction of the delay
    max_attempts: int = 20
    max_age_s: float = 6 * 3600.0

    def __post_init__(self) -> None:
        if self.base_delay_s <= 0 or self.factor < 1 or self.max_delay_s < self.base_delay_s:
            raise ValueError("retry delays must be positive, growing, and max ≥ base")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.max_attempts < 1 or self.max_age_s <= 0:
            raise ValueError("max_attempts must be ≥ 1 and max_age_s > 0")

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        >>> policy = RetryPolicy(jitter=0)
        >>> [policy.delay_s(n, random.Random(0)) for n in (1, 2, 3, 10)]
        [10.0, 20.0, 40.0, 900.0]
        """
        exponent = min(attempt - 1, 64)  # 2**64 · 10 s is far past any cap; avoid overflow
        delay = min(self.base_delay_s * self.factor**exponent, self.max_delay_s)
        return delay * (1 + rng.uniform(-self.jitter, self.jitter))


@dataclass(frozen=True, slots=True)
class Attempt:
    """One row of the audit log."""

    notification_id: str
    number: int
    at: datetime
    channel: str
    outcome: Outcome
    retryable: bool | None
    detail: str


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """Where one notification stands."""

    id: str
    channel: str
    state: State
    attempts: int
    enqueued_at: datetime
    next_at: datetime
    done_at: datetime | None
    last_detail: str


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """For metrics: items by state, and attempts made (``retries``: attempts after the first)."""

    queued: int
    sent: int
    failed: int
    attempts: int
    retries: int


@dataclass(frozen=True, slots=True)
class DeliveryRound:
    """What one :meth:`Outbox.deliver_due` call did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    held: int = 0  # not attempted: their channel had just failed (see deliver_due)

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


def _ts(when: datetime) -> float:
    if when.tzinfo is None:
        raise ValueError(f"{when!r} has no time zone; the outbox works in aware datetimes")
    return when.timestamp()


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Outbox:
    """A SQLite-backed queue of notifications with their delivery history."""

    def __init__(
        self,
        path: Path,
        channels: Mapping[str, Channel],
        policy: RetryPolicy | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.path = Path(path)
        self.channels = channels
        self.policy = policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._lock_file: IO[bytes] | None = None
        # One connection shared by the service's threads (one enqueues, one delivers), with a
        # lock around every use: sqlite3 objects refuse other threads unless told otherwise.
        self._db = sqlite3.connect(
            self.path, isolation_level=None, timeout=10.0, check_same_thread=False
        )
        self._db_lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an enqueued alert survives a power cut
        self._db.executescript(_SCHEMA)

    # ---------------------------------------------------------------------------------------
    # life cycle

    def close(self) -> None:
        with self._db_lock:
            self._db.close()
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._db, self._db_lock)

    def _read(self, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """A query under the same lock as the transactions (the connection is shared)."""
        with self._db_lock:
            return self._db.execute(sql, parameters).fetchall()

    def _become_worker(self) -> None:
        """Take the worker lock once; attempts a dead worker left in flight are closed."""
        if self._lock_file is not None:
            return
        lock_file = self.path.with_name(self.path.name + ".lock").open("ab")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise OutboxBusy(
                f"another process is delivering from {self.path}; run one worker per outbox"
            ) from None
        self._lock_file = lock_file
        with self._transaction() as db:
            interrupted = db.execute(
                "UPDATE attempts SET outcome = 'interrupted', detail = ? "
                "WHERE outcome = 'in_flight'",
                ("the worker stopped during this attempt; outcome unknown, sent again",),
            ).rowcount
        if interrupted:
            log.warning(
                "outbox %s: %d attempt(s) were interrupted by a stop; those notifications "
                "are sent again (receivers can drop duplicates by notification id)",
                self.path,
                interrupted,
            )

    # ---------------------------------------------------------------------------------------
    # queue

    def enqueue(self, notification: Notification, now: datetime | None = None) -> bool:
        """Queue ``notification`` (due at once); False if its id is already queued or done.

        ``now`` defaults to the notification's ``created_at``; the maximum age counts from it.
        """
        at = _ts(now or notification.created_at)
        body = json.dumps(notification_to_json(notification), ensure_ascii=False)
        with self._transaction() as db:
            inserted = db.execute(
                "INSERT OR IGNORE INTO outbox (id, channel, body, state, enqueued_at, next_at) "
                "VALUES (?, ?, ?, 'pending', ?, ?)",
                (notification.id, notification.channel, body, at, at),
            ).rowcount
        return inserted == 1

    def due(self, now: datetime, limit: int = 100) -> list[Notification]:
        """Pending notifications whose next attempt is due at ``now``, oldest due first."""
        return [notification_from_json(json.loads(b)) for _, _, b, _ in self._due(now, limit)]

    def _due(self, now: datetime, limit: int) -> list[tuple[str, str, str, int]]:
        rows = self._read(
            "SELECT id, channel, body, attempts FROM outbox "
            "WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, enqueued_at LIMIT ?",
            (_ts(now), limit),
        )
        return [(str(i), str(c), str(b), int(a)) for i, c, b, a in rows]

    def next_due_at(self) -> datetime | None:
        """When the earliest pending notification is due (a worker sleeps until then)."""
        ((at,),) = self._read("SELECT min(next_at) FROM outbox WHERE state = 'pending'")
        return None if at is None else _dt(at)

    def requeue(self, notification_id: str, now: datetime) -> bool:
        """Give a failed notification a fresh start (after fixing the channel or address)."""
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE outbox SET state = 'pending', next_at = ?, enqueued_at = ?, done_at = NULL "
                "WHERE id = ? AND state = 'failed'",
                (_ts(now), _ts(now), notification_id),
            ).rowcount
        return changed == 1

    # ---------------------------------------------------------------------------------------
    # delivery

    def deliver_due(self, now: datetime, limit: int = 100) -> DeliveryRound:
        """Attempt every notification due at ``now`` (at most ``limit``) once.

        Once a channel fails in a way worth retrying, its other due notifications in this
        round are *held* for ``base_delay_s`` instead of attempted (not counted as attempts):
        a channel that is down costs one timeout per round, not one per queued notification,
        and cannot hold up the notifications of the channels that work.
        """
        self._become_worker()
        sent = retrying = failed = held = 0
        failing: set[str] = set()
        for notification_id, channel, body, attempts in self._due(now, limit):
            if channel in failing:
                self._hold(notification_id, _ts(now) + self.policy.base_delay_s)
                held += 1
                continue
            try:
                notification = notification_from_json(json.loads(body))
            except (ValueError, TypeError, KeyError) as exc:
                # Written by enqueue, so only a hand-edited or corrupted row gets here; stop
                # it rather than fail on it every round.
                self._unreadable(notification_id, now, exc)
                failed += 1
                continue
            state = self._attempt(notification, attempts + 1, now)
            if state == "sent":
                sent += 1
            elif state == "failed":
                failed += 1
            else:
                retrying += 1
                failing.add(channel)
        return DeliveryRound(sent, retrying, failed, held)

    def _unreadable(self, notification_id: str, now: datetime, exc: Exception) -> None:
        detail = f"unreadable outbox record: {type(exc).__name__}: {exc}"
        log.error("outbox %s: notification %s FAILED: %s", self.path, notification_id, detail)
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET state = 'failed', done_at = ?, last_detail = ? WHERE id = ?",
                (_ts(now), detail, notification_id),
            )

    def _hold(self, notification_id: str, until: float) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET next_at = max(next_at, ?) WHERE id = ? AND state = 'pending'",
                (until, notification_id),
            )

    def _attempt(self, notification: Notification, number: int, now: datetime) -> State:
        at = _ts(now)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO attempts (notification_id, attempt, at, channel, outcome) "
                "VALUES (?, ?, ?, ?, 'in_flight')",
                (notification.id, number, at, notification.channel),
            )
            db.execute("UPDATE outbox SET attempts = ? WHERE id = ?", (number, notification.id))
        result = self._send(notification)
        state, outcome, next_at, detail = self._judge(notification, number, now, result)
        with self._transaction() as db:
            db.execute(
                "UPDATE attempts SET outcome = ?, retryable = ?, detail = ? "
                "WHERE notification_id = ? AND attempt = ?",
                (outcome, int(result.retryable), result.detail, notification.id, number),
            )
            db.execute(
                "UPDATE outbox SET state = ?, next_at = ?, done_at = ?, last_detail = ? "
                "WHERE id = ?",
                (
                    state,
                    next_at,
                    None if state == "pending" else at,
                    detail,
                    notification.id,
                ),
            )
        return state

    def _send(self, notification: Notification) -> DeliveryResult:
        channel = self.channels.get(notification.channel)
        if channel is None:
            known = ", ".join(sorted(self.channels)) or "none"
            return DeliveryResult.fail(
                f"no channel named {notification.channel!r} is configured (configured: {known})"
            )
        try:
            return channel.send(notification)
        except Exception as exc:
            log.exception("channel %s raised for notification %s", channel.name, notification.id)
            return DeliveryResult.retry(f"channel raised {type(exc).__name__}: {exc}")

    def _judge(
        self, notification: Notification, number: int, now: datetime, result: DeliveryResult
    ) -> tuple[State, Outcome, float, str]:
        at = _ts(now)
        if result.ok:
            return "sent", "sent", at, result.detail
        if not result.retryable:
            self._log_failed(notification, number, result.detail, "fix the channel or address")
            return "failed", "failed", at, result.detail
        ((enqueued_at,),) = self._read(
            "SELECT enqueued_at FROM outbox WHERE id = ?", (notification.id,)
        )
        deadline = float(enqueued_at) + self.policy.max_age_s
        if number >= self.policy.max_attempts or at >= deadline:
            why = f"gave up after {number} attempt(s) over {(at - enqueued_at) / 60:.0f} min"
            self._log_failed(notification, number, result.detail, "check that the channel is up")
            return "failed", "retry", at, f"{result.detail}; {why}"
        delay = self.policy.delay_s(number, self._rng)
        if isinstance(result, RetryLater):
            delay = max(delay, result.after_s)
        return "pending", "retry", min(at + delay, deadline), result.detail

    def _log_failed(self, notification: Notification, number: int, detail: str, fix: str) -> None:
        log.error(
            "notification %s for %s via channel %s FAILED after %d attempt(s): %s. "
            "What next: %s, then Outbox.requeue(%r); %s may not know about alerts %s",
            notification.id,
            notification.receiver,
            notification.channel,
            number,
            detail,
            fix,
            notification.id,
            notification.to,
            ", ".join(str(a.get("fingerprint", "?")) for a in notification.alerts) or "(none)",
        )

    # ---------------------------------------------------------------------------------------
    # inspection

    def attempts(self, notification_id: str) -> list[Attempt]:
        """The audit log of one notification, in order."""
        rows = self._read(
            "SELECT attempt, at, channel, outcome, retryable, detail FROM attempts "
            "WHERE notification_id = ? ORDER BY attempt",
            (notification_id,),
        )
        return [
            Attempt(
                notification_id,
                int(number),
                _dt(at),
                str(channel),
                outcome,
                None if retryable is None else bool(retryable),
                str(detail),
            )
            for number, at, channel, outcome, retryable, detail in rows
        ]

    def item(self, notification_id: str) -> OutboxItem | None:
        """Where one notification stands, or None if it was never enqueued."""
        rows = self._read(
            "SELECT id, channel, state, attempts, enqueued_at, next_at, done_at, last_detail "
            "FROM outbox WHERE id = ?",
            (notification_id,),
        )
        if not rows:
            return None
        row = rows[0]
        id_, channel, state, attempts, enqueued_at, next_at, done_at, detail = row
        return OutboxItem(
            str(id_),
            str(channel),
            state,
            int(attempts),
            _dt(enqueued_at),
            _dt(next_at),
            None if done_at is None else _dt(done_at),
            str(detail),
        )

    def counts(self) -> OutboxCounts:
        """Totals for metrics (they survive restarts: they are read from the file)."""
        by_state = dict(self._read("SELECT state, count(*) FROM outbox GROUP BY state"))
        ((attempts, retries),) = self._read(
            "SELECT count(*), coalesce(sum(attempt > 1), 0) FROM attempts"
        )
        return OutboxCounts(
            queued=int(by_state.get("pending", 0)),
            sent=int(by_state.get("sent", 0)),
            failed=int(by_state.get("failed", 0)),
            attempts=int(attempts),
            retries=int(retries),
        )
