"""Acknowledging from a phone, and the alerts over HTTP.

Three ways to say "I'm on it", all ending in the same ``acknowledge(code, by, at)``:

* the short link in the message, ``/a/{code}``: a tiny page showing the alert with one
  button. The link itself only *shows*: Zalo, Telegram and SMS apps open links to draw a
  preview, and a GET that acknowledged would let a preview bot silence a DO crash before
  anyone read it. The button POSTs;
* a reply to the SMS ("OK 7KX3P", any case, with or without the space), which an SMS gateway
  forwards to ``POST /api/v1/alerts/replies``;
* ``POST /api/v1/alerts/{id}/ack`` for dashboards and scripts.

``GET /api/v1/alerts`` lists recent alerts (open ones with ``?open=true``) and
``GET /api/v1/alerts/{id}`` one alert with its history (who acknowledged, when).

"Was this useful?" (docs/feedback.md): the link page carries three buttons (useful / false
alarm / too late) and a comment box, which POST to ``/a/{code}/feedback``; an SMS reply
"2 7KX3P" answers too; ``POST /api/v1/alerts/{id}/feedback`` is the page's and scripts'.
``GET /api/v1/feedback/summary`` gives operators the false-alarm rates per rule and detector
with threshold suggestions, and ``/feedback/report/{ref}`` is the monthly report's
"was this report useful?" form (public, its id signed, rate-limited like the ack link).

Access (docs/api.md): the link and the SMS reply need no token — the five-character code
in the message *is* the capability, as in any "click to confirm" mail — and are rate-limited
per client so codes cannot be guessed. Everything else takes the caller's principal from the
app's guard (``app.state.guard``): alerts and silences of farms outside its scope are not
found, an extension officer (read-only) cannot acknowledge or silence and does not see the
ack codes, and an acknowledgement or silence through the API records the token's name.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol
from urllib.parse import quote

from farmwatch_core.access import Principal, Role, guard_of
from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from farmwatch_alerting.alert import Alert
from farmwatch_alerting.durations import Duration
from farmwatch_alerting.feedback import (
    ANSWER_TEXT,
    Answer,
    Channel,
    ReportAnswer,
    false_alarm_rates,
    parse_feedback_reply,
    parse_report_ref,
)
from farmwatch_alerting.matchers import Matcher, MatchType, parse_matchers
from farmwatch_alerting.silences import Silence
from farmwatch_alerting.store import ACK_ALPHABET, ACK_LENGTH, AlertStore, UnknownAlert

__all__ = ["Acknowledge", "alerting_router", "parse_reply"]

Acknowledge = Callable[[str | int, str, datetime], Alert]


class Silencing(Protocol):
    """What the silence routes need of the service."""

    @property
    def silences(self) -> Mapping[str, Silence]: ...

    def add_silence(
        self, matchers: list[str], duration: timedelta, created_by: str, comment: str = ""
    ) -> Silence: ...

    def expire_silence(self, silence_id: str) -> Silence: ...


_REPLY = re.compile(rf"^\s*(?:OK|XN|ACK)\W*([{ACK_ALPHABET}]{{{ACK_LENGTH}}})\b", re.IGNORECASE)


def parse_reply(text: str) -> str | None:
    """The acknowledgement code in an SMS reply, if it is one.

    >>> parse_reply("ok 7kx3p"), parse_reply("OK7KX3P cảm ơn"), parse_reply("XN: 7KX3P")
    ('7KX3P', '7KX3P', '7KX3P')
    >>> parse_reply("ao 2 bị sao vậy?") is None
    True
    """
    match = _REPLY.match(text)
    return match[1].upper() if match else None


class Reply(BaseModel):
    """An SMS (or chat) reply forwarded by a gateway."""

    sender: str
    text: str


class AckRequest(BaseModel):
    """``by`` is used only by the tokenless loopback demo; with a token, its name is recorded."""

    by: str | None = None


class FeedbackRequest(BaseModel):
    """``{"answer": "false_alarm", "comment": "..."}``; ``by`` only in the tokenless demo."""

    answer: Answer
    comment: str = ""
    by: str | None = None


class SilenceRequest(BaseModel):
    """``{"matchers": ["farm=\"pond-01\"", "node=\"n2\""], "duration": "6h", ...}``.

    Except for admin, one matcher must be ``farm="<a farm in scope>"``, so the silence can
    only mute that farm's alerts."""

    matchers: list[str]
    duration: Duration
    created_by: str | None = None  # the demo's; with a token, its name is recorded
    comment: str = ""


