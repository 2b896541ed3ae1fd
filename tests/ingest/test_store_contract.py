"""The Store contract: one suite, run against SQLite and a real InfluxDB.

Everything ingest, the API and reports rely on is asserted here for both backends, so either
can be configured without the rest of farmwatch noticing. Backend-specific behaviour (error
translation, durability settings, authentication) follows in its own sections, against real
servers: a real influxd, a real SQLite file, and a small real HTTP server where we need to see
exactly what the client sends.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from farmwatch_core.contract import Record
from farmwatch_core.settings import FarmwatchSettings, InfluxSettings
from farmwatch_ingest.stores import open_store
from farmwatch_ingest.stores.base import (
    Aggregate,
    LatestReading,
    NodeRecord,
    Store,
    StoreRejected,
    StoreUnavailable,
)
from farmwatch_ingest.stores.influx import InfluxStore
from farmwatch_ingest.stores.sqlite import SqliteStore
from pydantic import SecretStr
from support.influxd import InfluxServer

from farmwatch.broker import free_port

BASE = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
BEFORE = BASE - timedelta(days=2)
AFTER = BASE + timedelta(days=2)
MAX_SEQ = 2**63 - 1


def at(seconds: float) -> datetime:
    """A timestamp ``seconds`` after BASE (timeline helper)."""
    return BASE + timedelta(seconds=seconds)


def nr(farm: str, node: str, record: Record) -> NodeRecord:
    return NodeRecord(farm, node, record)


@pytest.fixture(params=["sqlite", pytest.param("influx", marks=pytest.mark.influx)])
def store(request: pytest.FixtureRequest, sqlite_path: Path) -> Iterator[Store]:
    """Each contract test runs once per backend; the InfluxDB one gets its own database."""
    backend: Store
    if request.param == "sqlite":
        backend = SqliteStore(sqlite_path)
    else:
        backend = InfluxStore(request.getfixturevalue("influx_settings"))
    try:
        yield backend
    finally:
        backend.close()


# ============================================================================================
# The contract (both backends)


def test_written_records_come_back_exactly(store: Store) -> None:
    records = [
        Record(at(0), 1, True, {"water_temperature": 27.8, "dissolved_oxygen": 4.6}),
        Record(at(1.5), 2, False, {"ph": 7.25}),
        Record(
            at(3.123), 3, True, {"water_temperature": 28.0, "aerator_state": 1.0, "rssi": -71.5}
        ),
        Record(at(4), MAX_SEQ, True, {"electrical_conductivity": 1234.5678901234, "nitrite": 1e-5}),
        Record(at(5), 0, True, {"water_level": -0.25, "salinity": 0.0}),
    ]
    store.write([nr("pond-01", "n1", r) for r in records])

    got = store.records("pond-01", "n1", BEFORE, AFTER)

    assert got == records
    for record in got:
        assert record.ts.utcoffset() == timedelta(0)
        assert type(record.seq) is int
        assert type(record.synced) is bool
        assert all(type(v) is float for v in record.readings.values())


def test_timestamps_are_stored_to_the_millisecond(store: Store) -> None:
    store.write([nr("f", "n", Record(at(1) + timedelta(microseconds=2_999), 7, True, {"ph": 7.0}))])

    (got,) = store.records("f", "n", BEFORE, AFTER)

    assert got.ts == at(1) + timedelta(milliseconds=2)


def test_redelivery_leaves_exactly_one_copy(store: Store) -> None:
    batch = [
        nr("f", "n1", Record(at(i), 100 + i, True, {"air_temperature": 20.0 + i, "co2": 400.0}))
        for i in range(10)
    ]
    store.write(batch)
    records_once = store.records("f", "n1", BEFORE, AFTER)
    latest_once = store.latest()

    store.write(batch)  # MQTT redelivers the whole message...
    for item in batch[3:6]:  # ...or a node re-sends part of its buffer
        store.write([item])

    assert store.records("f", "n1", BEFORE, AFTER) == records_once
    assert len(records_once) == 10
    assert store.latest() == latest_once


def test_same_node_and_timestamp_is_one_point_last_write_wins(store: Store) -> None:
    """Identity is (farm, node, ts), as in InfluxDB: a second record at the same millisecond
    (a node whose clock stepped back) replaces seq/synced and merges readings."""
    store.write([nr("f", "n", Record(at(0), 1, True, {"ph": 7.0, "salinity": 5.0}))])
    store.write([nr("f", "n", Record(at(0), 2, False, {"salinity": 6.0}))])

    assert store.records("f", "n", BEFORE, AFTER) == [
        Record(at(0), 2, False, {"ph": 7.0, "salinity": 6.0})
    ]
    store.write([nr("f", "n", Record(at(0), 3, True, {"ph": 7.5}))])
    assert store.records("f", "n", BEFORE, AFTER) == [
        Record(at(0), 3, True, {"ph": 7.5, "salinity": 6.0})
    ]


def test_latest_gives_each_quantity_its_own_newest_value_and_time(store: Store) -> None:
    # The node's buffered backlog arrives after its newest record (a late offline flush).
    store.write([nr("f", "n1", Record(at(20), 3, True, {"air_temperature": 22.0, "co2": 500.0}))])
    store.write(
        [
            nr(
                "f",
                "n1",
                Record(at(0), 1, True, {"air_temperature": 20.0, "relative_humidity": 80.0}),
            ),
            nr("f", "n1", Record(at(10), 2, True, {"air_temperature": 21.0})),
            nr("f", "n2", Record(at(10), 9, True, {"air_temperature": 30.0})),
        ]
    )

    assert store.latest() == [
        LatestReading("f", "n1", "air_temperature", 22.0, at(20)),
        LatestReading("f", "n1", "co2", 500.0, at(20)),
        LatestReading("f", "n1", "relative_humidity", 80.0, at(0)),
        LatestReading("f", "n2", "air_temperature", 30.0, at(10)),
    ]


def test_latest_filters_by_farm_exactly(store: Store) -> None:
    store.write(
        [
            nr("f1", "a", Record(at(0), 1, True, {"ph": 7.0})),
            nr("f1.x", "a", Record(at(0), 1, True, {"ph": 7.1})),
            nr("f2", "b", Record(at(0), 1, True, {"ph": 7.2})),
            nr("f1", "b", Record(at(1), 1, True, {"ph": 7.3})),
        ]
    )

    assert store.latest("f1") == [
        LatestReading("f1", "a", "ph", 7.0, at(0)),
        LatestReading("f1", "b", "ph", 7.3, at(1)),
    ]
    assert store.latest("f2") == [LatestReading("f2", "b", "ph", 7.2, at(0))]
    assert store.latest("nope") == []
    assert [(r.farm_id, r.node_id) for r in store.latest()] == [
        ("f1", "a"),
        ("f1", "b"),
        ("f1.x", "a"),
        ("f2", "b"),
    ]


def test_latest_of_an_empty_store_is_empty(store: Store) -> None:
    assert store.latest() == []
    assert store.latest("f") == []


def test_time_range_includes_start_and_excludes_end(store: Store) -> None:
    store.write([nr("f", "n", Record(at(i), i, True, {"ph": 7.0 + i / 10})) for i in range(3)])
    store.write([nr("f", "other", Record(at(1), 1, True, {"ph": 6.0}))])

    def seqs(start: datetime, end: datetime) -> list[int]:
        return [r.seq for r in store.records("f", "n", start, end)]

    assert seqs(at(0), at(2)) == [0, 1]
    assert seqs(at(1), at(1)) == []
    assert seqs(at(1), at(1) + timedelta(milliseconds=1)) == [1]
    # Bounds finer than the stored millisecond still mean what they say.
    assert seqs(at(1) + timedelta(microseconds=1), at(2) + timedelta(microseconds=1)) == [2]
    assert seqs(at(-3600), at(0)) == []
    assert seqs(at(3), AFTER) == []
    assert store.records("nope", "n", BEFORE, AFTER) == []


def test_many_nodes_and_a_big_batch_round_trip(store: Store) -> None:
    nodes = [f"n{i:02d}" for i in range(20)]
    expected = {
        node: [
            Record(
                at(60 * i),
                1000 + i,
                i % 7 != 0,
                {
                    "soil_moisture": round(20 + (i * 13 + n) % 50 + 0.25, 2),
                    "soil_temperature": 25.0 + n / 10,
                    "battery_voltage": 3.3 + i / 1000,
                    "rssi": -float(40 + n),
                },
            )
            for i in range(250)
        ]
        for n, node in enumerate(nodes)
    }
    batch = [nr("farm-big", node, r) for node, records in expected.items() for r in records]
    assert sum(len(item.record.readings) for item in batch) == 20_000

    store.write(batch)

    for node, records in expected.items():
        got = store.records("farm-big", node, BEFORE, AFTER)
        assert [r.seq for r in got] == list(range(1000, 1250)), node
        assert got == records, node
    latest = store.latest("farm-big")
    assert len(latest) == 20 * 4
    assert {r.ts for r in latest} == {at(60 * 249)}


def test_a_long_backlog_of_one_node_reads_back_complete(store: Store) -> None:
    """More points than one write chunk and one query chunk: nothing may be cut off."""
    records = [Record(at(i), i, True, {"water_level": i / 1000}) for i in range(12_000)]
    store.write([nr("f", "n", r) for r in records])

    got = store.records("f", "n", BEFORE, AFTER)

    assert len(got) == 12_000
    assert got == records


def test_aggregates_per_interval_aligned_to_the_epoch(store: Store) -> None:
    """The same buckets from both stores: InfluxQL GROUP BY time() semantics."""
    base = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)  # a multiple of 5 minutes since the epoch
    values = [4.0, 6.0, 5.0, 3.0, 9.0, 1.0]
    offsets = [0, 60, 299, 300, 599, 900]  # seconds: two in bucket 0, two in 1, none in 2, one in 3
    store.write(
        [
            nr(
                "f",
                "n",
                Record(base + timedelta(seconds=o), i, True, {"dissolved_oxygen": v, "ph": 7.0}),
            )
            for i, (o, v) in enumerate(zip(offsets, values, strict=True))
        ]
    )
    store.write([nr("f", "other", Record(base, 0, True, {"dissolved_oxygen": 100.0}))])
    window = (base, base + timedelta(minutes=20), timedelta(minutes=5))

    def series(fn: Aggregate) -> list[tuple[datetime, float, int]]:
        buckets = store.aggregate("f", "n", "dissolved_oxygen", *window, fn)
        return [(b.start, round(b.value, 9), b.count) for b in buckets]

    minutes = [base + timedelta(minutes=m) for m in (0, 5, 15)]
    assert series("mean") == [(minutes[0], 5.0, 3), (minutes[1], 6.0, 2), (minutes[2], 1.0, 1)]
    assert series("min") == [(minutes[0], 4.0, 3), (minutes[1], 3.0, 2), (minutes[2], 1.0, 1)]
    assert series("max") == [(minutes[0], 6.0, 3), (minutes[1], 9.0, 2), (minutes[2], 1.0, 1)]
    # The end bound is exclusive and other quantities/nodes never leak in.
    short = store.aggregate(
        "f",
        "n",
        "dissolved_oxygen",
        base,
        base + timedelta(seconds=299),
        timedelta(minutes=5),
        "max",
    )
    assert [(b.value, b.count) for b in short] == [(6.0, 2)]
    assert store.aggregate("f", "n", "co2", *window, "mean") == []


def test_ids_with_dots_dashes_and_underscores(store: Store) -> None:
    farm, node = "trang-trai_1.ben-tre", "ao.2-b_c"
    record = Record(at(0), 5, True, {"dissolved_oxygen": 5.5})
    store.write([nr(farm, node, record)])

    assert store.records(farm, node, BEFORE, AFTER) == [record]
    assert store.latest(farm) == [LatestReading(farm, node, "dissolved_oxygen", 5.5, at(0))]


def test_empty_write_is_a_no_op(store: Store) -> None:
    store.write([])

    assert store.latest() == []


def test_a_record_without_readings_stores_nothing(store: Store) -> None:
    store.write([nr("f", "n", Record(at(0), 1, True, {}))])

    assert store.records("f", "n", BEFORE, AFTER) == []
    assert store.latest() == []


def test_a_non_finite_value_rejects_the_whole_batch_before_writing(store: Store) -> None:
    good = nr("f", "n", Record(at(0), 1, True, {"ph": 7.0}))
    bad = nr("f", "n", Record(at(1), 2, True, {"ph": float("nan")}))

    with pytest.raises(StoreRejected, match="ph is nan"):
        store.write([good, bad])

    assert store.records("f", "n", BEFORE, AFTER) == []


def test_naive_times_are_refused(store: Store) -> None:
    naive = datetime(2026, 3, 1, 6, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="time zone"):
        store.records("f", "n", naive, AFTER)
    with pytest.raises(StoreRejected, match="time zone"):
        store.write([nr("f", "n", Record(naive, 1, True, {"ph": 7.0}))])


def test_ping_answers_when_the_store_is_usable(store: Store) -> None:
    store.ping()


def test_usable_from_several_threads_at_once(store: Store) -> None:
    """The API's threadpool reads while the ingest writer writes, on one store instance."""

    def work(worker: int) -> None:
        for i in range(20):
            store.write([nr("f", f"w{worker}", Record(at(i), i, True, {"ph": 7.0}))])
            store.latest("f")

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(work, range(6)))

    for worker in range(6):
        assert len(store.records("f", f"w{worker}", BEFORE, AFTER)) == 20
    assert len(store.latest("f")) == 6


