"""Zalo: a ZNS (Zalo Notification Service) template message to the farmer's phone number.

Most Vietnamese farmers read Zalo, not e-mail or SMS. A Zalo Official Account (OA) sends
*template* messages: Zalo approves a template once, with named parameters, and each message
fills them in. The request (as the implementation assumes it from Zalo's documentation,
https://developers.zalo.me/docs/zalo-notification-service/ and its error table at
https://zalo.cloud/zns/guidelines/handle-error-code)::

    POST {base_url}/message/template
    access_token: <OA access token>
    Content-Type: application/json
    {"phone": "84912345678", "template_id": "123456", "template_data": {...},
     "tracking_id": "<notification id>"}

and the answer is JSON with ``"error": 0`` on success, a negative code otherwise. The
template's parameters are :data:`TEMPLATE_PARAMETERS` (see docs/alerting.md, "Channels").

    >>> normalise_phone("0912 345 678"), normalise_phone("+84-912-345-678")
    ('84912345678', '84912345678')
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from farmwatch_core.timefmt import DISPLAY_TZ

from farmwatch_alerting.channels.http_results import (
    PooledHttp,
    classify_status,
    transport_error,
)
from farmwatch_alerting.notification import DeliveryResult, Notification

__all__ = [
    "DEFAULT_BASE_URL",
    "TEMPLATE_PARAMETERS",
    "ZaloChannel",
    "normalise_phone",
    "template_data",
]

DEFAULT_BASE_URL = "https://business.openapi.zalo.me"
TEMPLATE_PATH = "/message/template"

# Parameter -> the longest value a ZNS parameter of that type accepts (characters). ZNS checks
# each value against its type's limit when the template is approved ("custom label" 30,
# "quantity/amount" 20, "code" 30 — the parameter-type table of Zalo's template editor). Values
# are cut to fit here rather than rejected by Zalo with -112 "Template data invalid".
TEMPLATE_PARAMETERS: dict[str, int] = {
    "farm": 30,  # farm or pond/barn name: "Trại cá Thanh Hà"
    "node": 30,  # where: "Ao 2"
    "what": 30,  # the problem: "Oxy hòa tan thấp"
    "value": 20,  # the value with its unit: "2,1 mg/L"
    "limit": 20,  # the limit it crossed: "3,0 mg/L"
    "since": 20,  # local time it began: "03:15 16/07"
    "action": 30,  # what to do: "Bật máy sục khí ao 2"
    "ack_code": 30,  # reply code or short link id to acknowledge
}

# Error codes (the "error" field). Anything not listed is a problem with this message or the
# OA's set-up that retrying will not fix (template, phone, user refusing ZNS...).
TOKEN_ERRORS = {-124: "access token invalid or expired"}
RETRYABLE_ERRORS = {
    -100: "unknown error at Zalo",
    -144: "the OA reached its daily ZNS quota",  # assumed code; retried until max age
    -133: "outside the hours ZNS may be sent",  # assumed code; retried until max age
}
TRACKING_ID_MAX = 48  # ZNS keeps tracking ids of up to 48 characters (assumed)

_PHONE_NOISE = re.compile(r"[\s.\-()]")
_VN_MOBILE = re.compile(r"84[35789]\d{8}")


def normalise_phone(phone: str) -> str | None:
    """A Vietnamese mobile number in ZNS's international form (84 + 9 digits), or None.

    Accepts the local form (0912345678), +84/0084 prefixes and spaces, dots or dashes.

    >>> normalise_phone("0912345678"), normalise_phone("84912345678"), normalise_phone("12345")
    ('84912345678', '84912345678', None)
    """
    digits = _PHONE_NOISE.sub("", phone)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = "84" + digits[1:]
    return digits if _VN_MOBILE.fullmatch(digits) else None


def _cut(value: str, limit: int) -> str:
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _since(alert: Mapping[str, Any]) -> str:
    raw = alert.get("fired_at") or alert.get("starts_at")
    if not raw:
        return ""
    return datetime.fromisoformat(str(raw)).astimezone(DISPLAY_TZ).strftime("%H:%M %d/%m")


def template_data(notification: Notification) -> dict[str, str]:
    """The template's parameters from the notification's first alert and its ack code.

    The first alert is the one the message leads with (templates sort by severity). Its
    annotations give names, values and the action as the message templates use them
    (``farm_name``, ``node_name``, ``summary``, ``value``/``limit`` with ``unit``,
    ``action_vi``/``action_en``); labels are the fall-back.
    """
    alert: Mapping[str, Any] = notification.alerts[0] if notification.alerts else {}
    labels: Mapping[str, str] = alert.get("labels", {})
    notes: Mapping[str, str] = alert.get("annotations", {})
    unit = notes.get("unit", "")
    action = (
        notes.get(f"action_{notification.language}")
        or notes.get("action_vi")
        or notes.get("action")
    )
    raw = {
        "farm": notes.get("farm_name") or labels.get("farm", ""),
        "node": notes.get("node_name") or labels.get("node", ""),
        "what": notes.get("summary") or notification.subject,
        "value": f"{notes.get('value', '')} {unit}" if notes.get("value") else "",
        "limit": f"{notes.get('limit', '')} {unit}" if notes.get("limit") else "",
        "since": _since(alert),
        "action": action or "",
        "ack_code": notification.ack_code or "",
    }
    return {name: _cut(raw[name], limit) for name, limit in TEMPLATE_PARAMETERS.items()}


def tracking_id(notification_id: str) -> str:
    """The notification id, or a stable hash of it when it is longer than ZNS keeps."""
    if len(notification_id) <= TRACKING_ID_MAX:
        return notification_id
    return hashlib.sha256(notification_id.encode()).hexdigest()[:TRACKING_ID_MAX]


class ZaloChannel(PooledHttp):
    """Sends each notification as one ZNS template message to ``notification.to`` (a phone)."""

    def __init__(
        self,
        name: str,
        access_token: str,
        template_id: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.access_token = access_token
        self.template_id = template_id
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def send(self, notification: Notification) -> DeliveryResult:
        phone = normalise_phone(notification.to)
        if phone is None:
            return DeliveryResult.fail(
                f"Zalo: {notification.to!r} is not a Vietnamese mobile number "
                "(expected 0912345678 or 84912345678)"
            )
        body = {
            "phone": phone,
            "template_id": self.template_id,
            "template_data": template_data(notification),
            "tracking_id": tracking_id(notification.id),
        }
        try:
            response = self._http().post(
                self.base_url + TEMPLATE_PATH,
                json=body,
                headers={"access_token": self.access_token},
            )
        except httpx.TransportError as exc:
            return transport_error(exc, "Zalo")
        except httpx.HTTPError as exc:
            return DeliveryResult.fail(f"Zalo {type(exc).__name__}: {exc}")
        if not 200 <= response.status_code < 300:
            return classify_status(response.status_code, response.headers, response.text, "Zalo")
        return _classify_answer(response)


def _classify_answer(response: httpx.Response) -> DeliveryResult:
    try:
        answer = response.json()
        code = int(answer["error"])
    except (ValueError, KeyError, TypeError):
        # A 200 that is not ZNS's JSON: a proxy or captive portal answered. Try again later.
        return DeliveryResult.retry(f"Zalo: unreadable answer {response.text[:200]!r}")
    message = str(answer.get("message", ""))
    if code == 0:
        msg_id = (answer.get("data") or {}).get("msg_id", "")
        return DeliveryResult.success(f"Zalo msg_id {msg_id}".strip())
    detail = f"Zalo error {code} {message}".rstrip()
    if code in TOKEN_ERRORS:
        return DeliveryResult.fail(
            f"{detail}: {TOKEN_ERRORS[code]}; refresh the Zalo OA access token "
            "(Zalo for Developers → the OA's app → refresh_token) and update the secret"
        )
    if code in RETRYABLE_ERRORS:
        return DeliveryResult.retry(f"{detail}: {RETRYABLE_ERRORS[code]}")
    return DeliveryResult.fail(detail)
