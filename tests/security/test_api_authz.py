"""The authorization matrix: every route of the assembled app × every role, over real HTTP.

Two tenants (cooperatives X and Y, see support/api_world.py) with real readings, dead letters,
alerts and silences. For every (method, path) of ``app.routes`` the table below says what it
needs — a route missing from the table fails :func:`test_the_matrix_covers_every_route`, so a
new endpoint cannot ship without deciding who may call it. Each role then calls every case:

* a denied call gets 401 (no token), 403 (wrong role) or 404 (a farm outside the scope is
  "not found", so its existence is not confirmed), and a denied write changes nothing;
* an allowed response names no farm outside the caller's scope (IDs and names searched in the
  body), and a listing shows every farm inside it (so an empty answer cannot pass);
* an allowed write records the token's name (ack history, silence author, registry audit);
* no response shows a contact's phone number or e-mail address to an officer, nor to anyone
  outside the farms of that contact.

Registry writes (``/api/v1/registry``) change the registry file; each case puts the file back
afterwards (``Call.undo``), so every role meets the same registry.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from farmwatch_alerting.alert import AlertState
from farmwatch_core.access import PARTNER_PREFIX, Role
from fastapi.routing import iter_route_contexts
from support.api_world import CONTACTS, FARMLESS_TOPIC, FARMS, GRANTS, SCOPES, World, api_world
from support.asgi import served

ROLES = list(SCOPES)


@dataclass
class Call:
    """One prepared request, and how to tell whether a write it asked for happened."""

    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    applied: Callable[[], bool] | None = None
    recorded_by: Callable[[], str | None] | None = None
    undo: Callable[[], None] | None = None  # after the checks: put the world back


@dataclass(frozen=True)
class Public:
    """Anyone, without a token (the status every role gets)."""

    status: int = 200


@dataclass(frozen=True)
class Listing:
    """Any token; the answer is filtered to the caller's farms (``farms``: it lists farm
    data, so every farm in scope must appear)."""

    farms: bool = True


@dataclass(frozen=True)
class Read:
    farm: str


@dataclass(frozen=True)
class Write:
    farm: str
    out_of_scope: int = 404  # 403 when the client names the farm in the body


@dataclass(frozen=True)
class AdminOnly:
    pass


@dataclass(frozen=True)
class Manage:
    """A registry write: admin, and a cooperative whose farm it is both before (``farm``, an
    existing farm; None for a new one) and after (``cooperative``). Farmers and officers are
    read-only: 403 for a farm in their scope or a new farm, ``out_of_scope`` for another farm
    (403 where the farm is named in the body rather than the address)."""

    cooperative: str
    farm: str | None = None
    out_of_scope: int = 404

    def writes(self, role: str) -> bool:
        grant = GRANTS.get(role)
        if grant is None:
            return False
        if grant.role is Role.ADMIN:
            return True
        return (
            grant.role is Role.COOPERATIVE
            and grant.cooperative == self.cooperative
            and (self.farm is None or self.farm in SCOPES[role])
        )


@dataclass(frozen=True)
class Operators:
    """Admin, cooperatives and officers, filtered to their farms; farmers 403 (feedback
    figures are the operators' view)."""


Rule = Public | Listing | Read | Write | AdminOnly | Manage | Operators


@dataclass(frozen=True)
class Case:
    rule: Rule
    make: Callable[[World], Call]
    label: str = ""


def get(path: str, **params: Any) -> Callable[[World], Call]:
    return lambda _w: Call(path, {"params": params} if params else {})


def ack_case(farm: str) -> Case:
    def make(w: World) -> Call:
        episode, _ = w.fire(farm, f"Ack{uuid.uuid4().hex[:6]}")
        store = w.service.store
        return Call(
            f"/api/v1/alerts/{episode}/ack",
            {"json": {"by": "someone else"}},
            applied=lambda: store.get(episode).state is AlertState.ACKNOWLEDGED,
            recorded_by=lambda: store.get(episode).acknowledged_by,
        )

    return Case(Write(farm), make, farm)


def alert_detail_case(farm: str) -> Case:
    def make(w: World) -> Call:
        episode, _ = w.fire(farm, f"Detail{uuid.uuid4().hex[:6]}")
        return Call(f"/api/v1/alerts/{episode}")

    return Case(Read(farm), make, farm)


def silence_case(farm: str) -> Case:
    def make(w: World) -> Call:
        marker = uuid.uuid4().hex

        def made() -> list[Any]:
            return [s for s in w.service.silences.values() if s.comment == marker]

        body = {
            "matchers": [f'farm="{farm}"'], "duration": "1h", "created_by": "someone else",
            "comment": marker,
        }  # fmt: skip
        return Call(
            "/api/v1/silences",
            {"json": body},
            applied=lambda: bool(made()),
            recorded_by=lambda: made()[0].created_by if made() else None,
        )

    return Case(Write(farm, out_of_scope=403), make, farm)


def expire_case(farm: str) -> Case:
    def make(w: World) -> Call:
        from datetime import timedelta

        silence = w.service.add_silence([f'farm="{farm}"'], timedelta(hours=1), "setup")
        return Call(
            f"/api/v1/silences/{silence.id}",
            applied=lambda: w.service.silences[silence.id].ends_at < silence.ends_at,
        )

    return Case(Write(farm), make, farm)


def ack_link_case(method: str) -> Case:
    def make(w: World) -> Call:
        episode, code = w.fire("farm-b1", f"Link{uuid.uuid4().hex[:6]}")
        if method == "GET":
            return Call(f"/a/{code}")
        store = w.service.store
        return Call(
            f"/a/{code}",
            {"data": {"by": "Bình"}},
            applied=lambda: store.get(episode).state is AlertState.ACKNOWLEDGED,
        )

    return Case(Public(), make, method)


def sms_reply_case() -> Case:
    def make(w: World) -> Call:
        episode, code = w.fire("farm-b1", f"Sms{uuid.uuid4().hex[:6]}")
        store = w.service.store
        return Call(
            "/api/v1/alerts/replies",
            {"json": {"sender": "+84912345678", "text": f"ok {code}"}},
            applied=lambda: store.get(episode).acknowledged_by == "+84912345678",
        )

    return Case(Public(), make)


def feedback_case(farm: str) -> Case:
    """ "Was this useful?" through the API: like an acknowledgement (officers read only)."""

    def make(w: World) -> Call:
        episode, _ = w.fire(farm, f"Feedback{uuid.uuid4().hex[:6]}")
        store = w.service.store
        return Call(
            f"/api/v1/alerts/{episode}/feedback",
            {"json": {"answer": "false_alarm", "by": "someone else"}},
            applied=lambda: bool(store.feedback(episode)),
            recorded_by=lambda: store.feedback(episode)[0].who if store.feedback(episode) else None,
        )

    return Case(Write(farm), make, farm)


def link_feedback_case() -> Case:
    def make(w: World) -> Call:
        episode, code = w.fire("farm-b1", f"LinkFb{uuid.uuid4().hex[:6]}")
        store = w.service.store
        return Call(
            f"/a/{code}/feedback",
            {"data": {"answer": "useful", "by": "Bình"}},
            applied=lambda: bool(store.feedback(episode)),
        )

    return Case(Public(), make)


def report_feedback_case(method: str) -> Case:
    """The monthly report's form: public, by its signed id."""

    def make(w: World) -> Call:
        from urllib.parse import quote

        from farmwatch_alerting.feedback import report_ref

        store = w.service.store
        period = f"2026-{uuid.uuid4().int % 12 + 1:02d}-{uuid.uuid4().hex[:4]}"
        ref = quote(report_ref(store.signing_key(), "farm", "farm-b1", period), safe="~")
        if method == "GET":
            return Call(f"/feedback/report/{ref}")
        return Call(
            f"/feedback/report/{ref}",
            {"data": {"answer": "useful"}},
            applied=lambda: bool(store.report_feedback(f"farm:farm-b1:{period}")),
        )

    return Case(Public(), make, method)


COOPERATIVE_OF = {
    "farm-a1": "coop-x",
    "farm-a2": "coop-x",
    "farm-b1": "coop-y",
    "farm-b2": "coop-y",
}
REG = "/api/v1/registry"


def _farm_body(w: World, farm: str, **changes: Any) -> dict[str, Any]:
    found = w.registry_now().farm(farm)
    assert found is not None
    return {**found.model_dump(mode="json"), **changes}


def create_case(cooperative: str) -> Case:
    def make(w: World) -> Call:
        farm = f"new-{uuid.uuid4().hex[:8]}"
        body = {
            "id": farm, "name": f"Trại mới {farm}", "model": "orchard",
            "cooperative": cooperative, "district": "Thanh Hà",
        }  # fmt: skip
        return Call(
            f"{REG}/farms",
            {"json": body},
            applied=lambda: w.registry_now().farm(farm) is not None,
            recorded_by=lambda: w.audited_by(farm),
            undo=w.snapshot(),
        )

    return Case(Manage(cooperative), make, cooperative)


def replace_case(farm: str, cooperative: str | None = None, label: str = "") -> Case:
    """PUT ``farm`` back with a marker certification (and, given, another cooperative)."""
    moved_to = cooperative or COOPERATIVE_OF[farm]

    def make(w: World) -> Call:
        marker = f"VietGAP-{uuid.uuid4().hex[:6]}"
        body = _farm_body(w, farm, certifications=[marker], cooperative=moved_to)

        def applied() -> bool:
            now = w.registry_now().farm(farm)
            return now is not None and marker in now.certifications

        return Call(
            f"{REG}/farms/{farm}",
            {"json": body},
            applied=applied,
            recorded_by=lambda: w.audited_by(farm),
            undo=w.snapshot(),
        )

    return Case(Manage(moved_to, farm), make, label or farm)


def delete_case(farm: str) -> Case:
    def make(w: World) -> Call:
        return Call(
            f"{REG}/farms/{farm}",
            applied=lambda: w.registry_now().farm(farm) is None,
            recorded_by=lambda: w.audited_by(farm),
            undo=w.snapshot(),
        )

    return Case(Manage(COOPERATIVE_OF[farm], farm), make, farm)


IMPORT_HEADER = "mã trại,tên trại,mô hình,htx,huyện,chứng nhận,nút đo\n"


def import_case(farm: str | None, new_in: str = "coop-x") -> Case:
    """A CSV sheet adding a new farm of cooperative ``new_in`` (``farm`` None) or rewriting
    ``farm`` (named in the upload: 403 outside the scope, not 404)."""

    def make(w: World) -> Call:
        marker = f"VietGAP-{uuid.uuid4().hex[:6]}"
        if farm is None:
            target, coop = f"new-{uuid.uuid4().hex[:8]}", new_in
            row = f"{target},Trại nhập {target},orchard,{coop},Thanh Hà,{marker},{target}-n1\n"
        else:
            target, coop = farm, COOPERATIVE_OF[farm]
            current = w.registry_now().farm(farm)
            assert current is not None
            row = (
                f"{farm},{current.name},{current.model.value},{coop},{current.district},"
                f"{marker},{farm}-n1\n"
            )

        def applied() -> bool:
            now = w.registry_now().farm(target)
            return now is not None and marker in now.certifications

        sheet = (IMPORT_HEADER + row).encode()
        return Call(
            f"{REG}/import",
            {"files": {"farms": ("trai.csv", sheet, "text/csv")}},
            applied=applied,
            recorded_by=lambda: w.audited_by(target),
            undo=w.snapshot(),
        )

    if farm is None:
        return Case(Manage(new_in), make, f"new farm of {new_in}")
    return Case(Manage(COOPERATIVE_OF[farm], farm, out_of_scope=403), make, farm)


def shared_contact_case() -> Case:
    """A contact used by farms of both cooperatives is changed by an admin only."""

    def make(w: World) -> Call:
        phone = f"+8490{uuid.uuid4().int % 10**7:07d}"
        contacts = f"mã,họ tên,điện thoại\nhoa,Đỗ Văn Hòa,{phone}\n".encode()

        def applied() -> bool:
            return any(c.phone == phone for c in w.registry_now().contacts)

        return Call(
            f"{REG}/import",
            {
                "files": {
                    "farms": ("trai.csv", IMPORT_HEADER.encode(), "text/csv"),
                    "contacts": ("lien-he.csv", contacts, "text/csv"),
                }
            },
            applied=applied,
            undo=w.snapshot(),
        )

    return Case(AdminOnly(), make, "shared contact")


NODE = "/api/v1/farms/{farm}/nodes/{farm}-n1"
PARTNER = "/api/partner/v1"
SERIES = {"quantity": "air_temperature"}

MATRIX: dict[tuple[str, str], list[Case]] = {
    # Public: health, the API's own description, the page's static files, login.
    ("GET", "/healthz"): [Case(Public(), get("/healthz"))],
    ("GET", "/readyz"): [Case(Public(), get("/readyz"))],
    ("GET", "/openapi.json"): [Case(Public(), get("/openapi.json"))],
    ("GET", "/docs"): [Case(Public(), get("/docs"))],
    ("GET", "/docs/oauth2-redirect"): [Case(Public(), get("/docs/oauth2-redirect"))],
    ("GET", "/redoc"): [Case(Public(), get("/redoc"))],
    ("GET", "/assets/{name}"): [Case(Public(), get("/assets/app.js"))],
    ("GET", "/login"): [Case(Public(), get("/login"))],
    ("POST", "/login"): [
        Case(Public(401), lambda _w: Call("/login", {"data": {"token": "fwt_0000_guess"}}))
    ],
    ("POST", "/logout"): [Case(Public(303), lambda _w: Call("/logout"))],
    # Public by design: a lot's signed traceability record, for whoever holds the product
    # (farmwatch.trace.api); none is issued here, so the same 404 for everyone.
    ("GET", "/trace/public-key.pem"): [Case(Public(404), get("/trace/public-key.pem"))],
    ("GET", "/trace/{lot}.json"): [Case(Public(404), get("/trace/LOT-NONE.json"))],
    ("GET", "/trace/{lot}"): [Case(Public(404), get("/trace/LOT-NONE"))],
    # Public by capability: the code in the message (rate-limited, see test_api_ratelimit).
    ("GET", "/a/{code}"): [ack_link_case("GET")],
    ("POST", "/a/{code}"): [ack_link_case("POST")],
    ("POST", "/api/v1/alerts/replies"): [sms_reply_case()],
    ("POST", "/a/{code}/feedback"): [link_feedback_case()],
    ("GET", "/feedback/report/{ref}"): [report_feedback_case("GET")],
    ("POST", "/feedback/report/{ref}"): [report_feedback_case("POST")],
    # Any token, filtered to its farms.
    ("GET", "/"): [Case(Listing(farms=False), get("/"))],
    ("GET", "/plain"): [Case(Listing(), get("/plain"))],
    ("GET", "/api/v1/page/meta"): [Case(Listing(), get("/api/v1/page/meta"))],
    ("GET", "/api/v1/page/events"): [Case(Listing(), get("/api/v1/page/events"))],
    ("GET", "/api/v1/latest"): [
        Case(Listing(), get("/api/v1/latest")),
        *(Case(Read(f), get("/api/v1/latest", farm_id=f), f) for f in FARMS),
    ],
    ("GET", "/api/v1/nodes"): [
        Case(Listing(), get("/api/v1/nodes")),
        *(Case(Read(f), get("/api/v1/nodes", farm_id=f), f) for f in FARMS),
    ],
    ("GET", "/api/v1/dead-letters"): [Case(Listing(), get("/api/v1/dead-letters"))],
    ("GET", "/api/v1/alerts"): [
        Case(Listing(), get("/api/v1/alerts")),
        Case(Listing(), get("/api/v1/alerts", open="true"), "open"),
    ],
    ("GET", "/api/v1/silences"): [Case(Listing(), get("/api/v1/silences"))],
    # One farm's data.
    ("GET", "/api/v1/farms/{farm_id}/nodes/{node_id}/records"): [
        Case(Read(f), get(NODE.format(farm=f) + "/records"), f) for f in FARMS
    ],
    ("GET", "/api/v1/farms/{farm_id}/nodes/{node_id}/series"): [
        Case(Read(f), get(NODE.format(farm=f) + "/series", **SERIES), f) for f in FARMS
    ],
    ("GET", "/api/v1/alerts/{episode}"): [alert_detail_case(f) for f in FARMS],
    # Writes inside the scope; officers are read-only.
    ("POST", "/api/v1/alerts/{episode}/ack"): [ack_case(f) for f in FARMS],
    ("POST", "/api/v1/alerts/{episode}/feedback"): [feedback_case(f) for f in FARMS],
    ("POST", "/api/v1/silences"): [silence_case(f) for f in FARMS],
    ("DELETE", "/api/v1/silences/{silence_id}"): [expire_case(f) for f in FARMS],
    # The registry: read by scope (officers: no phone numbers or e-mail addresses), changed by
    # admin and by a cooperative for the farms of its own cooperative.
    ("GET", f"{REG}/cooperatives"): [Case(Listing(), get(f"{REG}/cooperatives"))],
    ("GET", f"{REG}/farms"): [Case(Listing(), get(f"{REG}/farms"))],
    ("GET", f"{REG}/contacts"): [Case(Listing(), get(f"{REG}/contacts"))],
    ("GET", f"{REG}/farms/{{farm_id}}"): [Case(Read(f), get(f"{REG}/farms/{f}"), f) for f in FARMS],
    ("GET", f"{REG}/farms/{{farm_id}}/nodes"): [
        Case(Read(f), get(f"{REG}/farms/{f}/nodes"), f) for f in FARMS
    ],
    ("POST", f"{REG}/farms"): [create_case("coop-x"), create_case("coop-y")],
    ("PUT", f"{REG}/farms/{{farm_id}}"): [
        *(replace_case(f) for f in FARMS),
        replace_case("farm-a1", "coop-y", "move out of coop-x"),
        replace_case("farm-b1", "coop-x", "take into coop-x"),
    ],
    ("DELETE", f"{REG}/farms/{{farm_id}}"): [delete_case(f) for f in FARMS],
    ("POST", f"{REG}/import"): [
        import_case(None, "coop-x"),
        import_case(None, "coop-y"),
        import_case("farm-a2"),
        import_case("farm-b2"),
        shared_contact_case(),
    ],
    # The partner API (open data, farmwatch.opendata.partner_api): any token, its own scope;
    # the only routes a partner key opens.
    ("GET", f"{PARTNER}/entities"): [
        Case(Listing(), get(f"{PARTNER}/entities")),
        Case(Listing(), get(f"{PARTNER}/entities", type="Device"), "Device"),
    ],
    ("GET", f"{PARTNER}/entities/{{entity_id}}"): [
        Case(Read(f), get(f"{PARTNER}/entities/urn:ngsi-ld:AgriFarm:hd:{f}"), f) for f in FARMS
    ],
    ("GET", f"{PARTNER}/entities/{{entity_id}}/observations"): [
        Case(Read(f), get(f"{PARTNER}/entities/urn:ngsi-ld:Device:hd:{f}:{f}-n1/observations"), f)
        for f in FARMS
    ],
    # The operator's views: every farm's counters and labels.
    ("GET", "/metrics"): [Case(AdminOnly(), get("/metrics"))],
    ("GET", "/api/v1/stats"): [Case(AdminOnly(), get("/api/v1/stats"))],
    # Feedback figures: operators (admin, cooperative, officer), filtered to their farms.
    ("GET", "/api/v1/feedback/summary"): [Case(Operators(), get("/api/v1/feedback/summary"))],
}


def app_routes(world: World) -> set[tuple[str, str]]:
    """(method, path) of every route, the included routers' too (FastAPI keeps those behind
    an inclusion object; ``iter_route_contexts`` walks them with their prefixes)."""
    found = set()
    for route in iter_route_contexts(world.app.routes):
        assert route.path is not None, f"a route without a path (a mount?): {route!r}"
        assert route.methods, f"a route without methods (a websocket?): {route.path}"
        for method in route.methods:
            if method != "HEAD":  # Starlette answers HEAD as GET
                found.add((method, route.path))
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, httpx.Client]]:
    with api_world(tmp_path_factory.mktemp("authz")) as w, served(w.app) as client:
        yield w, client


