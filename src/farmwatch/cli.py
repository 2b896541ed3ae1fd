"""The ``farmwatch`` command: one entry point for every service and tool.

Each sub-command builds its settings once (options > environment > config file > defaults),
starts what it needs, and stops cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from farmwatch_core.mqtt_url import display_url
from farmwatch_core.production import Needs, check_production, secret_file_problems
from farmwatch_core.registry import Deployment, RegistryError, load_registry
from farmwatch_core.settings import FarmwatchSettings, load_settings

from farmwatch.registry_cli import add_registry_commands
from farmwatch.trace.cli import add_trace_commands

log = logging.getLogger("farmwatch")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML config file (or FARMWATCH_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="where local state lives (default ./var)")
    parser.add_argument("--registry", type=Path, help="deployment registry YAML")
    parser.add_argument("--mqtt-url", help="use this broker, e.g. mqtt://host:1883")
    parser.add_argument("--topic-prefix", help="topic prefix shared by this deployment")
    parser.add_argument(
        "--influx-url", help="store in InfluxDB at this URL (v1 API) instead of SQLite"
    )
    parser.add_argument("--influx-db", help="InfluxDB database (default farmwatch)")
    parser.add_argument(
        "--influx-token", help="InfluxDB 2.x/3.x token (better: FARMWATCH_INFLUX__TOKEN)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _settings(args: argparse.Namespace, **extra: Any) -> FarmwatchSettings:
    mqtt = {k: v for k, v in {"url": args.mqtt_url, "topic_prefix": args.topic_prefix}.items() if v}
    influx = {
        k: v
        for k, v in {
            "url": args.influx_url,
            "database": args.influx_db,
            "token": args.influx_token,
        }.items()
        if v
    }
    overrides: dict[str, Any] = {"data_dir": args.data_dir, "registry": args.registry, **extra}
    if mqtt:
        overrides["mqtt"] = mqtt
    if influx:
        overrides["influx"] = influx
    return load_settings(args.config, **overrides)


def _stop_event() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def cmd_up(args: argparse.Namespace) -> int:
    from farmwatch.up import Pipeline, UpOptions

    settings = _settings(args)
    check_production(settings, "farmwatch up")
    options = UpOptions(
        farms=args.farms,
        seed=args.seed,
        interval_s=args.interval,
        sim_count=args.sim_count,
        broker=args.broker,
        mqtt_port=args.mqtt_port,
        use_running_broker=args.use_running_broker,
        external_mqtt=args.mqtt_url is not None,
        api_port=args.api_port,
        simulate=not args.no_simulator,
    )
    stop = _stop_event()
    pipeline = Pipeline(settings, options, say=lambda line: print(line, flush=True))
    try:
        pipeline.start()
        pipeline.run_until(stop)
    finally:
        pipeline.stop()
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from farmwatch.components import build_ingest, load_deployment, start_api

    extra: dict[str, Any] = {"ingest": {}}
    if args.auto_register:
        extra["ingest"]["auto_register"] = True
    if args.client_id:
        extra["ingest"]["client_id"] = args.client_id
    if args.shared_group:
        extra["ingest"]["shared_group"] = args.shared_group
    if args.workers is not None:
        extra["ingest"]["workers"] = args.workers
    settings = _settings(args, **extra)
    check_production(settings, "ingest")
    deployment = load_deployment(settings)
    if args.worker_index is None and settings.ingest.workers > 1:
        del deployment  # checked (fail fast on a bad registry); the workers load their own
        return _supervise_ingest(args, settings)
    spool = None
    if args.worker_index is not None:  # one spool per worker: each replays its own, in order
        spool = settings.spool_file.with_name(f"spool-w{args.worker_index}.db")
    service = build_ingest(settings, deployment, spool_path=spool)
    # Start-up leaves ~85,000 long-lived objects (registry, FastAPI, caches) that every full
    # garbage collection would scan again: 37-48 ms of CPU each, measured, a pause in the
    # middle of the message flow. Nothing of start-up becomes garbage later, so freeze it.
    gc.freeze()
    api = None
    if args.api_port is not None:
        api = start_api(settings, deployment, service, service.dead_letters, port=args.api_port)
        print(f"API on http://{settings.api.host}:{api.port}/", flush=True)
    stop = _stop_event()

    def stop_when_signalled() -> None:
        stop.wait()
        service.stop()

    threading.Thread(target=stop_when_signalled, daemon=True).start()
    print(
        f"ingest: {display_url(settings.mqtt.url)} -> "
        f"{display_url(settings.influx.url) if settings.influx.url else settings.sqlite_file}",
        flush=True,
    )
    try:
        service.run()
    finally:
        if api is not None:
            api.stop()
        service.store.close()
        service.dead_letters.close()
    return 0


def _supervise_ingest(args: argparse.Namespace, settings: FarmwatchSettings) -> int:
    """``farmwatch ingest --workers N``: N worker processes in one shared subscription."""
    from farmwatch_ingest.supervisor import WorkerSupervisor

    group = settings.ingest.shared_group or settings.ingest.client_id
    commands = []
    for index in range(settings.ingest.workers):
        argv = [sys.executable, "-m", "farmwatch", "ingest", "--workers", "1"]
        argv += ["--worker-index", str(index), "--shared-group", group]
        argv += ["--client-id", f"{settings.ingest.client_id}-w{index}"]
        for flag, value in (
            ("--config", args.config),
            ("--data-dir", args.data_dir),
            ("--registry", args.registry),
            ("--mqtt-url", args.mqtt_url),
            ("--topic-prefix", args.topic_prefix),
            ("--influx-url", args.influx_url),
            ("--influx-db", args.influx_db),
        ):
            if value is not None:
                argv += [flag, str(value)]
        if args.auto_register:
            argv.append("--auto-register")
        if args.verbose:
            argv.append("-v")
        if args.api_port is not None:
            argv += ["--api-port", str(args.api_port + index)]
        commands.append(argv)
    if args.influx_token:  # to the workers through the environment, never on a command line
        os.environ["FARMWATCH_INFLUX__TOKEN"] = args.influx_token
    print(
        f"ingest: {len(commands)} workers sharing $share/{group}/..."
        + (f", worker i's API on port {args.api_port} + i" if args.api_port is not None else ""),
        flush=True,
    )
    return WorkerSupervisor(commands).run(_stop_event())


def cmd_api(args: argparse.Namespace) -> int:
    from farmwatch_ingest.deadletter import DeadLetterStore

    from farmwatch.components import load_deployment, start_api

    settings = _settings(args, ingest={"auto_register": True})
    check_production(settings, "api", Needs(mqtt=False))
    deployment = load_deployment(settings)
    dead_letters = DeadLetterStore(settings.dead_letter_file)
    api = start_api(settings, deployment, None, dead_letters, port=args.api_port)
    print(f"API on http://{settings.api.host}:{api.port}/ (docs at /docs)", flush=True)
    _stop_event().wait()
    api.stop()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from farmwatch_edge.sequence import SequenceStore
    from farmwatch_simulators.runner import SimulatorRunner
    from farmwatch_simulators.scenario import build_deployment

    if args.dataset is not None:
        return _write_dataset(args)
    if args.scenario or args.replay_csv:
        return _publish_scenario(args)
    settings = _settings(args)
    deployment = build_deployment(args.farms, seed=args.seed)
    if args.write_registry:
        args.write_registry.parent.mkdir(parents=True, exist_ok=True)
        args.write_registry.write_text(deployment.to_yaml(), encoding="utf-8")
        print(f"registry for {args.farms} farms written to {args.write_registry}", flush=True)
        if args.registry_only:
            return 0
    runner = SimulatorRunner(
        settings.mqtt,
        deployment,
        interval_s=args.interval,
        count=args.count,
        seq_store=SequenceStore(settings.data_dir / "simulator-seq.json"),
        stop=_stop_event(),
        seed=args.seed,
    )
    runner.run()
    print(f"simulator done: {runner.acknowledged} records acknowledged by the broker", flush=True)
    return 0


def _publish_scenario(args: argparse.Namespace) -> int:
    """Publish a scenario's dataset (or a recorded CSV) over MQTT, paced or as a backfill."""
    from farmwatch_simulators.replay import (
        PublishReport,
        ScenarioPublisher,
        replay_csv,
        shift_to_end_now,
    )
    from farmwatch_simulators.scenarios import load_scenario

    if args.scenario and args.replay_csv:
        print("give --scenario or --replay-csv, not both", file=sys.stderr)
        return 2
    settings = _settings(args)
    speed = None if args.backfill else args.speed
    publisher = ScenarioPublisher(settings.mqtt, speed=speed, stop=_stop_event())
    pace = "as a backfill" if speed is None else f"at {speed:g}x real time"
    report: PublishReport
    if args.scenario:
        scenario = load_scenario(args.scenario)
        if args.write_registry:
            args.write_registry.parent.mkdir(parents=True, exist_ok=True)
            args.write_registry.write_text(scenario.deployment.to_yaml(), encoding="utf-8")
            print(f"registry of scenario {scenario.name!r} written to {args.write_registry}")
            if args.registry_only:
                return 0
        print(
            f"publishing scenario {scenario.name!r} to {display_url(settings.mqtt.url)} {pace} ...",
            flush=True,
        )
        report = publisher.publish_scenario(
            scenario, shift_to_now=args.shift_to_now, labels_path=args.labels
        )
    else:
        if args.labels or args.write_registry:
            print("--labels and --write-registry need --scenario", file=sys.stderr)
            return 2
        if args.replay_csv.suffix == ".parquet":
            from farmwatch_simulators.parquet import replay_parquet

            rows = replay_parquet(args.replay_csv)
        else:
            rows = replay_csv(args.replay_csv)
        # A recording's end is its last record: that one lands 1 ms before now.
        last = rows[-1][2].ts + timedelta(milliseconds=1) if rows else None
        shift = shift_to_end_now(last) if args.shift_to_now and last else timedelta(0)
        print(
            f"replaying {args.replay_csv} to {display_url(settings.mqtt.url)} {pace} ...",
            flush=True,
        )
        report = publisher.publish(rows, shift=shift)
    labels = f"; {len(report.labels)} labels -> {args.labels}" if args.labels else ""
    print(
        f"{report.records} records in {report.messages} messages, "
        f"{report.acknowledged_records} acknowledged, in {report.seconds:.1f} s"
        f"{', STOPPED early' if report.stopped else ''}{labels}",
        flush=True,
    )
    return 0 if report.complete else 1


