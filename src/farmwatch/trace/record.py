"""A lot's traceability record: who grew it, where, when, and what the monitoring saw.

A harvest batch ("lô") is linked to its growing-area code ("mã vùng trồng"), the farm or farms
it came from, the growing period, and a summary of the monitoring over that period, computed
from the store: for each quantity or indicator the farm's model profile puts limits on, how
many readings there were, how complete they were, and every excursion beyond the limits
(:mod:`farmwatch.reports.excursions`), plus the alerts of the period when the alerting store is
there. The summary is what a buyer reads as "no water-quality excursion beyond limits during the
growing cycle" — or not.

Completeness is the share of the period's hours in which a node sent at least one reading of
that subject (summed over the nodes expected to measure it): independent of the reporting
interval, and it shows silence the excursion count cannot (see the gap rule in
:mod:`farmwatch.reports.excursions`). Nodes expected to measure a quantity are those that list it
among their sensors (or, for nodes without a sensor list, those of a profile that has it as a
sensor); an indicator (computed by the analytics and stored beside the readings) is expected
from the nodes that have it at least once, and reported as "not computed" when none has.

The record holds no personal data: farms by their ID, name, commune, district, cooperative,
certifications — not the owner, their phone or the exact coordinates. Times are UTC (ISO 8601,
``Z``); numbers are rounded to at most 4 decimals (see :mod:`farmwatch.trace.signing`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from farmwatch_alerting.alert import Alert
from farmwatch_analytics.model_profiles import INDICATORS, Limit, ModelProfile, profile_for_model
from farmwatch_core.contract import QUANTITIES, Record
from farmwatch_core.contract.derived import DERIVED
from farmwatch_core.contract.quantities import Quantity
from farmwatch_core.registry import Deployment, Farm, Node

from farmwatch import __version__
from farmwatch.reports.excursions import DEFAULT_MAX_GAP, Excursion, excursions, totals

__all__ = ["FORMAT", "LOT_PATTERN", "RecordSource", "build_record", "check_lot", "iso"]

FORMAT = "farmwatch-trace/1"
#: Lot IDs become file names and URL paths: letters, digits, '-' and '_' only (no dots, so
#: ``/trace/{lot}.json`` is never ambiguous).
LOT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
HOUR = timedelta(hours=1)
CHUNK = timedelta(days=1)  # one store query per node-day, as the exports do: flat memory


class RecordSource(Protocol):
    def records(
        self, farm_id: str, node_id: str, start: datetime, end: datetime
    ) -> Sequence[Record]: ...


def check_lot(lot: str) -> str:
    """The lot ID if it is usable as a file name and URL path; ``ValueError`` says why not."""
    if not LOT_PATTERN.fullmatch(lot):
        raise ValueError(
            f"lot ID {lot!r}: 1-64 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return lot


def iso(ts: datetime) -> str:
    """UTC, ISO 8601 with ``Z``, to the second (what the record stores).

    >>> from datetime import timezone
    >>> iso(datetime(2026, 6, 1, 7, 30, 5, 999, tzinfo=timezone(timedelta(hours=7))))
    '2026-06-01T00:30:05Z'
    """
    if ts.tzinfo is None:
        raise ValueError(f"{ts} has no time zone; records store UTC")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _r(value: float) -> float:
    return round(value, 4)


def _series(
    store: RecordSource,
    farm: str,
    node: str,
    subject: str,
    start: datetime,
    end: datetime,
    hours: set[int],
) -> Iterator[tuple[datetime, float]]:
    """(ts, value) of one node's subject in [start, end), noting each hour that had one."""
    day = start
    while day < end:
        upto = min(day + CHUNK, end)
        for record in store.records(farm, node, day, upto):
            value = record.readings.get(subject)
            if isinstance(value, int | float) and not isinstance(value, bool):
                hours.add(int((record.ts - start) / HOUR))
                yield record.ts, float(value)
        day = upto


def _expects(node: Node, profile: ModelProfile, subject: str) -> bool:
    if subject in INDICATORS and subject not in QUANTITIES:
        return True  # decided by whether it has any (see the module docstring)
    if node.sensors:
        return subject in node.sensors
    return subject in profile.sensors


def _limit_json(limit: Limit) -> dict[str, Any]:
    return {
        "severity": limit.severity.value,
        "below": limit.below,
        "above": limit.above,
        "source": limit.source,
    }


