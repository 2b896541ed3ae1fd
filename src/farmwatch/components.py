"""Builds the running pieces of farmwatch from settings, explicitly and in one place.

``farmwatch up`` and the single-service commands (``farmwatch ingest``, ``farmwatch api``) call
these builders, so a service started alone is configured exactly as inside ``up``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from farmwatch_core.api_tokens import TOKENS_FILE, TokenStore
from farmwatch_core.contract import TimeWindow
from farmwatch_core.production import check_production
from farmwatch_core.registry import Deployment, load_registry
from farmwatch_core.settings import FarmwatchSettings
from farmwatch_dashboards.page import OpenAlerts, page_router
from farmwatch_ingest.api import create_app
from farmwatch_ingest.auth import ApiGuard, is_loopback, startup_check
from farmwatch_ingest.deadletter import DeadLetterStore
from farmwatch_ingest.ratelimit import RateLimiter
from farmwatch_ingest.service import IngestService
from farmwatch_ingest.spool import Spool
from farmwatch_ingest.stores import open_store
from farmwatch_ingest.stores.base import Store
from farmwatch_ingest.validation import TelemetryValidator
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr

from farmwatch.opendata.partner_api import PARTNER_BURST, PARTNER_PER_MINUTE, partner_router
from farmwatch.registry_api import AUDIT_FILE, grants_of, registry_router
from farmwatch.registry_store import RegistryFile
from farmwatch.trace.api import trace_router

if TYPE_CHECKING:
    from farmwatch_alerting.channels.config import ChannelsConfig
    from farmwatch_alerting.service import AlertingService

log = logging.getLogger(__name__)


def load_deployment(settings: FarmwatchSettings) -> Deployment | None:
    """The registry, or None when there is no file and auto-registration is on."""
    path = settings.registry_path
    if not path.exists() and settings.ingest.auto_register:
        log.warning("no registry file at %s; accepting every node (auto-register)", path)
        return None
    return load_registry(path)


def build_ingest(
    settings: FarmwatchSettings, deployment: Deployment | None, *, spool_path: Path | None = None
) -> IngestService:
    """The ingest service; ``spool_path`` overrides the spool file (one per worker process)."""
    window = TimeWindow(
        max_future=timedelta(seconds=settings.ingest.max_future_s),
        max_past=timedelta(days=settings.ingest.max_past_days),
    )
    validator = TelemetryValidator(
        deployment,
        topic_prefix=settings.mqtt.topic_prefix,
        window=window,
        max_bytes=settings.ingest.max_message_bytes,
        auto_register=settings.ingest.auto_register,
    )
    return IngestService(
        settings.mqtt,
        settings.ingest,
        open_store(settings),
        DeadLetterStore(settings.dead_letter_file),
        validator,
        Spool(spool_path or settings.spool_file, int(settings.ingest.spool_max_mb * 1_000_000)),
    )


def tokens_path(settings: FarmwatchSettings) -> Path:
    """Where the API tokens are (``farmwatch tokens`` and every API process read the same)."""
    return settings.api.tokens_file or settings.data_dir / TOKENS_FILE


def build_guard(settings: FarmwatchSettings, deployment: Deployment | None) -> ApiGuard:
    """The API's access control: checks ``api.auth`` against the address and the tokens first.

    Raises RuntimeError when the API would serve without tokens beyond this machine.
    """
    tokens = TokenStore(tokens_path(settings))
    api = settings.api
    try:
        warning = startup_check(api.auth, api.host, tokens.has_active())
    except RuntimeError:
        tokens.close()
        raise
    if warning:
        log.warning("%s", warning)
    return ApiGuard(
        tokens,
        deployment,
        mode=api.auth,
        loopback=is_loopback(api.host),
        public=RateLimiter(api.public_per_minute, api.public_burst),
        failures=RateLimiter(api.auth_failures_per_minute, api.auth_failure_burst),
        login_days=api.login_days,
    )


def build_app(
    settings: FarmwatchSettings,
    store: Store,
    deployment: Deployment | None,
    ingest: IngestService | None,
    dead_letters: DeadLetterStore | None,
    *,
    routers: Sequence[APIRouter] = (),
    open_alerts: OpenAlerts | None = None,
) -> FastAPI:
    """The farmwatch HTTP app exactly as served: the API, the page at ``/``, ``routers``,
    and the access guard (``app.state.guard``; close its ``tokens`` when done)."""
    guard = build_guard(settings, deployment)
    page = page_router(deployment, store.latest, open_alerts)
    registry = registry_router(
        RegistryFile(settings.registry_path), grants_of(guard.tokens),
        audit=settings.data_dir / AUDIT_FILE,
    )  # fmt: skip
    trace = trace_router(settings.data_dir / "trace", rate_limit="trace")  # public lot records
    partner = partner_router(deployment, store, RateLimiter(PARTNER_PER_MINUTE, PARTNER_BURST))
    routers = [trace, registry, partner, *routers]
    return create_app(store, dead_letters, deployment, ingest, [page, *routers], guard=guard)


@dataclass
class ApiServer:
    """uvicorn in a background thread, stoppable."""

    server: uvicorn.Server
    thread: threading.Thread
    store: Store
    tokens: TokenStore | None = None

    @property
    def port(self) -> int:
        """The bound port (differs from the configured one when that was 0)."""
        for server in self.server.servers:
            for sock in server.sockets:
                port: int = sock.getsockname()[1]
                return port
        return self.server.config.port

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.store.close()
        if self.tokens is not None:
            self.tokens.close()


def start_api(
    settings: FarmwatchSettings,
    deployment: Deployment | None,
    ingest: IngestService | None,
    dead_letters: DeadLetterStore | None,
    *,
    port: int | None = None,
    routers: Sequence[APIRouter] = (),
    open_alerts: OpenAlerts | None = None,
) -> ApiServer:
    """The farmwatch HTTP app: the API, the built-in page at ``/``, and ``routers``.

    Raises RuntimeError when it cannot listen, or would serve without tokens beyond loopback.
    """
    store = open_store(settings)
    try:
        app = build_app(
            settings, store, deployment, ingest, dead_letters,
            routers=routers, open_alerts=open_alerts,
        )  # fmt: skip
    except RuntimeError:
        store.close()
        raise
    tokens: TokenStore = app.state.guard.tokens
    config = uvicorn.Config(
        app,
        host=settings.api.host,
        port=settings.api.port if port is None else port,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            store.close()
            tokens.close()
            raise RuntimeError(
                f"the HTTP API could not listen on {settings.api.host}:{config.port}; "
                "is the port taken? choose another with --api-port"
            )
        time.sleep(0.05)
    return ApiServer(server, thread, store, tokens)


def build_alerting(
    settings: FarmwatchSettings, deployment: Deployment, *, api_port: int | None = None
) -> AlertingService:
    """The alerting service as ``farmwatch up`` and ``farmwatch alerting run`` start it.

    Raises AlertingConfigError (every problem with its place) for an invalid alerting.yaml, and
    ProductionConfigError in production when a secret it would use is missing or a default.
    """
    from farmwatch_alerting.config import default_config, load_alerting_config
    from farmwatch_alerting.service import AlertingService

    path = settings.alerting.config
    config = (
        load_alerting_config(path, settings.mqtt) if path is not None
        else default_config(settings.mqtt)
    )  # fmt: skip
    # Before the service opens its stores: in production, refuse default channel secrets too.
    check_production(settings, "alerting", extra=channel_secrets(config.channels))
    port = settings.api.port if api_port is None else api_port
    public = settings.alerting.public_url or f"http://{settings.api.host}:{port}"
    return AlertingService(
        config,
        deployment,
        settings.mqtt,
        settings.alerting_dir,
        client_id=f"{settings.ingest.client_id}-alerting",
        public_url=public,
        tick_s=settings.alerting.tick_s,
    )


def channel_secrets(channels: ChannelsConfig) -> dict[str, SecretStr | None]:
    """Every alerting channel's secret settings by name (``alerting channel zalo
    access_token``), for the production check: a webhook left on an example token is refused."""
    found: dict[str, SecretStr | None] = {}
    for channel in channels.channels:
        for field, value in channel:
            if isinstance(value, SecretStr):
                found[f"alerting channel {channel.name} {field}"] = value
    return found


def open_alerts_of(service: AlertingService) -> OpenAlerts:
    """The page's view of the alerting service: firing and acknowledged alerts, newest first."""

    def alerts() -> list[dict[str, Any]]:
        found = sorted(service.store.open_alerts().items(), reverse=True)
        return [{"id": i, **a.as_json()} for i, a in found if a.active]

    return alerts
