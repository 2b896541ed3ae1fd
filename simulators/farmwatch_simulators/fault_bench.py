"""Scenarios for scoring fault detectors: many faults of every kind, each on its own.

``bench/faults.py`` and the analytics tests need more than one fault per kind to measure
precision and recall, and need them apart (two labels overlapping on a node make it
ambiguous which one an alarm found). This builds such a scenario as YAML, so it is also a
file a person can read, edit and replay.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

# The kinds the analytics' fault bench scores: one list for the scenario and the scoring.
from farmwatch_analytics.fault_evaluation import SENSOR_FAULT_KINDS

from farmwatch_simulators.faults import TYPICAL_SCALE, default_unit_error
from farmwatch_simulators.models import MODEL_CLASSES, PROFILE_BY_MODEL_TYPE
from farmwatch_simulators.scenario import MODEL_CYCLE

__all__ = ["SENSOR_FAULT_KINDS", "build_fault_scenario"]

_NOT_VALUE_FAULTS = frozenset({"battery_voltage", "rssi", "rain", "leaf_wetness", "illuminance"})
_PREFIX = {
    "aquaculture_pond": "pond",
    "pig_barn": "pig",
    "greenhouse": "gh",
    "rice_field": "rice",
    "poultry_house": "poultry",
    "orchard": "orchard",
}
BURN_IN_H = 72  # detectors learn normal first, as they would in the field
SLOT_H = 48  # one fault per node per slot, with room to recover


def _quantities(model: str) -> list[str]:
    profile = PROFILE_BY_MODEL_TYPE[model]  # type: ignore[index]
    return [q for q in MODEL_CLASSES[profile].quantities if q not in _NOT_VALUE_FAULTS]


def _parameters(
    kind: str, model: str, rng: random.Random, drift_allowed: Sequence[str] | None
) -> str:
    """The YAML parameters of one fault after its place and start."""
    extra = ""
    if kind not in {"dropout", "battery_death"}:
        choices = _quantities(model)
        if kind == "unit_error":
            choices = [q for q in choices if default_unit_error(q) is not None]
        if kind == "drift" and drift_allowed is not None:
            choices = [q for q in choices if q in drift_allowed]
        quantity = rng.choice(choices)
        extra += f", quantity: {quantity}"
        scale = TYPICAL_SCALE.get(quantity, 1.0)
        if kind == "drift":
            half = rng.random() < 0.5
            extra += f", rate_per_day: {scale * 0.5:g}" if half else f", bias: {scale * 0.25:g}"
    if kind == "battery_death":
        extra += ", decay: 12h"
    if kind == "drift":  # probe fouling and calibration loss take a day or more
        extra += f", duration: {rng.choice((12, 24))}h"
    elif kind != "spike":
        extra += f", duration: {rng.choice((2, 4, 6, 12))}h"
    return extra


def build_fault_scenario(
    farms_per_model: int = 4,
    days: int = 14,
    per_kind: int = 8,
    seed: int = 11,
    start: str = "2026-03-01T17:00:00Z",
    nodes_per_farm: int = 2,
    drift_quantities: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Scenario YAML with ``per_kind`` faults of every sensor-fault kind.

    Each fault gets its own farm and 48-hour slot after a three-day burn-in, at a random
    offset, on a random node and a random quantity it reports (farms have ``nodes_per_farm``
    nodes, so neighbour comparisons have a partner; ``drift_quantities`` limits drifts per
    model type to the quantities a detector can compare between nodes); magnitudes scale with
    the quantity's typical excursion (``TYPICAL_SCALE``): a pH drift is as hard as a CO2 one.

    >>> text = build_fault_scenario(farms_per_model=2, days=7, per_kind=1)
    >>> text.count("kind: ") == len(SENSOR_FAULT_KINDS)
    True
    """
    rng = random.Random(seed)
    groups = []
    farms: list[tuple[str, str]] = []
    for model_type in MODEL_CYCLE:
        name = model_type.value
        groups.append(
            f"  - {{model: {name}, count: {farms_per_model}, nodes_per_farm: {nodes_per_farm}}}"
        )
        first = len(farms) + 1
        farms.extend((f"{_PREFIX[name]}-{first + i:02d}", name) for i in range(farms_per_model))
    slots = max(1, (days * 24 - BURN_IN_H) // SLOT_H)
    free = [(farm, model, slot) for farm, model in farms for slot in range(slots)]
    rng.shuffle(free)
    if len(free) < per_kind * len(SENSOR_FAULT_KINDS):
        raise ValueError(
            f"{len(free)} free node-slots for {per_kind * len(SENSOR_FAULT_KINDS)} faults: "
            "add farms (--farms-per-model) or days"
        )
    lines = []
    for kind in SENSOR_FAULT_KINDS:
        for _ in range(per_kind):
            farm, model, slot = free.pop()
            begin_h = BURN_IN_H + slot * SLOT_H + rng.uniform(0, 20)
            node = f"{farm}-n{rng.randint(1, nodes_per_farm)}"
            allowed = None if drift_quantities is None else drift_quantities.get(model)
            extra = _parameters(kind, model, rng, allowed)
            lines.append(
                f"  - {{kind: {kind}, farm: {farm}, node: {node}, start: +{begin_h:.2f}h{extra}}}"
            )
    return (
        f"name: fault-bench\nseed: {seed}\nstart: {start}\nduration: {days}d\ninterval: 5m\n"
        "farms:\n" + "\n".join(groups) + "\nfaults:\n" + "\n".join(lines) + "\n"
    )
