"""The ingest service: MQTT telemetry in, validated readings durably stored, then acknowledged.

Shape (Telegraf's mqtt_consumer, with its max_undelivered_messages idea)::

    paho network thread ──on_message──▶ bounded queue ──▶ writer (this thread)
                                                           │ validate (contract + registry)
                                                           │ store.write(records)   ← durable
                                                           │ dead_letters.add(...)  ← durable
                                                           └ PUBACK every message, in order

A QoS 1 message is acknowledged only after its readings (or its dead letter) are on disk, so a
crash at any moment means redelivery, never loss; the stores are idempotent, so redelivery
never means duplicates. While the store is down the writer retries and stops acknowledging;
the broker then stops sending (max_inflight_messages) and queues for our persistent session.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as paho
from farmwatch_core.contract import Channel, Reason, Rejection, TopicFilter
from farmwatch_core.mqtt import new_client
from farmwatch_core.settings import IngestSettings, MqttSettings
from paho.mqtt.reasoncodes import ReasonCode

from farmwatch_ingest.deadletter import DeadLetter, DeadLetterStore
from farmwatch_ingest.stores.base import NodeRecord, Store, StoreRejected, StoreUnavailable
from farmwatch_ingest.validation import TelemetryValidator

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: datetime
    generation: int


@dataclass(slots=True)
class IngestStats:
    """Counters for the API, logs and tests. Only the writer thread mutates them."""

    messages: int = 0
    records: int = 0
    readings: int = 0
    dead_letters: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    store_retries: int = 0
    connected: bool = False
    last_write_at: datetime | None = None


class IngestService:
    """Subscribes to every node's telemetry and writes it to a :class:`Store`."""

    def __init__(
        self,
        mqtt: MqttSettings,
        settings: IngestSettings,
        store: Store,
        dead_letters: DeadLetterStore,
        validator: TelemetryValidator,
    ) -> None:
        self.mqtt = mqtt
        self.settings = settings
        self.store = store
        self.dead_letters = dead_letters
        self.validator = validator
        self.stats = IngestStats()
        # The broker never has more than max_inflight_messages unacknowledged messages out to
        # us, so this bound is never hit in practice; if it were, paho's thread would block,
        # which is backpressure, not loss.
        self._inbox: queue.Queue[Inbound] = queue.Queue(maxsize=20_000)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._generation = 0
        self._client: paho.Client | None = None

    # -- paho callbacks (run on paho's network thread) -------------------------------------

    def _on_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        if reason.is_failure:
            log.error(
                "broker refused the connection: %s; check the MQTT URL and credentials", reason
            )
            return
        self._generation += 1
        subscription = TopicFilter(Channel.TELEMETRY, prefix=self.mqtt.topic_prefix)
        topic = (
            subscription.shared(self.settings.shared_group)
            if self.settings.shared_group
            else str(subscription)
        )
        client.subscribe(topic, qos=1)
        self.stats.connected = True
        self._ready.set()
        log.info(
            "ingest connected to %s as %s (session present: %s), subscribed to %s",
            self.mqtt.url,
            self.settings.client_id,
            flags.session_present,
            topic,
        )

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        self.stats.connected = False
        if not self._stop.is_set():
            log.warning(
                "lost the broker (%s); reconnecting, unacknowledged messages will be redelivered",
                reason,
            )

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        self._inbox.put(
            Inbound(
                msg.topic,
                bytes(msg.payload),
                msg.mid,
                msg.qos,
                datetime.now(UTC),
                self._generation,
            )
        )

    # -- lifecycle -------------------------------------------------------------------------

    def wait_ready(self, timeout: float) -> bool:
        """True once connected and subscribed."""
        return self._ready.wait(timeout)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Connect and process messages until :meth:`stop`; blocks."""
        client, address = new_client(
            self.mqtt, self.settings.client_id, persistent=True, manual_ack=True
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        client.connect_async(address.host, address.port, keepalive=self.mqtt.keepalive_s)
        client.loop_start()
        try:
            while not self._stop.is_set():
                batch = self._next_batch()
                if batch:
                    self._process(client, batch)
        finally:
            client.disconnect()
            client.loop_stop()
            self.stats.connected = False

    def _next_batch(self) -> list[Inbound]:
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_linger_s
        while len(batch) < self.settings.batch_max_messages:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self._inbox.get(timeout=remaining)
                    if remaining > 0
                    else self._inbox.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _process(self, client: paho.Client, batch: list[Inbound]) -> None:
        records: list[NodeRecord] = []
        letters: list[DeadLetter] = []
        per_message: list[list[NodeRecord]] = []
        for msg in batch:
            checked = self.validator.check(msg.topic, msg.payload, msg.received_at)
            records.extend(checked.records)
            per_message.append(checked.records)
            if checked.dead_letter is not None:
                letters.append(checked.dead_letter)
        if not self._write(records, batch, per_message, letters):
            return  # stopping while the store is down: leave unacknowledged for redelivery
        self.dead_letters.add(letters)
        for msg in batch:
            if msg.qos > 0 and msg.generation == self._generation:
                # After a reconnect the broker redelivers these itself; a stale PUBACK could
                # name a different message of the new connection.
                client.ack(msg.mid, msg.qos)
        self.stats.messages += len(batch)
        stored = [r for msg_records in per_message for r in msg_records]
        self.stats.records += len(stored)
        self.stats.readings += sum(len(r.record.readings) for r in stored)
        self.stats.dead_letters += len(letters)
        for letter in letters:
            self.stats.rejections.update(r.reason.value for r in letter.rejections)
            log.info("dead letter from %s: %s", letter.topic, letter.detail)
        self.stats.last_write_at = datetime.now(UTC)

    def _write(
        self,
        records: list[NodeRecord],
        batch: list[Inbound],
        per_message: list[list[NodeRecord]],
        letters: list[DeadLetter],
    ) -> bool:
        """Write until durable; False only if asked to stop while the store is unavailable.

        If the store refuses the batch (StoreRejected), it is written message by message so that
        only the refused messages become dead letters and everything beside them is kept.
        """
        backoff = 0.5
        outage_logged = False
        one_by_one = False
        while True:
            try:
                if not one_by_one:
                    if records:
                        self.store.write(records)
                else:
                    refused = self._write_one_by_one(batch, per_message)
                    letters.extend(refused)
            except StoreRejected:
                one_by_one = True
                continue
            except StoreUnavailable as exc:
                self.stats.store_retries += 1
                if not outage_logged:
                    log.error(  # noqa: TRY400 - the message says it all; no traceback wanted
                        "store unavailable, holding %d messages unacknowledged and retrying: %s",
                        len(batch),
                        exc,
                    )
                    outage_logged = True
                if self._stop.wait(backoff):
                    return False
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                continue
            if outage_logged:
                log.warning("store is back; %d held messages written", len(batch))
            return True

    def _write_one_by_one(
        self, batch: list[Inbound], per_message: list[list[NodeRecord]]
    ) -> list[DeadLetter]:
        refused: list[DeadLetter] = []
        for msg, msg_records in zip(batch, per_message, strict=True):
            if not msg_records:
                continue
            try:
                self.store.write(msg_records)
            except StoreRejected as exc:
                first = msg_records[0]
                rejection = Rejection(
                    Reason.STORE_REJECTED, f"the database refused these readings: {exc}"
                )
                refused.append(
                    DeadLetter(
                        msg.received_at,
                        msg.topic,
                        msg.payload,
                        (rejection,),
                        first.farm_id,
                        first.node_id,
                    )
                )
                msg_records.clear()
        return refused
