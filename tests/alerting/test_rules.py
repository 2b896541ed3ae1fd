"""Rules files: what is accepted, what is refused (with the place and reason), and defaults."""

from __future__ import annotations

from datetime import timedelta

import pytest
from farmwatch_alerting.rules import RulesError, ThresholdRule, load_rules
from farmwatch_analytics.model_profiles import load_profile


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rules: [{name: X, kind: threshold, subject: ph}]", "exactly one of below or above"),
        ("rules: [{name: X, kind: threshold, subject: fish_mood, below: 1}]", "fish_mood"),
        ("rules: [{name: X, kind: threshold, subject: ph, below: 6, for: 5 minutes}]", "30s, 5m"),
        (
            "rules: [{name: X, kind: threshold, subject: ph, below: 6, clear_above: 5}]",
            "clear_above",
        ),
        ("rules: [{name: X, kind: weather}]", "rules[0]"),
        ("rules: [{name: 'bad name', kind: absence}]", "letters, digits"),
        ("rules: [{name: X, kind: absence, severity: urgent}]", "severity"),
        ("rules: [{name: X, kind: absence, scope: {profiles: [fish_farm]}}]", "fish_farm"),
        ("rules: [{name: X, kind: rate_of_change, subject: ph}]", "rise, fall or both"),
        ("rules: [{name: X, kind: anomaly, subject: ph}]", "not an anomaly score"),
        ("rules: [{name: X, kind: absence}, {name: X, kind: absence}]", "repeated: ['X']"),
        ("rules: [{name: X, kind: absence, colour: red}]", "colour"),
        ("rules: {name: X}", "rules"),
        ("rules: [unclosed", "not valid YAML"),
    ],
)
def test_invalid_rules_are_refused_with_where_and_why(text: str, problem: str) -> None:
    with pytest.raises(RulesError, match="rules") as caught:
        load_rules(text=text)
    assert problem in str(caught.value)


def test_a_valid_file_reads_durations_hysteresis_and_actions() -> None:
    rules = load_rules(
        text="""
profile_defaults: true
rules:
  - name: DissolvedOxygenLowCritical     # replaces the profile's default of that name
    kind: threshold
    subject: dissolved_oxygen
    below: 3.0
    clear_above: 3.5
    for: 2m
    severity: critical
    scope: {profiles: [aquaculture_pond]}
    action: {vi: "Bật máy sục khí ao", en: "Turn the pond aerator on"}
  - {name: NodeOffline, kind: absence, after: 20m}
  - {name: PondWarming, kind: rate_of_change, subject: water_temperature, window: 1h, rise: 3}
  - {name: HeatStress, kind: band, subject: thi_band, at_least: 2}
  - {name: Strange, kind: anomaly, subject: anomaly_node, above: 0.999, for: 2h}
  - {name: Analytics, kind: candidate, kinds: [forecast, offline]}
"""
    )
    pond = rules.for_profile(load_profile("aquaculture_pond"))
    do = [r for r in pond if r.name == "DissolvedOxygenLowCritical"]
    assert len(do) == 1  # the file's rule replaced the default, not added to it
    assert isinstance(do[0], ThresholdRule)
    assert (do[0].below, do[0].clear_above, do[0].for_) == (3.0, 3.5, timedelta(minutes=2))
    assert do[0].action is not None
    assert do[0].action.vi == "Bật máy sục khí ao"
    assert "DissolvedOxygenLowWarning" in {r.name for r in pond}  # other defaults stay
    barn = {r.name for r in rules.for_profile(load_profile("pig_barn"))}
    assert "ThiPigHighCritical" in barn
    assert "DissolvedOxygenLowWarning" not in barn


def test_without_profile_defaults_only_the_file_counts() -> None:
    rules = load_rules(text="profile_defaults: false\nrules: [{name: Silent, kind: absence}]")
    assert [r.name for r in rules.for_profile(load_profile("aquaculture_pond"))] == ["Silent"]


def test_every_profile_limit_becomes_a_rule_that_clears_back_inside_the_limit() -> None:
    for name in ("aquaculture_pond", "pig_barn", "poultry_house", "greenhouse"):
        profile = load_profile(name)
        for rule in load_rules(text="").for_profile(profile):
            assert isinstance(rule, ThresholdRule)
            assert rule.source, rule.name  # every default says who set the limit
            if rule.below is not None:
                assert rule.clear_above is not None
                assert rule.clear_above > rule.below
            else:
                assert rule.clear_below is not None
                assert rule.above is not None
                assert rule.clear_below < rule.above
