"""Edge agent footprint and replay speed after an outage (issue 4).

Runs ``python -m farmwatch_edge run`` as a real process (fake sensor, fast sampling) against a
mosquitto of its own started from the project config, and a persistent QoS 1 subscriber:

1. stop the broker, let the agent take ``--readings`` readings into its outbox;
2. start the broker; ``replay_readings_per_s`` = readings buffered during the outage / seconds
   from the broker's restart until the subscriber has every one of them (so it includes the
   agent's reconnect backoff, at most ``reconnect_min_s`` = 1 s here);
3. stop the agent (SIGTERM) and wait until every sequence number it took has arrived;
   ``lost`` = taken minus distinct received. ``peak_rss_mb`` is the agent's VmHWM.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=20_000.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="farmwatch-bench-edge-") as tmp:
        root = Path(tmp)
        broker = MosquittoProcess(root / "broker", free_port())
        broker.start()
        settings = MqttSettings(url=broker.url, topic_prefix="bench")
        config = root / "edge.yaml"
        data_dir = root / "edge"
        config.write_text(
            yaml.safe_dump(
                {
                    "farm_id": "bench",
                    "node_id": "n1",
                    "data_dir": str(data_dir),
                    "mqtt": {"url": broker.url, "topic_prefix": "bench"},
                    "reconnect_min_s": 1,
                    "reconnect_max_s": 1,
                    "status_interval_s": 0.2,
                    "clock": {"mode": "synced"},
                    "outbox": {"rate_limit_per_s": args.rate},
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
        seqs = Seqs()
        sub, address = new_client(settings, "bench-edge-sub", persistent=True)
        sub.reconnect_delay_set(1, 1)
        topic = str(node_topic("bench", "n1", Channel.TELEMETRY, prefix="bench"))
        sub.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        sub.on_message = seqs.on_message
        sub.connect(address.host, address.port)
        sub.loop_start()
        log = (root / "edge.log").open("ab")
        agent = subprocess.Popen(
            [sys.executable, "-m", "farmwatch_edge", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            status_file = data_dir / "status.json"
            _wait(lambda: seqs.count() > 100, 30)
            broker.stop()
            start_count = _records(status_file)
            _wait(lambda: _records(status_file) >= start_count + args.readings, 120)
            buffered_upto = _records(status_file)
            broker.start()
            t0 = time.monotonic()
            _wait(lambda: seqs.has_all(buffered_upto), 120)
            replay_s = time.monotonic() - t0
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
    print(f"buffered {buffered_upto - start_count} readings; replayed in {replay_s:.2f} s")
    print(
        json.dumps(
            {
                "peak_rss_mb": round(rss, 1),
                "replay_readings_per_s": round((buffered_upto - start_count) / replay_s),
                "readings_taken": taken,
                "lost": lost,
            }
        )
    )


if __name__ == "__main__":
    main()
