"""``farmwatch tokens add/revoke/list``: who may use the HTTP API (docs/api.md).

``add`` prints the token once, with a login link for a phone; only its SHA-256 is kept, in
``<data_dir>/api-tokens.db``, which every API process reads on each request, so adding and
revoking take effect without a restart. The farms, cooperative and districts named are checked
against the registry when there is one, so a typo does not make a token that sees nothing.
"""

# A command module: what it prints is its output (as in farmwatch.cli).
# ruff: noqa: T201

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from farmwatch_core.access import Grant, Role
from farmwatch_core.api_tokens import TokenStore
from farmwatch_core.registry import Deployment, load_registry
from farmwatch_core.settings import FarmwatchSettings
from farmwatch_core.timefmt import local_text

from farmwatch.components import tokens_path

__all__ = ["add_tokens_commands"]

Settings = Callable[[argparse.Namespace], FarmwatchSettings]


def _check_scope(grant: Grant, deployment: Deployment) -> list[str]:
    """Problems (unknown farm or cooperative) and, prefixed ``warning:``, doubts."""
    problems = [
        f"unknown farm {f!r} (not in the registry)" for f in grant.farms if not deployment.farm(f)
    ]
    if grant.cooperative is not None and grant.cooperative not in {
        c.id for c in deployment.cooperatives
    }:
        problems.append(f"unknown cooperative {grant.cooperative!r} (not in the registry)")
    for district in grant.districts:
        folded = district.strip().casefold()
        if not any(
            f.model_farm and (f.district or "").casefold() == folded for f in deployment.farms
        ):
            problems.append(f"warning: no model farm in district {district!r} yet")
    return problems


def _add(args: argparse.Namespace, settings: FarmwatchSettings) -> int:
    try:
        grant = Grant(
            args.name, Role(args.role), tuple(args.farm or ()), args.cooperative,
            tuple(args.district or ()),
        )  # fmt: skip
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if settings.registry_path.exists():
        problems = _check_scope(grant, load_registry(settings.registry_path))
        for problem in problems:
            print(problem, file=sys.stderr)
        if any(not p.startswith("warning:") for p in problems):
            return 2
    elif grant.role is not Role.ADMIN:
        print(
            f"warning: no registry at {settings.registry_path}; the scope is not checked",
            file=sys.stderr,
        )
    store = TokenStore(tokens_path(settings))
    try:
        info, token = store.issue(grant)
    finally:
        store.close()
    base = (
        settings.alerting.public_url or f"http://{settings.api.host}:{settings.api.port}"
    ).rstrip("/")
    print(f"token: {token}")
    print(f"login link for a phone: {base}/login#t={token}")
    print(
        f"(shown once, only its hash is kept). id {info.id}, {grant.role.value} "
        f"{grant.name!r}: {grant.scope_text()}. Revoke with `farmwatch tokens revoke {info.id}`."
    )
    return 0


def _revoke(args: argparse.Namespace, settings: FarmwatchSettings) -> int:
    store = TokenStore(tokens_path(settings))
    try:
        revoked = store.revoke(args.token)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 1
    finally:
        store.close()
    for info in revoked:
        print(f"revoked {info.id} ({info.grant.role.value} {info.grant.name!r})")
    return 0


def _list(args: argparse.Namespace, settings: FarmwatchSettings) -> int:
    store = TokenStore(tokens_path(settings))
    try:
        found = store.tokens()
    finally:
        store.close()
    if not found:
        print("no API tokens (the API is open on 127.0.0.1 only: demo mode)")
    for info in found:
        state = f"revoked {local_text(info.revoked_at)}" if info.revoked_at else "active"
        print(
            f"{info.id}  {info.grant.role.value:<11} {info.grant.name:<24} "
            f"{info.grant.scope_text():<40} {state}"
        )
    return 0


def add_tokens_commands(
    sub: Any, common: Callable[[argparse.ArgumentParser], None], settings: Settings
) -> None:
    """Register ``tokens add|revoke|list``; ``common`` adds the shared options, ``settings``
    builds the settings from them (both from farmwatch.cli, passed to avoid a cycle)."""
    tokens = sub.add_parser("tokens", help="HTTP API tokens with roles (docs/api.md)")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True)
    for name, action, text in (
        ("add", _add, "issue a token (printed once): farmer, cooperative, officer, admin, partner"),
        ("revoke", _revoke, "revoke a token by its id, or every token of a name"),
        ("list", _list, "every token (ids, roles, scopes; never the tokens themselves)"),
    ):
        parser = tokens_sub.add_parser(name, help=text)
        common(parser)
        if name == "add":
            parser.add_argument("--role", required=True, choices=[r.value for r in Role])
            parser.add_argument("--name", required=True, help="who holds it (recorded on acks)")
            parser.add_argument("--farm", action="append", help="farmer: a farm ID (repeat)")
            parser.add_argument("--cooperative", help="cooperative: its ID in the registry")
            parser.add_argument(
                "--district", action="append",
                help="officer: a district (repeat); partner: its districts (none: every one)",
            )  # fmt: skip
        if name == "revoke":
            parser.add_argument("token", help="the token's id (see `tokens list`) or name")

        def run(
            args: argparse.Namespace,
            action: Callable[[argparse.Namespace, FarmwatchSettings], int] = action,
        ) -> int:
            return action(args, settings(args))

        parser.set_defaults(func=run)
