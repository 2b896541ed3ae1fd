"""InfluxDB storage through the v1 HTTP API, so one client serves InfluxDB 1.x, 2.x and 3.x.

Schema (one point per record)::

    telemetry,farm=<farm_id>,node=<node_id> <quantity>=<float>,...,seq=<int>i,synced=<bool> <ts ms>

The point identity (measurement, tags, timestamp) is the same as the SQLite backend's primary
key, so a redelivered record overwrites itself: idempotent writes for free.

Authentication, chosen from :class:`~farmwatch_core.settings.InfluxSettings`:

* ``token`` → header ``Authorization: Token <token>``. InfluxDB 2.x accepts it on its v1
  compatibility endpoints (the database/retention policy must be mapped to a bucket with a DBRP
  mapping, ``influx v1 dbrp create``), and InfluxDB 3.x accepts it too.
* ``username``/``password`` → HTTP Basic auth, which InfluxDB 1.x accepts exactly like the
  ``u``/``p`` query parameters. Basic auth is used instead of ``u``/``p`` because httpx logs
  every request URL at INFO level: query parameters would put the password in farmwatch's logs.

TLS: an ``https://`` URL is checked against the system's CAs plus ``ca_file`` (a cooperative's
own CA or a self-signed certificate); an untrusted certificate is a StoreUnavailable that says
to set ``influx.ca_file``. ``verify_tls = False`` skips the check (refused in production).

Secrets: messages and logs show the URL without any ``user:password@`` (``shown_url``); the
token travels in a header no message quotes.

Errors are translated at this boundary (``raise ... from``)::

    connection refused, timeout, HTTP 5xx, 429  -> StoreUnavailable  (check URL / influxd)
    TLS certificate not trusted                 -> StoreUnavailable  (set influx.ca_file)
    HTTP 401, 403                               -> StoreUnavailable  (check token/credentials)
    HTTP 404 database not found                 -> StoreUnavailable  (create database / DBRP)
    HTTP 400 (field type conflict, bad line...) -> StoreRejected     (InfluxDB's own text)

Authorization and a missing database are "unavailable", not "rejected": the data is fine and the
configuration is wrong, so ingest keeps the data and retries once the operator has fixed it.

Example::

    store = InfluxStore(InfluxSettings(url="http://127.0.0.1:8086", database="farmwatch"))
    try:
        store.write(node_records)
    finally:
        store.close()
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from farmwatch_core.contract import Record
from farmwatch_core.mqtt_url import display_url
from farmwatch_core.settings import InfluxSettings
from farmwatch_core.tls import certificate_refused

from farmwatch_ingest.stores.base import (
    Aggregate,
    Bucket,
    LatestReading,
    NodeRecord,
    StoreError,
    StoreRejected,
    StoreUnavailable,
)
from farmwatch_ingest.stores.common import (
    bound_ms,
    check_storable,
    from_ms,
    interval_ms,
    to_ms,
)
from farmwatch_ingest.stores.keepalive import KeepAliveClient, supports

__all__ = ["MEASUREMENT", "InfluxStore"]

logger = logging.getLogger(__name__)

MEASUREMENT = "telemetry"
WRITE_CHUNK_LINES = 5000
"""Lines per write request: well below InfluxDB's default 25 MB body limit, large enough that
a node's week-long offline backlog is a handful of requests."""
QUERY_CHUNK_ROWS = 10_000
"""Rows per chunk of a chunked query. Chunked responses are not cut by ``max-row-limit``, so a
long ``records()`` range is never silently truncated."""

_FARM_TAG = "farm"
_NODE_TAG = "node"
_SEQ_FIELD = "seq"
_SYNCED_FIELD = "synced"
_RESERVED = frozenset({"time", _FARM_TAG, _NODE_TAG, _SEQ_FIELD, _SYNCED_FIELD})
_ERROR_TEXT_LIMIT = 500

_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})


