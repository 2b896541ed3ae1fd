"""Two tenants' farms with real data behind the assembled HTTP app, for the access tests.

Cooperative X (farm-a1, a model farm, and farm-a2, both in Thanh Hà) and cooperative Y
(farm-b1, a model farm in Kinh Môn, and farm-b2, a model farm in Thanh Hà), each with readings
in the real SQLite store, dead letters, alerts in the real alert store and silences in the
real alerting service; plus one dead letter not tied to any farm. Each farm has a contact with a
phone number and an e-mail address, and one contact ("hoa") is shared by a farm of each
cooperative. The registry is also written to the settings' registry file, which the registry
routes read and change. The app is built by ``farmwatch.components.build_app``, exactly as
``farmwatch up`` serves it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from farmwatch_alerting.alert import Alert, Severity
from farmwatch_alerting.api import alerting_router
from farmwatch_alerting.config import default_config
from farmwatch_alerting.service import AlertingService
from farmwatch_core.access import Grant, Role
from farmwatch_core.api_tokens import TokenStore
from farmwatch_core.contract import Record
from farmwatch_core.contract.rejections import Reason, Rejection
from farmwatch_core.mqtt_settings import MqttSettings
from farmwatch_core.registry import Deployment, load_registry, parse_registry
from farmwatch_core.settings import ApiSettings, FarmwatchSettings
from farmwatch_ingest.auth import ApiGuard
from farmwatch_ingest.deadletter import DeadLetter, DeadLetterStore
from farmwatch_ingest.stores import open_store
from farmwatch_ingest.stores.base import NodeRecord, Store
from fastapi import FastAPI

from farmwatch.components import build_app, open_alerts_of, tokens_path
from farmwatch.registry_api import AUDIT_FILE

REGISTRY = """
cooperatives:
  - {id: coop-x, name: HTX Thanh Hà X, district: Thanh Hà}
  - {id: coop-y, name: HTX Kinh Môn Y, district: Kinh Môn}
farms:
  - {id: farm-a1, name: Ao ông An, model: aquaculture_pond, cooperative: coop-x,
     district: Thanh Hà, model_farm: true, contacts: [an], nodes: [{id: farm-a1-n1}]}
  - {id: farm-a2, name: Vườn bà Ba, model: orchard, cooperative: coop-x,
     district: Thanh Hà, contacts: [ba, hoa], nodes: [{id: farm-a2-n1}]}
  - {id: farm-b1, name: Chuồng ông Bình, model: pig_barn, cooperative: coop-y,
     district: Kinh Môn, model_farm: true, contacts: [binh], nodes: [{id: farm-b1-n1}]}
  - {id: farm-b2, name: Nhà màng chị Bích, model: greenhouse, cooperative: coop-y,
     district: Thanh Hà, model_farm: true, contacts: [bich, hoa], nodes: [{id: farm-b2-n1}]}
contacts:
  - {id: an, name: Nguyễn Văn An, phone: "+84911000001", email: an@example.vn}
  - {id: ba, name: Trần Thị Ba, phone: "+84911000002", email: ba@example.vn}
  - {id: binh, name: Lê Văn Bình, phone: "+84911000003", email: binh@example.vn}
  - {id: bich, name: Phạm Thị Bích, phone: "+84911000004", email: bich@example.vn}
  - {id: hoa, name: Đỗ Văn Hòa, phone: "+84911000005", email: hoa@example.vn}
