"""Authentication for the HTTP API: who is calling, from a bearer token or the page's cookie.

:class:`ApiGuard` is the one place a request becomes a :class:`~farmwatch_core.access.Principal`
(what each route may then show or change is decided by the route, with the principal's
``sees``/``may_write``; docs/api.md has the whole matrix). ``create_app`` puts it on
``app.state.guard`` so the routers of other packages (alerting's, the page's) reach it
without importing this package.

* Scripts send ``Authorization: Bearer fwt_...``. A phone's browser logs in once at ``/login``
  (the token pasted, or opened from a ``/login#t=...`` link — the fragment never reaches a
  server log or a link-preview bot) and gets an HttpOnly, SameSite=Lax cookie. Writes made
  with the cookie must come from the page itself (``Origin`` matching ``Host``), so another
  site cannot make a logged-in phone acknowledge an alert.
* Failed token checks are counted per client IP and, past a burst, refused with 429 before
  any check; they are logged with the client and the route, never with the token.
* Without any token the API is open only in the loopback demo (``auth = "auto"``, the
  default); see :func:`startup_check`.
"""

from __future__ import annotations

import html
import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from farmwatch_core.access import DEMO, Principal, resolve
from farmwatch_core.api_tokens import TokenInfo, TokenStore
from farmwatch_core.registry import Deployment
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from farmwatch_ingest.ratelimit import RateLimiter

__all__ = ["COOKIE", "ApiGuard", "AuthMode", "is_loopback", "login_page", "login_router"]

log = logging.getLogger(__name__)

