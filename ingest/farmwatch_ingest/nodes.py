"""What ingest knows about each node: online state, last reading, and sequence-number health.

Sequence numbers are per node and strictly increasing (see docs/contract.md), so the numbers
that never arrive are lost messages, numbers that arrive late were delayed (typically a node
flushing its buffer after an outage), and numbers seen twice are redeliveries::

    seen 1 2 3 _ _ 6        -> missing {4, 5}
    then 4 arrives          -> out_of_order 1, missing {5}
    then 3 arrives again    -> duplicates 1

Only a bounded window of missing numbers is remembered per node, so a node that restarts its
counter (or jumps by millions) cannot exhaust memory; numbers beyond the window count as lost.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from farmwatch_ingest.stores.base import NodeRecord

MAX_TRACKED_MISSING = 10_000


@dataclass(slots=True)
class NodeState:
    farm_id: str
    node_id: str
    state: str = "unknown"  # online / offline from the node's retained status; unknown until then
    status_at: datetime | None = None
    last_reading_at: datetime | None = None
    last_received_at: datetime | None = None
    records: int = 0
    highest_seq: int | None = None
    missing: set[int] = field(default_factory=set)
    lost_untracked: int = 0
    out_of_order: int = 0
    duplicates: int = 0

    @property
    def missing_count(self) -> int:
        return len(self.missing) + self.lost_untracked

    def observe(self, seq: int) -> None:
        self.records += 1
        high = self.highest_seq
        if high is None:
            self.highest_seq = seq
        elif seq > high:
            gap = seq - high - 1
            if gap:
                room = MAX_TRACKED_MISSING - len(self.missing)
                tracked = min(gap, max(room, 0))
                self.missing.update(range(seq - tracked, seq))
                self.lost_untracked += gap - tracked
            self.highest_seq = seq
        elif seq in self.missing:
            self.missing.discard(seq)
            self.out_of_order += 1
        else:
            self.duplicates += 1


class NodeTracker:
    """Per-node state, updated by the ingest writer and read by the API (thread-safe)."""

    def __init__(self) -> None:
        self._nodes: dict[tuple[str, str], NodeState] = {}
        self._lock = threading.Lock()

    def _get(self, farm_id: str, node_id: str) -> NodeState:
        key = (farm_id, node_id)
        node = self._nodes.get(key)
        if node is None:
            node = self._nodes[key] = NodeState(farm_id, node_id)
        return node

    def record(
        self, farm_id: str, node_id: str, seq: int, ts: datetime, received_at: datetime
    ) -> None:
        with self._lock:
            node = self._get(farm_id, node_id)
            node.observe(seq)
            if node.last_reading_at is None or ts > node.last_reading_at:
                node.last_reading_at = ts
            node.last_received_at = received_at

    def record_messages(self, messages: Iterable[tuple[Sequence[NodeRecord], datetime]]) -> None:
        """:meth:`record` for every record of a batch of messages (records, received at), under
        one lock: the writer calls this once per batch instead of once per record."""
        nodes = self._nodes
        with self._lock:
            for records, received_at in messages:
                for farm_id, node_id, record in records:
                    node = nodes.get((farm_id, node_id))
                    if node is None:
                        node = nodes[farm_id, node_id] = NodeState(farm_id, node_id)
                    node.observe(record.seq)
                    ts = record.ts
                    if node.last_reading_at is None or ts > node.last_reading_at:
                        node.last_reading_at = ts
                    node.last_received_at = received_at

    def status(self, farm_id: str, node_id: str, payload: bytes, received_at: datetime) -> None:
        """Apply a node's retained status message; anything unparsable counts as 'unknown'."""
        try:
            body = json.loads(payload)
            state = body.get("state") if isinstance(body, dict) else None
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            state = None
        with self._lock:
            node = self._get(farm_id, node_id)
            node.state = state if state in {"online", "offline"} else "unknown"
            node.status_at = received_at

    def snapshot(self) -> list[NodeState]:
        """Copies, sorted by farm and node."""
        with self._lock:
            return [
                NodeState(
                    n.farm_id,
                    n.node_id,
                    n.state,
                    n.status_at,
                    n.last_reading_at,
                    n.last_received_at,
                    n.records,
                    n.highest_seq,
                    set(n.missing),
                    n.lost_untracked,
                    n.out_of_order,
                    n.duplicates,
                )
                for _, n in sorted(self._nodes.items())
            ]
