"""``farmwatch registry farms|nodes|contacts list`` and ``registry farm add|remove``.

Small, direct edits of the registry file for an officer who does not want to open the YAML:
every change goes through :class:`~farmwatch.registry_store.RegistryFile`, as the HTTP API's
(validated as a whole registry, then the file replaced by a rename, under the writers' lock),
so a typo never leaves a registry the services refuse. The file is rewritten from the model,
so YAML comments in it are not kept (as with ``registry import``).
"""

# ruff: noqa: T201 - a command-line module: printing is its output

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from farmwatch_core.registry import Deployment, RegistryError

from farmwatch.registry_store import RegistryFile, RegistryInvalid

__all__ = ["add_registry_commands"]


def _registry_file(args: argparse.Namespace) -> Path:
    from farmwatch_core.settings import load_settings

    if args.registry is not None:
        return Path(args.registry)
    return load_settings(args.config, data_dir=args.data_dir).registry_path


def _load(args: argparse.Namespace) -> Any:
    from farmwatch_core.registry import RegistryError, load_registry

    try:
        return load_registry(_registry_file(args))
    except RegistryError as exc:
        print(exc, file=sys.stderr)
        return None


def cmd_farms_list(args: argparse.Namespace) -> int:
    deployment = _load(args)
    if deployment is None:
        return 1
    print(f"{'id':<14} {'model':<17} {'district':<14} {'code':<14} {'nodes':>5}  name")
    for f in deployment.farms:
        flag = " *" if f.model_farm else ""
        print(
            f"{f.id:<14} {f.model.value:<17} {f.district or '—':<14} "
            f"{f.growing_area_code or '—':<14} {len(f.nodes):>5}  {f.name}{flag}"
        )
    print(f"{len(deployment.farms)} farms (* model farm)")
    return 0


def cmd_nodes_list(args: argparse.Namespace) -> int:
    deployment = _load(args)
    if deployment is None:
        return 1
    count = 0
    for farm in deployment.farms:
        if args.farm and farm.id != args.farm:
            continue
        for node in farm.nodes:
            count += 1
            sensors = ", ".join(node.sensors) or "—"
            print(f"{farm.id:<14} {node.id:<18} {node.profile:<14} {sensors}")
    print(f"{count} nodes")
    return 0


def cmd_contacts_list(args: argparse.Namespace) -> int:
    deployment = _load(args)
    if deployment is None:
        return 1
    farms_of: dict[str, list[str]] = {}
    for farm in deployment.farms:
        for contact in farm.contacts:
            farms_of.setdefault(contact, []).append(farm.id)
    for c in deployment.contacts:
        channels = ",".join(c.channels) or "—"
        farms = ",".join(farms_of.get(c.id, [])) or "—"
        print(f"{c.id:<16} {c.name:<24} {c.phone or '—':<14} {c.language} {channels:<12} {farms}")
    print(f"{len(deployment.contacts)} contacts")
    return 0


def _save(registry: RegistryFile, data: dict[str, Any]) -> int:
    """Validate ``data`` as a whole registry (errors by place, as on load), then replace."""
    try:
        registry.replace(data)
    except RegistryInvalid as exc:
        for problem in exc.problems:
            print(f"{registry.path}: {problem}", file=sys.stderr)
        return 1
    return 0


def cmd_farm_add(args: argparse.Namespace) -> int:
    registry = RegistryFile(_registry_file(args))
    farm: dict[str, Any] = {
        k: v
        for k, v in {
            "id": args.id, "name": args.name, "model": args.model, "district": args.district,
            "commune": args.commune, "cooperative": args.cooperative, "owner": args.owner,
            "growing_area_code": args.growing_area, "model_farm": args.model_farm,
            "nodes": [{"id": n} for n in args.node],
        }.items()
        if v not in (None, [])
    }  # fmt: skip
    with _editing(registry) as deployment:
        if deployment is None:
            return 1
        if deployment.farm(args.id) is not None:
            print(f"farm {args.id!r} is already in {registry.path}", file=sys.stderr)
            return 1
        data = deployment.model_dump(mode="json")
        data["farms"] = [*data["farms"], farm]
        if _save(registry, data):
            return 1
    print(f"farm {args.id} added to {registry.path}")
    return 0


def cmd_farm_remove(args: argparse.Namespace) -> int:
    registry = RegistryFile(_registry_file(args))
    if not registry.path.exists():
        print(f"no registry file at {registry.path}", file=sys.stderr)
        return 1
    with _editing(registry) as deployment:
        if deployment is None:
            return 1
        if deployment.farm(args.id) is None:
            print(f"no farm {args.id!r} in {registry.path}", file=sys.stderr)
            return 1
        data = deployment.model_dump(mode="json")
        data["farms"] = [f for f in data["farms"] if f["id"] != args.id]
        if _save(registry, data):
            return 1
    print(f"farm {args.id} removed from {registry.path} (its stored readings stay in the store)")
    return 0


@contextmanager
def _editing(registry: RegistryFile) -> Iterator[Deployment | None]:
    """The registry under the writers' lock, or None after printing why it cannot be read."""
    with registry.locked():
        try:
            deployment: Deployment | None = registry.read()
        except RegistryError as exc:
            print(exc, file=sys.stderr)
            deployment = None
        yield deployment


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", type=Path, help="registry YAML (default data_dir's)")
    parser.add_argument("--config", type=Path, help="TOML config file (or FARMWATCH_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="where local state lives (default ./var)")


def add_registry_commands(registry_sub: Any) -> None:
    """The list commands and ``farm add|remove`` under ``farmwatch registry``."""
    for kind, func, text in (
        ("farms", cmd_farms_list, "the registry's farms"),
        ("nodes", cmd_nodes_list, "every farm's nodes and sensors"),
        ("contacts", cmd_contacts_list, "contacts and the farms that tell them"),
    ):
        group = registry_sub.add_parser(kind, help=f"{kind}: list")
        actions = group.add_subparsers(dest=f"registry_{kind}_command", required=True)
        listing = actions.add_parser("list", help=f"list {text}")
        _where(listing)
        if kind == "nodes":
            listing.add_argument("--farm", help="only this farm's nodes")
        listing.set_defaults(func=func)
    farm = registry_sub.add_parser("farm", help="add or remove a farm")
    farm_sub = farm.add_subparsers(dest="registry_farm_command", required=True)
    add = farm_sub.add_parser("add", help="add a farm (checked with the whole registry)")
    _where(add)
    add.add_argument("--id", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--model", required=True, help="aquaculture_pond, pig_barn, orchard...")
    add.add_argument("--district")
    add.add_argument("--commune")
    add.add_argument("--cooperative", help="a cooperative ID of the registry")
    add.add_argument("--owner")
    add.add_argument("--growing-area", help="growing-area code (mã vùng trồng)")
    add.add_argument("--model-farm", action="store_true", help='a "mô hình điểm"')
    add.add_argument("--node", action="append", default=[], help="a node ID (repeatable)")
    add.set_defaults(func=cmd_farm_add)
    remove = farm_sub.add_parser("remove", help="remove a farm from the registry")
    _where(remove)
    remove.add_argument("id")
    remove.set_defaults(func=cmd_farm_remove)
