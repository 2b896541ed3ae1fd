"""Dataset mode: run a scenario offline, faster than real time, into CSV plus ground truth.

The evaluation of analytics needs weeks of data from many nodes *and* the truth about what
was injected, reproducibly. :func:`generate_dataset` steps every node of a
:class:`~farmwatch_simulators.scenarios.Scenario` through simulated time (no clock, no
broker) and yields ``(farm_id, node_id, Record)`` in time order; :func:`write_dataset` writes
them as a long CSV (one row per reading) next to a labels CSV, or the same as Parquet.

Per node, per scheduled instant::

    model.read(ts)  ->  clean readings (the physics, process events included)
        |                  compared with counterfactual twins, one per event   -> event labels
        v
    FaultLayer.apply  -> sent readings, or nothing (dropout, dead battery)     -> fault labels

Nodes report every ``interval`` from a per-node phase drawn from the seed (real nodes are not
synchronised, and a steady trickle is what ingest sees). Everything is a function of the
scenario and its seed, so the same scenario gives byte-identical files.
"""

from __future__ import annotations

import csv
import heapq
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from farmwatch_core.contract import Record
from farmwatch_core.contract.payload import format_ts

from farmwatch_simulators.climate import Climate
from farmwatch_simulators.faults import LABEL_FIELDS, FaultLayer, Label, affected
from farmwatch_simulators.models import MODEL_CLASSES, PROFILE_BY_MODEL_TYPE, NodeModel, build_model
from farmwatch_simulators.runner import sequence_key
from farmwatch_simulators.scenarios import Scenario
from farmwatch_simulators.timing import NodeClock, stamp_labels
from farmwatch_simulators.weather_cache import WeatherCache

TELEMETRY_FIELDS = ("ts", "farm_id", "node_id", "seq", "quantity", "value")
DATASET_FORMATS = ("csv", "parquet")

Row = tuple[str, str, Record]


def node_phase(seed: int, farm_id: str, node_id: str, interval: timedelta) -> timedelta:
    """When in each interval a node reports: a whole second drawn from the seed and its name.

    >>> from datetime import timedelta
    >>> phase = node_phase(1, "pond-01", "pond-01-n1", timedelta(minutes=5))
    >>> timedelta(0) <= phase < timedelta(minutes=5) and phase.microseconds == 0
    True
    """
    rng = random.Random(f"farmwatch-dataset/{seed}/{sequence_key(farm_id, node_id)}/phase")
    return timedelta(seconds=int(rng.uniform(0.0, interval.total_seconds())))


@dataclass(slots=True)
class _EventTrack:
    """A counterfactual twin for one event on one node, and the spans it found per quantity."""

    kind: str
    source: str
    twin: NodeModel
    spans: dict[str, tuple[datetime, datetime]]


