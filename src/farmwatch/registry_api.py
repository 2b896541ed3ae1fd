"""The registry over HTTP: cooperatives, farms, nodes and contacts, read and changed by role.

Routes, under ``/api/v1/registry`` (docs/api.md has the whole table):

* ``GET cooperatives``, ``farms``, ``farms/{farm_id}``, ``farms/{farm_id}/nodes``, ``contacts``
  — what the caller's role covers: a farmer their own farms, a cooperative its farms, an
  officer the model farms of its districts (and their contacts *without* phone numbers or
  e-mail addresses: an officer advises, a cooperative calls), admin everything. A farm outside
  the scope is "not found", as everywhere in the API.
* ``POST farms`` (create), ``PUT farms/{farm_id}`` (replace), ``DELETE farms/{farm_id}`` and
  ``POST import`` (a spreadsheet, through :mod:`farmwatch.registry_import`) — admin, and a
  cooperative for the farms of its own cooperative; a cooperative can neither take another
  cooperative's farm nor move one of its own into another cooperative, nor change a contact
  that another cooperative's farm uses.

Every write goes through :class:`~farmwatch.registry_store.RegistryFile`, as the CLI's: the
changed registry is validated as a whole, the file is replaced in one step, and a refusal
lists every problem with its place (422). Each write is logged and appended to an audit file
(``registry-changes.jsonl``) with who made it.

The scope here is worked out from the registry *file* on every request (not from the registry
the API started with), so a write is visible at once and a farm moved out of a cooperative
cannot be changed by it a second later. The rest of the running system — ingest accepting a
new node, alerting's contacts, the other API routes and the token scopes — reads the registry
when it starts: a change takes effect there at the next restart.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from farmwatch_core.access import Grant, Role, guard_of, resolve
from farmwatch_core.api_tokens import TokenStore
from farmwatch_core.registry import Contact, Cooperative, Deployment, Farm, RegistryError
from fastapi import APIRouter, Body, File, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse

from farmwatch.registry_store import Problem, RegistryFile, RegistryInvalid

__all__ = ["AUDIT_FILE", "Caller", "GrantLookup", "changes", "grants_of", "registry_router"]

log = logging.getLogger(__name__)

AUDIT_FILE = "registry-changes.jsonl"
MAX_UPLOAD_BYTES = 10_000_000  # a cooperative's sheet of 10,000 farms is about 1 MB
APPLIES = (
    "ingest and alerting read the registry when they start: restart them for this change to "
    "take effect there"
)
_FARMS_SHEET = "the farms sheet: .xlsx (its contacts and nodes sheets too) or .csv"
_SHEET_SUFFIXES = {".xlsx", ".xlsm", ".csv"}
_SAFE_NAME = re.compile(r"[^\w.-]+")

GrantLookup = Callable[[str], Grant | None]


def grants_of(tokens: TokenStore) -> GrantLookup:
    """The grant of an active token id, from the token file the guard checks tokens against."""

    def lookup(token_id: str) -> Grant | None:
        return next((t.grant for t in tokens.tokens() if t.id == token_id and t.active), None)

    return lookup


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is changing or reading the registry, with the farms in scope in its current file."""

    name: str
    role: Role
    token_id: str | None
    cooperative: str | None
    farms: frozenset[str] | None  # None: every farm (admin)

    @property
    def is_admin(self) -> bool:
        return self.farms is None

    def sees(self, farm_id: str) -> bool:
        return self.farms is None or farm_id in self.farms

    def may_manage(self) -> bool:
        """Whether this role changes the registry at all (farmers and officers do not)."""
        return self.is_admin or self.role is Role.COOPERATIVE


def caller_of(request: Request, registry: Deployment, grant_of: GrantLookup) -> Caller:
    """The authenticated caller (401/429 from the guard), scoped by ``registry``."""
    who = guard_of(request).principal(request)
    if who.is_admin:
        return Caller(who.name, who.role, who.token_id, None, None)
    grant = grant_of(who.token_id) if who.token_id else None
    if grant is None:  # revoked since the guard's check: nothing
        return Caller(who.name, who.role, who.token_id, None, frozenset())
    scoped = resolve(grant, registry, who.token_id)
    return Caller(who.name, who.role, who.token_id, grant.cooperative, scoped.farms)


@dataclass(frozen=True, slots=True)
class Changed:
    """The farms and contacts a write changes (added, replaced or removed)."""

    farms: list[str]
    contacts: list[str]
    cooperatives: bool


def changes(old: Deployment, new: Deployment) -> Changed:
    """What differs between two registries.

    >>> from farmwatch_core.registry import parse_registry
    >>> a = parse_registry("farms: [{id: f1, name: A, model: orchard}]")
    >>> b = parse_registry("farms: [{id: f1, name: B, model: orchard}, "
    ...                    "{id: f2, name: C, model: orchard}]")
    >>> changes(a, b)
    Changed(farms=['f1', 'f2'], contacts=[], cooperatives=False)
    """

    def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
        return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))

    return Changed(
        diff({f.id: f for f in old.farms}, {f.id: f for f in new.farms}),
        diff({c.id: c for c in old.contacts}, {c.id: c for c in new.contacts}),
        old.cooperatives != new.cooperatives,
    )


def refusals(caller: Caller, old: Deployment, new: Deployment) -> list[str]:
    """Why ``caller`` may not turn ``old`` into ``new`` (empty: it may).

    One rule for every write, the import's too: a cooperative changes only farms that are of
    its cooperative both before and after, and only contacts that are new or used by its farms
    alone; cooperatives themselves are an admin's.
    """
    if caller.is_admin:
        return []
    if not caller.may_manage():
        return [f"a {caller.role.value} token is read-only for the registry"]
    own = caller.cooperative
    changed = changes(old, new)
    found = []
    if changed.cooperatives:
        found.append("cooperatives are added or changed by an admin")
    for farm_id in changed.farms:
        before, after = old.farm(farm_id), new.farm(farm_id)
        if before is not None and before.cooperative != own:
            found.append(f"farm {farm_id!r} is not a farm of cooperative {own!r}")
        elif after is not None and after.cooperative != own:
            found.append(
                f"farm {farm_id!r} would be in cooperative {after.cooperative!r}: a "
                f"cooperative token writes farms of its own cooperative ({own!r})"
            )
    old_contacts = {c.id for c in old.contacts}
    for contact_id in changed.contacts:
        if contact_id not in old_contacts:
            continue  # a new contact
        users = [f for f in old.farms if contact_id in f.contacts]
        if not users or any(f.cooperative != own for f in users):
            found.append(
                f"contact {contact_id!r} is not only your farms' contact: an admin changes it "
                "(or import it under a new ID)"
            )
    return found


def _farm_json(farm: Farm) -> dict[str, Any]:
    return farm.model_dump(mode="json")


def _contact_json(contact: Contact, caller: Caller, farms: list[str]) -> dict[str, Any]:
    data = contact.model_dump(mode="json")
    if caller.role is Role.OFFICER:
        # An officer follows model farms and advises; calling or texting the farmer is the
        # cooperative's (and the alerting's) business, so the numbers stay out of its view.
        data.pop("phone", None)
        data.pop("email", None)
    data["farms"] = farms
    return data


def _cooperative_json(coop: Cooperative, farms: list[str]) -> dict[str, Any]:
    return {**coop.model_dump(mode="json"), "farms": farms}


def _invalid(problems: list[Problem], what: str) -> JSONResponse:
    return JSONResponse(
        {
            "detail": f"{what}: nothing was changed, {len(problems)} problem(s) to fix",
            "problems": [p.as_json() for p in problems],
        },
        status_code=422,
    )


def _refused(found: list[str]) -> HTTPException:
    return HTTPException(403, "; ".join(found))


def _not_found(farm_id: str) -> HTTPException:
    return HTTPException(404, f"unknown farm {farm_id!r}")


@dataclass
class _Audit:
    """Who changed what: the log, and one JSON line per write in ``path``."""

    path: Path | None

    def record(self, caller: Caller, action: str, changed: Changed) -> None:
        log.info(
            "registry %s by %s (%s, token %s): farms %s, contacts %s",
            action, caller.name, caller.role.value, caller.token_id or "-",
            ",".join(changed.farms) or "-", ",".join(changed.contacts) or "-",
        )  # fmt: skip
        if self.path is None:
            return
        line = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "by": caller.name,
            "role": caller.role.value,
            "token_id": caller.token_id,
            "action": action,
            "farms": changed.farms,
            "contacts": changed.contacts,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")


