"""Write the dashboards, the farm gazetteer and the provisioning files into one folder.

Layout (``dashboards/grafana/`` in the repository)::

    dashboards/<name>.json                       one per dashboard
    gazetteer/farmwatch-farms.json               farm coordinates for the province map
    provisioning/datasources/farmwatch.yaml      the InfluxDB (InfluxQL) data source
    provisioning/dashboards/farmwatch.yaml       the dashboard provider
"""

from __future__ import annotations

import json
from pathlib import Path

from farmwatch_core.registry import Deployment

from farmwatch_dashboards.area_dashboards import gazetteer
from farmwatch_dashboards.build import build_dashboards, to_json
from farmwatch_dashboards.provisioning import dashboard_provider_yaml, datasource_yaml

__all__ = ["DEFAULT_OUT", "generated_files", "write_files"]

DEFAULT_OUT = Path("dashboards/grafana")


def generated_files(deployment: Deployment) -> dict[str, str]:
    """Relative path → content of every generated file."""
    files = {
        f"dashboards/{name}.json": to_json(dashboard)
        for name, dashboard in build_dashboards(deployment).items()
    }
    files["gazetteer/farmwatch-farms.json"] = (
        json.dumps(gazetteer(deployment), indent=2, ensure_ascii=False) + "\n"
    )
    files["provisioning/datasources/farmwatch.yaml"] = datasource_yaml()
    files["provisioning/dashboards/farmwatch.yaml"] = dashboard_provider_yaml()
    return files


def write_files(deployment: Deployment, out: Path) -> list[Path]:
    """Write every file under ``out``; return their paths."""
    written = []
    for relative, content in generated_files(deployment).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
