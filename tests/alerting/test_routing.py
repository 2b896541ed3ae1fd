"""Matchers, the route tree (first match wins, ``continue``, inheritance, ``group_by``) and the
routing config's errors, table-driven over inline YAML."""

from __future__ import annotations

import re
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from alerting.timeline import Script, config, run_yaml
from farmwatch_alerting.inhibit import DEFAULT_INHIBIT_RULES
from farmwatch_alerting.matchers import Matcher, MatcherError, MatchType, parse_matchers
from farmwatch_alerting.routing import Route
from farmwatch_alerting.routing_config import AlertingConfigError
from hypothesis import given
from hypothesis import strategies as st

# --------------------------------------------------------------------------------------------
# Matchers

LABELS = {"alertname": "DoLow", "farm": "pond-01", "severity": "critical", "node": "pond-01-n1"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ('severity="critical"', True),
        ("severity=critical", True),
        ('severity = "critical"', True),
        ('severity!="critical"', False),
        ('severity="warning"', False),
        ('farm=~"pond-.*"', True),
        ('farm=~"pond"', False),  # regexes are fully anchored, as in Alertmanager
        ('farm=~"pond-0[12]|barn-01"', True),
        ('farm!~"pond-.*"', False),
        ('farm!~"barn-.*"', True),
        ('cooperative=""', True),  # a missing label reads as empty
        ('cooperative!=""', False),
        ('cooperative=~".*"', True),
        ('cooperative=~".+"', False),
        ('alertname="Do\\"Low"', False),
    ],
)
def test_matcher_semantics(text: str, matches: bool) -> None:
    assert Matcher.parse(text).matches(LABELS) is matches


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("severity", "is not a matcher"),
        ('1farm="x"', "is not a matcher"),
        ('farm=~"(pond"', "bad regex"),
        ('farm="pond', "unterminated"),
        ('farm=po"nd', "double quote"),
        ('farm="a"b"', "unescaped double quote"),
        ('farm=="x"', "bare value cannot contain a double quote"),
    ],
)
def test_matcher_errors(text: str, problem: str) -> None:
    with pytest.raises(MatcherError, match=problem):
        Matcher.parse(text)


def test_matcher_parts() -> None:
    m = Matcher.parse('farm !~ "pond-\\\\d+"')
    assert (m.name, m.type, m.value) == ("farm", MatchType.NOT_REGEX, "pond-\\d+")
    assert parse_matchers(["a=b", 'c!="d"']) == (
        Matcher("a", MatchType.EQUAL, "b"),
        Matcher("c", MatchType.NOT_EQUAL, "d"),
    )


@given(
    name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
    op=st.sampled_from(["=", "!="]),
    value=st.text(max_size=20),
)
def test_matcher_round_trips_through_its_string(name: str, op: str, value: str) -> None:
    m = Matcher(name, MatchType(op), value)
    again = Matcher.parse(str(m))
    assert again == m
    assert again.matches({name: value}) is (op == "=")


# --------------------------------------------------------------------------------------------
# The tree

TREE = """
receivers: [{name: farmer}, {name: phone}, {name: ponds}, {name: barns}, {name: tech},
            {name: coop-a}]
route:
  receiver: farmer
  group_by: [farm, alertname]
  group_wait: 1m
  routes:
    - matchers: ['severity="critical"']
      receiver: phone
      continue: true
      group_wait: 0s
    - matchers: ['farm=~"pond-.*"']
      receiver: ponds
      group_interval: 10m
      routes:
        - matchers: ['alertname="SensorFault"']
          receiver: tech
          group_by: ['...']
        - matchers: ['cooperative="coop-a"']
    - matchers: ['farm=~"pond-.*"']
      receiver: coop-a
    - matchers: ['farm=~"barn-.*"']
      receiver: barns
      group_by: []
"""


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        # No child matches: the root takes it.
        ({"alertname": "Thi", "farm": "lychee-01", "severity": "warning"}, ["farmer"]),
        # First match wins: the second pond route never sees it.
        ({"alertname": "DoLow", "farm": "pond-01", "severity": "warning"}, ["ponds"]),
        # continue: the critical route *and* the next matching sibling.
        ({"alertname": "DoLow", "farm": "pond-01", "severity": "critical"}, ["phone", "ponds"]),
        ({"alertname": "Nh3", "farm": "barn-02", "severity": "critical"}, ["phone", "barns"]),
        # A child took it (even with continue): the parent does not, as in Alertmanager.
        ({"alertname": "Thi", "farm": "lychee-01", "severity": "critical"}, ["phone"]),
        # Depth first; a child without a receiver inherits its parent's.
        ({"alertname": "SensorFault", "farm": "pond-02", "severity": "info"}, ["tech"]),
        (
            {"alertname": "DoLow", "farm": "pond-02", "severity": "info", "cooperative": "coop-a"},
            ["ponds"],
        ),
    ],
)
def test_first_match_wins_unless_continue(labels: dict[str, str], receivers: list[str]) -> None:
    root = Route.build(config(TREE).route)
    assert [r.receiver for r in root.match(labels)] == receivers


