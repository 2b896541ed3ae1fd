"""Following QoS 1 messages from ``publish()`` until the broker's PUBACK.

The live runner and the scenario publisher both promise "every record acknowledged by the
broker, or reported missing". paho calls ``on_publish`` from its network thread, and a PUBACK
can arrive before ``publish()`` has returned the message ID to us; both cases meet here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

T = TypeVar("T")


class PubackTracker(Generic[T]):
    """Pending message IDs, each with the caller's item, until acknowledged.

    ``on_ack(item)`` runs with ``lock`` held (on paho's thread or the publisher's), so it may
    update counters guarded by that same lock; pass the owner's lock to share it.
    """

    def __init__(self, on_ack: Callable[[T], None], lock: threading.Lock | None = None) -> None:
        self.lock = lock or threading.Lock()
        self.changed = threading.Condition(self.lock)
        self._on_ack = on_ack
        self._pending: dict[int, T] = {}
        self._early: set[int] = set()

    def pending(self) -> int:
        """Messages still waiting for their PUBACK; call with ``lock`` held."""
        return len(self._pending)

    def track(self, info: paho.MQTTMessageInfo, item: T) -> None:
        """Follow a message ``publish()`` returned; call without ``lock`` held."""
        # rc may be MQTT_ERR_NO_CONN: paho queued the message and sends it after reconnecting.
        if info.rc == paho.MQTT_ERR_QUEUE_SIZE:
            raise RuntimeError("paho refused to queue a message (queue full or message ID in use)")
        with self.lock:
            if info.mid in self._early:
                self._early.remove(info.mid)
                self._acked(item)
            else:
                self._pending[info.mid] = item

    def on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        """paho's ``on_publish`` callback (QoS 1: the broker's PUBACK arrived)."""
        with self.lock:
            if mid in self._pending:
                self._acked(self._pending.pop(mid))
            else:
                self._early.add(mid)

    def _acked(self, item: T) -> None:
        self._on_ack(item)
        self.changed.notify_all()

    def wait_below(self, limit: int, stop: threading.Event) -> None:
        """Block until fewer than ``limit`` messages await a PUBACK (or ``stop`` is set)."""
        with self.lock:
            while len(self._pending) >= limit and not stop.is_set():
                self.changed.wait(0.2)

    def wait_all(
        self,
        timeout_s: float,
        *,
        progress: Callable[[int], None] | None = None,
        progress_every_s: float = 10.0,
    ) -> int:
        """Wait for every PUBACK; return how many are still missing after ``timeout_s``.

        ``progress(pending)`` is called every ``progress_every_s`` while waiting.
        """
        deadline = time.monotonic() + timeout_s
        next_progress = time.monotonic() + progress_every_s
        with self.lock:
            while self._pending:
                now = time.monotonic()
                if now >= deadline:
                    break
                if progress is not None and now >= next_progress:
                    progress(len(self._pending))
                    next_progress = now + progress_every_s
                self.changed.wait(min(deadline, next_progress) - now)
            return len(self._pending)
