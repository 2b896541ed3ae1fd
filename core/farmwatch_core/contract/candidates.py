"""Alert candidates: analytics telling the alerting stage that something started or ended.

Published on ``farms/{farm_id}/candidates`` (QoS 1) as JSON. A candidate is a change of state
of an *episode* (one subject of one node, judged by one detector or limit): ``firing`` when it
starts, ``resolved`` when nothing has confirmed it for a while. The alerting stage turns
candidates into notifications (routing, grouping, escalation); this module only fixes the
shape both sides agree on.

    >>> from datetime import UTC, datetime
    >>> c = AlertCandidate("pond-01", "pond-01-n1", "dissolved_oxygen", CandidateKind.LIMIT,
    ...     "limit:critical", Severity.CRITICAL, "firing", datetime(2026, 7, 15, 21, tzinfo=UTC),
    ...     datetime(2026, 7, 15, 21, tzinfo=UTC), value=2.1, limit=2.3, limit_source="tilapia")
    >>> AlertCandidate.from_json(c.to_json()) == c
    True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from farmwatch_core.contract.payload import format_ts
from farmwatch_core.contract.rejections import ContractError, Reason

__all__ = ["AlertCandidate", "CandidateKind", "Severity"]


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class CandidateKind(StrEnum):
    SENSOR_FAULT = "sensor_fault"  # the probe is lying: for the technician
    OFFLINE = "offline"  # the node is silent
    ANOMALY = "anomaly"  # the farm behaves unlike itself
    LIMIT = "limit"  # a quantity or indicator is outside the profile's limit
    FORECAST = "forecast"  # it will be, hours from now


_TIMES = ("since", "ts", "expected_at")


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    """A change of state the alerting stage may turn into a notification."""

    farm: str
    node: str
    subject: str  # a quantity or derived value; "*" for the whole node
    kind: CandidateKind
    source: str  # the detector or limit that said so
    severity: Severity
    state: str  # "firing" or "resolved"
    since: datetime
    ts: datetime
    value: float | None = None
    limit: float | None = None
    limit_source: str | None = None
    expected_at: datetime | None = None  # forecasts: when the limit will be crossed

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What identifies the episode: farm, node, subject, source."""
        return (self.farm, self.node, self.subject, self.source)

    def to_json(self) -> bytes:
        body: dict[str, Any] = asdict(self)
        for name in _TIMES:
            if body[name] is not None:
                body[name] = format_ts(body[name])
        body["kind"], body["severity"] = self.kind.value, self.severity.value
        return json.dumps({"v": 1, **body}, allow_nan=False, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> AlertCandidate:
        try:
            body = json.loads(payload)
            body.pop("v")
            for name in _TIMES:
                if body.get(name) is not None:
                    body[name] = datetime.fromisoformat(body[name])
            body["kind"] = CandidateKind(body["kind"])
            body["severity"] = Severity(body["severity"])
            candidate = cls(**body)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ContractError(Reason.SCHEMA, f"not an alert candidate: {exc}") from None
        if candidate.state not in ("firing", "resolved"):
            raise ContractError(Reason.SCHEMA, f"candidate state {candidate.state!r}")
        return candidate
