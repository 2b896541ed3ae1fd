"""Identity has one source: the MQTT topic, which the broker's ACL ties to the node's account.

mosquitto does not tell subscribers who published a message, so ingest cannot compare the
topic with the publisher's login (docs/security.md). What it can and does guarantee is that a
payload cannot claim another identity: payload v1 has no farm or node field (keys it does not
know are ignored), and the identities other formats may carry — line protocol's
``farm``/``node`` tags, SenML's ``bn`` — are ignored too. These tests publish such claims on
pond-01's topic through the ingest validator and show every reading lands on pond-01's node,
never on the claimed one.
(The ACL itself is proven on the real broker in test_device_acl.py and test_compose_stack.py.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from farmwatch_core.registry import load_registry
from farmwatch_ingest.validation import TelemetryValidator

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "farms/pond-01/nodes/pond-01-n1/telemetry"


@pytest.fixture(scope="module")
def validator() -> TelemetryValidator:
    return TelemetryValidator(load_registry(ROOT / "deploy" / "registry.yaml"))


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_line_protocol_tags_cannot_move_a_reading_to_another_farm(
    validator: TelemetryValidator,
) -> None:
    ts_ns = int(_now().timestamp()) * 10**9
    payload = f"telemetry,farm=pig-02,node=pig-02-n1 ph=7.1,seq=3i,synced=true {ts_ns}".encode()
    checked = validator.check(TOPIC, payload, _now())
    assert checked.dead_letter is None
    assert [(r.farm_id, r.node_id) for r in checked.records] == [("pond-01", "pond-01-n1")]


def test_senml_base_name_cannot_claim_another_device(validator: TelemetryValidator) -> None:
    ts = _now().timestamp()
    payload = (
        f'[{{"bn": "farms/pig-02/nodes/pig-02-n1/", "bt": {ts}, "n": "seq", "v": 4}},'
        '{"n": "ph", "v": 7.0}]'
    ).encode()
    checked = validator.check(TOPIC, payload, _now())
    assert [(r.farm_id, r.node_id) for r in checked.records] == [("pond-01", "pond-01-n1")]


def test_a_v1_payload_naming_another_farm_stays_on_its_topics_node(
    validator: TelemetryValidator,
) -> None:
    ts = _now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    payload = (
        f'{{"v": 1, "farm": "pig-02", "node": "pig-02-n1", "ts": "{ts}", "seq": 5, '
        '"synced": true, "readings": {"ph": 7.0}}'
    ).encode()
    checked = validator.check(TOPIC, payload, _now())
    assert checked.dead_letter is None
    assert [(r.farm_id, r.node_id) for r in checked.records] == [("pond-01", "pond-01-n1")]
