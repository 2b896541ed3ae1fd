"""Who may see and change what over the HTTP API: roles, grants and principals.

Pure and small on purpose: the token store (:mod:`farmwatch_core.api_tokens`) keeps *grants*,
the API's guard (``farmwatch_ingest.auth``) turns the grant of a presented token into a
:class:`Principal` with the registry, and every route asks the principal. Nothing here knows
about HTTP, so the rules can be read, doctested and reused by any front end.

The four roles of the province's programme:

========== ====================================================== ======
role       farms in scope                                          writes
========== ====================================================== ======
farmer     the farms listed on the token (their own)               yes
cooperative its member farms (``farm.cooperative`` in the registry) yes
officer    the *model* farms (``model_farm: true``) of its         no
           assigned districts — an extension officer follows the
           programme's demonstration farms, read-only
admin      every farm, and the operator's views (metrics, stats,   yes
           dead letters without a farm)
partner    a partner *system* (a provincial data platform): the    no
           model farms, of its districts or of every district,
           on the open-data routes only (:data:`PARTNER_PREFIX`)
========== ====================================================== ======

A cooperative's or an officer's scope follows the registry: a farm that joins the cooperative
(or becomes a model farm) is in scope at the next start, with no token to re-issue.

    >>> from farmwatch_core.registry import parse_registry
    >>> reg = parse_registry('''
    ... cooperatives: [{id: htx-a, name: HTX A}]
    ... farms:
    ...   - {id: f1, name: F1, model: orchard, cooperative: htx-a, district: Thanh Hà,
    ...      model_farm: true}
    ...   - {id: f2, name: F2, model: orchard, cooperative: htx-a, district: Thanh Hà}
    ...   - {id: f3, name: F3, model: orchard, district: Kinh Môn, model_farm: true}
    ... ''')
    >>> sorted(resolve(Grant("htx", Role.COOPERATIVE, cooperative="htx-a"), reg).farms)
    ['f1', 'f2']
    >>> officer = resolve(Grant("cán bộ", Role.OFFICER, districts=("thanh hà",)), reg)
    >>> sorted(officer.farms), officer.sees("f1"), officer.may_write("f1")
    (['f1'], True, False)
    >>> farmer = resolve(Grant("Sơn", Role.FARMER, farms=("f3",)), reg)
    >>> farmer.sees("f3"), farmer.sees("f1"), farmer.sees(None), farmer.may_write("f3")
    (True, False, False, True)
    >>> admin = resolve(Grant("ops", Role.ADMIN), reg)
    >>> admin.sees("anything"), admin.sees(None), admin.is_admin
    (True, True, True)
    >>> partner = resolve(Grant("Sở NN&PTNT", Role.PARTNER), reg)
    >>> sorted(partner.farms), partner.may_write("f1"), partner.may_call("/api/v1/latest")
    (['f1', 'f3'], False, False)
    >>> partner.may_call("/api/partner/v1/entities"), admin.may_call("/api/v1/latest")
    (True, True)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from farmwatch_core.registry import Deployment

__all__ = [
    "DEMO",
    "PARTNER_PREFIX",
    "Grant",
    "Principal",
    "Role",
    "RouteGuard",
    "guard_of",
    "resolve",
]


class Role(StrEnum):
    FARMER = "farmer"
    COOPERATIVE = "cooperative"
    OFFICER = "officer"
    ADMIN = "admin"
    PARTNER = "partner"


PARTNER_PREFIX = "/api/partner/"
"""The only routes a partner key may call: the versioned open-data API (farmwatch.opendata)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What a token was issued for (stored beside its hash); ``name`` is who holds it and is
    what the alert history records when they acknowledge."""

    name: str
    role: Role
    farms: tuple[str, ...] = ()  # farmer
    cooperative: str | None = None  # cooperative
    districts: tuple[str, ...] = ()  # officer; partner (none: every district)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a token needs the name of who holds it (--name)")
        needs = {
            Role.FARMER: ("farms", bool(self.farms)),
            Role.COOPERATIVE: ("cooperative", self.cooperative is not None),
            Role.OFFICER: ("districts", bool(self.districts)),
            Role.ADMIN: ("", True),
            Role.PARTNER: ("districts", True),  # optional: without, every model farm
        }
        field, present = needs[self.role]
        if not present:
            raise ValueError(f"a {self.role.value} token needs --{field.rstrip('s')}")
        extra = [
            name
            for name, value in (
                ("farm", self.farms), ("cooperative", self.cooperative),
                ("district", self.districts),
            )
            if value and not field.startswith(name)
        ]  # fmt: skip
        if extra:
            raise ValueError(f"a {self.role.value} token takes no --{', --'.join(extra)}")

    def scope_text(self) -> str:
        """One line for ``farmwatch tokens list``.

        >>> Grant("a", Role.FARMER, farms=("f1", "f2")).scope_text()
        'farms f1, f2'
        """
        if self.role is Role.FARMER:
            return "farms " + ", ".join(self.farms)
        if self.role is Role.COOPERATIVE:
            return f"cooperative {self.cooperative}"
        if self.role is Role.OFFICER:
            return "model farms of " + ", ".join(self.districts)
        if self.role is Role.PARTNER:
            where = ", ".join(self.districts) if self.districts else "every district"
            return f"open data: model farms of {where}"
        return "everything"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request. ``farms`` is None for admin (every farm, and records with no
    farm at all); ``demo`` marks the open API of a loopback demo without tokens."""

    name: str
    role: Role
    farms: frozenset[str] | None
    token_id: str | None = None
    demo: bool = False

    @property
    def is_admin(self) -> bool:
        return self.farms is None

    @property
    def read_only(self) -> bool:
        return self.role in {Role.OFFICER, Role.PARTNER}

    def may_call(self, path: str) -> bool:
        """Whether this caller may use the route at ``path`` at all: a partner system's key
        opens the open-data API and nothing else (not the page, alerts or registry)."""
        return self.role is not Role.PARTNER or path.startswith(PARTNER_PREFIX)

    def sees(self, farm_id: str | None) -> bool:
        """May read data of this farm (None: data not tied to a farm — admin only)."""
        if self.farms is None:
            return True
        return farm_id is not None and farm_id in self.farms

    def may_write(self, farm_id: str | None) -> bool:
        """May acknowledge or silence alerts of this farm."""
        return not self.read_only and self.sees(farm_id)

    def visible(self, farm_ids: Iterable[str]) -> list[str]:
        """The farm ids of ``farm_ids`` in scope, in order."""
        return [f for f in farm_ids if self.sees(f)]