def _write_dataset(args: argparse.Namespace) -> int:
    """Offline mode: a scenario in simulated time to CSV, with its ground-truth labels."""
    from farmwatch_simulators.dataset import write_dataset
    from farmwatch_simulators.scenarios import load_scenario, scenario_names

    if not args.scenario:
        print(
            "--dataset needs --scenario NAME_OR_FILE; shipped scenarios: "
            + ", ".join(scenario_names()),
            file=sys.stderr,
        )
        return 2
    scenario = load_scenario(args.scenario)
    print(f"generating scenario {args.scenario!r} into {args.dataset} ...", flush=True)
    summary = write_dataset(scenario, args.dataset, format=args.format)
    print(
        f"{summary.records} records ({summary.readings} readings) of {summary.nodes} nodes in "
        f"{summary.seconds:.1f} s -> {summary.telemetry}; {summary.label_count} labels -> "
        f"{summary.labels}",
        flush=True,
    )
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from farmwatch_core.contract import QUANTITIES
    from farmwatch_core.timefmt import local_text
    from farmwatch_ingest.stores import open_store

    settings = _settings(args)
    if not settings.influx.url and not settings.sqlite_file.exists():
        print(
            f"no readings yet: {settings.sqlite_file} does not exist. Start the pipeline with "
            "`make run` (or `farmwatch up`), or pass --data-dir / --influx-url.",
            file=sys.stderr,
        )
        return 1
    store = open_store(settings)
    try:
        rows = store.latest(args.farm)
    finally:
        store.close()
    if not rows:
        print("no readings stored yet")
        return 0
    current = None
    for row in rows:
        if (row.farm_id, row.node_id) != current:
            current = (row.farm_id, row.node_id)
            print(f"\n{row.farm_id} / {row.node_id}")
        q = QUANTITIES.get(row.quantity)
        unit = q.symbol if q else ""
        print(f"  {row.quantity:<26} {row.value:>10.4g} {unit:<6} {local_text(row.ts)}")
    return 0


