"""Scenario files: farms, time span, faults and events of a simulation, in validated YAML.

A scenario says *what* to simulate; :mod:`farmwatch_simulators.dataset` runs it. Like the
registry, a file is validated once, completely, and every problem is reported with its
location, e.g.::

    sensor-faults.yaml: faults[2].quantity: node 'pond-01-n1' (pond_water) does not report
    'soil_moisture'; it reports water_temperature, dissolved_oxygen, ...

Example (the format is described in docs/simulators.md)::

    name: dawn-do-crash
    seed: 7
    start: 2026-07-14T10:00:00Z      # UTC; naive times are refused
    duration: 2d                     # or end: <UTC time> / +<duration>
    interval: 5m
    farms:
      - {model: aquaculture_pond, count: 2, nodes_per_farm: 1}
    events:
      - kind: do_crash
        farms: [pond-01]
        start: +12h                  # relative to the scenario start, or absolute UTC
        duration: 12h
    faults:
      - {kind: stuck, farm: pond-02, quantity: ph, start: +1d, duration: 6h}

Farm IDs are those of :func:`~farmwatch_simulators.scenario.build_deployment`: the model's
prefix and the farm's position in the ``farms`` list (``pond-01``, ``pig-03``...), nodes
``<farm>-n1``, ``<farm>-n2``... Named scenarios live in ``simulators/scenarios/``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from farmwatch_core.registry import Deployment, Farm, ModelType
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from farmwatch_simulators.faults import (
    EVENT_PROFILES,
    NODE_WIDE_FAULTS,
    UNIT_ERRORS,
    EventKind,
    FaultKind,
    SensorFault,
    default_unit_error,
    event_forcing,
)
from farmwatch_simulators.models import MODEL_CLASSES, PROFILE_BY_MODEL_TYPE, Forcing
from farmwatch_simulators.scenario import build_deployment
from farmwatch_simulators.timing import PERFECT_CLOCK, NodeBehaviour

#: Where the named scenarios live (next to the package in the workspace member).
SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$"
)


class ScenarioError(ValueError):
    """A scenario file is missing or invalid; the message lists every problem with its place."""


def parse_duration(value: object) -> timedelta:
    """``"1d6h"``, ``"90m"``, ``"30s"``, or a number of seconds, as a timedelta.

    >>> parse_duration("1d6h30m"), parse_duration(300)
    (datetime.timedelta(days=1, seconds=23400), datetime.timedelta(seconds=300))
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match and any(match.groups()):
            d, h, m, s = (float(g) if g else 0.0 for g in match.groups())
            return timedelta(days=d, hours=h, minutes=m, seconds=s)
    raise ValueError(f"{value!r} is not a duration; write e.g. 5m, 2h, 1d6h or 300 (seconds)")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"time {value.isoformat()} has no time zone; write UTC with a Z")
    return value.astimezone(UTC)


def _time_ref(value: object) -> datetime | timedelta:
    """An absolute UTC time, or ``+<duration>`` after the scenario start."""
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("+"):
            return parse_duration(text[1:])
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is neither a UTC time (2026-01-10T00:00:00Z) nor +<duration> "
                "relative to the start (+1d6h)"
            ) from None
        return _aware(parsed)
    raise ValueError(f"{value!r} is not a time; write a UTC time or +<duration>")


def _signed(value: object) -> timedelta:
    """A duration that may be negative: ``-6h``, ``-30d``, or a signed number of seconds."""
    if isinstance(value, str) and value.strip().startswith("-"):
        return -parse_duration(value.strip()[1:])
    return parse_duration(value)


def _non_negative(value: object) -> timedelta:
    duration = parse_duration(value)
    if duration < timedelta(0):
        raise ValueError("must not be negative")
    return duration


def _positive(value: object) -> timedelta:
    duration = parse_duration(value)
    if duration <= timedelta(0):
        raise ValueError("must be longer than zero")
    return duration


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
NonNegativeDuration = Annotated[timedelta, BeforeValidator(_non_negative)]
SignedDuration = Annotated[timedelta, BeforeValidator(_signed)]
PositiveDuration = Annotated[timedelta, BeforeValidator(_positive)]
TimeRef = Annotated[datetime | timedelta, BeforeValidator(_time_ref)]


