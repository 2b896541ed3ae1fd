"""Publish a scenario (or a recorded CSV) over MQTT, paced or as fast as the broker takes it.

:mod:`farmwatch_simulators.dataset` runs a scenario in simulated time into files; the live
:class:`~farmwatch_simulators.runner.SimulatorRunner` reads models at the wall clock. This
module joins the two: the *same* records :func:`~farmwatch_simulators.dataset.generate_dataset`
yields (faults and events applied, so the ground truth holds) go to the broker, so the whole
pipeline — ingest, stores, analytics, alerts — can be evaluated against the labels.

Two modes:

* **paced** (``speed`` = simulated seconds per real second; 60 plays an hour per minute): each
  record is published, alone as a node would send it, when its simulated time is due;
* **backfill** (``speed=None``): as fast as the broker acknowledges, each node's consecutive
  records grouped into contract batches (≤ 2000 records and ≤ 256 KiB per message), which is
  what a node flushing its outbox after an outage sends too.

Records an ``outage`` fault holds (:attr:`DatasetRun.held`) are not published when taken:
they go to a real edge outbox per node and are flushed, as the edge agent flushes them, once
the outage has ended in simulated time (see :mod:`farmwatch_simulators.outages`).

Lossless like the runner: every message is QoS 1 and tracked until its PUBACK; paho queues and
resends across reconnections; the backlog is bounded by *waiting* for acknowledgements (a
backfill has no ticks to skip, and skipping would silently lose ground truth).

Ingest refuses timestamps older than 180 days or in the future, so scenario dates (say January
2026) are usually unacceptable by the time one replays them: ``shift`` moves every timestamp,
and :func:`shift_labels` moves the labels identically so they still describe the data.
Replayed CSVs (:func:`replay_csv`) are recordings in the dataset's long format, real or
simulated.
"""

from __future__ import annotations

import csv
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from farmwatch_core.contract import Channel, Record, encode_batch, encode_record, node_topic
from farmwatch_core.contract.payload import MAX_BATCH_RECORDS, MAX_MESSAGE_BYTES
from farmwatch_core.mqtt import new_client
from farmwatch_core.settings import MqttSettings
from farmwatch_edge.config import OutboxConfig
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from farmwatch_simulators.dataset import TELEMETRY_FIELDS, Row, generate_dataset, write_labels
from farmwatch_simulators.faults import Label
from farmwatch_simulators.outages import NodeKey, OutageBuffers, OutageStats
from farmwatch_simulators.puback import PubackTracker
from farmwatch_simulators.scenarios import Scenario

log = logging.getLogger(__name__)

MILLISECOND = timedelta(milliseconds=1)


def to_millisecond(ts: datetime) -> datetime:
    """A timestamp truncated to what the wire carries (milliseconds).

    >>> to_millisecond(datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)).microsecond
    123000
    """
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def shift_to_end_now(end: datetime, now: datetime | None = None) -> timedelta:
    """The shift that moves ``end`` (exclusive) to now, in whole milliseconds.

    Whole milliseconds, so shifted timestamps stay exactly representable on the wire and the
    labels shifted by the same amount still match the records to the millisecond.

    >>> end = datetime(2026, 1, 2, tzinfo=UTC)
    >>> shift_to_end_now(end, datetime(2026, 3, 1, 0, 0, 0, 999, tzinfo=UTC))
    datetime.timedelta(days=58)
    """
    now = now if now is not None else datetime.now(UTC)
    return to_millisecond(now) - to_millisecond(end)


def shift_rows(rows: Iterable[Row], shift: timedelta) -> Iterator[Row]:
    """The rows with every timestamp moved by ``shift`` (nothing else changes)."""
    for farm_id, node_id, record in rows:
        yield farm_id, node_id, replace(record, ts=record.ts + shift)


def shift_labels(labels: Iterable[Label], shift: timedelta) -> list[Label]:
    """Labels moved by ``shift``: use the same shift as for the data, or they lie."""
    return [replace(lb, start=lb.start + shift, end=lb.end + shift) for lb in labels]


class CsvReplayError(ValueError):
    """A telemetry CSV that cannot be replayed (wrong columns, bad time or number)."""


def _parse_csv_ts(text: str, where: str) -> datetime:
    try:
        ts = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CsvReplayError(f"{where}: ts {text!r} is not an RFC 3339 time") from exc
    if ts.tzinfo is None:
        # A naive time could be local (UTC+7) or UTC; guessing shifts data by 7 hours.
        raise CsvReplayError(f"{where}: ts {text!r} has no time zone; write it in UTC with 'Z'")
    return ts.astimezone(UTC)


