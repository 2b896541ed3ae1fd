"""What an HTTP answer or a transport error means for a delivery: done, retry, or give up.

Shared by the webhook and Zalo channels so both classify the same way (as Alertmanager's
``notify.RetryError`` does for its HTTP notifiers):

- 2xx: delivered.
- 408 Request Timeout, 425 Too Early, 429 Too Many Requests and every 5xx: the receiver is
  busy or down; trying again later can succeed (RFC 9110 §15.5.9, §15.6; RFC 6585 §4).
- any other 4xx: the request itself is wrong (bad token, unknown path, rejected body);
  sending it again gives the same answer, so the outbox stops at once.
- timeouts, refused connections, DNS failures: retryable.

``Retry-After`` (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) becomes
:attr:`RetryLater.after_s`, which the outbox honours as the earliest next attempt.

    >>> classify_status(503, {"Retry-After": "120"}).after_s
    120.0
    >>> classify_status(404, {}).retryable
    False
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from farmwatch_alerting.notification import DeliveryResult

__all__ = ["RETRYABLE_4XX", "RetryLater", "classify_status", "parse_retry_after", "transport_error"]

RETRYABLE_4XX = frozenset({408, 425, 429})
_MAX_RETRY_AFTER_S = 24 * 3600.0  # a receiver asking for more is not worth trusting blindly


@dataclass(frozen=True, slots=True)
class RetryLater(DeliveryResult):
    """A retryable failure with the receiver's own idea of when to try again (seconds)."""

    after_s: float = 0.0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, or None if absent or unreadable.

    >>> parse_retry_after("30")
    30.0
    >>> parse_retry_after("Wed, 15 Jul 2026 20:01:00 GMT", datetime(2026, 7, 15, 20, tzinfo=UTC))
    60.0
    >>> parse_retry_after("soon") is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), _MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return min(max((when - reference).total_seconds(), 0.0), _MAX_RETRY_AFTER_S)


def classify_status(
    status: int, headers: Mapping[str, str], body: str = "", what: str = "HTTP"
) -> DeliveryResult:
    """The delivery result of an HTTP answer with ``status`` (``body`` goes into the detail)."""
    snippet = " ".join(body.split())[:200]
    detail = f"{what} {status}" + (f": {snippet}" if snippet else "")
    if 200 <= status < 300:
        return DeliveryResult.success(detail)
    if status >= 500 or status in RETRYABLE_4XX:
        after = parse_retry_after(_header(headers, "Retry-After"), _date(headers))
        if after is not None:
            return RetryLater(False, True, f"{detail} (Retry-After {after:g} s)", after)
        return DeliveryResult.retry(detail)
    return DeliveryResult.fail(detail)


def transport_error(exc: httpx.TransportError, what: str = "HTTP") -> DeliveryResult:
    """A timeout or connection failure: the request may not have arrived; retry."""
    return DeliveryResult.retry(f"{what} {type(exc).__name__}: {exc}")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value


def _date(headers: Mapping[str, str]) -> datetime | None:
    """The server's clock (``Date``), so an HTTP-date Retry-After survives clock skew."""
    value = _header(headers, "Date")
    if value is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class PooledHttp:
    """A channel's one ``httpx.Client``, made at the first send and kept between alerts (its
    connections and TLS sessions), closed with the channel. Shared by the HTTP channels."""

    timeout_s: float
    _client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout_s, follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
