"""An InfluxQL query target for grafana-foundation-sdk, which ships none.

The SDK (as of 10.1.0) has builders for Prometheus, Loki, Elasticsearch... but not for the
InfluxDB data source, so this module adds one through the SDK's own extension points: a
``Dataquery`` model with ``to_json``/``from_json``, a ``Builder`` for it, and
:func:`register` to let ``Dashboard.from_json`` read targets of type ``influxdb`` back as this
model (instead of an untyped ``UnknownDataquery``). The JSON is what Grafana's InfluxDB data
source stores for a raw InfluxQL query (``rawQuery: true``): we write InfluxQL by hand because
the visual editor's ``select``/``groupBy`` lists cannot express subqueries or ``last()`` per tag.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

__all__ = [
    "DATASOURCE",
    "DATASOURCE_TYPE",
    "DATASOURCE_UID",
    "InfluxQL",
    "InfluxQLQuery",
    "register",
]

DATASOURCE_TYPE = "influxdb"
DATASOURCE_UID = "farmwatch-influxdb"
"""The provisioned data source's uid (dashboards/grafana/provisioning/datasources)."""
DATASOURCE = DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)

ResultFormat = Literal["time_series", "table", "logs"]


class InfluxQLQuery(cogvariants.Dataquery):
    """One raw InfluxQL target of a panel."""

    def __init__(
        self,
        query: str = "",
        ref_id: str = "A",
        result_format: ResultFormat = "time_series",
        alias: str | None = None,
        datasource: DataSourceRef | None = None,
    ) -> None:
        self.query = query
        self.ref_id = ref_id
        self.result_format = result_format
        self.alias = alias
        self.datasource = datasource if datasource is not None else DATASOURCE

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "datasource": self.datasource,
            "query": self.query,
            "rawQuery": True,
            "refId": self.ref_id,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        source = data.get("datasource") or {}
        return cls(
            query=str(data.get("query", "")),
            ref_id=str(data.get("refId", "A")),
            result_format=data.get("resultFormat", "time_series"),
            alias=data.get("alias"),
            datasource=DataSourceRef(type_val=source.get("type"), uid=source.get("uid")),
        )


class InfluxQL(cogbuilder.Builder[InfluxQLQuery]):
    """Builder in the SDK's style: ``InfluxQL('SELECT ...').ref_id('B').table()``."""

    def __init__(self, query: str) -> None:
        self._internal = InfluxQLQuery(query)

    def build(self) -> InfluxQLQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def alias(self, alias: str) -> Self:
        """Series name pattern, e.g. ``$tag_node`` (Grafana's InfluxDB alias syntax)."""
        self._internal.alias = alias
        return self

    def table(self) -> Self:
        """Return rows (one per series and time) instead of time series."""
        self._internal.result_format = "table"
        return self


def register() -> None:
    """Teach the SDK's JSON reader that ``influxdb`` targets are :class:`InfluxQLQuery`.

    Called by whoever parses dashboards back (the tests, the generator's self-check), not at
    import time: the SDK's variant registry is global state.
    """
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(
            identifier=DATASOURCE_TYPE, from_json_hook=InfluxQLQuery.from_json
        )
    )
