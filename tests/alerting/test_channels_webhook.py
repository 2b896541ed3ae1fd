"""The webhook channel against a real local HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from farmwatch_alerting.channels import RetryLater, WebhookChannel

from farmwatch.broker import free_port

if TYPE_CHECKING:
    from alerting.conftest import HttpReceiver, NotificationFactory

TOKEN = "t0ken"
SECRET = "0123456789abcdef"


@pytest.fixture
def webhook(http_receiver: HttpReceiver) -> Iterator[WebhookChannel]:
    channel = WebhookChannel(
        "hook",
        f"{http_receiver.url}/hook",
        bearer_token=TOKEN,
        hmac_secret=SECRET,
        timeout_s=2.0,
    )
    yield channel
    channel.close()


def test_posts_the_notification_and_its_alerts_as_utf8_json(
    webhook: WebhookChannel, http_receiver: HttpReceiver, notification_factory: NotificationFactory
) -> None:
    notification = notification_factory(channel="hook")
    result = webhook.send(notification)
    assert result.ok, result.detail
    (request,) = http_receiver.requests("/hook")
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["idempotency-key"] == notification.id
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-farmwatch-signature"] == f"sha256={expected}"
    # Vietnamese arrives byte-exact, not as \u escapes.
    assert json.dumps(notification.text, ensure_ascii=False).encode() in request.body
    assert notification.subject.encode() in request.body
    body = request.json()
    assert body["version"] == "1"
    assert body["notification"]["id"] == notification.id
    assert body["notification"]["text"] == notification.text
    assert body["notification"]["created_at"] == "2026-07-15T20:16:00Z"
    assert "alerts" not in body["notification"]
    assert body["alerts"] == [dict(a) for a in notification.alerts]


def test_without_a_configured_url_the_notification_says_where(
    http_receiver: HttpReceiver, notification_factory: NotificationFactory
) -> None:
    channel = WebhookChannel("hook")
    try:
        assert channel.send(notification_factory(to=f"{http_receiver.url}/per-contact")).ok
        assert not channel.send(notification_factory(to="0912345678")).retryable
    finally:
        channel.close()
    assert len(http_receiver.requests("/per-contact")) == 1


@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [
        (200, True, False),
        (202, True, False),
        (204, True, False),
        (500, False, True),
        (502, False, True),
        (503, False, True),
        (504, False, True),
        (408, False, True),
        (429, False, True),
        (400, False, False),
        (401, False, False),
        (403, False, False),
        (404, False, False),
        (410, False, False),
        (422, False, False),
    ],
)
def test_status_classification(
    status: int,
    ok: bool,
    retryable: bool,
    webhook: WebhookChannel,
    http_receiver: HttpReceiver,
    notification_factory: NotificationFactory,
) -> None:
    http_receiver.respond(status, b"" if status == 204 else b'{"why":"test"}')
    result = webhook.send(notification_factory())
    assert (result.ok, result.retryable) == (ok, retryable), result.detail
    assert str(status) in result.detail


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_passed_on(
    status: int,
    webhook: WebhookChannel,
    http_receiver: HttpReceiver,
    notification_factory: NotificationFactory,
) -> None:
    http_receiver.respond(status, b"{}", {"Retry-After": "120"})
    result = webhook.send(notification_factory())
    assert isinstance(result, RetryLater)
    assert (result.ok, result.retryable, result.after_s) == (False, True, 120.0)
    assert "Retry-After 120 s" in result.detail


def test_timeout_is_retryable(
    http_receiver: HttpReceiver, notification_factory: NotificationFactory
) -> None:
    http_receiver.respond(200, delay_s=1.5)
    channel = WebhookChannel("hook", f"{http_receiver.url}/slow", timeout_s=0.3)
    try:
        result = channel.send(notification_factory())
    finally:
        channel.close()
    assert (result.ok, result.retryable) == (False, True)
    assert "Timeout" in result.detail


def test_connection_refused_is_retryable(notification_factory: NotificationFactory) -> None:
    channel = WebhookChannel("hook", f"http://127.0.0.1:{free_port()}/nobody", timeout_s=1)
    try:
        result = channel.send(notification_factory())
    finally:
        channel.close()
    assert (result.ok, result.retryable) == (False, True)
    assert "ConnectError" in result.detail
