"""The ingest service: MQTT telemetry in, validated readings durably stored, then acknowledged.

Shape (Telegraf's mqtt_consumer, with its max_undelivered_messages idea)::

    network thread (subscriber.Connection.loop)           writer (this thread)
      recv → PUBLISH list                                   │ store.write(records)    ← durable
      validate (contract + registry) ─▶ bounded queue ─────▶│   or, store down: spool ← durable
      node status messages                                  │ dead_letters.add(...)   ← durable
                              ◀── PUBACKs, in order ────────┘ (between batches: replay the spool)

Validation runs on the network thread so that it overlaps the writer's wait for the database
(the two share one interpreter lock, but the writer spends much of its time in socket I/O).

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
from typing import NamedTuple

from farmwatch_core.contract import (
    Channel,
    ContractError,
    NodeTopic,
    Reason,
    Rejection,
    TopicFilter,
    node_topic,
)
from farmwatch_core.mqtt_subscriber import Connection, MqttError, Publish
from farmwatch_core.mqtt_url import display_url
from farmwatch_core.settings import IngestSettings, MqttSettings

from farmwatch_ingest.deadletter import DeadLetter, DeadLetterStore
from farmwatch_ingest.metrics import IngestMetrics
from farmwatch_ingest.nodes import NodeTracker
from farmwatch_ingest.spool import Spool, SpoolChunk, SpoolError
from farmwatch_ingest.stores.base import NodeRecord, Store, StoreRejected, StoreUnavailable
from farmwatch_ingest.validation import TelemetryValidator

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0
_INBOX_CHUNKS = 16  # network reads validated and waiting for the writer, see __init__
_STATUS_SUFFIX = "/" + Channel.STATUS.value
_NO_RECORDS: list[NodeRecord] = []  # shared by status messages; never mutated (no records)


class Inbound(NamedTuple):
    """A received message, already validated (on the network thread).

    A named tuple: one is built per message on the hot path (see ``Publish``).
    """

    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: datetime
    generation: int
    records: list[NodeRecord]
    dead_letter: DeadLetter | None
    status: NodeTopic | None = None  # a node status message, applied by the writer
    derived: bool = False  # analytics' values: stored, but they say nothing of the node's seq


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
    derived_values: int = 0  # analytics' values stored beside readings (not in records/readings)
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
        # Chunks of messages, one per network read (up to 256 KB, ~1,300 benchmark messages).
        # Mosquitto's max_inflight_messages does not bound what a backlog sends us: draining
        # 50,000 / 150,000 queued messages with room for 1,000 chunks here, ingest peaked at
        # 144 / 232 MB (bench/ingest_profile.py --real). When the inbox is full the network
        # thread blocks and stops reading, so the broker keeps the rest: backpressure, not
        # loss. In steady operation reads are far smaller and this bound is never reached.
        self._inbox: queue.Queue[list[Inbound]] = queue.Queue(maxsize=_INBOX_CHUNKS)
        self._carry: list[Inbound] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._generation = 0
        self._replay_at = 0.0
        self._replay_backoff = 0.5

    def _topics(self) -> list[str]:
        telemetry = TopicFilter(Channel.TELEMETRY, prefix=self.mqtt.topic_prefix)
        derived = TopicFilter(Channel.ANALYTICS, prefix=self.mqtt.topic_prefix)
        group = self.settings.shared_group
        # Telemetry (and analytics' derived values) are shared between workers; every worker
        # follows every node's status.
        return [
            telemetry.shared(group) if group else str(telemetry),
            derived.shared(group) if group else str(derived),
            str(TopicFilter(Channel.STATUS, prefix=self.mqtt.topic_prefix)),
        ]

    # -- the network thread ----------------------------------------------------------------

    def _receive(self, connection: Connection, generation: int, lost: threading.Event) -> None:
        """Run the connection's loop, validating what arrives; signal ``lost`` when it ends."""

        def deliver(publishes: list[Publish]) -> None:
            self._inbox.put(self._validate(publishes, generation))

        try:
            connection.loop(deliver, lost)
        except MqttError as exc:
            if not self._stop.is_set():
                log.warning(
                    "lost the broker (%s); reconnecting, unacknowledged messages will be "
                    "redelivered",
                    exc,
                )
        except Exception:
            log.exception("unexpected error on the MQTT thread; reconnecting (please report this)")
        finally:
            lost.set()

    def _validate(self, publishes: list[Publish], generation: int) -> list[Inbound]:
        """The messages of one network read, validated (network thread; bench/ingest_profile.py
        calls it directly). Plain v1 records from known nodes take the validator's hot path;
        everything else (status, analytics, other formats, anything refused) the full check."""
        received_at = datetime.now(UTC)
        plain = self.validator.plain_records(received_at)
        chunk: list[Inbound] = []
        append = chunk.append
        for topic, payload, mid, qos in publishes:
            record = plain(topic, payload)
            if record is not None:
                append(Inbound(topic, payload, mid, qos, received_at, generation, [record], None))
            else:
                append(self._inbound(topic, payload, mid, qos, received_at, generation))
        return chunk

    def _inbound(
        self, topic: str, payload: bytes, mid: int, qos: int, received_at: datetime, generation: int
    ) -> Inbound:
        status = self._status_topic(topic)
        if status is not None:
            return Inbound(
                topic, payload, mid, qos, received_at, generation, _NO_RECORDS, None, status
            )
        checked = self.validator.check(topic, payload, received_at)
        return Inbound(
            topic, payload, mid, qos, received_at, generation,
            checked.records, checked.dead_letter, None, checked.derived,
        )  # fmt: skip

    # -- lifecycle -------------------------------------------------------------------------

    def wait_ready(self, timeout: float) -> bool:
        """True once connected and subscribed."""
        return self._ready.wait(timeout)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Connect and process messages until :meth:`stop`; blocks.

        An unexpected error (a bug) must not kill the writer while the network thread keeps
        receiving: the connection is dropped instead, so the broker redelivers everything
        unacknowledged to the next one, and the error is logged with its traceback.
        """
        backoff = 0.5
        while not self._stop.is_set():
            connection = Connection(self.mqtt, self.settings.client_id)
            topics = self._topics()
            try:
                connection.connect(topics)
            except MqttError as exc:
                log.warning("%s; retrying in %.1f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                continue
            backoff = 0.5
            self._generation += 1
            self.stats.connected = True
            log.info(
                "ingest connected to %s as %s (session present: %s), subscribed to %s",
                display_url(self.mqtt.url),
                self.settings.client_id,
                connection.session_present,
                ", ".join(topics),
            )
            self._ready.set()
            lost = threading.Event()
            reader = threading.Thread(
                target=self._receive,
                args=(connection, self._generation, lost),
                name="mqtt",
                daemon=True,
            )
            reader.start()
            try:
                self._serve(connection, lost)
            except Exception:
                log.exception(
                    "unexpected error in ingest; reconnecting so that the broker redelivers "
                    "every unacknowledged message (please report this)"
                )
                self._stop.wait(1.0)
            finally:
                lost.set()
                while reader.is_alive():  # it may wait to put a chunk into a full inbox
                    self._drain_inbox()
                    reader.join(0.05)
                connection.disconnect()
                self.stats.connected = False
                self._drain_inbox()

    def _serve(self, connection: Connection, lost: threading.Event) -> None:
        while not self._stop.is_set() and not lost.is_set():
            batch = self._next_batch()
            if batch:
                self._process(connection, batch)
            if len(self.spool) and time.monotonic() >= self._replay_at:
                self._replay()

    def _drain_inbox(self) -> None:
        """Forget received-but-unacknowledged messages; the broker redelivers them."""
        self._carry = []
        while True:
            try:
                self._inbox.get_nowait()
            except queue.Empty:
                return

    def _next_batch(self) -> list[Inbound]:
        """Up to ``batch_max_messages`` messages: whatever is waiting, and what arrives within
        ``batch_linger_s`` of the first."""
        limit = self.settings.batch_max_messages
        batch = self._carry
        self._carry = []
        if not batch:
            try:
                batch = self._inbox.get(timeout=0.2)
            except queue.Empty:
                return []
        deadline = time.monotonic() + self.settings.batch_linger_s
        while len(batch) < limit:
            remaining = deadline - time.monotonic()
            try:
                chunk = (
                    self._inbox.get(timeout=remaining)
                    if remaining > 0
                    else self._inbox.get_nowait()
                )
            except queue.Empty:
                break
            batch = batch + chunk if batch else chunk
        if len(batch) > limit:
            batch, self._carry = batch[:limit], batch[limit:]
        return batch

    # -- the write path --------------------------------------------------------------------

    def _process(self, connection: Connection, batch: list[Inbound]) -> None:
        """Write, acknowledge and account for one batch (the writer's hot path: one pass over
        the messages to gather, the rest per batch)."""
        records: list[NodeRecord] = []
        letters: list[DeadLetter] = []
        mids: list[int] = []
        plain = True  # only telemetry with records: the common case, no per-message sorting out
        generation = self._generation
        for msg in batch:
            if msg.records:
                records += msg.records
            if msg.dead_letter is not None or msg.status is not None or msg.derived:
                plain = False
                if msg.dead_letter is not None:
                    letters.append(msg.dead_letter)
            # After a reconnect the broker redelivers these itself; a stale PUBACK could name a
            # different message of the new connection (the old connection also drops them).
            if msg.qos and msg.generation == generation:
                mids.append(msg.mid)
        refused = self._persist(batch, records, letters)
        if refused is None:
            return  # stopping while nothing can be written: leave unacknowledged for redelivery
        self.dead_letters.add(letters)
        connection.ack(mids)
        if refused or not plain:
            records = self._account_special(batch)
        self.nodes.record_messages((m.records, m.received_at) for m in batch if not m.derived)
        stats = self.stats
        stats.messages += len(batch)
        stats.last_batch_messages = len(batch)
        stats.records += len(records)
        stats.readings += sum([len(r.record.readings) for r in records])
        stats.dead_letters += len(letters)
        for letter in letters:
            stats.rejections.update(r.reason.value for r in letter.rejections)
            log.info("dead letter from %s: %s", letter.topic, letter.detail)
        now = datetime.now(UTC)
        stats.last_write_at = now
        self.metrics.observe_batch(len(batch), records, now)

    def _account_special(self, batch: list[Inbound]) -> list[NodeRecord]:
        """Node status messages and analytics' derived values of a batch: apply and count them;
        returns the records that count as the nodes' own (not derived, not refused)."""
        stored: list[NodeRecord] = []
        for msg in batch:
            if msg.status is not None:
                self.stats.status_messages += 1
                self.nodes.status(
                    msg.status.farm_id, msg.status.node_id, msg.payload, msg.received_at
                )
            elif msg.derived:
                # analytics repeats the node's seq: not a sign of life, not a gap
                self.stats.derived_values += sum(len(r.record.readings) for r in msg.records)
            else:
                stored += msg.records
        return stored

    def _status_topic(self, topic_text: str) -> NodeTopic | None:
        """The node of a status message, else None. Status messages update node state in
        memory (they are retained by the broker, so a restarted ingest gets them again); they
        carry no readings to store."""
        if not topic_text.endswith(_STATUS_SUFFIX):
            return None
        try:
            return NodeTopic.parse(topic_text, self.mqtt.topic_prefix)
        except ContractError:
            return None  # the validator turns it into a bad_topic dead letter

    def _persist(
        self, batch: list[Inbound], records: list[NodeRecord], letters: list[DeadLetter]
    ) -> bool | None:
        """Make the batch's records durable (store or spool). Returns whether the store refused
        some messages (their records were dropped from their ``Inbound.records`` and dead
        letters added to ``letters``), or None only when stopping while neither can be written.
        """
        backoff = 0.5
        while True:
            try:
                if len(self.spool):
                    self._to_spool(records)  # keep order behind what is already waiting
                    return False
                try:
                    return self._write_store(batch, records, letters)
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
                    return False
            except SpoolError as exc:
                log.error(  # noqa: TRY400
                    "cannot store or spool %d records, holding them unacknowledged: %s",
                    len(records),
                    exc,
                )
                if self._stop.wait(backoff):
                    return None
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def _to_spool(self, records: list[NodeRecord]) -> None:
        dropped_before = self.spool.dropped_records
        self.spool.append(records)
        self.stats.spooled_records += len(records)
        self.stats.spool_dropped_records += self.spool.dropped_records - dropped_before

    def _write_store(
        self, batch: list[Inbound], records: list[NodeRecord], letters: list[DeadLetter]
    ) -> bool:
        """Write the batch; if the store refuses it, find the refused messages one by one so
        that only they become dead letters and everything beside them is kept. Returns whether
        anything was refused."""
        try:
            if records:
                self.store.write(records)
        except StoreRejected:
            pass
        else:
            return False
        for msg in batch:
            if not msg.records:
                continue
            try:
                self.store.write(msg.records)
            except StoreRejected as exc:
                letters.append(
                    _store_rejected(msg.topic, msg.payload, msg.received_at, msg.records, exc)
                )
                msg.records.clear()
        return True

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
