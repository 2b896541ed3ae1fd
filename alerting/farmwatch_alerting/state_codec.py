"""JSON-able forms of alerts and notices, for the dispatcher's persisted state.

``Alert.as_json()`` is the outward view (webhooks, the API); this module reads it back, so
the dispatcher's state is plain JSON the store can keep in one SQLite row.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 7, 15, 20, tzinfo=UTC)
    >>> a = Alert.new({"alertname": "DoLow", "farm": "pond-01"}, Severity.CRITICAL, t).fire(t)
    >>> alert_from_dict(a.as_json()) == a
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from farmwatch_alerting.alert import Alert, AlertState, Severity
from farmwatch_alerting.notification import Notice, NoticeReason

__all__ = ["alert_from_dict", "alert_sort_key", "notice_from_dict", "notice_to_dict"]


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def alert_from_dict(data: Mapping[str, Any]) -> Alert:
    """The inverse of :meth:`Alert.as_json`."""
    starts = _time(data["starts_at"])
    updated = _time(data["updated_at"])
    if starts is None or updated is None:
        raise ValueError("an alert needs starts_at and updated_at")
    return Alert(
        fingerprint=str(data["fingerprint"]),
        labels=dict(data["labels"]),
        severity=Severity(data["severity"]),
        state=AlertState(data["state"]),
        starts_at=starts,
        updated_at=updated,
        annotations=dict(data.get("annotations") or {}),
        fired_at=_time(data.get("fired_at")),
        acknowledged_at=_time(data.get("acknowledged_at")),
        acknowledged_by=data.get("acknowledged_by"),
        ends_at=_time(data.get("ends_at")),
    )


def alert_sort_key(alert: Alert) -> tuple[datetime, list[tuple[str, str]]]:
    """Notices list their alerts oldest first, then by labels (a stable, readable order)."""
    return (alert.fired_at or alert.starts_at, sorted(alert.labels.items()))


def notice_to_dict(notice: Notice) -> dict[str, Any]:
    return {
        "receiver": notice.receiver,
        "group_key": notice.group_key,
        "group_labels": dict(notice.group_labels),
        "alerts": [a.as_json() for a in notice.alerts],
        "reason": notice.reason.value,
        "at": notice.at.isoformat(),
        "escalation_level": notice.escalation_level,
    }


def notice_from_dict(data: Mapping[str, Any]) -> Notice:
    return Notice(
        receiver=str(data["receiver"]),
        group_key=str(data["group_key"]),
        group_labels=dict(data["group_labels"]),
        alerts=tuple(alert_from_dict(a) for a in data["alerts"]),
        reason=NoticeReason(data["reason"]),
        at=datetime.fromisoformat(data["at"]),
        escalation_level=int(data.get("escalation_level", 0)),
    )
