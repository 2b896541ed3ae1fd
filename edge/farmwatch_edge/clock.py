"""Timestamps for readings: strictly increasing milliseconds and an honest ``synced`` flag.

Why this is its own module: a Raspberry Pi has no real-time clock. After a power cut it boots
with the time of its last shutdown (fake-hwclock) or 1970, and only NTP, once the 4G link is up,
makes it right. Readings taken meanwhile carry a wrong time, so the contract asks for
``synced=false`` on them. Two checks decide, both without ``timedatectl`` (which needs D-Bus
and systemd):

1. the wall clock is not earlier than :data:`BUILD_FLOOR` (a clock before this code existed is
   certainly wrong);
2. the kernel's NTP state (``adjtimex(2)`` through ctypes, read-only): ``TIME_ERROR`` means the
   kernel considers the clock unsynchronised (``STA_UNSYNC``), which is what chrony,
   systemd-timesyncd and ntpd clear once they have set it.

When the clock becomes synchronised, the agent re-stamps the records still in the outbox that
were taken during this boot, from the monotonic clock (see :meth:`Outbox.restamp`).

The contract also says a node must never send two records with the same millisecond: the
server keys records by node and timestamp. :class:`Stamper` guarantees that, also across
restarts (it starts from the last timestamp stored in the outbox).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

BUILD_FLOOR = datetime(2026, 1, 1, tzinfo=UTC)
"""No correct clock reads earlier than this (before this version was written)."""

_TIME_ERROR = 5  # adjtimex(2) return value: clock not synchronised
_TIMEX_BUFFER = 512  # sizeof(struct timex) is 208 on 64-bit Linux; room to spare


class ClockMode(StrEnum):
    """How the agent decides whether the clock is right (config ``clock.mode``)."""

    AUTO = "auto"  # build floor + kernel NTP state
    FLOOR = "floor"  # build floor only (nodes whose NTP daemon does not report to the kernel)
    SYNCED = "synced"  # trust the clock (a node with a battery-backed RTC)
    UNSYNCED = "unsynced"  # never trust it (tests, or a node known to drift)


def kernel_says_unsynced() -> bool | None:
    """True if adjtimex reports TIME_ERROR, False if synced, None if it cannot be asked.

    ``modes = 0`` makes the call read-only, so no privilege is needed.

    Why ``CDLL(None)`` and not ``ctypes.util.find_library("c")``: the interpreter is already
    linked against the C library, so its symbols are in the process; ``ctypes.util`` would
    import ``subprocess`` (and may run ``ldconfig``) for nothing. ctypes itself is imported
    here, not at module level: only ``clock.mode: auto`` asks the kernel.
    """
    import ctypes

    try:
        adjtimex = ctypes.CDLL(None, use_errno=True).adjtimex
    except (OSError, AttributeError):
        return None
    buffer = ctypes.create_string_buffer(_TIMEX_BUFFER)  # zeroed: modes = 0
    state = int(adjtimex(buffer))
    if state < 0:
        return None
    return state == _TIME_ERROR


def boot_id() -> str:
    """This boot's random ID from the kernel (monotonic times are comparable only within it)."""
    path = Path("/proc/sys/kernel/random/boot_id")
    try:
        return path.read_text().strip()
    except OSError:
        return "unknown"


class ClockCheck:
    """Answers "is the wall clock right?"; once it has been, it stays so for this process."""

    def __init__(
        self,
        mode: ClockMode = ClockMode.AUTO,
        *,
        floor: datetime = BUILD_FLOOR,
        wall_ms: Callable[[], int] | None = None,
        kernel_unsynced: Callable[[], bool | None] = kernel_says_unsynced,
    ) -> None:
        self.mode = mode
        self.floor = floor
        self.wall_ms = wall_ms or _wall_ms
        self.kernel_unsynced = kernel_unsynced
        self._synced = False

    def synced(self) -> bool:
        if self._synced or self.mode is ClockMode.SYNCED:
            return True
        if self.mode is ClockMode.UNSYNCED:
            return False
        if self.wall_ms() < int(self.floor.timestamp() * 1000):
            return False
        if self.mode is ClockMode.AUTO and self.kernel_unsynced() is True:
            return False
        self._synced = True
        return True


class Stamper:
    """Hands out strictly increasing millisecond timestamps, starting after ``last_ms``.

    >>> stamp = Stamper(last_ms=1000, wall_ms=lambda: 500)
    >>> stamp(), stamp()
    (1001, 1002)
    """

    def __init__(self, *, last_ms: int = 0, wall_ms: Callable[[], int] | None = None) -> None:
        self.last_ms = last_ms
        self.wall_ms = wall_ms or _wall_ms

    def __call__(self) -> int:
        ts = max(self.wall_ms(), self.last_ms + 1)
        self.last_ms = ts
        return ts


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def mono_ms() -> int:
    """The monotonic clock in milliseconds (CLOCK_MONOTONIC: never jumps with NTP)."""
    return time.monotonic_ns() // 1_000_000