DEMO = Principal("demo", Role.ADMIN, None, demo=True)


def _fold(text: str) -> str:
    """District names compare without case and Unicode-normalised ("Thanh Hà" typed on a
    phone may be decomposed)."""
    return unicodedata.normalize("NFC", text).strip().casefold()


def resolve(grant: Grant, deployment: Deployment | None, token_id: str | None = None) -> Principal:
    """The principal of a grant, with the farms in scope taken from the registry now.

    Without a registry (auto-registering demo) a cooperative or officer sees nothing, a
    farmer their listed farms.
    """
    farms: frozenset[str] | None
    all_farms = deployment.farms if deployment is not None else ()
    if grant.role is Role.ADMIN:
        farms = None
    elif grant.role is Role.FARMER:
        farms = frozenset(grant.farms)
    elif grant.role is Role.COOPERATIVE:
        farms = frozenset(f.id for f in all_farms if f.cooperative == grant.cooperative)
    else:  # officer, partner: the model farms of the districts (a partner without: all)
        wanted = {_fold(d) for d in grant.districts}
        farms = frozenset(
            f.id
            for f in all_farms
            if f.model_farm
            and (
                (grant.role is Role.PARTNER and not wanted)
                or (f.district is not None and _fold(f.district) in wanted)
            )
        )
    return Principal(grant.name, grant.role, farms, token_id)


class RouteGuard(Protocol):
    """What routers of other packages (alerting's, the page's) need of the API's guard, which
    ``create_app`` puts on ``app.state.guard``: they cannot import the ingest package."""

    def principal(self, request: Any) -> Principal:
        """The authenticated caller, or an HTTP 401/429 error."""
        ...

    def limit(self, bucket: str, request: Any) -> None:
        """Take one token from the client's bucket of public requests, or raise HTTP 429."""
        ...


def guard_of(request: Any) -> RouteGuard:
    """The guard of the app serving ``request``; a router mounted without one fails closed."""
    guard: RouteGuard | None = getattr(request.app.state, "guard", None)
    if guard is None:
        raise RuntimeError("this app has no access control (create_app sets app.state.guard)")
    return guard
