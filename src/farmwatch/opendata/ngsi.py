"""farmwatch's registry and readings as NGSI-LD entities of the FIWARE Smart Data Models.

Pure functions (no I/O): a provincial platform that speaks NGSI-LD takes these without custom
code. Each entity is in the *normalized* representation of NGSI-LD (ETSI GS CIM 009 §4.5):
every attribute is ``{"type": "Property", "value": ...}`` (with ``unitCode`` and
``observedAt`` where they apply), ``{"type": "Relationship", "object": ...}`` or a
``GeoProperty``, and the ``@context`` names the Smart Data Models contexts. Ids are URNs,
``urn:ngsi-ld:<Type>:<namespace>:<farm>[:<node>...]``, the namespace ``hd`` (Hải Dương) by
default, so two provinces' exports never collide.

======================== ================================================================
farmwatch                NGSI-LD entity (Smart Data Model)
======================== ================================================================
every farm               ``AgriFarm`` (dataModel.Agrifood)
rice field, orchard      ``AgriParcel`` too, ``belongsTo`` the farm, crop rice / lychee
greenhouse               ``AgriParcel`` (the plot) and ``AgriGreenhouse`` on it
node                     ``Device`` (dataModel.Device), ``controlledAsset`` its farm
water-quality reading    ``WaterQualityObserved`` (dataModel.WaterQuality), one per record
======================== ================================================================

No contact, phone number or person's name is exported: partners get places and readings.

    >>> from farmwatch_core.registry import parse_registry
    >>> reg = parse_registry('''
    ... farms:
    ...   - {id: pond-01, name: Ao ông Sơn, model: aquaculture_pond, district: Thanh Hà,
    ...      commune: Thanh Xuân, location: {lat: 20.9, lon: 106.43},
    ...      nodes: [{id: pond-01-water, sensors: [dissolved_oxygen, ph]}]}
    ... ''')
    >>> farm = reg.farms[0]
    >>> [e["id"] for e in farm_entities(farm)]
    ['urn:ngsi-ld:AgriFarm:hd:pond-01', 'urn:ngsi-ld:Device:hd:pond-01:pond-01-water']
    >>> farm_entities(farm)[0]["location"]
    {'type': 'GeoProperty', 'value': {'type': 'Point', 'coordinates': [106.43, 20.9]}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from farmwatch_core.contract import Record
from farmwatch_core.contract.quantities import QUANTITIES
from farmwatch_core.registry import Farm, ModelType, Node

from farmwatch.opendata.units import convert_for_export

__all__ = [
    "CONTEXT",
    "DEFAULT_NAMESPACE",
    "WATER_QUALITY",
    "Entity",
    "device_entity",
    "entity_id",
    "farm_entities",
    "iso",
    "water_quality_observed",
]

Entity = dict[str, Any]

DEFAULT_NAMESPACE = "hd"
"""The id namespace: Hải Dương. Another province sets its own (``--namespace``)."""

# The Smart Data Models' published contexts, one per subject (as the pysmartdatamodels
# metadata list names them), and the NGSI-LD core context last, as ETSI GS CIM 009 asks.
CONTEXT: tuple[str, ...] = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Agrifood/master/context.jsonld",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Device/master/context.jsonld",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.WaterQuality/master/context.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
)

# farmwatch quantity → WaterQualityObserved attribute (names from the model's schema).
WATER_QUALITY: Mapping[str, str] = {
    "water_temperature": "temperature",
    "ph": "pH",
    "dissolved_oxygen": "O2",
    "electrical_conductivity": "conductivity",
    "salinity": "salinity",
    "turbidity": "turbidity",
    "ammonium": "NH4",
    "cod": "cod",
    "total_suspended_solids": "tss",
}
# Water-quality quantities the model has no attribute for: they go into ``measurand``, the
# model's place for extra measurands ("name, value, unitCode, description").
MEASURAND: Mapping[str, str] = {
    "total_ammonia_nitrogen": "TAN",  # NH3 + NH4+ as N: not the model's NH4 (ammonium)
    "nitrite": "NO2",
    "free_chlorine": "freeChlorine",  # not the model's Cl- (chlorides)
}

# Device.controlledProperty: the Device model's words where it has one, else our name.
CONTROLLED: Mapping[str, str] = {
    "air_temperature": "temperature",
    "water_temperature": "temperature",
    "soil_temperature": "temperature",
    "relative_humidity": "humidity",
    "air_pressure": "atmosphericPressure",
    "rain": "precipitation",
    "wind_speed": "windSpeed",
    "solar_radiation": "solarRadiation",
    "illuminance": "light",
    "ph": "pH",
    "electrical_conductivity": "conductivity",
    "salinity": "salinity",
    "turbidity": "turbidity",
    "total_suspended_solids": "tss",
    "water_level": "depth",
    "tank_level": "fillingLevel",
    "water_consumption": "waterConsumption",
    "soil_moisture": "soilMoisture",
    "co2": "airPollution",
    "nh3": "airPollution",
    "h2s": "airPollution",
}

# AgriParcel.hasAgriCrop and category per model type. Orchards of the programme are Thanh Hà
# lychee orchards; greenhouses grow vegetables.
_PARCEL: Mapping[ModelType, tuple[str, str]] = {
    ModelType.RICE_FIELD: ("rice", "arable"),
    ModelType.ORCHARD: ("lychee", "orchard"),
    ModelType.GREENHOUSE: ("vegetables", "greenhouse"),
}
_DESCRIPTION = {
    "aquaculture_pond": "Aquaculture pond / Ao nuôi thủy sản",
    "pig_barn": "Pig barn / Chuồng lợn",
    "poultry_house": "Poultry house / Chuồng gia cầm",
    "greenhouse": "Greenhouse / Nhà màng",
    "rice_field": "Rice field / Ruộng lúa",
    "orchard": "Orchard / Vườn cây ăn quả",
    "clean_water_station": "Rural clean-water station / Trạm cấp nước sạch nông thôn",
    "effluent_station": "Livestock effluent station / Trạm quan trắc nước thải chăn nuôi",
}
# Whose readings are water quality: ponds, and the clean-water and effluent stations (by
# value, so the mapping does not depend on which model types this registry version has).
# A greenhouse's EC is its nutrient solution's, not a water body's: no WaterQualityObserved.
WATER_MODELS = frozenset({"aquaculture_pond", "clean_water_station", "effluent_station"})
_SAFE = re.compile(r"[^\w\-.]")


def entity_id(kind: str, *parts: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    """The URN of an entity.

    >>> entity_id("AgriFarm", "pond-01")
    'urn:ngsi-ld:AgriFarm:hd:pond-01'
    >>> entity_id("Device", "pond-01", "pond 01/water", namespace="vn-hd")
    'urn:ngsi-ld:Device:vn-hd:pond-01:pond_01_water'
    """
    return ":".join(["urn:ngsi-ld", kind, namespace, *(_SAFE.sub("_", p) for p in parts)])


def iso(ts: datetime) -> str:
    """An NGSI-LD DateTime: UTC, ``Z``.

    >>> from datetime import timedelta, timezone
    >>> iso(datetime(2026, 11, 29, 10, 0, tzinfo=timezone(timedelta(hours=7))))
    '2026-11-29T03:00:00Z'
    """
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _prop(value: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **{k: v for k, v in extra.items() if v}}


def _rel(target: str | list[str]) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def _point(farm: Farm) -> dict[str, Any] | None:
    if farm.location is None:
        return None
    return {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [farm.location.lon, farm.location.lat]},
    }


def _address(farm: Farm) -> dict[str, Any]:
    address = {"addressCountry": "VN", "addressRegion": "Hải Dương"}
    if farm.district:
        address["district"] = farm.district
    if farm.commune:
        address["addressLocality"] = farm.commune
    return _prop(address)


def _entity(kind: str, eid: str, attrs: Mapping[str, Any]) -> Entity:
    entity: Entity = {"id": eid, "type": kind}
    entity.update((k, v) for k, v in attrs.items() if v is not None)
    entity["@context"] = list(CONTEXT)
    return entity


def device_entity(
    farm: Farm,
    node: Node,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    last_reported: datetime | None = None,
) -> Entity:
    """A node as a ``Device``: what it measures, where, and when it last reported.

    >>> from farmwatch_core.registry import Farm, Node
    >>> farm = Farm(id="f1", name="F1", model="orchard")
    >>> node = Node(id="n1", sensors=("air_temperature", "soil_temperature", "leaf_wetness"))
    >>> device_entity(farm, node)["controlledProperty"]["value"]
    ['temperature', 'leafWetness']
    """
    controlled: list[str] = []
    for quantity in node.sensors:
        word = CONTROLLED.get(quantity) or _camel(quantity)
        if word not in controlled:
            controlled.append(word)
    return _entity(
        "Device",
        entity_id("Device", farm.id, node.id, namespace=namespace),
        {
            "name": _prop(node.id),
            "description": _prop(node.description) if node.description else None,
            "category": _prop(["sensor"]),
            "controlledProperty": _prop(controlled or ["weatherConditions"]),
            "controlledAsset": _rel([entity_id("AgriFarm", farm.id, namespace=namespace)]),
            "location": _point(farm),
            "dataProvider": _prop("farmwatch"),
            "dateLastValueReported": (
                _prop(iso(last_reported)) if last_reported is not None else None
            ),
        },
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def farm_entities(
    farm: Farm,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    last_reported: Mapping[str, datetime] | None = None,
) -> list[Entity]:
    """The farm's entities: ``AgriFarm``, its parcel and greenhouse where it has them, and a
    ``Device`` per node (``last_reported``: node id → its latest reading's time).

    A parcel needs a location and an area (both required by AgriParcel); without them in the
    registry none is made, and the farm's ``hasAgriParcel`` stays empty.

    >>> from farmwatch_core.registry import Farm
    >>> gh = Farm(id="gh-1", name="Nhà màng", model="greenhouse", area_ha=0.2,
    ...           location={"lat": 20.9, "lon": 106.3})
    >>> [e["type"] for e in farm_entities(gh)]
    ['AgriFarm', 'AgriParcel', 'AgriGreenhouse']
    >>> farm_entities(gh)[1]["area"]
    {'type': 'Property', 'value': 2000.0, 'unitCode': 'MTK'}
    """
    farm_urn = entity_id("AgriFarm", farm.id, namespace=namespace)
    devices = [entity_id("Device", farm.id, n.id, namespace=namespace) for n in farm.nodes]
    parcel: Entity | None = None
    greenhouse: Entity | None = None
    if farm.model in _PARCEL and farm.location is not None and farm.area_ha is not None:
        crop, category = _PARCEL[farm.model]
        parcel = _entity(
            "AgriParcel",
            entity_id("AgriParcel", farm.id, namespace=namespace),
            {
                "name": _prop(farm.name),
                "category": _prop(category),
                "area": _prop(round(farm.area_ha * 10_000, 3), unitCode="MTK"),  # m²
                "location": _point(farm),
                "belongsTo": _rel(farm_urn),
                "hasAgriCrop": _rel(entity_id("AgriCrop", crop, namespace=namespace)),
                "hasDevices": _rel(devices) if devices else None,
            },
        )
    if farm.model is ModelType.GREENHOUSE and parcel is not None:
        greenhouse = _entity(
            "AgriGreenhouse",
            entity_id("AgriGreenhouse", farm.id, namespace=namespace),
            {
                "name": _prop(farm.name),
                "belongsTo": _rel(farm_urn),
                "hasAgriParcelParent": _rel(parcel["id"]),
                "hasDevice": _rel(devices) if devices else None,
            },
        )
    agri_farm = _entity(
        "AgriFarm",
        farm_urn,
        {
            "name": _prop(farm.name),
            "description": _prop(_DESCRIPTION.get(farm.model.value, farm.model.value)),
            "address": _address(farm),
            "location": _point(farm),
            "hasAgriParcel": _rel([parcel["id"]]) if parcel is not None else None,
            "dataProvider": _prop("farmwatch"),
        },
    )
    found = [agri_farm, *(e for e in (parcel, greenhouse) if e is not None)]
    reported = last_reported or {}
    found += [
        device_entity(farm, node, namespace=namespace, last_reported=reported.get(node.id))
        for node in farm.nodes
    ]
    return found


def water_quality_observed(
    farm: Farm, node_id: str, record: Record, *, namespace: str = DEFAULT_NAMESPACE
) -> Entity | None:
    """One record's water-quality readings as a ``WaterQualityObserved``; None when it has
    none, the farm is not a water body (:data:`WATER_MODELS`) or has no location (the model
    requires one).

    >>> from farmwatch_core.registry import Farm
    >>> pond = Farm(id="pond-01", name="Ao", model="aquaculture_pond",
    ...             location={"lat": 20.9, "lon": 106.43})
    >>> at = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    >>> wqo = water_quality_observed(pond, "w1", Record(at, 7, True,
    ...     {"dissolved_oxygen": 4.6, "nitrite": 0.2, "air_temperature": 30.0}))
    >>> wqo["id"], wqo["O2"]
    ('urn:ngsi-ld:WaterQualityObserved:hd:pond-01:w1:20261129T030000Z', \
{'type': 'Property', 'value': 4.6, 'unitCode': 'M1', 'observedAt': '2026-11-29T03:00:00Z'})
    >>> wqo["measurand"]["value"]
    ['NO2, 0.2, M1, Nitrite (NO2)']
    """
    if farm.location is None or farm.model.value not in WATER_MODELS:
        return None
    at = iso(record.ts)
    attrs: dict[str, Any] = {}
    measurands: list[str] = []
    for quantity, value in record.readings.items():
        if quantity in WATER_QUALITY:
            exported, code = convert_for_export(quantity, value)
            attrs[WATER_QUALITY[quantity]] = _prop(exported, unitCode=code, observedAt=at)
        elif quantity in MEASURAND:
            exported, code = convert_for_export(quantity, value)
            label = QUANTITIES[quantity].label_en
            measurands.append(f"{MEASURAND[quantity]}, {exported:g}, {code or ''}, {label}")
    if not attrs and not measurands:
        return None
    utc = record.ts.astimezone(UTC)
    micro = f".{utc.microsecond:06d}" if utc.microsecond else ""  # unique per record
    stamp = utc.strftime("%Y%m%dT%H%M%S") + micro + "Z"
    return _entity(
        "WaterQualityObserved",
        entity_id("WaterQualityObserved", farm.id, node_id, stamp, namespace=namespace),
        {
            "dateObserved": _prop(at),
            "location": _point(farm),
            **attrs,
            "measurand": _prop(measurands) if measurands else None,
            "refPointOfInterest": _rel(entity_id("AgriFarm", farm.id, namespace=namespace)),
            "refDevice": _rel(entity_id("Device", farm.id, node_id, namespace=namespace)),
            "dataProvider": _prop("farmwatch"),
        },
    )


def key_values(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The simplified (key-values) form of a normalized entity (ETSI GS CIM 009 §4.5.3):
    what the Smart Data Models' JSON Schemas describe, so what gets validated.

    >>> key_values({"id": "urn:x", "type": "T", "@context": [], "a": {"type": "Property",
    ...   "value": 1, "unitCode": "M1"}, "r": {"type": "Relationship", "object": "urn:y"}})
    {'id': 'urn:x', 'type': 'T', 'a': 1, 'r': 'urn:y'}
    """
    simple: dict[str, Any] = {}
    for name, attr in entity.items():
        if name == "@context":
            continue
        if name in {"id", "type"} or not isinstance(attr, Mapping):
            simple[name] = attr
        elif attr.get("type") == "Relationship":
            simple[name] = attr.get("object")
        else:
            simple[name] = attr.get("value")
    return simple


def normalized_problems(entity: Mapping[str, Any]) -> list[str]:
    """What breaks the NGSI-LD normalized form (the JSON Schemas check the content, this the
    shape): every attribute a Property with a value, a Relationship with an object, or a
    GeoProperty; ids URNs; times UTC.

    >>> normalized_problems({"id": "pond", "type": "AgriFarm", "@context": [],
    ...                      "name": "Ao", "x": {"type": "Relationship"}})
    ['id: not a URN', 'name: not an NGSI-LD attribute', 'x: a Relationship needs an object']
    """
    problems: list[str] = []
    if not str(entity.get("id", "")).startswith("urn:ngsi-ld:"):
        problems.append("id: not a URN")
    if "@context" not in entity:
        problems.append("@context: missing")
    for name, attr in entity.items():
        if name in {"id", "type", "@context"}:
            continue
        if not isinstance(attr, Mapping) or attr.get("type") not in _ATTRIBUTE_TYPES:
            problems.append(f"{name}: not an NGSI-LD attribute")
        elif attr["type"] == "Relationship" and "object" not in attr:
            problems.append(f"{name}: a Relationship needs an object")
        elif attr["type"] != "Relationship" and "value" not in attr:
            problems.append(f"{name}: a {attr['type']} needs a value")
        elif "observedAt" in attr and not str(attr["observedAt"]).endswith("Z"):
            problems.append(f"{name}: observedAt must be UTC (Z)")
    return problems


_ATTRIBUTE_TYPES = frozenset({"Property", "Relationship", "GeoProperty"})


def observation_entities(
    farm: Farm, node_id: str, records: Sequence[Record], *, namespace: str = DEFAULT_NAMESPACE
) -> list[Entity]:
    """``WaterQualityObserved`` entities of a node's records (those with water quality)."""
    found = (water_quality_observed(farm, node_id, r, namespace=namespace) for r in records)
    return [e for e in found if e is not None]
