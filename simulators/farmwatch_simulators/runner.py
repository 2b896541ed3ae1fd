"""Publish simulated telemetry for every node of a deployment over MQTT, losing nothing.

The runner behaves like a fleet of real edge nodes sharing one connection: every ``interval_s``
seconds each node reads its model (:mod:`farmwatch_simulators.models`) at the current UTC time
and publishes one v1 record, QoS 1, to its contract telemetry topic. Node start times are
staggered across the interval, as real nodes are, so the broker sees a steady trickle instead
of bursts.

Why it does not lose messages:

* Sequence numbers come from a :class:`~farmwatch_edge.sequence.SequenceStore` (when given),
  which reserves them on disk, so a restarted simulator never reuses one and ingest can count
  every (farm, node, seq) end to end.
* Every publish is QoS 1 and tracked until the broker's PUBACK arrives (``on_publish``). The
  runner reports done only when every PUBACK is in, or ``ack_timeout_s`` passed (then it logs
  how many are missing).
* While the broker is unreachable paho keeps publishes in its queue (unlimited: ``new_client``
  sets ``max_queued_messages_set(0)``), reconnects with back-off, and on reconnection resends
  every message not yet acknowledged (with the DUP flag if it had been sent). The broker may
  therefore deliver a message twice — QoS 1 is at-least-once — but never zero times.
* The backlog is bounded (``max_unacknowledged``): when the broker has been gone for long the
  runner skips ticks instead of growing memory without limit or overrunning paho's 16-bit
  message IDs; skipped ticks consume no sequence numbers, so they leave no false gaps.

Why one process keeps 10 000 nodes on schedule (1 000 records/s at a 10 s interval):

* No thread per node: one scheduler thread pops the nodes that are due from a heap of
  (due time, node) and publishes them in turn; paho's network thread does the socket work.
  Per node the runner holds only the model's few floats, its generators and its topics.
* A fresh model spins up several simulated days (hourly steps) on its first read, ~2-6 ms a
  node: 10 000 of those inside the first interval would put the whole fleet seconds behind.
  :meth:`SimulatorRunner.warm_up` therefore spins every model up *before* the clock starts,
  all from the same instant so that they step through the same hours and one
  :class:`~farmwatch_simulators.weather_cache.WeatherCache` evaluates each hour's weather
  once for the whole fleet. ``run()`` does it unless ``warm_up=False``.
* Live, the weather is read at the whole second: the nodes due within one second (1 000 of
  them at 10 000 nodes every 10 s) share one climate evaluation, the costliest part of a
  model step. A reading's timestamp and its state integration stay exact to the
  millisecond; only the outdoor weather driving it is up to 1 s old. Dataset mode, which
  must be reproducible to the bit, reads the weather at the exact instant.
* The runner measures itself: how late each publish was against its node's schedule
  (:meth:`SimulatorRunner.lag_behind_schedule`), so "keeps up" is a number, not a hope.

Run it blocking (``run()``) or in a thread (``start()``/``join()``); set the ``stop`` event for
a clean stop (publish nothing new, mark nodes offline, wait for outstanding PUBACKs).
"""

from __future__ import annotations

import heapq
import importlib.metadata
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

import paho.mqtt.client as paho
from farmwatch_core.contract import Channel, Record, encode_record, node_topic
from farmwatch_core.contract.payload import format_ts
from farmwatch_core.mqtt import new_client
from farmwatch_core.registry import Deployment, Farm, Node
from farmwatch_core.settings import MqttSettings
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from farmwatch_simulators.climate import Climate, Weather
from farmwatch_simulators.models import MODEL_CLASSES, PROFILE_BY_MODEL_TYPE, NodeModel, build_model
from farmwatch_simulators.puback import PubackTracker
from farmwatch_simulators.weather_cache import WeatherCache

log = logging.getLogger(__name__)

STATUS_VERSION = 1


class SequenceSource(Protocol):
    """Where sequence numbers come from; :class:`farmwatch_edge.sequence.SequenceStore` fits."""

    def next(self, node_id: str) -> int: ...


class MemorySequence:
    """Per-key counters starting at 1, in memory only: a restart reuses numbers.

    Good for tests and throw-away demos; give the runner a ``SequenceStore`` otherwise.

    >>> seqs = MemorySequence()
    >>> seqs.next("a"), seqs.next("a"), seqs.next("b")
    (1, 2, 1)
    """

    def __init__(self) -> None:
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()

    def next(self, node_id: str) -> int:
        with self._lock:
            seq = self._next.get(node_id, 1)
            self._next[node_id] = seq + 1
            return seq


