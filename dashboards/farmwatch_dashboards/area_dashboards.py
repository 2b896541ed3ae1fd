"""Dashboards across farms: the cooperative overview, the extension officer's comparison of
model farms, and the province map."""

from __future__ import annotations

from farmwatch_core.registry import Deployment, Farm, ModelType
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import geomap
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.geomap import TooltipMode

from farmwatch_dashboards import queries, variables
from farmwatch_dashboards.farm_dashboards import base
from farmwatch_dashboards.influxql import DATASOURCE, InfluxQL
from farmwatch_dashboards.panels import (
    label,
    online_mappings,
    online_thresholds,
    stat_panel,
    table_panel,
    timeseries_panel,
)

__all__ = ["GAZETTEER_PATH", "cooperative_overview", "officer_view", "province_map"]

GAZETTEER_PATH = "public/gazetteer/farmwatch-farms.json"
"""Where Grafana serves the generated farm gazetteer (mounted into its public/gazetteer/)."""

# The indicator the officer compares first for each model type.
COMPARED = {
    ModelType.AQUACULTURE_POND: "dissolved_oxygen",
    ModelType.PIG_BARN: "thi_pig",
    ModelType.POULTRY_HOUSE: "thi_poultry",
    ModelType.GREENHOUSE: "vpd",
    ModelType.RICE_FIELD: "soil_moisture",
    ModelType.ORCHARD: "soil_moisture",
}
MODEL_VI = {
    ModelType.AQUACULTURE_POND: "ao nuôi",
    ModelType.PIG_BARN: "chuồng lợn",
    ModelType.POULTRY_HOUSE: "chuồng gia cầm",
    ModelType.GREENHOUSE: "nhà màng",
    ModelType.RICE_FIELD: "ruộng lúa",
    ModelType.ORCHARD: "vườn vải",
}


def cooperative_overview(deployment: Deployment) -> Dashboard:
    coop = [queries.COOPERATIVE]
    return (
        base(
            "Tổng quan hợp tác xã",
            "farmwatch-cooperative",
            "Cooperative overview: which farms report, how much, and their latest values.",
        )
        .with_variable(variables.cooperative(deployment))
        .with_panel(
            stat_panel(
                "Trạng thái trang trại",
                "Farm online state: records per 30 min over the last hour "
                "(0 = offline: nothing stored for 30-60 min).",
                [InfluxQL(queries.online(coop, by="farm")).alias("$tag_farm")],
                width=24,
            )
        )
        .with_panel(
            timeseries_panel(
                "Số bản ghi theo trang trại",
                "Records stored per farm and interval: a drop means nodes went silent.",
                [InfluxQL(queries.series("seq", coop, fn="count", by="farm")).alias("$tag_farm")],
                "1",
                width=24,
            )
        )
        .with_panel(
            table_panel(
                "Giá trị mới nhất theo trang trại",
                "Latest value of every quantity per farm and node.",
                [InfluxQL(queries.latest_table(coop, by='"farm", "node"'))],
            )
        )
    )


def model_farms(deployment: Deployment, model: ModelType) -> list[Farm]:
    """The registry's model farms of a type, or every farm of it when none is flagged."""
    farms = [f for f in deployment.farms if f.model == model]
    flagged = [f for f in farms if f.model_farm]
    return flagged or farms


def officer_view(deployment: Deployment) -> Dashboard:
    """One chart per model type comparing its model farms, farm by farm."""
    dashboard = base(
        "So sánh mô hình trình diễn",
        "farmwatch-extension-officer",
        "Extension officer view: the model farms of each type side by side (farms flagged "
        "model_farm in the registry; all farms of a type when none is).",
    )
    for model, field in COMPARED.items():
        farms = model_farms(deployment, model)
        if not farms:
            continue
        vi, en, unit = label(field)
        condition = queries.farm_regex(f.id for f in farms)
        dashboard = dashboard.with_panel(
            timeseries_panel(
                f"{vi} — {MODEL_VI[model]}",
                f"{en} ({field}) of the {model.value} model farms, one line per farm "
                "(mean of its nodes).",
                [InfluxQL(queries.series(field, [condition], by="farm")).alias("$tag_farm")],
                unit,
            )
        )
    return dashboard


def gazetteer(deployment: Deployment) -> list[dict[str, object]]:
    """Farm coordinates in the gazetteer format Grafana's Geomap reads for "lookup" locations
    (the legacy Worldmap list: key, latitude, longitude, name). Farms without a location in
    the registry are left out."""
    return [
        {
            "key": farm.id,
            "latitude": farm.location.lat,
            "longitude": farm.location.lon,
            "name": farm.name,
        }
        for farm in deployment.farms
        if farm.location is not None
    ]


def province_map(deployment: Deployment) -> Dashboard:
    """Farms on a map of the province, coloured by online state.

    The coordinates come from the registry through a generated gazetteer file (Geomap's
    "lookup" location mode matches the query's ``farm`` column to its keys), so the map needs
    no coordinates in InfluxDB and no extra data source plugin.
    """
    status = InfluxQL(queries.online([queries.COOPERATIVE], by="farm")).table()
    markers = (
        common_builders.MapLayerOptions()
        .type("markers")
        .name("Trang trại")
        .location(
            common_builders.FrameGeometrySource()
            .mode(common.FrameGeometrySourceMode.LOOKUP)
            .lookup("farm")
            .gazetteer(GAZETTEER_PATH)
        )
        .tooltip(True)
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": {"field": "records_per_30m", "fixed": "dark-green"},
                    "size": {"fixed": 8},
                    "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
                    "text": {"field": "farm", "mode": "field"},
                    "textConfig": {"fontSize": 10, "offsetY": -14},
                },
            }
        )
    )
    # Fit the view to the farms rather than fixed coordinates: MapViewConfig.lat/lon are typed
    # int in the SDK (the schema's own type), too coarse to centre on a province.
    view = geomap.MapViewConfig().id("fit").all_layers(True).padding(10).max_zoom(11)
    panel = (
        geomap.Panel()
        .title("Bản đồ trang trại")
        .description(
            "Farms of the province coloured by state: green = records stored in the last hour, "
            "red = none for 30-60 min. Coordinates: the registry, through the generated gazetteer "
            f"{GAZETTEER_PATH}."
        )
        .datasource(DATASOURCE)
        .with_target(status)
        .span(24)
        .height(16)
        .view(view)
        .basemap(common_builders.MapLayerOptions().type("default").name("Basemap"))
        .layers([markers])
        .tooltip(geomap.TooltipOptions().mode(TooltipMode.DETAILS))
        .mappings(online_mappings())
        .thresholds(online_thresholds())
    )
    return (
        base(
            "Bản đồ trang trại tỉnh Hải Dương",
            "farmwatch-province-map",
            "Province map: every farm at its registered location, coloured by status.",
        )
        .with_variable(variables.cooperative(deployment))
        .with_panel(panel)
        .with_panel(
            table_panel(
                "Trạng thái trang trại",
                "The map's data: records per farm and 30 min over the last hour.",
                [InfluxQL(queries.online([queries.COOPERATIVE], by="farm"))],
            )
        )
    )