# ============================================================================================
# open_store


def test_open_store_defaults_to_sqlite_and_creates_its_directory(tmp_path: Path) -> None:
    settings = FarmwatchSettings(data_dir=tmp_path / "new" / "var")
    store = open_store(settings)
    try:
        assert isinstance(store, SqliteStore)
        store.write([nr("f", "n", Record(at(0), 1, True, {"ph": 7.0}))])
    finally:
        store.close()
    assert (tmp_path / "new" / "var" / "farmwatch.db").is_file()


@pytest.mark.influx
def test_open_store_uses_influxdb_when_a_url_is_set(influx_settings: InfluxSettings) -> None:
    store = open_store(FarmwatchSettings(influx=influx_settings))
    try:
        assert isinstance(store, InfluxStore)
        store.write([nr("f", "n", Record(at(0), 1, True, {"ph": 7.0}))])
        assert len(store.records("f", "n", BEFORE, AFTER)) == 1
    finally:
        store.close()


# ============================================================================================
# SQLite specifics


def test_sqlite_data_survives_close_and_reopen(sqlite_path: Path) -> None:
    record = Record(at(0), 1, True, {"ph": 7.0})
    first = SqliteStore(sqlite_path)
    first.write([nr("f", "n", record)])
    first.close()

    second = SqliteStore(sqlite_path)  # opening again must not touch existing data
    try:
        assert second.records("f", "n", BEFORE, AFTER) == [record]
        assert second.latest() == [LatestReading("f", "n", "ph", 7.0, at(0))]
    finally:
        second.close()


