"""A labelled scenario through the real pipeline: ScenarioPublisher → mosquitto → ingest → SQLite.

The labels are what analytics is scored against, so they must describe what the *store* holds,
not only what the simulator meant: every published record is stored exactly once; inside each
label's span the stored data shows the fault (a dropout is exactly ingest's seq gap, a stuck
value is constant, a spike is at the label, a unit error is the clean value in the wrong unit,
an outage's records are all there but arrived after the outage, an unsynced clock's records
carry synced=false), an event's span differs from the run without it, and outside every span
the store holds the clean dataset.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from farmwatch_core.contract import Record, decode_telemetry
from farmwatch_core.contract.payload import TimeWindow
from farmwatch_core.mqtt import new_client
from farmwatch_core.settings import IngestSettings, MqttSettings
from farmwatch_ingest.deadletter import DeadLetterStore
from farmwatch_ingest.nodes import NodeState
from farmwatch_ingest.service import IngestService
from farmwatch_ingest.spool import Spool
from farmwatch_ingest.stores.sqlite import SqliteStore
from farmwatch_ingest.validation import TelemetryValidator
from farmwatch_simulators.dataset import generate_dataset
from farmwatch_simulators.faults import Label, affected
from farmwatch_simulators.replay import ScenarioPublisher
from farmwatch_simulators.scenarios import Scenario, parse_scenario
from support.waiting import eventually

pytestmark = pytest.mark.mosquitto

NODES = "nodes: {jitter: 2s, clock_skew: 10s}\n"
SCENARIO = """
name: e2e-labels
seed: 21
start: 2026-06-01T00:00:00Z
duration: 8h
interval: 10m
{NODES}farms:
  - {model: pig_barn, nodes_per_farm: 1}      # pig-01
  - {model: greenhouse, nodes_per_farm: 1}    # gh-02
  - {model: rice_field, nodes_per_farm: 2}    # rice-03
events:
  - {kind: ammonia_rise, farms: [pig-01], start: +2h, duration: 4h, ramp_h: 1}
faults:
  - {kind: stuck, farm: pig-01, quantity: co2, start: +1h, duration: 2h}
  - {kind: spike, farm: pig-01, quantity: air_temperature, start: +5h, magnitude: 8}
  - {kind: unit_error, farm: gh-02, quantity: relative_humidity, unit: fraction,
     start: +3h, duration: 2h}
  - {kind: clock_unsynced, farm: gh-02, start: +6h, duration: 1h}
  - {kind: dropout, farm: rice-03, node: rice-03-n1, start: +1h, duration: 90m}
  - {kind: outage, farm: rice-03, start: +4h, duration: 2h}
