"""Fixtures for the alerting tests: real local receivers for the delivery channels.

- ``http_receiver``: a real HTTP server (``http.server.ThreadingHTTPServer`` in a thread) that
  records every request and answers what the test scripts (500, 429 with Retry-After, 400...),
  or what a ``handler`` decides (e.g. a fake ZNS that validates the request like Zalo does).
- ``smtp_server`` / ``start_smtp``: aiosmtpd's Controller, a real SMTP server on a free port,
  recording every message, optionally with AUTH, STARTTLS or implicit TLS, and able to refuse
  recipients with a scripted reply (451 greylisting, 550 no such user).
- ``tls_files``: a self-signed certificate for 127.0.0.1/localhost (openssl), per session.
- ``notification_factory``: a Vietnamese notification with one alert, fields overridable;
  ``alert_factory``: such an alert for a given farm and node.

MQTT uses the session mosquitto from tests/conftest.py (``mqtt_settings``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from farmwatch_alerting.alert import Alert, Severity
from farmwatch_alerting.notification import Notification
from support.tls import TlsFiles, make_tls_files

from farmwatch.broker import free_port

# --------------------------------------------------------------------------------------------
# Vietnamese sample text (with diacritics that have both precomposed and combining forms)

SUBJECT_VI = "Cảnh báo: Oxy hòa tan thấp ở Ao 2"
TEXT_VI = (
    "Trại cá Thanh Hà, Ao 2: oxy hòa tan 2,1 mg/L (giới hạn 3,0 mg/L) từ 03:15.\n"
    "Bật máy sục khí ao 2 ngay. Trả lời OK 4821 để xác nhận."
)
SHORT_VI = "Ao 2 oxy 2,1<3,0 mg/L. Bật sục khí! OK 4821"


# --------------------------------------------------------------------------------------------
# HTTP receiver


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.monotonic()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Response:
    status: int = 200
    body: bytes = b'{"ok":true}'
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class HttpReceiver:
    """A real HTTP server that records requests and answers as scripted.

    Answers, in order of precedence: the next scripted response (:meth:`script`), else
    ``handler(request)`` if set, else ``default``.
    """

    def __init__(self) -> None:
        self.default = Response()
        # (status, body) is short for Response(status, body) so handlers need no import.
        self.handler: Callable[[Request], Response | tuple[int, bytes]] | None = None
        self._scripted: deque[Response] = deque()
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def setup(self) -> None:
                # http.server writes headers and body separately; without TCP_NODELAY, Nagle
                # and delayed ACKs add ~40 ms to every answer on a kept-alive connection.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                super().setup()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                    time.monotonic(),
                )
                response = receiver._record(request)
                if response.delay_s:
                    time.sleep(response.delay_s)
                # The client may have given up (a timeout test): nobody to answer then.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(response.status)
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    self.wfile.write(response.body)

            do_POST = do_PUT = do_GET = _serve  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the requests are recorded instead

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *responses: Response) -> None:
        """Answer the next requests with these, in order, then fall back."""
        with self._lock:
            self._scripted.extend(responses)

    def respond(
        self,
        status: int,
        body: bytes = b"{}",
        headers: dict[str, str] | None = None,
        *,
        delay_s: float = 0.0,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (e.g. 503 during an outage)."""
        self.script(*[Response(status, body, dict(headers or {}), delay_s)] * times)

    def requests(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def _record(self, request: Request) -> Response:
        with self._lock:
            self._requests.append(request)
            if self._scripted:
                return self._scripted.popleft()
        if self.handler is None:
            return self.default
        answer = self.handler(request)
        return Response(*answer) if isinstance(answer, tuple) else answer

    def start(self) -> HttpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """A fresh HTTP receiver on a free port, answering 200 ``{"ok":true}`` by default."""
    receiver = HttpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


# --------------------------------------------------------------------------------------------
# TLS material


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate valid for 127.0.0.1 and localhost (the CA file is itself)."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


# --------------------------------------------------------------------------------------------
# SMTP server


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes  # the message as received (RFC 5322 bytes)


class _SmtpHandler:
    """aiosmtpd handler: records messages; refuses recipients with scripted replies."""

    def __init__(self) -> None:
        self.mails: list[ReceivedMail] = []
        self.rcpt_replies: deque[str] = deque()
        self._lock = threading.Lock()

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:  # fmt: skip
        with self._lock:
            if self.rcpt_replies:
                return self.rcpt_replies.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        with self._lock:
            self.mails.append(
                ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), content)
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    """A running aiosmtpd server: ``port``, recorded ``mails``, ``refuse_next(reply)``."""

    def __init__(self, controller: Controller, handler: _SmtpHandler) -> None:
        self.controller = controller
        self._handler = handler

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def mails(self) -> list[ReceivedMail]:
        return list(self._handler.mails)

    def refuse_next(self, *replies: str) -> None:
        """Answer the next RCPT TO commands with these replies (e.g. "451 4.7.1 try later")."""
        self._handler.rcpt_replies.extend(replies)


