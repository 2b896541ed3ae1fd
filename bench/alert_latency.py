"""Alert latency: a triggering reading published → the webhook receives its notification.

Starts its own mosquitto, a real HTTP receiver and ``farmwatch alerting run`` (a separate
process, as deployed), then, while publisher processes keep ``--background`` msgs/s of
ordinary pond telemetry flowing through the same service, publishes a dissolved-oxygen crash
(1.5 mg/L, below the profile's critical 2.3) for a fresh node every ``--every`` seconds and
times each until the webhook holds its notification. Each trigger is a new node, so each is
a new alert (routing's group_wait is 0 for it, as a deployment would set for critical DO).

Baseline in the same run: the same crash readings with no background traffic (the service's
own floor). Target (issue 7): p99 ≤ 1 s at 5,000 msgs/s of background. The last line printed
is one JSON object: ``latency_p50_s``, ``latency_p99_s``, ``baseline_latency_p50_s``,
``baseline_latency_p99_s``, ``background_msgs_per_s`` (achieved), ``triggers``, ``lost``
(triggers with no notification 15 s after the run) and ``alerting_cpu_s``.

    .venv/bin/python bench/alert_latency.py
    .venv/bin/python bench/alert_latency.py --quick        # 10 s, 1,000 msgs/s: a smoke run
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from farmwatch_core.contract import Channel, Record, encode_record, node_topic
from farmwatch_core.registry import Deployment, Farm, ModelType, Node
from paho.mqtt.enums import CallbackAPIVersion

from farmwatch.broker import MosquittoProcess, free_port

BACKGROUND_FARMS = 50
NODES_PER_FARM = 10
TRIGGER_FARM = "trigger-01"


def registry(triggers: int) -> Deployment:
    farms = [
        Farm(
            id=f"pond-{f:03d}",
            name=f"Ao {f}",
            model=ModelType.AQUACULTURE_POND,
            nodes=tuple(Node(id=f"n{n}") for n in range(NODES_PER_FARM)),
        )
        for f in range(BACKGROUND_FARMS)
    ]
    farms.append(
        Farm(
            id=TRIGGER_FARM,
            name="Ao thử",
            model=ModelType.AQUACULTURE_POND,
            nodes=tuple(Node(id=f"t{i}") for i in range(triggers)),
        )
    )
    return Deployment(farms=tuple(farms))


def alerting_yaml(receiver_url: str) -> str:
    return f"""
rules: {{profile_defaults: true}}
routing:
  receivers:
    - name: bench
      contacts: [{{channel: hook, to: "{receiver_url}/hook"}}]
  route: {{receiver: bench, group_by: [farm, node, alertname], group_wait: 0s,
          group_interval: 5m, repeat_interval: 4h}}
channels:
  - {{name: hook, type: webhook}}
"""


class Receiver:
    """A real HTTP server noting when each trigger node's critical notification arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # a reply must not wait 40 ms for more data

            def do_POST(self) -> None:
                at = time.time()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                for alert in body.get("alerts", ()):
                    labels = alert.get("labels", {})
                    if labels.get("farm") == TRIGGER_FARM and labels.get("severity") == "critical":
                        receiver.arrived.setdefault(labels["node"], at)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def _client(url: str, name: str) -> paho.Client:
    host, port = url.removeprefix("mqtt://").split(":")
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=name, clean_session=True)
    client.max_inflight_messages_set(1000)
    client.connect(host, int(port))
    client.loop_start()
    return client


def background(url: str, index: int, workers: int, rate: float, seconds: float, out: Any) -> None:
    """One publisher process: its share of the background nodes at ``rate`` msgs/s."""
    client = _client(url, f"bench-bg-{index}-{os.getpid()}")
    nodes = [
        (f"pond-{f:03d}", f"n{n}")
        for f in range(BACKGROUND_FARMS)
        for n in range(NODES_PER_FARM)
        if (f * NODES_PER_FARM + n) % workers == index
    ]
    seq = dict.fromkeys(nodes, 0)
    sent = 0
    start = time.monotonic()
    infos = []
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            farm, node = nodes[sent % len(nodes)]
            seq[(farm, node)] += 1
            value = 6.0 + 0.5 * ((sent * 7919) % 100) / 100
            readings = {"dissolved_oxygen": value, "ph": 7.6, "water_temperature": 28.5}
            record = Record(datetime.now(UTC), seq[(farm, node)], True, readings)
            topic = str(node_topic(farm, node, Channel.TELEMETRY))
            infos.append(client.publish(topic, encode_record(record), qos=1))
            sent += 1
        time.sleep(0.002)
    publishing = time.monotonic() - start  # the offered rate's window, before the flush
    for info in infos:
        info.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()
    out.put((sent, publishing))