def test_sqlite_commits_durably(sqlite_path: Path) -> None:
    """WAL + synchronous=FULL: a returned write survives a power cut, not just a crash."""
    store = SqliteStore(sqlite_path)
    try:
        conn = store._conn  # the pragmas are per connection, so ask this one
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        store.close()


def test_sqlite_locked_by_another_process_is_unavailable_not_rejected(sqlite_path: Path) -> None:
    store = SqliteStore(sqlite_path, busy_timeout_s=0.1)
    other = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable, match="locked"):
            store.write([nr("f", "n", Record(at(0), 1, True, {"ph": 7.0}))])
        other.execute("ROLLBACK")

        store.write([nr("f", "n", Record(at(0), 1, True, {"ph": 7.0}))])  # the retry works
        assert len(store.records("f", "n", BEFORE, AFTER)) == 1
    finally:
        other.close()
        store.close()


def test_sqlite_in_a_missing_directory_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="missing"):
        SqliteStore(tmp_path / "missing" / "farmwatch.db")


# ============================================================================================
# InfluxDB specifics against the real influxd


@pytest.mark.influx
def test_influx_down_is_unavailable_with_a_helpful_message() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = InfluxStore(InfluxSettings(url=url, database="farmwatch", timeout_s=2.0))
    try:
        with pytest.raises(StoreUnavailable) as caught:
            store.write([nr("f", "n", Record(at(0), 1, True, {"ph": 7.0}))])
        assert url in str(caught.value)
        assert "influxd is running" in str(caught.value)
        for call in (
            store.ping,
            store.latest,
            lambda: store.records("f", "n", BEFORE, AFTER),
        ):
            with pytest.raises(StoreUnavailable, match="cannot reach InfluxDB"):
                call()
    finally:
        store.close()


