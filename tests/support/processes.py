"""Run farmwatch commands as real processes, the way an operator or systemd would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


class FarmwatchProcess:
    """``python -m MODULE ARGS`` (the ``farmwatch`` command by default, or ``farmwatch_edge``)
    with its output in a log file; can be SIGKILLed and rerun."""

    def __init__(self, args: list[str], log_file: Path, module: str = "farmwatch") -> None:
        self.args = args
        self.log_file = log_file
        self.module = module
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no clean-up code runs, as in a crash or power cut."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")
