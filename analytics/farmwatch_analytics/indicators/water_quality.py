"""Pond water chemistry: un-ionised ammonia and dissolved-oxygen saturation.

Total ammonia nitrogen (TAN) probes measure NH3 + NH4+, but only un-ionised NH3 is toxic to
fish, and its share rises steeply with pH and temperature (agronomy.md §6): the same 1 mg/L TAN
is harmless at pH 7 in the morning and dangerous at pH 8.5 on a hot afternoon.
"""

from __future__ import annotations

import math

__all__ = ["do_percent_saturation", "do_saturation", "unionised_ammonia", "unionised_fraction"]


def unionised_fraction(temperature_c: float, ph: float) -> float:
    """Fraction of TAN present as NH3 (Emerson et al. 1975, agronomy.md §6).

    pKa = 0.09018 + 2729.92 / (T + 273.15); f = 1 / (1 + 10^(pKa − pH)).

    The reference's check values are 5.37 %, 20.3 % and 0.39 %:

    >>> [round(100 * unionised_fraction(t, ph), 2) for t, ph in ((25, 8.0), (30, 8.5), (20, 7.0))]
    [5.37, 20.25, 0.39]
    """
    pka = 0.09018 + 2729.92 / (temperature_c + 273.15)
    return 1.0 / (1.0 + math.pow(10.0, pka - ph))


def unionised_ammonia(tan_mg_l: float, temperature_c: float, ph: float) -> float:
    """Un-ionised ammonia NH3 in mg/L from TAN, water temperature and pH.

    TCVN 13952:2024 limits NH3 to 0.1 mg/L in freshwater ponds (agronomy.md §6).

    >>> round(unionised_ammonia(1.0, 30.0, 8.5), 3)
    0.202
    """
    return max(0.0, tan_mg_l) * unionised_fraction(temperature_c, ph)


def do_saturation(temperature_c: float) -> float:
    """Dissolved-oxygen saturation of fresh water at 1 atm, mg/L.

    Benson & Krause (1984) as given in APHA Standard Methods 4500-O.

    >>> round(do_saturation(25.0), 2), round(do_saturation(30.0), 2)
    (8.26, 7.56)
    """
    t = temperature_c + 273.15
    return math.exp(
        -139.34411 + 1.575701e5 / t - 6.642308e7 / t**2 + 1.243800e10 / t**3 - 8.621949e11 / t**4
    )


def do_percent_saturation(do_mg_l: float, temperature_c: float) -> float:
    """Dissolved oxygen as a percentage of saturation at the water's temperature.

    Far above 100 % on a sunny afternoon means a dense algal bloom, and so a deep crash the
    next dawn; this is why the pond profile watches it besides the mg/L value.

    >>> round(do_percent_saturation(8.26, 25.0))
    100
    """
    return 100.0 * do_mg_l / do_saturation(temperature_c)
