"""A real mosquitto for tests, started from the project's own deploy/mosquitto/mosquitto.conf."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from farmwatch.broker import MosquittoProcess, free_port


def start_mosquitto(data_dir: Path, port: int | None = None) -> MosquittoProcess:
    """Start mosquitto on a free port (or ``port``, to restart on the same one)."""
    broker = MosquittoProcess(data_dir, port or free_port())
    broker.start()
    return broker


def unique_prefix(name: str = "t") -> str:
    """A topic prefix no other test uses, so tests sharing a broker never see each other."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "t"
    return f"test/{safe}-{uuid.uuid4().hex[:10]}"