# Declares the bearer scheme in the OpenAPI docs (the "Authorize" button of /docs); the
# guard reads the header (or the page's cookie) itself.
_BEARER = HTTPBearer(auto_error=False, description="`farmwatch tokens add` (docs/api.md)")


def _who(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
) -> Principal:
    return guard_of(request).principal(request)


Who = Annotated[Principal, Depends(_who)]


def _rate_limited(bucket: str) -> Any:
    """A dependency taking one request from the client's ``bucket`` (429 when empty)."""

    def take(request: Request) -> None:
        guard_of(request).limit(bucket, request)

    return Depends(take)


def _visible(who: Principal, alert: Alert) -> bool:
    return who.sees(alert.labels.get("farm"))


def _farm_matchers(matchers: tuple[Matcher, ...]) -> list[str]:
    """The farms a silence is confined to (its ``farm="..."`` matchers)."""
    return [m.value for m in matchers if m.name == "farm" and m.type is MatchType.EQUAL]


def _named(who: Principal, given: str | None) -> str:
    """Who to record: the token's name; only the tokenless demo takes the name it is given."""
    if who.demo:
        return (given or "").strip() or who.name
    return who.name


_PAGE = """<!doctype html><html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>farmwatch — {title}</title>
<style>body{{font:18px/1.4 system-ui,sans-serif;margin:1em;max-width:32em}}
button{{font-size:1.2em;padding:.6em 1.2em;width:100%}}.s{{color:#555}}
.fb button{{margin:.2em 0}}textarea,input{{font:inherit;width:100%}}</style></head>
<body><h1>{title}</h1><p>{body}</p>{form}</body></html>"""


def _alert_text(alert: Alert) -> str:
    notes = alert.annotations
    where = (
        f"{notes.get('farm_name', alert.labels.get('farm', ''))} / {alert.labels.get('node', '')}"
    )
    value = f" — {notes['value']} {notes.get('unit', '')}" if "value" in notes else ""
    return html.escape(f"{alert.name}: {where}{value} ({alert.state.value})")


FEEDBACK_COOKIE = "farmwatch_fb"  # a random id telling anonymous link answers apart


def _both(key: str) -> str:
    """A button's words in Vietnamese and English (the link page is bilingual)."""
    return f"{ANSWER_TEXT['vi'][key]} — {ANSWER_TEXT['en'][key]}"


def _feedback_form(
    action: str, answers: tuple[str, ...], by: str = "", question: str = "question"
) -> str:
    """Three (or two) one-tap buttons and an optional comment; POST, so link previews and
    prefetching browsers cannot answer."""
    name = (
        f'<input type="hidden" name="by" value="{html.escape(by)}">'
        if by
        else '<p><input name="by" placeholder="Tên (không bắt buộc) / name (optional)"></p>'
    )
    buttons = "".join(
        f'<button name="answer" value="{a}">{html.escape(_both(a))}</button>' for a in answers
    )
    return (
        f'<form class="fb" method="post" action="{html.escape(action)}">'
        f"<h2>{html.escape(_both(question))}</h2>{name}"
        f'<p><textarea name="comment" maxlength="500" rows="2" '
        f'placeholder="{html.escape(_both("comment"))}"></textarea></p>{buttons}</form>'
    )


def _anon_cookie(request: Request, response: Response) -> None:
    if FEEDBACK_COOKIE not in request.cookies:
        response.set_cookie(
            FEEDBACK_COOKIE, secrets.token_hex(8), max_age=365 * 86400, httponly=True,
            samesite="lax", secure=request.url.scheme == "https",
        )  # fmt: skip


def _link_person(request: Request, by: str) -> str:
    """Who answered through a public link: the name typed, else this phone's random id."""
    name = by.strip()[:60]
    if name:
        return f"link:{name}"
    cookie = request.cookies.get(FEEDBACK_COOKIE, "")
    return f"link:anon-{cookie[:16]}" if cookie.isalnum() else "link:anonymous"


