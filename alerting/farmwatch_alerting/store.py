"""Persisted alert state: every episode, its history, and the short code that acknowledges it.

SQLite (WAL, one file in the data directory) because alert state is small, must survive a
restart and a power cut, and must not need a server a cooperative has to run. An *episode* is
one alert from pending to resolved; the same problem coming back later is a new episode with
the same fingerprint. Every state change is a row in ``history`` (who acknowledged, when it
resolved), which the officers' reports read for response times.

Each episode gets an acknowledgement code: five characters from an alphabet without look-alikes
(no 0/O, 1/I/L), short enough to type in an SMS reply ("OK 7KX3P") and to put in a link.

    >>> from datetime import UTC, datetime
    >>> from farmwatch_alerting.alert import Alert, Severity
    >>> store = AlertStore(":memory:")
    >>> t = datetime(2026, 7, 15, 20, tzinfo=UTC)
    >>> alert = Alert.new({"alertname": "DoLow", "farm": "pond-01"}, Severity.CRITICAL, t).fire(t)
    >>> episode = store.save(alert)
    >>> code = store.ack_code(episode)
    >>> store.acknowledge(code, "son", t).state.value
    'acknowledged'
    >>> [h[1] for h in store.history(episode)]
    ['firing', 'acknowledged']
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from farmwatch_core.sqlite_tx import immediate_transaction

from farmwatch_alerting.alert import Alert, AlertState, Severity
from farmwatch_alerting.feedback import (
    Answer,
    Channel,
    Feedback,
    ReportAnswer,
    ReportFeedback,
    clean_comment,
)

__all__ = ["ACK_ALPHABET", "SCHEMA_VERSION", "STORE_FILE", "AlertStore", "UnknownAlert"]

ACK_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud, typed on a phone
ACK_LENGTH = 5
STORE_FILE = "alerts.sqlite"  # in the service's data directory (settings.alerting_dir)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    fired_at TEXT,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    ends_at TEXT,
    ack_code TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS episodes_open ON episodes (fingerprint) WHERE state != 'resolved';
CREATE TABLE IF NOT EXISTS history (
    episode INTEGER NOT NULL REFERENCES episodes (id),
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS history_episode ON history (episode);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Schema migrations, by ``PRAGMA user_version``: a store written by an older farmwatch gets the
# tables it lacks when it is opened (and nothing it has is touched). Append, never edit.
_MIGRATIONS: tuple[str, ...] = (
    # 1: "was this useful?" — answers about alerts and about monthly reports. Append-only: a
    # person's later answer about the same alert or report supersedes the earlier one in the
    # figures (the newest row per (episode, who) counts), and the earlier stays as history.
    """
    CREATE TABLE IF NOT EXISTS feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        episode INTEGER NOT NULL REFERENCES episodes (id),
        who TEXT NOT NULL,
        answer TEXT NOT NULL CHECK (answer IN ('useful', 'false_alarm', 'too_late')),
        comment TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL,
        channel TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS feedback_person ON feedback (episode, who);
    CREATE TABLE IF NOT EXISTS report_feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        report TEXT NOT NULL,
        who TEXT NOT NULL,
        answer TEXT NOT NULL CHECK (answer IN ('useful', 'not_useful')),
        comment TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL,
        channel TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS report_feedback_person ON report_feedback (report, who);
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