AuthMode = Literal["auto", "required", "off"]
COOKIE = "farmwatch_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="farmwatch"'}


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the API on this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost")
    (True, True, True)
    >>> is_loopback("0.0.0.0"), is_loopback("192.168.1.10"), is_loopback("farm-pi")
    (False, False, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def startup_check(mode: AuthMode, host: str, tokens_exist: bool) -> str | None:
    """Refuse (RuntimeError) to serve without tokens beyond this machine; else the warning to
    log when the API will be open, or None.

    >>> startup_check("auto", "127.0.0.1", False)[:9]
    'demo mode'
    >>> startup_check("auto", "0.0.0.0", True) is None
    True
    >>> startup_check("auto", "0.0.0.0", False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    RuntimeError: no API token exists and the API would listen on 0.0.0.0, ... --role admin ...
    """
    hint = "create one with `farmwatch tokens add --role admin --name <who>`"
    if mode == "off":
        if not is_loopback(host):
            raise RuntimeError(
                f"api.auth = 'off' is refused on {host}: only a loopback address may serve "
                "without tokens; use auth 'auto' with tokens "
                "(`farmwatch tokens add --role admin --name <who>`)"
            )
        return f"API authentication is off (api.auth = 'off'): anyone on this machine can read and acknowledge alerts at {host}"  # noqa: E501
    if tokens_exist:
        return None
    if mode == "required":
        return f"api.auth = 'required' but no API token exists: every request is refused; {hint}"
    if not is_loopback(host):
        raise RuntimeError(
            f"no API token exists and the API would listen on {host}, open to the network; "
            f"{hint} (or bind to 127.0.0.1)"
        )
    return (
        f"demo mode: no API token exists, so the API on {host} is open to anyone on this "
        f"machine; {hint} to require tokens"
    )


def client_ip(request: Request) -> str:
    """The client's address (uvicorn already applies X-Forwarded-For from trusted proxies,
    ``FORWARDED_ALLOW_IPS``, 127.0.0.1 by default)."""
    return request.client.host if request.client else "unknown"


def _too_many(wait: float) -> HTTPException:
    seconds = max(1, math.ceil(wait))
    return HTTPException(
        429,
        f"Quá nhiều yêu cầu, thử lại sau {seconds} giây / too many requests, retry in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


@dataclass
class ApiGuard:
    """Turns requests into principals, and holds the per-client rate limits."""

    tokens: TokenStore
    deployment: Deployment | None
    mode: AuthMode = "auto"
    loopback: bool = True
    public: RateLimiter = field(default_factory=lambda: RateLimiter(30, 10))
    failures: RateLimiter = field(default_factory=lambda: RateLimiter(10, 10))
    login_days: int = 90
    _principals: dict[str, Principal] = field(default_factory=dict, repr=False)
    _open_until: float = field(default=0.0, repr=False)
    _open: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def is_open(self) -> bool:
        """Whether requests without a token are served (as the demo principal) right now.

        Re-checked at most once a second: adding the first token closes the demo within a
        second, without a restart, and revoking the last one on loopback reopens it.
        """
        if self.mode != "auto":
            return self.mode == "off"
        if not self.loopback:
            return False
        with self._lock:
            now = time.monotonic()
            if now >= self._open_until:
                self._open = not self.tokens.has_active()
                self._open_until = now + 1.0
            return self._open

    def principal(self, request: Request) -> Principal:
        """The caller; HTTP 401 without a valid token, 429 after too many failed ones, 403 for
        a cookie-authenticated write from another site, and 403 for a partner system's key
        outside the partner API (:meth:`Principal.may_call`: a route added later is closed to
        partners without knowing about them)."""
        if self.mode == "off":
            return DEMO
        token, via_cookie = _presented(request)
        if token is None:
            if self.is_open():
                return DEMO
            raise HTTPException(401, "Cần đăng nhập / token required", headers=_CHALLENGE)
        info = self.check(token, request)
        if via_cookie and request.method not in _SAFE_METHODS and not _same_origin(request):
            raise HTTPException(403, "cross-site request refused (the page's own form only)")
        found = self._resolve(info)
        if not found.may_call(request.url.path):
            raise HTTPException(
                403,
                "Khóa đối tác chỉ dùng cho /api/partner/ / a partner key opens /api/partner/ only",
            )
        return found

    def check(self, token: str, request: Request) -> TokenInfo:
        """The token's info, or 401 (counted, logged without the token) / 429."""
        ip = client_ip(request)
        wait = self.failures.peek(("auth", ip))
        if wait:
            raise _too_many(wait)
        info = self.tokens.verify(token)
        if info is None:
            self.failures.take(("auth", ip))
            log.warning(
                "refused an unknown or revoked API token from %s for %s %s",
                ip, request.method, request.url.path,
            )  # fmt: skip
            raise HTTPException(401, "Mã truy cập không hợp lệ / invalid token", headers=_CHALLENGE)
        return info

    def limit(self, bucket: str, request: Request) -> None:
        """Take one request from this client's bucket for a public endpoint, or raise 429."""
        wait = self.public.take((bucket, client_ip(request)))
        if wait:
            log.info("rate limit %s: %s refused for %.0f s", bucket, client_ip(request), wait)
            raise _too_many(wait)

    def _resolve(self, info: TokenInfo) -> Principal:
        # The registry is fixed for the app's life, so a token's scope is resolved once.
        with self._lock:
            found = self._principals.get(info.id)
            if found is None:
                found = resolve(info.grant, self.deployment, info.id)
                self._principals[info.id] = found
            return found


def _presented(request: Request) -> tuple[str | None, bool]:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return (value.strip() or None) if scheme.lower() == "bearer" else None, False
    cookie = request.cookies.get(COOKIE)
    return (cookie, True) if cookie else (None, False)


def _same_origin(request: Request) -> bool:
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return False
    return urlsplit(source).netloc == request.headers.get("host")


_LOGIN_TEXT = {
    "vi": {
        "title": "Đăng nhập farmwatch",
        "intro": "Dán mã truy cập (bắt đầu bằng fwt_) do hợp tác xã hoặc quản trị viên cấp.",
        "field": "Mã truy cập",
        "button": "Đăng nhập",
        "bad": "Mã không đúng hoặc đã bị thu hồi.",
        "other": "English",
    },
    "en": {
        "title": "farmwatch login",
        "intro": "Paste the access token (it starts with fwt_) from your cooperative or admin.",
        "field": "Access token",
        "button": "Log in",
        "bad": "Unknown or revoked token.",
        "other": "Tiếng Việt",
    },
}


def login_page(lang: str = "vi", error: bool = False) -> str:
    """The login form; a ``/login#t=<token>`` link fills and sends it (phones)."""
    text = _LOGIN_TEXT["en" if lang == "en" else "vi"]
    other = "vi" if lang == "en" else "en"
    return (
        f"<!doctype html><html lang='{'en' if lang == 'en' else 'vi'}'><head>"
        "<meta charset='utf-8'><meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<meta name='referrer' content='no-referrer'>"
        f"<title>{html.escape(text['title'])}</title>"
        "<style>body{font:18px/1.4 system-ui,sans-serif;margin:1em;max-width:32em}"
        "input,button{font-size:1em;padding:.5em;width:100%;box-sizing:border-box}"
        ".e{color:#b00020}</style></head><body>"
        f"<h1>{html.escape(text['title'])}</h1><p>{html.escape(text['intro'])}</p>"
        + (f"<p class='e' role='alert'>{html.escape(text['bad'])}</p>" if error else "")
        + "<form id='login' method='post' action='/login'>"
        f"<input type='hidden' name='lang' value='{'en' if lang == 'en' else 'vi'}'>"
        f"<label>{html.escape(text['field'])}<br>"
        "<input name='token' type='password' autocomplete='current-password' required></label>"
        f"<p><button>{html.escape(text['button'])}</button></p></form>"
        f"<p><a href='/login?lang={other}'>{text['other']}</a></p>"
        "<script>const m=/[#&]t=([^&]+)/.exec(location.hash);if(m){"
        "history.replaceState(null,'',location.pathname+location.search);"
        "const f=document.getElementById('login');f.token.value=decodeURIComponent(m[1]);"
        "f.submit();}</script></body></html>"
    )


def login_router(guard: ApiGuard) -> APIRouter:
    """``/login`` (the form, and where it posts) and ``/logout`` for the built-in page."""
    router = APIRouter(tags=["auth"])

    @router.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(lang: str = "vi") -> str:
        return login_page(lang)

    @router.post("/login", include_in_schema=False)
    def login(request: Request, token: str = Form(...), lang: str = Form("vi")) -> Response:
        """Check the token and keep it in an HttpOnly cookie for the page's requests."""
        guard.limit("login", request)
        try:
            guard.check(token.strip(), request)
        except HTTPException as exc:
            if exc.status_code != 401:
                raise
            return HTMLResponse(login_page(lang, error=True), 401)
        target = "/?lang=en" if lang == "en" else "/"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE, token.strip(), max_age=guard.login_days * 86400, httponly=True,
            samesite="lax", secure=request.url.scheme == "https", path="/",
        )  # fmt: skip
        return response

    @router.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return router