def replay_csv(path: Path) -> list[Row]:
    """Read a long telemetry CSV (``ts,farm_id,node_id,seq,quantity,value``) back into records.

    The order of rows in the file does not matter (real recordings are often concatenated
    logs); see :func:`records_from_long_rows`. A blank ``seq`` is numbered per node.
    """
    return records_from_long_rows(_csv_long_rows(path))


def _csv_long_rows(path: Path) -> Iterator[LongRow]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != TELEMETRY_FIELDS:
            raise CsvReplayError(
                f"{path}: the header must be {','.join(TELEMETRY_FIELDS)}, not {header}"
            )
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            where = f"{path}:{line}"
            if len(row) != len(TELEMETRY_FIELDS):
                raise CsvReplayError(f"{where}: expected 6 columns, got {len(row)}")
            ts_text, farm_id, node_id, seq_text, quantity, value_text = row
            ts = _parse_csv_ts(ts_text, where)
            try:
                seq = int(seq_text) if seq_text.strip() else None
                value = float(value_text)
            except ValueError as exc:
                raise CsvReplayError(f"{where}: {exc}") from exc
            yield ts, farm_id, node_id, seq, quantity, value


LongRow = tuple[datetime, str, str, int | None, str, float]


def records_from_long_rows(long_rows: Iterable[LongRow]) -> list[Row]:
    """Records from long rows (one reading each), as CSV and Parquet datasets store them.

    Rows of one (farm, node, ts) become one record, as the node sent them, in any row order;
    the records come back sorted by time, farm and node, as :func:`generate_dataset` yields
    them. A missing ``seq`` (a logger that did not keep one) is numbered per node in time order.
    """
    grouped: dict[tuple[datetime, str, str], tuple[int | None, dict[str, float]]] = {}
    for ts, farm_id, node_id, seq, quantity, value in long_rows:
        entry = grouped.setdefault((ts, farm_id, node_id), (seq, {}))
        entry[1][quantity] = value
    next_seq: dict[tuple[str, str], int] = {}
    rows: list[Row] = []
    for (ts, farm_id, node_id), (seq, readings) in sorted(grouped.items(), key=lambda i: i[0]):
        node = (farm_id, node_id)
        number = seq if seq is not None else next_seq.get(node, 1)
        next_seq[node] = number + 1
        rows.append((farm_id, node_id, Record(ts=ts, seq=number, synced=True, readings=readings)))
    return rows


@dataclass(slots=True)
class PublishReport:
    """What one :meth:`ScenarioPublisher.publish` did."""

    records: int = 0
    messages: int = 0
    acknowledged_records: int = 0
    unacknowledged_messages: int = 0
    adjusted_timestamps: int = 0  # moved by 1 ms to keep one node's timestamps unique
    stopped: bool = False
    seconds: float = 0.0
    shift: timedelta = timedelta(0)
    labels: list[Label] = field(default_factory=list)
    outages: OutageStats = field(default_factory=OutageStats)

    @property
    def complete(self) -> bool:
        """Every record published and acknowledged, and not stopped early."""
        return (
            not self.stopped
            and self.acknowledged_records == self.records
            and not self.outages.left_in_outbox
        )


@dataclass(frozen=True, slots=True)
class _Message:
    """What one published message carries: its record count, and outbox ids if flushed."""

    records: int
    node: NodeKey | None = None
    outbox_ids: list[int] = field(default_factory=list)


class _PubackTracker:
    """The publisher's view of its connection and of the messages awaiting a PUBACK."""

    def __init__(self, outages: OutageBuffers | None = None) -> None:
        self.acknowledged_records = 0
        self.acks: PubackTracker[_Message] = PubackTracker(self._count)
        self.connected = threading.Event()
        self.connect_error: str | None = None
        self.closing = False
        self.outages = outages

    def _count(self, message: _Message) -> None:
        self.acknowledged_records += message.records
        if message.node is not None and self.outages is not None:
            self.outages.acknowledged(message.node, message.outbox_ids)

    def on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self.connect_error = str(reason_code)
            return
        self.connected.set()

    def on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.connected.clear()
        if not self.closing:
            log.warning("replay: lost the broker (%s); paho reconnects and resends", reason_code)