class UnknownAlert(LookupError):
    """No open alert has that code or id (already resolved, or mistyped)."""


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class AlertStore:
    """Episodes, history and codes in one SQLite file; safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an alert state must survive a power cut
            self._db.executescript(_SCHEMA)
            self._migrate()

    def _migrate(self) -> None:
        """Bring an older file up to :data:`SCHEMA_VERSION` (each step in one transaction)."""
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            self._db.executescript(
                f"BEGIN IMMEDIATE; {script}; PRAGMA user_version = {number}; COMMIT;"
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._db, self._lock)

    # -- writing ---------------------------------------------------------------------------

    def save(self, alert: Alert, detail: str = "") -> int:
        """Insert or update the open episode of ``alert``'s fingerprint; return its id.

        A state change is recorded in the history; an update of the value alone is not.
        """
        with self._tx() as db:
            row = db.execute(
                "SELECT id, state FROM episodes WHERE fingerprint = ? AND state != 'resolved'",
                (alert.fingerprint,),
            ).fetchone()
            values = (
                json.dumps(dict(alert.labels), ensure_ascii=False, sort_keys=True),
                json.dumps(dict(alert.annotations), ensure_ascii=False, sort_keys=True),
                alert.severity.value,
                alert.state.value,
                _ts(alert.starts_at),
                _ts(alert.updated_at),
                _ts(alert.fired_at),
                _ts(alert.acknowledged_at),
                alert.acknowledged_by,
                _ts(alert.ends_at),
            )
            if row is None:
                if alert.state is AlertState.RESOLVED and not detail:
                    detail = "resolved before it fired"
                episode = int(
                    db.execute(
                        "INSERT INTO episodes (labels, annotations, severity, state, starts_at, "
                        "updated_at, fired_at, acknowledged_at, acknowledged_by, ends_at, "
                        "fingerprint, ack_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (*values, alert.fingerprint, self._new_code(db)),
                    ).lastrowid
                    or 0
                )
                changed = True
            else:
                episode, old_state = int(row[0]), row[1]
                db.execute(
                    "UPDATE episodes SET labels = ?, annotations = ?, severity = ?, state = ?, "
                    "starts_at = ?, updated_at = ?, fired_at = ?, acknowledged_at = ?, "
                    "acknowledged_by = ?, ends_at = ? WHERE id = ?",
                    (*values, episode),
                )
                changed = old_state != alert.state.value
            if changed:
                db.execute(
                    "INSERT INTO history (episode, at, state, detail) VALUES (?, ?, ?, ?)",
                    (episode, _ts(alert.updated_at), alert.state.value, detail),
                )
        return episode

    @staticmethod
    def _new_code(db: sqlite3.Connection) -> str:
        while True:
            code = "".join(secrets.choice(ACK_ALPHABET) for _ in range(ACK_LENGTH))
            if db.execute("SELECT 1 FROM episodes WHERE ack_code = ?", (code,)).fetchone() is None:
                return code

    def acknowledge(self, code_or_id: str | int, by: str, at: datetime) -> Alert:
        """Acknowledge an open, firing episode by its code (any case) or id.

        Acknowledging an already acknowledged alert returns it unchanged; a resolved or
        unknown one raises :class:`UnknownAlert`.
        """
        with self._lock:
            episode = self._find(code_or_id)
            alert = self.get(episode)
            if alert.state is AlertState.RESOLVED:
                raise UnknownAlert(f"alert {code_or_id} has already resolved")
            acked = alert.acknowledge(at, by)
            if acked is not alert:
                self.save(acked, detail=f"by {by}")
            return acked

    def lookup(self, code_or_id: str | int) -> tuple[int, Alert]:
        """The episode with this acknowledgement code (any case) or id, with its alert."""
        with self._lock:
            episode = self._find(code_or_id)
            return episode, self.get(episode)

    def _find(self, code_or_id: str | int) -> int:
        if isinstance(code_or_id, int) or str(code_or_id).isdigit():
            row = self._db.execute(
                "SELECT id FROM episodes WHERE id = ?", (int(code_or_id),)
            ).fetchone()
        else:
            code = str(code_or_id).strip().upper()
            row = self._db.execute("SELECT id FROM episodes WHERE ack_code = ?", (code,)).fetchone()
        if row is None:
            raise UnknownAlert(f"no alert with code or id {code_or_id!r}")
        return int(row[0])

    # -- reading ---------------------------------------------------------------------------

    _COLUMNS = (
        "fingerprint, labels, severity, state, starts_at, updated_at, annotations, fired_at, "
        "acknowledged_at, acknowledged_by, ends_at"
    )

    @staticmethod
    def _alert(row: Any) -> Alert:
        fp, labels, severity, state, starts, updated, annotations, fired, acked, by, ends = row
        return Alert(
            fingerprint=fp,
            labels=json.loads(labels),
            severity=Severity(severity),
            state=AlertState(state),
            starts_at=datetime.fromisoformat(starts),
            updated_at=datetime.fromisoformat(updated),
            annotations=json.loads(annotations),
            fired_at=_dt(fired),
            acknowledged_at=_dt(acked),
            acknowledged_by=by,
            ends_at=_dt(ends),
        )

    def get(self, episode: int) -> Alert:
        with self._lock:
            row = self._db.execute(
                f"SELECT {self._COLUMNS} FROM episodes WHERE id = ?", (episode,)
            ).fetchone()
        if row is None:
            raise UnknownAlert(f"no alert with id {episode}")
        return self._alert(row)

    def open_alerts(self) -> dict[int, Alert]:
        """Every episode not resolved (pending, firing, acknowledged), by id."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, {self._COLUMNS} FROM episodes WHERE state != 'resolved' ORDER BY id"
            ).fetchall()
        return {int(row[0]): self._alert(row[1:]) for row in rows}

    def episode_of(self, fingerprint: str, *, resolved: bool = False) -> int | None:
        """The open episode of a fingerprint, if any; with ``resolved``, its latest episode
        even if it has ended (an all-clear message asks whether the alert was useful)."""
        query = (
            "SELECT id FROM episodes WHERE fingerprint = ? ORDER BY id DESC LIMIT 1"
            if resolved
            else "SELECT id FROM episodes WHERE fingerprint = ? AND state != 'resolved'"
        )
        with self._lock:
            row = self._db.execute(query, (fingerprint,)).fetchone()
        return None if row is None else int(row[0])

    def recent(self, limit: int = 100, state: AlertState | None = None) -> list[tuple[int, Alert]]:
        """The latest episodes first (for the API and the dashboard)."""
        where, args = ("WHERE state = ?", (state.value, limit)) if state else ("", (limit,))
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, {self._COLUMNS} FROM episodes {where} ORDER BY id DESC LIMIT ?", args
            ).fetchall()
        return [(int(row[0]), self._alert(row[1:])) for row in rows]

    def episodes_between(self, start: datetime, end: datetime) -> list[tuple[int, Alert]]:
        """Every episode that started in [start, end), oldest first (exports, reports)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, {self._COLUMNS} FROM episodes WHERE starts_at >= ? AND starts_at < ? "
                "ORDER BY starts_at, id",
                (_ts(start), _ts(end)),
            ).fetchall()
        return [(int(row[0]), self._alert(row[1:])) for row in rows]

    def ack_code(self, episode: int) -> str:
        with self._lock:
            row = self._db.execute(
                "SELECT ack_code FROM episodes WHERE id = ?", (episode,)
            ).fetchone()
        if row is None:
            raise UnknownAlert(f"no alert with id {episode}")
        return str(row[0])

    def history(self, episode: int) -> list[tuple[datetime, str, str]]:
        """(when, state, detail) of every change of an episode, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT at, state, detail FROM history WHERE episode = ? ORDER BY rowid",
                (episode,),
            ).fetchall()
        return [(datetime.fromisoformat(at), state, detail) for at, state, detail in rows]

    # -- small persisted values (dispatcher state, silences) -------------------------------

    def put(self, key: str, value: object) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value, ensure_ascii=False)),
            )

    def fetch(self, key: str) -> object | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    # -- "was this useful?" ----------------------------------------------------------------

    def add_feedback(
        self, episode: int, answer: Answer | str, who: str, at: datetime, channel: Channel | str,
        comment: str | None = "",
    ) -> Feedback:  # fmt: skip
        """Store one person's answer about an episode (any state: a resolved alert too).

        ``who`` identifies the person (a token's name, ``link:<name>``, ``sms:<number>``); a
        later answer of the same person replaces this one in the figures, and both stay in
        :meth:`feedback_history`. Raises UnknownAlert, or ValueError for a bad answer.
        """
        given = Feedback(
            episode, who.strip()[:120] or "?", Answer(answer), clean_comment(comment),
            at.astimezone(UTC), Channel(channel),
        )  # fmt: skip
        with self._tx() as db:
            if db.execute("SELECT 1 FROM episodes WHERE id = ?", (episode,)).fetchone() is None:
                raise UnknownAlert(f"no alert with id {episode}")
            db.execute(
                "INSERT INTO feedback (episode, who, answer, comment, at, channel) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (episode, given.who, given.answer.value, given.comment, _ts(given.at),
                 given.channel.value),
            )  # fmt: skip
        return given

    _LATEST = (
        "SELECT f.episode, f.who, f.answer, f.comment, f.at, f.channel FROM feedback f "
        "WHERE f.id IN (SELECT MAX(id) FROM feedback GROUP BY episode, who)"
    )

    @staticmethod
    def _feedback(row: Any) -> Feedback:
        episode, who, answer, comment, at, channel = row
        return Feedback(
            int(episode), who, Answer(answer), comment, datetime.fromisoformat(at),
            Channel(channel),
        )  # fmt: skip

    def feedback(self, episode: int) -> list[Feedback]:
        """The current answers about one episode (each person's latest), oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"{self._LATEST} AND f.episode = ? ORDER BY f.id", (episode,)
            ).fetchall()
        return [self._feedback(row) for row in rows]

    def feedback_history(self, episode: int) -> list[Feedback]:
        """Every answer ever given about one episode, superseded ones too, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT episode, who, answer, comment, at, channel FROM feedback "
                "WHERE episode = ? ORDER BY id",
                (episode,),
            ).fetchall()
        return [self._feedback(row) for row in rows]

    def answered_between(self, start: datetime, end: datetime) -> list[tuple[Feedback, Alert]]:
        """The current answers about episodes that started in [start, end), with the alert."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT f.episode, f.who, f.answer, f.comment, f.at, f.channel, "
                f"{', '.join('e.' + c.strip() for c in self._COLUMNS.split(','))} "
                f"FROM ({self._LATEST}) f JOIN episodes e ON e.id = f.episode "
                "WHERE e.starts_at >= ? AND e.starts_at < ? ORDER BY f.episode, f.at",
                (_ts(start), _ts(end)),
            ).fetchall()
        return [(self._feedback(row[:6]), self._alert(row[6:])) for row in rows]

    def add_report_feedback(
        self, report: str, answer: ReportAnswer | str, who: str, at: datetime,
        channel: Channel | str, comment: str | None = "",
    ) -> ReportFeedback:  # fmt: skip
        """Store one person's answer about a report (``kind:scope:period``)."""
        given = ReportFeedback(
            report, who.strip()[:120] or "?", ReportAnswer(answer), clean_comment(comment),
            at.astimezone(UTC), Channel(channel),
        )  # fmt: skip
        with self._tx() as db:
            db.execute(
                "INSERT INTO report_feedback (report, who, answer, comment, at, channel) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (given.report, given.who, given.answer.value, given.comment, _ts(given.at),
                 given.channel.value),
            )  # fmt: skip
        return given

    def report_feedback(self, report: str | None = None) -> list[ReportFeedback]:
        """The current answers (each person's latest) about one report, or about all."""
        where, args = ("AND report = ?", (report,)) if report is not None else ("", ())
        with self._lock:
            rows = self._db.execute(
                "SELECT report, who, answer, comment, at, channel FROM report_feedback WHERE id IN "
                f"(SELECT MAX(id) FROM report_feedback GROUP BY report, who) {where} ORDER BY id",
                args,
            ).fetchall()
        return [
            ReportFeedback(r, w, ReportAnswer(a), c, datetime.fromisoformat(at), Channel(ch))
            for r, w, a, c, at, ch in rows
        ]

    def signing_key(self, name: str = "report-links") -> bytes:
        """A random key kept in this file (made on first use), for signed public links: the
        report writer and the API read the same alert store, so no new setting is needed."""
        with self._tx() as db:
            row = db.execute("SELECT value FROM kv WHERE key = ?", (f"key:{name}",)).fetchone()
            if row is None:
                value = secrets.token_hex(32)
                db.execute(
                    "INSERT INTO kv (key, value) VALUES (?, ?)",
                    (f"key:{name}", json.dumps(value)),
                )
            else:
                value = json.loads(row[0])
        return bytes.fromhex(value)