def alerting_router(  # noqa: PLR0915 - one small closure per route, kept together
    store: AlertStore,
    acknowledge: Acknowledge,
    clock: Callable[[], datetime] | None = None,
    silencing: Silencing | None = None,
) -> APIRouter:
    """The alerting routes, to include in the farmwatch HTTP app."""
    now = clock or (lambda: datetime.now(UTC))
    router = APIRouter()

    def _ack(code: str | int, by: str) -> Alert:
        try:
            return acknowledge(code, by, now())
        except UnknownAlert as exc:
            raise HTTPException(404, str(exc)) from None

    def _scoped(who: Principal, episode: int) -> Alert:
        try:
            found = store.get(episode)
        except UnknownAlert as exc:
            raise HTTPException(404, str(exc)) from None
        if not _visible(who, found):
            raise HTTPException(404, f"no alert with code or id {episode!r}")
        return found

    @router.get(
        "/a/{code}",
        response_class=HTMLResponse,
        tags=["alerts"],
        dependencies=[_rate_limited("ack-link")],
    )
    def ack_page(code: str, request: Request, response: Response) -> str:
        """The message's link: show the alert, an Acknowledge button and the three feedback
        buttons (GET changes nothing)."""
        code = _known_code(code)
        try:
            _, alert = store.lookup(code)
        except UnknownAlert:
            raise HTTPException(404, "Mã không đúng / unknown code") from None
        if alert.acknowledged_by:
            form = f'<p class="s">Đã xác nhận bởi {html.escape(alert.acknowledged_by)}</p>'
        elif alert.active:
            form = (
                f'<form method="post" action="/a/{html.escape(code)}">'
                '<input name="by" placeholder="Tên / name" required>'
                "<p><button>Xác nhận — Acknowledge</button></p></form>"
            )
        else:
            form = '<p class="s">Cảnh báo đã kết thúc / resolved</p>'
        _anon_cookie(request, response)
        form += _feedback_form(f"/a/{code}/feedback", tuple(Answer))
        return _PAGE.format(title="Cảnh báo", body=_alert_text(alert), form=form)

    @router.post(
        "/a/{code}",
        response_class=HTMLResponse,
        tags=["alerts"],
        dependencies=[_rate_limited("ack-link")],
    )
    def ack_from_page(code: str, by: str = Form(...)) -> str:
        """The button: the code is the capability (no token), so the name typed is recorded.
        The answer page then asks whether the alert was useful."""
        name = by.strip() or "phone"
        alert = _ack(code, name)
        form = _feedback_form(f"/a/{html.escape(code)}/feedback", tuple(Answer), by=name)
        return _PAGE.format(title="Đã xác nhận", body=_alert_text(alert), form=form)

    @router.post(
        "/a/{code}/feedback",
        response_class=HTMLResponse,
        tags=["feedback"],
        # the ack link's bucket: another route taking codes must not double the guessing rate
        dependencies=[_rate_limited("ack-link")],
    )
    def feedback_from_link(
        code: str, request: Request, answer: Annotated[Answer, Form()],
        comment: Annotated[str, Form()] = "", by: Annotated[str, Form()] = "",
    ) -> str:  # fmt: skip
        """One of the link page's three buttons: stored as ``link:<name>`` (or this phone's
        random id when no name was typed), channel ``link``."""
        code = _known_code(code)
        try:
            episode, alert = store.lookup(code)
            store.add_feedback(
                episode, answer, _link_person(request, by), now(), Channel.LINK, comment
            )
        except UnknownAlert:
            raise HTTPException(404, "Mã không đúng / unknown code") from None
        body = f"{_alert_text(alert)}<br>{html.escape(_both(answer.value))}"
        return _PAGE.format(title=html.escape(_both("thanks")), body=body, form="")

    @router.post(
        "/api/v1/alerts/replies", tags=["alerts"], dependencies=[_rate_limited("sms-reply")]
    )
    def reply(message: Reply) -> dict[str, Any]:
        """An SMS gateway forwards replies here; "OK <code>" acknowledges, "1/2/3 <code>"
        answers "was this useful?" (useful / false alarm / too late)."""
        code = parse_reply(message.text)
        if code is None:
            said = parse_feedback_reply(message.text)
            if said is None:
                return {"acknowledged": False, "reason": "not an acknowledgement (OK <code>)"}
            answer, code = said
            try:
                episode, _ = store.lookup(code)
                store.add_feedback(
                    episode, answer, f"sms:{message.sender.strip()}", now(), Channel.SMS,
                    message.text,
                )  # fmt: skip
            except UnknownAlert as exc:
                raise HTTPException(404, str(exc)) from None
            return {"acknowledged": False, "feedback": answer.value}
        alert = _ack(code, message.sender)
        return {"acknowledged": True, "alert": alert.as_json()}

    @router.post("/api/v1/alerts/{episode}/ack", tags=["alerts"])
    def ack(who: Who, episode: int, request: AckRequest | None = None) -> dict[str, Any]:
        """Acknowledge an alert of a farm in scope; the history records the token's name."""
        found = _scoped(who, episode)
        if not who.may_write(found.labels.get("farm")):
            raise HTTPException(403, "read-only access (extension officer)")
        return _ack(episode, _named(who, request.by if request else None)).as_json()

    @router.get("/api/v1/alerts", tags=["alerts"])
    def alerts(who: Who, open: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        """Recent alerts of farms in scope, newest first (``open=true``: not resolved)."""
        if open:
            candidates = sorted(store.open_alerts().items(), reverse=True)
        else:
            candidates = store.recent(limit if who.is_admin else max(limit, 1000))
        chosen = [(i, a) for i, a in candidates if _visible(who, a)][:limit]
        return [
            {
                "id": i, **a.as_json(),
                "ack_code": store.ack_code(i) if who.may_write(a.labels.get("farm")) else None,
            }
            for i, a in chosen
        ]  # fmt: skip

    @router.get("/api/v1/alerts/{episode}", tags=["alerts"])
    def alert(who: Who, episode: int) -> dict[str, Any]:
        """One alert of a farm in scope, with its history (who acknowledged, when)."""
        found = _scoped(who, episode)
        history = [
            {"at": at.isoformat().replace("+00:00", "Z"), "state": state, "detail": detail}
            for at, state, detail in store.history(episode)
        ]
        return {"id": episode, **found.as_json(), "history": history}

    @router.post("/api/v1/alerts/{episode}/feedback", tags=["feedback"])
    def feedback(who: Who, episode: int, body: FeedbackRequest, request: Request) -> dict[str, Any]:
        """Answer "was this useful?" for an alert of a farm in scope (open or resolved); the
        token's name is recorded, and a later answer replaces this one. Officers read only."""
        found = _scoped(who, episode)
        if not who.may_write(found.labels.get("farm")):
            raise HTTPException(403, "read-only access (extension officer)")
        channel = Channel.API if "authorization" in request.headers else Channel.PAGE
        stored = store.add_feedback(
            episode, body.answer, _named(who, body.by), now(), channel, body.comment
        )
        return stored.as_json()

    @router.get("/api/v1/feedback/summary", tags=["feedback"])
    def feedback_summary(who: Who, days: float = 90.0, min_answers: int = 5) -> dict[str, Any]:
        """False-alarm and too-late rates per rule and detector over the last ``days``, for
        the alerts of farms in scope, with threshold suggestions (advice only: nothing is
        changed). Operators only: admin, cooperatives and officers; not farmers."""
        if who.role is Role.FARMER and not who.demo:
            raise HTTPException(403, "for operators (admin, cooperative, officer)")
        end = now()
        start = end - timedelta(days=max(days, 0.0))
        answered = [(f, a) for f, a in store.answered_between(start, end) if _visible(who, a)]
        rows = false_alarm_rates(answered, min_answers=max(min_answers, 1))
        return {
            "start": start.isoformat().replace("+00:00", "Z"),
            "end": end.isoformat().replace("+00:00", "Z"),
            "min_answers": max(min_answers, 1),
            "answers": len(answered),
            "rules": [r.as_json() for r in rows],
        }

    _report_routes(router, store, now)
    if silencing is not None:
        _silence_routes(router, silencing)
    return router


def _known_code(code: str) -> str:
    if not code.strip().isalnum() or code.isdigit():
        raise HTTPException(404, "Mã không đúng / unknown code")
    return code.strip()


def _report_routes(router: APIRouter, store: AlertStore, now: Callable[[], datetime]) -> None:
    """The monthly report's "was this report useful?" form: public (the report is read by
    people without a login), the id signed with a key kept in the alert store."""

    def genuine(ref: str) -> tuple[str, str, str]:
        found = parse_report_ref(store.signing_key(), ref)
        if found is None:
            raise HTTPException(404, "Không tìm thấy báo cáo / unknown report")
        return found

    @router.get(
        "/feedback/report/{ref}",
        response_class=HTMLResponse,
        tags=["feedback"],
        dependencies=[_rate_limited("feedback")],
    )
    def report_form(ref: str, request: Request, response: Response) -> str:
        """The form (GET changes nothing)."""
        kind, scope, period = genuine(ref)
        _anon_cookie(request, response)
        body = html.escape(f"{kind} {scope} — {period}")
        form = _feedback_form(
            f"/feedback/report/{quote(ref, safe='~')}", tuple(ReportAnswer),
            question="report_question",
        )  # fmt: skip
        return _PAGE.format(title="Báo cáo tháng / monthly report", body=body, form=form)

    @router.post(
        "/feedback/report/{ref}",
        response_class=HTMLResponse,
        tags=["feedback"],
        dependencies=[_rate_limited("feedback")],
    )
    def report_answer(
        ref: str, request: Request, answer: Annotated[ReportAnswer, Form()],
        comment: Annotated[str, Form()] = "", by: Annotated[str, Form()] = "",
    ) -> str:  # fmt: skip
        """One of the two buttons; stored as ``link:<name>`` with the report's id."""
        kind, scope, period = genuine(ref)
        store.add_report_feedback(
            f"{kind}:{scope}:{period}", answer, _link_person(request, by), now(), Channel.LINK,
            comment,
        )  # fmt: skip
        body = html.escape(f"{kind} {scope} — {period}: {_both(answer.value)}")
        return _PAGE.format(title=html.escape(_both("thanks")), body=body, form="")


def _silence_routes(router: APIRouter, silencing: Silencing) -> None:
    def sees(who: Principal, silence: Silence) -> bool:
        return who.is_admin or any(who.sees(f) for f in _farm_matchers(silence.matchers))

    @router.get("/api/v1/silences", tags=["silences"])
    def silences(who: Who) -> list[dict[str, Any]]:
        """Silences of farms in scope, the latest ending first (expired ones stay 30 days)."""
        ordered = sorted(silencing.silences.values(), key=lambda s: s.ends_at, reverse=True)
        return [s.to_dict() for s in ordered if sees(who, s)]

    @router.post("/api/v1/silences", status_code=201, tags=["silences"])
    def add(who: Who, request: SilenceRequest) -> dict[str, Any]:
        """Mute matching alerts for a while (Alertmanager matchers: ``label="value"``, ``=~``)."""
        if who.read_only:
            raise HTTPException(403, "read-only access (extension officer)")
        if request.duration <= timedelta(0):
            raise HTTPException(422, "duration must be positive (e.g. 2h)")
        try:
            parsed = parse_matchers(request.matchers)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        if not who.is_admin and not any(who.may_write(f) for f in _farm_matchers(parsed)):
            raise HTTPException(
                403, 'a silence needs farm="<one of your farms>" among its matchers'
            )
        try:
            silence = silencing.add_silence(
                request.matchers, request.duration, _named(who, request.created_by),
                request.comment,
            )  # fmt: skip
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return silence.to_dict()

    @router.delete("/api/v1/silences/{silence_id}", tags=["silences"])
    def expire(who: Who, silence_id: str) -> dict[str, Any]:
        """End a silence of a farm in scope now."""
        found = silencing.silences.get(silence_id)
        if found is None or not sees(who, found):
            raise HTTPException(404, f"no silence {silence_id}")
        if not who.is_admin and not any(who.may_write(f) for f in _farm_matchers(found.matchers)):
            raise HTTPException(403, "read-only access (extension officer)")
        try:
            return silencing.expire_silence(silence_id).to_dict()
        except KeyError:
            raise HTTPException(404, f"no silence {silence_id}") from None
