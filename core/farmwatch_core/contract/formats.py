"""Pick the decoder for a telemetry payload: v1 JSON, SenML JSON or InfluxDB line protocol.

All three decode into the same :class:`DecodedMessage`, with the same reason codes, so callers
(ingest) need not care which one a node speaks. The format is chosen by:

1. the **content type**, when the transport carries one (MQTT v5's Content Type property,
   an HTTP header): ``application/json`` is v1, ``application/senml+json`` is SenML,
   ``text/plain`` (InfluxDB's ``/write`` type, e.g. ``text/plain; influx-line-protocol``) is
   line protocol, with an optional ``precision=ns|us|ms|s`` parameter; the short names
   ``v1``, ``senml`` and ``lp`` are accepted for configuration files. Matching ignores case
   and other parameters (``charset=utf-8``). An unknown content type is refused, never
   guessed: it usually means a firmware speaks something we would mis-decode.
2. otherwise **sniffing** the first byte that is not JSON whitespace (after an optional UTF-8
   BOM): ``{`` is v1, ``[`` is SenML, anything else is line protocol (nanosecond
   timestamps). This is unambiguous: a v1 message is a JSON object, a SenML pack a JSON
   array, and a line protocol measurement name cannot start with either (the line protocol
   decoder would refuse it anyway). MQTT 3.1.1 has no content type, so this is the usual path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from farmwatch_core.contract.lineprotocol import PRECISION_NS, Precision, decode_line_protocol
from farmwatch_core.contract.payload import (
    MAX_MESSAGE_BYTES,
    DecodedMessage,
    TimeWindow,
    decode_telemetry,
)
from farmwatch_core.contract.rejections import ContractError, Reason
from farmwatch_core.contract.senml import decode_senml


class PayloadFormat(StrEnum):
    """The telemetry payload formats; the values are the short names accepted as content types."""

    V1 = "v1"
    SENML = "senml"
    LINE_PROTOCOL = "lp"


CONTENT_TYPES: Mapping[str, PayloadFormat] = MappingProxyType(
    {
        "application/json": PayloadFormat.V1,
        "application/senml+json": PayloadFormat.SENML,  # RFC 8428 §6
        "text/plain": PayloadFormat.LINE_PROTOCOL,
        **{f.value: f for f in PayloadFormat},
    }
)
"""Media type (lower case, without parameters) -> format."""

_JSON_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"


def sniff_format(payload: bytes) -> PayloadFormat:
    """Guess the format from the first significant byte (see the module docstring).

    >>> sniff_format(b'  {"v": 1}'), sniff_format(b'[{"n": "ph"}]'), sniff_format(b"t ph=7")
    (<PayloadFormat.V1: 'v1'>, <PayloadFormat.SENML: 'senml'>, <PayloadFormat.LINE_PROTOCOL: 'lp'>)
    """
    body = payload.removeprefix(_BOM).lstrip(_JSON_WHITESPACE)
    if body.startswith(b"{"):
        return PayloadFormat.V1
    if body.startswith(b"["):
        return PayloadFormat.SENML
    return PayloadFormat.LINE_PROTOCOL


def parse_content_type(content_type: str) -> tuple[PayloadFormat, Precision]:
    """Map a content type to a format and a line protocol timestamp precision.

    >>> parse_content_type("text/plain; influx-line-protocol; precision=ms")
    (<PayloadFormat.LINE_PROTOCOL: 'lp'>, 'ms')
    >>> parse_content_type("Application/SenML+JSON; charset=utf-8")
    (<PayloadFormat.SENML: 'senml'>, 'ns')
    """
    media, *parameters = (part.strip() for part in content_type.split(";"))
    payload_format = CONTENT_TYPES.get(media.lower())
    if payload_format is None:
        raise ContractError(
            Reason.SCHEMA,
            f"content type {content_type[:80]!r} is not supported; use application/json (v1), "
            "application/senml+json (SenML) or text/plain (InfluxDB line protocol)",
        )
    precision: Precision = "ns"
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "precision":
            continue
        value = value.strip().strip('"').lower()
        if payload_format is not PayloadFormat.LINE_PROTOCOL:
            raise ContractError(
                Reason.SCHEMA, "the 'precision' content type parameter applies to line protocol"
            )
        if value == "ns":
            precision = "ns"
        elif value == "us":
            precision = "us"
        elif value == "ms":
            precision = "ms"
        elif value == "s":
            precision = "s"
        else:
            raise ContractError(
                Reason.SCHEMA,
                f"line protocol precision {value[:10]!r} is not one of {', '.join(PRECISION_NS)}",
            )
    return payload_format, precision


def decode_any(
    payload: bytes,
    *,
    content_type: str | None = None,
    now: datetime,
    window: TimeWindow = TimeWindow(),  # noqa: B008 - frozen dataclass
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> DecodedMessage:
    """Decode a telemetry payload in whichever supported format it is.

    An empty or blank ``content_type`` counts as absent (MQTT v5 clients sometimes send "").

    >>> from datetime import UTC
    >>> now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    >>> v1 = b'{"v": 1, "ts": "2026-11-29T02:59:00Z", "seq": 7, "synced": true, "readings": {"ph": 7.1}}'
    >>> senml = b'[{"bt": 1795921140, "n": "seq", "v": 7}, {"n": "synced", "vb": true}, {"n": "ph", "v": 7.1}]'
    >>> lp = b"telemetry ph=7.1,seq=7i,synced=true 1795921140000"
    >>> a = decode_any(v1, now=now)
    >>> b = decode_any(senml, now=now)
    >>> c = decode_any(lp, content_type="text/plain; precision=ms", now=now)
    >>> a == b == c
    True
    """  # noqa: E501 - doctest payloads are clearer on one line
    if len(payload) > max_bytes:
        raise ContractError(
            Reason.TOO_LARGE, f"message is {len(payload)} bytes; the limit is {max_bytes}"
        )
    precision: Precision = "ns"
    if content_type is not None and content_type.strip():
        payload_format, precision = parse_content_type(content_type)
    else:
        payload_format = sniff_format(payload)
    if payload_format is PayloadFormat.V1:
        return decode_telemetry(payload, now=now, window=window, max_bytes=max_bytes)
    if payload_format is PayloadFormat.SENML:
        return decode_senml(payload, now=now, window=window, max_bytes=max_bytes)
    return decode_line_protocol(
        payload, now=now, window=window, max_bytes=max_bytes, precision=precision
    )