@pytest.mark.influx
def test_influx_field_type_conflict_is_rejected(
    influxd: InfluxServer, influx_settings: InfluxSettings
) -> None:
    database = influx_settings.database
    assert influxd.query(f'CREATE DATABASE "{database}"').is_success
    ms = int(at(0).timestamp() * 1000)
    wrote = influxd.write_lines(database, f"telemetry,farm=f,node=n ph=7i {ms}")
    assert wrote.status_code == 204, wrote.text

    store = InfluxStore(influx_settings)
    try:
        with pytest.raises(StoreRejected, match="field type conflict"):
            store.write([nr("f", "n", Record(at(1), 2, True, {"ph": 7.1}))])
    finally:
        store.close()


@pytest.mark.influx
def test_influx_missing_database_is_unavailable(influx_settings: InfluxSettings) -> None:
    settings = influx_settings.model_copy(update={"create_database": False})
    store = InfluxStore(settings)
    try:
        with pytest.raises(StoreUnavailable, match=f"no database '{settings.database}'"):
            store.write([nr("f", "n", Record(at(0), 1, True, {"ph": 7.0}))])
    finally:
        store.close()


@pytest.mark.influx
def test_influx_writes_into_the_configured_retention_policy(
    influxd: InfluxServer, influx_settings: InfluxSettings
) -> None:
    database = influx_settings.database
    assert influxd.query(f'CREATE DATABASE "{database}"').is_success
    created = influxd.query(
        f'CREATE RETENTION POLICY "raw" ON "{database}" DURATION INF REPLICATION 1'
    )
    assert created.is_success, created.text
    store = InfluxStore(influx_settings.model_copy(update={"retention_policy": "raw"}))
    record = Record(at(0), 1, True, {"ph": 7.0})
    try:
        store.write([nr("f", "n", record)])
        assert store.records("f", "n", BEFORE, AFTER) == [record]
        assert store.latest() == [LatestReading("f", "n", "ph", 7.0, at(0))]
    finally:
        store.close()
    in_default_rp = influxd.query("SELECT count(*) FROM telemetry", database).json()
    assert "series" not in in_default_rp["results"][0]