@dataclass(slots=True)
class _Batch:
    records: list[Record] = field(default_factory=list)
    size: int = 0


class ScenarioPublisher:
    """Publishes ``(farm_id, node_id, Record)`` rows to each node's telemetry topic, QoS 1.

    ``speed``: simulated seconds per real second (paced), or ``None`` for a backfill in
    contract batches. The constructor only stores its arguments; each :meth:`publish` opens
    and closes its own connection.

    Example::

        publisher = ScenarioPublisher(settings.mqtt, speed=None)
        report = publisher.publish_scenario(
            load_scenario("demo"), shift_to_now=True, labels_path=Path("labels.csv")
        )
        assert report.complete
    """

    def __init__(
        self,
        mqtt: MqttSettings,
        *,
        speed: float | None = None,
        stop: threading.Event | None = None,
        client_id: str | None = None,
        ack_timeout_s: float = 30.0,
        connect_timeout_s: float = 30.0,
        max_unacknowledged: int = 1000,
        max_batch_records: int = MAX_BATCH_RECORDS,
        max_buffered_records: int = 200_000,
        progress_every_s: float = 10.0,
        outbox: OutboxConfig | None = None,
        outbox_dir: Path | None = None,
    ) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be positive (or None for a backfill), not {speed}")
        if not 1 <= max_batch_records <= MAX_BATCH_RECORDS:
            raise ValueError(f"max_batch_records must be between 1 and {MAX_BATCH_RECORDS}")
        if not 1 <= max_unacknowledged < 65_000:
            # paho numbers in-flight messages with 16-bit IDs; more would collide.
            raise ValueError("max_unacknowledged must be between 1 and 64999")
        self.mqtt = mqtt
        self.speed = speed
        self.stop = stop if stop is not None else threading.Event()
        self.client_id = client_id
        self.ack_timeout_s = ack_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_unacknowledged = max_unacknowledged
        self.max_batch_records = max_batch_records
        self.max_buffered_records = max_buffered_records
        self.progress_every_s = progress_every_s
        self.outbox = outbox if outbox is not None else OutboxConfig()
        self.outbox_dir = outbox_dir

    def publish_scenario(
        self,
        scenario: Scenario,
        *,
        shift_to_now: bool = False,
        labels_path: Path | None = None,
    ) -> PublishReport:
        """Publish a scenario's dataset; the report carries its labels, shifted like the data.

        The labels are known only after the last record was generated, so they are written
        (to ``labels_path``, if given) after the run — even a stopped one, which then labels
        data that was not all sent; ``report.stopped`` says so.
        """
        shift = shift_to_end_now(scenario.end) if shift_to_now else timedelta(0)
        run = generate_dataset(scenario)
        report = self.publish(run, shift=shift, sim_start=scenario.start, held=run.held)
        if not report.stopped:
            report.labels = shift_labels(run.labels(), shift)
            if labels_path is not None:
                labels_path.parent.mkdir(parents=True, exist_ok=True)
                write_labels(report.labels, labels_path)
        return report

    def publish(
        self,
        rows: Iterable[Row],
        *,
        shift: timedelta = timedelta(0),
        sim_start: datetime | None = None,
        held: Mapping[tuple[str, str, int], datetime] | None = None,
    ) -> PublishReport:
        """Publish rows in time order (paced from ``sim_start``, default the first row's time).

        ``held`` maps (farm, node, seq) of records an outage holds to the (unshifted) end of
        the outage; it may fill up while ``rows`` is iterated (:attr:`DatasetRun.held`).
        Raises RuntimeError when the broker cannot be reached within ``connect_timeout_s``.
        """
        with tempfile.TemporaryDirectory(prefix="farmwatch-outbox-") as scratch:
            outages = OutageBuffers(self.outbox_dir or Path(scratch), self.outbox, stop=self.stop)
            try:
                held = held if held is not None else {}  # filled lazily: keep the object
                return self._publish(rows, shift, sim_start, held, outages)
            finally:
                outages.close()

    def _publish(
        self,
        rows: Iterable[Row],
        shift: timedelta,
        sim_start: datetime | None,
        held: Mapping[tuple[str, str, int], datetime],
        outages: OutageBuffers,
    ) -> PublishReport:
        report = PublishReport(shift=shift, outages=outages.stats)
        began = time.monotonic()
        tracker = _PubackTracker(outages)
        client_id = self.client_id or f"farmwatch-replay-{uuid.uuid4().hex[:8]}"
        client, address = new_client(self.mqtt, client_id, persistent=False)
        client.enable_logger(log.getChild("paho"))
        client.max_inflight_messages_set(100)
        client.on_connect = tracker.on_connect
        client.on_disconnect = tracker.on_disconnect
        client.on_publish = tracker.acks.on_publish
        client.connect_async(address.host, address.port, keepalive=self.mqtt.keepalive_s)
        client.loop_start()
        try:
            if not tracker.connected.wait(self.connect_timeout_s):
                reason = f" (refused: {tracker.connect_error})" if tracker.connect_error else ""
                raise RuntimeError(
                    f"replay could not connect to the MQTT broker at {address.url()} within "
                    f"{self.connect_timeout_s:g} s{reason}"
                )
            unique = _UniqueTimes(report)
            stamped = (
                (farm, node, unique(farm, node, record))
                for farm, node, record in shift_rows(rows, shift)
            )
            sender = _Sender(self, client, tracker, report, outages, _Holds(held, shift))
            if self.speed is None:
                sender.backfill(stamped)
            else:
                start = sim_start + shift if sim_start is not None else None
                sender.paced(stamped, self.speed, start)
            report.unacknowledged_messages = tracker.acks.wait_all(self.ack_timeout_s)
            outages.pump_acks()
            if report.unacknowledged_messages:
                log.error(
                    "replay: %d messages unacknowledged after %g s; they may be lost",
                    report.unacknowledged_messages,
                    self.ack_timeout_s,
                )
        finally:
            tracker.closing = True
            client.disconnect()
            client.loop_stop()
            report.acknowledged_records = tracker.acknowledged_records
            report.seconds = time.monotonic() - began
        return report


