"""``farmwatch opendata export|push`` (docs/opendata.md)."""

# A command module: what it prints is its output (as in farmwatch.cli).
# ruff: noqa: T201

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from farmwatch_core.registry import Farm, load_registry
from farmwatch_core.settings import FarmwatchSettings
from farmwatch_core.timefmt import DISPLAY_TZ

from farmwatch.opendata.ngsi import DEFAULT_NAMESPACE, Entity

__all__ = ["add_opendata_commands"]

Settings = Callable[[argparse.Namespace], FarmwatchSettings]


def _day(text: str) -> datetime:
    """A date (local midnight in Hải Dương) or an ISO time, as UTC."""
    value = datetime.fromisoformat(text)
    return (value if value.tzinfo else value.replace(tzinfo=DISPLAY_TZ)).astimezone(UTC)


def _farms(args: argparse.Namespace, settings: FarmwatchSettings) -> list[Farm]:
    deployment = load_registry(settings.registry_path)
    if args.all:
        return list(deployment.farms)
    farms = []
    for farm_id in args.farm or ():
        farm = deployment.farm(farm_id)
        if farm is None:
            raise ValueError(f"no farm {farm_id!r} in the registry")
        farms.append(farm)
    if not farms:
        raise ValueError("give --farm F (repeatable) or --all")
    return farms


def _export(args: argparse.Namespace, settings: FarmwatchSettings) -> int:
    from farmwatch_ingest.stores import open_store

    from farmwatch.opendata.export import export_opendata
    from farmwatch.opendata.validate import validate_entity

    farms = _farms(args, settings)
    start, end = _day(args.start), _day(args.end)
    if not start < end:
        raise ValueError("--start must be before --end")
    store = open_store(settings)
    try:
        done = export_opendata(
            store, farms, start, end, args.out, args.format, namespace=args.namespace,
            progress=lambda n: print(f"  {n:,} records...", flush=True),
            check=None if args.no_validate else validate_entity, latest=store.latest,
        )  # fmt: skip
    finally:
        store.close()
    print(
        f"{done.entities:,} entities, {done.records:,} records"
        + (f" ({done.observations:,} WaterQualityObserved)" if args.format == "ngsi-ld" else "")
        + f" → {args.out}"
    )
    for problem in done.problems:
        print(f"invalid: {problem}", file=sys.stderr)
    if done.invalid:
        print(f"{done.invalid} entities do not validate against their schema", file=sys.stderr)
        return 1
    return 0


def _entities(store: Any, farms: Sequence[Farm], args: argparse.Namespace) -> Iterator[Entity]:
    from farmwatch.opendata.export import last_reported, node_records
    from farmwatch.opendata.ngsi import farm_entities, water_quality_observed

    for farm in farms:
        reported = last_reported(store.latest(farm.id))
        yield from farm_entities(farm, namespace=args.namespace, last_reported=reported)
    if args.start is None:
        return
    start, end = _day(args.start), _day(args.end)
    for farm in farms:
        for node in farm.nodes:
            for record in node_records(store, farm.id, node.id, start, end):
                entity = water_quality_observed(farm, node.id, record, namespace=args.namespace)
                if entity is not None:
                    yield entity


def _push(args: argparse.Namespace, settings: FarmwatchSettings) -> int:
    import httpx
    from farmwatch_ingest.stores import open_store

    from farmwatch.opendata.push import PushError, push_entities

    farms = _farms(args, settings)
    if (args.start is None) != (args.end is None):
        raise ValueError("give both --start and --end (observations), or neither (entities)")
    store = open_store(settings)
    try:
        with httpx.Client(timeout=args.timeout) as client:
            result = push_entities(
                client, args.broker_url, _entities(store, farms, args), tenant=args.tenant,
                batch_size=args.batch_size,
            )  # fmt: skip
    except PushError as exc:
        print(f"push failed: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(
        f"pushed {result.sent:,} entities in {result.requests} requests: {result.created:,} "
        f"created, {result.updated:,} updated, {len(result.errors)} refused"
    )
    for error in result.errors[:20]:
        print(f"refused: {error}", file=sys.stderr)
    return 1 if result.errors else 0


def add_opendata_commands(
    sub: Any, common: Callable[[argparse.ArgumentParser], None], settings: Settings
) -> None:
    """Register ``opendata export|push``; ``common`` and ``settings`` come from farmwatch.cli
    (passed to avoid an import cycle)."""
    opendata = sub.add_parser(
        "opendata", help="open data: NGSI-LD / Smart Data Models and SenML (docs/opendata.md)"
    )
    opendata_sub = opendata.add_subparsers(dest="opendata_command", required=True)
    export = opendata_sub.add_parser(
        "export", help="entities (JSON-LD) and readings (NGSI-LD or SenML) to a directory"
    )
    push = opendata_sub.add_parser(
        "push", help="upsert entities (and observations) into an NGSI-LD context broker"
    )
    for parser in (export, push):
        common(parser)
        parser.add_argument("--farm", action="append", help="a farm ID (repeatable)")
        parser.add_argument("--all", action="store_true", help="every farm of the registry")
        parser.add_argument(
            "--namespace", default=DEFAULT_NAMESPACE,
            help="id namespace: urn:ngsi-ld:<Type>:<namespace>:... (default hd, Hải Dương)",
        )  # fmt: skip
    export.add_argument("--start", required=True, help="YYYY-MM-DD (local) or ISO time")
    export.add_argument("--end", required=True, help="exclusive")
    export.add_argument("--out", required=True, type=Path, help="output directory")
    export.add_argument("--format", choices=["ngsi-ld", "senml"], default="ngsi-ld")
    export.add_argument(
        "--no-validate", action="store_true", help="skip the schema check of each entity"
    )
    push.add_argument("--broker-url", required=True, help="e.g. http://orion-ld:1026")
    push.add_argument("--tenant", help="NGSILD-Tenant header (multi-tenant brokers)")
    push.add_argument("--start", help="also push WaterQualityObserved from this time")
    push.add_argument("--end", help="... to this time (exclusive)")
    push.add_argument("--batch-size", type=int, default=100, help="entities per request")
    push.add_argument("--timeout", type=float, default=30.0, help="seconds per request")

    def run(
        args: argparse.Namespace,
        action: Callable[[argparse.Namespace, FarmwatchSettings], int],
    ) -> int:
        return action(args, settings(args))

    export.set_defaults(func=lambda args: run(args, _export))
    push.set_defaults(func=lambda args: run(args, _push))
