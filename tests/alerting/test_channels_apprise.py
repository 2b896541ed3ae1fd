"""The Apprise channel against a real local HTTP receiver (Apprise's json:// and ntfy://)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from farmwatch_alerting.channels import AppriseChannel

if TYPE_CHECKING:
    from alerting.conftest import HttpReceiver, NotificationFactory


def json_url(receiver: HttpReceiver, path: str = "/apprise") -> str:
    return f"json://127.0.0.1:{receiver.port}{path}"


def test_full_text_with_title_and_ack_link(
    http_receiver: HttpReceiver, notification_factory: NotificationFactory
) -> None:
    notification = notification_factory()
    result = AppriseChannel("tg", [json_url(http_receiver)]).send(notification)
    assert result.ok, result.detail
    (request,) = http_receiver.requests("/apprise")
    body = request.json()
    # Vietnamese survives byte-exact (same code points, so the same UTF-8 bytes).
    assert body["title"].encode() == notification.subject.encode()
    assert body["message"].encode() == f"{notification.text}\n\n{notification.ack_url}".encode()
    assert body["type"] == "failure"  # critical


def test_sms_sized_services_get_the_short_text(
    http_receiver: HttpReceiver, notification_factory: NotificationFactory
) -> None:
    notification = notification_factory()
    result = AppriseChannel("sms", [json_url(http_receiver)], short=True).send(notification)
    assert result.ok, result.detail
    body = http_receiver.requests("/apprise")[0].json()
    assert (body["title"], body["message"]) == ("", notification.short_text)


def test_sms_services_are_recognised_by_their_length_limit() -> None:
    channel = AppriseChannel(
        "sms",
        [
            "twilio://AC1234567890123456789012345678901a:t0ken@15551234567/15557654321",
            "json://127.0.0.1:9/x",
        ],
    )
    assert [short for _, short in channel.services] == [True, False]
    assert all("t0ken" not in shown for shown, _ in channel.services)


def test_ntfy(http_receiver: HttpReceiver, notification_factory: NotificationFactory) -> None:
    notification = notification_factory()
    url = f"ntfy://127.0.0.1:{http_receiver.port}/ao-2"
    assert AppriseChannel("ntfy", [url]).send(notification).ok
    (request,) = http_receiver.requests()
    assert notification.text in request.json()["message"]


def test_failure_is_retryable_and_a_retry_skips_services_that_accepted(
    http_receiver: HttpReceiver, notification_factory: NotificationFactory
) -> None:
    channel = AppriseChannel("two", [json_url(http_receiver, "/a"), json_url(http_receiver, "/b")])
    notification = notification_factory()
    http_receiver.respond(200)  # /a
    http_receiver.respond(500)  # /b
    first = channel.send(notification)
    assert (first.ok, first.retryable) == (False, True)
    assert "500" in first.detail
    second = channel.send(notification)
    assert second.ok, second.detail
    assert [r.path for r in http_receiver.requests()] == ["/a", "/b", "/b"]


def test_unreachable_service_is_retryable(notification_factory: NotificationFactory) -> None:
    from farmwatch.broker import free_port

    channel = AppriseChannel("x", [f"json://127.0.0.1:{free_port()}/x"], timeout_s=5)
    result = channel.send(notification_factory())
    assert (result.ok, result.retryable) == (False, True)


def test_an_unusable_url_stops_the_start_up() -> None:
    with pytest.raises(ValueError, match="Apprise cannot use the nosuchservice:// URL number 1"):
        AppriseChannel("x", ["nosuchservice://whatever"])
