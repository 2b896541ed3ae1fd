"""Root-zone soil water balance and irrigation need (FAO-56 chapter 8, agronomy.md §9).

The balance is kept as depletion Dr (mm below field capacity), as FAO-56 does: irrigation is
due when Dr reaches the readily available water RAW = p·TAW, and "days until irrigation" is
(RAW − Dr) / ETc. A soil-moisture probe, when present, resets the depletion to what it measures,
so the forecast does not drift with the model's errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "SOIL_TEXTURES",
    "SoilTexture",
    "WaterBalance",
    "days_until_irrigation",
    "depletion_fraction",
    "readily_available_water",
    "total_available_water",
]


@dataclass(frozen=True, slots=True)
class SoilTexture:
    """Volumetric water contents in m³/m³ at wilting point, field capacity and saturation."""

    wilting_point: float
    field_capacity: float
    saturation: float


# AquaCrop's soil table as given in agronomy.md §9.
SOIL_TEXTURES: dict[str, SoilTexture] = {
    "sand": SoilTexture(0.06, 0.13, 0.36),
    "sandy_loam": SoilTexture(0.10, 0.22, 0.41),
    "loam": SoilTexture(0.15, 0.31, 0.46),
    "silt_loam": SoilTexture(0.13, 0.33, 0.46),
    "clay_loam": SoilTexture(0.23, 0.39, 0.50),
    "silty_clay": SoilTexture(0.32, 0.50, 0.54),
    "clay": SoilTexture(0.39, 0.54, 0.55),
    "paddy": SoilTexture(0.32, 0.50, 0.54),
}


def total_available_water(soil: SoilTexture, root_depth_m: float) -> float:
    """TAW = 1000 (θFC − θWP) Zr, mm (FAO-56 eq. 82).

    >>> round(total_available_water(SOIL_TEXTURES["loam"], 0.5), 1)
    80.0
    """
    return 1000.0 * (soil.field_capacity - soil.wilting_point) * root_depth_m


def depletion_fraction(p_table: float, etc_mm_day: float) -> float:
    """p adjusted for the day's crop ET: p_table + 0.04 (5 − ETc), in 0.1-0.8 (FAO-56 Table 22).

    >>> depletion_fraction(0.5, 5.0), round(depletion_fraction(0.5, 7.5), 2)
    (0.5, 0.4)
    """
    return min(0.8, max(0.1, p_table + 0.04 * (5.0 - etc_mm_day)))


def readily_available_water(taw_mm: float, p: float) -> float:
    """RAW = p TAW, mm (FAO-56 eq. 83)."""
    return p * taw_mm


def days_until_irrigation(depletion_mm: float, raw_mm: float, etc_mm_day: float) -> float:
    """Days until depletion reaches RAW at the given crop ET; 0 if it already has.

    ``inf`` when the crop is not drawing water (ETc ≤ 0): no irrigation is foreseeable.

    >>> days_until_irrigation(10.0, 40.0, 5.0), days_until_irrigation(45.0, 40.0, 5.0)
    (6.0, 0.0)
    """
    if depletion_mm >= raw_mm:
        return 0.0
    if etc_mm_day <= 0.0:
        return math.inf
    return (raw_mm - depletion_mm) / etc_mm_day


@dataclass(slots=True)
class WaterBalance:
    """A daily root-zone water balance (FAO-56 eq. 85) for one field.

    >>> wb = WaterBalance(SOIL_TEXTURES["loam"], root_depth_m=0.5, p_table=0.5)
    >>> wb.step(rain_mm=0.0, etc_mm=5.0)
    5.0
    >>> wb.step(rain_mm=30.0, etc_mm=4.0)  # rain refills; the excess drains below the roots
    0.0
    >>> for _ in range(8):
    ...     _ = wb.step(rain_mm=0.0, etc_mm=5.0)
    >>> wb.depletion, wb.irrigation_due(5.0), wb.days_until_irrigation(5.0)
    (40.0, True, 0.0)
    """

    soil: SoilTexture
    root_depth_m: float
    p_table: float = 0.5
    depletion: float = 0.0
    deep_percolation: float = 0.0

    @property
    def taw(self) -> float:
        """Total available water of the root zone, mm."""
        return total_available_water(self.soil, self.root_depth_m)

    def raw(self, etc_mm_day: float) -> float:
        """Readily available water at today's crop ET, mm."""
        return readily_available_water(self.taw, depletion_fraction(self.p_table, etc_mm_day))

    def step(
        self, rain_mm: float, etc_mm: float, irrigation_mm: float = 0.0, runoff_mm: float = 0.0
    ) -> float:
        """Advance one day; return the end-of-day depletion Dr in mm.

        Dr,i = Dr,i−1 − (P − RO) − I + ETc + DP, bounded by 0 (field capacity; what is above it
        drains as deep percolation DP) and TAW (wilting point: ETc stops there).
        """
        depletion = self.depletion - (rain_mm - runoff_mm) - irrigation_mm + etc_mm
        if depletion < 0.0:
            self.deep_percolation += -depletion
            depletion = 0.0
        self.depletion = min(self.taw, depletion)
        return self.depletion

    def observe_soil_moisture(self, theta_m3_m3: float) -> None:
        """Reset the depletion from a soil-moisture probe's reading (m³/m³)."""
        depletion = 1000.0 * (self.soil.field_capacity - theta_m3_m3) * self.root_depth_m
        self.depletion = min(self.taw, max(0.0, depletion))

    def irrigation_due(self, etc_mm_day: float) -> bool:
        """Whether the depletion has reached RAW."""
        return self.depletion >= self.raw(etc_mm_day)

    def days_until_irrigation(self, etc_mm_day: float) -> float:
        """Days until irrigation at a constant forecast crop ET."""
        return days_until_irrigation(self.depletion, self.raw(etc_mm_day), etc_mm_day)
