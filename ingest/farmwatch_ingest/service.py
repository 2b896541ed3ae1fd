"""The ingest service: MQTT telemetry in, validated readings durably stored, then acknowledged.

Shape (Telegraf's mqtt_consumer, with its max_undelivered_messages idea)::

    paho network thread ──on_message──▶ bounded queue ──▶ writer (this thread)
                                                           │ validate (contract + registry)
                                                           │ store.write(records)    ← durable
                                                           │   or, store down: spool ← durable
                                                           │ dead_letters.add(...)   ← durable
                                                           └ PUBACK every message, in order
                                                           (between batches: replay the spool)

A QoS 1 message is acknowledged only after its readings (or its dead letter) are on disk, so a
crash at any moment means redelivery, never loss; the stores are idempotent, so redelivery
never means duplicates. While the store is down, batches go to the bounded on-disk spool and
are replayed oldest first when it is back; new batches queue behind the spool to keep order.
Only if the spool itself cannot be written does the writer stop acknowledging: the broker then
stops sending (max_inflight_messages) and queues for our persistent session.
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
from farmwatch_core.contract import (
    Channel,
    ContractError,
    NodeTopic,
    Reason,
    Rejection,
    TopicFilter,
    node_topic,
)
from farmwatch_core.mqtt import new_client
from farmwatch_core.settings import IngestSettings, MqttSettings
from paho.mqtt.reasoncodes import ReasonCode

from farmwatch_ingest.deadletter import DeadLetter, DeadLetterStore
from farmwatch_ingest.metrics import IngestMetrics
from farmwatch_ingest.nodes import NodeTracker
from farmwatch_ingest.spool import Spool, SpoolChunk, SpoolError
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
    """Counters for the API, metrics and tests. Only the writer thread mutates them."""

    messages: int = 0
    records: int = 0
    readings: int = 0
    dead_letters: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    store_retries: int = 0
    spooled_records: int = 0
    replayed_records: int = 0
    spool_dropped_records: int = 0
    status_messages: int = 0
    connected: bool = False
    last_write_at: datetime | None = None
    last_batch_messages: int = 0


class IngestService:
    """Subscribes to every node's telemetry and status and writes readings to a :class:`Store`."""

    def __init__(
        self,
        mqtt: MqttSettings,
        settings: IngestSettings,
        store: Store,
        dead_letters: DeadLetterStore,
        validator: TelemetryValidator,
        spool: Spool,
        nodes: NodeTracker | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.settings = settings
        self.store = store
        self.dead_letters = dead_letters
        self.validator = validator
        self.spool = spool
        self.nodes = nodes or NodeTracker()
        self.stats = IngestStats()
        self.metrics = IngestMetrics()
        self.metrics.bind(self)
        # The broker never has more than max_inflight_messages unacknowledged messages out to
        # us, so this bound is never hit in practice; if it were, paho's thread would block,
        # which is backpressure, not loss.
        self._inbox: queue.Queue[Inbound] = queue.Queue(maxsize=20_000)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._generation = 0
        self._replay_at = 0.0
        self._replay_backoff = 0.5

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
        telemetry = TopicFilter(Channel.TELEMETRY, prefix=self.mqtt.topic_prefix)
        group = self.settings.shared_group
        # Telemetry is shared between workers; every worker follows every node's status.
        topics = [
            telemetry.shared(group) if group else str(telemetry),
            str(TopicFilter(Channel.STATUS, prefix=self.mqtt.topic_prefix)),
        ]
        client.subscribe([(topic, 1) for topic in topics])
        self.stats.connected = True
        self._ready.set()
        log.info(
            "ingest connected to %s as %s (session present: %s), subscribed to %s",
            self.mqtt.url,
            self.settings.client_id,
            flags.session_present,
            ", ".join(topics),
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
        """Connect and process messages until :meth:`stop`; blocks.

        An unexpected error (a bug) must not kill the writer while paho keeps receiving: the
        connection is dropped instead, so the broker redelivers everything unacknowledged to
        the next one, and the error is logged with its traceback.
        """
        while not self._stop.is_set():
            client, address = new_client(
                self.mqtt, self.settings.client_id, persistent=True, manual_ack=True
            )
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_message = self._on_message
            client.connect_async(address.host, address.port, keepalive=self.mqtt.keepalive_s)
            client.loop_start()
            try:
                self._serve(client)
            except Exception:
                log.exception(
                    "unexpected error in ingest; reconnecting so that the broker redelivers "
                    "every unacknowledged message (please report this)"
                )
                self._stop.wait(1.0)
            finally:
                client.disconnect()
                client.loop_stop()
                self.stats.connected = False
                self._drain_inbox()

    def _serve(self, client: paho.Client) -> None:
        while not self._stop.is_set():
            batch = self._next_batch()
            if batch:
                self._process(client, batch)
            if len(self.spool) and time.monotonic() >= self._replay_at:
                self._replay()

    def _drain_inbox(self) -> None:
        """Forget received-but-unacknowledged messages; the broker redelivers them."""
        while True:
            try:
                self._inbox.get_nowait()
            except queue.Empty:
                return

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

    # -- the write path --------------------------------------------------------------------

    def _process(self, client: paho.Client, batch: list[Inbound]) -> None:
        letters: list[DeadLetter] = []
        per_message: list[list[NodeRecord]] = []
        for msg in batch:
            if self._is_status(msg):
                per_message.append([])
                continue
            checked = self.validator.check(msg.topic, msg.payload, msg.received_at)
            per_message.append(checked.records)
            if checked.dead_letter is not None:
                letters.append(checked.dead_letter)
        if not self._persist(batch, per_message, letters):
            return  # stopping while nothing can be written: leave unacknowledged for redelivery
        self.dead_letters.add(letters)
        for msg in batch:
            if msg.qos > 0 and msg.generation == self._generation:
                # After a reconnect the broker redelivers these itself; a stale PUBACK could
                # name a different message of the new connection.
                client.ack(msg.mid, msg.qos)
        stored = [r for msg_records in per_message for r in msg_records]
        for msg, msg_records in zip(batch, per_message, strict=True):
            for r in msg_records:
                self.nodes.record(r.farm_id, r.node_id, r.record.seq, r.record.ts, msg.received_at)
        self.stats.messages += len(batch)
        self.stats.last_batch_messages = len(batch)
        self.stats.records += len(stored)
        self.stats.readings += sum(len(r.record.readings) for r in stored)
        self.stats.dead_letters += len(letters)
        for letter in letters:
            self.stats.rejections.update(r.reason.value for r in letter.rejections)
            log.info("dead letter from %s: %s", letter.topic, letter.detail)
        now = datetime.now(UTC)
        self.stats.last_write_at = now
        self.metrics.observe_batch(len(batch), [r.record.ts for r in stored], now)

    def _is_status(self, msg: Inbound) -> bool:
        """Status messages update node state in memory (they are retained by the broker, so a
        restarted ingest gets them again); they carry no readings to store."""
        if not msg.topic.endswith("/" + Channel.STATUS.value):
            return False
        try:
            topic = NodeTopic.parse(msg.topic, self.mqtt.topic_prefix)
        except ContractError:
            return False  # the validator turns it into a bad_topic dead letter
        self.nodes.status(topic.farm_id, topic.node_id, msg.payload, msg.received_at)
        self.stats.status_messages += 1
        return True

    def _persist(
        self,
        batch: list[Inbound],
        per_message: list[list[NodeRecord]],
        letters: list[DeadLetter],
    ) -> bool:
        """Make the batch's records durable (store or spool); False only when stopping while
        neither can be written."""
        backoff = 0.5
        while True:
            records = [r for msg_records in per_message for r in msg_records]
            try:
                if len(self.spool):
                    self._to_spool(records)  # keep order behind what is already waiting
                    return True
                try:
                    self._write_store(batch, per_message, letters)
                except StoreUnavailable as exc:
                    self.stats.store_retries += 1
                    log.error(  # noqa: TRY400 - the message says what to do; no traceback
                        "store unavailable, spooling %d records to %s and retrying in the "
                        "background: %s",
                        len(records),
                        self.spool.path,
                        exc,
                    )
                    self._to_spool(records)
                    self._replay_at = time.monotonic() + self._replay_backoff
            except SpoolError as exc:
                log.error(  # noqa: TRY400
                    "cannot store or spool %d records, holding them unacknowledged: %s",
                    len(records),
                    exc,
                )
                if self._stop.wait(backoff):
                    return False
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
            else:
                return True

    def _to_spool(self, records: list[NodeRecord]) -> None:
        dropped_before = self.spool.dropped_records
        self.spool.append(records)
        self.stats.spooled_records += len(records)
        self.stats.spool_dropped_records += self.spool.dropped_records - dropped_before

    def _write_store(
        self,
        batch: list[Inbound],
        per_message: list[list[NodeRecord]],
        letters: list[DeadLetter],
    ) -> None:
        """Write the batch; if the store refuses it, find the refused messages one by one so
        that only they become dead letters and everything beside them is kept."""
        records = [r for msg_records in per_message for r in msg_records]
        try:
            if records:
                self.store.write(records)
        except StoreRejected:
            pass
        else:
            return
        for msg, msg_records in zip(batch, per_message, strict=True):
            if not msg_records:
                continue
            try:
                self.store.write(msg_records)
            except StoreRejected as exc:
                letters.append(
                    _store_rejected(msg.topic, msg.payload, msg.received_at, msg_records, exc)
                )
                msg_records.clear()

    def _replay(self) -> None:
        """Move the oldest spooled records to the store; back off while it is still down."""
        chunks = self.spool.head(self.settings.replay_batch_records)
        records = [r for chunk in chunks for r in chunk.records]
        try:
            try:
                self.store.write(records)
            except StoreRejected:
                self._replay_one_by_one(chunks)
        except StoreUnavailable as exc:
            self.stats.store_retries += 1
            self._replay_at = time.monotonic() + self._replay_backoff
            self._replay_backoff = min(self._replay_backoff * 2, _MAX_BACKOFF_S)
            log.debug("store still unavailable (%s); %d records spooled", exc, len(self.spool))
            return
        self.spool.remove(chunks)
        self.stats.replayed_records += len(records)
        self._replay_backoff = 0.5
        self._replay_at = 0.0
        if not len(self.spool):
            log.warning(
                "store is back; spool replayed (%d records in total)", self.stats.replayed_records
            )

    def _replay_one_by_one(self, chunks: list[SpoolChunk]) -> None:
        now = datetime.now(UTC)
        letters = []
        for chunk in chunks:
            try:
                self.store.write(chunk.records)
            except StoreRejected as exc:
                first = chunk.records[0]
                topic = str(
                    node_topic(
                        first.farm_id,
                        first.node_id,
                        Channel.TELEMETRY,
                        prefix=self.mqtt.topic_prefix,
                    )
                )
                letters.append(_store_rejected(topic, chunk.payload, now, chunk.records, exc))
        self.dead_letters.add(letters)
        self.stats.dead_letters += len(letters)


def _store_rejected(
    topic: str, payload: bytes, received_at: datetime, records: list[NodeRecord], exc: Exception
) -> DeadLetter:
    first = records[0]
    rejection = Rejection(Reason.STORE_REJECTED, f"the database refused these readings: {exc}")
    return DeadLetter(received_at, topic, payload, (rejection,), first.farm_id, first.node_id)
