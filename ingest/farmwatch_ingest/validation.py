"""Turns one MQTT message into storable records and, for whatever is refused, a dead letter.

The contract decides what a valid payload is; this stage adds what only the server knows: which
nodes are registered, what time it is, which topic prefix this deployment uses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from farmwatch_core.contract import (
    Channel,
    ContractError,
    NodeTopic,
    Reason,
    Rejection,
    TimeWindow,
    decode_fast,
)
from farmwatch_core.contract.derived import decode_derived
from farmwatch_core.contract.fast import plain_record, window_bounds
from farmwatch_core.registry import Deployment

from farmwatch_ingest.deadletter import DeadLetter
from farmwatch_ingest.stores.base import NodeRecord

log = logging.getLogger(__name__)

_TOPIC_CACHE_SIZE = 100_000


@dataclass(slots=True)
class Checked:
    records: list[NodeRecord] = field(default_factory=list)
    dead_letter: DeadLetter | None = None
    derived: bool = False  # analytics' values of a node, not the node's own readings


class TelemetryValidator:
    """Validates telemetry messages against the contract and the deployment registry.

    With ``auto_register`` (a demo convenience) unknown nodes are accepted and remembered, and
    the first message of each is logged so nobody mistakes it for a registered node.
    """

    def __init__(
        self,
        deployment: Deployment | None,
        *,
        topic_prefix: str = "",
        window: TimeWindow = TimeWindow(),  # noqa: B008 - frozen dataclass
        max_bytes: int = 256 * 1024,
        auto_register: bool = False,
    ) -> None:
        self.deployment = deployment
        self.topic_prefix = topic_prefix
        self.window = window
        self.max_bytes = max_bytes
        self.auto_register = auto_register
        self._auto_registered: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        # Hot path: a plain set instead of the registry's model look-up on every message, and
        # the parsed form of each topic seen (a deployment has a bounded number of nodes).
        self._registered_nodes = (
            frozenset((f.id, n.id) for f in deployment.farms for n in f.nodes)
            if deployment is not None
            else frozenset()
        )
        self._topics: dict[str, NodeTopic] = {}
        # Telemetry topics of registered nodes seen so far, to their (farm, node): what
        # :meth:`plain_records` needs to take a message without any other look-up.
        self._telemetry_nodes: dict[str, tuple[str, str]] = {}

    def plain_records(self, received_at: datetime) -> Callable[[str, bytes], NodeRecord | None]:
        """The hot path for the messages of one network read.

        The returned function gives the record of a message that is a plain, valid v1 record
        on the telemetry topic of a registered node already seen, and None for anything else,
        which :meth:`check` then decides (it gives the same record for a plain message, only
        more slowly: this is :func:`~farmwatch_core.contract.fast.plain_record` with the topic
        look-up and the time window computed once per read instead of once per message).
        """
        earliest, latest = window_bounds(received_at, self.window)
        nodes = self._telemetry_nodes.get
        max_bytes = self.max_bytes

        def record_of(topic: str, payload: bytes) -> NodeRecord | None:
            node = nodes(topic)
            if node is None or len(payload) > max_bytes:
                return None
            record = plain_record(payload, earliest, latest)
            if record is None:
                return None
            return NodeRecord(node[0], node[1], record)

        return record_of

    def check(self, topic: str, payload: bytes, received_at: datetime) -> Checked:
        try:
            node_topic = self._parse_topic(topic)
        except ContractError as exc:
            return Checked(dead_letter=DeadLetter(received_at, topic, payload, (exc.rejection,)))
        if node_topic.channel is Channel.ANALYTICS:
            return self._check_derived(node_topic, topic, payload, received_at)
        if node_topic.channel is not Channel.TELEMETRY:
            rejection = Rejection(Reason.BAD_TOPIC, f"{topic!r} is not a telemetry topic")
            return Checked(dead_letter=DeadLetter(received_at, topic, payload, (rejection,)))
        farm_id, node_id = node_topic.farm_id, node_topic.node_id
        if not self._registered(farm_id, node_id):
            rejection = Rejection(
                Reason.UNKNOWN_NODE,
                f"node {node_id!r} of farm {farm_id!r} is not in the registry; add it to the "
                "registry file (or run ingest with --auto-register for a demo)",
            )
            return Checked(
                dead_letter=DeadLetter(received_at, topic, payload, (rejection,), farm_id, node_id)
            )
        if len(self._telemetry_nodes) < _TOPIC_CACHE_SIZE:
            self._telemetry_nodes[topic] = (farm_id, node_id)
        try:
            # MQTT 3.1.1 carries no content type: v1 JSON, SenML and line protocol are told
            # apart by their first byte (see docs/contract.md, "Other payload formats").
            # decode_fast is decode_any with a shortcut for the plain single v1 record.
            decoded = decode_fast(
                payload, now=received_at, window=self.window, max_bytes=self.max_bytes
            )
        except ContractError as exc:
            return Checked(
                dead_letter=DeadLetter(
                    received_at, topic, payload, (exc.rejection,), farm_id, node_id
                )
            )
        except (ArithmeticError, ValueError) as exc:
            # A decoder bug must not make a poison message (redelivered for ever), as a time
            # zone whose UTC conversion overflowed datetime once did: refuse the message as
            # malformed, and say so loudly.
            log.exception("the contract's decoder failed on a message from %s", topic)
            rejection = Rejection(Reason.SCHEMA, f"the payload could not be decoded: {exc}")
            return Checked(
                dead_letter=DeadLetter(received_at, topic, payload, (rejection,), farm_id, node_id)
            )
        checked = Checked(records=[NodeRecord(farm_id, node_id, r) for r in decoded.records])
        if decoded.rejections:
            checked.dead_letter = DeadLetter(
                received_at, topic, payload, tuple(decoded.rejections), farm_id, node_id
            )
        return checked

    def _check_derived(
        self, node_topic: NodeTopic, topic: str, payload: bytes, received_at: datetime
    ) -> Checked:
        """Analytics' derived values for a node: stored as more fields of the node's point."""
        farm_id, node_id = node_topic.farm_id, node_topic.node_id
        rejection = None
        if len(payload) > self.max_bytes:
            detail = f"{len(payload)} bytes; the limit is {self.max_bytes}"
            rejection = Rejection(Reason.TOO_LARGE, detail)
        elif not self._registered(farm_id, node_id):
            detail = f"derived values for unregistered node {node_id!r} of farm {farm_id!r}"
            rejection = Rejection(Reason.UNKNOWN_NODE, detail)
        else:
            try:
                record = decode_derived(payload)
            except ContractError as exc:
                rejection = exc.rejection
        if rejection is not None:
            letter = DeadLetter(received_at, topic, payload, (rejection,), farm_id, node_id)
            return Checked(dead_letter=letter, derived=True)
        return Checked(records=[NodeRecord(farm_id, node_id, record)], derived=True)

    def _parse_topic(self, topic: str) -> NodeTopic:
        parsed = self._topics.get(topic)
        if parsed is None:
            parsed = NodeTopic.parse(topic, self.topic_prefix)  # raises for bad topics: not cached
            if len(self._topics) < _TOPIC_CACHE_SIZE:
                self._topics[topic] = parsed
        return parsed

    def _registered(self, farm_id: str, node_id: str) -> bool:
        if (farm_id, node_id) in self._registered_nodes:
            return True
        if not self.auto_register:
            return False
        with self._lock:
            if (farm_id, node_id) not in self._auto_registered:
                self._auto_registered.add((farm_id, node_id))
                log.warning("auto-registered unknown node %s/%s (demo mode)", farm_id, node_id)
        return True