def _absolute_time(value: object) -> datetime:
    """A UTC time, written unquoted (YAML parses it) or quoted; naive times are refused."""
    parsed = _time_ref(value)
    if isinstance(parsed, timedelta):
        raise ValueError("the scenario start must be an absolute UTC time, not relative")  # noqa: TRY004 - pydantic reports ValueErrors
    return parsed


UtcTime = Annotated[datetime, BeforeValidator(_absolute_time)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FarmGroupSpec(_Strict):
    """``count`` farms of one model type."""

    model: ModelType
    count: int = Field(1, ge=1, le=100_000)
    nodes_per_farm: int | None = Field(None, ge=1, le=50)
    interval: PositiveDuration | None = None


class _Window(_Strict):
    start: TimeRef
    end: TimeRef | None = None
    duration: PositiveDuration | None = None


class FaultSpec(_Window):
    """A sensor fault on one node (default: the farm's first node)."""

    kind: FaultKind
    farm: str
    node: str | None = None
    quantity: str | None = None
    value: float | None = None
    magnitude: float | None = Field(None, gt=0)
    sign: int | None = Field(None, ge=-1, le=1)
    bias: float | None = None
    rate_per_day: float | None = None
    sd: float | None = Field(None, gt=0)
    unit: str | None = None
    decay: PositiveDuration | None = None
    cutoff_v: float | None = Field(None, ge=3.0, le=4.2)
    offset: SignedDuration | None = None


class NodesSpec(_Strict):
    """How every node of the scenario keeps time (see :mod:`farmwatch_simulators.timing`)."""

    jitter: NonNegativeDuration = timedelta(0)
    clock_skew: NonNegativeDuration = timedelta(0)


class EventSpec(_Window):
    """A process event over farms (default: every farm of an applicable model type)."""

    kind: EventKind
    farms: tuple[str, ...] | None = None
    models: tuple[ModelType, ...] | None = None
    ramp_h: float | None = Field(None, ge=0)
    temperature_offset: float | None = Field(None, ge=-20, le=20)
    humidity_offset: float | None = Field(None, ge=-50, le=50)
    rain_rate: float | None = Field(None, ge=0, le=100)
    solar_factor: float | None = Field(None, ge=0, le=2)
    et_factor: float | None = Field(None, ge=0, le=5)
    respiration_factor: float | None = Field(None, ge=0, le=5)
    reaeration_factor: float | None = Field(None, ge=0, le=5)
    ammonia_offset: float | None = Field(None, ge=-10, le=200)
    aerator: bool | None = None
    irrigation: bool | None = None
    cooling: bool | None = None


class ScenarioSpec(_Strict):
    """The YAML document, validated field by field (cross-references are checked later)."""

    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    seed: int = 1
    start: UtcTime
    end: TimeRef | None = None
    duration: PositiveDuration | None = None
    interval: PositiveDuration = timedelta(minutes=5)
    nodes: NodesSpec = NodesSpec()
    farms: tuple[FarmGroupSpec, ...] = Field(min_length=1)
    faults: tuple[FaultSpec, ...] = ()
    events: tuple[EventSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class ProcessEvent:
    """A resolved event: its kind and window, and the forcing it puts on each target node."""

    index: int
    kind: EventKind
    start: datetime
    end: datetime
    forcings: Mapping[tuple[str, str], Forcing]  # (farm_id, node_id) -> forcing


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated, resolved scenario: absolute UTC times, a deployment, concrete targets."""

    name: str
    description: str
    seed: int
    start: datetime
    end: datetime
    deployment: Deployment
    intervals: Mapping[str, timedelta]  # farm_id -> node reporting interval
    faults: tuple[SensorFault, ...]
    events: tuple[ProcessEvent, ...]
    behaviour: NodeBehaviour = PERFECT_CLOCK

    @property
    def node_count(self) -> int:
        return sum(len(farm.nodes) for farm in self.deployment.farms)

    def without(self, *, faults: bool = False, events: bool = False) -> Scenario:
        """The same scenario with its faults and/or events removed (the clean references)."""
        return Scenario(
            self.name,
            self.description,
            self.seed,
            self.start,
            self.end,
            self.deployment,
            self.intervals,
            () if faults else self.faults,
            () if events else self.events,
            self.behaviour,
        )


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.lines.append(f"{self.source}: {where}: {message}")

    def raise_if_any(self) -> None:
        if self.lines:
            raise ScenarioError("\n".join(self.lines))


def _format_errors(source: str, exc: ValidationError) -> str:
    """Pydantic errors as ``file: faults[2].start: message``, the registry's style."""
    lines = []
    for err in exc.errors():
        loc = ""
        for part in err["loc"]:
            if isinstance(part, int):
                loc += f"[{part}]"
            elif not str(part).startswith(("function-", "datetime", "timedelta")):
                loc += f".{part}" if loc else str(part)
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {loc or '(top level)'}: {msg}")
    return "\n".join(lines)


def _window(spec: _Window, context: _Context, where: str) -> tuple[datetime, datetime] | None:
    """The absolute ``[start, end)`` of a fault or event, cut at the scenario's end."""
    start, end, problems = context.start, context.end, context.problems
    begin = spec.start if isinstance(spec.start, datetime) else start + spec.start
    if spec.end is not None and spec.duration is not None:
        problems.add(where, "give end or duration, not both")
        return None
    if spec.end is not None:
        stop = spec.end if isinstance(spec.end, datetime) else start + spec.end
    elif spec.duration is not None:
        stop = begin + spec.duration
    else:
        stop = end
    if not start <= begin < end:
        problems.add(
            f"{where}.start",
            f"{begin.isoformat()} is outside the scenario "
            f"({start.isoformat()} to {end.isoformat()})",
        )
        return None
    if stop <= begin:
        problems.add(f"{where}.end", f"{stop.isoformat()} is not after {begin.isoformat()}")
        return None
    return begin, min(stop, end)


def resolve(spec: ScenarioSpec, source: str = "scenario") -> Scenario:
    """Check cross-references (farms, nodes, quantities, windows) and resolve every time."""
    problems = _Problems(source)
    start = spec.start
    if spec.end is not None and spec.duration is not None:
        problems.add("end", "give end or duration, not both")
    if spec.end is not None:
        end = spec.end if isinstance(spec.end, datetime) else start + spec.end
    else:
        end = start + (spec.duration or timedelta(days=1))
    if end <= start:
        problems.add("end", f"{end.isoformat()} is not after the start {start.isoformat()}")
    problems.raise_if_any()

    models: list[ModelType] = []
    nodes_per_farm: list[int | None] = []
    intervals_list: list[timedelta] = []
    for group in spec.farms:
        models += [group.model] * group.count
        nodes_per_farm += [group.nodes_per_farm] * group.count
        intervals_list += [group.interval or spec.interval] * group.count
    deployment = build_deployment(
        len(models), seed=spec.seed, models=models, nodes_per_farm=nodes_per_farm
    )
    intervals = {farm.id: iv for farm, iv in zip(deployment.farms, intervals_list, strict=True)}
    context = _Context(deployment, intervals, start, end, problems)
    faults = [
        fault
        for i, spec_fault in enumerate(spec.faults)
        for fault in _resolve_fault(spec_fault, f"faults[{i}]", context)
    ]
    events = [
        event
        for i, spec_event in enumerate(spec.events)
        if (event := _resolve_event(spec_event, i, context)) is not None
    ]
    problems.raise_if_any()
    return Scenario(
        spec.name,
        spec.description,
        spec.seed,
        start,
        end,
        deployment,
        intervals,
        tuple(faults),
        tuple(events),
        NodeBehaviour(jitter=spec.nodes.jitter, clock_skew=spec.nodes.clock_skew),
    )


@dataclass(frozen=True, slots=True)
class _Context:
    deployment: Deployment
    intervals: Mapping[str, timedelta]
    start: datetime
    end: datetime
    problems: _Problems

    def no_farm(self, where: str, farm_id: str) -> None:
        farm_ids = [f.id for f in self.deployment.farms]
        self.problems.add(where, f"no farm {farm_id!r} in this scenario ({_list(farm_ids)})")


_OVERRIDES = frozenset(
    {
        "ramp_h",
        "temperature_offset",
        "humidity_offset",
        "rain_rate",
        "solar_factor",
        "et_factor",
        "respiration_factor",
        "reaeration_factor",
        "ammonia_offset",
        "aerator",
        "irrigation",
        "cooling",
    }
)


def _event_targets(event: EventSpec, where: str, context: _Context) -> list[Farm]:
    profile = EVENT_PROFILES[event.kind]
    applies = f"it applies to {', '.join(sorted(m.value for m in profile.models))}"
    problems = context.problems
    targets: list[Farm] = []
    if event.farms is not None:
        for j, farm_id in enumerate(event.farms):
            farm = context.deployment.farm(farm_id)
            if farm is None:
                context.no_farm(f"{where}.farms[{j}]", farm_id)
            elif farm.model not in profile.models:
                problems.add(
                    f"{where}.farms[{j}]",
                    f"{event.kind} does not apply to {farm_id!r} ({farm.model}); {applies}",
                )
            else:
                targets.append(farm)
        return targets
    for j, model in enumerate(event.models or ()):
        if model not in profile.models:
            problems.add(
                f"{where}.models[{j}]", f"{event.kind} does not apply to {model}; {applies}"
            )
    wanted = set(event.models or profile.models) & profile.models
    targets = [farm for farm in context.deployment.farms if farm.model in wanted]
    if not targets:
        problems.add(where, f"no farm of this scenario is a target of {event.kind} ({applies})")
    return targets


def _resolve_event(event: EventSpec, index: int, context: _Context) -> ProcessEvent | None:
    where = f"events[{index}]"
    window = _window(event, context, where)
    targets = _event_targets(event, where, context)
    if window is None or not targets:
        return None
    overrides = event.model_dump(include=set(_OVERRIDES))
    forcings = {
        (farm.id, node.id): event_forcing(event.kind, farm.model, *window, overrides)
        for farm in targets
        for node in farm.nodes
    }
    return ProcessEvent(index, event.kind, window[0], window[1], forcings)


def _list(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items)} in all)" if len(items) > limit else "")


