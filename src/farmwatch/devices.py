"""Per-device MQTT credentials, and the broker's password and ACL files made from them.

Every node gets its own username (``{farm}/{node}``: IDs cannot contain ``/``, so the name says
unambiguously which node it is) and a random password shown once, at ``farmwatch devices
add``. The ACL lets a node publish only its own telemetry, status and command
acknowledgements, and read only its own config and commands; a stolen Pi cannot speak for
another pond. Services (ingest, analytics, alerting, the API) get ``farmwatch-{name}`` accounts
that read and write the deployment's ``farms/#``.

The accounts live in ``devices.json`` in the data directory with PBKDF2 hashes only (never the
password). ``write_broker_files`` renders mosquitto's ``password_file`` (its own ``$7$`` format:
PBKDF2-HMAC-SHA512, 101 iterations, 12-byte salt, as ``mosquitto_passwd`` writes it) and
``acl_file``; mosquitto re-reads both on SIGHUP, so a revoked node is refused at its next
connection without restarting the broker.

    >>> registry = DeviceRegistry(None)
    >>> username, password = registry.add_node("pond-01", "n1")
    >>> username, len(password) >= 24
    ('pond-01/n1', True)
    >>> print(node_acl("pond-01", "n1", prefix=""))
    user pond-01/n1
    topic write farms/pond-01/nodes/n1/telemetry
    topic write farms/pond-01/nodes/n1/status
    topic write farms/pond-01/nodes/n1/cmd/+/ack
    topic read farms/pond-01/nodes/n1/config
    topic read farms/pond-01/nodes/n1/cmd/+
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from farmwatch_core.contract.topics import validate_id, validate_prefix

__all__ = ["Account", "DeviceRegistry", "mosquitto_hash", "node_acl", "verify_mosquitto_hash"]

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for the $7$ format (mosquitto 2.x)
SALT_BYTES = 12


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """A password in mosquitto's ``$7$`` format (PBKDF2-HMAC-SHA512)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return (
        f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}"
        f"${base64.b64encode(digest).decode()}"
    )


def verify_mosquitto_hash(password: str, stored: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash (what the broker checks)."""
    _, version, iterations, salt, digest = stored.split("$")
    if version != "7":
        return False
    again = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), base64.b64decode(salt), int(iterations)
    )
    return secrets.compare_digest(base64.b64encode(again).decode(), digest)


def node_acl(farm: str, node: str, prefix: str = "") -> str:
    """The ACL block of one node: its own topics only."""
    head = f"{validate_prefix(prefix)}/" if prefix else ""
    base = f"{head}farms/{farm}/nodes/{node}"
    return "\n".join(
        [
            f"user {farm}/{node}",
            f"topic write {base}/telemetry",
            f"topic write {base}/status",
            f"topic write {base}/cmd/+/ack",
            f"topic read {base}/config",
            f"topic read {base}/cmd/+",
        ]
    )


def service_acl(name: str, prefix: str = "") -> str:
    head = f"{validate_prefix(prefix)}/" if prefix else ""
    return f"user farmwatch-{name}\ntopic readwrite {head}farms/#"


@dataclass(slots=True)
class Account:
    username: str
    role: str  # "node" or "service"
    password_hash: str
    created_at: str
    farm: str | None = None
    node: str | None = None
    revoked_at: str | None = None


class DeviceRegistry:
    """The deployment's MQTT accounts, in ``path`` (JSON; ``None`` keeps them in memory)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.accounts: dict[str, Account] = {}
        if path is not None and path.exists():
            for item in json.loads(path.read_text(encoding="utf-8")):
                account = Account(**item)
                self.accounts[account.username] = account

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        body = json.dumps([asdict(a) for a in self.accounts.values()], indent=1)
        tmp.write_text(body, encoding="utf-8")
        tmp.chmod(0o600)  # hashes only, but nobody else's business
        tmp.replace(self.path)

    def _add(self, username: str, role: str, farm: str | None, node: str | None) -> str:
        existing = self.accounts.get(username)
        if existing is not None and existing.revoked_at is None:
            raise ValueError(
                f"{username} already has credentials; revoke them first to issue new ones"
            )
        password = secrets.token_urlsafe(24)
        now = datetime.now(UTC).isoformat()
        self.accounts[username] = Account(
            username, role, mosquitto_hash(password), now, farm=farm, node=node
        )
        self._save()
        return password

    def add_node(self, farm: str, node: str) -> tuple[str, str]:
        """New credentials for a node: (username, password). The password is not stored."""
        validate_id("farm", farm)
        validate_id("node", node)
        username = f"{farm}/{node}"
        return username, self._add(username, "node", farm, node)

    def add_service(self, name: str) -> tuple[str, str]:
        validate_id("service", name)
        username = f"farmwatch-{name}"
        return username, self._add(username, "service", None, None)

    def revoke(self, username: str) -> Account:
        account = self.accounts.get(username)
        if account is None or account.revoked_at is not None:
            raise KeyError(f"no active account {username!r}")
        account.revoked_at = datetime.now(UTC).isoformat()
        self._save()
        return account

    def active(self) -> list[Account]:
        return [a for a in self.accounts.values() if a.revoked_at is None]

    def write_broker_files(self, password_file: Path, acl_file: Path, prefix: str = "") -> None:
        """Render mosquitto's password and ACL files for the active accounts (atomically)."""
        passwords = "".join(f"{a.username}:{a.password_hash}\n" for a in self.active())
        blocks = [
            node_acl(a.farm or "", a.node or "", prefix)
            if a.role == "node"
            else service_acl(a.username.removeprefix("farmwatch-"), prefix)
            for a in self.active()
        ]
        acl = "# generated by `farmwatch devices`: do not edit\n\n" + "\n\n".join(blocks) + "\n"
        for path, text in ((password_file, passwords), (acl_file, acl)):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.chmod(0o640)
            tmp.replace(path)
