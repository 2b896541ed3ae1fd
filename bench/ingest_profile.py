"""Where ingest's CPU goes, per message and per stage, without broker or publishers (issue 3).

``bench/ingest.py`` measures ingest end to end on a machine it shares with four publisher
processes, mosquitto and influxd, so its figures move with everyone's load. This harness is
the deterministic complement: it feeds the *same payloads* (``bench/ingest.py``'s workload:
500 farms x 10 nodes, 5 readings per message, ``encode_record``) through the *same code* as a
running ``farmwatch ingest`` and times every stage on one thread:

    MQTT PUBLISH frames (QoS 1) written into a socket pair, one ``--recv-bytes`` chunk at a time
      parse     Connection._receive: recv + MQTT frame parsing           (network thread's part)
      validate  IngestService._validate: topic, registry, decode_fast    (network thread's part)
      batch     IngestService._next_batch: the inbox queue and batching  (writer)
      lines     InfluxStore.write minus its HTTP: checks and line protocol
      http      the HTTP request to a real ``influxd`` (client side only; influxd's own CPU is
                measured on its pid and reported apart)
      deadletters, ack (PUBACK queueing + the bytes onto the socket), bookkeeping (node
                sequence tracking, stats, metrics: the rest of IngestService._process)

Times are CPU time of this (single) thread (``time.thread_time``), so other people's load on
the machine changes them little; ``wall_us_per_msg`` is shown beside them. Each repeat writes
to a fresh database after an unmeasured warm-up of one message per node (influxd creating
5,000 series is a one-off cost, not a per-message one). ``influxd_cpu_s_per_100k_msgs`` is
influxd's CPU (utime + stime of its pid) over the measured part of a repeat.

A last, separate pass runs under cProfile (its overhead would distort the stage timers); the
top functions by own time go to stderr, and ``--profile-out FILE`` keeps the pstats.

The last line on stdout is one JSON object: ``cpu_us_per_msg``, one ``<stage>_us`` key per
stage (medians over ``--repeats``), ``influxd_cpu_s_per_100k_msgs`` and the settings used.

``--real`` adds the same workload through a real ``farmwatch ingest`` process (its network
and writer threads, queue, API, a real mosquitto session) without the publishers competing:
ingest is paused while the publishers fill its persistent session, then drains it; its CPU,
influxd's and mosquitto's per 100k messages are the ``real_*`` keys (see :func:`run_real`).

    .venv/bin/python bench/ingest_profile.py                      # 50,000 msgs x 3 repeats
    .venv/bin/python bench/ingest_profile.py --batch 2000         # another batch size
    .venv/bin/python bench/ingest_profile.py --quick              # smoke run
    .venv/bin/python bench/ingest_profile.py --real               # and a real process
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib
import io
import json
import os
import pstats
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
from farmwatch_core.contract import Record, TimeWindow, encode_record
from farmwatch_core.mqtt_subscriber import Connection, Publish
from farmwatch_core.settings import InfluxSettings, IngestSettings, MqttSettings
from farmwatch_ingest.deadletter import DeadLetterStore
from farmwatch_ingest.service import IngestService
from farmwatch_ingest.spool import Spool
from farmwatch_ingest.stores.influx import InfluxStore
from farmwatch_ingest.validation import TelemetryValidator

HERE = Path(__file__).resolve().parent
STAGES = ("parse", "validate", "batch", "lines", "http", "deadletters", "ack", "bookkeeping")
T = TypeVar("T")


def _bench_ingest() -> ModuleType:
    """bench/ingest.py, for its workload (registry, topics, readings), its influxd launcher and,
    with ``--real``, its publisher processes.

    Imported by its module name ``ingest`` from this folder (first on ``sys.path`` when this
    file runs as a script, as for bench/ingest.py itself): spawned publisher processes get the
    same ``sys.path`` and must import the module their entry point lives in. Importing it has
    no side effects."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    module = importlib.import_module("ingest")
    if Path(module.__file__ or "").resolve() != HERE / "ingest.py":
        raise ImportError(f"'ingest' is {module.__file__}, not bench/ingest.py")
    return module