class DatasetRun:
    """An iterator over ``(farm_id, node_id, Record)`` of a scenario, in simulated time order.

    Records come sorted by timestamp, then farm and node. :meth:`labels` gives the ground
    truth once the iteration is complete (spans are only known when the data has been seen).
    ``faults=False`` / ``events=False`` give the references the labels are checked against.
    """

    def __init__(self, scenario: Scenario, *, faults: bool = True, events: bool = True) -> None:
        self.scenario = scenario
        self.with_faults = faults
        self.with_events = events
        self.records = 0
        self.readings = 0
        self._layers: list[FaultLayer] = []
        self._tracks: list[tuple[str, str, _EventTrack]] = []
        # Node timing (jitter, skew, unsynced clocks; timing.py) and outages: which records an
        # outage holds back, by (farm, node, seq) -> when the link is back (the publisher's).
        self._clocks: dict[tuple[str, str], NodeClock] = {}
        self.held: dict[tuple[str, str, int], datetime] = {}
        self._finished = False
        self._iterator = self._merged()

    def __iter__(self) -> DatasetRun:
        return self

    def __next__(self) -> Row:
        try:
            row = next(self._iterator)
        except StopIteration:
            self._finished = True
            raise
        self.records += 1
        self.readings += len(row[2].readings)
        return row

    def labels(self) -> list[Label]:
        """Every fault and event that touched the data, sorted; only after the last record."""
        if not self._finished:
            raise RuntimeError("labels are known only after the whole dataset was generated")
        out: list[Label] = []
        for layer in self._layers:
            out += layer.labels()
        out.extend(
            Label(first, last, farm_id, node_id, quantity, track.kind, "event", track.source)
            for farm_id, node_id, track in self._tracks
            for quantity, (first, last) in track.spans.items()
        )
        return sorted(stamp_labels(out, self._clocks), key=Label.sort_key)

    def _merged(self) -> Iterator[Row]:
        scenario = self.scenario
        # Every node (and every event twin) reads its weather through one memo: nodes with
        # the same phase, and twins, share each evaluation (see weather_cache).
        climate = WeatherCache(Climate(seed=scenario.seed))
        streams = [
            self._node_stream(climate, farm.id, node.id, scenario.intervals[farm.id])
            for farm in scenario.deployment.farms
            for node in farm.nodes
        ]
        # Each stream is sorted by (ts, farm, node); merging keeps simulated time order.
        for _key, row in heapq.merge(*streams):
            yield row

    def _build(
        self, climate: WeatherCache, farm_id: str, node_id: str, interval: timedelta
    ) -> NodeModel:
        farm = self.scenario.deployment.farm(farm_id)
        node = self.scenario.deployment.node(farm_id, node_id)
        if farm is None or node is None:
            raise KeyError(f"{farm_id}/{node_id} is not in the scenario's deployment")
        profile = (
            node.profile if node.profile in MODEL_CLASSES else PROFILE_BY_MODEL_TYPE[farm.model]
        )
        model = build_model(
            profile,
            climate.climate,
            seed=self.scenario.seed,
            name=sequence_key(farm_id, node_id),
            interval_s=interval.total_seconds(),
        )
        model.weather_at = climate.at
        return model

    def _node_stream(
        self, climate: WeatherCache, farm_id: str, node_id: str, interval: timedelta
    ) -> Iterator[tuple[tuple[datetime, str, str], Row]]:
        scenario = self.scenario
        node = scenario.deployment.node(farm_id, node_id)
        model = self._build(climate, farm_id, node_id, interval)  # raises for unknown nodes
        if node is None:  # pragma: no cover - _build raised already
            return
        sensors = (
            set(node.sensors) & set(model.quantities) if node.sensors else set(model.quantities)
        )
        key = (farm_id, node_id)
        events = [e for e in scenario.events if key in e.forcings] if self.with_events else []
        model.forcings = tuple(e.forcings[key] for e in events)
        tracks = []
        for event in events:
            twin = self._build(climate, farm_id, node_id, interval)
            twin.forcings = tuple(e.forcings[key] for e in events if e is not event)
            track = _EventTrack(str(event.kind), f"events[{event.index}]", twin, {})
            tracks.append(track)
            self._tracks.append((farm_id, node_id, track))
        faults = [f for f in scenario.faults if (f.farm_id, f.node_id) == key]
        layer = FaultLayer(faults, seed=scenario.seed) if faults and self.with_faults else None
        if layer is not None:
            self._layers.append(layer)
        clock = self._clocks[key] = NodeClock(
            scenario.seed,
            sequence_key(farm_id, node_id),
            interval,
            scenario.behaviour,
            faults if self.with_faults else (),
        )

        every_sensor = sensors >= set(model.quantities)
        seq = 0
        ts = scenario.start + node_phase(scenario.seed, farm_id, node_id, interval)
        while ts < scenario.end:
            clean = model.read(ts)
            if not every_sensor:
                clean = {k: v for k, v in clean.items() if k in sensors}
            for track in tracks:
                reference = track.twin.read(ts)
                for quantity, value in clean.items():
                    if affected(quantity, value, reference[quantity]):
                        first = track.spans.get(quantity, (ts, ts))[0]
                        track.spans[quantity] = (first, ts)
            readings: dict[str, float] | None = clean
            used_seq = True
            if layer is not None:
                readings, used_seq = layer.apply(ts, clean)
            if used_seq:
                seq += 1
            if readings:
                stamp, synced = clock.stamp(ts)  # timing.py: jitter, skew, unsynced clock
                record = Record(ts=stamp, seq=seq, synced=synced, readings=readings)
                if layer is not None and (held := layer.held_until(ts)) is not None:
                    self.held[(farm_id, node_id, seq)] = held
                yield (ts, farm_id, node_id), (farm_id, node_id, record)
            ts += interval


