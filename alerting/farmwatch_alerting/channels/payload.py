"""A notification as JSON: the body of webhooks and MQTT messages, and the outbox's record.

One function each way, so what a webhook receiver sees and what the outbox stores after a
restart are the same fields with the same spelling. Times are ISO 8601 in UTC with ``Z``, as
in :meth:`Alert.as_json`; text is kept as is (Vietnamese is encoded as UTF-8, never escaped
into ``\\u`` sequences, so byte counts match what a phone shows).

    >>> from datetime import UTC, datetime
    >>> n = Notification("n-1", "zalo", "0912345678", "Oxy thấp", "Ao 2: oxy 2,1 mg/L",
    ...     "Ao 2 oxy 2,1", "vi", "critical", "farmer", "new",
    ...     datetime(2026, 7, 15, 20, tzinfo=UTC))
    >>> notification_from_json(notification_to_json(n)) == n
    True
    >>> notification_to_json(n)["created_at"]
    '2026-07-15T20:00:00Z'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from farmwatch_alerting.notification import Notification

__all__ = ["dumps", "envelope", "notification_from_json", "notification_to_json"]


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def notification_to_json(notification: Notification) -> dict[str, Any]:
    """Every field of ``notification`` as JSON-able values (alerts as given)."""
    return {
        "id": notification.id,
        "channel": notification.channel,
        "to": notification.to,
        "subject": notification.subject,
        "text": notification.text,
        "short_text": notification.short_text,
        "language": notification.language,
        "severity": notification.severity,
        "receiver": notification.receiver,
        "reason": notification.reason,
        "created_at": _iso(notification.created_at),
        "ack_url": notification.ack_url,
        "ack_code": notification.ack_code,
        "alerts": [dict(alert) for alert in notification.alerts],
    }


def notification_from_json(body: dict[str, Any]) -> Notification:
    """The inverse of :func:`notification_to_json` (alerts come back as a tuple of dicts)."""
    fields = dict(body)
    fields["created_at"] = datetime.fromisoformat(fields["created_at"])
    fields["alerts"] = tuple(fields.get("alerts", ()))
    return Notification(**fields)


def envelope(
    notification: Notification, alerts: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """What webhooks and MQTT carry: ``{"version": "1", "notification": {...}, "alerts": [...]}``.

    The notification without its alerts, and the alerts beside it (``alerts`` narrows them,
    e.g. to one farm's for the MQTT channel).
    """
    head = notification_to_json(notification)
    everything = head.pop("alerts")
    chosen = everything if alerts is None else [dict(alert) for alert in alerts]
    return {"version": "1", "notification": head, "alerts": chosen}


def dumps(body: Any) -> bytes:
    """Compact UTF-8 JSON without ``\\u`` escapes (what the channels put on the wire)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
