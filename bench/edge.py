"""Edge agent footprint and replay speed after an outage (issue 4).

Runs ``python -m farmwatch_edge run`` as a real process (fake sensor, fast sampling) against a
mosquitto of its own started from the project config, and a persistent QoS 1 subscriber:

1. stop the broker, let the agent take ``--readings`` readings into its outbox;
2. start the broker; ``replay_readings_per_s`` = readings buffered during the outage / seconds
   from the broker's restart until the subscriber has every one of them (so it includes the
   agent's and the subscriber's reconnect backoff, 1 s here);
   ``replay_after_reconnect_readings_per_s`` counts from the first replayed arrival instead;
3. stop the agent (SIGTERM) and wait until every sequence number it took has arrived;
   ``lost`` = taken minus distinct received. ``peak_rss_mb`` is the agent's VmHWM.

``--runs`` agent processes (default 3) each do all of it; the last line has the medians (and
``lost`` summed). The in-run baseline: the VmHWM of fresh interpreters importing the agent's
dependencies layer by layer (``bare_python_rss_mb``, ``paho_sqlite_yaml_contract_rss_mb``,
``plus_pydantic_rss_mb``, ``agent_imports_rss_mb``), so the peak can be read against what
merely loading the code costs. The agent runs from compiled bytecode, as an installed one does.

The agent's rate limit is set to ``--rate`` (default 20,000 records/s) so the figure shows what
the agent can do; production nodes use the default 5,000/s to spare ingest.
The last line of output is a JSON object with ``peak_rss_mb``, ``replay_readings_per_s`` and
``lost``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
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


def _records(status_file: Path) -> int:
    try:
        return int(json.loads(status_file.read_text())["records"])
    except (OSError, ValueError, KeyError):
        return 0


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


# What the agent imports on its way to the loop, compiled before the measured run.
_AGENT_MODULES = (
    "farmwatch_edge.cli",
    "farmwatch_edge.agent",
    "farmwatch_edge.drivers.fake",
    "farmwatch_edge.actuators.fake",
)


def _agent_env(pycache: Path) -> dict[str, str]:
    """The agent's environment, with its bytecode compiled beforehand.

    Why: an installed agent (pip, or the install script) runs from compiled ``.pyc`` files,
    but this workspace may set PYTHONDONTWRITEBYTECODE, and compiling ~100 modules at start-up
    adds ~8 MB to the peak RSS that a Pi never sees. The cache goes to a temporary prefix so
    the tree is not touched.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONUNBUFFERED="1", PYTHONPYCACHEPREFIX=str(pycache))
    imports = "; ".join(f"import {m}" for m in _AGENT_MODULES)
    subprocess.run([sys.executable, "-c", imports], env=env, check=True)
    return env


# Each step adds imports to the previous one: the agent's footprint, layer by layer.
_LAYERS = {
    "bare_python": "",
    "paho_sqlite_yaml_contract": "import paho.mqtt.client, sqlite3, yaml, farmwatch_core.contract",
    "plus_pydantic": "import pydantic.main",
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
                "clock": {"mode": "synced"},
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
        [sys.executable, "-m", "farmwatch_edge", "run", "--config", str(config)],
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
        _wait(lambda: seqs.has_all(taken), 30)
        lost = taken - len({s for s in seqs.seen if s <= taken})
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
        env = _agent_env(Path(tmp) / "pycache")
        floor = _import_floor(env)
        for i in range(args.runs):
            figures = one_run(args, Path(tmp) / f"run{i}", env)
            print(json.dumps(figures))
            runs.append(figures)
    print("RSS after imports alone (MB): " + ", ".join(f"{k} {v}" for k, v in floor.items()))
    medians = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    medians["lost"] = sum(r["lost"] for r in runs)  # every run must lose nothing
    print(
        json.dumps({**medians, "runs": args.runs, **{f"{k}_rss_mb": v for k, v in floor.items()}})
    )


if __name__ == "__main__":
    main()
