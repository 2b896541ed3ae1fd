"""Run N ingest worker processes that share the load, and restart any that dies.

Why processes: one ingest process is bound by its interpreter lock (network thread,
validation and the writer take turns), so on a multi-core machine N workers in N processes,
each with its own persistent MQTT session in one shared subscription (``$share/GROUP/...``),
use N cores. The broker hands each message to exactly one of them and redelivers whatever a
dead worker had not acknowledged, so restarting a crashed worker loses nothing (the same
guarantee as restarting a single ingest, see ``service.py``).

The supervisor itself does no ingest work: it starts the commands it was given, restarts one
whose process exits while the supervisor is not stopping (after a pause that grows if it keeps
crashing right after start), and on stop sends SIGTERM to all and waits for them.

Example::

    supervisor = WorkerSupervisor([[sys.executable, "-m", "farmwatch", "ingest", ...], ...])
    supervisor.run(stop_event)   # blocks until stop_event is set
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)

_QUICK_EXIT_S = 5.0
_MAX_RESTART_DELAY_S = 30.0
_STOP_TIMEOUT_S = 20.0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGTERM the worker if the supervisor dies, even by SIGKILL (PR_SET_PDEATHSIG),
    so a killed supervisor leaves no orphan holding the MQTT sessions."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


class WorkerSupervisor:
    """Keeps one process running per command until :meth:`run`'s stop event is set."""

    def __init__(self, commands: Sequence[Sequence[str]]) -> None:
        self.commands = [list(c) for c in commands]
        self.restarts = 0
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * len(self.commands)
        self._started_at = [0.0] * len(self.commands)
        self._quick_exits = [0] * len(self.commands)
        self._lock = threading.Lock()

    @property
    def pids(self) -> list[int]:
        """Process ids of the running workers (for monitoring and tests)."""
        with self._lock:
            return [p.pid for p in self._procs if p is not None and p.poll() is None]

    def _start(self, index: int) -> None:
        proc = subprocess.Popen(
            self.commands[index],
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509 - only prctl
        )
        with self._lock:
            self._procs[index] = proc
        self._started_at[index] = time.monotonic()
        log.info("ingest worker %d started (pid %d)", index, proc.pid)

    def run(self, stop: threading.Event, poll_s: float = 0.5) -> int:
        """Start every worker, restart those that exit, stop them all when ``stop`` is set."""
        for index in range(len(self.commands)):
            self._start(index)
        restart_at: dict[int, float] = {}
        try:
            while not stop.wait(poll_s):
                now = time.monotonic()
                for index, proc in enumerate(self._procs):
                    if proc is None or proc.poll() is None or index in restart_at:
                        continue
                    quick = now - self._started_at[index] < _QUICK_EXIT_S
                    self._quick_exits[index] = self._quick_exits[index] + 1 if quick else 0
                    delay = min(0.5 * 2 ** self._quick_exits[index], _MAX_RESTART_DELAY_S)
                    log.warning(
                        "ingest worker %d (pid %d) exited with %s; restarting it in %.1f s "
                        "(the broker redelivers what it had not acknowledged)",
                        index,
                        proc.pid,
                        proc.returncode,
                        delay,
                    )
                    restart_at[index] = now + delay
                for index, when in list(restart_at.items()):
                    if now >= when:
                        del restart_at[index]
                        self.restarts += 1
                        self._start(index)
        finally:
            self._stop_all()
        return 0

    def _stop_all(self) -> None:
        procs = [p for p in self._procs if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("ingest worker pid %d did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.wait()
