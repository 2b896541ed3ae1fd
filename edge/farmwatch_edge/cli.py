"""``farmwatch-edge``: run the agent, probe the sensors once, or show the last status.

``run`` is what systemd starts. SIGTERM and Ctrl-C stop it cleanly (retained ``offline``
status, drivers closed); ``kill -9`` or a power cut lose nothing either, because every record
is in the outbox before it is published. ``probe`` is for the technician wiring a probe: it
reads each configured sensor once and prints the values or the reason it failed. ``status``
prints the status file the running agent rewrites every ``status_interval_s``, so it works
without a broker connection.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from farmwatch_edge.config import EdgeConfig, InvalidConfig
from farmwatch_edge.drivers import DriverError, build_driver


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="farmwatch-edge", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "run the agent until SIGTERM"),
        ("probe", "read every configured sensor once and print the result"),
        ("status", "print the running agent's last status"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--config", type=Path, default=Path("/etc/farmwatch-edge/config.yaml"))
    return parser


def run(config: EdgeConfig) -> int:
    from farmwatch_edge.agent import Agent

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    Agent(config).run(stop)
    return 0


def probe(config: EdgeConfig) -> int:
    failures = 0
    for sensor in config.sensors:
        driver = build_driver(sensor)
        try:
            readings = driver.read()
        except DriverError as exc:
            failures += 1
            _out(f"{sensor.name:<16} FAILED  {exc}")
        else:
            values = ", ".join(f"{k}={v:g}" for k, v in readings.items())
            _out(f"{sensor.name:<16} ok      {values}")
        finally:
            driver.close()
    return 1 if failures else 0


def status(config: EdgeConfig) -> int:
    try:
        body = json.loads(config.status_file.read_text())
    except FileNotFoundError:
        sys.stderr.write(f"no status yet at {config.status_file}: is the agent running?\n")
        return 1
    _out(json.dumps(body, indent=2))
    return 0


def _out(line: str) -> None:
    """The CLI's output (stdout is the interface of probe and status)."""
    sys.stdout.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = EdgeConfig.load(args.config)
    except InvalidConfig as exc:
        # One line for the journal: which file, which key, what is wrong. Exit status 2, and
        # systemd retries every RestartSec, so a fixed file is picked up without a reboot.
        sys.stderr.write(f"invalid config: {exc}\n")
        return 2
    if args.command == "run":
        return run(config)
    if args.command == "probe":
        return probe(config)
    return status(config)