class StartSmtp(Protocol):
    def __call__(
        self,
        *,
        users: dict[str, str] | None = None,
        starttls: TlsFiles | None = None,
        implicit_tls: TlsFiles | None = None,
    ) -> SmtpServer: ...


@pytest.fixture
def start_smtp() -> Iterator[StartSmtp]:
    """Start aiosmtpd servers (stopped after the test) with AUTH users and/or TLS."""
    controllers: list[Controller] = []

    def start(
        *,
        users: dict[str, str] | None = None,
        starttls: TlsFiles | None = None,
        implicit_tls: TlsFiles | None = None,
    ) -> SmtpServer:
        handler = _SmtpHandler()
        options: dict[str, Any] = {}
        if users is not None:

            def authenticate(
                server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                auth_data: Any,
            ) -> AuthResult:  # fmt: skip
                ok = (
                    isinstance(auth_data, LoginPassword)
                    and users.get(auth_data.login.decode()) == auth_data.password.decode()
                )
                return AuthResult(success=ok, handled=False)  # False: the server answers 535

            options.update(authenticator=authenticate, auth_required=True)
            options["auth_require_tls"] = starttls is not None
        if starttls is not None:
            options.update(tls_context=starttls.server_context(), require_starttls=True)
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=free_port(),
            ssl_context=implicit_tls.server_context() if implicit_tls else None,
            **options,
        )
        controller.start()
        controllers.append(controller)
        return SmtpServer(controller, handler)

    yield start
    for controller in controllers:
        with contextlib.suppress(Exception):
            controller.stop()


@pytest.fixture
def smtp_server(start_smtp: StartSmtp) -> SmtpServer:
    """A plain SMTP server (no AUTH, no TLS), like a local relay."""
    return start_smtp()


# --------------------------------------------------------------------------------------------
# Notifications


class NotificationFactory(Protocol):
    def __call__(self, **overrides: Any) -> Notification: ...


def sample_alert(farm: str = "pond-01", node: str = "pond-01-n2") -> Alert:
    at = datetime(2026, 7, 15, 20, 15, tzinfo=UTC)  # 03:15 in Hải Dương
    alert = Alert.new(
        {"alertname": "DoLow", "farm": farm, "node": node, "quantity": "dissolved_oxygen"},
        Severity.CRITICAL,
        at,
        {"farm_name": "Trại cá Thanh Hà", "node_name": "Ao 2", "summary": "Oxy hòa tan thấp"},
    )
    notes = {"value": "2.1", "limit": "3.0", "unit": "mg/L", "action_vi": "Bật máy sục khí ao 2"}
    return alert.fire(at, notes)


class AlertFactory(Protocol):
    def __call__(self, farm: str = ..., node: str = ...) -> Alert: ...


@pytest.fixture
def alert_factory() -> AlertFactory:
    """A firing critical DO alert at ``farm``/``node`` with Vietnamese annotations."""
    return sample_alert


@pytest.fixture
def notification_factory() -> NotificationFactory:
    """A Vietnamese critical notification with one firing alert and a unique id."""

    def make(**overrides: Any) -> Notification:
        base = Notification(
            id=f"n-{uuid.uuid4().hex[:16]}",
            channel="test",
            to="0912345678",
            subject=SUBJECT_VI,
            text=TEXT_VI,
            short_text=SHORT_VI,
            language="vi",
            severity="critical",
            receiver="farmer",
            reason="new",
            created_at=datetime(2026, 7, 15, 20, 16, tzinfo=UTC),
            ack_url="https://fw.example.vn/a/4821",
            ack_code="4821",
            alerts=(sample_alert().as_json(),),
        )
        return replace(base, **overrides)

    return make