def _fault_quantity(
    fault: FaultSpec, where: str, node_id: str, profile: str, context: _Context
) -> bool:
    """Is ``quantity`` given exactly when it must be, and reported by the node?"""
    reported = MODEL_CLASSES[profile].quantities
    problems = context.problems
    if fault.kind in NODE_WIDE_FAULTS:
        if fault.quantity is not None:
            problems.add(f"{where}.quantity", f"{fault.kind} concerns the whole node; remove it")
            return False
        return True
    if fault.quantity is None:
        problems.add(f"{where}.quantity", f"{fault.kind} needs one of {', '.join(reported)}")
        return False
    if fault.quantity not in reported:
        problems.add(
            f"{where}.quantity",
            f"node {node_id!r} ({profile}) does not report {fault.quantity!r}; "
            f"it reports {', '.join(reported)}",
        )
        return False
    return True


def _fault_unit(fault: FaultSpec, where: str, context: _Context) -> tuple[bool, str | None]:
    if fault.kind is not FaultKind.UNIT_ERROR or fault.quantity is None:
        return True, fault.unit
    unit = fault.unit or default_unit_error(fault.quantity)
    if unit is not None and unit in UNIT_ERRORS and fault.quantity in UNIT_ERRORS[unit].quantities:
        return True, unit
    fitting = [name for name, e in UNIT_ERRORS.items() if fault.quantity in e.quantities]
    hint = (
        f"use {', '.join(fitting)}"
        if fitting
        else f"unit errors exist for {', '.join(UNIT_ERRORS)}"
    )
    context.problems.add(f"{where}.unit", f"no unit error {unit!r} for {fault.quantity}; {hint}")
    return False, None


