"""ScenarioPublisher and replay_csv against the session mosquitto: every record of a scenario
arrives exactly once as generate_dataset made it, labels shift with the data, pacing holds,
and a dataset CSV replays to the same records."""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from farmwatch_core.contract import Channel, Record, decode_telemetry, node_topic
from farmwatch_core.contract.payload import TimeWindow
from farmwatch_core.mqtt import new_client
from farmwatch_core.settings import MqttSettings
from farmwatch_edge.config import OutboxConfig
from farmwatch_edge.outbox import Outbox
from farmwatch_simulators.dataset import Row, generate_dataset, write_dataset
from farmwatch_simulators.replay import (
    ScenarioPublisher,
    replay_csv,
    shift_labels,
    to_millisecond,
)
from farmwatch_simulators.scenarios import Scenario, parse_scenario
from support.waiting import eventually

from farmwatch.cli import main

pytestmark = pytest.mark.mosquitto

TINY = """
name: tiny-replay
seed: 3
start: 2026-01-10T00:00:00Z
duration: 6h
interval: 15m
farms:
  - {model: pig_barn, nodes_per_farm: 1}
  - {model: aquaculture_pond, nodes_per_farm: 2}
faults:
  - {kind: stuck, farm: pig-01, quantity: nh3, start: +1h, duration: 2h}
"""

ANY_TIME = TimeWindow(max_future=timedelta(days=36500), max_past=timedelta(days=36500))


@pytest.fixture
def scenario() -> Scenario:
    return parse_scenario(TINY)


class Subscriber:
    """Collects every telemetry message under a prefix, decoded, in arrival order."""

    def __init__(self, settings: MqttSettings, scenario: Scenario) -> None:
        self.lock = threading.Lock()
        self.rows: list[Row] = []
        self.messages = 0
        self.arrival: list[float] = []  # per message
        self.record_arrival: list[float] = []  # per record, aligned with rows
        self.nodes = {
            str(node_topic(f.id, n.id, Channel.TELEMETRY, prefix=settings.topic_prefix)): (
                f.id,
                n.id,
            )
            for f in scenario.deployment.farms
            for n in f.nodes
        }
        self.subscribed = threading.Event()
        self.client, address = new_client(settings, "test-replay-sub", persistent=False)
        self.client.on_connect = lambda c, *_: c.subscribe(f"{settings.topic_prefix}/#", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(address.host, address.port)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        farm_node = self.nodes.get(msg.topic)
        if farm_node is None:
            return
        decoded = decode_telemetry(bytes(msg.payload), now=datetime.now(UTC), window=ANY_TIME)
        assert not decoded.rejections
        with self.lock:
            self.messages += 1
            self.arrival.append(time.monotonic())
            self.rows += [(*farm_node, record) for record in decoded.records]
            self.record_arrival += [self.arrival[-1]] * len(decoded.records)

    def count(self) -> int:
        with self.lock:
            return len(self.rows)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber(mqtt_settings: MqttSettings, scenario: Scenario) -> Iterator[Subscriber]:
    sub = Subscriber(mqtt_settings, scenario)
    try:
        assert sub.subscribed.wait(10)
        yield sub
    finally:
        sub.close()


def canonical(rows: list[Row], shift: timedelta = timedelta(0)) -> list[tuple[object, ...]]:
    return sorted(
        (f, n, to_millisecond(r.ts) - shift, r.seq, r.synced, dict(sorted(r.readings.items())))
        for f, n, r in rows
    )  # dicts are compared only on ties of (farm, node, ts), which never happen


def test_backfill_publishes_every_record_once_and_shifts_labels(
    mqtt_settings: MqttSettings, scenario: Scenario, subscriber: Subscriber, tmp_path: Path
) -> None:
    expected_run = generate_dataset(scenario)
    expected = list(expected_run)
    labels_path = tmp_path / "out" / "labels.csv"

    report = ScenarioPublisher(mqtt_settings, speed=None, max_batch_records=7).publish_scenario(
        scenario, shift_to_now=True, labels_path=labels_path
    )

    assert report.complete
    assert report.records == len(expected) == report.acknowledged_records
    assert report.messages < report.records  # batched
    eventually(lambda: subscriber.count() >= len(expected), message="all records arrive")
    time.sleep(0.2)  # nothing more (no duplicates) may follow
    assert subscriber.count() == len(expected)
    # The data ends just before now: shifted by whole milliseconds, within ingest's window.
    latest = max(r.ts for _, _, r in subscriber.rows)
    assert datetime.now(UTC) - timedelta(hours=1) < latest < datetime.now(UTC)
    assert canonical(subscriber.rows, report.shift) == canonical(expected)
    # One node never repeats a millisecond.
    per_node = [(f, n, r.ts) for f, n, r in subscriber.rows]
    assert len(set(per_node)) == len(per_node)
    # Labels are the dataset's, moved by the same shift, and written to the file.
    truth = expected_run.labels()
    assert truth  # the stuck fault
    assert report.labels == shift_labels(truth, report.shift)
    with labels_path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["start"] for r in rows] == [lb.row()[0] for lb in report.labels]
    stuck = next(lb for lb in report.labels if lb.kind == "stuck")
    covered = [r for f, n, r in subscriber.rows if (f, n) == (stuck.farm_id, stuck.node_id)]
    assert any(r.ts == stuck.start for r in covered)
    assert any(r.ts == stuck.end for r in covered)


