"""``eventually``: wait for a condition instead of sleeping a guessed amount of time.

A fixed ``sleep(2)`` is either too short on a loaded CI machine (flaky) or too long everywhere
else (slow). Polling a predicate with a deadline is both fast and robust, and on timeout the
error says what was last seen.

Example::

    rows = eventually(lambda: store.records("f", "n", start, end), timeout=5)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    predicate: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "",
) -> T:
    """Call ``predicate`` until it returns something truthy and return that value.

    Exceptions from the predicate count as "not yet" (a service that is still starting raises);
    the last value and the last exception are in the AssertionError raised on timeout, and the
    exception is chained so its traceback is shown.
    """
    deadline = time.monotonic() + timeout
    last_value: T | None = None
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet", reported below
            last_error = exc
        else:
            if value:
                return value
            last_value = value
            last_error = None
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    what = f"{message}: " if message else ""
    detail = f"last value {last_value!r}"
    if last_error is not None:
        detail += f", last exception {last_error!r}"
    raise AssertionError(f"{what}condition not met within {timeout:g} s ({detail})") from last_error