""".replace("{NODES}", NODES)

SPEED = 8 * 3600 / 3.0  # the eight hours in about three seconds
ANY_TIME = TimeWindow(max_future=timedelta(days=36500), max_past=timedelta(days=36500))
NodeKey = tuple[str, str]


@contextmanager
def ingest(mqtt: MqttSettings, scenario: Scenario, tmp_path: Path) -> Iterator[IngestService]:
    validator = TelemetryValidator(scenario.deployment, topic_prefix=mqtt.topic_prefix)
    service = IngestService(
        mqtt,
        IngestSettings(client_id=f"ingest-{mqtt.topic_prefix}"),
        SqliteStore(tmp_path / "fw.db"),
        DeadLetterStore(tmp_path / "dead.db"),
        validator,
        Spool(tmp_path / "spool.db", 10**7),
    )
    thread = threading.Thread(target=service.run)
    thread.start()
    try:
        assert service.wait_ready(10)
        yield service
    finally:
        service.stop()
        thread.join(15)
        assert not thread.is_alive()


class Arrivals:
    """When each (farm, node, seq) reached the broker's subscribers (for the outage's lateness)."""

    def __init__(self, mqtt: MqttSettings) -> None:
        self.lock = threading.Lock()
        self.at: dict[tuple[str, str, int], float] = {}
        self.ready = threading.Event()
        self.client, address = new_client(mqtt, f"arrivals-{mqtt.topic_prefix}", persistent=False)
        self.client.on_connect = lambda c, *_: c.subscribe(f"{mqtt.topic_prefix}/#", qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect(address.host, address.port)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        if parts[-1] != "telemetry":
            return
        farm_id, node_id = parts[-4], parts[-2]  # <prefix>/farms/<farm>/nodes/<node>/telemetry
        now = time.monotonic()
        decoded = decode_telemetry(bytes(msg.payload), now=datetime.now(UTC), window=ANY_TIME)
        with self.lock:
            for record in decoded.records:
                self.at.setdefault((farm_id, node_id, record.seq), now)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def by_seq(scenario: Scenario, **flags: bool) -> dict[NodeKey, dict[int, Record]]:
    out: dict[NodeKey, dict[int, Record]] = {}
    for farm, node, record in generate_dataset(scenario, **flags):
        out.setdefault((farm, node), {})[record.seq] = record
    return out


def in_span(label: Label, ts: datetime) -> bool:
    return label.start <= ts <= label.end


@dataclass(frozen=True)
class Seen:
    """What the run left behind: the store's records, ingest's node view, the references."""

    scenario: Scenario
    shift: timedelta
    rows: dict[NodeKey, list[Record]]  # stored, oldest first
    clean: dict[NodeKey, dict[int, Record]]  # no faults, no events
    no_event: dict[NodeKey, dict[int, Record]]  # the faults, no events
    scheduled: dict[NodeKey, dict[int, Record]]  # clean, stamped on schedule (no jitter, skew)
    nodes: dict[NodeKey, NodeState]
    arrivals: dict[tuple[str, str, int], float]
    began: float  # when publishing started (monotonic)

    def inside(self, label: Label) -> list[Record]:
        return [r for r in self.rows[(label.farm_id, label.node_id)] if in_span(label, r.ts)]

    def scheduled_in(self, label: Label, reference: dict[NodeKey, dict[int, Record]]) -> set[int]:
        """Seqs of the reference run's records whose (shifted) time is in the span."""
        twin = reference[(label.farm_id, label.node_id)]
        return {s for s, r in twin.items() if in_span(label, r.ts + self.shift)}


def check_dropout(seen: Seen, label: Label) -> None:
    # Exactly ingest's gap: the clean run's seqs inside the span are the missing ones.
    gap = seen.scheduled_in(label, seen.clean)
    assert gap
    assert seen.nodes[(label.farm_id, label.node_id)].missing == gap
    assert not seen.inside(label)


def check_stuck(seen: Seen, label: Label) -> None:
    assert label.quantity is not None
    inside = seen.inside(label)
    assert len(inside) >= 10
    assert len({r.readings[label.quantity] for r in inside}) == 1


def check_spike(seen: Seen, label: Label) -> None:
    assert label.quantity is not None
    assert label.start == label.end
    (record,) = seen.inside(label)
    reference = seen.clean[(label.farm_id, label.node_id)][record.seq].readings[label.quantity]
    assert abs(record.readings[label.quantity] - reference) == pytest.approx(8.0, abs=0.11)


def check_unit_error(seen: Seen, label: Label) -> None:
    assert label.quantity == "relative_humidity"
    inside = seen.inside(label)
    assert len(inside) >= 10
    twin = seen.clean[(label.farm_id, label.node_id)]
    for record in inside:
        percent = twin[record.seq].readings["relative_humidity"]
        assert record.readings["relative_humidity"] == round(percent / 100.0, 3)


def check_outage(seen: Seen, label: Label) -> None:
    key = (label.farm_id, label.node_id)
    seqs = seen.scheduled_in(label, seen.clean)
    assert seqs
    assert seqs <= {r.seq for r in seen.rows[key]}  # all present...
    sim_end = (label.end - seen.shift - seen.scenario.start).total_seconds()
    due = seen.began + sim_end / SPEED
    late = [seen.arrivals[(*key, s)] for s in seqs]
    assert min(late) >= due - 0.05  # ... and arrived only once the outage was over


def check_clock_unsynced(seen: Seen, label: Label) -> None:
    # True time: the records scheduled in it are stored with synced=false, none other is.
    seqs = seen.scheduled_in(label, seen.scheduled)
    assert len(seqs) == 6
    for record in seen.rows[(label.farm_id, label.node_id)]:
        assert record.synced == (record.seq not in seqs)