def cmd_registry_check(args: argparse.Namespace) -> int:
    try:
        deployment = load_registry(args.path)
    except RegistryError as exc:
        print(exc, file=sys.stderr)
        return 1
    nodes = sum(len(f.nodes) for f in deployment.farms)
    print(
        f"{args.path}: OK — {len(deployment.cooperatives)} cooperatives, "
        f"{len(deployment.farms)} farms, {nodes} nodes, {len(deployment.contacts)} contacts"
    )
    return 0


def cmd_registry_import(args: argparse.Namespace) -> int:
    from farmwatch.registry_import import import_registry
    from farmwatch.registry_store import RegistryFile

    target = RegistryFile(args.registry)
    try:
        with target.editing() as registry:  # the API's writers wait; none is lost
            merged, result = import_registry(
                args.path, registry, contacts=args.contacts, nodes=args.nodes
            )
            if merged is None:
                print(
                    f"{args.path}: nothing imported, {len(result.errors)} problems:",
                    file=sys.stderr,
                )
                for error in result.errors:
                    print(f"  {error}", file=sys.stderr)
                return 1
            target.write(merged)
    except RegistryError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"{args.path}: {len(result.farms)} farms, {len(result.contacts)} contacts and "
        f"{result.nodes} node rows imported into {args.registry} ({len(merged.farms)} farms in all)"
    )
    return 0


