"""Generic webhook: POST the notification and its alerts as JSON.

The body is ``{"version": "1", "notification": {...}, "alerts": [...]}`` (see
:mod:`.payload`), UTF-8 without ``\\u`` escapes. Headers:

- ``Idempotency-Key``: the notification id, unchanged across retries, so a receiver can drop
  the duplicate a retry after a lost response produces (at-least-once delivery).
- ``Authorization: Bearer <token>`` when a token is configured.
- ``X-Farmwatch-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body bytes with the shared
  secret, GitHub's webhook convention, so receivers can reuse their verification code.

Classification (see :mod:`.http_results`): 2xx delivered; 408/425/429, 5xx, timeouts and
connection errors retryable (``Retry-After`` honoured); other 4xx not.
"""

from __future__ import annotations

import hashlib
import hmac

import httpx

from farmwatch_alerting.channels.http_results import (
    PooledHttp,
    classify_status,
    transport_error,
)
from farmwatch_alerting.channels.payload import dumps, envelope
from farmwatch_alerting.notification import DeliveryResult, Notification

__all__ = ["SIGNATURE_HEADER", "WebhookChannel", "sign"]

SIGNATURE_HEADER = "X-Farmwatch-Signature"
USER_AGENT = "farmwatch-alerting/0.1"


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``.

    >>> sign("s3cret", b"{}")
    'sha256=adbde1ce40c89c14215687d5d762a47df6dfaefcfad61e2e86718ffc8498571b'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel(PooledHttp):
    """POSTs to ``url``, or to the notification's ``to`` when no URL is configured."""

    def __init__(
        self,
        name: str,
        url: str | None = None,
        *,
        bearer_token: str | None = None,
        hmac_secret: str | None = None,
        timeout_s: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.bearer_token = bearer_token
        self.hmac_secret = hmac_secret
        self.timeout_s = timeout_s
        self.headers = dict(headers or {})

    def send(self, notification: Notification) -> DeliveryResult:
        url = self.url or notification.to
        if not url.startswith(("http://", "https://")):
            return DeliveryResult.fail(f"webhook URL {url!r} must start with http:// or https://")
        body = dumps(envelope(notification))
        headers = {
            **self.headers,
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": notification.id,
        }
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        if self.hmac_secret:
            headers[SIGNATURE_HEADER] = sign(self.hmac_secret, body)
        try:
            response = self._http().post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            return transport_error(exc)
        except httpx.HTTPError as exc:  # e.g. an invalid URL: the configuration is wrong
            return DeliveryResult.fail(f"HTTP {type(exc).__name__}: {exc}")
        return classify_status(response.status_code, response.headers, response.text)
