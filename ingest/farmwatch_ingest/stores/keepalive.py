"""POST requests over one kept-alive ``http.client`` connection: InfluxDB's write path.

Why not httpx here, when the rest of :class:`~farmwatch_ingest.stores.influx.InfluxStore` uses
it: ingest sends one ``/write`` request per batch, thousands per minute under load, and
measured on this project's 2-core machine (500-line bodies to a local influxd, CPU time of the
sending thread) httpx spent 1.1-1.2 ms per request against 0.3-0.4 ms for ``http.client``, about
1.5 µs per message at 500 messages per batch: more than validating a message's timestamp, and
a tenth of ingest's whole cost per message (bench/ingest_profile.py, ``http_us``). Everything
else (queries, ``/ping``, ``CREATE DATABASE``) stays on httpx; so do writes in the cases this
class does not handle (see :func:`supports`).

The answer comes back as an ``httpx.Response`` and failures as httpx's exceptions (``raise ...
from`` the original, so a refused certificate is still found in the chain), so the store's one
error translation (``InfluxStore._send``) serves both clients.

A kept-alive connection the server has closed in the meantime (idle timeout) fails on first
use; that request is sent once more on a fresh connection, which is safe because InfluxDB
writes are idempotent (same series and time overwrite).

Example::

    writer = KeepAliveClient("http://127.0.0.1:8086", {"User-Agent": "farmwatch"}, 10.0, None)
    response = writer.post("/write?db=farmwatch&precision=ms", b"m,t=a f=1 1")
    writer.close()
"""

from __future__ import annotations

import http.client
import ssl
import threading
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

__all__ = ["KeepAliveClient", "supports"]


def supports(url: str) -> bool:
    """Whether :class:`KeepAliveClient` can stand in for httpx for this URL: plain http or
    https, no credentials in the URL (httpx would turn them into Basic auth) and no proxy from
    the environment (httpx honours ``HTTP_PROXY`` and friends; ``http.client`` does not).

    >>> supports("http://127.0.0.1:8086"), supports("http://u:p@h:8086"), supports("ftp://h")
    (True, False, False)
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.username is not None or parts.password is not None:
        return False
    proxies = urllib.request.getproxies()
    return parts.scheme not in proxies or bool(urllib.request.proxy_bypass(parts.hostname))


class KeepAliveClient:
    """One persistent HTTP/1.1 connection for POSTs; thread-safe (requests take turns)."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        timeout_s: float,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        parts = urlsplit(base_url)
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")  # InfluxDB behind a reverse proxy's sub-path
        self.headers = {**headers, "Content-Type": "text/plain; charset=utf-8"}
        self.timeout_s = timeout_s
        self.ssl_context = ssl_context
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> http.client.HTTPConnection:
        if self.tls:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout_s, context=self.ssl_context
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)

    def post(self, target: str, body: bytes) -> httpx.Response:
        """POST ``body`` to ``target`` (path and query string); the whole answer, read."""
        url = self.prefix + target
        with self._lock:
            for attempt in (1, 2):
                fresh = self._conn is None
                conn = self._conn = self._conn or self._connect()
                try:
                    conn.request("POST", url, body=body, headers=self.headers)
                    response = conn.getresponse()
                    content = response.read()
                except TimeoutError as exc:
                    self._drop()
                    raise httpx.ReadTimeout(f"no answer within {self.timeout_s:g} s") from exc
                except (
                    http.client.RemoteDisconnected,
                    ConnectionResetError,
                    BrokenPipeError,
                ) as exc:
                    self._drop()
                    if fresh or attempt == 2:
                        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
                    continue  # the server closed the idle connection: once more, anew
                except (OSError, http.client.HTTPException) as exc:
                    self._drop()
                    raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
                if response.will_close:
                    self._drop()
                return httpx.Response(
                    response.status, headers=response.getheaders(), content=content
                )
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close the connection (a later :meth:`post` opens a new one). Safe to call twice."""
        with self._lock:
            self._drop()