def _registry_or_say(settings: FarmwatchSettings, what: str) -> Deployment | None:
    """The deployment registry, or ``None`` after telling the user how to get one."""
    from farmwatch.components import load_deployment

    deployment = load_deployment(settings)
    if deployment is None:
        print(
            f"{what} needs the deployment registry (farms, nodes and model types) and found "
            f"none at {settings.registry_path}: pass --registry FILE (`farmwatch up` writes one "
            "to var/registry.yaml; `farmwatch simulate --write-registry FILE` makes one)",
            file=sys.stderr,
        )
    return deployment


def cmd_analytics_run(args: argparse.Namespace) -> int:
    from farmwatch_analytics.service import AnalyticsService

    settings = _settings(args)
    check_production(settings, "analytics", Needs(influx=False))
    deployment = _registry_or_say(settings, "analytics")
    if deployment is None:
        return 2
    state = settings.data_dir / "analytics-state.pickle"
    stop = _stop_event()  # before loading state: a SIGTERM while starting still stops cleanly
    service = AnalyticsService(settings.mqtt, deployment, state, client_id=args.client_id)
    service.start()
    farms = len(deployment.farms)
    print(
        f"analytics: {farms} farms from {settings.registry_path}; candidates on "
        f"farms/+/candidates, derived values on farms/+/nodes/+/analytics; state in {state}",
        flush=True,
    )
    stop.wait()
    service.stop()
    print(f"analytics stopped: {dict(service.counts)}", flush=True)
    return 0


def _alerting_overrides(args: argparse.Namespace) -> dict[str, Any]:
    alerting = {
        k: v
        for k, v in {"config": args.alerting_config, "public_url": args.public_url}.items()
        if v
    }
    return {"alerting": alerting} if alerting else {}


def cmd_alerting_run(args: argparse.Namespace) -> int:
    from farmwatch_alerting.api import alerting_router
    from farmwatch_alerting.routing_config import AlertingConfigError

    from farmwatch.components import build_alerting, open_alerts_of, start_api

    settings = _settings(args, **_alerting_overrides(args))
    deployment = _registry_or_say(settings, "alerting")
    if deployment is None:
        return 2
    try:
        service = build_alerting(settings, deployment, api_port=args.api_port)
    except AlertingConfigError as exc:
        print(f"alerting config rejected: {exc}", file=sys.stderr)
        return 2
    service.start()
    api = start_api(
        settings, deployment, None, None, port=args.api_port,
        routers=[alerting_router(service.store, service.acknowledge, silencing=service)],
        open_alerts=open_alerts_of(service),
    )  # fmt: skip
    if settings.alerting.public_url is None:  # the API's real port (0 picks a free one)
        service.public_url = f"http://{settings.api.host}:{api.port}"
    print(
        f"alerting: {len(deployment.farms)} farms; acknowledgement links at "
        f"{service.public_url}/a/<code>; API http://{settings.api.host}:{api.port}/api/v1/alerts",
        flush=True,
    )
    _stop_event().wait()
    api.stop()
    service.stop()
    print(f"alerting stopped: {service.counts}", flush=True)
    return 0


def cmd_alerting_check(args: argparse.Namespace) -> int:
    from farmwatch_alerting.config import load_alerting_config
    from farmwatch_alerting.routing_config import AlertingConfigError

    settings = _settings(args)
    try:
        config = load_alerting_config(args.path, settings.mqtt)
    except AlertingConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"{args.path}: OK — {len(config.rules.rules)} rules (profile defaults "
        f"{'on' if config.rules.profile_defaults else 'off'}), "
        f"{len(config.routing.receivers)} receivers, {len(config.channels.channels)} channels"
    )
    return 0


def cmd_analytics_nab_detector(args: argparse.Namespace) -> int:
    # Imported here: numpy stays out of every other command's start-up.
    from farmwatch_analytics.nab import nab_scores, read_nab_csv, write_scores

    times, values = read_nab_csv(args.path)
    write_scores(nab_scores(values, times), sys.stdout)
    return 0


