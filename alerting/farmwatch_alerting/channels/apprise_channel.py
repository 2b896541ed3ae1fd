"""Apprise: Telegram, ntfy, SMS gateways and a hundred other services behind one URL each.

Each configured URL is its own Apprise object, so the channel knows which service accepted
the message. Services whose messages are SMS-sized (Apprise's ``body_maxlen`` ≤ 160, e.g.
Twilio, Vonage, ClickSend, httpSMS) get ``short_text`` and no title; the others the subject as
title and the full ``text`` (plus the acknowledge link). ``short`` in the configuration
overrides the guess.

Apprise reports only success or failure per service, not why, so every failure is retryable
(the detail carries Apprise's own log lines). On a retry, services that already accepted
this notification in this process are skipped, so one failing URL does not make the others
repeat themselves; after a restart they may (at-least-once).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Sequence

import apprise

from farmwatch_alerting.notification import DeliveryResult, Notification

__all__ = ["SMS_BODY_MAX", "AppriseChannel"]

SMS_BODY_MAX = 160  # one GSM-7 SMS (3GPP TS 23.038); Apprise's SMS plugins declare this
_REMEMBERED = 1024  # (notification, url) pairs kept to skip on retry

_NOTIFY_TYPE = {
    "critical": apprise.NotifyType.FAILURE,
    "warning": apprise.NotifyType.WARNING,
    "info": apprise.NotifyType.INFO,
}


class AppriseChannel:
    """Sends each notification to every configured Apprise URL."""

    def __init__(
        self,
        name: str,
        urls: Sequence[str],
        *,
        short: bool | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self._targets: list[tuple[str, apprise.Apprise, bool]] = []
        for url in urls:
            target = apprise.Apprise()
            with warnings.catch_warnings():
                # Apprise loads its plugins on first use; its e-mail plugin imports PGPy's
                # `imghdr` shim, deprecated since Python 3.11 (PEP 594). Not ours to fix, and
                # harmless: keep it from failing start-up where warnings are errors.
                warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
                added = target.add(url)
            if not added:
                scheme, number = url.partition("://")[0], len(self._targets) + 1
                raise ValueError(f"Apprise cannot use the {scheme}:// URL number {number}")
            is_short = short if short is not None else _sms_sized(target)
            # Apprise's own privacy view masks tokens and passwords for the audit log.
            shown = target.urls(privacy=True)[0].split("?", 1)[0]
            self._targets.append((shown, target, is_short))
        self._delivered: OrderedDict[tuple[str, int], None] = OrderedDict()

    @property
    def services(self) -> list[tuple[str, bool]]:
        """Each URL as shown in logs (secrets masked) and whether it gets ``short_text``."""
        return [(shown, is_short) for shown, _, is_short in self._targets]

    def send(self, notification: Notification) -> DeliveryResult:
        notify_type = (
            apprise.NotifyType.SUCCESS
            if notification.reason == "resolved"
            else _NOTIFY_TYPE.get(notification.severity, apprise.NotifyType.INFO)
        )
        failures: list[str] = []
        sent: list[str] = []
        for index, (shown, target, is_short) in enumerate(self._targets):
            key = (notification.id, index)
            if key in self._delivered:
                continue
            if is_short:
                body, title = notification.short_text, ""
            else:
                body, title = notification.text, notification.subject
                if notification.ack_url:
                    body += f"\n\n{notification.ack_url}"
            result = target.notify(
                body=body, title=title, notify_type=notify_type, timeout=self.timeout_s
            )
            if result:
                self._remember(key)
                sent.append(shown)
                continue
            logs = " | ".join(entry.message for entry in result.logs())
            failures.append(f"{shown}: {logs or result.status.name}")
        if failures:
            return DeliveryResult.retry("Apprise failed for " + "; ".join(failures))
        return DeliveryResult.success("Apprise accepted by " + ", ".join(sent or ["(earlier)"]))

    def _remember(self, key: tuple[str, int]) -> None:
        self._delivered[key] = None
        while len(self._delivered) > _REMEMBERED:
            self._delivered.popitem(last=False)


def _sms_sized(target: apprise.Apprise) -> bool:
    return any(0 < service.body_maxlen <= SMS_BODY_MAX for service in target)
