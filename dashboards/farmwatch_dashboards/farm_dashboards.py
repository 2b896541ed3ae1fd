"""The farm overview and one dashboard per model type (pond, barns, greenhouse, field crops).

Farmers and technicians pick a farm (and nodes); every chart shows one line per node.
"""

from __future__ import annotations

from farmwatch_analytics.model_profiles import profile_for_model
from farmwatch_core.registry import Deployment, ModelType
from grafana_foundation_sdk.builders.dashboard import Dashboard, DashboardLink
from grafana_foundation_sdk.models.dashboard import DashboardLinkType

from farmwatch_dashboards import queries, variables
from farmwatch_dashboards.influxql import InfluxQL
from farmwatch_dashboards.model_panels import MODEL_PANELS
from farmwatch_dashboards.panels import (
    label,
    stat_panel,
    table_panel,
    text_panel,
    timeseries_panel,
)

__all__ = ["TIMEZONE", "base", "farm_overview", "model_dashboard", "model_uid"]

TIMEZONE = "Asia/Ho_Chi_Minh"
TAGS = ["farmwatch"]
ALERTS_MARKDOWN = """\
Cảnh báo đang hoạt động nằm trong dịch vụ cảnh báo của farmwatch, không nằm trong InfluxDB.

*Active alerts live in the farmwatch alerting service, not in InfluxDB:*

- [Danh sách cảnh báo / alerts (JSON)](/api/v1/alerts) — `GET /api/v1/alerts` of the farmwatch
  HTTP API (behind the same reverse proxy as Grafana, or change the link to its address)
- [Trang farmwatch / built-in page](/) — alerts with an Acknowledge button

A table of alerts inside Grafana needs a JSON data source plugin (e.g. Infinity) pointed at
`/api/v1/alerts`; see docs/dashboards.md.
"""


def base(title: str, uid: str, description: str, time_from: str = "now-24h") -> Dashboard:
    """A dashboard with farmwatch's common settings (time zone, refresh, links)."""
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .timezone(TIMEZONE)
        .time(time_from, "now")
        .refresh("1m")
        .editable()
        .link(
            DashboardLink("farmwatch")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(TAGS)
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def model_uid(model: ModelType) -> str:
    return f"farmwatch-{model.value.replace('_', '-')}"


def farm_overview(deployment: Deployment) -> Dashboard:
    farm_node = [queries.FARM, queries.NODE]
    return (
        base(
            "Tổng quan trang trại",
            "farmwatch-farm-overview",
            "Farm overview: every node's latest values, online state and where the active "
            "alerts are.",
        )
        .with_variable(variables.cooperative(deployment))
        .with_variable(variables.farm())
        .with_variable(variables.node())
        .with_panel(
            stat_panel(
                "Trạng thái nút",
                "Node online state: records per 30 min over the last hour "
                "(0 = offline: nothing stored for 30-60 min).",
                [InfluxQL(queries.online(farm_node)).alias("$tag_node")],
            )
        )
        .with_panel(text_panel("Cảnh báo đang hoạt động", ALERTS_MARKDOWN))
        .with_panel(
            table_panel(
                "Giá trị mới nhất",
                "Latest value of every quantity and derived value per node (last(*) over the "
                "dashboard's time range; seq is the node's message counter).",
                [InfluxQL(queries.latest_table(farm_node))],
            )
        )
        .with_panel(
            timeseries_panel(
                "Điện áp pin",
                "Battery voltage per node.",
                [InfluxQL(queries.series("battery_voltage", farm_node)).alias("$tag_node")],
                "V",
            )
        )
        .with_panel(
            timeseries_panel(
                "Cường độ sóng",
                "Radio signal strength (RSSI) per node.",
                [InfluxQL(queries.series("rssi", farm_node)).alias("$tag_node")],
                "dBm",
            )
        )
    )


def _query(field: str, kind: str) -> str:
    conditions = [queries.FARM, queries.NODE]
    if kind == "daily":
        return queries.daily(field, conditions)
    return queries.series(field, conditions, fn="sum" if kind == "sum" else "mean")


def model_dashboard(deployment: Deployment, model: ModelType) -> Dashboard:
    """One model type's dashboard; its farm list holds only farms of that type."""
    profile = profile_for_model(model)
    farm_ids = [f.id for f in deployment.farms if f.model == model]
    field_crop = model in (ModelType.RICE_FIELD, ModelType.ORCHARD)
    dashboard = (
        base(
            profile.title.vi,
            model_uid(model),
            f"{profile.title.en}: readings, indicators and the profile's limits "
            f"(profile {profile.name}).",
            # Field crops: several daily values (GDD, ET0...) need a week to show a trend.
            "now-7d" if field_crop else "now-24h",
        )
        .with_variable(variables.cooperative(deployment))
        .with_variable(variables.farm(farm_ids))
        .with_variable(variables.node())
    )
    for spec in MODEL_PANELS[model]:
        vi, en, unit = label(spec.field)
        targets = [InfluxQL(_query(spec.field, spec.kind)).alias(f"$tag_node {spec.field}")]
        description = f"{en} ({spec.field}, {unit})."
        if spec.kind == "daily":
            description += " Computed by analytics once a day for the previous local day."
        if spec.kind == "sum":
            description += " Sum per interval."
        title = vi
        if spec.overlay is not None:
            ovi, oen, _ = label(spec.overlay)
            targets.append(
                InfluxQL(_query(spec.overlay, spec.overlay_kind))
                .alias(f"$tag_node {spec.overlay}")
                .ref_id("B")
            )
            title = f"{vi} và {ovi.lower()}"
            description += f" With {oen} ({spec.overlay})."
        dashboard = dashboard.with_panel(
            timeseries_panel(
                title,
                description,
                targets,
                unit,
                profile.limits.get(spec.field, ()),
                bars=spec.kind in ("daily", "sum"),
            )
        )
    return dashboard
