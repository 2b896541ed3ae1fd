"""Every dashboard of a deployment, and their JSON as Grafana stores it.

The JSON is the SDK's serialisation (``JSONEncoder``), sorted and indented so the committed
files diff well; ``generate`` writes it and a test checks the committed files equal it.
"""

from __future__ import annotations

import json

from farmwatch_core.registry import Deployment, ModelType
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from farmwatch_dashboards.area_dashboards import cooperative_overview, officer_view, province_map
from farmwatch_dashboards.farm_dashboards import farm_overview, model_dashboard

__all__ = ["build_dashboards", "to_json"]


def build_dashboards(deployment: Deployment) -> dict[str, Dashboard]:
    """File stem → dashboard, in a stable order."""
    out = {
        "farm-overview": farm_overview(deployment).build(),
        "cooperative": cooperative_overview(deployment).build(),
        "extension-officer": officer_view(deployment).build(),
        "province-map": province_map(deployment).build(),
    }
    for model in ModelType:
        out[model.value.replace("_", "-")] = model_dashboard(deployment, model).build()
    return out


def to_json(dashboard: Dashboard) -> str:
    return (
        json.dumps(dashboard, cls=JSONEncoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )
