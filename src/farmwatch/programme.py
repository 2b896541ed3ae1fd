"""The province plan's programme indicators, per district: what a provincial report counts.

For each district: the farms registered, how many are model farms ("mô hình điểm"), how many
have digital monitoring online (a node that reported within ``online_within``), the cooperatives
covered, and the share of critical alerts acknowledged within the target time (the plan's
"alerts handled within target time"). Computed from the registry, the store's latest readings
and the alert store; the report is a table (CSV) that officers paste into their own templates.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from farmwatch_alerting.alert import Alert, Severity
from farmwatch_core.registry import Deployment

__all__ = ["DistrictRow", "programme_indicators", "write_programme_csv"]


@dataclass(frozen=True, slots=True)
class DistrictRow:
    district: str
    farms: int
    model_farms: int
    farms_online: int
    cooperatives: int
    critical_alerts: int
    handled_in_time: int

    @property
    def online_share(self) -> float:
        return self.farms_online / self.farms if self.farms else 0.0

    @property
    def handled_share(self) -> float | None:
        return self.handled_in_time / self.critical_alerts if self.critical_alerts else None


def programme_indicators(
    deployment: Deployment,
    latest: Iterable[Any],  # rows with farm_id, node_id, ts (the store's latest readings)
    alerts: Iterable[Alert],
    now: datetime,
    online_within: timedelta = timedelta(hours=1),
    target: timedelta = timedelta(minutes=30),
) -> list[DistrictRow]:
    """One row per district (farms without one are counted under "—"), sorted by name."""
    seen: dict[str, datetime] = {}
    for row in latest:
        if row.ts > seen.get(row.farm_id, datetime.min.replace(tzinfo=row.ts.tzinfo)):
            seen[row.farm_id] = row.ts
    district_of = {farm.id: farm.district or "—" for farm in deployment.farms}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    coops: dict[str, set[str]] = defaultdict(set)
    for farm in deployment.farms:
        c = counts[district_of[farm.id]]
        c[0] += 1
        c[1] += farm.model_farm
        c[2] += farm.id in seen and now - seen[farm.id] <= online_within
        if farm.cooperative:
            coops[district_of[farm.id]].add(farm.cooperative)
    for alert in alerts:
        district = district_of.get(alert.labels.get("farm", ""))
        if district is None or alert.severity is not Severity.CRITICAL or alert.fired_at is None:
            continue
        c = counts[district]
        c[3] += 1
        acked = alert.acknowledged_at
        c[4] += acked is not None and acked - alert.fired_at <= target
    return [
        DistrictRow(name, c[0], c[1], c[2], len(coops[name]), c[3], c[4])
        for name, c in sorted(counts.items())
    ]


def write_programme_csv(rows: Sequence[DistrictRow], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "district",
                "farms",
                "model_farms",
                "farms_online",
                "online_share",
                "cooperatives",
                "critical_alerts",
                "handled_in_time",
                "handled_share",
            ]
        )
        for r in rows:
            handled = "" if r.handled_share is None else f"{r.handled_share:.2f}"
            writer.writerow(
                [
                    r.district,
                    r.farms,
                    r.model_farms,
                    r.farms_online,
                    f"{r.online_share:.2f}",
                    r.cooperatives,
                    r.critical_alerts,
                    r.handled_in_time,
                    handled,
                ]
            )
