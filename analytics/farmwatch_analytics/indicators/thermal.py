"""Heat and cold: growing degree days, temperature-humidity indices, Vietnamese cold/heat bands.

Sources: agronomy.md §3 (GDD), §4 (THI), §7 (the national hydro-meteorological definitions of
rét đậm / rét hại and nắng nóng). Species and bands are data (``ThiScale``), not code, so a
cooperative can adopt its veterinarian's bands without a release.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from farmwatch_analytics.indicators.humidity import wet_bulb_temperature

__all__ = [
    "CATTLE_THI",
    "PIG_THI",
    "POULTRY_THI",
    "THI_SCALES",
    "ColdBand",
    "HeatBand",
    "ThiBand",
    "ThiScale",
    "classify_cold",
    "classify_heat",
    "growing_degree_days",
    "spell_lengths",
    "thi_cattle",
    "thi_pig",
    "thi_poultry",
]


def growing_degree_days(
    t_max: float, t_min: float, base: float = 10.0, upper: float | None = None
) -> float:
    """Degree days of one day by the average method (agronomy.md §3).

    ``upper`` is a horizontal cut-off: both temperatures are capped there and floored at
    ``base`` before averaging, which is the 30/10 °C rule for maize when ``upper=30``. Without
    ``upper`` it is the plain average method with Tbase (rice: 10 °C).

    >>> growing_degree_days(32.0, 24.0)
    18.0
    >>> growing_degree_days(34.0, 8.0, base=10.0, upper=30.0)
    10.0
    >>> growing_degree_days(9.0, 4.0)
    0.0
    """
    if upper is not None:
        if upper <= base:
            raise ValueError(f"upper cut-off {upper} must be above the base {base}")
        t_max = min(max(t_max, base), upper)
        t_min = min(max(t_min, base), upper)
    return max(0.0, (t_max + t_min) / 2.0 - base)


def thi_cattle(temperature_c: float, relative_humidity_pct: float) -> float:
    """NRC (1971) temperature-humidity index, on its usual Fahrenheit-based scale (§4).

    >>> round(thi_cattle(30.0, 70.0), 1)
    81.4
    """
    t, rh = temperature_c, relative_humidity_pct
    return (1.8 * t + 32.0) - (0.55 - 0.0055 * rh) * (1.8 * t - 26.0)


def thi_pig(temperature_c: float, relative_humidity_pct: float) -> float:
    """Pig THI on the Celsius scale: T − (0.55 − 0.0055 RH)(T − 14.5) (§4).

    It is the NRC index expressed in °C (1.8 × THI_pig + 32 ≈ THI_cattle), which is how the
    LWSI bands carry over to pigs in ``PIG_THI``.

    >>> round(thi_pig(30.0, 70.0), 1)
    27.4
    """
    t, rh = temperature_c, relative_humidity_pct
    return t - (0.55 - 0.0055 * rh) * (t - 14.5)


def thi_poultry(temperature_c: float, relative_humidity_pct: float) -> float:
    """Broiler THI of Tao & Xin (2003): 0.85 Tdb + 0.15 Twb, °C (§4).

    The wet bulb is computed from RH (Stull 2011), since barns measure RH, not Twb.

    >>> round(thi_poultry(30.0, 70.0), 1)
    29.3
    """
    twb = wet_bulb_temperature(temperature_c, relative_humidity_pct)
    return 0.85 * temperature_c + 0.15 * twb


class ThiBand(StrEnum):
    """Heat-stress bands of the Livestock Weather Safety Index (LWSI)."""

    NORMAL = "normal"
    ALERT = "alert"
    DANGER = "danger"
    EMERGENCY = "emergency"


@dataclass(frozen=True, slots=True)
class ThiScale:
    """A species' THI formula and the lower bounds of its bands, ascending.

    ``lower_bounds`` pairs each band above normal with the THI at which it starts.
    """

    species: str
    lower_bounds: tuple[tuple[ThiBand, float], ...]

    def __post_init__(self) -> None:
        values = [bound for _, bound in self.lower_bounds]
        if values != sorted(values):
            raise ValueError(f"{self.species}: THI band bounds must ascend, got {values}")

    def index(self, temperature_c: float, relative_humidity_pct: float) -> float:
        """The species' THI; which formula follows from the species name."""
        return _FORMULAS[self.species](temperature_c, relative_humidity_pct)

    def band(self, thi: float) -> ThiBand:
        """The band a THI value falls in.

        >>> PIG_THI.band(23.0), PIG_THI.band(27.1), CATTLE_THI.band(84.0)
        (<ThiBand.NORMAL: 'normal'>, <ThiBand.DANGER: 'danger'>, <ThiBand.EMERGENCY: 'emergency'>)
        """
        current = ThiBand.NORMAL
        for band, bound in self.lower_bounds:
            if thi >= bound:
                current = band
        return current


