"""farmwatch unit codes → UN/CEFACT Recommendation 20 common codes, for NGSI-LD ``unitCode``.

NGSI-LD (ETSI GS CIM 009, "unitCode") and the Smart Data Models take units as UN/CEFACT
common codes, so a provincial platform reads ``"CEL"`` rather than our ASCII ``degC``. Source:
UNECE Recommendation No. 20, "Codes for Units of Measure Used in International Trade", Annex
II/III (rev. 17). Only codes we are sure of are listed; a unit without one (NTU, pH) is
exported without ``unitCode`` and named in docs/opendata.md, rather than given a made-up code.

    >>> unit_code("mg/L"), unit_code("degC"), unit_code("NTU") is None
    ('M1', 'CEL', True)
    >>> convert_for_export("electrical_conductivity", 1500.0)  # µS/cm → S/m (D10)
    (0.15, 'D10')
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from farmwatch_core.contract.quantities import QUANTITIES

__all__ = ["UNIT_CODES", "convert_for_export", "unit_code"]

UNIT_CODES: Mapping[str, str] = MappingProxyType(
    {
        "degC": "CEL",  # degree Celsius
        "%": "P1",  # percent
        "hPa": "A97",  # hectopascal
        "mm": "MMT",  # millimetre
        "m/s": "MTS",  # metre per second
        "W/m2": "D54",  # watt per square metre
        "lx": "LUX",  # lux
        "ppm": "59",  # part per million
        "mg/L": "M1",  # milligram per litre
        "ppt": "NX",  # part per thousand (salinity, g/kg)
        "m": "MTR",  # metre
        "L/min": "L2",  # litre per minute
        "L": "LTR",  # litre
        "mg/kg": "NA",  # milligram per kilogram
        "V": "VLT",  # volt
        "1": "C62",  # one: on/off states stored as 0/1
        "S/m": "D10",  # siemens per metre (what conductivity is exported in)
    }
)


def unit_code(unit: str) -> str | None:
    """The UN/CEFACT common code of a farmwatch unit, or None when it has none."""
    return UNIT_CODES.get(unit)


def convert_for_export(quantity: str, value: float) -> tuple[float, str | None]:
    """The value and unit code as exported. Conductivity goes out in S/m (``D10``): the
    Smart Data Models examples use it, and µS/cm has no common code of its own in Rec. 20
    that we could verify."""
    if quantity == "electrical_conductivity":
        return round(value * 1e-4, 9), "D10"
    return value, unit_code(QUANTITIES[quantity].unit)