def test_the_matrix_covers_every_route(world: tuple[World, httpx.Client]) -> None:
    w, _ = world
    routes = app_routes(w)
    assert len(routes) >= 25
    assert sorted(routes - set(MATRIX)) == [], "routes without a matrix entry"
    assert sorted(set(MATRIX) - routes) == [], "matrix entries for routes that do not exist"


_MENTION = re.compile(r"farm-[ab][12]")


def mentioned(w: World, text: str) -> set[str]:
    """The farms a response names (by ID or by name), and "farmless" data."""
    found = set(_MENTION.findall(text))
    found |= {f.id for f in w.deployment.farms if f.name in text}
    if FARMLESS_TOPIC in text:
        found.add("farmless")
    return found


def private_details(role: str, text: str) -> list[str]:
    """The contacts whose phone number or e-mail address ``text`` shows though ``role`` may not
    see them: an officer none, others those of their farms only."""
    scope = SCOPES[role]
    return sorted(
        contact
        for contact, (phone, email, farms) in CONTACTS.items()
        if (role == "officer-th" or not farms & scope) and (phone in text or email in text)
    )


def send(client: httpx.Client, method: str, call: Call, headers: dict[str, str]) -> httpx.Response:
    if call.path.startswith("/api/v1/page/events"):
        # SSE: the first update, then hang up (the stream is endless by design).
        with client.stream("GET", call.path, headers=headers) as response:
            if response.status_code != 200:
                response.read()
                return response
            lines = []
            for line in response.iter_lines():
                lines.append(line)
                if line.startswith("data:"):
                    break
            return httpx.Response(200, text="\n".join(lines))
    return client.request(method, call.path, headers=headers, **call.kwargs)