# -- the workload, as MQTT frames -------------------------------------------------------------


def publish_frame(topic: str, payload: bytes, mid: int) -> bytes:
    """One QoS 1 PUBLISH packet as mosquitto sends it (MQTT 3.1.1 §3.3)."""
    topic_bytes = topic.encode()
    body = len(topic_bytes).to_bytes(2, "big") + topic_bytes + mid.to_bytes(2, "big") + payload
    length = len(body)
    header = bytearray([0x32])
    while True:
        byte, length = length % 128, length // 128
        header.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes(header) + body


def workload(bench: ModuleType, first: int, count: int, base_ms: int) -> list[bytes]:
    """Frames of messages ``first .. first+count-1`` of bench/ingest.py's workload.

    Message ``k`` is node ``k % 5000`` with ``seq = k // 5000 + 1`` as there; its timestamp is
    ``base_ms + k`` (distinct per node and increasing, inside the contract's time window).
    """
    nodes = bench.FARMS * bench.NODES_PER_FARM
    spec = bench.PublisherSpec(0, 1, nodes, "127.0.0.1", 1, "profile", None)
    topics = spec.topics(range(nodes))
    frames = []
    for k in range(first, first + count):
        node, seq = k % nodes, k // nodes + 1
        ts = datetime.fromtimestamp((base_ms + k) / 1000, UTC)
        payload = encode_record(Record(ts, seq, True, bench._readings(seq)))
        frames.append(publish_frame(topics[node], payload, k % 65_535 + 1))
    return frames


def chunks(frames: Sequence[bytes], size: int) -> list[bytes]:
    """The frames as one byte stream cut into ``size``-byte reads (frames split across reads,
    as a TCP stream delivers them)."""
    stream = b"".join(frames)
    return [stream[i : i + size] for i in range(0, len(stream), size)]


# -- stage timers ------------------------------------------------------------------------------


@dataclass(slots=True)
class Timers:
    """CPU (thread) and wall seconds per stage; nested stages are subtracted from outer ones by
    the caller's arithmetic, not here."""

    cpu: dict[str, float] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        c0, w0 = time.thread_time(), time.perf_counter()
        try:
            yield
        finally:
            self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - c0
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w0

    def wrap(self, name: str, fn: Callable[..., T]) -> Callable[..., T]:
        def timed(*args: Any, **kwargs: Any) -> T:
            with self.stage(name):
                return fn(*args, **kwargs)

        return timed


# -- one run -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Rig:
    """An IngestService wired to a real influxd, a real spool and dead-letter file, and a
    Connection whose socket is one end of a socket pair (no broker: nothing to wait for)."""

    service: IngestService
    connection: Connection
    feed: socket.socket  # we write the broker's bytes here
    sock: socket.socket  # the connection reads them here, and writes PUBACKs back
    timers: Timers
    acked: int = 0


def make_rig(root: Path, influx_url: str, database: str, registry: Path, batch: int) -> Rig:
    from farmwatch_core.registry import load_registry

    settings = IngestSettings(client_id="profile", batch_max_messages=batch, batch_linger_s=0.0)
    mqtt = MqttSettings(url="mqtt://127.0.0.1:1", topic_prefix="bench")
    store = InfluxStore(InfluxSettings(url=influx_url, database=database))
    validator = TelemetryValidator(
        load_registry(registry), topic_prefix="bench", window=TimeWindow()
    )
    service = IngestService(
        mqtt,
        settings,
        store,
        DeadLetterStore(root / f"{database}-dead.db"),
        validator,
        Spool(root / f"{database}-spool.db", 100_000_000),
    )
    feed, sock = socket.socketpair()
    for s in (feed, sock):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setblocking(False)
    connection = Connection(mqtt, "profile")
    return Rig(service, connection, feed, sock, Timers())


