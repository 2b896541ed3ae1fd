"""Notices → messages a farmer can act on, from template files in Vietnamese and English.

The wording lives in ``templates/{vi,en}/`` (Jinja2: ``subject``, ``message``, and ``sms`` for
channels that bill per 160 characters), not in code, so a cooperative can change it without a
release. This module only prepares what the templates print: *what* ("Oxy hòa tan (DO) thấp"),
*where* (the farm's name and the node), the value and the limit with its source, since when in
Hải Dương time, what to do, and how to acknowledge (a short link and a reply code).

Numbers are written the Vietnamese way in Vietnamese (``1,9 mg/L``). SMS text drops the
diacritics: a Vietnamese SMS with them is UCS-2, 70 characters per part instead of 160, and
farmers read "Oxy hoa tan thap" without trouble.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from farmwatch_core.contract import QUANTITIES
from farmwatch_core.contract.derived import DERIVED

from farmwatch_alerting.alert import Alert, AlertState, Severity, severity_rank
from farmwatch_alerting.notification import Notice, NoticeReason, Notification

__all__ = ["Contact", "MessageRenderer", "strip_diacritics"]

TEMPLATES = Path(__file__).parent / "templates"
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
SHOWN_ALERTS = 3  # alerts listed in one message; the rest are counted
SMS_LIMIT = 160

_UNITS = {"degC": "°C", "pH": "", "1": "", "%": "%"}
_SEVERITY = {
    "vi": {Severity.CRITICAL: "Khẩn", Severity.WARNING: "Cảnh báo", Severity.INFO: "Thông tin"},
    "en": {Severity.CRITICAL: "Critical", Severity.WARNING: "Warning", Severity.INFO: "Info"},
}
_ICON = {Severity.CRITICAL: "🔴", Severity.WARNING: "🟠", Severity.INFO: "🔵"}
_DIRECTION = {
    "vi": {"below": "thấp", "above": "cao"},
    "en": {"below": "low", "above": "high"},
}
# Derived 0/1 conditions (pump failure, tank running dry): the label is the whole message;
# "high, value 1 (limit 0.5)" would only confuse.
_FLAGS = frozenset({"pump_failure", "tank_running_dry"})
_KIND = {
    "vi": {
        "NodeOffline": "Mất kết nối nút đo",
        "SensorFault": "Cảm biến có thể hỏng: {q}",
        "ProcessAnomaly": "Bất thường: {q}",
        "Forecast": "Dự báo {q} sắp dưới ngưỡng",
        "LimitBreach": "{q} ngoài ngưỡng",
        "rate_up": "{q} tăng nhanh",
        "rate_down": "{q} giảm nhanh",
    },
    "en": {
        "NodeOffline": "Sensor node offline",
        "SensorFault": "Sensor may be faulty: {q}",
        "ProcessAnomaly": "Unusual: {q}",
        "Forecast": "Forecast: {q} will fall below its limit",
        "LimitBreach": "{q} outside its limit",
        "rate_up": "{q} rising fast",
        "rate_down": "{q} falling fast",
    },
}


def strip_diacritics(text: str) -> str:
    """Vietnamese without its marks, for SMS (GSM-7: 160 characters a part, not 70).

    >>> strip_diacritics("Bật máy sục khí ao Đông")
    'Bat may suc khi ao Dong'
    """
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.encode("ascii", "ignore").decode()


@dataclass(frozen=True, slots=True)
class Contact:
    """Where one person is reached: a channel name, the address it understands, the language.

    Every notification carries both the full text and the one-part SMS text; the channel
    decides which to send (Apprise's SMS services take the short one).
    """

    channel: str
    to: str
    language: str = "vi"


def _number(value: str | None, language: str) -> str:
    if not value:
        return ""
    return value.replace(".", ",") if language == "vi" else value


def _label(subject: str | None, language: str) -> str:
    if not subject:
        return ""
    spec: Any = QUANTITIES.get(subject) or DERIVED.get(subject)
    if spec is None:
        return subject
    return str(spec.label_vi if language == "vi" else spec.label_en)


def _unit(raw: str | None) -> str:
    if not raw:
        return ""
    unit = _UNITS.get(raw, raw)
    return f" {unit}" if unit and unit not in {"%", "°C"} else unit


def _local(ts: datetime, language: str) -> str:
    local = ts.astimezone(LOCAL)
    return local.strftime("%H:%M %d/%m") if language == "vi" else local.strftime("%H:%M %d %b")


def _duration(span: timedelta, language: str) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if language == "vi":
        return f"{hours} giờ {minutes} phút" if hours else f"{minutes} phút"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


class MessageRenderer:
    """Renders notices for contacts; ``ack`` gives an alert's (code, link) for the message."""

    def __init__(
        self,
        ack: Callable[[Alert], tuple[str, str] | None],
        node_names: Mapping[tuple[str, str], str] | None = None,
        templates: Path = TEMPLATES,
    ) -> None:
        self.ack = ack
        self.node_names = dict(node_names or {})
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates)),
            autoescape=False,  # noqa: S701 - plain text for phones, not HTML
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
        )

    def _what(self, alert: Alert, language: str) -> str:
        name = alert.name
        quantity = alert.labels.get("quantity")
        q = _label(quantity, language)
        kinds = _KIND[language]
        if name in kinds:
            return kinds[name].format(q=q or alert.labels.get("detector", ""))
        if "change" in alert.annotations:
            up = not alert.annotations["change"].startswith("-")
            return kinds["rate_up" if up else "rate_down"].format(q=q)
        direction = alert.annotations.get("direction")
        if direction and quantity not in _FLAGS:
            return f"{q} {_DIRECTION[language][direction]}"
        return q or name

    def _where(self, alert: Alert, language: str, short: bool = False) -> str:
        farm = alert.labels.get("farm", "")
        node = alert.labels.get("node", "")
        farm_name = alert.annotations.get("farm_name", farm)
        node_name = self.node_names.get((farm, node), node)
        if short:
            return f"{farm}/{node}"
        word = "nút" if language == "vi" else "node"
        return f"{farm_name} ({word} {node_name})" if node else farm_name

    def _view(self, alert: Alert, language: str) -> dict[str, Any]:
        notes = alert.annotations
        if alert.labels.get("quantity") in _FLAGS:
            notes = {k: v for k, v in notes.items() if k not in {"value", "limit"}}
        since = alert.fired_at or alert.starts_at
        expected = notes.get("expected_at")
        return {
            "what": self._what(alert, language),
            "where": self._where(alert, language),
            "where_short": self._where(alert, language, short=True),
            "value": _number(notes.get("value"), language),
            "limit": _number(notes.get("limit"), language),
            "unit": _unit(notes.get("unit")),
            "cmp": {"below": "<", "above": ">"}.get(notes.get("direction", ""), "/"),
            "limit_source": notes.get("limit_source", ""),
            "since_local": _local(alert.starts_at, language),
            "since_short": alert.starts_at.astimezone(LOCAL).strftime("%H:%M"),
            "ended_local": _local(alert.ends_at or alert.updated_at, language),
            "duration": _duration((alert.ends_at or alert.updated_at) - since, language),
            "expected_local": _local(datetime.fromisoformat(expected), language)
            if expected
            else "",
            "action": notes.get(f"action_{language}") or notes.get("action_vi", ""),
        }

    def render(self, notice: Notice, contact: Contact) -> Notification:
        language = contact.language if contact.language in _SEVERITY else "vi"
        resolved = notice.reason is NoticeReason.RESOLVED
        alerts = sorted(
            notice.alerts,
            key=lambda a: (a.state is AlertState.RESOLVED, -severity_rank(a.severity), a.starts_at),
        )
        if not alerts:
            raise ValueError(f"notice for {notice.receiver} has no alerts")
        first = alerts[0]
        severity = max((a.severity for a in alerts), key=severity_rank)
        # An all-clear carries the link too, for the feedback buttons (not to acknowledge).
        link = self.ack(first)
        ack = None if resolved else link
        context = {
            "first": self._view(first, language),
            "others": [self._view(a, language) for a in alerts[1:SHOWN_ALERTS]],
            "more": max(0, len(alerts) - SHOWN_ALERTS),
            "more_total": len(alerts) - 1,
            "resolved": resolved,
            "severity_word": _SEVERITY[language][severity],
            "severity_icon": _ICON[severity],
            "escalation": notice.escalation_level
            if notice.reason is NoticeReason.ESCALATION
            else 0,
            "waited": _duration(notice.at - (first.fired_at or first.starts_at), language),
            "ack_code": ack[0] if ack else "",
            "ack_url": ack[1] if ack else "",
            "feedback_code": link[0] if link else "",
            "feedback_url": link[1] if link else "",
        }
        subject = self._env.get_template(f"{language}/subject.txt.j2").render(context).strip()
        text = self._env.get_template(f"{language}/message.txt.j2").render(context).strip()
        short = self._env.get_template(f"{language}/sms.txt.j2").render(context).strip()
        short = _fit_sms(strip_diacritics(short), f". OK {ack[0]}" if ack else "")
        identity = "|".join(
            (notice.receiver, notice.group_key, notice.reason.value, notice.at.isoformat(),
             contact.channel, contact.to)
        )  # fmt: skip
        return Notification(
            id=hashlib.sha256(identity.encode()).hexdigest()[:24],
            channel=contact.channel,
            to=contact.to,
            subject=subject,
            text=text,
            short_text=short,
            language=language,
            severity=severity.value,
            receiver=notice.receiver,
            reason=notice.reason.value,
            created_at=notice.at,
            ack_url=ack[1] if ack else None,
            ack_code=ack[0] if ack else None,
            alerts=tuple(a.as_json() for a in alerts),
        )

    def render_all(self, notice: Notice, contacts: Sequence[Contact]) -> list[Notification]:
        return [self.render(notice, contact) for contact in contacts]


def _fit_sms(text: str, keep_end: str) -> str:
    """Cut ``text`` to one SMS part, keeping the reply code at its end."""
    if len(text) <= SMS_LIMIT:
        return text
    body = text.removesuffix(keep_end) if keep_end and text.endswith(keep_end) else text
    return body[: SMS_LIMIT - len(keep_end) - 2].rstrip() + ".." + keep_end
