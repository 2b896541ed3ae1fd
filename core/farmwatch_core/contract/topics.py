"""MQTT topic grammar of farmwatch.

Topics are frozen, validated value objects (as in aiomqtt) so a bad ID is refused where it
enters, not three services later::

    [{prefix}/]farms/{farm_id}/nodes/{node_id}/telemetry      node -> server, QoS 1
    [{prefix}/]farms/{farm_id}/nodes/{node_id}/status         node -> server, retained, last will
    [{prefix}/]farms/{farm_id}/nodes/{node_id}/config         server -> node, retained
    [{prefix}/]farms/{farm_id}/nodes/{node_id}/cmd/{actuator} server -> node
    [{prefix}/]farms/{farm_id}/nodes/{node_id}/analytics      analytics -> ingest, QoS 1
    [{prefix}/]farms/{farm_id}/candidates                     analytics -> alerting, QoS 1
    [{prefix}/]farms/{farm_id}/alerts                         server -> apps

The optional prefix lets several deployments (or test runs) share one broker.

>>> t = NodeTopic.parse("farms/pond-01/nodes/n1/telemetry")
>>> (t.farm_id, t.node_id, t.channel.value)
('pond-01', 'n1', 'telemetry')
>>> str(node_topic("pond-01", "n1", Channel.CMD, actuator="aerator"))
'farms/pond-01/nodes/n1/cmd/aerator'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from farmwatch_core.contract.rejections import ContractError, Reason

ID_MAX_LENGTH = 64
# Letters, digits, '-', '_' and '.', starting with a letter or digit. This excludes the MQTT
# wildcards '+' and '#', the level separator '/', '$' (reserved for broker topics), spaces and
# anything that would need escaping in InfluxDB line protocol tags or in URLs.
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PREFIX_PATTERN = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")


def validate_id(kind: str, value: str) -> str:
    """Return ``value`` if it is a valid farm/node/actuator ID, else raise ContractError.

    >>> validate_id("node", "n-01")
    'n-01'
    >>> validate_id("node", "n/1")
    Traceback (most recent call last):
    ...
    farmwatch_core.contract.rejections.ContractError: bad_id: node ID 'n/1' may contain only ...
    """
    if not isinstance(value, str) or not value:
        raise ContractError(Reason.BAD_ID, f"{kind} ID must be a non-empty string")
    if len(value) > ID_MAX_LENGTH:
        raise ContractError(
            Reason.BAD_ID,
            f"{kind} ID is {len(value)} characters long; the limit is {ID_MAX_LENGTH}",
        )
    if not _ID_PATTERN.fullmatch(value):
        raise ContractError(
            Reason.BAD_ID,
            f"{kind} ID {value!r} may contain only letters, digits, '-', '_' and '.', "
            "and must start with a letter or digit (no '+', '#', '/', '$' or spaces)",
        )
    return value


def validate_prefix(prefix: str) -> str:
    """Return a topic prefix without trailing '/', or raise ValueError."""
    prefix = prefix.strip("/")
    if prefix and not _PREFIX_PATTERN.fullmatch(prefix):
        raise ValueError(
            f"topic prefix {prefix!r} may contain only letters, digits, '-', '_', '.' and '/'"
        )
    return prefix


class Channel(StrEnum):
    """The per-node topic kinds."""

    TELEMETRY = "telemetry"
    STATUS = "status"
    CONFIG = "config"
    CMD = "cmd"
    ANALYTICS = "analytics"  # derived values of the node (indicators, anomaly scores)


@dataclass(frozen=True, slots=True)
class NodeTopic:
    """A validated per-node topic."""

    farm_id: str
    node_id: str
    channel: Channel
    actuator: str | None = None
    prefix: str = ""

    def __post_init__(self) -> None:
        validate_id("farm", self.farm_id)
        validate_id("node", self.node_id)
        if self.channel is Channel.CMD:
            if self.actuator is None:
                raise ContractError(Reason.BAD_TOPIC, "a cmd topic needs an actuator name")
            validate_id("actuator", self.actuator)
        elif self.actuator is not None:
            raise ContractError(
                Reason.BAD_TOPIC, f"only cmd topics name an actuator, not {self.channel}"
            )

    def __str__(self) -> str:
        head = f"{self.prefix}/" if self.prefix else ""
        tail = f"/{self.actuator}" if self.actuator is not None else ""
        return f"{head}farms/{self.farm_id}/nodes/{self.node_id}/{self.channel.value}{tail}"

    def ack(self) -> str:
        """Where a node acknowledges a command: ``.../cmd/{actuator}/ack`` (node -> server).

        >>> node_topic("f", "n", Channel.CMD, actuator="aerator").ack()
        'farms/f/nodes/n/cmd/aerator/ack'
        """
        if self.channel is not Channel.CMD:
            raise ContractError(Reason.BAD_TOPIC, "only cmd topics have an acknowledgement topic")
        return f"{self}/ack"

    @classmethod
    def parse(cls, topic: str, prefix: str = "") -> NodeTopic:
        """Parse a concrete topic; raise ContractError(BAD_TOPIC/BAD_ID) with the reason."""
        rest = topic
        if prefix:
            if not topic.startswith(prefix + "/"):
                raise ContractError(
                    Reason.BAD_TOPIC, f"topic {topic!r} is outside prefix {prefix!r}"
                )
            rest = topic[len(prefix) + 1 :]
        levels = rest.split("/")
        if len(levels) not in (5, 6) or levels[0] != "farms" or levels[2] != "nodes":
            raise ContractError(
                Reason.BAD_TOPIC,
                f"topic {topic!r} is not farms/{{farm_id}}/nodes/{{node_id}}/{{channel}}",
            )
        try:
            channel = Channel(levels[4])
        except ValueError:
            known = ", ".join(c.value for c in Channel)
            raise ContractError(
                Reason.BAD_TOPIC, f"unknown channel {levels[4]!r} in {topic!r} (known: {known})"
            ) from None
        actuator = levels[5] if len(levels) == 6 else None
        return cls(levels[1], levels[3], channel, actuator, prefix)


def node_topic(
    farm_id: str, node_id: str, channel: Channel, *, actuator: str | None = None, prefix: str = ""
) -> NodeTopic:
    """Build a validated per-node topic."""
    return NodeTopic(farm_id, node_id, channel, actuator, validate_prefix(prefix))


def alerts_topic(farm_id: str, prefix: str = "") -> str:
    """Topic where a farm's alerts are published for apps."""
    prefix = validate_prefix(prefix)
    head = f"{prefix}/" if prefix else ""
    return f"{head}farms/{validate_id('farm', farm_id)}/alerts"


def candidates_topic(farm_id: str, prefix: str = "") -> str:
    """Topic where analytics publishes a farm's alert candidates for the alerting stage.

    >>> candidates_topic("pond-01", "test")
    'test/farms/pond-01/candidates'
    """
    prefix = validate_prefix(prefix)
    head = f"{prefix}/" if prefix else ""
    return f"{head}farms/{validate_id('farm', farm_id)}/candidates"


@dataclass(frozen=True, slots=True)
class TopicFilter:
    """A subscription filter over node topics; ``None`` IDs mean every farm/node ('+')."""

    channel: Channel
    farm_id: str | None = None
    node_id: str | None = None
    prefix: str = ""

    def __str__(self) -> str:
        head = f"{self.prefix}/" if self.prefix else ""
        farm = self.farm_id or "+"
        node = self.node_id or "+"
        tail = "/+" if self.channel is Channel.CMD else ""
        return f"{head}farms/{farm}/nodes/{node}/{self.channel.value}{tail}"

    def shared(self, group: str) -> str:
        """The MQTT 5 / mosquitto shared-subscription form, to spread load over workers."""
        return f"$share/{validate_id('share group', group)}/{self}"

    def matches(self, topic: NodeTopic) -> bool:
        return (
            topic.channel is self.channel
            and topic.prefix == self.prefix
            and self.farm_id in (None, topic.farm_id)
            and self.node_id in (None, topic.node_id)
        )
