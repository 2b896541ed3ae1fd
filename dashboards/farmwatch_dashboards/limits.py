"""Model-profile limits as Grafana thresholds, with their sources for the panel description.

The limits are those the analytics engine judges readings by (analytics/farmwatch_analytics/
profiles/*.yaml), so a line on a chart is the same line that raises an alert.
"""

from __future__ import annotations

from collections.abc import Sequence

from farmwatch_analytics.model_profiles import Limit
from farmwatch_core.contract.candidates import Severity
from grafana_foundation_sdk.builders.dashboard import ThresholdsConfig
from grafana_foundation_sdk.models.dashboard import Threshold, ThresholdsMode

__all__ = ["COLOURS", "describe", "thresholds"]

OK = "green"
COLOURS = {Severity.INFO: "blue", Severity.WARNING: "orange", Severity.CRITICAL: "red"}
_RANK = {None: 0, Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


def _worst(limits: Sequence[Limit], value: float) -> Severity | None:
    worst: Severity | None = None
    for limit in limits:
        broken = (limit.below is not None and value < limit.below) or (
            limit.above is not None and value >= limit.above
        )
        if broken and _RANK[limit.severity] > _RANK[worst]:
            worst = limit.severity
    return worst


def steps(limits: Sequence[Limit]) -> list[tuple[float | None, str]]:
    """Threshold steps (start value, colour); the first starts at -infinity (``None``).

    A Grafana step applies from its value upwards, so each interval between two limit values
    takes the colour of the worst limit a value in it breaks.

    >>> from farmwatch_core.contract.candidates import Severity as S
    >>> steps([Limit(severity=S.WARNING, below=4.0, source="x y"),
    ...        Limit(severity=S.CRITICAL, below=2.3, source="x y")])
    [(None, 'red'), (2.3, 'orange'), (4.0, 'green')]
    """
    edges = sorted({v for limit in limits for v in (limit.below, limit.above) if v is not None})
    if not edges:
        return [(None, OK)]
    probes = [edges[0] - 1.0, *edges]  # a value below every edge, then each edge itself
    out: list[tuple[float | None, str]] = []
    for i, probe in enumerate(probes):
        severity = _worst(limits, probe)
        colour = OK if severity is None else COLOURS[severity]
        if out and out[-1][1] == colour:
            continue
        out.append((None if i == 0 else probe, colour))
    return out


def thresholds(limits: Sequence[Limit]) -> ThresholdsConfig:
    """The limits as an absolute thresholds config for a panel."""
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=colour) for value, colour in steps(limits)])
    )


def describe(limits: Sequence[Limit], unit: str = "") -> str:
    """One line per limit with its source, for the panel description.

    >>> from farmwatch_core.contract.candidates import Severity as S
    >>> describe([Limit(severity=S.WARNING, below=6.5, above=9.0, source="TCVN 13952:2024")])
    'Ngưỡng / limits: warning < 6.5 or ≥ 9 (TCVN 13952:2024).'
    """
    if not limits:
        return ""
    parts = []
    for limit in limits:
        sides = []
        if limit.below is not None:
            sides.append(f"< {limit.below:g}{unit}")
        if limit.above is not None:
            sides.append(f"≥ {limit.above:g}{unit}")
        parts.append(f"{limit.severity.value} {' or '.join(sides)} ({limit.source})")
    return "Ngưỡng / limits: " + "; ".join(parts) + "."
