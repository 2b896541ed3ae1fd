"""Vapour pressure, vapour-pressure deficit and wet-bulb temperature.

These are the building blocks of ET0, VPD and the poultry heat index; they live together so
every indicator uses the same saturation curve (FAO-56 eq. 11, agronomy.md §5).
"""

from __future__ import annotations

import math

__all__ = ["saturation_vapour_pressure", "vapour_pressure_deficit", "wet_bulb_temperature"]


def saturation_vapour_pressure(temperature_c: float) -> float:
    """Saturation vapour pressure e°(T) in kPa (FAO-56 eq. 11, Tetens form).

    >>> round(saturation_vapour_pressure(21.5), 3), round(saturation_vapour_pressure(12.3), 3)
    (2.564, 1.431)
    """
    return 0.6108 * math.exp(17.27 * temperature_c / (temperature_c + 237.3))


def vapour_pressure_deficit(temperature_c: float, relative_humidity_pct: float) -> float:
    """Air vapour-pressure deficit in kPa: e°(T) (1 − RH/100) (agronomy.md §5).

    Greenhouse growers steer by VPD rather than RH because it is what drives transpiration:
    the same 80 % RH is humid at 15 °C and drying at 35 °C.

    >>> round(vapour_pressure_deficit(25.0, 60.0), 2)
    1.27
    >>> vapour_pressure_deficit(30.0, 100.0)
    0.0
    """
    rh = min(100.0, max(0.0, relative_humidity_pct))
    return saturation_vapour_pressure(temperature_c) * (1.0 - rh / 100.0)


def wet_bulb_temperature(temperature_c: float, relative_humidity_pct: float) -> float:
    """Psychrometric wet-bulb temperature in °C from air temperature and RH.

    Stull (2011), "Wet-bulb temperature from relative humidity and air temperature", J. Appl.
    Meteor. Climatol. 50: 2267-2269, eq. 1: within ±1 °C for RH 5-99 % and T −20…50 °C at sea
    level, which is well inside the poultry heat index's own uncertainty.

    >>> round(wet_bulb_temperature(20.0, 50.0), 1)
    13.7
    """
    t = temperature_c
    rh = min(99.0, max(5.0, relative_humidity_pct))
    return (
        t * math.atan(0.151977 * math.sqrt(rh + 8.313659))
        + math.atan(t + rh)
        - math.atan(rh - 1.676331)
        + 0.00391838 * math.pow(rh, 1.5) * math.atan(0.023101 * rh)
        - 4.686035
    )