"""
FARMS = ("farm-a1", "farm-a2", "farm-b1", "farm-b2")
FARMLESS_TOPIC = "garbage/unparsed-topic"  # a dead letter no farm owns: admin only

# Who holds which token, and the farms the role must see (the specification, written out
# rather than derived from the code under test).
GRANTS = {
    "farmer-a": Grant("Nông dân An", Role.FARMER, farms=("farm-a1",)),
    "coop-x": Grant("HTX X", Role.COOPERATIVE, cooperative="coop-x"),
    "officer-th": Grant("Cán bộ khuyến nông Thanh Hà", Role.OFFICER, districts=("Thanh Hà",)),
    "admin": Grant("quản trị", Role.ADMIN),
    # A provincial platform's key: the open data of Thanh Hà's model farms, on the partner
    # API only (403 on every other route: see test_api_authz.check).
    "partner-th": Grant("Sở NN&PTNT Hải Dương", Role.PARTNER, districts=("Thanh Hà",)),
}
SCOPES: dict[str, frozenset[str]] = {
    "anonymous": frozenset(),
    "farmer-a": frozenset({"farm-a1"}),
    "coop-x": frozenset({"farm-a1", "farm-a2"}),
    "officer-th": frozenset({"farm-a1", "farm-b2"}),
    "admin": frozenset(FARMS),
    "partner-th": frozenset({"farm-a1", "farm-b2"}),
}
# Each contact's private details, and the farms whose people may see them (an officer never).
CONTACTS: dict[str, tuple[str, str, frozenset[str]]] = {
    "an": ("+84911000001", "an@example.vn", frozenset({"farm-a1"})),
    "ba": ("+84911000002", "ba@example.vn", frozenset({"farm-a2"})),
    "binh": ("+84911000003", "binh@example.vn", frozenset({"farm-b1"})),
    "bich": ("+84911000004", "bich@example.vn", frozenset({"farm-b2"})),
    "hoa": ("+84911000005", "hoa@example.vn", frozenset({"farm-a2", "farm-b2"})),
}
GENEROUS = ApiSettings(
    public_per_minute=1e6, public_burst=100_000, auth_failures_per_minute=1e6,
    auth_failure_burst=100_000,
)  # fmt: skip


@dataclass
class World:
    app: FastAPI
    settings: FarmwatchSettings
    deployment: Deployment
    store: Store
    dead_letters: DeadLetterStore
    service: AlertingService
    tokens: dict[str, str] = field(default_factory=dict)  # role key → token text
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def fire(self, farm: str, name: str = "DissolvedOxygenLow") -> tuple[int, str]:
        """A new firing alert of ``farm``: its episode id and ack code."""
        farm_name = self.deployment.farm(farm).name  # type: ignore[union-attr]
        alert = Alert.new(
            {"alertname": name, "farm": farm, "node": f"{farm}-n1"},
            Severity.CRITICAL, self.now, {"farm_name": farm_name, "value": "1.9"},
        ).fire(self.now)  # fmt: skip
        episode = self.service.store.save(alert)
        return episode, self.service.store.ack_code(episode)

    def headers(self, role: str) -> dict[str, str]:
        token = self.tokens.get(role)
        return {"Authorization": f"Bearer {token}"} if token else {}

    @property
    def registry_file(self) -> Path:
        return self.settings.registry_path

    def registry_now(self) -> Deployment:
        """The registry file as it is now (what the registry routes read and write)."""
        return load_registry(self.registry_file)

    def snapshot(self) -> Callable[[], None]:
        """A function that puts the registry file back as it is now (by a rename, as the API
        writes it, so its cache sees the change)."""
        saved = self.registry_file.read_bytes()

        def restore() -> None:
            tmp = self.registry_file.with_name("restore.tmp")
            tmp.write_bytes(saved)
            tmp.replace(self.registry_file)

        return restore

    def audited_by(self, farm: str) -> str | None:
        """Who the newest registry audit line naming ``farm`` says changed it."""
        path = self.settings.data_dir / AUDIT_FILE
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        found = [json.loads(line) for line in lines]
        return next((e["by"] for e in reversed(found) if farm in e["farms"]), None)


def seed(world: World) -> None:
    """Readings, dead letters, alerts and silences of every farm."""
    ts = world.now - timedelta(minutes=10)
    world.store.write(
        [
            NodeRecord(farm, f"{farm}-n1", Record(ts, 1, True, {"air_temperature": 30.5}))
            for farm in FARMS
        ]
    )
    schema = (Rejection(Reason.SCHEMA, "bad"),)
    letters = [
        DeadLetter(ts, f"farms/{farm}/nodes/{farm}-n1/telemetry", b"{}", schema, farm, f"{farm}-n1")
        for farm in FARMS
    ]
    world.dead_letters.add([*letters, DeadLetter(ts, FARMLESS_TOPIC, b"?", schema)])
    for farm in FARMS:
        world.fire(farm)
        world.service.add_silence([f'farm="{farm}"'], timedelta(hours=2), "setup")


def token_guard(
    path: Path, grants: dict[str, Grant], deployment: Deployment | None = None
) -> tuple[ApiGuard, dict[str, str]]:
    """A guard requiring tokens, with one issued per grant (key → token text), for tests that
    mount a single router on a bare FastAPI app (``app.state.guard = guard``)."""
    store = TokenStore(path)
    tokens = {key: store.issue(grant)[1] for key, grant in grants.items()}
    return ApiGuard(store, deployment, mode="required"), tokens


@contextmanager
def api_world(
    data: Path, api: ApiSettings = GENEROUS, grants: dict[str, Grant] | None = None
) -> Iterator[World]:
    """The world with tokens for ``grants`` (default: every role of :data:`GRANTS`)."""
    settings = FarmwatchSettings(data_dir=data, api=api)
    deployment = parse_registry(REGISTRY)
    settings.registry_path.parent.mkdir(parents=True, exist_ok=True)
    settings.registry_path.write_text(REGISTRY, encoding="utf-8")
    tokens: dict[str, str] = {}
    issuer = TokenStore(tokens_path(settings))
    for role, grant in (GRANTS if grants is None else grants).items():
        tokens[role] = issuer.issue(grant)[1]
    issuer.close()
    mqtt = MqttSettings(url="mqtt://127.0.0.1:1")  # never started: only its logic is used
    service = AlertingService(default_config(mqtt), deployment, mqtt, data / "alerting")
    store = open_store(settings)
    dead_letters = DeadLetterStore(settings.dead_letter_file)
    app = build_app(
        settings, store, deployment, None, dead_letters,
        routers=[alerting_router(service.store, service.acknowledge, silencing=service)],
        open_alerts=open_alerts_of(service),
    )  # fmt: skip
    world = World(app, settings, deployment, store, dead_letters, service, tokens)
    seed(world)
    try:
        yield world
    finally:
        guard: Any = app.state.guard
        guard.tokens.close()
        service.stop()
        store.close()
        dead_letters.close()
