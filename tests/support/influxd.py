"""A real ``influxd`` (1.x) for tests: started once per session, on free localhost ports.

Tests talk to the real thing (no mocks), and every test gets its own database
(:func:`unique_database`), so tests never see each other's points.

The server keeps its data directory across :meth:`InfluxServer.kill` / :meth:`InfluxServer.start`
and keeps its ports, so a test can crash InfluxDB mid-run (SIGKILL, no clean shutdown), start it
again at the same URL, and prove that every acknowledged write survived.

Example::

    with InfluxServer.launch(tmp_path) as server:
        httpx.post(f"{server.url}/query", data={"q": "CREATE DATABASE t"})
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx
from support.tls import TlsFiles

from farmwatch.broker import free_port

STOP_TIMEOUT_S = 10.0
START_TIMEOUT_S = 30.0
_LOG_TAIL_LINES = 30


def influxd_binary() -> str | None:
    """Path of ``influxd``: ``$FARMWATCH_INFLUXD`` if set, else the one on ``PATH``."""
    return os.environ.get("FARMWATCH_INFLUXD") or shutil.which("influxd")


def unique_database(prefix: str = "t") -> str:
    """A database name no other test uses (letters, digits and '_', valid unquoted)."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def _https(tls: TlsFiles | None) -> str:
    if tls is None:
        return ""
    return (
        f'  https-enabled = true\n  https-certificate = "{tls.cert}"\n'
        f'  https-private-key = "{tls.key}"\n'
    )


def _config(
    root: Path,
    http_port: int,
    rpc_port: int,
    tls: TlsFiles | None = None,
    *,
    auth_enabled: bool = False,
) -> str:
    # Everything not needed is off: no phoning home, no _internal database, no extra listeners.
    # Both spellings of the reporting switch: upstream reads reporting-disabled, Debian's build
    # renamed it reporting-enabled; influxd ignores the key it does not know.
    return f"""\
reporting-disabled = true
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root / "meta"}"
  logging-enabled = false

[data]
  dir = "{root / "data"}"
  wal-dir = "{root / "wal"}"
  wal-fsync-delay = "0s"
  query-log-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = {"true" if auth_enabled else "false"}
  log-enabled = false
  pprof-enabled = false
{_https(tls)}
[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[admin]
  enabled = false

[ifql]
  enabled = false

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false
"""


class InfluxServer:
    """One ``influxd`` process with its own data directory and ports.

    ``stop()`` shuts down cleanly (SIGTERM, then SIGKILL after a grace period); ``kill()``
    simulates a crash; ``start()`` brings it back on the same data and URL. ``close()`` stops it
    and deletes the directory if this object created it.
    """

    def __init__(
        self,
        root: Path,
        *,
        binary: str = "influxd",
        owns_root: bool = False,
        tls: TlsFiles | None = None,
        auth_enabled: bool = False,
    ) -> None:
        self.root = root
        # Authentication on: until an admin is created (CREATE USER ... WITH ALL PRIVILEGES,
        # allowed once without credentials) every other request is refused with HTTP 401.
        self.auth_enabled = auth_enabled
        self.tls = tls  # serve https:// with this certificate (self-signed: also the CA)
        self.binary = binary
        self.owns_root = owns_root
        self.http_port = free_port()
        self.rpc_port = free_port()
        self.config_path = root / "influxdb.conf"
        self.log_path = root / "influxd.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @classmethod
    def launch(
        cls,
        parent: Path | None = None,
        *,
        binary: str | None = None,
        tls: TlsFiles | None = None,
        auth_enabled: bool = False,
    ) -> Self:
        """Create a fresh temp directory (under ``parent`` if given) and start a server in it."""
        found = binary or influxd_binary()
        if found is None:
            # Never skip: CI must exercise the real database. `make test` installs it.
            raise FileNotFoundError(
                "influxd is not installed: run `make test` (it installs Debian's influxdb) "
                "or set FARMWATCH_INFLUXD"
            )
        root = Path(tempfile.mkdtemp(prefix="influxd-", dir=parent))
        server = cls(root, binary=found, owns_root=True, tls=tls, auth_enabled=auth_enabled)
        try:
            server.start()
        except BaseException:
            server.close()
            raise
        return server

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What an httpx client needs to trust this server."""
        return ssl.create_default_context(cafile=self.tls.cert) if self.tls else True

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start ``influxd`` and wait until ``/ping`` answers; raise with the log tail if not."""
        if self.running:
            return
        for name in ("meta", "data", "wal"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            _config(
                self.root, self.http_port, self.rpc_port, self.tls, auth_enabled=self.auth_enabled
            )
        )
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [self.binary, "run", "-config", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C on pytest must not hit influxd before cleanup
        )
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last_error = "no answer yet"
        with httpx.Client(timeout=1.0, verify=self.verify) as client:
            while time.monotonic() < deadline:
                process = self._process
                if process is None or process.poll() is not None:
                    code = None if process is None else process.returncode
                    raise RuntimeError(
                        f"influxd exited with code {code} during start-up\n{self.log_tail()}"
                    )
                try:
                    response = client.get(f"{self.url}/ping")
                except httpx.TransportError as exc:
                    last_error = repr(exc)
                else:
                    if response.status_code == 204:
                        return
                    last_error = f"HTTP {response.status_code}"
                time.sleep(0.05)
        raise TimeoutError(
            f"influxd did not answer {self.url}/ping within {timeout_s:g} s "
            f"(last: {last_error})\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The end of the server log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no influxd log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Clean shutdown: SIGTERM, then SIGKILL if it has not exited after ``timeout_s``."""
        self._terminate(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        """Crash it: SIGKILL, no chance to flush anything that was not already durable."""
        self._terminate(signal.SIGKILL, STOP_TIMEOUT_S)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _terminate(self, sig: signal.Signals, timeout_s: float) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(sig)
                try:
                    process.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            else:
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        """Stop the server and remove its directory if this object made it."""
        self.stop()
        if self.owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def query(self, q: str, database: str | None = None) -> httpx.Response:
        """Run an InfluxQL statement directly (setup and assertions that bypass the store)."""
        params = {"db": database} if database else {}
        return httpx.post(
            f"{self.url}/query", params=params, data={"q": q}, timeout=10.0, verify=self.verify
        )

    def write_lines(self, database: str, lines: str, precision: str = "ms") -> httpx.Response:
        """Write raw line protocol, bypassing the store (e.g. to create a field type conflict)."""
        return httpx.post(
            f"{self.url}/write",
            params={"db": database, "precision": precision},
            content=lines,
            timeout=10.0,
            verify=self.verify,
        )
