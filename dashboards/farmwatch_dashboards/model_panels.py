"""What each model type's dashboard charts: the fields, how, and with which limits.

One table instead of eight modules: the dashboards differ only in these lists. ``overlay`` draws
a second field on the same chart (the dawn DO forecast over DO). Limits are looked up in the
model's profile (analytics/farmwatch_analytics/profiles/) by the chart's main field.

Not charted because analytics only produces them after a week of history, so a new deployment
would show empty panels: ``water_use_drop`` (barns). Soil water is charted as the depletion
analytics computes (with the days until irrigation), not against a fixed RAW line: RAW
depends on the crop's root depth and soil, which the profile holds and analytics already
applies when it computes ``days_until_irrigation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from farmwatch_core.registry import ModelType

__all__ = ["MODEL_PANELS", "ChartSpec"]

Kind = Literal["series", "daily", "sum"]


@dataclass(frozen=True)
class ChartSpec:
    field: str
    kind: Kind = "series"
    overlay: str | None = None  # a second field on the same chart (same unit)
    overlay_kind: Kind = "series"


_FIELD_CROP = [
    ChartSpec("soil_moisture"),
    ChartSpec("soil_water_depletion", "daily"),
    ChartSpec("days_until_irrigation", "daily"),
    ChartSpec("et0_hargreaves", "daily"),
    ChartSpec("gdd", "daily"),
    ChartSpec("rain", "sum"),
    ChartSpec("air_temperature"),
    ChartSpec("air_temperature_daily_mean", "daily"),
    ChartSpec("leaf_wetness_hours", "daily"),
]
_BARN = [
    ChartSpec("thi_band"),
    ChartSpec("air_temperature"),
    ChartSpec("relative_humidity"),
    ChartSpec("nh3"),
    ChartSpec("co2"),
    ChartSpec("water_consumption", "sum"),
    ChartSpec("anomaly_node"),
]

MODEL_PANELS: dict[ModelType, list[ChartSpec]] = {
    ModelType.AQUACULTURE_POND: [
        ChartSpec("dissolved_oxygen", overlay="do_dawn_forecast"),
        ChartSpec("ph"),
        ChartSpec("water_temperature"),
        ChartSpec("total_ammonia_nitrogen"),
        ChartSpec("unionised_ammonia"),
        ChartSpec("do_percent_saturation"),
        ChartSpec("ph_daily_swing", "daily"),
        ChartSpec("anomaly_node"),
    ],
    ModelType.PIG_BARN: [ChartSpec("thi_pig"), *_BARN],
    ModelType.POULTRY_HOUSE: [ChartSpec("thi_poultry"), *_BARN],
    ModelType.GREENHOUSE: [
        ChartSpec("vpd"),
        ChartSpec("illuminance"),
        ChartSpec("co2"),
        ChartSpec("soil_moisture"),
        ChartSpec("electrical_conductivity"),
        ChartSpec("air_temperature"),
        ChartSpec("relative_humidity"),
        ChartSpec("days_until_irrigation", "daily"),
        ChartSpec("et0_hargreaves", "daily"),
        ChartSpec("anomaly_node"),
    ],
    ModelType.RICE_FIELD: [ChartSpec("rice_blast_risk", "daily"), *_FIELD_CROP],
    ModelType.ORCHARD: [ChartSpec("downy_blight_risk", "daily"), *_FIELD_CROP],
    ModelType.CLEAN_WATER_STATION: [
        ChartSpec("free_chlorine"),
        ChartSpec("turbidity"),
        ChartSpec("ph"),
        ChartSpec("tank_level"),
        ChartSpec("tank_level_trend"),
        ChartSpec("water_flow"),
        ChartSpec("pump_state"),
        ChartSpec("pump_no_flow_minutes"),
        ChartSpec("electrical_conductivity"),
    ],
    ModelType.EFFLUENT_STATION: [
        ChartSpec("cod"),
        ChartSpec("ammonium"),
        ChartSpec("ph"),
        ChartSpec("water_flow"),
        ChartSpec("nh3"),
        ChartSpec("h2s"),
    ],
}