def _resolve_fault(fault: FaultSpec, where: str, context: _Context) -> list[SensorFault]:
    """The fault on its node; an ``outage`` without ``node`` takes the whole farm offline
    (its 4G router or gateway is down), one fault per node."""
    farm = context.deployment.farm(fault.farm)
    if farm is None:
        context.no_farm(f"{where}.farm", fault.farm)
        return []
    if fault.kind is FaultKind.OUTAGE and fault.node is None:
        nodes = [node.id for node in farm.nodes]
    else:
        nodes = [fault.node or farm.nodes[0].id]
    resolved = [_resolve_node_fault(fault, where, context, farm, node_id) for node_id in nodes]
    return [r for r in resolved if r is not None]


def _resolve_node_fault(
    fault: FaultSpec, where: str, context: _Context, farm: Farm, node_id: str
) -> SensorFault | None:
    problems = context.problems
    node = context.deployment.node(farm.id, node_id)
    if node is None:
        nodes = _list([n.id for n in farm.nodes])
        problems.add(f"{where}.node", f"farm {farm.id!r} has no node {node_id!r} ({nodes})")
        return None
    profile = node.profile if node.profile in MODEL_CLASSES else PROFILE_BY_MODEL_TYPE[farm.model]
    ok = _fault_quantity(fault, where, node_id, profile, context)
    unit_ok, unit = _fault_unit(fault, where, context) if ok else (False, None)
    if fault.kind is FaultKind.DRIFT and not (fault.bias or fault.rate_per_day):
        problems.add(where, "drift needs a non-zero bias or rate_per_day (units of the quantity)")
        ok = False
    if fault.offset is not None and (
        fault.kind is not FaultKind.CLOCK_UNSYNCED or fault.offset >= timedelta(0)
    ):
        problems.add(
            f"{where}.offset",
            "only a clock_unsynced fault takes an offset, and it must be negative: a Pi "
            "without a real-time clock boots behind the true time (e.g. -6h, -30d)",
        )
        ok = False
    window = _window(fault, context, where)
    if window is None or not ok or not unit_ok:
        return None
    interval = context.intervals[farm.id]
    if fault.kind is FaultKind.SPIKE:
        if window[0] + interval > context.end:
            problems.add(f"{where}.start", "a spike needs one reading interval before the end")
            return None
    elif window[1] - window[0] < interval:
        problems.add(
            where,
            f"the window ({window[1] - window[0]}) is shorter than the node interval "
            f"({interval}); it might touch no reading",
        )
        return None
    return SensorFault(
        kind=fault.kind,
        farm_id=farm.id,
        node_id=node_id,
        start=window[0],
        end=window[1],
        quantity=fault.quantity,
        value=fault.value,
        magnitude=fault.magnitude,
        sign=fault.sign or None,
        bias=fault.bias or 0.0,
        rate_per_day=fault.rate_per_day or 0.0,
        sd=fault.sd,
        unit=unit,
        decay=fault.decay or timedelta(days=1),
        cutoff_v=fault.cutoff_v or 3.3,
        offset=fault.offset,
        source=where,
    )


def parse_scenario(text: str, source: str = "scenario") -> Scenario:
    """Parse, validate and resolve scenario YAML; raise ScenarioError listing every problem."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{source}: the top level must be a mapping with name:, start:, farms: ..."
        )
    try:
        spec = ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(source, exc)) from None
    return resolve(spec, source)


def scenario_names() -> list[str]:
    """The named scenarios shipped in ``simulators/scenarios/``."""
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(path_or_name: str | Path) -> Scenario:
    """Load a scenario by file path, or by the name of a shipped one (``"dawn-do-crash"``)."""
    path = Path(path_or_name)
    is_path = (
        isinstance(path_or_name, Path) or path.suffix in {".yaml", ".yml"} or len(path.parts) > 1
    )
    if not is_path:
        path = SCENARIO_DIR / f"{path_or_name}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if is_path:
            raise ScenarioError(f"scenario file {path} does not exist") from None
        shipped = ", ".join(scenario_names())
        raise ScenarioError(
            f"no scenario named {str(path_or_name)!r}; the shipped ones are {shipped} "
            "(or pass a path to a .yaml file)"
        ) from None
    return parse_scenario(text, path.name if not is_path else str(path))
