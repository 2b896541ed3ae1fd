"""Smart-farm model profiles: what each model type measures, computes, limits and checks.

A profile is a configuration bundle (YAML in ``profiles/``, shipped with the package) for one of
the plan's model types: the sensors a node of that farm should have, the indicators computed
from them, the limits (each with the standard or paper it comes from), and which detectors
apply. Farms are assigned a profile by their model type; a farm may override any part of it
(a striped-catfish pond lives with 2 mg/L DO, a cooperative's vet may set its own THI bands).
Data, not code, so an extension officer can read and change it without a release.

    >>> pond = load_profile("aquaculture_pond")
    >>> [limit.below for limit in pond.limits["dissolved_oxygen"]]
    [4.0, 2.3]
    >>> catfish = pond.with_overrides({
    ...     "parameters": {"species": "striped_catfish", "do_species_minimum_mg_l": 2.0},
    ...     "limits": {"dissolved_oxygen": [{"severity": "warning", "below": 2.0,
    ...                                      "source": "TCVN 13952:2024 striped catfish"}]}})
    >>> catfish.parameters["species"], catfish.limits["dissolved_oxygen"][0].below
    ('striped_catfish', 2.0)
    >>> profile_for_model("orchard").name
    'lychee_orchard'
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from importlib import resources
from typing import Annotated, Any, Self

import yaml
from farmwatch_core.contract import QUANTITIES
from farmwatch_core.contract.candidates import Severity
from farmwatch_core.contract.derived import DERIVED
from farmwatch_core.registry import ModelType
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "DETECTORS",
    "INDICATORS",
    "Limit",
    "ModelProfile",
    "ProfileError",
    "Severity",
    "load_profile",
    "profile_for_model",
    "profile_names",
]

#: Indicators a profile may list or limit, with their unit: the contract's derived values.
INDICATORS: Mapping[str, str] = {name: spec.unit for name, spec in DERIVED.items()}

#: Detector names a profile may enable (the analytics service maps them to classes).
DETECTORS = frozenset(
    {
        "range",
        "flatline",
        "spike",
        "dropout",
        "battery",
        "neighbour_drift",
        "robust_zscore",
        "daily_profile",
        "isolation_forest",
    }
)


class ProfileError(ValueError):
    """A profile file or override is invalid; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limit(_Strict):
    """A band outside which a value is a problem of ``severity``; ``source`` says who says so."""

    severity: Severity
    below: float | None = None
    above: float | None = None
    source: Annotated[str, Field(min_length=3)]

    @model_validator(mode="after")
    def _one_side_at_least(self) -> Self:
        if self.below is None and self.above is None:
            raise ValueError("a limit needs 'below', 'above' or both")
        if self.below is not None and self.above is not None and self.below >= self.above:
            raise ValueError(f"'below' ({self.below}) must be under 'above' ({self.above})")
        return self

    def breached_by(self, value: float) -> bool:
        """Whether ``value`` is outside this limit's band."""
        return (self.below is not None and value < self.below) or (
            self.above is not None and value > self.above
        )


class Title(_Strict):
    vi: str
    en: str


class ModelProfile(_Strict):
    """One model type's sensors, indicators, limits and detectors.

    ``shared_quantities`` are measured by every node of a farm in the same medium (one pond's
    water, one barn's air), so the nodes can check each other for drift.
    """

    name: str
    model: ModelType
    title: Title
    node_profiles: tuple[str, ...]
    sensors: tuple[str, ...]
    optional_sensors: tuple[str, ...] = ()
    shared_quantities: tuple[str, ...] = ()
    indicators: tuple[str, ...] = ()
    detectors: tuple[str, ...] = ()
    parameters: dict[str, Any] = Field(default_factory=dict)
    limits: dict[str, tuple[Limit, ...]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_names(self) -> Self:
        sensors = (*self.sensors, *self.optional_sensors)
        problems = [f"unknown quantity {n!r}" for n in sensors if n not in QUANTITIES]
        problems.extend(
            f"shared quantity {n!r} is not one of the profile's sensors"
            for n in self.shared_quantities
            if n not in sensors
        )
        problems.extend(f"unknown indicator {n!r}" for n in self.indicators if n not in INDICATORS)
        problems.extend(f"unknown detector {n!r}" for n in self.detectors if n not in DETECTORS)
        problems.extend(
            f"limits: {subject!r} is neither a quantity nor an indicator"
            for subject in self.limits
            if subject not in QUANTITIES and subject not in INDICATORS
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def limit_for(self, subject: str, value: float) -> Limit | None:
        """The most severe limit ``value`` breaches for a quantity or indicator, if any.

        >>> load_profile("aquaculture_pond").limit_for("dissolved_oxygen", 2.1).severity.value
        'critical'
        """
        for limit in self.limits_by_severity.get(subject, ()):
            if limit.breached_by(value):
                return limit
        return None

    @cached_property
    def limits_by_severity(self) -> dict[str, tuple[Limit, ...]]:
        """Each subject's limits, most severe first (``limit_for`` runs per reading)."""
        order = list(Severity)
        return {
            subject: tuple(sorted(limits, key=lambda limit: -order.index(limit.severity)))
            for subject, limits in self.limits.items()
        }

    def with_overrides(self, overrides: Mapping[str, Any]) -> ModelProfile:
        """This profile with a farm's overrides: mappings merge key by key, lists replace."""
        if "name" in overrides or "model" in overrides:
            raise ProfileError("an override cannot change a profile's name or model type")
        merged = _merge(self.model_dump(mode="json"), dict(overrides))
        try:
            return ModelProfile.model_validate(merged)
        except ValidationError as exc:
            raise ProfileError(f"{self.name} override: {_errors(exc)}") from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), dict(value))
        else:
            merged[key] = value
    return merged


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or '(top)'}: {error['msg']}"
        for error in exc.errors()
    )


def profile_names() -> list[str]:
    """Names of the shipped profiles."""
    folder = resources.files("farmwatch_analytics") / "profiles"
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    )


def parse_profile(text: str, source: str) -> ModelProfile:
    """A profile from YAML text; ``source`` names it in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: a profile is a mapping, got {type(data).__name__}")
    try:
        return ModelProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{source}: {_errors(exc)}") from None


def load_profile(name: str) -> ModelProfile:
    """A shipped profile by name."""
    if name not in profile_names():
        raise ProfileError(f"no profile {name!r}; shipped profiles: {', '.join(profile_names())}")
    path = resources.files("farmwatch_analytics") / "profiles" / f"{name}.yaml"
    return parse_profile(path.read_text(encoding="utf-8"), f"{name}.yaml")


def profile_for_model(model: ModelType | str) -> ModelProfile:
    """The default profile of a farm model type."""
    wanted = ModelType(model)
    for name in profile_names():
        profile = load_profile(name)
        if profile.model is wanted:
            return profile
    raise ProfileError(f"no profile for model type {wanted.value!r}")
