"""Edge agent footprint and replay speed after an outage (issue 4).

Runs the agent as a real process, started exactly as the shipped systemd unit starts it
(``edge/deploy/farmwatch-edge.service``: its ``ExecStart`` command and ``Environment=``
variables, with this venv in place of ``/opt/farmwatch-edge/venv`` and the bench's config;
fake sensor, fast sampling, default clock mode) against a mosquitto of its own started from the
project config, and a persistent QoS 1 subscriber:

1. stop the broker, let the agent take ``--readings`` readings into its outbox;
2. start the broker; ``replay_readings_per_s`` = readings buffered during the outage / seconds
   from the broker's restart until the subscriber has every one of them (so it includes the
   agent's and the subscriber's reconnect backoff, 1 s here);
   ``replay_after_reconnect_readings_per_s`` counts from the first replayed arrival instead;
3. stop the agent (SIGTERM) and wait until every sequence number it took has arrived;
   ``lost`` = sequence numbers taken that neither arrived nor are still in the outbox (records
   taken in the last moment before SIGTERM wait there for the next start:
   ``left_in_outbox``). ``peak_rss_mb`` is the agent's VmHWM.

``--runs`` agent processes (default 3) each do all of it; the last line has the medians (and
``lost`` summed). The in-run baseline: the VmHWM of fresh interpreters importing the agent's
dependencies layer by layer (``bare_python_rss_mb``, ``paho_sqlite_yaml_contract_rss_mb``,
``plus_msgspec_rss_mb``, ``agent_imports_rss_mb``), so the peak can be read against what
merely loading the code costs.

The agent runs from compiled bytecode, as an installed one does (pip compiles what it installs,
Debian's python3 packages compile the standard library): a warm-up run (outage and replay,
not reported) compiles every module the agent imports into a temporary cache, and
``compiled_during_runs`` counts the modules the measured runs still had to compile (0 expected;
compiling costs memory a Pi never spends).

The agent's rate limit is set to ``--rate`` (default 20,000 records/s) so the figure shows what
the agent can do; production nodes use the default 5,000/s to spare ingest.
The last line of output is a JSON object with ``peak_rss_mb``, ``replay_readings_per_s`` and
``lost``.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shlex
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import yaml
from farmwatch_core.contract import Channel, TimeWindow, decode_telemetry, node_topic
from farmwatch_core.mqtt import new_client
from farmwatch_core.settings import MqttSettings

from farmwatch.broker import MosquittoProcess, free_port

_ANY_TIME = TimeWindow(max_future=timedelta(days=3650), max_past=timedelta(days=3650))


class Seqs:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: set[int] = set()

    def on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        decoded = decode_telemetry(bytes(msg.payload), now=datetime.now(UTC), window=_ANY_TIME)
        with self.lock:
            self.seen.update(r.seq for r in decoded.records)

    def count(self) -> int:
        with self.lock:
            return len(self.seen)

    def has_all(self, upto: int) -> bool:
        with self.lock:
            return len(self.seen) >= upto and all(s in self.seen for s in range(1, upto + 1))

    def has_all_but(self, upto: int, waiting: set[int]) -> bool:
        """Every sequence number up to ``upto`` arrived, or is in ``waiting``."""
        with self.lock:
            return all(s in self.seen or s in waiting for s in range(1, upto + 1))


def _records(status_file: Path) -> int:
    try:
        return int(json.loads(status_file.read_text())["records"])
    except (OSError, ValueError, KeyError):
        return 0


def _outbox_seqs(path: Path) -> set[int]:
    """Sequence numbers still in a stopped agent's outbox (sent at its next start)."""
    db = sqlite3.connect(path)
    try:
        return {int(row[0]) for row in db.execute("SELECT seq FROM outbox")}
    finally:
        db.close()