def escape_tag(text: str) -> str:
    """Escape a tag key, tag value or field key for line protocol.

    Farm and node IDs are validated by the contract and never contain these characters; the
    escaping is defence in depth so a future relaxation of the ID rules cannot corrupt a batch.

    >>> escape_tag("a b,c=d")
    'a\\\\ b\\\\,c\\\\=d'
    """
    return text.translate(_TAG_ESCAPES)


def quote_string(text: str) -> str:
    """An InfluxQL string literal.

    >>> quote_string("it's")
    "'it\\\\'s'"
    """
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_ident(text: str) -> str:
    """An InfluxQL double-quoted identifier.

    >>> quote_ident('my "db"')
    '"my \\\\"db\\\\""'
    """
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_INFLUX_AGGREGATES = {"mean": "mean", "min": "min", "max": "max"}


@functools.lru_cache(maxsize=65_536)
def _series(farm_id: str, node_id: str) -> str:
    """The measurement and tags of a node's points, with the separating space."""
    return f"{MEASUREMENT},{_FARM_TAG}={escape_tag(farm_id)},{_NODE_TAG}={escape_tag(node_id)} "


_MAX_NAMES = 10_000  # bound of the two caches of quantity names below
_SYNCED = {True: f",{_SYNCED_FIELD}=true ", False: f",{_SYNCED_FIELD}=false "}
_float_repr = float.__repr__  # TypeError for anything but a float: see _line


class _FieldKeys(dict[str, str]):
    """quantity -> its escaped field key and "=", filled on first use (``[]`` is cheaper per
    reading than ``.get`` plus a fallback call)."""

    def __missing__(self, name: str) -> str:
        key = escape_tag(name) + "="
        if len(self) < _MAX_NAMES:
            self[name] = key
        return key


_FIELD_KEYS = _FieldKeys()


def _line(nr: NodeRecord) -> str:
    """One point. The hot path of a write (bench/ingest_profile.py): field keys come escaped
    from a dict and floats are formatted by ``float.__repr__`` (exact and shortest); a record
    holding ints or bools instead (not from the contract, which gives floats) takes ``float()``.
    """
    farm_id, node_id, rec = nr
    keys = _FIELD_KEYS
    items = rec.readings.items()
    try:
        fields = ",".join([keys[q] + _float_repr(v) for q, v in items])
    except TypeError:
        fields = ",".join([keys[q] + repr(float(v)) for q, v in items])
    return (
        f"{_series(farm_id, node_id)}{fields},{_SEQ_FIELD}={rec.seq}i"
        f"{_SYNCED[bool(rec.synced)]}{to_ms(rec.ts, 'timestamp')}"
    )


_CHECKED_NAMES: set[str] = set()  # quantity names _check has accepted (bounded by _MAX_NAMES)


def _check(nr: NodeRecord) -> None:
    """The common guard, plus what only line protocol cannot carry as a field name (each name
    is checked once: the same few quantities recur in every batch)."""
    check_storable(nr)
    readings = nr.record.readings
    if _CHECKED_NAMES.issuperset(readings):
        return
    for name in readings:
        if name in _RESERVED or not name or "\n" in name:
            raise StoreRejected(
                f"{nr.farm_id}/{nr.node_id} seq {nr.record.seq}: {name!r} cannot be a quantity "
                "name in InfluxDB"
            )
        if len(_CHECKED_NAMES) < _MAX_NAMES:
            _CHECKED_NAMES.add(name)


def tls_verify(settings: InfluxSettings) -> ssl.SSLContext | bool:
    """How to check InfluxDB's certificate on https:// URLs: the system's CAs plus
    ``ca_file`` (a cooperative's own CA, or a self-signed certificate), or not at all when
    ``verify_tls`` is off (refused in production by farmwatch_core.production)."""
    if not settings.verify_tls:
        return False
    context = ssl.create_default_context()
    if settings.ca_file is not None:
        try:
            context.load_verify_locations(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"influx.ca_file {settings.ca_file}: not a readable PEM file: {exc}"
            ) from exc
    return context