def _episode_json(node: str, episode: Excursion) -> dict[str, Any]:
    return {
        "node": node,
        "severity": episode.severity.value,
        "start": iso(episode.start),
        "end": iso(episode.end),
        "minutes": _r(episode.duration.total_seconds() / 60),
        "worst": _r(episode.worst),
        "worst_at": iso(episode.worst_at),
        "readings": episode.readings,
        "closed_by": episode.closed_by,
        "limit": _limit_json(episode.limit),
    }


def _totals_json(episodes: Sequence[Excursion]) -> dict[str, Any]:
    return {
        "count": len(episodes),
        "by_severity": {
            severity.value: {
                "count": total.count,
                "minutes_outside": _r(total.seconds_outside / 60),
            }
            for severity, total in totals(episodes).items()
        },
    }


def _subject(
    store: RecordSource,
    farm: Farm,
    profile: ModelProfile,
    subject: str,
    start: datetime,
    end: datetime,
    max_gap: timedelta,
) -> tuple[dict[str, Any], list[Excursion]]:
    limits = list(profile.limits[subject])
    n_hours = math.ceil((end - start) / HOUR)  # a partial last hour counts as an hour
    per_node: list[dict[str, Any]] = []
    episodes: list[Excursion] = []
    episode_rows: list[dict[str, Any]] = []
    is_indicator = subject not in QUANTITIES
    for node in farm.nodes:
        if not _expects(node, profile, subject):
            continue
        hours: set[int] = set()
        count = 0

        def counted(stream: Iterator[tuple[datetime, float]]) -> Iterator[tuple[datetime, float]]:
            nonlocal count
            for item in stream:
                count += 1
                yield item

        report = excursions(
            counted(_series(store, farm.id, node.id, subject, start, end, hours)), limits, max_gap
        )
        if is_indicator and count == 0:
            continue
        episodes.extend(report.episodes)
        episode_rows.extend(_episode_json(node.id, e) for e in report.episodes)
        per_node.append(
            {
                "node": node.id,
                "readings": count,
                "hours_with_data": len(hours),
                "completeness": _r(len(hours) / n_hours) if n_hours else 0.0,
                "excursions": report.count,
            }
        )
    expected_hours = n_hours * len(per_node)
    covered = sum(n["hours_with_data"] for n in per_node)
    spec = QUANTITIES.get(subject) or DERIVED[subject]
    symbol = spec.symbol if isinstance(spec, Quantity) else spec.unit
    episode_rows.sort(key=lambda e: (e["start"], e["node"], e["severity"]))
    return {
        "farm": farm.id,
        "subject": subject,
        "kind": "indicator" if is_indicator else "quantity",
        "unit": spec.unit,
        "unit_symbol": symbol,
        "label": {"vi": spec.label_vi, "en": spec.label_en},
        "limits": [_limit_json(limit) for limit in limits],
        "status": "measured" if per_node else "not computed" if is_indicator else "no node",
        "nodes": per_node,
        "readings": sum(n["readings"] for n in per_node),
        "completeness": _r(covered / expected_hours) if expected_hours else 0.0,
        "excursions": {**_totals_json(episodes), "episodes": episode_rows},
    }, episodes


def _statement(count: int, by_severity: Mapping[str, Any], completeness: float) -> dict[str, str]:
    coverage = f"{completeness:.0%}"
    if count == 0 and completeness == 0:
        return {
            "vi": "Không có dữ liệu quan trắc trong kỳ: không thể xác nhận việc tuân thủ ngưỡng.",
            "en": "No monitoring data in the period: compliance with the limits cannot be shown.",
        }
    if count == 0:
        return {
            "vi": "Không có lần nào vượt ngưỡng giới hạn trong suốt chu kỳ sản xuất "
            f"(dữ liệu quan trắc phủ {coverage} số giờ).",
            "en": "No excursion beyond limits during the growing cycle "
            f"(monitoring data covered {coverage} of the hours).",
        }
    parts_en = ", ".join(f"{v['count']} {k}" for k, v in by_severity.items())
    names_vi = {"info": "thông tin", "warning": "cảnh báo", "critical": "nghiêm trọng"}
    parts_vi = ", ".join(f"{v['count']} {names_vi.get(k, k)}" for k, v in by_severity.items())
    return {
        "vi": f"Có {count} lần vượt ngưỡng giới hạn trong chu kỳ sản xuất ({parts_vi}); "
        f"dữ liệu quan trắc phủ {coverage} số giờ.",
        "en": f"{count} excursions beyond limits during the growing cycle ({parts_en}); "
        f"monitoring data covered {coverage} of the hours.",
    }