def check(  # noqa: PLR0912 - one branch per rule, kept together
    w: World, role: str, method: str, case: Case, response: httpx.Response, call: Call
) -> str | None:
    """What is wrong with this response for this role, or None."""
    scope = SCOPES[role]
    grant = GRANTS.get(role)
    rule = case.rule
    status = response.status_code
    if isinstance(rule, Public):
        if status != rule.status:
            return f"expected {rule.status}"
        if call.applied is not None and not call.applied():
            return "the public write did not happen"
        return None
    if grant is None:
        return None if status == 401 else "expected 401 without a token"
    if grant.role is Role.PARTNER and not call.path.startswith(PARTNER_PREFIX):
        # A partner system's key opens the partner API and nothing else, reads included.
        if status != 403:
            return "expected 403 (a partner key opens /api/partner/ only)"
        if call.applied is not None and call.applied():
            return "denied, yet the write happened"
        return None
    denied: tuple[int, ...]
    if isinstance(rule, AdminOnly):
        allowed, denied = role == "admin", (403,)
    elif isinstance(rule, Operators):
        allowed, denied = grant.role is not Role.FARMER, (403,)
    elif isinstance(rule, Listing):
        allowed, denied = True, ()
    elif isinstance(rule, Manage):
        allowed = rule.writes(role)
        outside = rule.farm is not None and rule.farm not in scope
        denied = (rule.out_of_scope,) if outside else (403,)
    elif isinstance(rule, Read):
        allowed, denied = rule.farm in scope, (404,)
    else:
        in_scope = rule.farm in scope
        allowed = in_scope and role != "officer-th"
        denied = (403,) if in_scope else (rule.out_of_scope,)
    if not allowed:
        if status not in denied:
            return f"expected {denied}"
        if call.applied is not None and call.applied():
            return "denied, yet the write happened"
        return None
    if not 200 <= status < 300:
        return "expected 2xx"
    if role != "admin":
        leaked = mentioned(w, response.text) - scope
        if leaked:
            return f"leaks {sorted(leaked)}"
        exposed = private_details(role, response.text)
        if exposed:
            return f"shows the phone or e-mail of {exposed}"
    if isinstance(rule, Listing) and rule.farms:
        missing = scope - mentioned(w, response.text)
        if missing:
            return f"does not show {sorted(missing)}"
    if call.applied is not None and not call.applied():
        return "allowed, but the write did not happen"
    if call.recorded_by is not None and call.recorded_by() != grant.name:
        return f"recorded {call.recorded_by()!r}, not the token's name"
    return None


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_every_role(world: tuple[World, httpx.Client], role: str) -> None:
    w, client = world
    problems = []
    calls = 0
    for (method, template), cases in MATRIX.items():
        for case in cases:
            call = case.make(w)
            response = send(client, method, call, w.headers(role))
            calls += 1
            problem = check(w, role, method, case, response, call)
            if call.undo is not None:
                call.undo()
            if problem:
                where = (
                    f"{method} {template} [{case.label}]" if case.label else f"{method} {template}"
                )
                problems.append(f"{where}: HTTP {response.status_code}: {problem}")
    assert calls > 50
    assert problems == []


