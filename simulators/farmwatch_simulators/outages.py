"""Network outages: a node's records wait in the real edge outbox and flush when the link is back.

A Pi at a pond loses its 4G link for hours in a storm. The edge agent does not lose the
readings taken meanwhile: they sit in its SQLite outbox (:class:`farmwatch_edge.outbox.Outbox`)
and, once the broker answers again, go out oldest first in contract batches
(:func:`farmwatch_edge.outbox.batches`), paced by a token bucket
(:class:`farmwatch_edge.delivery.TokenBucket`) and removed only when their PUBACK arrives. The
scenario publisher does exactly that with the same code for every record an ``outage`` fault
holds, so ingest sees what it sees in the field: late records, arriving in a burst, none
missing and none duplicated.

Only one thread may use an :class:`OutageBuffers` (SQLite connections stay on their thread);
PUBACKs arrive on paho's thread and reach it through :meth:`OutageBuffers.acknowledged`, a
thread-safe queue, as in :class:`farmwatch_edge.delivery.Delivery`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from farmwatch_core.contract import Record
from farmwatch_edge.config import OutboxConfig
from farmwatch_edge.delivery import TokenBucket
from farmwatch_edge.outbox import Outbox, batches

NodeKey = tuple[str, str]
#: ``send(farm_id, node_id, payload, outbox_ids)``: publish one batch message, QoS 1.
Send = Callable[[str, str, bytes, list[int]], None]


@dataclass(slots=True)
class _Held:
    outbox: Outbox
    until: datetime  # when the link is back (the end of the outage)
    cursor: int = 0  # the last outbox id published (as Delivery's cursor)
    flushed: int = 0


@dataclass(slots=True)
class OutageStats:
    """What the outages did during one publish."""

    held_records: int = 0  # records that went through an outbox
    flushed_records: int = 0  # published from an outbox after the outage
    flushes: int = 0  # outbox flushes (one per node and outage)
    left_in_outbox: int = 0  # not acknowledged by the end (lost only if the run was stopped)
    nodes: set[NodeKey] = field(default_factory=set)


class OutageBuffers:
    """One edge :class:`Outbox` per node in an outage, under ``directory``.

    ``hold`` puts a record in the node's outbox (fsynced, as on the Pi); ``flush`` publishes
    everything waiting, paced by the edge's token bucket; ``pump_acks`` removes what the broker
    acknowledged. A node's outbox file stays for the run (reused by its next outage).
    """

    def __init__(
        self,
        directory: Path,
        config: OutboxConfig | None = None,
        *,
        stop: threading.Event | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.config = config or OutboxConfig()
        self.stop = stop or threading.Event()
        self.stats = OutageStats()
        self._held: dict[NodeKey, _Held] = {}
        self._acks: queue.SimpleQueue[tuple[NodeKey, list[int]]] = queue.SimpleQueue()
        self._bucket = TokenBucket(
            self.config.rate_limit_per_s,
            burst=max(self.config.rate_limit_per_s, self.config.batch_records),
            now=now,
        )

    def hold(self, farm_id: str, node_id: str, record: Record, until: datetime) -> None:
        """Keep a record taken while the node's link is down (until ``until``)."""
        key = (farm_id, node_id)
        held = self._held.get(key)
        if held is None:
            path = self.directory / f"{len(self._held):06d}-outbox.db"
            held = self._held[key] = _Held(Outbox(path, max_records=self.config.max_records), until)
        held.until = max(held.until, until) if held.outbox.depth else until
        ts_ms = round(record.ts.astimezone(UTC).timestamp() * 1000)
        held.outbox.add(
            ts_ms=ts_ms, seq=record.seq, synced=record.synced, readings=dict(record.readings)
        )
        self.stats.held_records += 1
        self.stats.nodes.add(key)

    def holding(self, farm_id: str, node_id: str) -> bool:
        """Whether records of this node wait to be flushed."""
        held = self._held.get((farm_id, node_id))
        return held is not None and held.outbox.depth > held.flushed

    def due(self, now: datetime) -> list[NodeKey]:
        """Nodes whose outage has ended by ``now`` and that still hold records."""
        return [
            key
            for key, held in self._held.items()
            if held.until <= now and held.outbox.depth > held.flushed
        ]

    def waiting(self) -> list[NodeKey]:
        """Every node still holding records (flushed at the end of a run)."""
        return [key for key, held in self._held.items() if held.outbox.depth > held.flushed]

    def flush(self, farm_id: str, node_id: str, send: Send) -> int:
        """Publish every record the node holds, oldest first, in contract batches, at the
        edge's replay rate; return how many. Stops early (records stay) if ``stop`` is set."""
        held = self._held[(farm_id, node_id)]
        limit = self.config.batch_records
        sent = 0
        while not self.stop.is_set():
            entries = held.outbox.pending(after_id=held.cursor, limit=limit)
            if not entries:
                break
            for ids, payload in batches(entries, max_records=limit):
                while self._bucket.available() < len(ids):
                    if self.stop.wait(len(ids) / self._bucket.rate / 4):
                        return sent
                self._bucket.take(len(ids))
                send(farm_id, node_id, payload, ids)
                held.cursor = ids[-1]
                held.flushed += len(ids)
                sent += len(ids)
        self.stats.flushed_records += sent
        self.stats.flushes += 1
        return sent

    def acknowledged(self, key: NodeKey, ids: list[int]) -> None:
        """The broker acknowledged these outbox ids (any thread)."""
        self._acks.put((key, ids))

    def pump_acks(self) -> int:
        """Remove acknowledged records from their outboxes; return how many."""
        removed = 0
        while True:
            try:
                key, ids = self._acks.get_nowait()
            except queue.Empty:
                return removed
            held = self._held[key]
            held.outbox.remove(ids)
            held.flushed -= len(ids)
            removed += len(ids)

    def close(self) -> OutageStats:
        """Close every outbox; the stats say how many records were never acknowledged."""
        self.pump_acks()
        self.stats.left_in_outbox = sum(h.outbox.depth for h in self._held.values())
        for held in self._held.values():
            held.outbox.close()
        return self.stats