def test_paced_mode_keeps_order_and_pace(
    mqtt_settings: MqttSettings, scenario: Scenario, subscriber: Subscriber
) -> None:
    rows = list(generate_dataset(scenario))[:12]  # the first hour: 4 ticks of 3 nodes
    span = (rows[-1][2].ts - scenario.start).total_seconds()
    speed = span / 1.0  # the hour in about one second

    began = time.monotonic()
    report = ScenarioPublisher(mqtt_settings, speed=speed).publish(rows, sim_start=scenario.start)
    elapsed = time.monotonic() - began

    assert report.complete
    assert report.messages == report.records == len(rows)  # one message per record when paced
    assert 0.7 < elapsed < 10.0
    eventually(lambda: subscriber.count() == len(rows), message="all records arrive")
    assert [r.ts for _, _, r in subscriber.rows] == [r.ts for _, _, r in rows]
    # Arrivals spread over the run instead of one burst.
    assert subscriber.arrival[-1] - subscriber.arrival[0] > 0.5


def test_same_millisecond_records_are_moved_apart(
    mqtt_settings: MqttSettings, scenario: Scenario, subscriber: Subscriber
) -> None:
    ts = datetime.now(UTC) - timedelta(minutes=1)
    rows: list[Row] = [
        ("pig-01", "pig-01-n1", Record(ts=ts, seq=i, synced=True, readings={"nh3": 1.0 + i}))
        for i in range(1, 4)
    ]
    report = ScenarioPublisher(mqtt_settings).publish(rows)
    assert report.complete
    assert report.adjusted_timestamps == 2
    eventually(lambda: subscriber.count() == 3)
    assert len({r.ts for _, _, r in subscriber.rows}) == 3


def test_csv_round_trip(scenario: Scenario, tmp_path: Path) -> None:
    summary = write_dataset(scenario, tmp_path)
    replayed = replay_csv(summary.telemetry)
    assert [(f, n, r) for f, n, r in replayed] == list(generate_dataset(scenario))


def test_csv_rows_in_any_order_and_without_seq(tmp_path: Path) -> None:
    path = tmp_path / "real.csv"
    path.write_text(
        "ts,farm_id,node_id,seq,quantity,value\n"
        "2026-02-01T00:05:00Z,pond-01,n1,,ph,7.1\n"
        "2026-02-01T00:00:00.000Z,pond-01,n1,,water_temp,21.5\n"
        "2026-02-01T00:00:00Z,pond-01,n1,,ph,7.0\n",
        encoding="utf-8",
    )
    rows = replay_csv(path)
    assert [(r.seq, dict(r.readings)) for _, _, r in rows] == [
        (1, {"water_temp": 21.5, "ph": 7.0}),
        (2, {"ph": 7.1}),
    ]