def _simulate_options(sim: argparse.ArgumentParser) -> None:
    _common(sim)
    sim.add_argument("--farms", type=int, default=3)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--interval", type=float, default=5.0)
    sim.add_argument("--count", type=int, help="records per node, then stop")
    sim.add_argument("--write-registry", type=Path, help="write the scenario's registry YAML here")
    sim.add_argument("--registry-only", action="store_true", help="only write the registry")
    sim.add_argument("--scenario", help="scenario name (simulators/scenarios/) or YAML file")
    sim.add_argument(
        "--dataset", type=Path, help="write the scenario as CSV + labels here instead of publishing"
    )
    sim.add_argument(
        "--format",
        choices=("csv", "parquet"),
        default="csv",
        help="--dataset: telemetry and labels as CSV (default) or Parquet",
    )
    sim.add_argument(
        "--replay-csv",
        type=Path,
        help="publish this telemetry CSV or .parquet (dataset format)",
    )
    pace = sim.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="scenario/CSV: simulated seconds per real second (60: an hour a minute; default 1)",
    )
    pace.add_argument(
        "--backfill", action="store_true", help="scenario/CSV: publish as fast as possible"
    )
    sim.add_argument(
        "--shift-to-now",
        action="store_true",
        help="move all timestamps (and labels) so the data ends now; ingest refuses old dates",
    )
    sim.add_argument("--labels", type=Path, help="scenario: write its (shifted) labels CSV here")


def _devices(args: argparse.Namespace) -> tuple[Any, Path, Path, str]:
    from farmwatch.devices import DeviceRegistry

    settings = _settings(args)
    folder = settings.data_dir / "broker"
    password_file = args.password_file or folder / "passwd"
    acl_file = args.acl_file or folder / "acl"
    registry = DeviceRegistry(settings.data_dir / "devices.json")
    return registry, password_file, acl_file, settings.mqtt.topic_prefix


_RELOAD = (
    "reload the broker so it reads them: `kill -HUP $(pidof mosquitto)` "
    "(docker: `docker compose kill -s HUP mosquitto`)"
)


def cmd_devices_add(args: argparse.Namespace) -> int:
    registry, password_file, acl_file, prefix = _devices(args)
    try:
        if args.service:
            username, password = registry.add_service(args.service)
        else:
            if not (args.farm and args.node):
                print("give --farm and --node (or --service NAME)", file=sys.stderr)
                return 2
            username, password = registry.add_node(args.farm, args.node)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    registry.write_broker_files(password_file, acl_file, prefix)
    print(f"username: {username}\npassword: {password}")
    print(
        f"(shown once: put it in the node's edge.yaml `mqtt.password`). Wrote {password_file} "
        f"and {acl_file}; {_RELOAD}"
    )
    return 0


def cmd_devices_revoke(args: argparse.Namespace) -> int:
    registry, password_file, acl_file, prefix = _devices(args)
    try:
        registry.revoke(args.username)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 1
    registry.write_broker_files(password_file, acl_file, prefix)
    print(f"revoked {args.username}; wrote {password_file} and {acl_file}; {_RELOAD}")
    return 0


def cmd_devices_list(args: argparse.Namespace) -> int:
    registry, _, _, _ = _devices(args)
    for account in registry.accounts.values():
        state = f"revoked {account.revoked_at}" if account.revoked_at else "active"
        print(f"{account.username:<40} {account.role:<8} {state}")
    return 0


def _add_tokens_commands(sub: Any) -> None:
    from farmwatch.tokens import add_tokens_commands

    add_tokens_commands(sub, _common, _settings)


def _add_feedback_commands(sub: Any) -> None:
    from farmwatch.feedback_cli import add_feedback_commands

    add_feedback_commands(sub, _common, _settings)


def _add_opendata_commands(sub: Any) -> None:
    from farmwatch.opendata.cli import add_opendata_commands

    add_opendata_commands(sub, _common, _settings)


def _add_devices_commands(sub: Any) -> None:
    devices = sub.add_parser("devices", help="per-node MQTT credentials and the broker's ACL")
    devices_sub = devices.add_subparsers(dest="devices_command", required=True)
    for name, func, text in (
        ("add", cmd_devices_add, "issue credentials for a node (or a service)"),
        ("revoke", cmd_devices_revoke, "revoke an account; the broker refuses it after reload"),
        ("list", cmd_devices_list, "every account and whether it is active"),
    ):
        parser = devices_sub.add_parser(name, help=text)
        _common(parser)
        parser.add_argument("--password-file", type=Path, help="mosquitto password_file to write")
        parser.add_argument("--acl-file", type=Path, help="mosquitto acl_file to write")
        if name == "add":
            parser.add_argument("--farm")
            parser.add_argument("--node")
            parser.add_argument("--service", help="a service account (ingest, analytics, ...)")
        if name == "revoke":
            parser.add_argument("username", help="farm/node, or farmwatch-<service>")
        parser.set_defaults(func=func)


def _day(text: str) -> datetime:
    """A date (YYYY-MM-DD, local midnight in Hải Dương) or an ISO time, as UTC."""
    from farmwatch_core.timefmt import DISPLAY_TZ

    value = datetime.fromisoformat(text)
    return (value if value.tzinfo else value.replace(tzinfo=DISPLAY_TZ)).astimezone(UTC)