def test_children_inherit_what_they_leave_out() -> None:
    root = Route.build(config(TREE).route)
    phone, ponds, _, barns = root.routes
    sensor, coop = ponds.routes
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (
        timedelta(minutes=1),
        timedelta(minutes=5),  # Alertmanager's defaults where nobody says
        timedelta(hours=4),
    )
    assert (phone.group_wait, phone.group_interval, phone.group_by) == (
        timedelta(0),
        timedelta(minutes=5),
        ("alertname", "farm"),
    )
    assert (coop.receiver, coop.group_wait, coop.group_interval, coop.group_by) == (
        "ponds",
        timedelta(minutes=1),
        timedelta(minutes=10),
        ("alertname", "farm"),
    )
    assert (sensor.group_by, barns.group_by) == (("...",), ())


@pytest.mark.parametrize(
    ("labels", "key"),
    [
        (
            {"alertname": "DoLow", "farm": "pond-01", "node": "n1", "severity": "warning"},
            '{}/{farm=~"pond-.*"}/1:{alertname="DoLow",farm="pond-01"}',
        ),
        (
            {"alertname": "SensorFault", "farm": "pond-01", "node": "n1", "severity": "info"},
            '{}/{farm=~"pond-.*"}/1/{alertname="SensorFault"}:'
            '{alertname="SensorFault",farm="pond-01",node="n1",severity="info"}',
        ),
        ({"alertname": "Nh3", "farm": "barn-01", "severity": "info"}, '{}/{farm=~"barn-.*"}:{}'),
        ({"alertname": "Thi", "severity": "info"}, '{}:{alertname="Thi"}'),  # farm missing
    ],
)
def test_group_keys(labels: dict[str, str], key: str) -> None:
    root = Route.build(config(TREE).route)
    [route] = root.match(labels)
    assert route.group_key(labels) == key


@pytest.mark.parametrize(
    ("group_by", "notices"),
    [
        # One group per farm: both nodes' alerts in one notice.
        ("[farm]", [(0.5, "farmer", "new", ["DoLow/n1", "DoLow/n2", "PhHigh/n1"])]),
        (
            "[farm, alertname]",
            [
                (0.5, "farmer", "new", ["DoLow/n1", "DoLow/n2"]),
                (0.5, "farmer", "new", ["PhHigh/n1"]),
            ],
        ),
        (
            "['...']",  # every label: one notice per alert
            [
                (0.5, "farmer", "new", ["DoLow/n1"]),
                (0.5, "farmer", "new", ["DoLow/n2"]),
                (0.5, "farmer", "new", ["PhHigh/n1"]),
            ],
        ),
        ("[]", [(0.5, "farmer", "new", ["DoLow/n1", "DoLow/n2", "PhHigh/n1"])]),
    ],
)
def test_group_by(group_by: str, notices: list[object]) -> None:
    script = Script()
    script.fire(0, "DoLow", farm="pond-01", node="n1")
    script.fire(0, "DoLow", farm="pond-01", node="n2")
    script.fire(0, "PhHigh", farm="pond-01", node="n1")
    text = f"""
    receivers: [{{name: farmer}}]
    route: {{receiver: farmer, group_by: {group_by}, group_wait: 30s}}
    """
    assert run_yaml(text, script, until=2) == notices


def test_continue_sends_to_both_receivers() -> None:
    script = Script()
    script.fire(0, "DoLow", "critical", farm="pond-01", node="n1")
    script.fire(0, "PhHigh", "warning", farm="pond-01", node="n1")
    rows = run_yaml(TREE, script, until=2)
    assert rows == [
        (0.0, "phone", "new", ["DoLow/n1"]),  # group_wait 0s on the critical route
        (1.0, "ponds", "new", ["DoLow/n1"]),
        (1.0, "ponds", "new", ["PhHigh/n1"]),
    ]


