"""The report's words and number formats in Vietnamese (default) and English.

Words live in ``templates/strings.yaml`` beside the HTML template, so a translator edits text,
not code. Vietnamese writes decimals with a comma (``93,4 %``), as the alert messages do.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib import resources

import yaml
from farmwatch_core.contract import QUANTITIES
from farmwatch_core.contract.derived import DERIVED
from farmwatch_core.timefmt import DISPLAY_TZ

__all__ = ["LANGUAGES", "label", "local_time", "number", "percent", "strings", "unit"]

LANGUAGES = ("vi", "en")


@cache
def _all_strings() -> dict[str, dict[str, str]]:
    text = (resources.files("farmwatch.reports") / "templates" / "strings.yaml").read_text(
        encoding="utf-8"
    )
    data: dict[str, dict[str, str]] = yaml.safe_load(text)
    return data


def strings(lang: str) -> dict[str, str]:
    """Every word of the report in ``lang`` (``vi`` or ``en``).

    >>> strings("vi")["uptime"], strings("en")["uptime"]
    ('Thời gian hoạt động', 'Uptime')
    """
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: vi or en")
    return _all_strings()[lang]


def number(value: float | None, lang: str, digits: int = 1) -> str:
    """A number as a reader of ``lang`` writes it; ``—`` for nothing.

    >>> number(1234.56, "vi"), number(1234.56, "en"), number(None, "en")
    ('1.234,6', '1,234.6', '—')
    """
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}"
    if lang == "vi":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def percent(share: float | None, lang: str, digits: int = 1) -> str:
    """A share as a percentage: ``percent(0.934, "vi") == "93,4 %"``.

    >>> percent(0.934, "vi"), percent(0.934, "en"), percent(None, "vi")
    ('93,4 %', '93.4 %', '—')
    """
    return "—" if share is None else f"{number(100 * share, lang, digits)} %"


def local_time(ts: datetime | None, lang: str) -> str:
    """A UTC time as Hải Dương reads it.

    >>> from datetime import UTC
    >>> local_time(datetime(2026, 11, 3, 21, 40, tzinfo=UTC), "vi")
    '04:40 04/11/2026'
    """
    if ts is None:
        return "—"
    local = ts.astimezone(DISPLAY_TZ)
    return local.strftime("%H:%M %d/%m/%Y") if lang == "vi" else local.strftime("%Y-%m-%d %H:%M")


def label(name: str, lang: str) -> str:
    """A quantity's or indicator's name for people (the contract's labels).

    >>> label("dissolved_oxygen", "vi"), label("thi_pig", "en")
    ('Oxy hòa tan (DO)', 'THI (pig, °C scale)')
    """
    spec = QUANTITIES.get(name) or DERIVED.get(name)
    if spec is None:
        return name
    return spec.label_vi if lang == "vi" else spec.label_en


_SYMBOLS = {"1": "", "degC": "°C", "degC.d": "°C·d", "mg/L": "mg/L", "kPa": "kPa"}


def unit(name: str) -> str:
    """The unit symbol of a quantity or indicator (empty for an index).

    >>> unit("dissolved_oxygen"), unit("thi_pig")
    ('mg/L', '')
    """
    quantity = QUANTITIES.get(name)
    if quantity is not None:
        return quantity.symbol
    derived = DERIVED.get(name)
    return "" if derived is None else _SYMBOLS.get(derived.unit, derived.unit)