def cmd_export(args: argparse.Namespace) -> int:
    from farmwatch_alerting.store import STORE_FILE
    from farmwatch_ingest.stores import open_store

    from farmwatch.exports import export_alerts_csv, export_readings, farms_for

    settings = _settings(args)
    deployment = _registry_or_say(settings, "export")
    if deployment is None:
        return 2
    try:
        farms = farms_for(deployment, args.farm, args.growing_area)
        start, end = _day(args.start), _day(args.end)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    store = open_store(settings)
    try:
        done = export_readings(
            store, farms, start, end, args.out, args.format,
            progress=lambda n: print(f"  {n:,} records...", flush=True),
        )  # fmt: skip
    finally:
        store.close()
    print(f"readings: {done.records:,} records, {done.rows:,} rows → {done.path}")
    alerts_db = settings.alerting_dir / STORE_FILE
    if args.alerts is not None and alerts_db.exists():
        alerts = export_alerts_csv(alerts_db, [f.id for f in farms], start, end, args.alerts)
        print(f"alerts: {alerts.rows:,} episodes → {alerts.path}")
    return 0


def cmd_report_programme(args: argparse.Namespace) -> int:
    from farmwatch_alerting.store import STORE_FILE, AlertStore
    from farmwatch_ingest.stores import open_store

    from farmwatch.programme import programme_indicators, write_programme_csv

    settings = _settings(args)
    deployment = _registry_or_say(settings, "report programme")
    if deployment is None:
        return 2
    now = datetime.now(UTC)
    store = open_store(settings)
    try:
        latest = store.latest()
    finally:
        store.close()
    alerts_db = settings.alerting_dir / STORE_FILE
    alerts = []
    answers: list[tuple[str, bool]] = []  # "was this useful?" (docs/feedback.md)
    if alerts_db.exists():
        from farmwatch.feedback_cli import farm_answers

        alert_store = AlertStore(alerts_db)
        try:
            alerts = [a for _, a in alert_store.episodes_between(now - timedelta(days=3650), now)]
            answers = farm_answers(alert_store, now - timedelta(days=3650), now)
        finally:
            alert_store.close()
    rows = programme_indicators(
        deployment, latest, alerts, now, target=timedelta(minutes=args.target_minutes),
        feedback=answers,
    )  # fmt: skip
    write_programme_csv(rows, args.out)
    if args.chart is not None:
        from farmwatch.programme import write_programme_chart

        try:
            write_programme_chart(rows, args.chart, args.lang)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"chart → {args.chart}")
    for r in rows:
        handled = "—" if r.handled_share is None else f"{r.handled_share:.0%}"
        satisfied = "—" if r.satisfaction is None else f"{r.satisfaction:.0%} of {r.answers}"
        print(
            f"{r.district:<16} farms {r.farms:>4}  model {r.model_farms:>3}  online "
            f"{r.online_share:>4.0%}  cooperatives {r.cooperatives:>3}  alerts in time {handled}"
            f"  useful {satisfied}"
        )
    print(f"→ {args.out}")
    return 0


def _add_report_command(sub: Any) -> None:
    from farmwatch.reports.report_cli import add_month_arguments, cmd_report_month

    report = sub.add_parser(
        "report", help="monthly reports (HTML + PDF) for a farm, cooperative or district"
    )
    _common(report)
    add_month_arguments(report)  # `report --farm F --period 2026-11 --out DIR`
    report.set_defaults(func=cmd_report_month)
    report_sub = report.add_subparsers(dest="report_command")  # or `report programme`
    programme = report_sub.add_parser(
        "programme", help="the plan's programme indicators per district (CSV)"
    )
    _common(programme)
    programme.add_argument("--out", type=Path, required=True)
    programme.add_argument(
        "--target-minutes", type=float, default=30.0, help="acknowledge critical alerts within"
    )
    programme.add_argument("--chart", type=Path, help="also draw the indicators (.png or .svg)")
    programme.add_argument("--lang", choices=["vi", "en"], default="vi", help="chart language")
    programme.set_defaults(func=cmd_report_programme)


def _add_export_command(sub: Any) -> None:
    export = sub.add_parser(
        "export", help="a farm's or growing area's readings (and alerts) as CSV or Parquet"
    )
    _common(export)
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--farm")
    which.add_argument("--growing-area", help="every farm with this growing-area code")
    export.add_argument("--start", required=True, help="YYYY-MM-DD (Hải Dương) or ISO time")
    export.add_argument("--end", required=True, help="exclusive, same forms")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--alerts", type=Path, help="also write the alert episodes to this CSV")
    export.set_defaults(func=cmd_export)