def registry_router(  # noqa: PLR0915 - one small closure per route, kept together
    registry: RegistryFile, grant_of: GrantLookup, *, audit: Path | None = None
) -> APIRouter:
    """The registry routes, reading and replacing ``registry``; ``grant_of`` finds a token's
    grant (:func:`grants_of`), ``audit`` is the file that records every write."""
    router = APIRouter(prefix="/api/v1/registry", tags=["registry"])
    journal = _Audit(audit)

    def current() -> Deployment:
        try:
            return registry.read()
        except RegistryError:
            log.exception("the registry file %s is invalid", registry.path)
            raise HTTPException(
                503, "the registry file is invalid; fix it (farmwatch registry check)"
            ) from None

    def farm_in_scope(deployment: Deployment, caller: Caller, farm_id: str) -> Farm:
        farm = deployment.farm(farm_id)
        if farm is None or not caller.sees(farm_id):
            raise _not_found(farm_id)
        return farm

    def apply(caller: Caller, old: Deployment, new: Deployment, action: str) -> Changed:
        found = refusals(caller, old, new)
        if found:
            raise _refused(found)
        registry.write(new)
        changed = changes(old, new)
        journal.record(caller, action, changed)
        return changed

    @router.get("/cooperatives")
    def cooperatives(request: Request) -> list[dict[str, Any]]:
        """The cooperatives of the farms in scope (a cooperative's token: its own)."""
        deployment = current()
        caller = caller_of(request, deployment, grant_of)
        farms_of: dict[str, list[str]] = {}
        for farm in deployment.farms:
            if farm.cooperative is not None and caller.sees(farm.id):
                farms_of.setdefault(farm.cooperative, []).append(farm.id)
        return [
            _cooperative_json(c, farms_of.get(c.id, []))
            for c in deployment.cooperatives
            if caller.is_admin or c.id in farms_of or c.id == caller.cooperative
        ]

    @router.get("/farms")
    def farms(request: Request) -> list[dict[str, Any]]:
        """The farms in scope, with their nodes and contact IDs."""
        deployment = current()
        caller = caller_of(request, deployment, grant_of)
        return [_farm_json(f) for f in deployment.farms if caller.sees(f.id)]

    @router.get("/farms/{farm_id}")
    def farm(farm_id: str, request: Request) -> dict[str, Any]:
        deployment = current()
        caller = caller_of(request, deployment, grant_of)
        return _farm_json(farm_in_scope(deployment, caller, farm_id))

    @router.get("/farms/{farm_id}/nodes")
    def nodes(farm_id: str, request: Request) -> list[dict[str, Any]]:
        deployment = current()
        caller = caller_of(request, deployment, grant_of)
        found = farm_in_scope(deployment, caller, farm_id)
        return [n.model_dump(mode="json") for n in found.nodes]

    @router.get("/contacts")
    def contacts(request: Request) -> list[dict[str, Any]]:
        """The contacts of the farms in scope (all for admin); an officer's come without phone
        numbers and e-mail addresses."""
        deployment = current()
        caller = caller_of(request, deployment, grant_of)
        farms_of: dict[str, list[str]] = {}
        for f in deployment.farms:
            if caller.sees(f.id):
                for contact in f.contacts:
                    farms_of.setdefault(contact, []).append(f.id)
        return [
            _contact_json(c, caller, farms_of.get(c.id, []))
            for c in deployment.contacts
            if caller.is_admin or c.id in farms_of
        ]

    def write_farm(
        request: Request, body: dict[str, Any], farm_id: str | None
    ) -> tuple[Farm, Changed] | JSONResponse:
        """Create (``farm_id`` None) or replace one farm, checked with the whole registry."""
        with registry.locked():
            old = current()
            caller = caller_of(request, old, grant_of)
            if farm_id is not None:
                farm_in_scope(old, caller, farm_id)  # 404 before anything else
            if not caller.may_manage():
                raise _refused(refusals(caller, old, old))
            data = dict(body)
            if farm_id is not None:
                data.setdefault("id", farm_id)
                if data["id"] != farm_id:
                    problem = Problem("id", f"{data['id']!r} is not {farm_id!r} of the address")
                    return _invalid([problem], f"farm {farm_id}")
            if caller.role is Role.COOPERATIVE:
                data.setdefault("cooperative", caller.cooperative)
                if data["cooperative"] != caller.cooperative:
                    raise _refused([
                        f"a cooperative token writes farms of its own cooperative "
                        f"({caller.cooperative!r}), not {data['cooperative']!r}"
                    ])  # fmt: skip
            new_id = data.get("id")
            if farm_id is None and isinstance(new_id, str) and old.farm(new_id) is not None:
                raise HTTPException(
                    409,
                    f"farm {new_id!r} already exists; PUT /api/v1/registry/farms/{new_id} "
                    "replaces a farm",
                )
            everything = old.model_dump(mode="json")
            ids = [f["id"] for f in everything["farms"]]
            index = ids.index(farm_id) if farm_id is not None else len(ids)
            everything["farms"][index : index + 1] = [data]
            try:
                new = registry.validate(everything, focus=("farms", index))
            except RegistryInvalid as exc:
                return _invalid(exc.problems, f"farm {data.get('id', '?')}")
            changed = apply(caller, old, new, "create" if farm_id is None else "replace")
        return new.farms[index], changed

    @router.post("/farms", status_code=201)
    def create_farm(
        request: Request, body: Annotated[dict[str, Any], Body(description="a farm")]
    ) -> Any:
        """Add a farm (the registry's fields, docs/officers.md); a cooperative's token adds
        farms of its own cooperative (the default when ``cooperative`` is left out)."""
        result = write_farm(request, body, None)
        if isinstance(result, JSONResponse):
            return result
        return {**_farm_json(result[0]), "note": APPLIES}

    @router.put("/farms/{farm_id}")
    def replace_farm(
        farm_id: str, request: Request, body: Annotated[dict[str, Any], Body(description="a farm")]
    ) -> Any:
        """Replace a farm with the one sent (every field: what is left out is cleared)."""
        result = write_farm(request, body, farm_id)
        if isinstance(result, JSONResponse):
            return result
        return {**_farm_json(result[0]), "note": APPLIES}

    @router.delete("/farms/{farm_id}")
    def delete_farm(farm_id: str, request: Request) -> Any:
        """Remove a farm from the registry; its stored readings stay in the store."""
        with registry.locked():
            old = current()
            caller = caller_of(request, old, grant_of)
            farm_in_scope(old, caller, farm_id)
            everything = old.model_dump(mode="json")
            everything["farms"] = [f for f in everything["farms"] if f["id"] != farm_id]
            try:
                new = registry.validate(everything)
            except RegistryInvalid as exc:  # pragma: no cover - nothing refers to a farm
                return _invalid(exc.problems, f"farm {farm_id}")
            apply(caller, old, new, "delete")
        return {"deleted": farm_id, "note": APPLIES}

    @router.post("/import")
    def import_sheet(
        request: Request,
        farms: Annotated[UploadFile, File(description=_FARMS_SHEET)],
        contacts: Annotated[UploadFile | None, File(description="contacts .csv")] = None,
        nodes: Annotated[UploadFile | None, File(description="nodes .csv")] = None,
    ) -> Any:
        """Farms, contacts and nodes from a spreadsheet, every row checked; nothing is written
        while any row is wrong (422 with each row's problems)."""
        from farmwatch.registry_import import import_registry

        with registry.locked():
            old = current()
            caller = caller_of(request, old, grant_of)
            if not caller.may_manage():
                raise _refused(refusals(caller, old, old))
            with tempfile.TemporaryDirectory(prefix="farmwatch-import-") as tmp:
                folder = Path(tmp)
                farms_path = _saved(farms, folder, "farms")
                contacts_path = (
                    _saved(contacts, folder, "contacts") if contacts is not None else None
                )
                nodes_path = _saved(nodes, folder, "nodes") if nodes is not None else None
                try:
                    merged, result = import_registry(
                        farms_path, old, contacts=contacts_path, nodes=nodes_path
                    )
                except (zipfile.BadZipFile, KeyError, OSError, ValueError, csv.Error) as exc:
                    problem = Problem(farms_path.name, f"not a readable sheet: {exc}")
                    return _invalid([problem], "import")
            if merged is None:
                return _invalid([Problem.parse(e) for e in result.errors], "import")
            changed = apply(caller, old, merged, "import")
        return {
            "farms": len(result.farms),
            "contacts": len(result.contacts),
            "node_rows": result.nodes,
            "changed_farms": changed.farms,
            "changed_contacts": changed.contacts,
            "note": APPLIES,
        }

    return router


def _saved(upload: UploadFile, folder: Path, field: str) -> Path:
    """An uploaded sheet in ``folder`` under its own (cleaned) name, so errors name the file the
    user sent; 413 when too large, 422 when not a spreadsheet."""
    name = _SAFE_NAME.sub("_", Path(upload.filename or f"{field}.csv").name).lstrip(".")
    path = folder / field / (name or f"{field}.csv")
    if path.suffix.lower() not in _SHEET_SUFFIXES:
        raise HTTPException(422, f"{field}: {name!r} is not a .xlsx or .csv file")
    content = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"{field}: larger than {MAX_UPLOAD_BYTES // 1_000_000} MB")
    path.parent.mkdir()
    path.write_bytes(content)
    return path