def check_ammonia_rise(seen: Seen, label: Label) -> None:
    assert label.quantity == "nh3"
    twin = seen.no_event[(label.farm_id, label.node_id)]
    ends = [r for r in seen.inside(label) if r.ts in (label.start, label.end)]
    assert len(ends) == 2
    for record in ends:
        assert record.readings["nh3"] != twin[record.seq].readings["nh3"]


CHECKS: dict[str, Callable[[Seen, Label], None]] = {
    "dropout": check_dropout,
    "stuck": check_stuck,
    "spike": check_spike,
    "unit_error": check_unit_error,
    "outage": check_outage,
    "clock_unsynced": check_clock_unsynced,
    "ammonia_rise": check_ammonia_rise,
}


def check_clean_outside(seen: Seen, labels: list[Label]) -> int:
    """Outside every value-changing span the store holds the clean dataset; return how many
    readings were compared. An event's quantity may differ by the sensor's last digit outside
    its span (the label rule: a difference that merely rounds apart is not an effect)."""
    changing = [lb for lb in labels if lb.kind not in {"outage", "clock_unsynced", "dropout"}]
    evented = {(lb.farm_id, lb.node_id, lb.quantity) for lb in labels if lb.category == "event"}
    compared = 0
    for key, records in seen.rows.items():
        for record in records:
            for quantity, value in record.readings.items():
                covered = any(
                    (lb.farm_id, lb.node_id) == key
                    and lb.quantity in (None, quantity)
                    and in_span(lb, record.ts)
                    for lb in changing
                )
                if not covered:
                    clean = seen.clean[key][record.seq].readings[quantity]
                    if (*key, quantity) in evented:
                        assert not affected(quantity, value, clean), (key, record.seq, quantity)
                    else:
                        assert value == clean, (key, record.seq, quantity)
                    compared += 1
    return compared


def test_a_replayed_scenarios_labels_describe_what_ingest_stored(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    scenario = parse_scenario(SCENARIO)
    expected = by_seq(scenario)
    total = sum(len(records) for records in expected.values())
    assert {r.synced for records in expected.values() for r in records.values()} == {True, False}

    arrivals = Arrivals(mqtt_settings)
    try:
        assert arrivals.ready.wait(10)
        with ingest(mqtt_settings, scenario, tmp_path) as service:
            began = time.monotonic()
            report = ScenarioPublisher(mqtt_settings, speed=SPEED).publish_scenario(
                scenario, shift_to_now=True
            )
            assert report.complete
            assert report.records == total
            assert report.outages.held_records == report.outages.flushed_records > 0
            eventually(lambda: service.stats.records == total, timeout=15, message="stored")
            nodes = {(n.farm_id, n.node_id): n for n in service.nodes.snapshot()}
            assert service.stats.dead_letters == 0
    finally:
        arrivals.close()
    shift = report.shift
    store = SqliteStore(tmp_path / "fw.db")
    try:
        lo = scenario.start + shift - timedelta(hours=1)
        hi = scenario.end + shift + timedelta(hours=1)
        rows = {key: store.records(*key, lo, hi) for key in expected}
    finally:
        store.close()

    # Every published record stored exactly once, as published (timestamps shifted).
    for key, records in expected.items():
        assert len(rows[key]) == len(records), key
        published = {s: (r.ts + shift, r.synced, dict(r.readings)) for s, r in records.items()}
        assert published == {r.seq: (r.ts, r.synced, dict(r.readings)) for r in rows[key]}, key
        assert nodes[key].duplicates == 0

    kinds = sorted(lb.kind for lb in report.labels)
    assert kinds == sorted(
        [
            *("ammonia_rise", "clock_unsynced", "dropout", "outage", "outage"),
            *("spike", "stuck", "unit_error"),
        ]
    ), kinds
    with arrivals.lock:
        arrived = dict(arrivals.at)
    seen = Seen(
        scenario,
        shift,
        rows,
        by_seq(scenario, faults=False, events=False),
        by_seq(scenario, events=False),
        by_seq(parse_scenario(SCENARIO.replace(NODES, "")), faults=False, events=False),
        nodes,
        arrived,
        began,
    )
    for label in report.labels:
        CHECKS[label.kind](seen, label)
    assert check_clean_outside(seen, report.labels) > 1000
