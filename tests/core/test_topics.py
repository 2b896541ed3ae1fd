from __future__ import annotations

import pytest
from farmwatch_core.contract import (
    Channel,
    ContractError,
    NodeTopic,
    Reason,
    TopicFilter,
    alerts_topic,
    node_topic,
    validate_id,
)
from hypothesis import given
from hypothesis import strategies as st


def test_telemetry_topic_round_trips() -> None:
    topic = node_topic("pond-01", "n1", Channel.TELEMETRY)
    assert str(topic) == "farms/pond-01/nodes/n1/telemetry"
    assert NodeTopic.parse(str(topic)) == topic


def test_prefix_and_cmd_topics() -> None:
    topic = node_topic("f", "n", Channel.CMD, actuator="aerator", prefix="coop/a/")
    assert str(topic) == "coop/a/farms/f/nodes/n/cmd/aerator"
    assert NodeTopic.parse(str(topic), prefix="coop/a") == topic
    assert alerts_topic("f", prefix="coop") == "coop/farms/f/alerts"


@pytest.mark.parametrize(
    "bad",
    ["", "a/b", "a+b", "a#", "$SYS", " a", "-lead", "x" * 65, "dấu"],
)
def test_ids_reject_wildcards_separators_and_length(bad: str) -> None:
    with pytest.raises(ContractError) as info:
        validate_id("node", bad)
    assert info.value.reason is Reason.BAD_ID


@pytest.mark.parametrize(
    "topic",
    [
        "farms/f/nodes/n",
        "farms/f/nodes/n/telemetry/extra",
        "farm/f/nodes/n/telemetry",
        "farms/f/node/n/telemetry",
        "farms/f/nodes/n/weather",
        "farms/f/nodes/n/cmd",
        "farms/f/nodes/n/status/x",
        "farms/f+/nodes/n/telemetry",
        "other/farms/f/nodes/n/telemetry",
    ],
)
def test_bad_topics_say_why(topic: str) -> None:
    with pytest.raises(ContractError) as info:
        NodeTopic.parse(topic)
    assert info.value.reason in {Reason.BAD_TOPIC, Reason.BAD_ID}
    assert info.value.rejection.detail


def test_filters_and_shared_subscription() -> None:
    f = TopicFilter(Channel.TELEMETRY, prefix="p")
    assert str(f) == "p/farms/+/nodes/+/telemetry"
    assert f.shared("ingest") == "$share/ingest/p/farms/+/nodes/+/telemetry"
    assert f.matches(NodeTopic.parse("p/farms/a/nodes/b/telemetry", "p"))
    assert not f.matches(NodeTopic.parse("p/farms/a/nodes/b/status", "p"))
    assert str(TopicFilter(Channel.CMD, farm_id="a", node_id="b")) == "farms/a/nodes/b/cmd/+"


@given(st.text(max_size=80))
def test_parse_never_crashes(topic: str) -> None:
    try:
        parsed = NodeTopic.parse(topic)
    except ContractError:
        return
    assert str(parsed) == topic
