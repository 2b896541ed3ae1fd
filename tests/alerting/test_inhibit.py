"""Inhibition: a node offline mutes that node's sensor alerts; critical mutes warning of the same
thing; the rules' edge cases, table-driven over inline YAML."""

from __future__ import annotations

import pytest
from alerting.timeline import Event, Row, at, config, parse_who, run_yaml, scripted
from farmwatch_alerting.alert import Alert, Severity
from farmwatch_alerting.inhibit import DEFAULT_INHIBIT_RULES, Inhibitor, InhibitRule

RECEIVER = "receivers: [{name: farmer}]\nroute: {receiver: farmer, group_wait: 0s}\n"


def alerts(*specs: str) -> list[Alert]:
    """``"DoLow/n1#dissolved_oxygen:critical"`` → a firing alert (``~`` prefix: resolved)."""
    out = []
    for spec in specs:
        who, _, severity = spec.partition(":")
        resolved = who.startswith("~")
        name, labels = parse_who(who.lstrip("~"))
        alert = Alert.new({"alertname": name, **labels}, Severity(severity or "warning"), at(0))
        alert = alert.fire(at(0))
        out.append(alert.resolve(at(1)) if resolved else alert)
    return out


def muted_names(rules: tuple[InhibitRule, ...], batch: list[Alert]) -> list[str]:
    muted = Inhibitor(rules).muted(batch)
    return sorted(
        f"{a.name}/{a.labels.get('node', '')}:{a.severity.value}"
        for a in batch
        if a.fingerprint in muted
    )


@pytest.mark.parametrize(
    ("batch", "muted"),
    [
        pytest.param(
            ["NodeOffline/n1", "DoLow/n1#do:critical", "PhHigh/n1#ph", "DoLow/n2#do"],
            ["DoLow/n1:critical", "PhHigh/n1:warning"],
            id="node offline mutes that node's sensor alerts, not the neighbour's",
        ),
        pytest.param(
            ["NodeOffline/n1@pond-01", "DoLow/n1@pond-02#do"],
            [],
            id="same node id on another farm is another node",
        ),
        pytest.param(
            ["~NodeOffline/n1", "DoLow/n1#do"],
            [],
            id="a resolved source inhibits nothing",
        ),
        pytest.param(
            ["GatewayOffline/gw1", "NodeOffline/gw1", "Nh3High/gw1#nh3"],
            ["Nh3High/gw1:warning"],
            id="offline alerts never mute each other",
        ),
        pytest.param(
            ["DoLow/n1#do:critical", "DoLow/n1#do:warning", "DoLow/n1#do:info", "DoLow/n2#do"],
            ["DoLow/n1:info", "DoLow/n1:warning"],
            id="critical mutes warning and info of the same thing",
        ),
        pytest.param(
            ["DoLow/n1#do:critical", "PhHigh/n1#ph"],
            [],
            id="another quantity is another thing",
        ),
        pytest.param(
            ["NodeOffline/n1:critical", "NodeOffline/n2:warning", "Nh3High/n2#nh3:critical"],
            ["Nh3High/n2:critical"],
            id="alerts without a quantity take no part in the severity rule",
        ),
    ],
)
def test_default_rules(batch: list[str], muted: list[str]) -> None:
    assert muted_names(DEFAULT_INHIBIT_RULES, alerts(*batch)) == muted


@pytest.mark.parametrize(
    ("rules", "batch", "muted"),
    [
        pytest.param(
            """
            - source_matchers: ['alertname="PumpOff"']
              target_matchers: ['quantity=~"do|temperature"']
              equal: [farm]
            """,
            ["PumpOff/p1", "DoLow/n1#do", "TempHigh/n2#temperature", "PhHigh/n1#ph"],
            ["DoLow/n1:warning", "TempHigh/n2:warning"],
            id="equal on farm only: the whole farm",
        ),
        pytest.param(
            """
            - source_matchers: ['alertname="PumpOff"']
              target_matchers: ['quantity="do"']
              equal: [cooperative]
            """,
            ["PumpOff/p1", "DoLow/n1#do"],
            ["DoLow/n1:warning"],
            id="a label missing on both sides counts as equal",
        ),
        pytest.param(
            """
            - source_matchers: ['severity="critical"']
              target_matchers: ['severity=~"critical|warning"']
              equal: [node]
            """,
            ["DoLow/n1:critical", "PhHigh/n1:critical", "TempHigh/n1:warning"],
            ["TempHigh/n1:warning"],
            id="an alert matching both sides is not muted by one that does too",
        ),
        pytest.param("[]", ["NodeOffline/n1", "DoLow/n1#do"], [], id="no rules: nothing muted"),
    ],
)
def test_rules_from_yaml(rules: str, batch: list[str], muted: list[str]) -> None:
    import textwrap

    cfg = config(RECEIVER + "inhibit_rules:\n" + textwrap.indent(textwrap.dedent(rules), "  "))
    assert muted_names(cfg.inhibit(), alerts(*batch)) == muted


def test_defaults_apply_when_the_config_names_no_rules() -> None:
    assert config(RECEIVER).inhibit() == DEFAULT_INHIBIT_RULES


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [
                (0, "fire", "NodeOffline/n1"),
                (0, "fire", "DoLow/n1#do", "critical"),
                (0, "fire", "PhHigh/n2#ph"),
            ],
            [(0.0, "farmer", "new", ["NodeOffline/n1", "PhHigh/n2"])],
            id="the farmer hears the node is offline, not its stale readings",
        ),
        pytest.param(
            [
                (0, "fire", "DoLow/n1#do", "critical"),
                (2, "fire", "NodeOffline/n1"),
                (13, "resolve", "NodeOffline/n1"),
            ],
            [
                (0.0, "farmer", "new", ["DoLow/n1"]),
                (5.0, "farmer", "update", ["NodeOffline/n1"]),  # DoLow muted, not "ended"
                (15.0, "farmer", "update", ["DoLow/n1", "NodeOffline/n1"]),  # offline ended
            ],
            id="muted after being told: not reported as gone, nor as new when unmuted",
        ),
    ],
)
def test_inhibition_in_the_pipeline(events: list[Event], expected: list[Row]) -> None:
    assert run_yaml(RECEIVER, scripted(events), until=20, step_s=60) == expected
