"""Alert rules: what counts as a problem, from a YAML file per deployment plus profile defaults.

Six kinds, one pydantic model each (a discriminated union on ``kind``):

``threshold``
    A reading or derived value beyond ``below``/``above`` for at least ``for``; it clears only
    past a separate level (``clear_below``/``clear_above``: hysteresis), so a DO hovering at
    the limit does not fire and resolve every five minutes.
``rate_of_change``
    The change over ``window`` beyond ``rise``/``fall`` (units of the quantity per window): a
    pond warming 3 °C in an hour, a water tank emptying.
``absence``
    No telemetry from a node for ``after``.
``band``
    A banded indicator (``thi_band``, ``cold_band``, ``heat_band``) at ``at_least`` or worse.
``anomaly``
    A detector's anomaly score (``anomaly_node``, ``anomaly_{quantity}``) at ``above`` or more.
``candidate``
    What analytics concluded (forecasts, sensor faults, offline nodes, anomaly episodes): its
    ``firing``/``resolved`` candidates become alerts as they come.

Every rule has a ``severity``, an optional ``scope`` (profiles, farms, nodes it applies to) and
an optional ``action`` in Vietnamese and English ("Bật máy sục khí", "Turn the aerator on"):
the message tells the farmer what to do, not only what is wrong.

The model profiles provide the defaults (:func:`profile_rules`): each limit of a farm's
profile (TCVN 13952:2024 for ponds, LWSI for barns...) becomes a threshold rule with the limit's
severity and source, a clearing margin and a minimum duration, so a deployment gets sensible
alerts with an empty rules file, and a rule in the file with the same name replaces the
default. Invalid files are rejected at start-up with the place and reason of every problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import yaml
from farmwatch_analytics.model_profiles import ModelProfile, profile_names
from farmwatch_core.contract import QUANTITIES
from farmwatch_core.contract.candidates import CandidateKind, Severity
from farmwatch_core.contract.derived import DERIVED
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from farmwatch_alerting.durations import Duration

__all__ = [
    "AbsenceRule",
    "AnomalyRule",
    "BandRule",
    "CandidateRule",
    "RateRule",
    "Rule",
    "RuleSet",
    "RulesError",
    "Scope",
    "ThresholdRule",
    "load_rules",
    "profile_rules",
    "rules_from_mapping",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# How far back past a profile limit a value must come before a default rule resolves: about
# twice a field probe's noise or resolution, so a reading wobbling around the limit stays one
# alert (DO 2.29, 2.31, 2.28 at a 2.3 limit), but not so far that a pond back to normal stays
# "in alarm". Subjects not listed use CLEAR_SHARE of the limit's size.
HYSTERESIS: Mapping[str, float] = {
    "dissolved_oxygen": 0.3,  # mg/L; galvanic/optical probes ±0.1-0.2
    "water_temperature": 0.5,  # °C
    "air_temperature": 0.5,
    "soil_temperature": 0.5,
    "ph": 0.2,
    "relative_humidity": 3.0,  # %; capacitive sensors ±2-3 %
    "nh3": 2.0,  # ppm; electrochemical cells ±1-2 ppm
    "co2": 100.0,  # ppm; NDIR ±50 ppm
    "thi_pig": 0.5,
    "thi_poultry": 0.5,
    "thi_cattle": 1.0,  # °F-based scale
    "vpd": 0.1,  # kPa
    "soil_moisture": 2.0,  # % vol
    "ph_daily_swing": 0.2,
    # Clean-water stations and effluent stations (probe accuracy per typical datasheets).
    "free_chlorine": 0.05,  # mg/L; DPD-calibrated amperometric probes ±0.02-0.05
    "turbidity": 0.3,  # NTU; nephelometric probes ±2 % or 0.1-0.2 NTU near 2 NTU
    "tank_level": 2.0,  # %; ultrasonic level ±1 % of span and ripples
    "pump_failure": 0.5,  # 0/1 flags: back to 0 clears
    "tank_running_dry": 0.5,
    "ammonium": 5.0,  # mg/L; ISE probes ±5-10 %
    "cod": 20.0,  # mg/L; UV254 proxies ±5 %
    "total_suspended_solids": 10.0,
    "h2s": 1.0,  # ppm; electrochemical cells ±0.5-1 ppm
}
CLEAR_SHARE = 0.10
# Minimum duration of default rules: critical limits fire at once (a DO crash kills in an
# hour); warnings must hold for 10 minutes (one 5-minute reading is not yet a trend).
DEFAULT_FOR = {Severity.CRITICAL: timedelta(0), Severity.WARNING: timedelta(minutes=10)}


class RulesError(ValueError):
    """The rules file is invalid; the message lists every problem with its place."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Action(_Strict):
    """What to do, in each language (placeholders: ``{farm_name}``, ``{node}``, ``{value}``)."""

    vi: str
    en: str | None = None