def _alerts_json(alerts: Sequence[Alert] | None, farm_ids: set[str]) -> dict[str, Any]:
    if alerts is None:
        return {"available": False, "count": 0, "items": []}
    items: list[dict[str, Any]] = []
    for alert in alerts:
        labels = alert.labels
        if labels.get("farm") not in farm_ids:
            continue
        times = {
            name: None if value is None else iso(value)
            for name, value in (
                ("starts_at", alert.starts_at),
                ("fired_at", alert.fired_at),
                ("acknowledged_at", alert.acknowledged_at),
                ("ends_at", alert.ends_at),
            )
        }
        items.append(
            {
                "alertname": alert.name,
                "severity": alert.severity.value,
                "farm": labels.get("farm"),
                "node": labels.get("node"),
                "quantity": labels.get("quantity"),
                "state": alert.state.value,
                **times,
            }
        )
    items.sort(key=lambda a: (a["starts_at"], a["farm"] or "", a["alertname"]))
    by_severity: dict[str, int] = {}
    for item in items:
        by_severity[item["severity"]] = by_severity.get(item["severity"], 0) + 1
    return {"available": True, "count": len(items), "by_severity": by_severity, "items": items}


def _farm_json(farm: Farm, deployment: Deployment) -> dict[str, Any]:
    coop = next((c for c in deployment.cooperatives if c.id == farm.cooperative), None)
    return {
        "id": farm.id,
        "name": farm.name,
        "model": farm.model.value,
        "commune": farm.commune,
        "district": farm.district,
        "cooperative": None if coop is None else {"id": coop.id, "name": coop.name},
        "growing_area_code": farm.growing_area_code,
        "certifications": list(farm.certifications),
        "model_farm": farm.model_farm,
        "area_ha": farm.area_ha,
        "nodes": [node.id for node in farm.nodes],
    }


def build_record(
    deployment: Deployment,
    farms: Sequence[Farm],
    store: RecordSource,
    *,
    lot: str,
    start: datetime,
    end: datetime,
    created_at: datetime,
    public_url: str,
    product: str | None = None,
    alerts: Sequence[Alert] | None = None,
    max_gap: timedelta = DEFAULT_MAX_GAP,
) -> dict[str, Any]:
    """The unsigned record of ``lot`` for ``farms`` over [start, end) (sign it with ``sign``)."""
    check_lot(lot)
    if not start < end:
        raise ValueError(f"the period must start before it ends ({iso(start)} → {iso(end)})")
    if not farms:
        raise ValueError("a lot comes from at least one farm")
    subjects: list[dict[str, Any]] = []
    every: list[Excursion] = []
    for farm in farms:
        profile = profile_for_model(farm.model)
        for subject in sorted(profile.limits):
            row, episodes = _subject(store, farm, profile, subject, start, end, max_gap)
            subjects.append(row)
            every.extend(episodes)
    measured = [s for s in subjects if s["status"] == "measured" and s["kind"] == "quantity"]
    weights = [(s["completeness"], len(s["nodes"])) for s in measured]
    total_nodes = sum(w for _, w in weights)
    completeness = _r(sum(c * w for c, w in weights) / total_nodes) if total_nodes else 0.0
    summary = _totals_json(every)
    codes = sorted({f.growing_area_code for f in farms if f.growing_area_code})
    base = public_url.rstrip("/")
    return {
        "format": FORMAT,
        "lot": lot,
        "product": product,
        "growing_area_codes": codes,
        "period": {"start": iso(start), "end": iso(end)},
        "created_at": iso(created_at),
        "farms": [_farm_json(f, deployment) for f in farms],
        "monitoring": {
            "completeness": completeness,
            "completeness_basis": "share of the period's hours with at least one reading, "
            "per node expected to measure the quantity",
            "max_gap_minutes": _r(max_gap.total_seconds() / 60),
            "excursions": summary,
            "statement": _statement(summary["count"], summary["by_severity"], completeness),
            "subjects": subjects,
        },
        "alerts": _alerts_json(alerts, {f.id for f in farms}),
        "url": f"{base}/trace/{lot}",
        "json_url": f"{base}/trace/{lot}.json",
        "public_key_url": f"{base}/trace/public-key.pem",
        "issuer": {"software": f"farmwatch {__version__}"},
    }
