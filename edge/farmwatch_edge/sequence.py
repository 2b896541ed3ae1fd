"""Per-node sequence numbers that keep increasing across restarts and power loss.

The server detects lost and duplicated messages by (node, seq); if a node restarted its counter
at 0 after a power cut, its new readings would look like old duplicates. The counter is
therefore reserved on disk in blocks: a crash skips at most one block of numbers (a visible,
harmless gap) but never reuses one.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path


class SequenceStore:
    """Hands out strictly increasing sequence numbers per node, persisted in a small JSON file.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "seq.json"
    >>> seqs = SequenceStore(path, block=10)
    >>> [seqs.next("n1") for _ in range(3)]
    [1, 2, 3]
    >>> SequenceStore(path, block=10).next("n1")  # after a restart: no number is reused
    11
    """

    def __init__(self, path: Path, block: int = 1000) -> None:
        self.path = path
        self.block = block
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}
        self._reserved: dict[str, int] = {}
        if path.exists():
            self._reserved = {k: int(v) for k, v in json.loads(path.read_text()).items()}
            self._next = {k: v + 1 for k, v in self._reserved.items()}

    def next(self, node_id: str) -> int:
        with self._lock:
            seq = self._next.get(node_id, 1)
            if seq > self._reserved.get(node_id, 0):
                self._reserved[node_id] = seq + self.block - 1
                self._save()
            self._next[node_id] = seq + 1
            return seq

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            json.dump(self._reserved, fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)
