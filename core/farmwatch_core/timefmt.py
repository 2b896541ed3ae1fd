"""Times are stored in UTC and shown to people in Vietnam's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

DISPLAY_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def local_text(ts: datetime) -> str:
    """Format a UTC time for a farmer.

    >>> from datetime import UTC
    >>> local_text(datetime(2026, 11, 29, 20, 15, tzinfo=UTC))
    '2026-11-30 03:15:00 +07'
    """
    return ts.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M:%S %Z")
