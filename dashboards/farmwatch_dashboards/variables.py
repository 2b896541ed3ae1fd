"""Template variables: cooperative, farm and node.

Farm and node are tags, so their lists come from InfluxDB (``SHOW TAG VALUES``). The
cooperative is not stored with the data (ingest writes only ``farm`` and ``node`` tags), so its
variable is generated from the registry: each option's text is the cooperative's name and its
value the alternation of its farm IDs, which the farm variable's query filters on. Regenerate
the dashboards when farms join or leave a cooperative (``farmwatch dashboards generate``).
"""

from __future__ import annotations

from collections.abc import Iterable

from farmwatch_core.registry import Deployment
from grafana_foundation_sdk.builders.dashboard import CustomVariable, QueryVariable
from grafana_foundation_sdk.models.dashboard import VariableOption, VariableRefresh, VariableSort

from farmwatch_dashboards.influxql import DATASOURCE
from farmwatch_dashboards.queries import COOPERATIVE, FARM, MEASUREMENT

__all__ = ["cooperative", "farm", "node"]

ALL = ".*"


def cooperative_options(deployment: Deployment) -> list[tuple[str, str]]:
    """(name, farm-ID alternation) per cooperative that has farms, in registry order."""
    out = []
    for coop in deployment.cooperatives:
        farms = [f.id for f in deployment.farms if f.cooperative == coop.id]
        if farms:
            out.append((coop.name, "|".join(farms)))
    return out


def cooperative(deployment: Deployment) -> CustomVariable:
    options = cooperative_options(deployment)
    # Custom variable syntax: "text : value" pairs separated by commas.
    values = ",".join(f"{name.replace(',', ' ')} : {farms}" for name, farms in options)
    return (
        CustomVariable("cooperative")
        .label("Hợp tác xã")
        .description("Cooperative (from the deployment registry)")
        .values(values)
        .include_all(True)
        .all_value(ALL)
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def farm(farm_ids: Iterable[str] | None = None) -> QueryVariable:
    """The farms reporting to InfluxDB, within the cooperative (and model type, if given)."""
    conditions = [COOPERATIVE]
    if farm_ids is not None:
        conditions.insert(0, '"farm" =~ /^(' + "|".join(farm_ids) + ")$/")
    query = f'SHOW TAG VALUES FROM {MEASUREMENT} WITH KEY = "farm" WHERE ' + " AND ".join(
        conditions
    )
    return (
        QueryVariable("farm")
        .label("Trang trại")
        .description("Farm")
        .datasource(DATASOURCE)
        .query(query)
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def node() -> QueryVariable:
    query = f'SHOW TAG VALUES FROM {MEASUREMENT} WITH KEY = "node" WHERE {FARM}'
    return (
        QueryVariable("node")
        .label("Nút cảm biến")
        .description("Sensor node of the farm")
        .datasource(DATASOURCE)
        .query(query)
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(ALL)
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )
