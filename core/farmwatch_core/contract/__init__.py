"""The farmwatch wire contract: topics, payload schema v1, quantities and units.

Everything that crosses MQTT between a node and the server is defined here and nowhere else:
edge agents encode with it, ingest decodes with it, simulators publish with it. The human
documentation is ``docs/contract.md``; the tests in ``tests/core`` hold it to that text.

Errors form one small tree::

    ContractError            a whole message (or topic, or ID) is unusable
      (carries a Rejection: reason code + human-readable detail)

Reading-level problems (NaN, out of bounds, unknown quantity...) are not exceptions: they come
back as :class:`Rejection` values next to the readings that were fine, so one bad sensor never
costs the good readings of the same record.
"""

from farmwatch_core.contract.fast import decode_fast
from farmwatch_core.contract.formats import PayloadFormat, decode_any, sniff_format
from farmwatch_core.contract.lineprotocol import decode_line_protocol
from farmwatch_core.contract.payload import (
    PAYLOAD_VERSION,
    DecodedMessage,
    Record,
    TimeWindow,
    decode_telemetry,
    encode_batch,
    encode_record,
)
from farmwatch_core.contract.quantities import QUANTITIES, Quantity, quantity
from farmwatch_core.contract.rejections import ContractError, Reason, Rejection
from farmwatch_core.contract.senml import decode_senml
from farmwatch_core.contract.topics import (
    Channel,
    NodeTopic,
    TopicFilter,
    alerts_topic,
    node_topic,
    validate_id,
)

__all__ = [
    "PAYLOAD_VERSION",
    "QUANTITIES",
    "Channel",
    "ContractError",
    "DecodedMessage",
    "NodeTopic",
    "PayloadFormat",
    "Quantity",
    "Reason",
    "Record",
    "Rejection",
    "TimeWindow",
    "TopicFilter",
    "alerts_topic",
    "decode_any",
    "decode_fast",
    "decode_line_protocol",
    "decode_senml",
    "decode_telemetry",
    "encode_batch",
    "encode_record",
    "node_topic",
    "quantity",
    "sniff_format",
    "validate_id",
]