def trigger_run(url: str, receiver: Receiver, nodes: list[str], every: float) -> dict[str, float]:
    """Publish one crash per node, ``every`` seconds apart; return node → publish time."""
    client = _client(url, f"bench-trigger-{os.getpid()}-{nodes[0]}")
    published: dict[str, float] = {}
    for node in nodes:
        record = Record(datetime.now(UTC), 1, True, {"dissolved_oxygen": 1.5, "ph": 7.6})
        topic = str(node_topic(TRIGGER_FARM, node, Channel.TELEMETRY))
        published[node] = time.time()
        client.publish(topic, encode_record(record), qos=1).wait_for_publish(10)
        time.sleep(every)
    client.loop_stop()
    client.disconnect()
    return published


def latencies(receiver: Receiver, published: dict[str, float], wait_s: float) -> list[float]:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and not all(n in receiver.arrived for n in published):
        time.sleep(0.05)
    return [receiver.arrived[n] - t for n, t in published.items() if n in receiver.arrived]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--background", type=float, default=5000.0, help="msgs/s")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--every", type=float, default=0.3, help="s between triggers")
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.background, args.seconds, args.every = 1000.0, 10.0, 0.5
    baseline_triggers = 20
    triggers = int(args.seconds / args.every) + baseline_triggers

    with tempfile.TemporaryDirectory(prefix="fw-alert-bench-") as tmp:
        root = Path(tmp)
        broker = MosquittoProcess(root / "mosquitto", free_port("127.0.0.1"))
        broker.start()
        receiver = Receiver()
        (root / "registry.yaml").write_text(registry(triggers).to_yaml(), encoding="utf-8")
        (root / "alerting.yaml").write_text(alerting_yaml(receiver.url), encoding="utf-8")
        service = subprocess.Popen(
            [sys.executable, "-m", "farmwatch", "alerting", "run", "--registry",
             str(root / "registry.yaml"), "--alerting-config", str(root / "alerting.yaml"),
             "--mqtt-url", broker.url, "--data-dir", str(root / "data"), "--api-port", "0"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert service.stdout is not None
            print(
                service.stdout.readline().strip(), flush=True
            )  # "alerting: ..." = subscribed soon
            names = [f"t{i}" for i in range(triggers)]
            warm = trigger_run(broker.url, receiver, names[:1], 0.0)
            latencies(receiver, warm, 30.0)  # the service is up and subscribed
            base = trigger_run(broker.url, receiver, names[1:baseline_triggers], 0.1)
            base_lat = latencies(receiver, base, 15.0)
            print(f"baseline (quiet): p50 {_quantile(base_lat, 0.5):.3f} s, "
                  f"p99 {_quantile(base_lat, 0.99):.3f} s", flush=True)  # fmt: skip
            cpu_before = _cpu_seconds(service.pid)
            results: Any = mp.Queue()
            workers = [
                mp.Process(
                    target=background,
                    args=(
                        broker.url,
                        i,
                        args.publishers,
                        args.background / args.publishers,
                        args.seconds,
                        results,
                    ),
                )
                for i in range(args.publishers)
            ]
            for worker in workers:
                worker.start()
            time.sleep(1.0)  # the background is flowing before the first trigger
            loaded = trigger_run(broker.url, receiver, names[baseline_triggers:-1], args.every)
            sent = [results.get(timeout=120) for _ in workers]
            for worker in workers:
                worker.join(30)
            lat = latencies(receiver, loaded, 15.0)
            cpu = _cpu_seconds(service.pid) - cpu_before
        finally:
            service.terminate()
            service.wait(30)
            broker.stop()
    rate = sum(n for n, _ in sent) / max(s for _, s in sent)
    lost = len(loaded) - len(lat)
    print(f"under {rate:,.0f} msgs/s: p50 {_quantile(lat, 0.5):.3f} s, p99 "
          f"{_quantile(lat, 0.99):.3f} s, {len(lat)}/{len(loaded)} arrived, "
          f"alerting CPU {cpu:.1f} s", flush=True)  # fmt: skip
    print(
        json.dumps(
            {
                "latency_p50_s": round(statistics.median(lat), 4) if lat else None,
                "latency_p99_s": round(_quantile(lat, 0.99), 4) if lat else None,
                "baseline_latency_p50_s": round(statistics.median(base_lat), 4)
                if base_lat
                else None,
                "baseline_latency_p99_s": round(_quantile(base_lat, 0.99), 4) if base_lat else None,
                "background_msgs_per_s": round(rate),
                "triggers": len(loaded),
                "lost": lost,
                "alerting_cpu_s": round(cpu, 2),
                "target_latency_p99_s": 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()