class _UniqueTimes:
    """Keeps one node's timestamps strictly increasing at millisecond resolution.

    The stores identify a point by node + timestamp (docs/contract.md), so two records of one
    node in the same millisecond would silently become one. Scenario data never collides (whole
    seconds); recordings with sub-millisecond or repeated stamps are moved forward by 1 ms.
    """

    def __init__(self, report: PublishReport) -> None:
        self._last: dict[tuple[str, str], datetime] = {}
        self._report = report

    def __call__(self, farm_id: str, node_id: str, record: Record) -> Record:
        ts = to_millisecond(record.ts)
        last = self._last.get((farm_id, node_id))
        if last is not None and ts <= last:
            ts = last + MILLISECOND
        self._last[(farm_id, node_id)] = ts
        if ts != record.ts:
            if ts != to_millisecond(record.ts):
                self._report.adjusted_timestamps += 1
            record = replace(record, ts=ts)
        return record


class _Holds:
    """Which records an outage holds, and until when (in the published, shifted time)."""

    def __init__(self, held: Mapping[tuple[str, str, int], datetime], shift: timedelta) -> None:
        self._held = held
        self._shift = shift

    def until(self, farm_id: str, node_id: str, record: Record) -> datetime | None:
        end = self._held.get((farm_id, node_id, record.seq))
        return None if end is None else end + self._shift