class Scope(_Strict):
    """Where a rule applies; empty lists mean everywhere."""

    profiles: tuple[str, ...] = ()
    farms: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()

    @field_validator("profiles")
    @classmethod
    def _known_profiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(profile_names()))
        if unknown:
            raise ValueError(f"unknown profiles {unknown}; known: {sorted(profile_names())}")
        return value

    def covers(self, farm: str, node: str, profile: str | None) -> bool:
        return (
            (not self.profiles or profile in self.profiles)
            and (not self.farms or farm in self.farms)
            and (not self.nodes or node in self.nodes)
        )


class _Rule(_Strict):
    name: str
    severity: Severity = Severity.WARNING
    scope: Scope = Scope()
    action: Action | None = None
    source: str | None = None  # who says so ("TCVN 13952:2024"): shown beside the limit

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r}: a rule name is letters, digits and _ (e.g. DoLow)")
        return value


def _check_subject(subject: str) -> str:
    if subject not in QUANTITIES and subject not in DERIVED:
        raise ValueError(
            f"{subject!r} is neither a quantity nor a derived value (docs/contract.md)"
        )
    return subject


class ThresholdRule(_Rule):
    kind: Literal["threshold"] = "threshold"
    subject: str
    below: float | None = None
    above: float | None = None
    clear_below: float | None = None  # clears only under this (for ``above``)
    clear_above: float | None = None  # clears only over this (for ``below``)
    for_: Duration = Field(default=timedelta(0), alias="for")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("subject")
    @classmethod
    def _known_subject(cls, value: str) -> str:
        return _check_subject(value)

    @model_validator(mode="after")
    def _levels(self) -> ThresholdRule:
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of below or above")
        if (
            self.below is not None
            and self.clear_above is not None
            and self.clear_above < self.below
        ):
            raise ValueError(f"clear_above {self.clear_above} is below the set level {self.below}")
        if (
            self.above is not None
            and self.clear_below is not None
            and self.clear_below > self.above
        ):
            raise ValueError(f"clear_below {self.clear_below} is above the set level {self.above}")
        return self

    @property
    def limit(self) -> float:
        return self.below if self.below is not None else self.above  # type: ignore[return-value]

    def breached(self, value: float) -> bool:
        return value < self.below if self.below is not None else value > self.limit

    def cleared(self, value: float) -> bool:
        if self.below is not None:
            return value >= (self.clear_above if self.clear_above is not None else self.below)
        return value <= (self.clear_below if self.clear_below is not None else self.limit)


class RateRule(_Rule):
    kind: Literal["rate_of_change"] = "rate_of_change"
    subject: str
    window: Duration = timedelta(hours=1)
    rise: float | None = None  # fires when the value rose by more than this over the window
    fall: float | None = None  # ... or fell by more than this

    @field_validator("subject")
    @classmethod
    def _known_subject(cls, value: str) -> str:
        return _check_subject(value)

    @model_validator(mode="after")
    def _levels(self) -> RateRule:
        if self.rise is None and self.fall is None:
            raise ValueError("give rise, fall or both (change per window, in the quantity's unit)")
        if any(v is not None and v <= 0 for v in (self.rise, self.fall)):
            raise ValueError("rise and fall are sizes of change: positive numbers")
        return self


class AbsenceRule(_Rule):
    kind: Literal["absence"] = "absence"
    after: Duration = timedelta(minutes=15)


class BandRule(_Rule):
    kind: Literal["band"] = "band"
    subject: Literal["thi_band", "cold_band", "heat_band"]
    at_least: Annotated[int, Field(ge=1, le=3)]
    for_: Duration = Field(default=timedelta(0), alias="for")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AnomalyRule(_Rule):
    kind: Literal["anomaly"] = "anomaly"
    subject: str = "anomaly_node"
    above: Annotated[float, Field(gt=0, le=1)] = 0.99
    for_: Duration = Field(default=timedelta(0), alias="for")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("subject")
    @classmethod
    def _anomaly_subject(cls, value: str) -> str:
        if not value.startswith("anomaly_") or value not in DERIVED:
            raise ValueError(
                f"{value!r} is not an anomaly score (anomaly_node, anomaly_<quantity>)"
            )
        return value


class CandidateRule(_Rule):
    """Analytics' own conclusions, passed on with the candidate's own severity.

    ``severity`` is the lowest passed on: info by default, everything.
    """

    kind: Literal["candidate"] = "candidate"
    kinds: tuple[CandidateKind, ...] = (
        CandidateKind.FORECAST,
        CandidateKind.SENSOR_FAULT,
        CandidateKind.OFFLINE,
        CandidateKind.ANOMALY,
    )
    severity: Severity = Severity.INFO