_FORMULAS = {"cattle": thi_cattle, "pig": thi_pig, "poultry": thi_poultry}

# LWSI bands (agronomy.md §4): normal < 75, alert 75-78, danger 79-83, emergency ≥ 84.
CATTLE_THI = ThiScale(
    "cattle", ((ThiBand.ALERT, 75.0), (ThiBand.DANGER, 79.0), (ThiBand.EMERGENCY, 84.0))
)
# The same LWSI bands converted to the pig index's Celsius scale: (THI − 32) / 1.8.
PIG_THI = ThiScale(
    "pig",
    (
        (ThiBand.ALERT, round((75.0 - 32.0) / 1.8, 1)),
        (ThiBand.DANGER, round((79.0 - 32.0) / 1.8, 1)),
        (ThiBand.EMERGENCY, round((84.0 - 32.0) / 1.8, 1)),
    ),
)
# Tao & Xin (2003): broiler performance drops above THI ≈ 21 (agronomy.md §4). The reference
# gives no finer bands, so farmwatch uses only one, and farms with better data override it.
POULTRY_THI = ThiScale("poultry", ((ThiBand.ALERT, 21.0),))
THI_SCALES = {scale.species: scale for scale in (CATTLE_THI, PIG_THI, POULTRY_THI)}


class ColdBand(StrEnum):
    """Vietnamese cold categories of a day's mean temperature (agronomy.md §7)."""

    NONE = "none"
    RET = "ret"  # rét: mean < 20 °C
    RET_DAM = "ret_dam"  # rét đậm: mean ≤ 15 °C
    RET_HAI = "ret_hai"  # rét hại: mean ≤ 13 °C


class HeatBand(StrEnum):
    """Vietnamese heat categories of a day's maximum temperature (agronomy.md §7)."""

    NONE = "none"
    NANG_NONG = "nang_nong"  # nắng nóng: Tmax 35-37 °C
    GAY_GAT = "gay_gat"  # nắng nóng gay gắt: 37-39 °C
    DAC_BIET_GAY_GAT = "dac_biet_gay_gat"  # đặc biệt gay gắt: ≥ 39 °C


def classify_cold(daily_mean_c: float) -> ColdBand:
    """Cold category of a day from its mean temperature.

    >>> [classify_cold(t).value for t in (21.0, 19.9, 15.0, 13.0)]
    ['none', 'ret', 'ret_dam', 'ret_hai']
    """
    if daily_mean_c <= 13.0:
        return ColdBand.RET_HAI
    if daily_mean_c <= 15.0:
        return ColdBand.RET_DAM
    if daily_mean_c < 20.0:
        return ColdBand.RET
    return ColdBand.NONE


def classify_heat(t_max_c: float) -> HeatBand:
    """Heat category of a day from its maximum temperature.

    >>> [classify_heat(t).value for t in (34.9, 35.0, 37.0, 39.0)]
    ['none', 'nang_nong', 'gay_gat', 'dac_biet_gay_gat']
    """
    if t_max_c >= 39.0:
        return HeatBand.DAC_BIET_GAY_GAT
    if t_max_c >= 37.0:
        return HeatBand.GAY_GAT
    if t_max_c >= 35.0:
        return HeatBand.NANG_NONG
    return HeatBand.NONE


def spell_lengths(flags: Sequence[bool]) -> list[int]:
    """Lengths of the runs of consecutive ``True`` days, in order.

    A cold spell or heat wave is a run of such days; the forecasters announce a "đợt rét"
    when it lasts (the alert rules choose the minimum length).

    >>> spell_lengths([False, True, True, False, True])
    [2, 1]
    """
    runs: list[int] = []
    current = 0
    for flag in flags:
        if flag:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    if current:
        runs.append(current)
    return runs