@pytest.mark.influx
def test_influx_crash_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """SIGKILL right after write returns: everything acknowledged is there after restart."""
    with InfluxServer.launch(tmp_path) as server:
        store = InfluxStore(InfluxSettings(url=server.url, database="crash", timeout_s=2.0))
        try:
            records = [Record(at(i), i, True, {"ph": 7.0, "salinity": i / 10}) for i in range(500)]
            store.write([nr("f", "n", r) for r in records])
            server.kill()

            with pytest.raises(StoreUnavailable):
                store.write([nr("f", "n", Record(at(999), 999, True, {"ph": 7.0}))])

            server.start()
            assert store.records("f", "n", BEFORE, AFTER) == records
            store.write([nr("f", "n", Record(at(999), 999, True, {"ph": 7.0}))])
            assert len(store.records("f", "n", BEFORE, AFTER)) == 501
        finally:
            store.close()
    assert not server.running
    assert not server.root.exists()


# ============================================================================================
# InfluxDB HTTP behaviour against a small real HTTP server that records what it receives


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeInflux:
    """A real HTTP server speaking just enough of the v1 API; answers are configurable."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    answers: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)
    delay_s: float = 0.0

    def answer(self, method: str, path: str) -> tuple[int, bytes]:
        default = {
            "/ping": (204, b""),
            "/write": (204, b""),
            "/query": (200, b'{"results":[{"statement_id":0}]}\n'),
        }
        return self.answers.get((method, path), default.get(path, (404, b"")))


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that timed out closes the socket; that is expected here."""