def test_officers_see_no_ack_codes_and_writers_do(world: tuple[World, httpx.Client]) -> None:
    """An ack code is a capability to acknowledge: a read-only officer must not get one."""
    w, client = world
    for role, expect_codes in (("officer-th", False), ("coop-x", True)):
        listed = client.get("/api/v1/alerts", headers=w.headers(role)).json()
        assert listed
        assert all((a["ack_code"] is not None) is expect_codes for a in listed), role


def test_cookie_login_for_the_page(world: tuple[World, httpx.Client]) -> None:
    """A phone logs in once; the cookie then works for reads and same-origin writes only."""
    w, client = world
    base = str(client.base_url)
    with httpx.Client(base_url=base, timeout=10) as phone:
        page = phone.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 401
        assert "<form" in page.text
        assert 'name="token"' in page.text or "name='token'" in page.text
        wrong = phone.post("/login", data={"token": "fwt_deadbeef_" + "x" * 43})
        assert wrong.status_code == 401
        assert "farmwatch_token" not in phone.cookies
        done = phone.post("/login", data={"token": w.tokens["farmer-a"]})
        assert done.status_code == 303
        assert done.headers["location"] == "/"
        cookie = done.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert phone.get("/").status_code == 200
        meta = phone.get("/api/v1/page/meta").json()
        assert [f["id"] for f in meta["farms"]] == ["farm-a1"]
        assert meta["auth"] == {
            "demo": False, "name": "Nông dân An", "role": "farmer", "read_only": False,
        }  # fmt: skip
        episode, _ = w.fire("farm-a1", "CookieAck")
        forged = phone.post(f"/api/v1/alerts/{episode}/ack", json={})  # no Origin: cross-site
        assert forged.status_code == 403
        assert w.service.store.get(episode).state is AlertState.FIRING
        same_site = phone.post(
            f"/api/v1/alerts/{episode}/ack", json={}, headers={"Origin": base.rstrip("/")}
        )
        assert same_site.status_code == 200
        assert w.service.store.get(episode).acknowledged_by == "Nông dân An"
        assert phone.post("/logout").status_code == 303
        assert "farmwatch_token" not in phone.cookies
        assert phone.get("/api/v1/latest").status_code == 401


def test_a_revoked_token_is_refused_at_once(tmp_path: Path) -> None:
    """Revocation through the token file takes effect without a restart, and ends the page's
    event stream."""
    from farmwatch_core.api_tokens import TokenStore

    from farmwatch.components import tokens_path

    with api_world(tmp_path) as w, served(w.app) as client:
        headers = w.headers("farmer-a")
        assert client.get("/api/v1/latest", headers=headers).status_code == 200
        with client.stream("GET", "/api/v1/page/events", headers=headers) as stream:
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith("data:"))
            store = TokenStore(tokens_path(w.settings))
            store.revoke(GRANTS["farmer-a"].name)
            store.close()
            assert next(line for line in lines if line.startswith("event:")) == "event: logout"
        assert client.get("/api/v1/latest", headers=headers).status_code == 401
        assert client.get("/api/v1/latest", headers=w.headers("coop-x")).status_code == 200