def instrument(rig: Rig) -> None:
    """Wrap the store's write, its HTTP call and the dead-letter store with stage timers."""
    store = rig.service.store
    assert isinstance(store, InfluxStore)
    t = rig.timers
    store.write = t.wrap("store", store.write)  # type: ignore[method-assign]
    store._send = t.wrap("http", store._send)  # type: ignore[method-assign]
    rig.service.dead_letters.add = t.wrap("deadletters", rig.service.dead_letters.add)  # type: ignore[method-assign]
    rig.connection.ack = t.wrap("ack_queue", rig.connection.ack)  # type: ignore[method-assign]


def drain(sock: socket.socket) -> int:
    """Read everything waiting (PUBACKs); returns the number of bytes."""
    total = 0
    while True:
        try:
            data = sock.recv(1 << 20, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return total
        total += len(data)
        if not data:
            return total


def feed_through(rig: Rig, reads: Sequence[bytes], messages: int, timed: bool) -> None:
    """Push ``reads`` through the service as its two threads would, one read at a time, writing
    a batch whenever ``batch_max_messages`` have been validated (and the rest at the end)."""
    service, connection, t = rig.service, rig.connection, rig.timers
    limit = service.settings.batch_max_messages
    waiting = 0

    def deliver(publishes: list[Publish]) -> None:
        nonlocal waiting
        with t.stage("validate"):
            chunk = service._validate(publishes, service._generation)
        service._inbox.put(chunk)
        waiting += len(chunk)

    def write_batches(at_least: int) -> None:
        nonlocal waiting
        while waiting >= at_least and waiting:
            with t.stage("batch"):
                batch = service._next_batch()
            with t.stage("process"):
                service._process(connection, batch)
            with t.stage("ack_send"):
                connection._send_acks(rig.sock, time.monotonic())
            waiting -= len(batch)
            rig.acked += drain(rig.feed) // 4

    for data in reads:
        rig.feed.sendall(data)
        with t.stage("receive"):
            connection._receive(rig.sock, deliver)
        # As the writer would: a full batch, or a full inbox (small reads), goes out.
        write_batches(1 if service._inbox.full() else limit)
    write_batches(1)
    if not timed:
        rig.timers.cpu.clear()
        rig.timers.wall.clear()
    assert messages >= 0


def stage_figures(timers: Timers, messages: int) -> tuple[dict[str, float], dict[str, float]]:
    """(CPU µs per message, wall µs per message) for each of STAGES, nested stages taken out of
    the outer ones: receive = parse + validate, process = store + deadletters + ack-queueing +
    bookkeeping, store = lines + http."""
    out = []
    for source in (timers.cpu, timers.wall):
        s = dict.fromkeys(("receive", "validate", "batch", "process", "store", "http",
                           "deadletters", "ack_queue", "ack_send"), 0.0) | source  # fmt: skip
        stages = {
            "parse": s["receive"] - s["validate"],
            "validate": s["validate"],
            "batch": s["batch"],
            "lines": s["store"] - s["http"],
            "http": s["http"],
            "deadletters": s["deadletters"],
            "ack": s["ack_queue"] + s["ack_send"],
            "bookkeeping": s["process"] - s["store"] - s["deadletters"] - s["ack_queue"],
        }
        out.append({k: v / messages * 1e6 for k, v in stages.items()})
    return out[0], out[1]


def create_database(client: httpx.Client, url: str, database: str) -> None:
    client.post(f"{url}/query", data={"q": f'CREATE DATABASE "{database}"'}).raise_for_status()


def count_points(client: httpx.Client, url: str, database: str) -> int:
    response = client.get(
        f"{url}/query", params={"db": database, "q": 'SELECT count("seq") FROM telemetry'}
    )
    series = (response.json().get("results") or [{}])[0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


@dataclass(slots=True)
class RunResult:
    cpu_us: dict[str, float]
    wall_us: dict[str, float]
    influxd_cpu_s_per_100k: float
    stored: int
    acked: int


def one_run(
    bench: ModuleType,
    root: Path,
    influx_url: str,
    influxd: int,
    registry: Path,
    args: argparse.Namespace,
    index: int,
    profiler: cProfile.Profile | None = None,
) -> RunResult:
    nodes = bench.FARMS * bench.NODES_PER_FARM
    database = f"profile_{index}_{int(time.time())}"
    base_ms = int(time.time() * 1000) - 3_600_000 - nodes - args.messages
    warm = chunks(workload(bench, 0, nodes, base_ms), args.recv_bytes)
    measured = chunks(workload(bench, nodes, args.messages, base_ms), args.recv_bytes)
    with httpx.Client(timeout=30) as client:
        create_database(client, influx_url, database)
        rig = make_rig(root, influx_url, database, registry, args.batch)
        try:
            instrument(rig)
            feed_through(rig, warm, nodes, timed=False)
            rig.acked = 0
            gc.collect()
            cpu0 = bench.proc_cpu_seconds(influxd)
            if profiler is not None:
                profiler.enable()
            feed_through(rig, measured, args.messages, timed=True)
            if profiler is not None:
                profiler.disable()
            influx_cpu = bench.proc_cpu_seconds(influxd) - cpu0
            stored = count_points(client, influx_url, database) - nodes
        finally:
            rig.service.store.close()
            rig.service.spool.close()
            rig.feed.close()
            rig.sock.close()
            rig.connection.close()
        with contextlib.suppress(httpx.HTTPError):
            client.post(f"{influx_url}/query", data={"q": f'DROP DATABASE "{database}"'})
    cpu_us, wall_us = stage_figures(rig.timers, args.messages)
    return RunResult(cpu_us, wall_us, influx_cpu / args.messages * 100_000, stored, rig.acked)


def run_real(bench: ModuleType, args: argparse.Namespace) -> dict[str, Any]:
    """The real thing, minus the publishers' share of the CPU: a ``farmwatch ingest`` process
    (both its threads, its API, its real mosquitto session) drains a backlog of ``--messages``
    into influxd. The process is stopped (SIGSTOP) once subscribed, bench/ingest.py's
    publishers fill its persistent session, and only then is it let go (SIGCONT): ingest,
    influxd and mosquitto run alone, at full speed, and their CPU per message is measured
    from then until every point is queryable."""
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fw-drain-")))
        influx = bench.launch_influxd(root)
        stack.callback(influx.close)
        registry = root / "registry.yaml"
        registry.write_text(bench.build_registry().to_yaml(), encoding="utf-8")
        http = stack.enter_context(httpx.Client(timeout=30.0))
        influxd = bench.pid_by_cmdline(str(influx.config_path))
        if influxd is None:
            raise RuntimeError("cannot find the influxd process")
        broker = stack.enter_context(bench._broker(root / "broker"))
        status = bench.node_topic(bench.farm_id(0), "n0", bench.Channel.STATUS, prefix="bench")
        bench.publish_retained(broker.host, broker.port, str(status), b'{"state": "online"}')
        database = f"drain_{int(time.time())}"
        workers = bench.IngestWorkers(
            1,
            root=root,
            mqtt_url=broker.url,
            registry=registry,
            influx_url=influx.url,
            database=database,
            run_id=f"drain-{int(time.time())}",
        )
        stack.callback(workers.close)
        counter = bench.PointCounter(http, influx.url, database)
        ns = argparse.Namespace(publishers=4)
        pool = stack.enter_context(
            bench._pool(bench._specs(ns, broker.port, args.messages, None, "drain"))
        )
        workers.wait_ready(http)
        ingest = workers.proc.pid
        if broker.pid is None:
            raise RuntimeError("mosquitto has no pid")
        mosquitto = broker.pid
        os.kill(ingest, signal.SIGSTOP)
        say(f"ingest stopped; publishing {args.messages:,} messages into its session")
        pool.go()
        pool.results()
        procs = {"ingest": ingest, "influxd": influxd, "mosquitto": mosquitto}
        before = {k: bench.proc_cpu_seconds(pid) for k, pid in procs.items()}
        t0 = time.time()
        os.kill(ingest, signal.SIGCONT)
        polls = bench.poll_until(
            counter,
            args.messages,
            period=0.1,
            publishing=lambda: False,
            alive=workers.check_alive,
            label="drain",
        )
        elapsed = polls[-1].received - t0
        after = {k: bench.proc_cpu_seconds(pid) for k, pid in procs.items()}
        rss = workers.peak_rss_mb()
        stored = counter.exact()
    per_100k = {k: (after[k] - before[k]) / args.messages * 100_000 for k in procs}
    return {
        "real_ingest_cpu_s_per_100k_msgs": round(per_100k["ingest"], 3),
        "real_influxd_cpu_s_per_100k_msgs": round(per_100k["influxd"], 3),
        "real_mosquitto_cpu_s_per_100k_msgs": round(per_100k["mosquitto"], 3),
        "real_drain_msgs_per_s": round(args.messages / elapsed, 1),
        "real_peak_rss_mb": round(rss, 1),
        "real_lost": args.messages - stored,
    }


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=50_000, help="measured messages per run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (medians reported)")
    parser.add_argument(
        "--batch", type=int, default=IngestSettings().batch_max_messages, help="messages per write"
    )
    parser.add_argument(
        "--recv-bytes", type=int, default=32 * 1024, help="bytes per socket read (TCP chunking)"
    )
    parser.add_argument("--profile-out", type=Path, help="keep the cProfile pass's pstats here")
    parser.add_argument("--top", type=int, default=30, help="cProfile functions shown")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 msgs, 1 repeat")
    parser.add_argument(
        "--real",
        action="store_true",
        help="also drain --messages through a real `farmwatch ingest` process (see run_real)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.repeats, args.top = 2000, 1, 10
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bench = _bench_ingest()
    with tempfile.TemporaryDirectory(prefix="farmwatch-ingest-profile-") as tmp:
        root = Path(tmp)
        registry = root / "registry.yaml"
        registry.write_text(bench.build_registry().to_yaml(), encoding="utf-8")
        influx = bench.launch_influxd(root)
        try:
            influxd = bench.pid_by_cmdline(str(influx.config_path))
            if influxd is None:
                raise RuntimeError("cannot find the influxd process")
            runs = []
            for i in range(args.repeats):
                run = one_run(bench, root, influx.url, influxd, registry, args, i)
                if run.stored != args.messages or run.acked != args.messages:
                    raise RuntimeError(
                        f"run {i}: {run.stored} stored, {run.acked} acknowledged of {args.messages}"
                    )
                total = sum(run.cpu_us.values())
                say(
                    f"run {i}: {total:.1f} CPU µs/msg ("
                    + ", ".join(f"{k} {v:.1f}" for k, v in run.cpu_us.items())
                    + f"); influxd {run.influxd_cpu_s_per_100k:.2f} CPU s/100k"
                )
                runs.append(run)
            profiler = cProfile.Profile(time.thread_time)  # CPU, like the stage timers
            one_run(bench, root, influx.url, influxd, registry, args, args.repeats, profiler)
        finally:
            influx.close()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).sort_stats("tottime")
    stats.print_stats(args.top)
    say(text.getvalue())
    if args.profile_out:
        stats.dump_stats(args.profile_out)
    med = {s: statistics.median(r.cpu_us[s] for r in runs) for s in STAGES}
    totals = [sum(r.cpu_us.values()) for r in runs]
    walls = [sum(r.wall_us.values()) for r in runs]
    influx_cpu = [r.influxd_cpu_s_per_100k for r in runs]
    result: dict[str, Any] = {
        "cpu_us_per_msg": round(statistics.median(totals), 2),
        "cpu_us_per_msg_runs": [round(v, 2) for v in totals],
        **{f"{s}_us": round(v, 2) for s, v in med.items()},
        "wall_us_per_msg": round(statistics.median(walls), 2),
        "ingest_cpu_s_per_100k_msgs": round(statistics.median(totals) / 10, 3),
        "influxd_cpu_s_per_100k_msgs": round(statistics.median(influx_cpu), 3),
        "influxd_cpu_s_per_100k_msgs_runs": [round(v, 3) for v in influx_cpu],
        "messages": args.messages,
        "repeats": args.repeats,
        "batch_messages": args.batch,
        "recv_bytes": args.recv_bytes,
    }
    if args.real:
        result |= run_real(bench, args)
        say(", ".join(f"{k} {v}" for k, v in result.items() if k.startswith("real_")))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
