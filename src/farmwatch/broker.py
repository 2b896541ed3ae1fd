"""The MQTT broker for embedded runs and tests: a managed mosquitto, or an in-process fallback.

``farmwatch up`` and the test suite start a real mosquitto from the project's own config file
(the same file docker-compose mounts), rewriting only its listener and directories. Only when
no mosquitto binary is installed does ``farmwatch up`` fall back to amqtt, an in-process Python
broker, so a first run works without root.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import getpass
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

# A minimal MQTT 3.1.1 CONNECT (clean session, keepalive 5 s, client id "fw-probe").
_PROBE_CONNECT = bytes([0x10, 20, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 5, 0, 8]) + b"fw-probe"
_CONNACK = 0x20


class BrokerError(RuntimeError):
    """A broker could not be started; the message says what to do."""


class Broker(Protocol):
    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def project_mosquitto_config() -> Path:
    """The project's mosquitto.conf: $FARMWATCH_MOSQUITTO_CONFIG, the repo's deploy/ folder, or
    the copy packaged into the wheel."""
    env = os.environ.get("FARMWATCH_MOSQUITTO_CONFIG")
    candidates = [Path(env)] if env else []
    candidates += [
        Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf",
        Path(__file__).resolve().parent / "data" / "mosquitto.conf",
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise BrokerError(
        "cannot find the project's mosquitto.conf; set FARMWATCH_MOSQUITTO_CONFIG to its path"
    )


def render_mosquitto_config(
    template: str, *, port: int, data_dir: Path, bind: str = "127.0.0.1"
) -> str:
    """The project config with the first listener moved to ``bind:port`` and state in ``data_dir``.

    Every other setting (persistence, queue limits, packet size, auth files) is kept as is, so
    tests exercise the configuration production runs. Further listeners (TLS, websockets) are
    left out: they need certificates and fixed ports.
    """
    out: list[str] = []
    listener_seen = False
    skipping_listener = False
    for line in template.splitlines():
        key = line.split("#", 1)[0].split()
        name = key[0] if key else ""
        if name == "listener":
            if listener_seen:
                skipping_listener = True
                out.append(f"# (farmwatch: extra listener left out) {line}")
                continue
            listener_seen = True
            skipping_listener = False
            out.append(f"listener {port} {bind}")
            continue
        if skipping_listener and name in {
            "cafile",
            "certfile",
            "keyfile",
            "protocol",
            "require_certificate",
        }:
            out.append(f"# (farmwatch: extra listener option left out) {line}")
            continue
        if name == "persistence_location":
            out.append(f"persistence_location {data_dir}/")
            continue
        if name == "user":
            continue
        out.append(line)
    if not listener_seen:
        out.insert(0, f"listener {port} {bind}")
    # When started as root, mosquitto drops to user 'mosquitto', which could not write data_dir.
    out.append(f"user {getpass.getuser()}")
    return "\n".join(out) + "\n"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def speaks_mqtt(
    host: str, port: int, timeout: float = 1.0, tls: ssl.SSLContext | None = None
) -> bool:
    """True if something on host:port answers an MQTT CONNECT with a CONNACK (over ``tls``)."""
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            tls.wrap_socket(raw, server_hostname=host)
            if tls
            else contextlib.nullcontext(raw) as sock,
        ):
            sock.settimeout(timeout)
            sock.sendall(_PROBE_CONNECT)
            reply = sock.recv(4)
            sock.sendall(bytes([0xE0, 0]))  # DISCONNECT
            return len(reply) >= 2 and reply[0] == _CONNACK
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM it when its parent dies (prctl
    PR_SET_PDEATHSIG), so a killed farmwatch leaves no orphan broker behind."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _wait(check: Callable[[], bool], timeout: float, failed: Callable[[], str | None]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        reason = failed()
        if reason:
            raise BrokerError(reason)
        time.sleep(0.05)
    raise BrokerError(failed() or f"broker did not answer within {timeout:.0f} s")


class MosquittoProcess:
    """A mosquitto child process running the project config on a port of our choosing."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        config: Path | None = None,
        host: str = "127.0.0.1",
        binary: str | None = None,
        tls_ca: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.host = host
        self.config = config
        self.binary = binary
        self.tls_ca = tls_ca  # the config's listener is a TLS one this CA vouches for
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> str | None:
        """Path of the mosquitto binary, if installed (Debian puts it in /usr/sbin)."""
        return shutil.which("mosquitto") or shutil.which(
            "mosquitto", path="/usr/sbin:/usr/local/sbin"
        )

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls_ca else 'mqtt'}://{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "mosquitto.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        binary = self.binary or self.available()
        if binary is None:
            raise BrokerError("mosquitto is not installed (Debian/Ubuntu: apt install mosquitto)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        template = (self.config or project_mosquitto_config()).read_text()
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(
            render_mosquitto_config(
                template, port=self.port, data_dir=self.data_dir, bind=self.host
            )
        )
        with self.log_file.open("ab") as log_fh:
            # Own session: Ctrl-C in the terminal reaches only farmwatch, which stops the broker
            # last, after ingest has flushed. The death signal still stops it if we are killed.
            self._proc = subprocess.Popen(
                [binary, "-c", str(conf)],
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only async-signal-safe prctl
            )
        proc = self._proc

        def failed() -> str | None:
            if proc.poll() is None:
                return None
            tail = self.log_file.read_text(errors="replace").splitlines()[-5:]
            return f"mosquitto exited with code {proc.returncode}: " + " | ".join(tail)

        tls = ssl.create_default_context(cafile=str(self.tls_ca)) if self.tls_ca else None
        _wait(lambda: speaks_mqtt(self.host, self.port, tls=tls), 15.0, failed)
        log.info("mosquitto %s running on %s (pid %s)", binary, self.url, proc.pid)

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash would; for tests that prove nothing is lost."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


class InProcessBroker:
    """amqtt running on its own event loop in a background thread.

    Only the no-install default: mosquitto is faster and is what production and tests use.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        from amqtt.broker import Broker as AmqttBroker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        ready = threading.Event()
        errors: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._broker = AmqttBroker(config, loop=loop)
                loop.run_until_complete(self._broker.start())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="amqtt-broker", daemon=True)
        self._thread.start()
        ready.wait(15)
        if errors:
            raise BrokerError(f"in-process MQTT broker failed to start: {errors[0]}") from errors[0]
        _wait(lambda: speaks_mqtt(self.host, self.port), 15.0, lambda: None)

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
        try:
            future.result(10)
        except Exception:
            log.warning("in-process broker did not shut down cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None
        self._thread = None
