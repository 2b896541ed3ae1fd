"""Prometheus metrics of an ingest process, served at ``/metrics``.

Counters are read from :class:`IngestStats` and the node tracker at scrape time (a custom
collector), so the hot path only bumps plain integers; the two histograms (lag and batch
size) are observed by the writer once per batch. Everything lives in the service's own
registry: nothing registers itself globally at import time.
"""

from __future__ import annotations

import itertools
import threading
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from farmwatch_ingest.stores.base import NodeRecord

if TYPE_CHECKING:
    from farmwatch_ingest.service import IngestService

LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400)
BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
_ZERO = timedelta(0)


class IngestMetrics:
    """The registry and the histograms the writer feeds."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.lag = LagHistogram(
            "farmwatch_ingest_lag_seconds",
            "Time from a record's node timestamp to its durable write (store or spool).",
            LAG_BUCKETS,
        )
        self.registry.register(self.lag)
        self.batch_messages = Histogram(
            "farmwatch_ingest_batch_messages",
            "MQTT messages written and acknowledged together.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )

    def observe_batch(self, messages: int, records: Sequence[NodeRecord], now: datetime) -> None:
        self.batch_messages.observe(messages)
        self.lag.observe_records(records, now)

    def bind(self, service: IngestService) -> None:
        self.registry.register(_ServiceCollector(service))


class LagHistogram(Collector):
    """A Prometheus histogram of record lags, observed a whole batch at a time.

    ``prometheus_client.Histogram.observe`` takes a lock and walks the buckets in Python for
    each value, about a microsecond per record, the largest part of the writer's accounting
    (bench/ingest_profile.py). Here a batch costs one lock, and each record one subtraction
    and one ``bisect`` over the bounds kept as timedeltas (no float conversion per record);
    the exposition is the same (``_bucket``, ``_count``, ``_sum``).
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = [float(b) for b in buckets]
        self._bounds = [timedelta(seconds=b) for b in self.bounds]
        self._counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self._sum = timedelta(0)
        self._lock = threading.Lock()

    def observe_records(self, records: Sequence[NodeRecord], now: datetime) -> None:
        """One observation per record: ``now`` minus its timestamp (0 if in the future)."""
        bounds, counts, zero = self._bounds, self._counts, _ZERO
        total = zero
        with self._lock:
            for record in records:
                lag = now - record.record.ts
                if lag < zero:  # noqa: PLR1730 - max() is a call per record; this is not
                    lag = zero
                counts[bisect_left(bounds, lag)] += 1
                total += lag
            self._sum += total

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts = list(self._counts)
            total = self._sum.total_seconds()
        cumulative = list(itertools.accumulate(counts))
        labels = [*(repr(b) for b in self.bounds), "+Inf"]  # Prometheus' own form for these
        yield HistogramMetricFamily(
            self.name,
            self.documentation,
            buckets=list(zip(labels, cumulative, strict=True)),
            sum_value=total,
        )


class _ServiceCollector(Collector):
    def __init__(self, service: IngestService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        stats = self.service.stats
        for name, doc, value in (
            ("messages", "MQTT messages received and handled.", stats.messages),
            ("records", "Records durably accepted (store or spool).", stats.records),
            ("readings", "Readings durably accepted.", stats.readings),
            (
                "dead_letters",
                "Messages (or parts) refused into the dead-letter store.",
                stats.dead_letters,
            ),
            ("store_retries", "Writes that found the store unavailable.", stats.store_retries),
            (
                "spooled_records",
                "Records written to the spool while the store was down.",
                stats.spooled_records,
            ),
            (
                "replayed_records",
                "Records replayed from the spool into the store.",
                stats.replayed_records,
            ),
            (
                "spool_dropped_records",
                "Records dropped because the spool was full.",
                stats.spool_dropped_records,
            ),
            ("status_messages", "Node status messages received.", stats.status_messages),
        ):
            yield CounterMetricFamily(f"farmwatch_ingest_{name}", doc, value=value)
        rejected = CounterMetricFamily(
            "farmwatch_ingest_rejections",
            "Rejections by reason code (docs/contract.md).",
            labels=["reason"],
        )
        for reason, count in sorted(stats.rejections.items()):
            rejected.add_metric([reason], count)
        yield rejected
        yield GaugeMetricFamily(
            "farmwatch_ingest_spool_records",
            "Records waiting in the spool.",
            value=len(self.service.spool),
        )
        yield GaugeMetricFamily(
            "farmwatch_ingest_mqtt_connected",
            "1 while connected to the broker.",
            value=int(stats.connected),
        )
        labels = ["farm", "node"]
        missing = GaugeMetricFamily(
            "farmwatch_node_missing_seq", "Sequence numbers not (yet) received.", labels=labels
        )
        late = CounterMetricFamily(
            "farmwatch_node_out_of_order", "Records that arrived after a later one.", labels=labels
        )
        dupes = CounterMetricFamily(
            "farmwatch_node_duplicates", "Records received more than once.", labels=labels
        )
        last = GaugeMetricFamily(
            "farmwatch_node_last_reading_timestamp_seconds",
            "Node time of the newest record.",
            labels=labels,
        )
        online = GaugeMetricFamily(
            "farmwatch_node_online",
            "1 online, 0 offline, -1 unknown (retained status).",
            labels=labels,
        )
        for node in self.service.nodes.snapshot():
            key = [node.farm_id, node.node_id]
            missing.add_metric(key, node.missing_count)
            late.add_metric(key, node.out_of_order)
            dupes.add_metric(key, node.duplicates)
            if node.last_reading_at is not None:
                last.add_metric(key, node.last_reading_at.timestamp())
            online.add_metric(key, {"online": 1, "offline": 0}.get(node.state, -1))
        yield from (missing, late, dupes, last, online)
