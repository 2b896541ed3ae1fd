"""Why a message or a reading was refused, in words a technician can act on.

Every refusal carries a stable machine code (:class:`Reason`, used in metrics, dead letters and
the API) and a detail sentence naming the offending value and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Stable rejection codes; documented one by one in docs/contract.md."""

    BAD_TOPIC = "bad_topic"
    BAD_ID = "bad_id"
    TOO_LARGE = "too_large"
    MALFORMED_JSON = "malformed_json"
    SCHEMA = "schema"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_NODE = "unknown_node"
    UNKNOWN_QUANTITY = "unknown_quantity"
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    WRONG_UNIT = "wrong_unit"
    OUT_OF_BOUNDS = "out_of_bounds"
    CLOCK_IN_FUTURE = "clock_in_future"
    TOO_OLD = "too_old"
    STORE_REJECTED = "store_rejected"


@dataclass(frozen=True, slots=True)
class Rejection:
    """One refused message or reading.

    ``quantity`` and ``seq`` are set when only part of a message was refused, so the dead letter
    says exactly which reading of which record was dropped.
    """

    reason: Reason
    detail: str
    quantity: str | None = None
    seq: int | None = None

    def __str__(self) -> str:
        where = []
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        if self.quantity is not None:
            where.append(self.quantity)
        prefix = f"[{', '.join(where)}] " if where else ""
        return f"{self.reason.value}: {prefix}{self.detail}"


class ContractError(ValueError):
    """A whole message, topic or identifier violates the contract."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.rejection = Rejection(reason, detail)

    @property
    def reason(self) -> Reason:
        return self.rejection.reason