@pytest.fixture
def fake_influx() -> Iterator[FakeInflux]:
    fake = FakeInflux()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            fake.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
            if path == "/write" and fake.delay_s:
                time.sleep(fake.delay_s)
            status, payload = fake.answer(self.command, path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _handle  # noqa: N815 - names required by BaseHTTPRequestHandler
        do_POST = _handle  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output clean."""

    server = _QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _use(store: InfluxStore) -> None:
    store.write([nr("f", "n", Record(at(0), 1, True, {"ph": 7.0}))])
    store.ping()
    store.latest()


def test_influx_token_goes_in_the_authorization_header(fake_influx: FakeInflux) -> None:
    settings = InfluxSettings(url=fake_influx.url, database="db", token=SecretStr("s3cret-token"))
    store = InfluxStore(settings)
    try:
        _use(store)
    finally:
        store.close()

    assert {s.path.split("?")[0] for s in fake_influx.seen} == {"/query", "/write", "/ping"}
    assert all(s.headers.get("Authorization") == "Token s3cret-token" for s in fake_influx.seen)
    assert not any("s3cret" in s.path for s in fake_influx.seen)


def test_influx_username_password_use_basic_auth_not_the_url(fake_influx: FakeInflux) -> None:
    settings = InfluxSettings(
        url=fake_influx.url, database="db", username="farmer", password=SecretStr("p4ss")
    )
    store = InfluxStore(settings)
    try:
        _use(store)
    finally:
        store.close()

    expected = "Basic " + base64.b64encode(b"farmer:p4ss").decode()
    assert fake_influx.seen
    assert all(s.headers.get("Authorization") == expected for s in fake_influx.seen)
    assert not any("p4ss" in s.path for s in fake_influx.seen)


def test_influx_write_sends_escaped_line_protocol_in_ms(fake_influx: FakeInflux) -> None:
    store = InfluxStore(InfluxSettings(url=fake_influx.url, database="db"))
    try:
        store.write([nr("f.1", "n-2", Record(at(0.5), 42, False, {"ph": 7.0, "rssi": -70.5}))])
    finally:
        store.close()

    (write,) = [s for s in fake_influx.seen if s.path.startswith("/write")]
    assert "db=db" in write.path
    assert "precision=ms" in write.path
    ms = int(at(0.5).timestamp() * 1000)
    assert write.body.decode() == (
        f"telemetry,farm=f.1,node=n-2 ph=7.0,rssi=-70.5,seq=42i,synced=false {ms}"
    )


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (401, b'{"error":"authorization failed"}', StoreUnavailable, "check influx.token"),
        (403, b'{"error":"forbidden"}', StoreUnavailable, "credentials"),
        (429, b"", StoreUnavailable, "unavailable"),
        (500, b'{"error":"timeout"}', StoreUnavailable, "influxd is healthy"),
        (503, b"", StoreUnavailable, "HTTP 503"),
        (404, b'{"error":"database not found: \\"db\\""}', StoreUnavailable, "no database 'db'"),
        (
            400,
            b'{"error":"partial write: field type conflict: input field \\"ph\\" dropped=1"}',
            StoreRejected,
            'field type conflict: input field "ph"',
        ),
        (400, b'{"error":"unable to parse"}', StoreRejected, "unable to parse"),
    ],
)
def test_influx_http_errors_map_to_retry_or_dead_letter(
    fake_influx: FakeInflux, status: int, body: bytes, error: type[Exception], match: str
) -> None:
    fake_influx.answers[("POST", "/write")] = (status, body)
    store = InfluxStore(InfluxSettings(url=fake_influx.url, database="db"))
    try:
        with pytest.raises(error, match=match):
            store.write([nr("f", "n", Record(at(0), 1, True, {"ph": 7.0}))])
    finally:
        store.close()


def test_influx_write_timeout_is_unavailable(fake_influx: FakeInflux) -> None:
    fake_influx.delay_s = 1.0
    store = InfluxStore(InfluxSettings(url=fake_influx.url, database="db", timeout_s=0.2))
    try:
        with pytest.raises(StoreUnavailable, match="did not answer"):
            store.write([nr("f", "n", Record(at(0), 1, True, {"ph": 7.0}))])
    finally:
        store.close()


def test_influx_forbidden_create_database_warns_and_carries_on(
    fake_influx: FakeInflux, caplog: pytest.LogCaptureFixture
) -> None:
    """InfluxDB 2.x/3.x: the admin made the bucket + DBRP mapping; we may not CREATE."""
    fake_influx.answers[("POST", "/query")] = (403, b'{"error":"insufficient permissions"}')
    with caplog.at_level(logging.WARNING, logger="farmwatch_ingest.stores.influx"):
        store = InfluxStore(
            InfluxSettings(url=fake_influx.url, database="db", token=SecretStr("t"))
        )
    try:
        store.write([nr("f", "n", Record(at(0), 1, True, {"ph": 7.0}))])
    finally:
        store.close()

    assert "could not create InfluxDB database 'db'" in caplog.text
    assert "insufficient permissions" in caplog.text
    creates = [s for s in fake_influx.seen if s.method == "POST" and s.path.startswith("/query")]
    assert len(creates) == 1  # tried once, not before every write