def generate_dataset(scenario: Scenario, *, faults: bool = True, events: bool = True) -> DatasetRun:
    """Iterate a scenario's records in simulated time; see :class:`DatasetRun`.

    >>> from farmwatch_simulators.scenarios import parse_scenario
    >>> s = parse_scenario('''
    ... name: tiny
    ... start: 2026-07-01T00:00:00Z
    ... duration: 1h
    ... interval: 15m
    ... farms: [{model: pig_barn, nodes_per_farm: 1}]
    ... ''')
    >>> [(node, record.seq) for farm, node, record in generate_dataset(s)]
    [('pig-01-n1', 1), ('pig-01-n1', 2), ('pig-01-n1', 3), ('pig-01-n1', 4)]
    """
    return DatasetRun(scenario, faults=faults, events=events)


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    """What :func:`write_dataset` wrote, and how fast."""

    telemetry: Path
    labels: Path
    records: int
    readings: int
    label_count: int
    nodes: int
    seconds: float


def format_value(value: float) -> str:
    """A reading as the CSV writes it: the shortest text that reads back to the same float.

    >>> format_value(27.5), format_value(4.0), format_value(1e-05)
    ('27.5', '4.0', '1e-05')
    """
    return repr(float(value))


def _write_telemetry_csv(rows: Iterator[Row], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(TELEMETRY_FIELDS)
        for farm_id, node_id, record in rows:
            ts = format_ts(record.ts)
            seq = str(record.seq)
            # repr(float(v)) is format_value, inlined: this runs once per reading.
            writer.writerows(
                [
                    (ts, farm_id, node_id, seq, quantity, repr(float(value)))
                    for quantity, value in record.readings.items()
                ]
            )


def write_labels(labels: list[Label], path: Path) -> None:
    """Labels CSV: start, end (RFC 3339 UTC, inclusive), farm_id, node_id, quantity, kind..."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(LABEL_FIELDS)
        writer.writerows(label.row() for label in labels)


def write_dataset(
    scenario: Scenario,
    directory: Path,
    *,
    faults: bool = True,
    events: bool = True,
    prefix: str = "",
    format: str = "csv",
) -> DatasetSummary:
    """Write ``<prefix>telemetry.<format>`` and ``<prefix>labels.<format>`` into ``directory``.

    The telemetry table is long: one row per reading (``ts, farm_id, node_id, seq, quantity,
    value``), so nodes with different sensors share one file and pandas/DuckDB pivot it at
    will. ``format`` is ``"csv"`` or ``"parquet"`` (typed columns, streamed in row groups; see
    :mod:`farmwatch_simulators.parquet`); both hold exactly the same rows.
    """
    if format not in DATASET_FORMATS:
        raise ValueError(f"format must be one of {', '.join(DATASET_FORMATS)}, not {format!r}")
    directory.mkdir(parents=True, exist_ok=True)
    telemetry = directory / f"{prefix}telemetry.{format}"
    labels_path = directory / f"{prefix}labels.{format}"
    began = time.perf_counter()
    run = generate_dataset(scenario, faults=faults, events=events)
    if format == "parquet":
        from farmwatch_simulators import parquet  # pyarrow is loaded only when asked for

        parquet.write_telemetry_parquet(run, telemetry)
        labels = run.labels()
        parquet.write_labels_parquet(labels, labels_path)
    else:
        _write_telemetry_csv(run, telemetry)
        labels = run.labels()
        write_labels(labels, labels_path)
    return DatasetSummary(
        telemetry=telemetry,
        labels=labels_path,
        records=run.records,
        readings=run.readings,
        label_count=len(labels),
        nodes=scenario.node_count,
        seconds=time.perf_counter() - began,
    )
