"""Panel builders shared by the dashboards: titles in Vietnamese, English in descriptions.

Every panel reads the provisioned InfluxDB data source (:data:`influxql.DATASOURCE`). Units
are Grafana's unit ids; thresholds come from the model profiles (limits.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from farmwatch_analytics.model_profiles import Limit
from farmwatch_core.contract import QUANTITIES
from farmwatch_core.contract.derived import derived_spec
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import stat, table, text, timeseries
from grafana_foundation_sdk.builders.dashboard import (
    DashboardRangeMapOptions,
    DashboardSpecialValueMapOptions,
    ThresholdsConfig,
)
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    RangeMap,
    SpecialValueMap,
    SpecialValueMatch,
    Threshold,
    ThresholdsMode,
    ValueMapping,
    ValueMappingResult,
)
from grafana_foundation_sdk.models.text import TextMode

from farmwatch_dashboards.influxql import DATASOURCE, InfluxQL
from farmwatch_dashboards.limits import describe, thresholds

__all__ = [
    "label",
    "online_mappings",
    "stat_panel",
    "table_panel",
    "text_panel",
    "timeseries_panel",
]

# farmwatch unit code -> Grafana unit id (Grafana's "Standard options > Unit" list).
GRAFANA_UNITS = {
    "degC": "celsius",
    "%": "percent",
    "hPa": "pressurehpa",
    "mm": "lengthmm",
    "m/s": "velocityms",
    "W/m2": "Wm2",
    "lx": "lux",
    "ppm": "ppm",
    "mg/L": "conmgL",
    "m": "lengthm",
    "L": "litre",
    "V": "volt",
    "dBm": "dBm",
    "kPa": "pressurekpa",
    "1": "none",
}


def label(field: str) -> tuple[str, str, str]:
    """(Vietnamese label, English label, farmwatch unit) of a quantity or derived value.

    >>> label("dissolved_oxygen")
    ('Oxy hòa tan (DO)', 'Dissolved oxygen', 'mg/L')
    >>> label("vpd")
    ('Độ thiếu hụt áp suất hơi', 'Vapour-pressure deficit', 'kPa')
    """
    quantity = QUANTITIES.get(field)
    if quantity is not None:
        return quantity.label_vi, quantity.label_en, quantity.unit
    spec = derived_spec(field)
    if spec is None:
        raise KeyError(f"{field!r} is neither a quantity nor a derived value (docs/contract.md)")
    return spec.label_vi, spec.label_en, spec.unit


def grafana_unit(unit: str) -> str:
    return GRAFANA_UNITS.get(unit, unit)


def timeseries_panel(
    title: str,
    description: str,
    queries: Sequence[InfluxQL],
    unit: str,
    limits: Sequence[Limit] = (),
    *,
    bars: bool = False,
    width: int = 12,
) -> timeseries.Panel:
    """A time series; with limits, drawn as coloured threshold lines and areas."""
    farm_unit = unit
    source = describe(limits, "" if farm_unit in ("1", "") else f" {farm_unit}")
    panel = (
        timeseries.Panel()
        .title(title)
        .description(" ".join(part for part in (description, source) if part))
        .datasource(DATASOURCE)
        .unit(grafana_unit(unit))
        .span(width)
        .height(8)
        .targets(list(queries))
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .span_nulls(True)
    )
    if bars:
        panel = panel.draw_style(common.GraphDrawStyle.BARS).fill_opacity(60)
    if limits:
        panel = panel.thresholds(thresholds(limits)).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common.GraphTresholdsStyleMode.LINE_AND_AREA
            )
        )
    return panel


def online_mappings() -> list[ValueMapping]:
    """No records lately (0) → offline (red); any → online (green); no row → no data (red)."""
    return [
        RangeMap(
            DashboardRangeMapOptions()
            .from_val(0)
            .to(0.001)
            .result(ValueMappingResult(text="Mất kết nối / offline", color="red", index=0))
            .build()
        ),
        RangeMap(
            DashboardRangeMapOptions()
            .from_val(0.001)
            .to(1e9)
            .result(ValueMappingResult(text="Trực tuyến / online", color="green", index=1))
            .build()
        ),
        SpecialValueMap(
            DashboardSpecialValueMapOptions()
            .match(SpecialValueMatch.NULL)
            .result(ValueMappingResult(text="Không có dữ liệu / no data", color="red", index=2))
            .build()
        ),
    ]


def online_thresholds() -> ThresholdsConfig:
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color="red"), Threshold(value=0.001, color="green")])
    )


def stat_panel(
    title: str, description: str, queries: Sequence[InfluxQL], *, width: int = 12
) -> stat.Panel:
    """Online state per node or farm: one coloured box each."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(list(queries))
        .span(width)
        .height(6)
        .mappings(online_mappings())
        .thresholds(online_thresholds())
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def table_panel(
    title: str, description: str, queries: Sequence[InfluxQL], *, width: int = 24
) -> table.Panel:
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets([q.table() for q in queries])
        .span(width)
        .height(8)
    )


def text_panel(title: str, markdown: str, *, width: int = 12) -> text.Panel:
    return text.Panel().title(title).mode(TextMode.MARKDOWN).content(markdown).span(width).height(6)
