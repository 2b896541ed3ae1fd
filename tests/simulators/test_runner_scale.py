"""The live runner keeps thousands of nodes on schedule in one process, losing nothing.

Against the session's real mosquitto (tests/conftest.py). The bounds are deliberately loose
(the machine is shared and small): the test proves no loss and no runaway lag, not speed —
bench/simulate.py measures that.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from farmwatch_core.contract import NodeTopic, decode_telemetry
from farmwatch_core.settings import MqttSettings
from farmwatch_simulators.runner import PublishedRecord, SimulatorRunner
from farmwatch_simulators.scenario import build_deployment
from support.recorder import Recorder

pytestmark = pytest.mark.mosquitto

NODES = 2000
INTERVAL_S = 2.0
COUNT = 3


def received_triples(recorder: Recorder, prefix: str) -> list[PublishedRecord]:
    """(farm, node, seq) of every telemetry record that reached the broker (decoded now)."""
    now = datetime.now(UTC)
    found = []
    for message in recorder.received("/telemetry"):
        topic = NodeTopic.parse(message.topic, prefix)
        decoded = decode_telemetry(message.payload, now=now)
        assert decoded.rejections == [], decoded.rejections
        found += [PublishedRecord(topic.farm_id, topic.node_id, r.seq) for r in decoded.records]
    return found


def test_two_thousand_nodes_keep_their_schedule_and_lose_nothing(
    mqtt_settings: MqttSettings,
) -> None:
    deployment = build_deployment(NODES, seed=5, nodes_per_farm=1)
    runner = SimulatorRunner(
        mqtt_settings,
        deployment,
        interval_s=INTERVAL_S,
        count=COUNT,
        seed=5,
        ack_timeout_s=60.0,
    )
    assert runner.node_count == NODES
    prefix = mqtt_settings.topic_prefix
    with Recorder(mqtt_settings, [f"{prefix}/farms/+/nodes/+/telemetry"]) as counter:
        warm = runner.warm_up()  # the spin-up happens here, before the clock starts
        began = time.monotonic()
        runner.start()
        runner.join(120)
        elapsed = time.monotonic() - began
        deadline = time.monotonic() + 30
        while len(counter.received()) < NODES * COUNT and time.monotonic() < deadline:
            time.sleep(0.05)

    expected = NODES * COUNT
    assert runner.warm_up() == 0.0  # idempotent: run() did not spin the models up again
    assert runner.published == runner.acknowledged == expected
    assert runner.unacknowledged == 0
    assert runner.skipped == 0
    published = runner.published_records()
    assert len(set(published)) == expected
    received = received_triples(counter, prefix)
    assert sorted(received) == sorted(published)  # each record once, none missing
    per_node: dict[tuple[str, str], list[int]] = {}
    for record in received:
        per_node.setdefault((record.farm_id, record.node_id), []).append(record.seq)
    assert len(per_node) == NODES
    assert all(sorted(seqs) == list(range(1, COUNT + 1)) for seqs in per_node.values())

    # The schedule: COUNT intervals, phases spread over the first; generous bounds for a
    # loaded 2-core machine. Without the warm-up the first pass alone would spin up 2000
    # models inside one interval and fall seconds behind.
    p99 = runner.lag_behind_schedule(0.99)
    assert p99 is not None
    assert p99 < INTERVAL_S / 2, f"p99 lag {p99:.3f} s (warm-up took {warm:.1f} s)"
    assert runner.restarted == 0
    assert elapsed < COUNT * INTERVAL_S + 30
