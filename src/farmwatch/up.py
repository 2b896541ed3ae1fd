"""``farmwatch up``: the whole pipeline in one command, on embedded defaults.

Broker (managed mosquitto, else in-process amqtt) → ingest → SQLite (or InfluxDB) → HTTP API and
page, fed by simulated farms, with analytics (fault detection, indicators, alert candidates) on
the same telemetry. Every piece is the production code path; only the farms are fake.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from farmwatch_alerting.api import alerting_router
from farmwatch_alerting.service import AlertingService
from farmwatch_analytics.service import AnalyticsService
from farmwatch_core.mqtt_url import display_url
from farmwatch_core.registry import Deployment, load_registry
from farmwatch_core.settings import FarmwatchSettings
from farmwatch_edge.sequence import SequenceStore
from farmwatch_simulators.runner import SimulatorRunner
from farmwatch_simulators.scenario import build_deployment

from farmwatch.broker import (
    Broker,
    InProcessBroker,
    MosquittoProcess,
    free_port,
    port_is_open,
    speaks_mqtt,
)
from farmwatch.components import (
    ApiServer,
    build_alerting,
    build_ingest,
    open_alerts_of,
    start_api,
)

log = logging.getLogger(__name__)

BrokerChoice = Literal["auto", "mosquitto", "inprocess"]


@dataclass(frozen=True)
class UpOptions:
    farms: int = 3
    seed: int = 1
    interval_s: float = 5.0
    sim_count: int | None = None
    broker: BrokerChoice = "auto"
    mqtt_port: int = 1883
    use_running_broker: bool = False
    external_mqtt: bool = False
    api_port: int = 8080
    simulate: bool = True


def _command() -> str:
    """How the user started us (e.g. ``.venv/bin/farmwatch`` from ``make run``), so the hint
    they are given works as typed."""
    started = Path(sys.argv[0])
    return str(started) if started.name == "farmwatch" else "farmwatch"


class Pipeline:
    """Starts and stops the pieces in dependency order; owns nothing global."""

    def __init__(
        self, settings: FarmwatchSettings, options: UpOptions, say: Callable[[str], None] = print
    ) -> None:
        self.settings = settings
        self.options = options
        self.say = say
        self.broker: Broker | None = None
        self.api: ApiServer | None = None
        self.simulator: SimulatorRunner | None = None
        self.analytics: AnalyticsService | None = None
        self.alerting: AlertingService | None = None
        self._threads: list[threading.Thread] = []
        self._stop_sim = threading.Event()

    def start(self) -> None:
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        if not self.options.external_mqtt:
            self._start_broker(data_dir)
        deployment = self._deployment()
        self.ingest = build_ingest(self.settings, deployment)
        self._spawn(self.ingest.run, "ingest")
        if not self.ingest.wait_ready(20):
            raise RuntimeError(
                "ingest could not connect to the MQTT broker at "
                f"{display_url(self.settings.mqtt.url)}; "
                "check that it is running and the URL is right"
            )
        self.analytics = AnalyticsService(
            self.settings.mqtt,
            deployment,
            data_dir / "analytics-state.pickle",
            client_id=f"{self.settings.ingest.client_id}-analytics",
        )
        self.analytics.start()
        if not self.analytics.wait_ready(10):  # else the first simulated records go unanalysed
            log.warning("analytics is not subscribed yet; records before it will be stored only")
        self.alerting = build_alerting(self.settings, deployment, api_port=self.options.api_port)
        self.alerting.start()
        self.api = self._start_api(deployment)
        if self.settings.alerting.public_url is None:  # the port may have moved
            self.alerting.public_url = f"http://{self.settings.api.host}:{self.api.port}"
        if self.options.simulate:
            self.simulator = SimulatorRunner(
                self.settings.mqtt,
                deployment,
                interval_s=self.options.interval_s,
                count=self.options.sim_count,
                seq_store=SequenceStore(data_dir / "simulator-seq.json"),
                stop=self._stop_sim,
                seed=self.options.seed,
            )
            self._spawn(self.simulator.run, "simulator")
        self._summary(deployment)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_broker(self, data_dir: Path) -> None:
        host, port = "127.0.0.1", self.options.mqtt_port
        if port_is_open(host, port):
            if speaks_mqtt(host, port):
                what = "another MQTT broker"
                if self.options.use_running_broker:
                    self.settings.mqtt.url = f"mqtt://{host}:{port}"
                    self.say(
                        f"Port {port} is taken by {what}; using it as asked (--use-running-broker)."
                    )
                    return
            else:
                what = "another program (not an MQTT broker)"
            port = free_port(host)
            self.say(
                f"Port {self.options.mqtt_port} is taken by {what}; "
                f"starting farmwatch's own broker on port {port} instead"
                + (
                    " (add --use-running-broker to use that one)."
                    if what.endswith("broker")
                    else "."
                )
            )
        binary = MosquittoProcess.available()
        if self.options.broker == "mosquitto" or (self.options.broker == "auto" and binary):
            self.broker = MosquittoProcess(data_dir / "mosquitto", port)
        else:
            if self.options.broker == "auto":
                self.say(
                    "mosquitto is not installed; using the in-process broker "
                    "(install it with `apt install mosquitto` for production-grade MQTT)."
                )
            self.broker = InProcessBroker(port)
        self.broker.start()
        self.settings.mqtt.url = self.broker.url

    def _deployment(self) -> Deployment:
        path = self.settings.registry_path
        if self.settings.registry is not None:
            return load_registry(path)
        deployment = build_deployment(self.options.farms, seed=self.options.seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(deployment.to_yaml(), encoding="utf-8")
        return deployment

    def _start_api(self, deployment: Deployment) -> ApiServer:
        port = self.options.api_port
        if port and port_is_open(self.settings.api.host, port):
            new_port = free_port(self.settings.api.host)
            self.say(f"Port {port} is taken; serving the dashboard on port {new_port} instead.")
            port = new_port
        routers = []
        if self.alerting is not None:
            routers.append(
                alerting_router(
                    self.alerting.store, self.alerting.acknowledge, silencing=self.alerting
                )
            )
        return start_api(
            self.settings, deployment, self.ingest, self.ingest.dead_letters, port=port,
            routers=routers,
            open_alerts=open_alerts_of(self.alerting) if self.alerting is not None else None,
        )  # fmt: skip

    def _summary(self, deployment: Deployment) -> None:
        store = (
            f"InfluxDB {self.settings.influx.url} database {self.settings.influx.database!r}"
            if self.settings.influx.url
            else f"SQLite {self.settings.sqlite_file}"
        )
        nodes = sum(len(f.nodes) for f in deployment.farms)
        broker = type(self.broker).__name__ if self.broker else "external broker"
        api = f"http://{self.settings.api.host}:{self.api.port}" if self.api else "-"
        self.say(
            "\nfarmwatch is running\n"
            f"  MQTT broker : {display_url(self.settings.mqtt.url)} ({broker})\n"
            f"  farms       : {len(deployment.farms)} farms, {nodes} nodes "
            f"(registry {self.settings.registry_path})\n"
            f"  readings go : {store}\n"
            f"  dashboard   : {api}/   API docs: {api}/docs\n"
            f"  API access  : {self._access_line()}\n"
            f"  dead letters: {self.settings.dead_letter_file}\n"
            f"  alerts      : {self._alerts_line()}\n"
            f"  latest      : {_command()} query"
            + (
                f" --data-dir {self.settings.data_dir}"
                if self.settings.data_dir != Path("var")
                else ""
            )
            + "\n"
            "Stop with Ctrl-C.\n"
        )

    def _access_line(self) -> str:
        """Whether the API asks for tokens (docs/api.md), so the demo's openness is plain."""
        tokens = self.api.tokens if self.api else None
        if self.settings.api.auth == "off":
            return "no tokens (api.auth = 'off'), open on this machine only"
        if tokens is not None and tokens.has_active():
            return "tokens required (farmwatch tokens list; docs/api.md)"
        where = (
            f" --data-dir {self.settings.data_dir}" if self.settings.data_dir != Path("var") else ""
        )
        return (
            "demo mode, open on this machine only; "
            f"`{_command()} tokens add --role admin --name <who>{where}` requires tokens"
        )

    def _alerts_line(self) -> str:
        path = self.settings.alerting.config
        if path is None:
            return (
                f"on MQTT {self.settings.mqtt.topic_prefix or ''}farms/<farm>/alerts and "
                "/api/v1/alerts (add phones, Zalo, SMS in an alerting.yaml: docs/alerting.md)"
            )
        return f"routed by {path}"

    def progress_line(self, *, broker: bool = True) -> str:
        stats = self.ingest.stats
        sim = f"published {self.simulator.acknowledged}, " if self.simulator is not None else ""
        state = f", broker {'up' if stats.connected else 'DOWN'}" if broker else ""
        analytics = ""
        if self.analytics is not None:
            counts = self.analytics.counts
            analytics = (
                f", analysed {counts['records']} ({stats.derived_values} derived values stored, "
                f"alerts raised {counts['candidates_firing']}, "
                f"cleared {counts['candidates_resolved']})"
            )
        if self.alerting is not None:
            alerting = self.alerting.counts
            analytics += f", notifications {alerting['notices']}"
        return (
            f"{sim}stored {stats.records} records ({stats.readings} readings), "
            f"dead letters {stats.dead_letters}{analytics}{state}"
        )

    def run_until(self, stop: threading.Event, progress_every_s: float = 10.0) -> None:
        next_progress = time.monotonic() + progress_every_s
        while not stop.wait(0.5):
            if time.monotonic() >= next_progress:
                self.say(self.progress_line())
                next_progress += progress_every_s

    def stop(self) -> None:
        self._stop_sim.set()
        if self.simulator is not None:
            for thread in self._threads:
                if thread.name == "simulator":
                    thread.join(15)
        if self.analytics is not None:
            self.analytics.stop()
        if hasattr(self, "ingest"):
            self.ingest.stop()
        for thread in self._threads:
            thread.join(15)
        if hasattr(self, "ingest"):
            self.ingest.store.close()
            self.ingest.dead_letters.close()
        if self.api is not None:
            self.api.stop()
        if self.alerting is not None:  # after the API, whose ack routes use its store
            self.alerting.stop()
        if self.broker is not None:
            self.broker.stop()
        totals = self.progress_line(broker=False) if hasattr(self, "ingest") else ""
        self.say("farmwatch stopped. " + totals)