Rule = Annotated[
    ThresholdRule | RateRule | AbsenceRule | BandRule | AnomalyRule | CandidateRule,
    Field(discriminator="kind"),
]


class _File(_Strict):
    profile_defaults: bool = True  # threshold rules from the profiles' limits
    rules: tuple[Rule, ...] = ()


class RuleSet:
    """The deployment's rules: the file's, plus profile defaults it does not replace."""

    def __init__(
        self, rules: Sequence[_Rule], profile_defaults: bool = True, origin: str = "rules"
    ) -> None:
        names = [rule.name for rule in rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise RulesError(f"{origin}: rule names must be unique; repeated: {duplicates}")
        self.rules: tuple[_Rule, ...] = tuple(rules)
        self.profile_defaults = profile_defaults

    def for_profile(self, profile: ModelProfile | None) -> list[_Rule]:
        """The rules that apply to a node with ``profile``: defaults first, file rules win."""
        own = {rule.name for rule in self.rules}
        defaults = profile_rules(profile) if (profile and self.profile_defaults) else []
        return [rule for rule in defaults if rule.name not in own] + list(self.rules)


def _place(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_rules(path: Path | None = None, text: str | None = None) -> RuleSet:
    """Read and check a rules file (or YAML ``text``); raise RulesError naming every problem."""
    origin = str(path) if path is not None else "rules"
    if text is None:
        if path is None or not path.exists():
            return RuleSet([], profile_defaults=True)
        text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RulesError(f"{origin}: not valid YAML: {exc}") from None
    return rules_from_mapping(raw, origin)


def rules_from_mapping(raw: object, origin: str = "rules") -> RuleSet:
    """Check parsed YAML (a rules file, or the ``rules:`` section of alerting.yaml)."""
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{_place(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        ]
        raise RulesError(f"{origin}: " + "; ".join(problems)) from None
    return RuleSet(parsed.rules, parsed.profile_defaults, origin)


def _default_name(subject: str, severity: Severity, below: bool) -> str:
    words = "".join(part.capitalize() for part in subject.split("_"))
    return f"{words}{'Low' if below else 'High'}{severity.value.capitalize()}"


def profile_rules(profile: ModelProfile) -> list[ThresholdRule]:
    """Threshold rules from a profile's limits: severity and source kept, hysteresis added.

    >>> from farmwatch_analytics.model_profiles import load_profile
    >>> rule = next(r for r in profile_rules(load_profile("aquaculture_pond"))
    ...             if r.subject == "dissolved_oxygen" and r.severity.value == "critical")
    >>> rule.name, rule.below, round(rule.clear_above, 2), rule.for_.total_seconds()
    ('DissolvedOxygenLowCritical', 2.3, 2.6, 0.0)
    """
    rules: list[ThresholdRule] = []
    for subject, limits in profile.limits.items():
        for limit in limits:
            for below, level in ((True, limit.below), (False, limit.above)):
                if level is None:
                    continue
                margin = HYSTERESIS.get(subject, abs(level) * CLEAR_SHARE)
                fields = {
                    "name": _default_name(subject, limit.severity, below),
                    "subject": subject,
                    "severity": limit.severity,
                    "below" if below else "above": level,
                    "clear_above" if below else "clear_below": level + margin
                    if below
                    else level - margin,
                    "for": DEFAULT_FOR.get(limit.severity, timedelta(minutes=10)),
                    "source": limit.source,
                    "action": _default_action(profile.name, subject, below),
                    "scope": Scope(profiles=(profile.name,)),
                }
                rules.append(ThresholdRule.model_validate(fields))
    return rules


# What to do first, per subject and direction: the farmer's first move, not a manual.
_ACTIONS: Mapping[tuple[str, bool], Action] = {
    ("dissolved_oxygen", True): Action(
        vi="Bật máy sục khí ngay, ngừng cho ăn", en="Turn the aerators on now and stop feeding"
    ),
    ("ph", True): Action(vi="Kiểm tra nước, bón vôi nếu cần", en="Check the water; lime if needed"),
    ("ph", False): Action(vi="Thay bớt nước ao", en="Exchange part of the pond water"),
    ("unionised_ammonia", False): Action(
        vi="Giảm cho ăn, thay nước, sục khí", en="Feed less, exchange water, aerate"
    ),
    ("total_ammonia_nitrogen", False): Action(
        vi="Giảm cho ăn, thay nước", en="Feed less and exchange water"
    ),
    ("water_temperature", False): Action(
        vi="Tăng mực nước, che mát, sục khí", en="Raise the water level, shade, aerate"
    ),
    ("air_temperature", False): Action(
        vi="Bật quạt, phun sương làm mát", en="Turn fans and misting on"
    ),
    ("air_temperature", True): Action(
        vi="Che chắn, sưởi ấm cho vật nuôi", en="Close curtains and heat the animals"
    ),
    ("thi_pig", False): Action(
        vi="Bật quạt, phun sương, cho uống đủ nước", en="Fans, misting, water"
    ),
    ("thi_poultry", False): Action(
        vi="Bật quạt, làm mát, cho uống đủ nước", en="Fans, cooling, drinking water"
    ),
    ("nh3", False): Action(vi="Tăng thông gió, dọn chất thải", en="Ventilate more, clear manure"),
    ("co2", False): Action(vi="Tăng thông gió", en="Ventilate more"),
    ("soil_moisture", True): Action(vi="Tưới nước", en="Irrigate"),
    ("soil_water_depletion", False): Action(vi="Tưới nước ngay", en="Irrigate now"),
    ("vpd", False): Action(vi="Phun sương, che bớt nắng", en="Mist and shade"),
}


# A station's pH out of the QCVN 01-1:2018/BYT band either way has the same first step.
_TREATMENT_DOSE = Action(
    vi="Kiểm tra nguồn nước và liều hóa chất xử lý (vôi, phèn)",
    en="Check the raw water and the treatment dose (lime, alum)",
)
# Where the same subject needs another first move on another kind of farm (a station's pH is
# not fixed with pond lime), keyed by profile too; these win over ``_ACTIONS``.
_EFFLUENT_OVER = Action(
    vi="Nước thải vượt ngưỡng xả: tạm ngừng xả, kiểm tra hầm biogas và ao lắng, "
    "giảm nước rửa chuồng",
    en="Effluent over the discharge limit: stop discharging for now, check the biogas digester "
    "and settling ponds, use less wash water",
)
_PROFILE_ACTIONS: Mapping[tuple[str, str, bool], Action] = {
    ("clean_water_station", "free_chlorine", True): Action(
        vi="Nguy cơ nhiễm vi khuẩn: kiểm tra ngay bơm định lượng clo và bình hóa chất",
        en="Risk of bacteria: check the chlorine dosing pump and its chemical tank now",
    ),
    ("clean_water_station", "free_chlorine", False): Action(
        vi="Nước nặng mùi clo, dân sẽ phàn nàn: giảm liều clo",
        en="Chlorine taste, households will complain: reduce the chlorine dose",
    ),
    ("clean_water_station", "turbidity", False): Action(
        vi="Nước đục (thường sau mưa): kiểm tra bể lắng và bể lọc, rửa lọc, "
        "tạm ngừng lấy nước thô đục",
        en="Turbid water (often after rain): check settling and filters, backwash, stop taking "
        "turbid raw water for now",
    ),
    ("clean_water_station", "ph", True): _TREATMENT_DOSE,
    ("clean_water_station", "ph", False): _TREATMENT_DOSE,
    ("clean_water_station", "pump_failure", False): Action(
        vi="Bơm chạy nhưng không ra nước: tắt bơm ngay, kiểm tra nguồn nước, van và mồi lại bơm",
        en="Pump running without flow: switch it off now, check the source and valves, re-prime it",
    ),
    ("clean_water_station", "tank_running_dry", False): Action(
        vi="Bể chứa sắp cạn: kiểm tra bơm cấp và nguồn nước, báo dân dùng nước tiết kiệm",
        en="Tank running dry: check the supply pump and the source; ask households to save water",
    ),
    ("clean_water_station", "tank_level", True): Action(
        vi="Bể chứa đã cạn: báo cho dân, kiểm tra bơm và nguồn nước ngay",
        en="Tank empty: tell the households, check the pump and the source now",
    ),
    ("effluent_station", "ph", True): _EFFLUENT_OVER,
    ("effluent_station", "ph", False): _EFFLUENT_OVER,
    ("effluent_station", "cod", False): _EFFLUENT_OVER,
    ("effluent_station", "ammonium", False): _EFFLUENT_OVER,
    ("effluent_station", "total_suspended_solids", False): _EFFLUENT_OVER,
    ("effluent_station", "h2s", False): Action(
        vi="Khí H2S cao: tăng thông gió, không ai xuống hầm hay bể kín một mình",
        en="H2S high: ventilate; nobody goes into pits or closed tanks alone",
    ),
}


def _default_action(profile: str, subject: str, below: bool) -> Action | None:
    """The profile's own first move for a subject, else the subject's usual one.

    >>> _default_action("clean_water_station", "free_chlorine", True).en
    'Risk of bacteria: check the chlorine dosing pump and its chemical tank now'
    >>> _default_action("aquaculture_pond", "ph", False).en
    'Exchange part of the pond water'
    """
    return _PROFILE_ACTIONS.get((profile, subject, below)) or _ACTIONS.get((subject, below))