# --------------------------------------------------------------------------------------------
# Config errors: where, and what


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "receivers: [{name: a}]\nroute: {receiver: a, routes: [{}, {group_wait: soon}]}",
            "route.routes[1].group_wait: 'soon' is not a duration",
        ),
        (
            "receivers: [{name: a}]\nroute: {receiver: a, group_wiat: 30s}",
            "route.group_wiat: Extra inputs are not permitted",
        ),
        (
            "receivers: [{name: a}]\nroute: {receiver: a, routes: [{receiver: b}]}",
            "route.routes[0].receiver: unknown receiver 'b' (receivers: a)",
        ),
        (
            "receivers: [{name: a}]\nroute: {routes: [{receiver: a}]}",
            "route.receiver: the root route needs a receiver",
        ),
        (
            "receivers: [{name: a}]\nroute: {receiver: a, matchers: ['farm=x']}",
            "route.matchers: the root route matches every alert",
        ),
        (
            "receivers: [{name: a}]\n"
            "route: {receiver: a, routes: [{matchers: ['farm=x', 'node=~\"(\"']}]}",
            'route.routes[0].matchers[1]: node=~"(": bad regex',
        ),
        (
            "receivers: [{name: a}, {name: a}]\nroute: {receiver: a}",
            "receivers[1].name: duplicate receiver 'a'",
        ),
        (
            "receivers: [{name: a, escalate_to: b, escalate_after: 5m}]\nroute: {receiver: a}",
            "receivers[0].escalate_to: unknown receiver 'b'",
        ),
        (
            "receivers: [{name: a, escalate_to: a}]\nroute: {receiver: a}",
            "receivers[0]: escalate_to and escalate_after go together",
        ),
        (
            "receivers:\n"
            "  - {name: a, escalate_to: b, escalate_after: 5m}\n"
            "  - {name: b, escalate_to: a, escalate_after: 5m}\n"
            "route: {receiver: a}",
            "escalation loops: a → b → a",
        ),
        (
            "receivers: [{name: a, language: fr}]\nroute: {receiver: a}",
            "receivers[0].language: Input should be 'vi' or 'en'",
        ),
        (
            "receivers: [{name: a, quiet_hours: {time_zone: Asia/Hanoi_City, ranges: []}}]\n"
            "route: {receiver: a}",
            "receivers[0].quiet_hours.time_zone: 'Asia/Hanoi_City' is not an IANA time zone",
        ),
        (
            "receivers: [{name: a, quiet_hours: {ranges: ['21:00-05:30', '25:00-06:00']}}]\n"
            "route: {receiver: a}",
            "receivers[0].quiet_hours.ranges[1]: '25:00-06:00'",
        ),
        (
            "receivers: [{name: a, contacts: [{channel: zalo}]}]\nroute: {receiver: a}",
            "receivers[0].contacts[0].to: Field required",
        ),
        (
            "receivers: [{name: a}]\nroute: {receiver: a, group_by: ['...', farm]}",
            "route.group_by: '...'",
        ),
        (
            "receivers: [{name: a}]\nroute: {receiver: a, group_interval: 0s}",
            "route.group_interval: must be longer than 0s",
        ),
        (
            "receivers: [{name: a}]\nroute: {receiver: a}\n"
            "inhibit_rules: [{source_matchers: [], target_matchers: ['a=b']}]",
            "inhibit_rules[0].source_matchers: needs at least one matcher",
        ),
        ("receivers: [{name: a}]\nroute: {receiver: a", "not valid YAML"),
    ],
)
def test_config_errors_say_where(text: str, problem: str) -> None:
    with pytest.raises(AlertingConfigError) as caught:
        config(text)
    assert problem in str(caught.value)


def test_config_error_can_be_placed_inside_a_bigger_file() -> None:
    from farmwatch_alerting.routing_config import RoutingConfig

    with pytest.raises(AlertingConfigError, match=r"^alerting\.route\.routes\[0\]\.receiver: "):
        RoutingConfig.from_mapping(
            {
                "receivers": [{"name": "a"}],
                "route": {"receiver": "a", "routes": [{"receiver": "x"}]},
            },
            where="alerting",
        )


# --------------------------------------------------------------------------------------------
# The documentation's examples


def routing_section() -> str:
    text = (Path(__file__).parents[2] / "docs" / "alerting.md").read_text(encoding="utf-8")
    start = text.index("## Routing")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_the_documented_config_loads_and_routes_as_described() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", routing_section(), re.DOTALL)
    full = config(blocks[0])
    root = Route.build(full.route)
    cases = {
        ("SensorFault", "pond-01", "warning"): ["technician-binh", "farmer-an"],
        ("SensorFault", "barn-01", "warning"): ["technician-binh", "barn-team"],
        ("DoLow", "pond-01", "critical"): ["farmer-an"],
        ("Thi", "barn-01", "warning"): ["barn-team"],
    }
    for (name, farm, severity), receivers in cases.items():
        labels = {"alertname": name, "farm": farm, "severity": severity}
        assert [r.receiver for r in root.match(labels)] == receivers
    assert root.routes[1].group_wait == timedelta(0)
    receivers_only = blocks[0].split("route:")[0] + "route: {receiver: farmer-an}\n"
    with_rules = config(receivers_only + "inhibit_rules:\n" + blocks[1].split("\n", 1)[1])
    assert len(with_rules.inhibit()) == 1
    defaults = config(receivers_only + "inhibit_rules:\n" + textwrap.indent(blocks[2], "  "))
    assert defaults.inhibit() == DEFAULT_INHIBIT_RULES