def _add_registry_import(registry_sub: Any) -> None:
    imp = registry_sub.add_parser(
        "import", help="farms from a spreadsheet (.xlsx or .csv), checked row by row"
    )
    imp.add_argument("path", type=Path)
    imp.add_argument("--registry", type=Path, required=True, help="registry YAML to merge into")
    imp.add_argument("--contacts", type=Path, help="contacts CSV (a workbook's own sheet if not)")
    imp.add_argument("--nodes", type=Path, help="nodes CSV (a workbook's own sheet if not)")
    imp.set_defaults(func=cmd_registry_import)
    add_registry_commands(registry_sub)  # farms|nodes|contacts list, farm add|remove


def _add_alerting_commands(sub: Any) -> None:
    alerting = sub.add_parser("alerting", help="alert rules, routing and notifications")
    alerting_sub = alerting.add_subparsers(dest="alerting_command", required=True)
    arun = alerting_sub.add_parser(
        "run", help="the alerting service: rules, routing, escalation, delivery, ack links"
    )
    _common(arun)
    arun.add_argument(
        "--alerting-config", type=Path, help="alerting.yaml (rules, routing, channels)"
    )
    arun.add_argument("--public-url", help="base URL of the acknowledgement links in messages")
    arun.add_argument("--api-port", type=int, default=None, help="port of the ack/alerts API")
    arun.set_defaults(func=cmd_alerting_run)
    acheck = alerting_sub.add_parser(
        "check", help="validate an alerting.yaml and say what is wrong"
    )
    _common(acheck)
    acheck.add_argument("path", type=Path)
    acheck.set_defaults(func=cmd_alerting_check)


def cmd_dashboards_generate(args: argparse.Namespace) -> int:
    """Write the Grafana dashboards, gazetteer and provisioning files for a registry."""
    from farmwatch_dashboards.generate import write_files

    deployment = load_registry(args.registry)
    written = write_files(deployment, args.out)
    print(f"wrote {len(written)} files under {args.out} (from {args.registry})")
    return 0


def cmd_dashboards_push(args: argparse.Namespace) -> int:
    """Upload the generated dashboards to an existing Grafana (create or update)."""
    from farmwatch_dashboards.push import PushError, push_dashboards

    files = sorted((args.source / "dashboards").glob("*.json"))
    if not files:
        print(f"no dashboards in {args.source / 'dashboards'}; run `farmwatch dashboards generate`")
        return 2
    try:
        result = push_dashboards(
            args.grafana_url, args.token, files, args.folder, ca_file=args.ca_file
        )
    except PushError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"pushed {len(result.dashboards)} dashboards to folder {result.folder_uid!r}")
    return 0


def _add_dashboards_commands(sub: Any) -> None:
    dashboards = sub.add_parser("dashboards", help="Grafana dashboards as code")
    dashboards_sub = dashboards.add_subparsers(dest="dashboards_command", required=True)
    gen = dashboards_sub.add_parser(
        "generate", help="write dashboards JSON, gazetteer and provisioning files"
    )
    gen.add_argument(
        "--registry", type=Path, default=Path("deploy/registry.yaml"), help="deployment registry"
    )
    gen.add_argument("--out", type=Path, default=Path("dashboards/grafana"), help="output folder")
    gen.set_defaults(func=cmd_dashboards_generate)
    push = dashboards_sub.add_parser("push", help="upload the dashboards to an existing Grafana")
    push.add_argument("--grafana-url", required=True, help="e.g. https://grafana.example.org")
    push.add_argument(
        "--token",
        default=os.environ.get("GRAFANA_TOKEN"),
        help="service account token (default: $GRAFANA_TOKEN)",
    )
    push.add_argument("--folder", default="farmwatch", help="Grafana folder (created if missing)")
    push.add_argument("--ca-file", type=Path, help="https: trust this CA (PEM) for Grafana")
    push.add_argument(
        "--source", type=Path, default=Path("dashboards/grafana"), help="generated files folder"
    )
    push.set_defaults(func=cmd_dashboards_push)


def cmd_production_check(args: argparse.Namespace) -> int:
    """The compose stack's pre-flight: every secret file and the services' settings are fit for
    production, else nothing else starts (not Grafana or InfluxDB either)."""
    from farmwatch_core.production import production_problems

    settings = _settings(args)
    problems = production_problems(settings, Needs(mqtt=args.mqtt, influx=True))
    folder = os.environ.get("FARMWATCH_SECRETS_DIR")
    if folder:
        problems += secret_file_problems(Path(folder))
    elif args.require_secrets_dir:
        problems.append("FARMWATCH_SECRETS_DIR is not set")
    if problems:
        print("not fit for production:", *problems, sep="\n  - ", file=sys.stderr)
        return 2
    print("production secrets: all present, none a known default")
    return 0