class PublishedRecord(NamedTuple):
    """One telemetry record the runner published: the triple ingest deduplicates on."""

    farm_id: str
    node_id: str
    seq: int


@dataclass(slots=True)
class _SimNode:
    farm: Farm
    node: Node
    profile: str
    model: NodeModel
    sensors: frozenset[str]
    telemetry_topic: str
    status_topic: str
    seq_key: str
    last_ts: datetime | None = None


def _package_version() -> str:
    try:
        return importlib.metadata.version("farmwatch-simulators")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def sequence_key(farm_id: str, node_id: str) -> str:
    """The key under which a node's sequence numbers are stored.

    Node IDs need only be unique within a farm, so the farm is part of the key.

    >>> sequence_key("pond-01", "n1")
    'pond-01/n1'
    """
    return f"{farm_id}/{node_id}"


class SimulatorRunner:
    """Publishes one v1 record per node every ``interval_s`` seconds (see module docstring).

    ``count`` records per node, then stop (``None``: until ``stop`` is set). Counters
    ``published`` and ``acknowledged`` count telemetry records (not status messages);
    :meth:`published_records` lists the (farm, node, seq) triples, in publish order (the last
    ``record_log_limit`` of them).

    Example::

        runner = SimulatorRunner(
            settings.mqtt,
            build_deployment(3, seed=1),
            interval_s=5.0,
            count=100,
            seq_store=SequenceStore(settings.data_dir / "simulator-seq.json"),
            stop=stop_event,
        )
        runner.run()  # or runner.start(); ...; runner.join()
        print(runner.acknowledged)
    """

    def __init__(
        self,
        mqtt: MqttSettings,
        deployment: Deployment,
        *,
        interval_s: float = 5.0,
        count: int | None = None,
        seq_store: SequenceSource | None = None,
        stop: threading.Event | None = None,
        seed: int = 1,
        client_id: str | None = None,
        ack_timeout_s: float = 30.0,
        connect_timeout_s: float = 30.0,
        progress_every_s: float = 10.0,
        max_unacknowledged: int = 20_000,
        record_log_limit: int | None = 100_000,
        warm_up: bool = True,
        lag_sample_limit: int = 200_000,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, not {interval_s}")
        if count is not None and count < 0:
            raise ValueError(f"count must be 0 or more (or None for no limit), not {count}")
        if ack_timeout_s <= 0 or connect_timeout_s <= 0 or progress_every_s <= 0:
            raise ValueError("ack_timeout_s, connect_timeout_s and progress_every_s must be > 0")
        if not 1 <= max_unacknowledged < 65_000:
            # paho numbers in-flight messages with 16-bit IDs; more would collide.
            raise ValueError("max_unacknowledged must be between 1 and 64999")
        self.mqtt = mqtt
        self.deployment = deployment
        self.interval_s = interval_s
        self.count = count
        self.seq_store: SequenceSource = seq_store if seq_store is not None else MemorySequence()
        self.stop_event = stop if stop is not None else threading.Event()
        self.seed = seed
        self.client_id = client_id or f"farmwatch-sim-{seed}-{uuid.uuid4().hex[:8]}"
        self.ack_timeout_s = ack_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.progress_every_s = progress_every_s
        self.max_unacknowledged = max_unacknowledged
        self.climate = Climate(seed)
        # A few seconds of weather: live time only moves forward.
        self._second_weather = WeatherCache(self.climate, max_entries=16)
        self._nodes = self._build_nodes()
        self._warm_up_on_run = warm_up
        self._warmed = False
        #: seconds each publish happened after its node's due time (the last ones, bounded)
        self._lags: deque[float] = deque(maxlen=lag_sample_limit)
        self._lag_max = 0.0
        self._restarted = 0

        self._lock = threading.Lock()
        # item: the telemetry record of the message, None for a status message
        self._acks: PubackTracker[PublishedRecord | None] = PubackTracker(
            self._count_ack, lock=self._lock
        )
        self._published = 0
        self._acknowledged = 0
        self._skipped = 0
        self._log: deque[PublishedRecord] = deque(maxlen=record_log_limit)
        self._connected = threading.Event()
        self._connections = 0
        self._connect_error: str | None = None
        self._closing = False
        self._started = False
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._next_progress = 0.0

    # ----------------------------------------------------------------- public API

    @property
    def published(self) -> int:
        """Telemetry records handed to paho (QoS 1)."""
        with self._lock:
            return self._published

    @property
    def acknowledged(self) -> int:
        """Telemetry records the broker acknowledged (PUBACK)."""
        with self._lock:
            return self._acknowledged

    @property
    def unacknowledged(self) -> int:
        """Messages (telemetry and status) still waiting for their PUBACK."""
        with self._lock:
            return self._acks.pending()

    @property
    def skipped(self) -> int:
        """Ticks skipped because too many messages were waiting for the broker."""
        with self._lock:
            return self._skipped

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def connections(self) -> int:
        """Successful connections so far (1 + reconnections)."""
        with self._lock:
            return self._connections

    @property
    def node_count(self) -> int:
        return len(self._nodes)

    @property
    def restarted(self) -> int:
        """Times a node fell more than a whole interval behind and its cadence was restarted."""
        with self._lock:
            return self._restarted

    def lag_behind_schedule(self, quantile: float = 0.99) -> float | None:
        """How late publishes were against their node's schedule, in seconds, at ``quantile``.

        Over the last ``lag_sample_limit`` telemetry publishes (``None`` before the first);
        ``quantile=1.0`` gives the maximum over the whole run.
        """
        if not 0.0 <= quantile <= 1.0:
            raise ValueError("quantile must be between 0 and 1")
        with self._lock:
            if quantile == 1.0:
                return self._lag_max if self._lags else None
            lags = sorted(self._lags)
        if not lags:
            return None
        return lags[min(len(lags) - 1, int(quantile * len(lags)))]

    def warm_up(self) -> float:
        """Spin every node model up now, before publishing; return the seconds it took.

        All models start from the same instant (one interval ago), so they step through the
        same simulated hours and share each hour's weather through one cache; afterwards they
        read the weather at the whole second through a small cache (module docstring).
        Idempotent.
        """
        if self._warmed:
            return 0.0
        began = time.perf_counter()
        cache = WeatherCache(self.climate)
        ts = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=self.interval_s)
        for sim in self._nodes:
            if self.stop_event.is_set():
                break  # a stop during a long warm-up; the rest would spin up on first read
            model = sim.model
            model.weather_at = cache.at
            model.read(ts)  # the multi-day spin-up of a fresh model; the readings are dropped
            model.weather_at = self._live_weather
            sim.last_ts = ts
        self._warmed = True
        seconds = time.perf_counter() - began
        log.info(
            "simulator: %d node models spun up in %.1f s (%d weather evaluations for %d reads)",
            len(self._nodes),
            seconds,
            cache.misses,
            cache.hits + cache.misses,
        )
        return seconds

    def _live_weather(self, ts: datetime) -> Weather:
        """The weather at the start of ``ts``'s second, shared by every node due in it."""
        return self._second_weather.at(ts.replace(microsecond=0))

    def published_records(self) -> list[PublishedRecord]:
        """The (farm, node, seq) triples published so far, oldest first."""
        with self._lock:
            return list(self._log)

    def request_stop(self) -> None:
        """Ask a running runner to stop cleanly (same as setting the ``stop`` event)."""
        self.stop_event.set()

    def start(self) -> threading.Thread:
        """Run in a daemon thread; use :meth:`join` to wait and to get its exception, if any."""
        thread = threading.Thread(
            target=self._run_in_thread, name="farmwatch-simulator", daemon=True
        )
        self._thread = thread
        thread.start()
        return thread

    def join(self, timeout: float | None = None) -> None:
        """Wait for a :meth:`start`-ed run; raise TimeoutError if still running, or its error."""
        if self._thread is None:
            raise RuntimeError("the runner was not started with start()")
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"simulator still running after {timeout} s")
        if self.error is not None:
            raise self.error

    def run(self) -> None:
        """Connect, publish until ``count`` or ``stop``, wait for every PUBACK, disconnect.

        Raises RuntimeError when the broker cannot be reached within ``connect_timeout_s``.
        """
        if self._started:
            raise RuntimeError("a SimulatorRunner runs once; make a new one to run again")
        self._started = True
        try:
            if self._warm_up_on_run:
                self.warm_up()
            self._run()
        finally:
            self.done.set()

    # ----------------------------------------------------------------- internals

    def _run_in_thread(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # handed to join(); a thread cannot raise to anyone
            self.error = exc
            log.exception("simulator stopped with an error")

    def _build_nodes(self) -> list[_SimNode]:
        nodes: list[_SimNode] = []
        prefix = self.mqtt.topic_prefix
        for farm in self.deployment.farms:
            for node in farm.nodes:
                profile = node.profile
                if profile not in MODEL_CLASSES:
                    # A hand-written registry may say "generic": fall back to the farm's type.
                    profile = PROFILE_BY_MODEL_TYPE[farm.model]
                model = build_model(
                    profile,
                    self.climate,
                    seed=self.seed,
                    name=sequence_key(farm.id, node.id),
                    interval_s=self.interval_s,
                )
                model.weather_at = self._live_weather
                reported = set(model.quantities)
                sensors = (
                    frozenset(node.sensors) & reported if node.sensors else frozenset(reported)
                )
                if not sensors:
                    raise ValueError(
                        f"node {node.id!r} of farm {farm.id!r} lists sensors "
                        f"{list(node.sensors)} but the {profile!r} model reports none of them "
                        f"(it reports {sorted(reported)})"
                    )
                nodes.append(
                    _SimNode(
                        farm=farm,
                        node=node,
                        profile=profile,
                        model=model,
                        sensors=sensors,
                        telemetry_topic=str(
                            node_topic(farm.id, node.id, Channel.TELEMETRY, prefix=prefix)
                        ),
                        status_topic=str(
                            node_topic(farm.id, node.id, Channel.STATUS, prefix=prefix)
                        ),
                        seq_key=sequence_key(farm.id, node.id),
                    )
                )
        return nodes

    def _run(self) -> None:
        client, address = new_client(self.mqtt, self.client_id, persistent=False)
        client.enable_logger(log.getChild("paho"))
        # 100 QoS 1 messages on the wire at once: enough for a slow rural uplink.
        client.max_inflight_messages_set(100)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._acks.on_publish
        client.connect_async(address.host, address.port, keepalive=self.mqtt.keepalive_s)
        client.loop_start()
        try:
            if not self._await_connection(address.url()):
                return
            log.info(
                "simulator: %d nodes of %d farms publishing every %g s%s to %s",
                len(self._nodes),
                len(self.deployment.farms),
                self.interval_s,
                f", {self.count} records each" if self.count is not None else "",
                address.url(),
            )
            self._publish_status(client, "online")
            self._publish_loop(client)
            self._publish_status(client, "offline")
            self._await_acks()
        finally:
            self._closing = True
            client.disconnect()
            client.loop_stop()
            self._log_progress("simulator stopped", final=True)

    def _await_connection(self, url: str) -> bool:
        deadline = time.monotonic() + self.connect_timeout_s
        while not self._connected.wait(0.1):
            if self.stop_event.is_set():
                return False
            if time.monotonic() >= deadline:
                reason = f" (last refusal: {self._connect_error})" if self._connect_error else ""
                raise RuntimeError(
                    f"simulator could not connect to the MQTT broker at {url} within "
                    f"{self.connect_timeout_s:g} s{reason}; check that it runs and the URL is right"
                )
        return True

    def _publish_loop(self, client: paho.Client) -> None:
        nodes = self._nodes
        if not nodes or self.count == 0:
            return
        start = time.monotonic()
        self._next_progress = start + self.progress_every_s
        # (due time, node index, records published so far); phases spread nodes over a tick.
        due: list[tuple[float, int, int]] = [
            (start + self.interval_s * i / len(nodes), i, 0) for i in range(len(nodes))
        ]
        heapq.heapify(due)
        while due:
            when, index, done = due[0]
            now = time.monotonic()
            if now >= self._next_progress:
                self._log_progress("simulator")
                self._next_progress = now + self.progress_every_s
            if when > now:
                if self.stop_event.wait(min(when, self._next_progress) - now):
                    return
                continue
            if self.stop_event.is_set():
                return
            if not self._backlog_full():
                lag = time.monotonic() - when
                self._publish_record(client, nodes[index])
                done += 1
                with self._lock:
                    self._lags.append(lag)
                    self._lag_max = max(self._lag_max, lag)
            if self.count is None or done < self.count:
                # Keep the cadence, but after a stall restart it rather than bursting.
                next_when = when + self.interval_s
                if next_when < now:
                    next_when = now
                    with self._lock:
                        self._restarted += 1
                heapq.heapreplace(due, (next_when, index, done))
            else:
                heapq.heappop(due)

    def _backlog_full(self) -> bool:
        with self._lock:
            full = self._acks.pending() >= self.max_unacknowledged
            if full:
                self._skipped += 1
            first = full and self._skipped % 1000 == 1
        if first:
            log.warning(
                "simulator: %d messages wait for the broker's PUBACK; skipping ticks until "
                "it catches up (broker %s)",
                self.max_unacknowledged,
                "connected" if self.connected else "unreachable",
            )
        return full

    def _publish_record(self, client: paho.Client, sim: _SimNode) -> None:
        now = datetime.now(UTC)
        ts = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the wire carries ms
        if sim.last_ts is not None and ts <= sim.last_ts:
            # Same millisecond as the previous record, or the wall clock stepped back (NTP).
            # A record is identified by node + timestamp in the stores (docs/contract.md), so
            # two records of one node must never share a millisecond.
            ts = sim.last_ts + timedelta(milliseconds=1)
        sim.last_ts = ts
        readings = {k: v for k, v in sim.model.read(ts).items() if k in sim.sensors}
        seq = self.seq_store.next(sim.seq_key)
        payload = encode_record(Record(ts=ts, seq=seq, synced=True, readings=readings))
        info = client.publish(sim.telemetry_topic, payload, qos=1)
        self._track(info, PublishedRecord(sim.farm.id, sim.node.id, seq))

    def _publish_status(self, client: paho.Client, state: str) -> None:
        """Retained ``online``/``offline`` per node (docs/contract.md, "Status").

        Real nodes publish ``offline`` through their MQTT last will; one connection serves all
        simulated nodes, so the runner says it explicitly at a clean stop instead.
        """
        now = format_ts(datetime.now(UTC))
        version = _package_version()
        for sim in self._nodes:
            body = {
                "v": STATUS_VERSION,
                "state": state,
                "ts": now,
                "version": version,
                "simulated": True,
                "profile": sim.profile,
            }
            info = client.publish(sim.status_topic, json.dumps(body), qos=1, retain=True)
            self._track(info, None)

    def _track(self, info: paho.MQTTMessageInfo, record: PublishedRecord | None) -> None:
        if record is not None:
            with self._lock:
                self._published += 1
                self._log.append(record)
        self._acks.track(info, record)

    def _count_ack(self, record: PublishedRecord | None) -> None:
        """Called by the tracker with ``self._lock`` held."""
        if record is not None:
            self._acknowledged += 1

    def _await_acks(self) -> None:
        missing = self._acks.wait_all(
            self.ack_timeout_s,
            progress=lambda pending: log.info("simulator: waiting for %d PUBACKs", pending),
            progress_every_s=self.progress_every_s,
        )
        if missing:
            log.error(
                "simulator: %d messages still unacknowledged by the broker after %g s; "
                "they may be lost",
                missing,
                self.ack_timeout_s,
            )

    def _log_progress(self, what: str, *, final: bool = False) -> None:
        with self._lock:
            published, acked, pending = self._published, self._acknowledged, self._acks.pending()
            skipped = self._skipped
        broker = "" if final else (", broker connected" if self.connected else ", broker DOWN")
        log.info(
            "%s: %d records published, %d acknowledged, %d awaiting PUBACK%s%s",
            what,
            published,
            acked,
            pending,
            f", {skipped} ticks skipped" if skipped else "",
            broker,
        )

    # ----------------------------------------------------------------- paho callbacks
    # paho calls these from its network thread; they only touch state under self._lock and
    # never call back into paho while holding it (publish() runs on the runner's thread).

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._connect_error = str(reason_code)
            log.warning("simulator: the broker refused the connection: %s", reason_code)
            return
        with self._lock:
            self._connections += 1
            pending = self._acks.pending()
            again = self._connections > 1
        self._connected.set()
        if again:
            log.info(
                "simulator: reconnected to the broker; paho resends %d unacknowledged messages",
                pending,
            )

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if not self._closing:
            log.warning(
                "simulator: lost the broker (%s); paho reconnects and resends what was not "
                "acknowledged (%d messages so far)",
                reason_code,
                self.unacknowledged,
            )
