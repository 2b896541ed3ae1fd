"""An alert: a label set with a lifecycle, as Prometheus Alertmanager models it, plus acks.

Labels say *what and where* (``alertname``, ``farm``, ``node``, ``quantity``, ``profile``,
``cooperative``, ``severity``) and are all routing, grouping, inhibition and silences look
at; annotations say *how much* (value, limit and its source, the action to take) and go into
the message only. The fingerprint, a hash of the labels, identifies an alert across restarts
and redeliveries, so the same problem is one alert however often it is reported.

Lifecycle (what Alertmanager lacks and a farmer needs is the acknowledgement)::

    pending ──(held for the rule's ``for``)──▶ firing ──(ack)──▶ acknowledged
       │                                         │                   │
       └──────────(condition clears)─────────────┴──────▶ resolved ◀─┘

    >>> from datetime import UTC, datetime
    >>> a = Alert.new({"alertname": "DoLow", "farm": "pond-01", "node": "pond-01-n1"},
    ...               Severity.CRITICAL, datetime(2026, 7, 15, 20, tzinfo=UTC))
    >>> a.state, a.fingerprint == fingerprint(dict(reversed(list(a.labels.items()))))
    (<AlertState.PENDING: 'pending'>, True)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from farmwatch_core.contract.candidates import Severity

__all__ = ["ACTIVE", "Alert", "AlertState", "Severity", "fingerprint", "severity_rank"]


class AlertState(StrEnum):
    PENDING = "pending"  # the condition holds, not yet for the rule's minimum duration
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"  # firing, and someone said they are on it
    RESOLVED = "resolved"


ACTIVE = frozenset({AlertState.FIRING, AlertState.ACKNOWLEDGED})
_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def severity_rank(severity: Severity) -> int:
    """0 info, 1 warning, 2 critical: for "at least warning" comparisons."""
    return _RANK[severity]


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable identity of a label set (order-independent; 16 hex digits)."""
    canonical = json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert at one moment; transitions return a new ``Alert`` (the store keeps history)."""

    fingerprint: str
    labels: Mapping[str, str]
    severity: Severity
    state: AlertState
    starts_at: datetime  # when the condition began (pending included)
    updated_at: datetime
    annotations: Mapping[str, str] = field(default_factory=dict)
    fired_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    ends_at: datetime | None = None

    @classmethod
    def new(
        cls,
        labels: Mapping[str, str],
        severity: Severity,
        at: datetime,
        annotations: Mapping[str, str] | None = None,
    ) -> Alert:
        labels = {**labels, "severity": severity.value}
        return cls(
            fingerprint(labels), labels, severity, AlertState.PENDING, at, at,
            dict(annotations or {}),
        )  # fmt: skip

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def active(self) -> bool:
        """Firing or acknowledged: what routing, inhibition and escalation act on."""
        return self.state in ACTIVE

    def fire(self, at: datetime, annotations: Mapping[str, str] | None = None) -> Alert:
        return replace(
            self,
            state=AlertState.FIRING,
            fired_at=at,
            updated_at=at,
            annotations={**self.annotations, **(annotations or {})},
        )

    def update(self, at: datetime, annotations: Mapping[str, str]) -> Alert:
        """The latest value of a continuing alert (state unchanged)."""
        return replace(self, updated_at=at, annotations={**self.annotations, **annotations})

    def acknowledge(self, at: datetime, by: str) -> Alert:
        if self.state is not AlertState.FIRING:
            return self
        return replace(
            self, state=AlertState.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=by,
            updated_at=at,
        )  # fmt: skip

    def resolve(self, at: datetime, annotations: Mapping[str, str] | None = None) -> Alert:
        return replace(
            self,
            state=AlertState.RESOLVED,
            ends_at=at,
            updated_at=at,
            annotations={**self.annotations, **(annotations or {})},
        )

    def as_json(self) -> dict[str, Any]:
        """A JSON-able view (webhook bodies, the MQTT alerts topic, the HTTP API)."""
        times = ("starts_at", "updated_at", "fired_at", "acknowledged_at", "ends_at")
        body: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "severity": self.severity.value,
            "state": self.state.value,
            "acknowledged_by": self.acknowledged_by,
        }
        for name in times:
            value: datetime | None = getattr(self, name)
            body[name] = None if value is None else value.isoformat().replace("+00:00", "Z")
        return body