class _Sender:
    """The publishing loop of one run: topics cached per node, PUBACK back-pressure, and the
    outboxes of nodes in an outage (flushed once the simulated time has passed its end)."""

    def __init__(
        self,
        owner: ScenarioPublisher,
        client: paho.Client,
        tracker: _PubackTracker,
        report: PublishReport,
        outages: OutageBuffers,
        holds: _Holds,
    ) -> None:
        self.owner = owner
        self.client = client
        self.tracker = tracker
        self.report = report
        self.outages = outages
        self.holds = holds
        self._topics: dict[tuple[str, str], str] = {}
        self._next_progress = time.monotonic() + owner.progress_every_s

    def _topic(self, farm_id: str, node_id: str) -> str:
        key = (farm_id, node_id)
        topic = self._topics.get(key)
        if topic is None:
            prefix = self.owner.mqtt.topic_prefix
            topic = str(node_topic(farm_id, node_id, Channel.TELEMETRY, prefix=prefix))
            self._topics[key] = topic
        return topic

    def _send(self, farm_id: str, node_id: str, payload: bytes, message: _Message | int) -> None:
        if isinstance(message, int):
            message = _Message(message)
        self.tracker.acks.wait_below(self.owner.max_unacknowledged, self.owner.stop)
        self.outages.pump_acks()
        info = self.client.publish(self._topic(farm_id, node_id), payload, qos=1)
        self.tracker.acks.track(info, message)
        self.report.messages += 1
        self.report.records += message.records
        now = time.monotonic()
        if now >= self._next_progress:
            self._next_progress = now + self.owner.progress_every_s
            log.info(
                "replay: %d records in %d messages published, %d acknowledged",
                self.report.records,
                self.report.messages,
                self.tracker.acknowledged_records,
            )

    def _send_held(self, farm_id: str, node_id: str, payload: bytes, ids: list[int]) -> None:
        self._send(farm_id, node_id, payload, _Message(len(ids), (farm_id, node_id), ids))

    def _flush_outbox(self, farm_id: str, node_id: str) -> None:
        flushed = self.outages.flush(farm_id, node_id, self._send_held)
        log.info("replay: %s/%s is back online; flushed %d records", farm_id, node_id, flushed)

    def _release_due(self, now: datetime) -> None:
        """Flush the outboxes of nodes whose outage ended before ``now`` (simulated time)."""
        for farm_id, node_id in self.outages.due(now):
            self._flush_outbox(farm_id, node_id)

    def _hold(self, farm_id: str, node_id: str, record: Record) -> bool:
        """Put the record in the node's outbox if an outage holds it; flush a node that is
        back before its next record (the edge sends oldest first). True if held."""
        until = self.holds.until(farm_id, node_id, record)
        if until is not None:
            self.outages.hold(farm_id, node_id, record, until)
            return True
        if self.outages.holding(farm_id, node_id):
            self._flush_outbox(farm_id, node_id)
        return False

    def _release_all(self) -> None:
        for farm_id, node_id in self.outages.waiting():
            self._flush_outbox(farm_id, node_id)

    def paced(self, rows: Iterable[Row], speed: float, sim_start: datetime | None) -> None:
        """One message per record, when ``sim_start + speed × elapsed`` reaches its time.

        A record with an unsynchronised clock is sent when its neighbours are (its own stamp
        says nothing about when it was taken).
        """
        real_start = time.monotonic()
        due = real_start
        for farm_id, node_id, record in rows:
            if sim_start is None:
                sim_start = record.ts
            if record.synced:
                due = max(due, real_start + (record.ts - sim_start).total_seconds() / speed)
            delay = due - time.monotonic()
            if (delay > 0 and self.owner.stop.wait(delay)) or self.owner.stop.is_set():
                self.report.stopped = True
                return
            if record.synced:
                self._release_due(record.ts)
            if not self._hold(farm_id, node_id, record):
                self._send(farm_id, node_id, encode_record(record), 1)
        self._release_all()

    def backfill(self, rows: Iterable[Row]) -> None:
        """Each node's consecutive records in batches within the contract's limits."""
        buffers: dict[tuple[str, str], _Batch] = {}
        buffered = 0
        # encode_batch adds this much around the records; each record adds its own size
        # (encode_record's "v" member more than covers the ", " between batch items).
        overhead = len(encode_batch([]))
        for farm_id, node_id, record in rows:
            if self.owner.stop.is_set():
                self.report.stopped = True
                return
            batch = buffers.setdefault((farm_id, node_id), _Batch())
            if record.synced:
                self._release_due(record.ts)
            if self.holds.until(farm_id, node_id, record) is not None:
                # The link went down: what the node had sent before is out; this one waits.
                buffered -= self._flush(farm_id, node_id, batch)
                self._hold(farm_id, node_id, record)
                continue
            if self.outages.holding(farm_id, node_id):
                buffered -= self._flush(farm_id, node_id, batch)
                self._flush_outbox(farm_id, node_id)
            size = len(encode_record(record))
            if batch.records and overhead + batch.size + size > MAX_MESSAGE_BYTES:
                buffered -= self._flush(farm_id, node_id, batch)
            batch.records.append(record)
            batch.size += size
            buffered += 1
            if len(batch.records) >= self.owner.max_batch_records:
                buffered -= self._flush(farm_id, node_id, batch)
            if buffered >= self.owner.max_buffered_records:
                # Bound memory on huge backfills: send what every node has so far.
                for (farm, node), pending in buffers.items():
                    buffered -= self._flush(farm, node, pending)
        for (farm, node), pending in buffers.items():
            self._flush(farm, node, pending)
        self._release_all()

    def _flush(self, farm_id: str, node_id: str, batch: _Batch) -> int:
        count = len(batch.records)
        if count:
            self._send(farm_id, node_id, encode_batch(batch.records), count)
            batch.records = []
            batch.size = 0
        return count