def _wait(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# What the agent imports on its way to the loop (the in-run import baseline below).
_AGENT_MODULES = (
    "farmwatch_edge.cli",
    "farmwatch_edge.agent",
    "farmwatch_edge.drivers.fake",
    "farmwatch_edge.actuators.fake",
)
_UNIT = Path(__file__).resolve().parents[1] / "edge" / "deploy" / "farmwatch-edge.service"
_UNIT_VENV = "/opt/farmwatch-edge/venv/"


def _unit_command(config: Path) -> tuple[list[str], dict[str, str]]:
    """The shipped unit's ExecStart (this venv, the bench's config) and its Environment=."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(_UNIT)
    service = unit["Service"]
    venv = str(Path(sys.executable).parent.parent) + "/"
    argv = [a.replace(_UNIT_VENV, venv) for a in shlex.split(service["ExecStart"])]
    argv[argv.index("--config") + 1] = str(config)
    env: dict[str, str] = {}
    for assignment in shlex.split(service.get("Environment", "")):
        key, _, value = assignment.partition("=")
        env[key] = value
    return argv, env


def _agent_env(pycache: Path) -> dict[str, str]:
    """The agent's environment: the unit's variables (PYTHONOPTIMIZE=2 among them), with the
    bytecode cache in ``pycache`` instead of the unit's /var/cache/farmwatch-edge/pycache.

    Why a cache of its own: this workspace may set PYTHONDONTWRITEBYTECODE, and an agent
    compiling its ~250 modules at start-up holds several MB more at its peak than an installed
    one (install.sh compiles them), which a Pi never sees. The temporary prefix leaves the tree
    untouched; the warm-up run fills it.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(_unit_command(Path("unused"))[1])
    env.update(PYTHONPYCACHEPREFIX=str(pycache))
    return env


def _compiled(pycache: Path) -> set[Path]:
    return set(pycache.rglob("*.pyc"))


# Each step adds imports to the previous one: the agent's footprint, layer by layer.
_LAYERS = {
    "bare_python": "",
    "paho_sqlite_yaml_contract": "import paho.mqtt.client, sqlite3, yaml, farmwatch_core.contract",
    "plus_msgspec": "import msgspec",
    "agent_imports": "; ".join(f"import {m}" for m in _AGENT_MODULES),
}


def _import_floor(env: dict[str, str]) -> dict[str, float]:
    """VmHWM (MB) of a fresh interpreter after each layer of the agent's imports: the in-run
    baseline that says how much of the agent's peak is only loading its dependencies."""
    out: dict[str, float] = {}
    code: list[str] = []
    for name, stmt in _LAYERS.items():
        if stmt:
            code.append(stmt)
        probe = "; ".join(
            [
                *code,
                "import re",
                "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])",
            ]
        )
        result = subprocess.run(
            [sys.executable, "-c", probe], env=env, check=True, capture_output=True, text=True
        )
        out[name] = round(int(result.stdout.strip()) / 1024, 1)
    return out


def _write_config(path: Path, data_dir: Path, broker_url: str, args: argparse.Namespace) -> None:
    outbox: dict[str, Any] = {"rate_limit_per_s": args.rate}
    if args.batch_records:
        outbox["batch_records"] = args.batch_records
    if args.max_inflight:
        outbox["max_inflight"] = args.max_inflight
    path.write_text(
        yaml.safe_dump(
            {
                "farm_id": "bench",
                "node_id": "n1",
                "data_dir": str(data_dir),
                "mqtt": {"url": broker_url, "topic_prefix": "bench"},
                "reconnect_min_s": 1,
                "reconnect_max_s": 1,
                "status_interval_s": 0.2,
                "outbox": outbox,
                "sensors": [
                    {
                        "name": "probe",
                        "driver": "fake",
                        "interval_s": 0.0002,
                        "values": {"dissolved_oxygen": 5.0, "water_temperature": 28.1},
                    }
                ],
            }
        )
    )


def _subscriber(settings: MqttSettings, seqs: Seqs) -> paho.Client:
    sub, address = new_client(settings, "bench-edge-sub", persistent=True)
    sub.reconnect_delay_set(1, 1)
    topic = str(node_topic("bench", "n1", Channel.TELEMETRY, prefix="bench"))
    sub.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
    sub.on_message = seqs.on_message
    sub.connect(address.host, address.port)
    sub.loop_start()
    return sub


def one_run(args: argparse.Namespace, root: Path, env: dict[str, str]) -> dict[str, float]:
    """One agent process: outage, replay, stop; its figures."""
    broker = MosquittoProcess(root / "broker", free_port())
    broker.start()
    config, data_dir = root / "edge.yaml", root / "edge"
    _write_config(config, data_dir, broker.url, args)
    seqs = Seqs()
    sub = _subscriber(MqttSettings(url=broker.url, topic_prefix="bench"), seqs)
    log = (root / "edge.log").open("ab")
    agent = subprocess.Popen(
        _unit_command(config)[0],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        status_file = data_dir / "status.json"
        _wait(lambda: seqs.count() > 100, 30)
        broker.stop()
        start_count = _records(status_file)
        _wait(lambda: _records(status_file) >= start_count + args.readings, 120)
        buffered_upto = _records(status_file)
        before = seqs.count()
        broker.start()
        t0 = time.monotonic()
        _wait(lambda: seqs.count() > before, 60)
        t1 = time.monotonic()  # both clients reconnected: the replay proper starts
        _wait(lambda: seqs.has_all(buffered_upto), 120)
        t2 = time.monotonic()
        rss = _vm_hwm_mb(agent.pid)
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
        taken = _records(status_file)
        left = _outbox_seqs(data_dir / "outbox.db")
        _wait(lambda: seqs.has_all_but(taken, left), 30)
        with seqs.lock:
            lost = len(set(range(1, taken + 1)) - seqs.seen - left)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        log.close()
        sub.disconnect()
        sub.loop_stop()
        broker.stop()
    buffered = buffered_upto - start_count
    return {
        "peak_rss_mb": round(rss, 1),
        "replay_readings_per_s": round(buffered / (t2 - t0)),
        "replay_after_reconnect_readings_per_s": round(buffered / max(t2 - t1, 1e-3)),
        "readings_buffered": buffered,
        "readings_taken": taken,
        "left_in_outbox": len(left),
        "lost": lost,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=20_000.0)
    parser.add_argument("--runs", type=int, default=3, help="agent runs; medians are reported")
    parser.add_argument("--batch-records", type=int, default=None, help="default: the agent's")
    parser.add_argument("--max-inflight", type=int, default=None, help="default: the agent's")
    args = parser.parse_args()

    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="farmwatch-bench-edge-") as tmp:
        pycache = Path(tmp) / "pycache"
        env = _agent_env(pycache)
        warm = argparse.Namespace(**{**vars(args), "readings": min(args.readings, 2000)})
        print(
            "warm-up (compiles the bytecode):", json.dumps(one_run(warm, Path(tmp) / "warm", env))
        )
        floor = _import_floor(env)
        compiled = _compiled(pycache)
        for i in range(args.runs):
            figures = one_run(args, Path(tmp) / f"run{i}", env)
            print(json.dumps(figures))
            runs.append(figures)
        compiled_during_runs = len(_compiled(pycache) - compiled)
    print("RSS after imports alone (MB): " + ", ".join(f"{k} {v}" for k, v in floor.items()))
    medians = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    medians["lost"] = sum(r["lost"] for r in runs)  # every run must lose nothing
    layers = {f"{k}_rss_mb": v for k, v in floor.items()}
    print(
        json.dumps(
            {
                **medians,
                "runs": args.runs,
                "compiled_during_runs": compiled_during_runs,
                "command": " ".join(_unit_command(Path("edge.yaml"))[0]),
                **layers,
            }
        )
    )


if __name__ == "__main__":
    main()
