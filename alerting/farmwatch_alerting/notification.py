"""What leaves farmwatch for a phone: a rendered notification, and the channel interface.

Routing decides *who* hears about *which alerts* and *why now* (a :class:`Notice`); templates
turn a notice into text for one contact (a :class:`Notification`); a :class:`Channel` delivers
it. A channel never raises for a failed delivery: it returns a :class:`DeliveryResult` saying
whether trying again could help (a timeout, HTTP 5xx, SMTP 4xx) or not (a bad address, a
rejected token), as Alertmanager's notifiers do, so the outbox retries only what can succeed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from farmwatch_alerting.alert import Alert

__all__ = ["Channel", "DeliveryResult", "Notice", "NoticeReason", "Notification"]


class NoticeReason(StrEnum):
    NEW = "new"  # a group's first notification (after group_wait)
    UPDATE = "update"  # alerts joined or left the group (after group_interval)
    REPEAT = "repeat"  # still firing, nobody acknowledged (after repeat_interval)
    ESCALATION = "escalation"  # critical, not acknowledged in time: the next level hears of it
    RESOLVED = "resolved"  # every alert of the group has ended


@dataclass(frozen=True, slots=True)
class Notice:
    """Routing's decision: tell ``receiver`` about ``alerts`` (one group) now, for ``reason``."""

    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    alerts: Sequence[Alert]
    reason: NoticeReason
    at: datetime
    escalation_level: int = 0  # 0 the first receiver, 1 the next level, ...


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for one contact on one channel, ready to send (and to retry as is).

    ``id`` is unique and stable across retries (channels that support it use it as the
    idempotency key); ``text`` is the full message, ``short_text`` the SMS-length variant
    (≤ 160 GSM-7 characters or 70 UCS-2, as Vietnamese with diacritics needs).
    """

    id: str
    channel: str  # the configured channel's name ("zalo", "sms", "email-coop", ...)
    to: str  # phone number, e-mail address, chat id, webhook URL... as the channel reads it
    subject: str
    text: str
    short_text: str
    language: str  # "vi" or "en"
    severity: str
    receiver: str
    reason: str
    created_at: datetime
    ack_url: str | None = None
    ack_code: str | None = None
    alerts: Sequence[Mapping[str, Any]] = field(default_factory=tuple)  # Alert.as_json() each


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    retryable: bool = False
    detail: str = ""  # what happened, for the audit log ("HTTP 503", "550 no such user")

    @classmethod
    def success(cls, detail: str = "") -> DeliveryResult:
        return cls(True, False, detail)

    @classmethod
    def retry(cls, detail: str) -> DeliveryResult:
        return cls(False, True, detail)

    @classmethod
    def fail(cls, detail: str) -> DeliveryResult:
        return cls(False, False, detail)


class Channel(Protocol):
    """One way of reaching people. ``send`` must not raise for a failed delivery."""

    name: str

    def send(self, notification: Notification) -> DeliveryResult: ...
