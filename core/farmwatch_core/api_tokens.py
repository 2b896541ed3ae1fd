"""API tokens: issued once, stored only as a hash, checked in constant time, revocable.

A token is ``fwt_<id>_<secret>``: the id (8 hex digits) is public — ``farmwatch tokens list``
shows it and ``revoke`` takes it — and picks the row; the secret is 32 random bytes
(``secrets.token_urlsafe``), so a SHA-256 of the whole token is enough to store (nothing to
brute-force, unlike a password, hence no slow KDF) and ``hmac.compare_digest`` compares it.
The token itself is printed once by ``farmwatch tokens add`` and never stored or logged.

The store is a small SQLite file under the data directory (``api-tokens.db``, mode 0600),
in WAL mode so the CLI can add or revoke while the API reads it: the API looks a token up on
every request, so a revocation takes effect at once, with no restart.

    >>> import tempfile, pathlib
    >>> from farmwatch_core.access import Grant, Role
    >>> store = TokenStore(pathlib.Path(tempfile.mkdtemp()) / "t.db")
    >>> info, token = store.issue(Grant("Sơn", Role.FARMER, farms=("pond-01",)))
    >>> store.verify(token).grant.farms, store.verify(token + "x"), store.verify("nonsense")
    (('pond-01',), None, None)
    >>> [t.id for t in store.revoke(info.id)] == [info.id], store.verify(token), store.has_active()
    (True, None, False)
    >>> store.close()
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from farmwatch_core.access import Grant, Role

__all__ = ["TOKENS_FILE", "TokenInfo", "TokenStore"]

TOKENS_FILE = "api-tokens.db"
_TOKEN = re.compile(r"^fwt_([0-9a-f]{8})_[A-Za-z0-9_-]{40,64}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    farms TEXT NOT NULL,
    cooperative TEXT,
    districts TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token without its secret."""

    id: str
    grant: Grant
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class TokenStore:
    """The token file; safe to share between the API's threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if fresh:
            path.chmod(0o600)  # hashes only, but nobody else needs to read who has access
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()
        self.path = path

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def issue(self, grant: Grant) -> tuple[TokenInfo, str]:
        """A new token for ``grant``: its info, and the token text (shown once, never stored)."""
        with self._lock:
            while True:
                token_id = secrets.token_hex(4)
                if not self._db.execute(
                    "SELECT 1 FROM tokens WHERE id = ?", (token_id,)
                ).fetchone():
                    break
            token = f"fwt_{token_id}_{secrets.token_urlsafe(32)}"
            created = _now()
            self._db.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    token_id, grant.name, grant.role.value, json.dumps(list(grant.farms)),
                    grant.cooperative, json.dumps(list(grant.districts)), _digest(token), created,
                ),
            )  # fmt: skip
        return TokenInfo(token_id, grant, datetime.fromisoformat(created), None), token

    def verify(self, token: str) -> TokenInfo | None:
        """The active token this is, or None (unknown, malformed, revoked or wrong secret)."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM tokens WHERE id = ? AND revoked_at IS NULL", (match[1],)
            ).fetchone()
        if row is None or not hmac.compare_digest(row[6], _digest(token)):
            return None
        return _info(row)

    def has_active(self) -> bool:
        with self._lock:
            return bool(
                self._db.execute("SELECT 1 FROM tokens WHERE revoked_at IS NULL LIMIT 1").fetchone()
            )

    def tokens(self) -> list[TokenInfo]:
        """Every token, revoked ones too (for the record), oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM tokens ORDER BY created_at, id"
            ).fetchall()
        return [_info(r) for r in rows]

    def revoke(self, id_or_name: str) -> list[TokenInfo]:
        """Revoke the token with this id, or every active token issued to this name.

        Raises KeyError naming what was not found.
        """
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM tokens WHERE revoked_at IS NULL AND (id = ? OR name = ?)",
                (id_or_name, id_or_name),
            ).fetchall()
            if not rows:
                raise KeyError(f"no active token with id or name {id_or_name!r}")
            at = _now()
            self._db.executemany(
                "UPDATE tokens SET revoked_at = ? WHERE id = ?", [(at, r[0]) for r in rows]
            )
        return [_info((*r[:8], at)) for r in rows]


_COLUMNS = "id, name, role, farms, cooperative, districts, sha256, created_at, revoked_at"


def _info(row: tuple[object, ...]) -> TokenInfo:
    token_id, name, role, farms, cooperative, districts, _, created, revoked = row
    grant = Grant(
        str(name), Role(str(role)), tuple(json.loads(str(farms))),
        None if cooperative is None else str(cooperative), tuple(json.loads(str(districts))),
    )  # fmt: skip
    return TokenInfo(
        str(token_id), grant, datetime.fromisoformat(str(created)),
        None if revoked is None else datetime.fromisoformat(str(revoked)),
    )  # fmt: skip
