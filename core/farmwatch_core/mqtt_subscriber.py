"""A minimal MQTT 3.1.1 subscriber for the server's services: QoS 1, persistent session, PUBACK
on demand. Ingest and alerting use it (both acknowledge a message only after its effect is
stored); the edge agent and the simulators publish with paho.

Why not paho-mqtt for the subscribers: profiled under
the benchmark load (bench/ingest.py, py-spy), paho's network loop was 55 % of ingest's CPU, about
45 µs per message on this machine: every packet goes through several method calls, an
``MQTTMessage``, a topic-matcher walk for callbacks and a locked PUBACK each. The issue's
reference measurement agrees: a paho subscriber that only *counts* reaches ≈0.55 of the C client.
The alternatives did not fit: aiomqtt wraps paho; gmqtt acknowledges when a per-message
``on_message`` coroutine returns, which means one coroutine and one future per message to tie
the PUBACK to a batched database write. What ingest needs is small and fixed, so it is here:

* CONNECT (MQTT 3.1.1, ``clean_session = 0`` so the broker keeps the subscription and every
  unacknowledged message across restarts), username/password, TLS (``mqtts://``);
* SUBSCRIBE with QoS 1, to plain or shared (``$share/GROUP/...``) filters; a refused filter is
  an error, not a silent gap;
* PUBLISH QoS 0 and 1 in, parsed straight from the receive buffer into :class:`Publish`,
  handed over in *lists* (one per ``recv``), not one callback per message;
* PUBACK only when the caller says so (:meth:`Connection.ack`, after the durable write), many in
  one ``send``;
* keepalive: PINGREQ when nothing was sent for half the interval; no answer from the broker
  within the interval means the connection is dead;
* reconnecting is the caller's loop (``IngestService.run``): one :class:`Connection` per
  connection, so a PUBACK meant for a previous connection can never reach a new one.

QoS 2 is never requested, so the broker downgrades QoS 2 publications to 1 for us (MQTT 3.1.1
§3.8.4); receiving one anyway is a protocol error that drops the connection.

All socket I/O happens on the thread that calls :meth:`Connection.loop`; :meth:`Connection.ack`
may be called from any thread and only queues the packet ids and wakes that thread, so TLS
sockets (not safe for concurrent use) work too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from farmwatch_core.mqtt import parse_mqtt_url
from farmwatch_core.mqtt_settings import MqttSettings

log = logging.getLogger(__name__)

_CONNECT = 0x10
_CONNACK = 0x20
_PUBLISH = 0x30
_PUBACK = 0x40
_SUBSCRIBE = 0x82  # with the reserved flags 0b0010 that MQTT 3.1.1 §3.8.1 requires
_SUBACK = 0x90
_PINGREQ = b"\xc0\x00"
_PINGRESP = 0xD0
_DISCONNECT = b"\xe0\x00"
_SUBSCRIBE_ID = 1
_RECV_BYTES = 256 * 1024
_CONNACK_REFUSALS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class MqttError(Exception):
    """The connection failed or was lost; connect again (unacknowledged messages come back)."""


class Publish(NamedTuple):
    """One received PUBLISH. ``mid`` is the packet id to acknowledge (0 for QoS 0).

    A named tuple rather than a frozen dataclass: one is built per message on the hot path,
    and a tuple is several times cheaper to construct.
    """

    topic: str
    payload: bytes
    mid: int
    qos: int


def _remaining_length(length: int) -> bytes:
    """MQTT's variable-length integer (§2.2.3).

    >>> _remaining_length(0), _remaining_length(127), _remaining_length(128), _remaining_length(16_383)
    (b'\\x00', b'\\x7f', b'\\x80\\x01', b'\\xff\\x7f')
    """  # noqa: E501 - the doctest reads best on one line
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _utf8(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def connect_packet(
    client_id: str, keepalive_s: int, username: str | None, password: str | None
) -> bytes:
    """CONNECT for a persistent session (clean_session = 0), MQTT 3.1.1 (§3.1)."""
    flags = 0
    payload = _utf8(client_id)
    if username is not None:
        flags |= 0x80
        payload += _utf8(username)
        if password is not None:
            flags |= 0x40
            payload += _utf8(password)
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + keepalive_s.to_bytes(2, "big") + payload
    return bytes([_CONNECT]) + _remaining_length(len(body)) + body


def subscribe_packet(topics: Sequence[str]) -> bytes:
    """SUBSCRIBE every filter at QoS 1 in one packet (§3.8)."""
    body = _SUBSCRIBE_ID.to_bytes(2, "big") + b"".join(_utf8(t) + b"\x01" for t in topics)
    return bytes([_SUBSCRIBE]) + _remaining_length(len(body)) + body


def puback_packets(mids: Sequence[int]) -> bytes:
    """PUBACKs for these packet ids, in order, as one buffer.

    >>> puback_packets([1, 258])
    b'@\\x02\\x00\\x01@\\x02\\x01\\x02'
    """
    words = [0x4002] * (2 * len(mids))  # each PUBACK: type and length, then the packet id
    words[1::2] = mids
    return struct.pack(f">{len(words)}H", *words)


def parse_packets(buf: bytes, out: list[Publish]) -> tuple[int, list[tuple[int, bytes]]]:
    """Parse the complete packets at the start of ``buf``.

    PUBLISH packets are appended to ``out``; every other packet comes back as (first byte,
    body). Returns how many bytes were consumed (an incomplete last packet stays for the next
    ``recv``). This is the hot loop: one pass, slicing ``bytes`` (one copy per payload).

    >>> out: list[Publish] = []
    >>> packet = b"\\x32\\x0a\\x00\\x03a/b\\x00\\x07hey" + b"\\xd0\\x00" + b"\\x30\\x05"
    >>> parse_packets(packet, out)
    (14, [(208, b'')])
    >>> out
    [Publish(topic='a/b', payload=b'hey', mid=7, qos=1)]
    """
    pos = 0
    end_of_data = len(buf)
    others: list[tuple[int, bytes]] = []
    append = out.append
    while end_of_data - pos >= 2:
        header = buf[pos]
        i = pos + 1
        length = 0
        shift = 0
        while True:
            if i >= end_of_data:
                return pos, others
            byte = buf[i]
            i += 1
            length |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if shift > 21:
                raise MqttError("malformed remaining length from the broker")
        end = i + length
        if end > end_of_data:
            return pos, others
        if header & 0xF0 == _PUBLISH:
            qos = (header >> 1) & 3
            topic_end = i + 2 + ((buf[i] << 8) | buf[i + 1])
            topic = buf[i + 2 : topic_end].decode()
            if qos == 1:
                append(
                    Publish(
                        topic,
                        buf[topic_end + 2 : end],
                        (buf[topic_end] << 8) | buf[topic_end + 1],
                        1,
                    )
                )
            elif qos == 0:
                append(Publish(topic, buf[topic_end:end], 0, 0))
            else:
                raise MqttError(f"QoS {qos} PUBLISH on a QoS 1 subscription ({topic!r})")
        else:
            others.append((header, buf[i:end]))
        pos = end
    return pos, others


class Connection:
    """One MQTT connection: connect and subscribe, then :meth:`loop` until stopped or lost."""

    def __init__(self, settings: MqttSettings, client_id: str) -> None:
        self.settings = settings
        self.client_id = client_id
        self.address = parse_mqtt_url(settings.url)
        self.keepalive_s = settings.keepalive_s
        self.session_present = False
        self.pongs = 0  # PINGRESPs received: the keepalive works (metrics, tests)
        self._sock: socket.socket | None = None
        self._acks: list[int] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._closed = False
        self._last_sent = 0.0
        self._ping_sent_at: float | None = None
        self._pending = b""
        self._early: list[Publish] = []
        self._others: list[tuple[int, bytes]] = []

    # -- set-up ----------------------------------------------------------------------------

    def connect(self, topics: Sequence[str], timeout: float = 10.0) -> None:
        """Connect, CONNECT and SUBSCRIBE; returns once the broker granted every filter."""
        address = self.address
        try:
            sock = socket.create_connection((address.host, address.port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if address.tls:
                context = ssl.create_default_context(
                    cafile=str(self.settings.ca_file) if self.settings.ca_file else None
                )
                sock = context.wrap_socket(sock, server_hostname=address.host)
            self._sock = sock
            self._handshake(sock, topics)
            sock.settimeout(None)
            sock.setblocking(False)
        except OSError as exc:
            self.close()
            raise MqttError(f"cannot connect to the broker at {address.url()}: {exc}") from exc
        except MqttError:
            self.close()
            raise

    def _handshake(self, sock: socket.socket, topics: Sequence[str]) -> None:
        username = self.settings.username or self.address.username
        password = (
            self.settings.password.get_secret_value()
            if self.settings.password
            else self.address.password
        )
        sock.sendall(connect_packet(self.client_id, self.keepalive_s, username, password))
        header, body = self._read_one(sock)
        if header != _CONNACK or len(body) != 2:
            raise MqttError(f"expected CONNACK, got packet type {header >> 4}")
        if body[1]:
            reason = _CONNACK_REFUSALS.get(body[1], f"code {body[1]}")
            raise MqttError(f"the broker refused the connection: {reason}")
        self.session_present = bool(body[0] & 1)
        sock.sendall(subscribe_packet(topics))
        header, body = self._read_one(sock)
        if header != _SUBACK or body[:2] != _SUBSCRIBE_ID.to_bytes(2, "big"):
            raise MqttError(f"expected SUBACK, got packet type {header >> 4}")
        granted = body[2:]
        refused = [t for t, code in zip(topics, granted, strict=False) if code == 0x80]
        if refused or len(granted) != len(topics):
            raise MqttError(f"the broker refused the subscription to {refused or list(topics)}")

    def _read_one(self, sock: socket.socket) -> tuple[int, bytes]:
        """The next non-PUBLISH packet, blocking (set-up only). A persistent session may get
        its queued messages right after CONNACK, even before SUBACK: those are kept for
        :meth:`loop`, which delivers them first."""
        while not self._others:
            data = sock.recv(_RECV_BYTES)
            if not data:
                raise MqttError("the broker closed the connection during set-up")
            buf = self._pending + data
            used, others = parse_packets(buf, self._early)
            self._pending = buf[used:]
            self._others.extend(others)
        header, body = self._others.pop(0)
        return header & 0xF0, body

    # -- running ---------------------------------------------------------------------------

    def ack(self, mids: Sequence[int]) -> None:
        """Queue PUBACKs (any thread); the loop sends them, in this order, at once."""
        if not mids:
            return
        with self._lock:
            if self._closed:
                return  # a lost connection: the broker redelivers these to the next one
            self._acks.extend(mids)
        with contextlib.suppress(BlockingIOError):  # full of wake-ups already: fine
            os.write(self._wake_w, b"\x00")

    def loop(self, deliver: Callable[[list[Publish]], None], stop: threading.Event) -> None:
        """Receive until ``stop`` is set (returns) or the connection is lost (raises MqttError).

        ``deliver`` gets the PUBLISHes of each ``recv``, on this thread, in arrival order.
        """
        sock = self._sock
        if sock is None:
            raise MqttError("not connected")
        early, self._early = self._early, []
        if early:
            deliver(early)
        keepalive = float(self.keepalive_s)
        self._last_sent = time.monotonic()
        self._ping_sent_at = None
        tls = isinstance(sock, ssl.SSLSocket)
        try:
            while not stop.is_set():
                # TLS may hold decrypted bytes the socket no longer signals: don't wait then.
                wait = 0.0 if tls and sock.pending() else 0.5  # type: ignore[attr-defined]
                ready, _, _ = select.select([sock.fileno(), self._wake_r], [], [], wait)
                now = time.monotonic()
                if self._wake_r in ready:
                    self._send_acks(sock, now)
                if sock.fileno() in ready or (tls and sock.pending()):  # type: ignore[attr-defined]
                    self._receive(sock, deliver)
                if self._ping_sent_at is not None and now - self._ping_sent_at > keepalive:
                    raise MqttError(f"no answer from the broker for {keepalive:g} s (keepalive)")
                if self._ping_sent_at is None and now - self._last_sent >= keepalive / 2:
                    self._send_all(sock, _PINGREQ)
                    self._last_sent = self._ping_sent_at = now
        except OSError as exc:
            raise MqttError(f"lost the broker: {exc}") from exc

    def _send_acks(self, sock: socket.socket, now: float) -> None:
        with self._lock:
            mids, self._acks = self._acks, []
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass
        if mids:
            self._send_all(sock, puback_packets(mids))
            self._last_sent = now

    def _receive(self, sock: socket.socket, deliver: Callable[[list[Publish]], None]) -> None:
        try:
            data = sock.recv(_RECV_BYTES)
        except (BlockingIOError, ssl.SSLWantReadError):
            return
        if not data:
            raise MqttError("the broker closed the connection")
        buf = self._pending + data if self._pending else data
        publishes: list[Publish] = []
        used, others = parse_packets(buf, publishes)
        self._pending = buf[used:]
        for header, _body in others:
            if header & 0xF0 == _PINGRESP:
                self._ping_sent_at = None
                self.pongs += 1
        if publishes:
            deliver(publishes)

    def _send_all(self, sock: socket.socket, data: bytes) -> None:
        """sendall on a non-blocking socket: wait for room instead of failing."""
        view = memoryview(data)
        while view:
            try:
                sent = sock.send(view)
            except (BlockingIOError, ssl.SSLWantWriteError):
                select.select([], [sock], [], 1.0)
                continue
            view = view[sent:]

    def disconnect(self) -> None:
        """Send the PUBACKs still queued, say goodbye (DISCONNECT) and close; the persistent
        session stays on the broker. Call it after :meth:`loop` has returned."""
        sock = self._sock
        if sock is not None:
            with self._lock:
                mids, self._acks = self._acks, []
            with contextlib.suppress(OSError):
                sock.settimeout(1.0)
                sock.sendall(puback_packets(mids) + _DISCONNECT)
                # Read until the broker closes: closing a socket with unread input sends a TCP
                # reset, which can make the broker drop our last PUBACKs unread.
                deadline = time.monotonic() + 1.0
                while sock.recv(_RECV_BYTES) and time.monotonic() < deadline:
                    pass
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
