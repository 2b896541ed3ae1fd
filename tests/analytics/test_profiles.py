"""The shipped model profiles agree with the registry, the simulators and the contract."""

from __future__ import annotations

import itertools

import pytest
from farmwatch_analytics.model_profiles import (
    ModelProfile,
    ProfileError,
    Severity,
    load_profile,
    parse_profile,
    profile_for_model,
    profile_names,
)
from farmwatch_core.registry import ModelType
from farmwatch_simulators.models import MODEL_CLASSES


def test_every_model_type_has_exactly_one_profile() -> None:
    profiles = [load_profile(name) for name in profile_names()]
    assert sorted(p.model.value for p in profiles) == sorted(m.value for m in ModelType)
    for model in ModelType:
        assert profile_for_model(model).model is model


@pytest.mark.parametrize("name", profile_names())
def test_simulated_nodes_report_what_their_profile_expects(name: str) -> None:
    """A profile that expects a sensor the simulated node lacks could never be evaluated."""
    profile = load_profile(name)
    for node_profile in profile.node_profiles:
        reported = set(MODEL_CLASSES[node_profile].quantities)
        assert set(profile.sensors) <= reported, (node_profile, set(profile.sensors) - reported)


@pytest.mark.parametrize("name", profile_names())
def test_limits_escalate_in_severity_as_they_tighten(name: str) -> None:
    """A critical band sits outside the warning band on its side, or it could never fire first."""
    profile = load_profile(name)
    order = list(Severity)
    for subject, limits in profile.limits.items():
        ranked = sorted(limits, key=lambda limit: order.index(limit.severity))
        for milder, harsher in itertools.pairwise(ranked):
            if milder.below is not None and harsher.below is not None:
                assert harsher.below <= milder.below, subject
            if milder.above is not None and harsher.above is not None:
                assert harsher.above >= milder.above, subject


def test_a_pond_at_dawn_gets_the_right_severity() -> None:
    pond = load_profile("aquaculture_pond")
    assert pond.limit_for("dissolved_oxygen", 5.0) is None
    warning = pond.limit_for("dissolved_oxygen", 3.5)
    critical = pond.limit_for("dissolved_oxygen", 2.0)
    assert warning is not None
    assert warning.severity is Severity.WARNING
    assert critical is not None
    assert critical.severity is Severity.CRITICAL
    assert "TCVN 13952" in warning.source


def test_overrides_merge_and_are_validated() -> None:
    barn = load_profile("pig_barn")
    custom = barn.with_overrides({"parameters": {"water_use_drop_fraction": 0.2}})
    assert custom.parameters["water_use_drop_fraction"] == 0.2
    assert custom.parameters["thi_species"] == "pig"  # untouched keys survive
    assert custom.limits == barn.limits
    with pytest.raises(ProfileError, match="unknown detector 'crystal_ball'"):
        barn.with_overrides({"detectors": ["range", "crystal_ball"]})
    with pytest.raises(ProfileError, match=r"limits\.nh3"):
        barn.with_overrides({"limits": {"nh3": [{"severity": "warning", "source": "vet"}]}})
    with pytest.raises(ProfileError, match="name or model"):
        barn.with_overrides({"model": "greenhouse"})


def test_bad_profile_files_say_where() -> None:
    text = """
name: x
model: vineyard
title: {vi: a, en: b}
node_profiles: []
sensors: [soil_moisture, moonlight]
"""
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "x.yaml")
    assert "x.yaml" in str(caught.value)
    assert "model" in str(caught.value)
    with pytest.raises(ProfileError, match="no profile 'vineyard'"):
        load_profile("vineyard")
    assert isinstance(load_profile("greenhouse"), ModelProfile)