def test_csv_without_time_zone_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "naive.csv"
    path.write_text(
        "ts,farm_id,node_id,seq,quantity,value\n2026-02-01T00:05:00,f,n,1,ph,7.1\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="time zone"):
        replay_csv(path)


def test_cli_backfill_shift_to_now(
    mqtt_settings: MqttSettings, scenario: Scenario, subscriber: Subscriber, tmp_path: Path
) -> None:
    scenario_file = tmp_path / "tiny.yaml"
    scenario_file.write_text(TINY, encoding="utf-8")
    expected = list(generate_dataset(scenario))
    code = main(
        [
            "simulate",
            "--scenario",
            str(scenario_file),
            "--backfill",
            "--shift-to-now",
            "--labels",
            str(tmp_path / "labels.csv"),
            "--write-registry",
            str(tmp_path / "registry.yaml"),
            "--mqtt-url",
            mqtt_settings.url,
            "--topic-prefix",
            mqtt_settings.topic_prefix,
            "--data-dir",
            str(tmp_path / "var"),
        ]
    )
    assert code == 0
    eventually(lambda: subscriber.count() == len(expected), message="all records arrive")
    shift = min(r.ts for _, _, r in subscriber.rows) - min(r.ts for _, _, r in expected)
    assert canonical(subscriber.rows, shift) == canonical(expected)
    assert "pond-02-n2" in (tmp_path / "registry.yaml").read_text(encoding="utf-8")
    with (tmp_path / "labels.csv").open(encoding="utf-8") as fh:
        labels = list(csv.DictReader(fh))
    assert labels
    assert all(datetime.fromisoformat(lb["end"]) <= datetime.now(UTC) for lb in labels)


OUTAGE = """
name: outage-replay
seed: 5
start: 2026-03-01T00:00:00Z
duration: 14h
interval: 5m
farms:
  - {model: rice_field, nodes_per_farm: 2}
  - {model: pig_barn, nodes_per_farm: 1}
faults:
  - {kind: outage, farm: rice-01, start: +2h, duration: 10h}
"""


def test_outage_records_go_through_the_edge_outbox_and_arrive_late(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    scenario = parse_scenario(OUTAGE)
    expected_run = generate_dataset(scenario)
    expected = list(expected_run)
    held = dict(expected_run.held)
    assert len(held) == 2 * 120  # both rice nodes, ten hours at five minutes
    (outage_end,) = set(held.values())
    sub = Subscriber(mqtt_settings, scenario)
    try:
        assert sub.subscribed.wait(10)
        outbox = OutboxConfig(rate_limit_per_s=50, batch_records=10)
        publisher = ScenarioPublisher(
            mqtt_settings,
            speed=None,
            max_batch_records=5,
            outbox=outbox,
            outbox_dir=tmp_path / "outbox",
        )
        report = publisher.publish_scenario(scenario)
        assert report.complete
        assert report.outages.held_records == report.outages.flushed_records == len(held)
        assert report.outages.left_in_outbox == 0
        assert report.outages.nodes == {("rice-01", "rice-01-n1"), ("rice-01", "rice-01-n2")}
        eventually(lambda: sub.count() == len(expected), message="every record arrives")
        time.sleep(0.2)
        assert sub.count() == len(expected)  # and none twice
        assert canonical(sub.rows) == canonical(expected)
        with sub.lock:
            arrivals = list(zip(sub.rows, sub.record_arrival, strict=True))
    finally:
        sub.close()
    # The real edge outbox held them on disk and is empty once the broker acknowledged all.
    files = sorted((tmp_path / "outbox").glob("*-outbox.db"))
    assert len(files) == 2
    for path in files:
        with Outbox(path) as box:
            assert box.depth == 0
    order = [(f, n, r.seq) for (f, n, r), _ in arrivals]
    held_at = [i for i, key in enumerate(order) if key in held]
    # Late: the pig barn's records taken during the outage went out (in batches of 5) before
    # the rice nodes' flush began; the last, partial batch may follow it.
    pig_during = [
        i
        for i, ((f, _, r), _) in enumerate(arrivals)
        if f == "pig-02" and r.ts < outage_end - timedelta(minutes=30)
    ]
    assert len(pig_during) > 100
    assert max(pig_during) < held_at[0]
    # ... each rice node's records still arrive oldest first, in batches of the edge's size.
    for node in ("rice-01-n1", "rice-01-n2"):
        seqs = [r.seq for (f, n, r), _ in arrivals if n == node]
        assert seqs == sorted(seqs)
    # Paced by the edge's token bucket: 240 records at 50/s with a burst of 50 take > 3.5 s.
    flush_times = [arrivals[i][1] for i in held_at]
    assert flush_times[-1] - flush_times[0] > 3.5


def test_paced_outage_flushes_when_the_simulated_window_ends(
    mqtt_settings: MqttSettings,
) -> None:
    scenario = parse_scenario(OUTAGE)
    run = generate_dataset(scenario)
    rows = list(run)
    held = dict(run.held)
    speed = 14 * 3600 / 2.0  # the 14 hours in about two seconds
    sub = Subscriber(mqtt_settings, scenario)
    try:
        assert sub.subscribed.wait(10)
        began = time.monotonic()
        report = ScenarioPublisher(mqtt_settings, speed=speed).publish(
            rows, sim_start=scenario.start, held=held
        )
        assert report.complete
        eventually(lambda: sub.count() == len(rows), message="every record arrives")
        with sub.lock:
            arrivals = list(zip(sub.rows, sub.record_arrival, strict=True))
    finally:
        sub.close()
    (outage_end,) = set(held.values())
    due = began + (outage_end - scenario.start).total_seconds() / speed
    late = [t for (f, n, r), t in arrivals if (f, n, r.seq) in held]
    on_time = [t for (f, n, r), t in arrivals if (f, n, r.seq) not in held]
    assert len(late) == len(held)
    # Held records arrive only once the simulated outage is over (a little slack for
    # scheduling), the others while it runs.
    assert min(late) >= due - 0.05
    assert any(t < due - 0.5 for t in on_time)