def _error_text(response: httpx.Response) -> str:
    """InfluxDB's own explanation: JSON ``error`` (1.x) / ``message`` (2.x, 3.x) or the header."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message"):
            if isinstance(body.get(key), str):
                return str(body[key])[:_ERROR_TEXT_LIMIT]
    header = str(response.headers.get("X-Influxdb-Error", ""))
    if header:
        return header[:_ERROR_TEXT_LIMIT]
    return response.text.strip()[:_ERROR_TEXT_LIMIT] or response.reason_phrase


def _unverified() -> ssl.SSLContext:
    """TLS without certificate checks, what httpx does with ``verify=False``."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class InfluxStore:
    """The :class:`~farmwatch_ingest.stores.base.Store` on InfluxDB's v1 HTTP API.

    Safe to share between threads: ``httpx.Client`` pools connections behind its own locks.
    The constructor does not fail when InfluxDB is down (ingest must start and buffer); it
    tries ``CREATE DATABASE`` and, if InfluxDB could not be reached, tries again before the
    next operation.
    """

    def __init__(self, settings: InfluxSettings) -> None:
        if not settings.url:
            raise ValueError("InfluxStore needs influx.url (e.g. http://127.0.0.1:8086)")
        self.settings = settings
        self.url = settings.url.rstrip("/")
        # What messages and logs say: the URL may carry user:password (never shown).
        self.shown_url = display_url(self.url)
        headers = {"User-Agent": "farmwatch-ingest"}
        auth: httpx.BasicAuth | None = None
        if settings.token is not None:
            headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
        elif settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else ""
            auth = httpx.BasicAuth(settings.username, password)
        self._client = httpx.Client(
            base_url=self.url,
            headers=headers,
            auth=auth,
            timeout=settings.timeout_s,
            verify=tls_verify(settings),
        )
        self._database_ready = not settings.create_database
        try:
            self._ensure_database()
        except StoreUnavailable as exc:
            logger.warning("InfluxDB not usable yet; will retry before the next operation: %s", exc)

    # -- plumbing -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        content: str | None = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; raise StoreUnavailable for every failure that is not the data's."""
        response = self._send(method, path, what, params=params, content=content, data=data)
        self._raise_for_availability(response, what)
        return response

    def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        content: str | None = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            if method == "POST" and path == "/write" and content is not None:
                writer = self._keepalive()
                if writer is not None:  # the hot path: see stores/keepalive.py
                    return writer.post(f"{path}?{urlencode(params or {})}", content.encode())
            return self._client.request(method, path, params=params, content=content, data=data)
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(
                f"InfluxDB at {self.shown_url} did not answer ({what}) within "
                f"{self.settings.timeout_s:g} s; check that influxd is running and not "
                "overloaded, or raise influx.timeout_s"
            ) from exc
        except httpx.TransportError as exc:
            if certificate_refused(exc):
                raise StoreUnavailable(
                    f"InfluxDB at {self.shown_url} presented a TLS certificate this host does not "
                    f"trust ({what}): {exc}; set influx.ca_file to the CA that signed it "
                    "(FARMWATCH_INFLUX__CA_FILE), or fix the certificate's host name"
                ) from exc
            raise StoreUnavailable(
                f"cannot reach InfluxDB at {self.shown_url} ({what}): "
                f"{exc or type(exc).__name__}; "
                "check influx.url and that influxd is running and reachable from this host"
            ) from exc

    def _raise_for_availability(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status in (401, 403):
            raise StoreUnavailable(
                f"InfluxDB at {self.shown_url} refused the credentials ({what}, HTTP {status}: "
                f"{_error_text(response)}); check influx.token, or influx.username/password, "
                f"and that they may access database {self.settings.database!r}"
            )
        if status == 429 or status >= 500:
            raise StoreUnavailable(
                f"InfluxDB at {self.shown_url} is unavailable ({what}, HTTP {status}: "
                f"{_error_text(response)}); check that influxd is healthy (disk, memory)"
            )

    def _database_missing(self, detail: str) -> StoreUnavailable:
        return StoreUnavailable(
            f"InfluxDB at {self.shown_url} has no database {self.settings.database!r} ({detail}); "
            "set influx.create_database = true, or create it (1.x: CREATE DATABASE; 2.x/3.x: "
            "a bucket with a DBRP mapping)"
        )

    def _ensure_database(self) -> None:
        """``CREATE DATABASE`` once (idempotent in 1.x); retried while InfluxDB is unreachable.

        2.x/3.x refuse it (401/403, or a statement error) because there the admin creates the
        bucket and its DBRP mapping. That is expected, so warn and carry on: a write to a
        database that really is missing still fails, with a message saying so.
        """
        if self._database_ready:
            return
        q = f"CREATE DATABASE {quote_ident(self.settings.database)}"
        response = self._send("POST", "/query", "create database", data={"q": q})
        if response.status_code not in (401, 403):
            self._raise_for_availability(response, "create database")  # retry later
        problem = None
        if not response.is_success:
            problem = f"HTTP {response.status_code}: {_error_text(response)}"
        else:
            for document in self._documents(response):
                for result in document.get("results", []):
                    if isinstance(result.get("error"), str):
                        problem = result["error"]
        if problem is not None:
            logger.warning(
                "could not create InfluxDB database %r at %s (%s); continuing on the assumption "
                "that an admin created it (normal for InfluxDB 2.x/3.x)",
                self.settings.database,
                self.shown_url,
                problem,
            )
        self._database_ready = True

    def _query(self, q: str) -> dict[int, list[dict[str, Any]]]:
        """Run InfluxQL; return the series of each statement (by statement id), chunks merged.

        Queries always run chunked, so the answer is a stream of JSON documents, one per line;
        a series split over chunks is put back together here. A statement without data maps
        to no entry (or an empty list).
        """
        params = {
            "db": self.settings.database,
            "epoch": "ms",
            "chunked": "true",
            "chunk_size": str(QUERY_CHUNK_ROWS),
            "q": q,
        }
        if self.settings.retention_policy:
            params["rp"] = self.settings.retention_policy
        response = self._request("GET", "/query", "query", params=params)
        if not response.is_success:
            text = _error_text(response)
            if response.status_code == 404 or "database not found" in text:
                raise self._database_missing(text)
            raise StoreError(
                f"InfluxDB refused query {q[:200]!r} (HTTP {response.status_code}): {text}"
            )
        merged: dict[int, dict[tuple[object, str], dict[str, Any]]] = {}
        for document in self._documents(response):
            if isinstance(document.get("error"), str):
                raise StoreError(f"InfluxDB query {q[:200]!r} failed: {document['error']}")
            for result in document.get("results", []):
                error = result.get("error")
                if isinstance(error, str):
                    if "database not found" in error:
                        raise self._database_missing(error)
                    raise StoreError(f"InfluxDB query {q[:200]!r} failed: {error}")
                statement = merged.setdefault(int(result.get("statement_id", 0)), {})
                for series in result.get("series", []):
                    tags = series.get("tags") or {}
                    key = (series.get("name"), json.dumps(tags, sort_keys=True))
                    known = statement.get(key)
                    if known is None:
                        statement[key] = {
                            "tags": tags,
                            "columns": list(series.get("columns", [])),
                            "values": list(series.get("values", [])),
                        }
                    else:
                        known["values"].extend(series.get("values", []))
        return {statement_id: list(series.values()) for statement_id, series in merged.items()}

    def _documents(self, response: httpx.Response) -> Iterator[dict[str, Any]]:
        for line in response.text.splitlines():
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except ValueError as exc:
                raise StoreError(
                    f"InfluxDB at {self.shown_url} sent a non-JSON query answer: {line[:200]!r}"
                ) from exc
            if isinstance(document, dict):
                yield document

    def _source(self) -> str:
        if self.settings.retention_policy:
            return f"{quote_ident(self.settings.retention_policy)}.{quote_ident(MEASUREMENT)}"
        return quote_ident(MEASUREMENT)

    # -- Store ----------------------------------------------------------------------------

    _writer: KeepAliveClient | None = None
    _writer_made = False

    def _keepalive(self) -> KeepAliveClient | None:
        """The write path's own kept-alive connection, made on first use with the same headers,
        credentials, timeout and TLS checks as the httpx client; None where only httpx will do
        (a proxy from the environment, credentials inside the URL)."""
        if not self._writer_made:
            self._writer_made = True
            if supports(self.url):
                settings = self.settings
                headers = {"User-Agent": "farmwatch-ingest"}
                if settings.token is not None:
                    headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
                elif settings.username is not None:
                    password = settings.password.get_secret_value() if settings.password else ""
                    basic = httpx.BasicAuth(settings.username, password)
                    signed = next(basic.auth_flow(httpx.Request("POST", self.url)))
                    headers["Authorization"] = signed.headers["Authorization"]
                verify = tls_verify(settings)
                context = verify if isinstance(verify, ssl.SSLContext) else _unverified()
                self._writer = KeepAliveClient(self.url, headers, settings.timeout_s, context)
        return self._writer

    def write(self, records: Sequence[NodeRecord]) -> None:
        """Write a batch; when this returns, InfluxDB has acknowledged (and fsynced) every line.

        Large batches go out in chunks of :data:`WRITE_CHUNK_LINES`. If a later chunk fails,
        earlier ones are stored; retrying the whole batch is safe because writes are idempotent.
        """
        for nr in records:
            _check(nr)
        lines = [_line(nr) for nr in records if nr.record.readings]
        if not lines:
            return
        self._ensure_database()
        params = {"db": self.settings.database, "precision": "ms"}
        if self.settings.retention_policy:
            params["rp"] = self.settings.retention_policy
        for start in range(0, len(lines), WRITE_CHUNK_LINES):
            body = "\n".join(lines[start : start + WRITE_CHUNK_LINES])
            response = self._request("POST", "/write", "write", params=params, content=body)
            if response.is_success:
                continue
            text = _error_text(response)
            if response.status_code == 404 or "database not found" in text:
                raise self._database_missing(text)
            raise StoreRejected(f"InfluxDB refused the data (HTTP {response.status_code}): {text}")

    def latest(self, farm_id: str | None = None) -> list[LatestReading]:
        """Latest value per (farm, node, quantity), sorted by farm, node, quantity.

        One ``last()`` per quantity, all in one request: ``last(*)`` would stamp every field
        with a single time, but soil probes and aerator states report at different moments.
        """
        self._ensure_database()
        source = self._source()
        keys = self._query(f"SHOW FIELD KEYS FROM {source}").get(0, [])
        quantities = sorted(
            {
                str(name)
                for series in keys
                for name, kind in series["values"]
                if name not in _RESERVED and kind in ("float", "integer")
            }
        )
        if not quantities:
            return []
        where = f" WHERE {quote_ident(_FARM_TAG)} = {quote_string(farm_id)}" if farm_id else ""
        group = f"GROUP BY {quote_ident(_FARM_TAG)}, {quote_ident(_NODE_TAG)}"
        statements = [
            f"SELECT last({quote_ident(q)}) AS {quote_ident('value')} FROM {source}{where} {group}"
            for q in quantities
        ]
        results = self._query("; ".join(statements))
        out: list[LatestReading] = []
        for statement_id, quantity in enumerate(quantities):
            for series in results.get(statement_id, []):
                tags = series["tags"]
                for ts_ms, value in series["values"]:
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        out.append(
                            LatestReading(
                                str(tags.get(_FARM_TAG, "")),
                                str(tags.get(_NODE_TAG, "")),
                                quantity,
                                float(value),
                                from_ms(int(ts_ms)),
                            )
                        )
        out.sort(key=lambda r: (r.farm_id, r.node_id, r.quantity))
        return out

    def records(self, farm_id: str, node_id: str, start: datetime, end: datetime) -> list[Record]:
        """One node's records with start <= ts < end, oldest first, one per timestamp."""
        start_ms = bound_ms(start, "start")
        end_ms = bound_ms(end, "end")
        self._ensure_database()
        q = (
            f"SELECT * FROM {self._source()} WHERE {quote_ident(_FARM_TAG)} = "
            f"{quote_string(farm_id)} AND {quote_ident(_NODE_TAG)} = {quote_string(node_id)} "
            f"AND time >= {start_ms}ms AND time < {end_ms}ms"
        )
        out: list[Record] = []
        for series in self._query(q).get(0, []):
            columns: list[str] = series["columns"]
            for row in series["values"]:
                point = dict(zip(columns, row, strict=True))
                seq = point.get(_SEQ_FIELD)
                if not isinstance(seq, int):
                    logger.warning("skipping a %s point without seq: %r", MEASUREMENT, point)
                    continue
                readings = {
                    name: float(value)
                    for name, value in point.items()
                    if name not in _RESERVED
                    and isinstance(value, int | float)
                    and not isinstance(value, bool)
                }
                synced = point.get(_SYNCED_FIELD) is True
                out.append(Record(from_ms(int(point["time"])), seq, synced, readings))
        out.sort(key=lambda r: r.ts)
        return out

    def aggregate(
        self,
        farm_id: str,
        node_id: str,
        quantity: str,
        start: datetime,
        end: datetime,
        interval: timedelta,
        fn: Aggregate,
    ) -> list[Bucket]:
        """``GROUP BY time(interval) fill(none)``: epoch-aligned buckets, empty ones left out."""
        step_ms = interval_ms(interval)
        if fn not in _INFLUX_AGGREGATES:
            raise ValueError(f"unknown aggregate {fn!r}")
        self._ensure_database()
        field = quote_ident(quantity)
        q = (
            f"SELECT {_INFLUX_AGGREGATES[fn]}({field}), count({field}) FROM {self._source()} "
            f"WHERE {quote_ident(_FARM_TAG)} = {quote_string(farm_id)} "
            f"AND {quote_ident(_NODE_TAG)} = {quote_string(node_id)} "
            f"AND time >= {bound_ms(start, 'start')}ms AND time < {bound_ms(end, 'end')}ms "
            f"GROUP BY time({step_ms}ms) fill(none)"
        )
        buckets: list[Bucket] = []
        for series in self._query(q).get(0, []):
            for row in series["values"]:
                ts_ms, value, count = row[0], row[1], row[2]
                if value is None or not count:
                    continue
                buckets.append(Bucket(from_ms(int(ts_ms)), float(value), int(count)))
        buckets.sort(key=lambda b: b.start)
        return buckets

    def ping(self) -> None:
        """Raise StoreUnavailable unless InfluxDB answers ``/ping`` and accepts our credentials.

        ``/ping`` needs no credentials, so with a wrong token it alone would report ready; when
        credentials are configured, one cheap ``SHOW DATABASES`` checks them too.
        """
        response = self._request("GET", "/ping", "ping")
        if not response.is_success:
            raise StoreUnavailable(
                f"InfluxDB at {self.shown_url} answered /ping with HTTP {response.status_code}; "
                "check that influx.url points at InfluxDB"
            )
        settings = self.settings
        if settings.token is not None or settings.username or httpx.URL(self.url).userinfo:
            self._request("GET", "/query", "check credentials", params={"q": "SHOW DATABASES"})

    def close(self) -> None:
        """Close the HTTP connections. Safe to call twice."""
        self._client.close()
        if self._writer is not None:
            self._writer.close()
