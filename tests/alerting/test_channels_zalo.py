"""The Zalo ZNS channel against a real local HTTP server that checks requests as ZNS does.

The fake answers like https://business.openapi.zalo.me/message/template (JSON with an
``error`` code; 0 is success) and refuses what ZNS refuses: a wrong access token (-124), a
phone number not in 84xxxxxxxxx form (-108), an unknown template (-109), template data that
is not the template's string parameters within their lengths (-112).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest
from farmwatch_alerting.channels import ZaloChannel
from farmwatch_alerting.channels.zalo import TEMPLATE_PARAMETERS, normalise_phone
from hypothesis import given
from hypothesis import strategies as st

from farmwatch.broker import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

    from alerting.conftest import HttpReceiver, NotificationFactory, Request

TOKEN = "oa-access-token-1"
TEMPLATE = "231456"


def zns(request: Request) -> tuple[int, bytes]:
    """Validate like ZNS; the answer's shape follows Zalo's documentation."""

    def error(code: int, message: str) -> tuple[int, bytes]:
        return 200, json.dumps({"error": code, "message": message}).encode()

    if request.method != "POST" or request.path != "/message/template":
        return 404, b'{"error": 404, "message": "not found"}'
    if request.headers.get("access_token") != TOKEN:
        return error(-124, "Access token invalid")
    if not request.headers.get("content-type", "").startswith("application/json"):
        return error(-106, "Method unsupported")
    body = request.json()
    if not re.fullmatch(r"84\d{9}", str(body.get("phone"))):
        return error(-108, "Phone number invalid")
    if body.get("template_id") != TEMPLATE:
        return error(-109, "Template ID invalid")
    data = body.get("template_data")
    if not isinstance(data, dict) or set(data) != set(TEMPLATE_PARAMETERS):
        return error(-112, "Template data invalid")
    if any(not isinstance(v, str) or len(v) > TEMPLATE_PARAMETERS[k] for k, v in data.items()):
        return error(-112, "Template data invalid")
    if not isinstance(body.get("tracking_id"), str) or len(body["tracking_id"]) > 48:
        return error(-112, "tracking_id invalid")
    answer = {
        "error": 0,
        "message": "Success",
        "data": {
            "msg_id": "a1b2c3",
            "sent_time": "1784146560000",
            "quota": {"remainingQuota": "499"},
        },
    }
    return 200, json.dumps(answer).encode()


@pytest.fixture
def zalo(http_receiver: HttpReceiver) -> Iterator[ZaloChannel]:
    http_receiver.handler = zns
    channel = ZaloChannel("zalo", TOKEN, TEMPLATE, base_url=http_receiver.url, timeout_s=2)
    yield channel
    channel.close()


def test_template_message_to_the_farmers_phone(
    zalo: ZaloChannel, http_receiver: HttpReceiver, notification_factory: NotificationFactory
) -> None:
    notification = notification_factory(to="0912 345 678")
    result = zalo.send(notification)
    assert result.ok, result.detail
    assert "a1b2c3" in result.detail
    (request,) = http_receiver.requests("/message/template")
    body = request.json()
    assert body["phone"] == "84912345678"
    assert body["tracking_id"] == notification.id
    # Vietnamese survives byte-exact into the template's parameters.
    assert body["template_data"] == {
        "farm": "Trại cá Thanh Hà",
        "node": "Ao 2",
        "what": "Oxy hòa tan thấp",
        "value": "2.1 mg/L",
        "limit": "3.0 mg/L",
        "since": "03:15 16/07",
        "action": "Bật máy sục khí ao 2",
        "ack_code": "4821",
    }
    assert "Bật máy sục khí ao 2".encode() in request.body


def test_long_values_are_cut_to_the_parameter_limits(
    zalo: ZaloChannel,
    http_receiver: HttpReceiver,
    notification_factory: NotificationFactory,
) -> None:
    notification = notification_factory()
    alert = dict(notification.alerts[0])
    alert["annotations"] = {**alert["annotations"], "action_vi": "Bật máy sục khí " * 5}
    result = zalo.send(notification_factory(alerts=(alert,)))
    assert result.ok, result.detail
    action = http_receiver.requests()[0].json()["template_data"]["action"]
    assert len(action) == TEMPLATE_PARAMETERS["action"]
    assert action.endswith("…")


def test_expired_token_says_what_to_do(
    http_receiver: HttpReceiver, notification_factory: NotificationFactory
) -> None:
    http_receiver.handler = zns
    channel = ZaloChannel("zalo", "expired", TEMPLATE, base_url=http_receiver.url)
    try:
        result = channel.send(notification_factory())
    finally:
        channel.close()
    assert (result.ok, result.retryable) == (False, False)
    assert "-124" in result.detail
    assert "refresh the Zalo OA access token" in result.detail


@pytest.mark.parametrize(
    ("status", "answer", "retryable"),
    [
        (200, {"error": -100, "message": "Unknown error"}, True),
        (200, {"error": -144, "message": "OA has exceeded the daily quota"}, True),
        (200, {"error": -109, "message": "Template ID invalid"}, False),
        (200, {"error": -118, "message": "Zalo account not existed"}, False),
        (429, {"error": -32, "message": "rate limit"}, True),
        (500, {}, True),
        (503, {}, True),
        (400, {}, False),
    ],
)
def test_error_classification(
    status: int,
    answer: dict[str, object],
    retryable: bool,
    zalo: ZaloChannel,
    http_receiver: HttpReceiver,
    notification_factory: NotificationFactory,
) -> None:
    http_receiver.respond(status, json.dumps(answer).encode())
    result = zalo.send(notification_factory())
    assert (result.ok, result.retryable) == (False, retryable), result.detail


def test_a_non_json_answer_is_retryable(
    zalo: ZaloChannel, http_receiver: HttpReceiver, notification_factory: NotificationFactory
) -> None:
    http_receiver.respond(200, b"<html>captive portal</html>")
    result = zalo.send(notification_factory())
    assert (result.ok, result.retryable) == (False, True)


def test_a_number_zalo_cannot_reach_is_refused_before_sending(
    zalo: ZaloChannel, http_receiver: HttpReceiver, notification_factory: NotificationFactory
) -> None:
    result = zalo.send(notification_factory(to="024 3825 1234"))  # a Hà Nội landline
    assert (result.ok, result.retryable) == (False, False)
    assert http_receiver.requests() == []


def test_unreachable_is_retryable(notification_factory: NotificationFactory) -> None:
    channel = ZaloChannel("zalo", TOKEN, TEMPLATE, base_url=f"http://127.0.0.1:{free_port()}")
    try:
        result = channel.send(notification_factory())
    finally:
        channel.close()
    assert (result.ok, result.retryable) == (False, True)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0912345678", "84912345678"),
        ("0912.345.678", "84912345678"),
        ("+84 912 345 678", "84912345678"),
        ("0084912345678", "84912345678"),
        ("84912345678", "84912345678"),
        ("0369123456", "84369123456"),  # Viettel 03x
        ("0587123456", "84587123456"),  # Vietnamobile 05x
        ("091234567", None),  # a digit short
        ("02438251234", None),  # landline
        ("+1 555 123 4567", None),
        ("", None),
    ],
)
def test_normalise_phone(given: str, expected: str | None) -> None:
    assert normalise_phone(given) == expected


@given(
    prefix=st.sampled_from("35789"),
    rest=st.text("0123456789", min_size=8, max_size=8),
    form=st.sampled_from(["0{}", "84{}", "+84{}", "0084{}", "+84 {}", "0{}."]),
    spacing=st.sampled_from(["", " ", ".", "-"]),
)
def test_every_written_form_of_a_mobile_number_is_the_same_number(
    prefix: str, rest: str, form: str, spacing: str
) -> None:
    local = prefix + rest[:2] + spacing + rest[2:5] + spacing + rest[5:]
    assert normalise_phone(form.format(local).rstrip(".")) == f"84{prefix}{rest}"
