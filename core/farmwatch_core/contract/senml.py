"""SenML JSON (RFC 8428) telemetry, resolved onto the same records and rejections as payload v1.

Off-the-shelf LwM2M/CoAP gateways and many sensor SDKs already speak SenML, so accepting it
saves writing a translator per vendor. It is not a second contract: a SenML pack is *resolved*
(RFC 8428 §4.6) and every reading goes through the same :func:`check_reading` and time-window
check as v1, so a broken probe gets the same reason code whichever format its node speaks.

A pack from one node, ``bn`` naming the device (ignored: the node comes from the MQTT topic)::

    [{"bn": "urn:dev:ow:10e2073a01080063:", "bt": 1795921140, "n": "seq", "v": 4211},
     {"n": "synced", "vb": true},
     {"n": "dissolved_oxygen", "u": "mg/L", "v": 4.6},
     {"n": "water_temperature", "u": "Cel", "v": 27.8},
     {"n": "aerator_state", "vb": true}]

:func:`encode_senml` writes records back as a pack by the same rules (the open-data export,
docs/opendata.md), so what farmwatch exports it also reads.

Mapping rules (also in docs/contract.md, "Other payload formats"):

* **Names** (RFC 8428 §4.5.1): the resolved name is ``bn`` + ``n``; its last segment after
  ``:`` or ``/`` is the farmwatch quantity (exact registry name), or one of the few
  unambiguous aliases in :data:`SENML_ALIASES` (matched case-insensitively). Ambiguous
  names such as ``temperature`` (air? water? soil?) are refused as ``unknown_quantity`` with
  the candidates listed, never guessed.
* **Time** (§4.5.3): ``bt`` + ``t``; below 2**28 it is relative to the server's clock at
  receipt (missing = now), otherwise absolute Unix seconds. Entries with the same resolved
  time form one :class:`Record`.
* **seq** (SenML has none): an entry whose name ends in ``seq`` carries the record's
  sequence number as an integer ``v``, one per timestamp. Entries at a time without one are
  refused as ``schema``: farmwatch needs ``seq`` to detect loss and duplicates.
* **synced** (optional): an entry named ``synced`` with ``vb``. When absent, the record is
  ``synced`` only if its time was relative, i.e. anchored to the server's clock: then no node
  clock was involved. An absolute time the node did not vouch for counts as not synced.
* **Units** (§4.5.2, §12.1): ``u`` (or ``bu``) must be a SenML unit listed in
  :data:`SENML_UNITS` that maps to a unit the quantity accepts, or the quantity's own
  farmwatch unit code (SenML has no ``mg/L``, ``uS/cm``, ``NTU``...). Units apply to numeric
  ``v`` only. Without a unit the value is in the canonical unit.
* **Values** (§4.2, §4.5.4): ``bv`` + ``v``; ``vb`` for state quantities; ``vs`` and ``vd`` are
  ``wrong_type``; a sum ``s`` alone is ``wrong_type`` (farmwatch stores instantaneous values).
* **Versions and extensions** (§4.4): ``bver`` above 10 is ``unsupported_version``; a field
  whose label ends in ``_`` ("must understand") refuses the whole pack; other unknown fields
  are ignored. A record with base fields only (RFC 8428 §5.1.7's first record) sets bases and
  carries no entry.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from farmwatch_core.contract.payload import (
    MAX_BATCH_RECORDS,
    MAX_MESSAGE_BYTES,
    MAX_SEQ,
    DecodedMessage,
    Record,
    TimeWindow,
    _kind,
    check_reading,
    check_time_window,
    format_ts,
    parse_json,
)
from farmwatch_core.contract.quantities import QUANTITIES, Quantity
from farmwatch_core.contract.rejections import ContractError, Reason, Rejection

SENML_VERSION = 10
"""The SenML version RFC 8428 defines (§4.4); packs declaring a later ``bver`` are refused."""

RELATIVE_TIME_LIMIT = 2**28
"""Resolved times below this are seconds relative to "now" (RFC 8428 §4.5.3)."""

SEQ_NAME = "seq"
SYNCED_NAME = "synced"

SENML_UNITS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # SenML unit (RFC 8428 §12.1, RFC 8798) -> farmwatch unit codes it may mean, tried in
        # order against the units the quantity accepts (see quantities.py).
        "Cel": ("degC",),
        "K": ("K",),
        "%RH": ("%RH",),
        "%": ("%",),
        # "/" is SenML's dimensionless ratio: a fraction for humidity/moisture, 0/1 for a
        # switch (RFC 8428 §5.1.7 sets a heater with "u": "/").
        "/": ("/", "1"),
        "/1000": ("ppt",),  # RFC 8798 per mille: salinity in g/kg
        "Pa": ("Pa",),
        "hPa": ("hPa",),  # RFC 8798
        "mm": ("mm",),  # RFC 8798
        "cm": ("cm",),  # RFC 8798
        "m": ("m",),
        "m/s": ("m/s",),
        "km/h": ("km/h",),  # RFC 8798
        "W/m2": ("W/m2",),
        "lx": ("lx",),
        "ppm": ("ppm",),  # RFC 8798
        "pH": ("pH",),
        "S/m": ("S/m",),
        "V": ("V",),
        "mV": ("mV",),  # RFC 8798
        "dBm": ("dBm",),  # RFC 8798
        "l": ("L",),
    }
)
"""SenML units farmwatch understands. Missing on purpose: ``l/s`` and ``m3/s`` (``water_flow``
has no conversion from them in quantities.py yet) and ``%EL``/``EL`` (battery state of charge
is not a voltage)."""

SENML_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        # Common SenML/LwM2M-style names that can only mean one farmwatch quantity.
        "humidity": "relative_humidity",
        "battery": "battery_voltage",
        "conductivity": "electrical_conductivity",
        "co2": "co2",
        "ph": "ph",
        "rssi": "rssi",
    }
)
"""Lower-case name -> quantity, for names that are unambiguous on a farm."""

AMBIGUOUS_NAMES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "temperature": ("air_temperature", "water_temperature", "soil_temperature"),
        "temp": ("air_temperature", "water_temperature", "soil_temperature"),
        "moisture": ("soil_moisture", "relative_humidity", "leaf_wetness"),
        "pressure": ("air_pressure",),
        "voltage": ("battery_voltage",),
    }
)
"""Names we refuse to guess: a pond probe's "temperature" stored as air temperature would be
silently wrong. The rejection lists these candidates."""

_REGULAR_LABELS = frozenset({"n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"})
_VALUE_LABELS = ("v", "vs", "vb", "vd")


@dataclass(frozen=True, slots=True)
class _Entry:
    """One resolved SenML record that carries a value (RFC 8428 §4.6)."""

    index: int  # 1-based position in the pack, for details a technician can find
    ts: datetime
    anchored: bool  # time was relative, i.e. resolved against the server's clock
    name: str  # resolved name, bn + n
    key: str  # last segment of the name: the quantity, "seq" or "synced"
    label: str  # which value field: "v", "vs", "vb", "vd", "s" (sum only), "" (none), "+" (many)
    value: object
    unit: object  # resolved u/bu; None when neither is present


@dataclass(slots=True)
class _Bases:
    """Base fields in force; each applies until a later record sets it again (RFC 8428 §4.1)."""

    name: str = ""
    time: float = 0
    unit: str | None = None
    value: float | None = None
    version: int | None = None


def decode_senml(
    payload: bytes,
    *,
    now: datetime,
    window: TimeWindow = TimeWindow(),  # noqa: B008 - frozen dataclass
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> DecodedMessage:
    """Decode and validate a SenML JSON pack (``application/senml+json``) against the contract.

    Raises :class:`ContractError` for problems with the whole pack (too large, not JSON, not
    an array, bad base field, ``bver`` > 10, unknown must-understand field); everything else
    becomes a :class:`Rejection` beside the readings that were fine.

    >>> now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    >>> pack = b'''[{"bn": "urn:dev:ow:10e2073a01080063:", "n": "seq", "v": 4211},
    ...             {"n": "dissolved_oxygen", "v": 4.6},
    ...             {"n": "water_temperature", "u": "Cel", "v": 27.8},
    ...             {"n": "ph", "vs": "7.9"}]'''
    >>> decoded = decode_senml(pack, now=now)
    >>> record = decoded.records[0]
    >>> record.ts == now, record.seq, record.synced, dict(record.readings)
    (True, 4211, True, {'dissolved_oxygen': 4.6, 'water_temperature': 27.8})
    >>> [str(r) for r in decoded.rejections]
    ["wrong_type: [seq 4211, ph] ph needs a number ('v'), got a string value ('vs') '7.9'"]
    """
    if len(payload) > max_bytes:
        raise ContractError(
            Reason.TOO_LARGE, f"message is {len(payload)} bytes; the limit is {max_bytes}"
        )
    pack = parse_json(payload)
    if not isinstance(pack, list):
        raise ContractError(
            Reason.SCHEMA, f"a SenML pack must be a JSON array (RFC 8428 §5), not {_kind(pack)}"
        )
    if not pack:
        raise ContractError(Reason.SCHEMA, "the SenML pack is empty")
    decoded = DecodedMessage()
    groups: dict[datetime, list[_Entry]] = {}
    for entry in _resolve(pack, now, decoded):
        groups.setdefault(entry.ts, []).append(entry)
    if len(groups) > MAX_BATCH_RECORDS:
        raise ContractError(
            Reason.TOO_LARGE,
            f"SenML pack has {len(groups)} distinct times (records); the limit is "
            f"{MAX_BATCH_RECORDS}",
        )
    for ts, entries in groups.items():
        _decode_group(ts, entries, now, window, decoded)
    return decoded


def _resolve(pack: list[object], now: datetime, out: DecodedMessage) -> Iterator[_Entry]:
    """Apply base fields to each record (RFC 8428 §4.6); refuse records that cannot be placed."""
    bases = _Bases()
    for index, record in enumerate(pack, 1):
        if not isinstance(record, dict):
            out.rejections.append(
                Rejection(
                    Reason.SCHEMA, f"SenML record {index} must be an object, not {_kind(record)}"
                )
            )
            continue
        _apply_bases(record, index, bases)
        if not record.keys() & _REGULAR_LABELS:
            continue  # base fields only: sets context for the records after it
        n = record.get("n", "")
        if not isinstance(n, str):
            out.rejections.append(
                Rejection(
                    Reason.SCHEMA, f"SenML record {index}: 'n' must be a string, got {_brief(n)}"
                )
            )
            continue
        name = bases.name + n
        if not name:
            out.rejections.append(
                Rejection(
                    Reason.SCHEMA,
                    f"SenML record {index} has no name: give 'n' or 'bn' (RFC 8428 §4.5.1)",
                )
            )
            continue
        key = name.replace("/", ":").rsplit(":", 1)[-1]
        shown = name[:80]
        when = _resolve_time(record.get("t", 0), bases.time, now)
        if isinstance(when, str):
            out.rejections.append(
                Rejection(
                    Reason.SCHEMA,
                    f"SenML record {index} ({shown!r}): {when}",
                    quantity=key[:64] or None,
                )
            )
            continue
        ts, anchored = when
        label, value = _resolve_value(record, bases.value)
        yield _Entry(index, ts, anchored, name, key, label, value, record.get("u", bases.unit))


def _apply_bases(record: dict[str, object], index: int, bases: _Bases) -> None:
    """Update the base fields in force; a bad one poisons every record after it, hence raise."""
    for label in record:
        if label.endswith("_"):
            raise ContractError(
                Reason.SCHEMA,
                f"SenML record {index} has the must-understand field {label!r}, which farmwatch "
                "does not know (RFC 8428 §4.4)",
            )
    if "bver" in record:
        version = record["bver"]
        if (
            not isinstance(version, int)
            or isinstance(version, bool)
            or not 1 <= version <= SENML_VERSION
        ):
            raise ContractError(
                Reason.UNSUPPORTED_VERSION,
                f"SenML version (bver) {version!r} is not supported; send bver {SENML_VERSION} "
                "or leave it out",
            )
        if bases.version is not None and version != bases.version:
            raise ContractError(
                Reason.UNSUPPORTED_VERSION,
                f"SenML record {index} says bver {version} but an earlier one said "
                f"{bases.version}; a pack has one version (RFC 8428 §4.4)",
            )
        bases.version = version
    if "bn" in record:
        bn = record["bn"]
        if not isinstance(bn, str):
            raise ContractError(Reason.SCHEMA, f"SenML record {index}: 'bn' must be a string")
        bases.name = bn
    if "bt" in record:
        bases.time = _base_number(record, "bt", index)
    if "bu" in record:
        bu = record["bu"]
        if not isinstance(bu, str):
            raise ContractError(Reason.SCHEMA, f"SenML record {index}: 'bu' must be a string")
        bases.unit = bu
    if "bv" in record:
        bases.value = _base_number(record, "bv", index)


def _base_number(record: dict[str, object], label: str, index: int) -> float:
    raw = record[label]
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        raise ContractError(
            Reason.SCHEMA, f"SenML record {index}: {label!r} must be a number, got {_kind(raw)}"
        )
    return raw


def _resolve_time(t: object, base: float, now: datetime) -> tuple[datetime, bool] | str:
    """Resolve ``bt`` + ``t`` (RFC 8428 §4.5.3): relative to ``now`` below 2**28, else Unix time.

    Returns ``(ts, anchored)`` or a description of why the time is unusable.
    """
    if not isinstance(t, int | float) or isinstance(t, bool):
        return f"'t' must be a number, got {_kind(t)}"
    try:
        seconds = base + t
        if not math.isfinite(seconds):
            return f"time {seconds} is not a finite number"
        if seconds < RELATIVE_TIME_LIMIT:
            return (now + timedelta(seconds=seconds)).astimezone(UTC), True
        return datetime.fromtimestamp(seconds, UTC), False
    except (OverflowError, OSError, ValueError):
        return f"time {_brief(t)} (plus base time {_brief(base)}) is out of range"


def _brief(value: object) -> str:
    """A short repr for a detail; Python refuses to print ints beyond 4300 digits at all."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return "(a huge integer)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _resolve_value(record: dict[str, object], base_value: float | None) -> tuple[str, object]:
    """Pick the one value field and apply the base value (RFC 8428 §4.2, §4.5.4)."""
    present = [label for label in _VALUE_LABELS if label in record]
    if len(present) > 1:
        return "+", present
    if not present:
        if base_value is not None:
            return "v", base_value  # a missing value counts as 0, plus the base value
        return ("s", record["s"]) if "s" in record else ("", None)
    label = present[0]
    value = record[label]
    if (
        label == "v"
        and base_value is not None
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        try:
            value = base_value + value
        except OverflowError:
            value = math.inf  # an integer beyond float range plus a float: refused as not finite
    return label, value


def _decode_group(
    ts: datetime, entries: list[_Entry], now: datetime, window: TimeWindow, out: DecodedMessage
) -> None:
    """Turn all entries sharing one resolved time into one Record, as v1 does for one record."""
    seq_entries = [e for e in entries if e.key == SEQ_NAME]
    synced_entries = [e for e in entries if e.key == SYNCED_NAME]
    reading_entries = [e for e in entries if e.key not in {SEQ_NAME, SYNCED_NAME}]
    seq_or_detail = _seq(seq_entries, ts, len(reading_entries))
    if isinstance(seq_or_detail, str):
        out.rejections.append(Rejection(Reason.SCHEMA, seq_or_detail))
        return
    seq = seq_or_detail
    reported = _synced(synced_entries)
    if isinstance(reported, str):
        out.rejections.append(Rejection(Reason.SCHEMA, reported, seq=seq))
        return
    synced = reported if reported is not None else all(e.anchored for e in entries)
    outside = check_time_window(ts, now=now, window=window, synced=reported, seq=seq)
    if outside is not None:
        out.rejections.append(outside)
        return
    if not reading_entries:
        out.rejections.append(
            Rejection(
                Reason.SCHEMA,
                f"no readings at SenML time {format_ts(ts)}, only seq/synced entries",
                seq=seq,
            )
        )
        return
    readings: dict[str, float] = {}
    for entry in reading_entries:
        checked = _check_entry(entry)
        if isinstance(checked, Rejection):
            out.rejections.append(
                Rejection(checked.reason, checked.detail, quantity=checked.quantity, seq=seq)
            )
            continue
        quantity, value = checked
        if quantity in readings:
            out.rejections.append(
                Rejection(
                    Reason.SCHEMA,
                    f"SenML record {entry.index} repeats {quantity} at {format_ts(ts)}; "
                    "the first value was kept",
                    quantity=quantity,
                    seq=seq,
                )
            )
            continue
        readings[quantity] = value
    if readings:
        out.records.append(Record(ts, seq, synced, readings))


def _seq(entries: list[_Entry], ts: datetime, readings: int) -> int | str:
    if not entries:
        return (
            f"no 'seq' entry at SenML time {format_ts(ts)} ({readings} "
            f"reading{'' if readings == 1 else 's'} refused): "
            "SenML records need a 'seq' entry per timestamp; see docs/contract.md"
        )
    values: set[int] = set()
    for entry in entries:
        value = entry.value
        if (
            entry.label != "v"
            or not isinstance(value, int)
            or isinstance(value, bool)
            or not 0 <= value <= MAX_SEQ
        ):
            return (
                f"SenML record {entry.index}: 'seq' must be an integer 'v' from 0 to 2^63-1, "
                f"got {entry.label or 'no value'} {_brief(value)}"
            )
        values.add(value)
    if len(values) > 1:
        return f"conflicting 'seq' entries {sorted(values)} at SenML time {format_ts(ts)}"
    return values.pop()


def _synced(entries: list[_Entry]) -> bool | str | None:
    values: set[bool] = set()
    for entry in entries:
        if entry.label != "vb" or not isinstance(entry.value, bool):
            return f"SenML record {entry.index}: 'synced' must be a boolean 'vb'"
        values.add(entry.value)
    if len(values) > 1:
        return "conflicting 'synced' entries at the same SenML time"
    return values.pop() if values else None


def _check_entry(entry: _Entry) -> tuple[str, float] | Rejection:
    """Validate one entry with the same rules as a v1 reading; SenML-specific shapes first."""
    quantity = _quantity_for(entry)
    if isinstance(quantity, Rejection):
        return quantity
    name = quantity.name
    where = f"SenML record {entry.index}"
    if entry.label == "+":
        return Rejection(
            Reason.SCHEMA,
            f"{where} has several value fields {entry.value}; RFC 8428 §4.2 allows one",
            quantity=name,
        )
    if entry.label == "":
        return Rejection(
            Reason.SCHEMA, f"{where} has no value ('v' or 'vb'; RFC 8428 §4.2)", quantity=name
        )
    if entry.label == "s":
        return Rejection(
            Reason.WRONG_TYPE,
            f"{name} needs an instantaneous value ('v'); SenML sums ('s') are not stored",
            quantity=name,
        )
    if entry.label in {"vs", "vd"}:
        what = "a string value ('vs')" if entry.label == "vs" else "a data value ('vd')"
        return Rejection(
            Reason.WRONG_TYPE,
            f"{name} needs a number ('v'), got {what} {_brief(entry.value)}",
            quantity=name,
        )
    if entry.label == "vb":
        if not isinstance(entry.value, bool):
            return Rejection(
                Reason.WRONG_TYPE,
                f"{where}: 'vb' must be true or false, got {_kind(entry.value)}",
                quantity=name,
            )
        checked = check_reading(name, entry.value)  # units do not apply to booleans
    elif entry.unit is None:
        checked = check_reading(name, entry.value)
    else:
        unit = _farmwatch_unit(quantity, entry.unit)
        if isinstance(unit, Rejection):
            return unit
        checked = check_reading(name, {"value": entry.value, "unit": unit})
    return checked if isinstance(checked, Rejection) else (name, checked)


def _quantity_for(entry: _Entry) -> Quantity | Rejection:
    key = entry.key
    if (q := QUANTITIES.get(key)) is not None:
        return q
    folded = key.lower()
    if (alias := SENML_ALIASES.get(folded)) is not None:
        return QUANTITIES[alias]
    shown = key[:64]
    if (candidates := AMBIGUOUS_NAMES.get(folded)) is not None:
        return Rejection(
            Reason.UNKNOWN_QUANTITY,
            f"SenML name {entry.name[:80]!r} ends in {shown!r}, which farmwatch will not guess; "
            f"name the quantity, e.g. {', '.join(candidates)}",
            quantity=shown,
        )
    return Rejection(
        Reason.UNKNOWN_QUANTITY,
        f"unknown quantity {shown!r} (SenML name {entry.name[:80]!r}); see docs/contract.md "
        "for the registry and the SenML aliases",
        quantity=shown,
    )


def _farmwatch_unit(q: Quantity, unit: object) -> str | Rejection:
    """Map a SenML unit onto a unit ``q`` accepts, or explain which SenML units it takes."""
    if isinstance(unit, str):
        if unit == q.unit:
            return unit
        for candidate in SENML_UNITS.get(unit, ()):
            if q.accepts_unit(candidate):
                return candidate
    accepted = [u for u, codes in SENML_UNITS.items() if any(map(q.accepts_unit, codes))]
    if q.unit not in accepted:
        accepted.append(q.unit)
    shown = unit[:20] if isinstance(unit, str) else unit
    return Rejection(
        Reason.WRONG_UNIT,
        f"SenML unit {shown!r} is not accepted for {q.name} (accepted: {', '.join(accepted)})",
        quantity=q.name,
    )


def senml_unit(q: Quantity) -> str:
    """The SenML unit to write for ``q``: a registered one (RFC 8428 §12.1, RFC 8798) when it
    means exactly the quantity's unit, else the farmwatch unit code, which SenML has no entry
    for (``mg/L``, ``uS/cm``, ``NTU``) and :func:`decode_senml` accepts.

    >>> senml_unit(QUANTITIES["water_temperature"]), senml_unit(QUANTITIES["dissolved_oxygen"])
    ('Cel', 'mg/L')
    """
    for unit, codes in SENML_UNITS.items():
        if codes[0] == q.unit:
            return unit
    return q.unit


def _senml_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def encode_senml(records: Iterable[Record], base_name: str) -> list[dict[str, object]]:
    """One node's records as a SenML pack (RFC 8428): ``bn`` the node, ``bt`` each record's
    time in Unix seconds, a ``seq`` and a ``synced`` entry per record (farmwatch needs them to
    detect loss and clock trouble), then one entry per reading with its unit; on/off states
    as ``vb``; fields that are not registry quantities (indicators analytics stores beside the
    readings) are left out. :func:`decode_senml` gives the same records back.

    >>> at = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    >>> pack = encode_senml([Record(at, 42, True, {"water_temperature": 27.8,
    ...                                            "aerator_state": 1.0})], "urn:dev:pond-01:")
    >>> pack  # doctest: +NORMALIZE_WHITESPACE
    [{'bn': 'urn:dev:pond-01:', 'bt': 1795921200, 'n': 'seq', 'v': 42},
     {'n': 'synced', 'vb': True},
     {'n': 'water_temperature', 'u': 'Cel', 'v': 27.8},
     {'n': 'aerator_state', 'vb': True}]
    >>> import json
    >>> decode_senml(json.dumps(pack).encode(), now=at).records[0] == Record(
    ...     at, 42, True, {"water_temperature": 27.8, "aerator_state": 1.0})
    True
    """
    pack: list[dict[str, object]] = []
    for record in records:
        head: dict[str, object] = {} if pack else {"bn": base_name}
        head.update(bt=_senml_number(record.ts.timestamp()), n=SEQ_NAME, v=record.seq)
        pack.append(head)
        pack.append({"n": SYNCED_NAME, "vb": record.synced})
        for name, value in record.readings.items():
            q = QUANTITIES.get(name)
            if q is not None and q.state:
                pack.append({"n": name, "vb": bool(value)})
            elif q is not None:
                pack.append({"n": name, "u": senml_unit(q), "v": _senml_number(value)})
            # else: an indicator analytics stored beside the readings (THI, VPD...), not a raw
            # reading, and not a quantity a SenML reader of farmwatch would accept.
    return pack
