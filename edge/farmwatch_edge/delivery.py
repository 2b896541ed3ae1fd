"""Publishing the outbox over MQTT: QoS 1, acknowledged records removed, replay paced.

How a record travels, and why it is never lost:

1. the agent writes it to the :class:`Outbox` (fsynced) — before any network I/O;
2. :meth:`Delivery.pump` publishes waiting records as contract batches (QoS 1) and remembers
   which outbox ids each paho message id (``mid``) carries;
3. paho calls ``on_publish(mid)`` from its network thread when the broker's PUBACK arrives; the
   mid goes through a queue (SQLite connections must stay on one thread) and the next ``pump``
   deletes exactly those ids;
4. on a disconnect the mid map is forgotten and the cursor rewinds: everything still in the
   outbox is published again after the reconnect. A record whose PUBACK was lost is therefore
   sent twice — acceptable, the server deduplicates by node and timestamp — but none is lost.

Replay after an outage is paced by a token bucket (``rate_limit_per_s`` records per second)
and a cap on unacknowledged messages in flight, so a farm's nodes returning together do not
flood ingest. Reconnecting uses paho's exponential backoff (``reconnect_min_s`` to
``reconnect_max_s``); TLS and username/password come from :class:`MqttLinkSettings`.

The node's status is a retained JSON message on ``.../status``: ``{"state": "online", ...}``
with version, uptime, queue depth, dropped records and driver errors, and the MQTT last will
sets it to ``{"state": "offline"}`` if the node vanishes.

Messages *to* the node (the retained ``.../config`` and ``.../cmd/{actuator}``) are subscribed
to on every connect (the session is clean, so a reconnect redelivers the retained config and
commands sent while the node was offline are not replayed hours later). paho hands them over
on its thread; they wait in a queue for the agent loop (:meth:`Delivery.inbox`).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from contextlib import closing
from itertools import chain
from typing import Any

import paho.mqtt.client as paho
from farmwatch_core.contract import Channel, TopicFilter, encode_record, node_topic
from farmwatch_core.contract.topics import validate_prefix

from farmwatch_edge.config import EdgeConfig
from farmwatch_edge.mqtt_link import new_client
from farmwatch_edge.outbox import Outbox, batches

log = logging.getLogger(__name__)


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up.

    >>> bucket = TokenBucket(rate=100, burst=10, now=lambda: 0.0)
    >>> bucket.available()
    10
    """

    def __init__(self, rate: float, burst: float, now: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self.now = now
        self._tokens = burst
        self._at = now()

    def available(self) -> int:
        at = self.now()
        self._tokens = min(self.burst, self._tokens + (at - self._at) * self.rate)
        self._at = at
        return int(self._tokens)

    def take(self, count: int) -> None:
        self._tokens -= count


class Delivery:
    """Owns the MQTT client of one node; call :meth:`pump` from the thread owning the outbox."""

    def __init__(self, config: EdgeConfig, outbox: Outbox) -> None:
        self.config = config
        self.outbox = outbox
        prefix = config.mqtt.topic_prefix
        self.telemetry_topic = str(
            node_topic(config.farm_id, config.node_id, Channel.TELEMETRY, prefix=prefix)
        )
        self.status_topic = str(
            node_topic(config.farm_id, config.node_id, Channel.STATUS, prefix=prefix)
        )
        self.config_topic = str(
            node_topic(config.farm_id, config.node_id, Channel.CONFIG, prefix=prefix)
        )
        self.prefix = validate_prefix(prefix)
        self.cmd_filter = str(
            TopicFilter(Channel.CMD, config.farm_id, config.node_id, validate_prefix(prefix))
        )
        self.client, self.address = new_client(
            config.mqtt, f"fw-edge-{config.farm_id}-{config.node_id}"
        )
        self.client.will_set(
            self.status_topic, json.dumps({"state": "offline"}), qos=1, retain=True
        )
        self.client.reconnect_delay_set(
            min_delay=max(1, round(config.reconnect_min_s)),
            max_delay=max(1, round(config.reconnect_max_s)),
        )
        # paho's own window must not be the bottleneck; ours (max_inflight) is the limit.
        self.client.max_inflight_messages_set(config.outbox.max_inflight * 2 + 10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self._inbox: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._connected = threading.Event()
        self._sessions = 0  # bumped by paho's thread on every connect/disconnect
        self._seen_sessions = 0
        self._inflight: dict[int, list[int]] = {}
        self._cursor = 0
        self._bucket = TokenBucket(
            config.outbox.rate_limit_per_s,
            burst=max(config.outbox.rate_limit_per_s, config.outbox.batch_records),
        )
        self.published_records = 0
        self.acked_records = 0
        self.connects = 0

    # -- paho's network thread ----------------------------------------------------------------

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT connection refused: %s", reason)
            return
        log.info("connected to %s", self.address.url())
        client.subscribe([(self.config_topic, 1), (self.cmd_filter, 1)])
        self.connects += 1
        self._sessions += 1
        self._connected.set()

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self._connected.is_set():
            log.warning("disconnected from %s (%s); will reconnect", self.address.url(), reason)
        self._connected.clear()
        self._sessions += 1

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: Any, props: Any
    ) -> None:
        self._acks.put(mid)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._inbox.put((msg.topic, bytes(msg.payload)))

    # -- the owner's thread -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def start(self) -> None:
        """Connect in the background; paho retries (with backoff) until the broker answers."""
        self.client.connect_async(
            self.address.host, self.address.port, keepalive=self.config.mqtt.keepalive_s
        )
        self.client.loop_start()

    def stop(self, status: dict[str, Any] | None = None, timeout: float = 5.0) -> None:
        """Say goodbye: retained offline status, then disconnect (the will is not sent)."""
        if self.connected:
            body = {**(status or {}), "state": "offline"}
            info = self.client.publish(self.status_topic, json.dumps(body), qos=1, retain=True)
            deadline = time.monotonic() + timeout
            while not info.is_published() and self.connected and time.monotonic() < deadline:
                time.sleep(0.01)
            self.pump_acks()
        self.client.disconnect()
        self.client.loop_stop()

    def publish_status(self, status: dict[str, Any]) -> None:
        if self.connected:
            self.client.publish(self.status_topic, json.dumps(status), qos=1, retain=True)

    def publish_json(self, topic: str, body: dict[str, Any]) -> None:
        """Publish (QoS 1, not retained) if connected; used for command acknowledgements."""
        if self.connected:
            self.client.publish(topic, json.dumps(body), qos=1)

    def inbox(self) -> list[tuple[str, bytes]]:
        """The messages received since the last call, as (topic, payload), in arrival order."""
        out: list[tuple[str, bytes]] = []
        while True:
            try:
                out.append(self._inbox.get_nowait())
            except queue.Empty:
                return out

    def pump_acks(self) -> int:
        """Delete acknowledged records from the outbox; return how many."""
        done: list[int] = []
        while True:
            try:
                mid = self._acks.get_nowait()
            except queue.Empty:
                break
            done.extend(self._inflight.pop(mid, ()))
        self.outbox.remove(done)
        self.acked_records += len(done)
        return len(done)

    def pump(self) -> int:
        """Handle acknowledgements, then publish what the window and rate allow; return the
        number of records published."""
        if self._sessions != self._seen_sessions:
            # Connected or disconnected since the last pump: whatever was in flight may never
            # be acknowledged now. Forget it; it is still in the outbox and will be sent again.
            self._seen_sessions = self._sessions
            self._inflight.clear()
            self._cursor = 0
        self.pump_acks()
        if not self.connected:
            return 0
        sent = 0
        limits = self.config.outbox
        while len(self._inflight) < limits.max_inflight:
            allowed = min(limits.batch_records, self._bucket.available())
            if allowed < 1:
                break
            with closing(self.outbox.iter_pending(after_id=self._cursor, limit=allowed)) as entries:
                first = next(entries, None)
                if first is None:
                    break
                for ids, batch in batches(
                    chain([first], entries), max_records=limits.batch_records
                ):
                    # A lone record goes as a single v1 message, as when it is sent live.
                    payload = encode_record(first.record) if ids == [first.id] else batch
                    info = self.client.publish(self.telemetry_topic, payload, qos=1)
                    if info.rc != paho.MQTT_ERR_SUCCESS:
                        return sent  # the connection just dropped; pump() rewinds next time
                    self._inflight[info.mid] = ids
                    self._cursor = ids[-1]
                    self._bucket.take(len(ids))
                    sent += len(ids)
        self.published_records += sent
        return sent
