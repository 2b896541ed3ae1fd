"""Farmers' answers to "was this useful?", and what operators learn from them.

Every alert can be answered *useful*, *false alarm* or *too late* (with an optional comment)
from the acknowledgement link, the built-in page, an SMS reply or the API; every monthly
report can be answered *useful* or *not useful*. The answers are stored with the alert
(:class:`~farmwatch_alerting.store.AlertStore`); this module holds the pure parts:

* the vocabulary (:class:`Answer`, :class:`ReportAnswer`, :class:`Channel`) and the comment
  rules (trimmed, control characters dropped, at most :data:`COMMENT_MAX` characters; stored
  as plain text and escaped wherever it is shown);
* :func:`parse_feedback_reply` — an SMS reply "2 7KX3P" (false alarm for that alert);
* :func:`false_alarm_rates` — per rule and detector: answers, false-alarm and too-late shares,
  withheld below a minimum number of answers (three answers are an anecdote, not a rate);
* :func:`suggest_limit` — for a threshold rule, the limit that would have silenced the false
  alarms while keeping every useful alert. It only *suggests*: nothing here changes a rule;
* :func:`report_ref` / :func:`parse_report_ref` — a report's public, signed id for the
  "was this report useful?" link (an HMAC, so the link cannot be forged for another farm);
* :func:`satisfaction` — the share of useful answers per commune or district, for the
  programme indicators.

    >>> parse_feedback_reply("2 7kx3p")
    (<Answer.FALSE_ALARM: 'false_alarm'>, '7KX3P')
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from farmwatch_core.registry import Deployment

from farmwatch_alerting.alert import Alert

__all__ = [
    "ANSWER_TEXT",
    "COMMENT_MAX",
    "MIN_ANSWERS",
    "Answer",
    "AreaSatisfaction",
    "Channel",
    "Feedback",
    "ReportAnswer",
    "ReportFeedback",
    "RuleFigures",
    "Suggestion",
    "clean_comment",
    "false_alarm_rates",
    "parse_feedback_reply",
    "parse_report_ref",
    "report_ref",
    "satisfaction",
    "suggest_limit",
]

COMMENT_MAX = 500  # characters; a phone's comment box, not an essay
MIN_ANSWERS = 5  # below this a share is not shown: one grumpy answer is not a 100 % rate
SIGNATURE_HEX = 16  # 64 bits of HMAC-SHA256: forging a report link takes ~2^63 tries


class Answer(StrEnum):
    USEFUL = "useful"
    FALSE_ALARM = "false_alarm"
    TOO_LATE = "too_late"


class ReportAnswer(StrEnum):
    USEFUL = "useful"
    NOT_USEFUL = "not_useful"


class Channel(StrEnum):
    """Where an answer came from."""

    PAGE = "page"  # the built-in page, logged in
    LINK = "link"  # the acknowledgement link or the report's link, no login
    SMS = "sms"  # an SMS reply forwarded by the gateway
    API = "api"  # a script with a token


#: What the buttons say (the page, the link page, the report form).
ANSWER_TEXT: dict[str, dict[str, str]] = {
    "vi": {
        "useful": "Hữu ích",
        "false_alarm": "Báo nhầm",
        "too_late": "Quá muộn",
        "not_useful": "Không hữu ích",
        "question": "Cảnh báo này có hữu ích không?",
        "report_question": "Báo cáo này có hữu ích không?",
        "comment": "Góp ý (không bắt buộc)",
        "thanks": "Cảm ơn góp ý của bạn",
    },
    "en": {
        "useful": "Useful",
        "false_alarm": "False alarm",
        "too_late": "Too late",
        "not_useful": "Not useful",
        "question": "Was this alert useful?",
        "report_question": "Was this report useful?",
        "comment": "Comment (optional)",
        "thanks": "Thank you for your answer",
    },
}


@dataclass(frozen=True, slots=True)
class Feedback:
    """One person's answer about one alert episode."""

    episode: int
    who: str
    answer: Answer
    comment: str
    at: datetime
    channel: Channel

    def as_json(self) -> dict[str, object]:
        return {
            "episode": self.episode, "who": self.who, "answer": self.answer.value,
            "comment": self.comment, "at": self.at.isoformat().replace("+00:00", "Z"),
            "channel": self.channel.value,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReportFeedback:
    """One person's answer about one monthly report (``report``: ``kind:scope:period``)."""

    report: str
    who: str
    answer: ReportAnswer
    comment: str
    at: datetime
    channel: Channel


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_comment(text: str | None) -> str:
    """A comment as stored: trimmed, NFC, no control characters, at most COMMENT_MAX long.

    It is kept as the farmer typed it (no HTML escaping here); every page that shows it
    escapes it.

    >>> clean_comment("  <b>ao 2</b>\\x00 báo sai ")
    '<b>ao 2</b> báo sai'
    >>> len(clean_comment("x" * 2000)) == COMMENT_MAX
    True
    """
    if not text:
        return ""
    plain = _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()
    return plain[:COMMENT_MAX]


# "1 7KX3P" useful, "2 7KX3P" false alarm, "3 7KX3P" too late; the words work too (without
# diacritics, as phones without a Vietnamese keyboard type them).
_REPLY_WORDS = {
    "1": Answer.USEFUL, "HUUICH": Answer.USEFUL, "USEFUL": Answer.USEFUL,
    "2": Answer.FALSE_ALARM, "SAI": Answer.FALSE_ALARM, "NHAM": Answer.FALSE_ALARM,
    "BAONHAM": Answer.FALSE_ALARM, "FALSE": Answer.FALSE_ALARM,
    "3": Answer.TOO_LATE, "MUON": Answer.TOO_LATE, "TRE": Answer.TOO_LATE,
    "QUAMUON": Answer.TOO_LATE, "LATE": Answer.TOO_LATE,
}  # fmt: skip
_FEEDBACK_REPLY = re.compile(
    r"^\s*([0-9A-Za-z ]{1,10}?)\W*\s*([23456789ABCDEFGHJKMNPQRSTUVWXYZ]{5})\b", re.IGNORECASE
)


def parse_feedback_reply(text: str) -> tuple[Answer, str] | None:
    """The answer and the alert code in an SMS reply like "2 7KX3P" or "SAI 7KX3P".

    >>> parse_feedback_reply("3 7KX3P"), parse_feedback_reply("bao nham: 7kx3p")
    ((<Answer.TOO_LATE: 'too_late'>, '7KX3P'), (<Answer.FALSE_ALARM: 'false_alarm'>, '7KX3P'))
    >>> parse_feedback_reply("ok 7KX3P") is None, parse_feedback_reply("4 7KX3P") is None
    (True, True)
    """
    match = _FEEDBACK_REPLY.match(text)
    if match is None:
        return None
    word = match[1].replace(" ", "").upper()
    answer = _REPLY_WORDS.get(word)
    return None if answer is None else (answer, match[2].upper())


# -- figures ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A limit that would have silenced ``silenced`` of ``false_alarms`` false alarms while
    every one of ``useful`` useful alerts still fired. Advice for a person, never applied."""

    direction: str  # "below" | "above": the rule fires below/above its limit
    current: float
    suggested: float
    silenced: int
    false_alarms: int
    useful: int

    @property
    def silenced_share(self) -> float:
        return self.silenced / self.false_alarms if self.false_alarms else 0.0


def suggest_limit(
    direction: str,
    current: float,
    false_alarm_values: Sequence[float],
    useful_values: Sequence[float],
    min_share: float = 0.5,
) -> Suggestion | None:
    """The limit that keeps every useful alert and silences the most false alarms.

    A ``below`` rule fires when the value is under its limit: a lower limit silences the false
    alarms whose value lay above every useful alert's. The suggestion sits halfway between the
    highest useful value and the lowest false alarm above it, rounded to 2 decimals, and is
    made only if it silences at least ``min_share`` of the false alarms and makes the rule less
    sensitive (a limit is never suggested to fire *more*: that is not what false alarms say).
    Without useful answers, the limit goes to the mildest false alarm's value.

    >>> s = suggest_limit("below", 3.0, [2.8, 2.7, 2.9, 1.9], [2.1, 1.5])
    >>> s.suggested, s.silenced, s.false_alarms, s.useful
    (2.4, 3, 4, 2)
    >>> s = suggest_limit("above", 30.0, [30.5, 31.0], [33.0, 34.2])  # false alarms were milder
    >>> s.suggested, s.silenced_share
    (32.0, 1.0)
    >>> suggest_limit("below", 3.0, [1.2, 1.5, 2.9], [2.0]) is None  # 1 of 3: under min_share
    True
    >>> suggest_limit("below", 3.0, [], [2.0]) is None
    True
    """
    if direction not in {"below", "above"}:
        raise ValueError(f"direction is 'below' or 'above', not {direction!r}")
    if not false_alarm_values:
        return None
    sign = 1.0 if direction == "below" else -1.0  # mirror "above" onto "below"
    falses = [sign * v for v in false_alarm_values]
    useful = [sign * v for v in useful_values]
    if useful:
        keep = max(useful)
        above = [f for f in falses if f > keep]
        if not above:
            return None
        limit = (keep + min(above)) / 2
    else:
        above = list(falses)
        limit = min(falses)
    suggested = round(sign * limit, 2)
    silenced = sum(1 for f in falses if f >= sign * suggested)
    if sign * suggested >= sign * current or silenced / len(falses) < min_share:
        return None
    return Suggestion(direction, current, suggested, silenced, len(falses), len(useful_values))


@dataclass(frozen=True, slots=True)
class RuleFigures:
    """Answers about one rule (alert name) and detector over a period."""

    rule: str
    detector: str  # the analytics detector for candidate alerts, "" for rules on values
    answers: int
    useful: int
    false_alarm: int
    too_late: int
    guarded: bool  # fewer than the minimum answers: the shares are not shown
    suggestion: Suggestion | None = None

    @property
    def false_alarm_share(self) -> float | None:
        return None if self.guarded else self.false_alarm / self.answers

    @property
    def too_late_share(self) -> float | None:
        return None if self.guarded else self.too_late / self.answers

    def as_json(self) -> dict[str, object]:
        suggestion = None
        if self.suggestion is not None:
            s = self.suggestion
            suggestion = {
                "direction": s.direction, "current": s.current, "suggested": s.suggested,
                "silenced": s.silenced, "false_alarms": s.false_alarms, "useful": s.useful,
            }  # fmt: skip
        return {
            "rule": self.rule, "detector": self.detector, "answers": self.answers,
            "useful": self.useful, "false_alarm": self.false_alarm, "too_late": self.too_late,
            "false_alarm_share": self.false_alarm_share, "too_late_share": self.too_late_share,
            "enough_answers": not self.guarded, "suggestion": suggestion,
        }  # fmt: skip


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def false_alarm_rates(
    answered: Iterable[tuple[Feedback, Alert]],
    min_answers: int = MIN_ANSWERS,
    suggest_above: float = 0.3,
) -> list[RuleFigures]:
    """Per (rule, detector): the answers and their shares, most false alarms first.

    Each person's latest answer counts once per alert. A threshold rule (its alerts carry
    ``direction``, ``limit`` and ``value``) whose false-alarm share is at least
    ``suggest_above`` gets a :func:`suggest_limit` from the values its alerts showed (the
    stored value: the latest while it was open); alerts answered "too late" count as real
    problems to keep, like the useful ones — a less sensitive limit would make them later.

    >>> from datetime import UTC, datetime
    >>> from farmwatch_alerting.alert import Alert, Severity
    >>> t = datetime(2026, 11, 1, tzinfo=UTC)
    >>> a = Alert.new({"alertname": "DoLow", "farm": "f"}, Severity.CRITICAL, t).fire(t)
    >>> said = [Feedback(1, f"p{i}", Answer.FALSE_ALARM if i < 2 else Answer.USEFUL, "", t,
    ...         Channel.PAGE) for i in range(5)]
    >>> [(r.rule, r.answers, r.false_alarm_share) for r in false_alarm_rates((f, a) for f in said)]
    [('DoLow', 5, 0.4)]
    """
    grouped: dict[tuple[str, str], list[tuple[Feedback, Alert]]] = defaultdict(list)
    for feedback, alert in answered:
        grouped[(alert.name, alert.labels.get("detector", ""))].append((feedback, alert))
    rows = []
    for (rule, detector), items in grouped.items():
        counts = dict.fromkeys(Answer, 0)
        for feedback, _ in items:
            counts[feedback.answer] += 1
        guarded = len(items) < min_answers
        figures = RuleFigures(
            rule, detector, len(items), counts[Answer.USEFUL], counts[Answer.FALSE_ALARM],
            counts[Answer.TOO_LATE], guarded,
        )  # fmt: skip
        share = figures.false_alarm_share
        if share is not None and share >= suggest_above:
            figures = RuleFigures(
                rule, detector, figures.answers, figures.useful, figures.false_alarm,
                figures.too_late, guarded, _suggestion(items),
            )  # fmt: skip
        rows.append(figures)
    rows.sort(key=lambda r: (r.guarded, -(r.false_alarm_share or 0.0), -r.answers, r.rule))
    return rows


def _suggestion(items: Sequence[tuple[Feedback, Alert]]) -> Suggestion | None:
    first = items[0][1].annotations
    direction, limit = first.get("direction"), _number(first.get("limit"))
    if direction not in {"below", "above"} or limit is None:
        return None  # not a threshold rule: nothing to move
    values: dict[Answer, list[float]] = defaultdict(list)
    for feedback, alert in items:
        value = _number(alert.annotations.get("value"))
        if value is not None:
            values[feedback.answer].append(value)
    # "Too late" alerts were real problems (told too late): a suggestion must keep them too.
    real = values[Answer.USEFUL] + values[Answer.TOO_LATE]
    return suggest_limit(direction, limit, values[Answer.FALSE_ALARM], real)


# -- report links -------------------------------------------------------------------------


def _signature(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:SIGNATURE_HEX]


def report_ref(key: bytes, kind: str, scope: str, period: str) -> str:
    """A report's public id: ``kind~scope~period~signature``.

    >>> ref = report_ref(b"k" * 32, "farm", "pond-01", "2026-11")
    >>> ref.startswith("farm~pond-01~2026-11~"), parse_report_ref(b"k" * 32, ref)
    (True, ('farm', 'pond-01', '2026-11'))
    >>> parse_report_ref(b"k" * 32, ref.replace("pond-01", "pond-02")) is None
    True
    """
    body = f"{kind}~{scope}~{period}"
    return f"{body}~{_signature(key, body)}"


def parse_report_ref(key: bytes, ref: str) -> tuple[str, str, str] | None:
    """(kind, scope, period) of a genuine report id, or None (forged, truncated, mistyped)."""
    body, _, signature = ref.rpartition("~")
    parts = body.split("~")
    if len(parts) != 3 or not hmac.compare_digest(signature, _signature(key, body)):
        return None
    kind, scope, period = parts
    return kind, scope, period


# -- satisfaction per area ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AreaSatisfaction:
    district: str
    commune: str  # "" for a district's own row
    answers: int
    useful: int

    @property
    def useful_share(self) -> float | None:
        return self.useful / self.answers if self.answers else None


def satisfaction(
    deployment: Deployment, answers: Iterable[tuple[str, bool]], by: str = "district"
) -> list[AreaSatisfaction]:
    """The share of useful answers per district (``by="district"``) or commune.

    ``answers`` are (farm id, useful?) pairs: alert answers (useful vs false alarm or too
    late) and answers about farm reports. Farms without a district count under "—".

    >>> from farmwatch_core.registry import parse_registry
    >>> d = parse_registry("farms: [{id: f1, name: F, model: orchard, district: Thanh Hà, "
    ...                    "commune: Thanh Xuân}]")
    >>> satisfaction(d, [("f1", True), ("f1", False), ("f1", True)], by="commune")
    [AreaSatisfaction(district='Thanh Hà', commune='Thanh Xuân', answers=3, useful=2)]
    """
    if by not in {"district", "commune"}:
        raise ValueError(f"by is 'district' or 'commune', not {by!r}")
    where = {
        f.id: (f.district or "—", (f.commune or "—") if by == "commune" else "")
        for f in deployment.farms
    }
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for farm, useful in answers:
        area = where.get(farm)
        if area is None:
            continue
        counts[area][0] += 1
        counts[area][1] += useful
    return [AreaSatisfaction(d, c, n, u) for (d, c), (n, u) in sorted(counts.items())]