def _add_production_command(sub: Any) -> None:
    production = sub.add_parser("production", help="production checks (FARMWATCH_ENV)")
    production_sub = production.add_subparsers(dest="production_command", required=True)
    check = production_sub.add_parser(
        "check", help="refuse missing or default secrets (the docker-compose pre-flight)"
    )
    _common(check)
    check.add_argument("--mqtt", action="store_true", help="also require MQTT credentials")
    check.add_argument(
        "--require-secrets-dir", action="store_true", help="fail if FARMWATCH_SECRETS_DIR is unset"
    )
    check.set_defaults(func=cmd_production_check)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="farmwatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole pipeline with simulated farms")
    _common(up)
    up.add_argument("--farms", type=int, default=3, help="number of simulated farms (default 3)")
    up.add_argument("--seed", type=int, default=1)
    up.add_argument("--interval", type=float, default=5.0, help="seconds between readings per node")
    up.add_argument(
        "--sim-count", type=int, help="stop simulating after this many records per node"
    )
    up.add_argument("--no-simulator", action="store_true", help="real nodes only")
    up.add_argument("--broker", choices=["auto", "mosquitto", "inprocess"], default="auto")
    up.add_argument("--mqtt-port", type=int, default=1883, help="port for farmwatch's own broker")
    up.add_argument(
        "--use-running-broker",
        action="store_true",
        help="if an MQTT broker already listens on --mqtt-port, use it instead of starting one",
    )
    up.add_argument("--api-port", type=int, default=8080)
    up.set_defaults(func=cmd_up)

    ingest = sub.add_parser("ingest", help="run the ingest service (MQTT -> store)")
    _common(ingest)
    ingest.add_argument("--auto-register", action="store_true", help="demo: accept unknown nodes")
    ingest.add_argument("--client-id", help="MQTT client id (persistent session name)")
    ingest.add_argument(
        "--shared-group", help="share the load with other workers ($share/GROUP/...)"
    )
    ingest.add_argument("--api-port", type=int, help="also serve the HTTP API on this port")
    ingest.add_argument(
        "--workers",
        type=int,
        help="worker processes sharing the subscription, restarted if they die (default 1)",
    )
    ingest.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)  # set by --workers
    ingest.set_defaults(func=cmd_ingest)

    api = sub.add_parser("api", help="serve the HTTP API and built-in page")
    _common(api)
    api.add_argument("--api-port", type=int, default=8080)
    api.set_defaults(func=cmd_api)

    sim = sub.add_parser("simulate", help="publish simulated farm telemetry")
    _simulate_options(sim)
    sim.set_defaults(func=cmd_simulate)

    query = sub.add_parser("query", help="show the latest readings per node")
    _common(query)
    query.add_argument("--farm", help="only this farm")
    query.set_defaults(func=cmd_query)

    registry = sub.add_parser("registry", help="registry tools")
    registry_sub = registry.add_subparsers(dest="registry_command", required=True)
    check = registry_sub.add_parser("check", help="validate a registry file")
    check.add_argument("path", type=Path)
    check.set_defaults(func=cmd_registry_check)
    _add_registry_import(registry_sub)

    analytics = sub.add_parser("analytics", help="analytics service and anomaly detection tools")
    analytics_sub = analytics.add_subparsers(dest="analytics_command", required=True)
    run = analytics_sub.add_parser(
        "run",
        help="the analytics service: fault detection, indicators, alert candidates on live data",
    )
    _common(run)
    run.add_argument("--client-id", default="farmwatch-analytics", help="MQTT client id")
    run.set_defaults(func=cmd_analytics_run)
    nab = analytics_sub.add_parser(
        "nab-detector",
        help="score a NAB data CSV (timestamp,value): one anomaly score per row on stdout",
    )
    nab.add_argument("path", type=Path)
    nab.set_defaults(func=cmd_analytics_nab_detector)

    for add_commands in (
        _add_alerting_commands, _add_devices_commands, _add_dashboards_commands,
        _add_export_command, _add_report_command, _add_production_command, add_trace_commands,
        _add_tokens_commands, _add_feedback_commands, _add_opendata_commands,
    ):  # fmt: skip
        add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("amqtt", "transitions", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        result: int = args.func(args)
    except (
        RegistryError,
        FileNotFoundError,
        RuntimeError,
        ValueError,
    ) as exc:  # incl. ScenarioError
        print(f"farmwatch: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `farmwatch query | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return result


if __name__ == "__main__":
    sys.exit(main())
