"""The simulator runner against a real mosquitto: every (farm, node, seq) arrives, decodes, and
survives restarts of the simulator and of the broker.

The broker is started here, on a free port with a temporary config; a shared project fixture
will replace this later. The machine's own broker on port 1883 is never used.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from farmwatch_core.contract import Channel, NodeTopic, decode_telemetry
from farmwatch_core.registry import Deployment, Farm, ModelType, Node
from farmwatch_core.settings import MqttSettings
from farmwatch_edge.sequence import SequenceStore
from farmwatch_simulators.runner import PublishedRecord, SimulatorRunner
from farmwatch_simulators.scenario import build_deployment
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

pytestmark = pytest.mark.mosquitto

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def eventually(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Mosquitto:
    """A throw-away mosquitto on 127.0.0.1:<free port>, optionally with persistence on disk."""

    def __init__(self, workdir: Path, *, persistence: bool = False) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.persistence = persistence
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not Path(MOSQUITTO).exists():
            pytest.fail(
                f"mosquitto is not installed ({MOSQUITTO}); run scripts/system-deps.sh test"
            )
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            # When run as root, mosquitto would drop to user 'mosquitto', unable to write here.
            f"user {getpass.getuser()}",
            "max_queued_messages 100000",
        ]
        if self.persistence:
            lines.append(f"persistence_location {self.workdir}/")
        config = self.workdir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [MOSQUITTO, "-c", str(config)], stdout=log_file, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"mosquitto exited at start:\n{self.log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(
                        f"mosquitto did not listen within 10 s:\n{self.log_path.read_text()}"
                    )
                time.sleep(0.05)
            else:
                return

    def stop(self) -> None:
        """SIGTERM (mosquitto saves its persistence file), SIGKILL if it hangs."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


class CuttableProxy:
    """A TCP relay between the runner and mosquitto that can lose PUBACKs and cut the line.

    ``swallow`` drops everything the broker sends back (PUBACKs included) while still relaying
    the runner's publishes: the broker has the messages, the runner does not know it. ``cut``
    then breaks the connection, as a flaky 4G link would.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.swallow = threading.Event()
        self.accepted = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self.accepted += 1
                self._sockets += [downstream, upstream]
            threading.Thread(
                target=self._pump, args=(downstream, upstream, False), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, downstream, True), daemon=True
            ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, to_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if not (to_client and self.swallow.is_set()):
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prefix() -> str:
    """A topic prefix no other test uses."""
    return f"test/sim-{uuid.uuid4().hex[:10]}"


@dataclass
class Collector:
    """A separate paho client that records every telemetry and status message under a prefix."""

    url_port: int
    prefix: str
    client_id: str = field(default_factory=lambda: f"collector-{uuid.uuid4().hex[:8]}")
    persistent: bool = False
    messages: list[paho.MQTTMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    subscribed: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=not self.persistent,
            protocol=paho.MQTTv311,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        client.subscribe(
            [
                (f"{self.prefix}/farms/+/nodes/+/telemetry", 1),
                (f"{self.prefix}/farms/+/nodes/+/status", 1),
            ]
        )

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self.subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(message)

    def __enter__(self) -> Collector:
        self.client.connect("127.0.0.1", self.url_port)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            pytest.fail("the collector could not subscribe")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def of(self, channel: Channel) -> list[paho.MQTTMessage]:
        with self.lock:
            return [
                m for m in self.messages if NodeTopic.parse(m.topic, self.prefix).channel is channel
            ]

    def triples(self) -> set[PublishedRecord]:
        """(farm, node, seq) of every telemetry message received, decoded with the contract."""
        found: set[PublishedRecord] = set()
        now = datetime.now(UTC)
        for message in self.of(Channel.TELEMETRY):
            topic = NodeTopic.parse(message.topic, self.prefix)
            decoded = decode_telemetry(bytes(message.payload), now=now)
            assert decoded.rejections == [], decoded.rejections
            for record in decoded.records:
                found.add(PublishedRecord(topic.farm_id, topic.node_id, record.seq))
        return found


def settings_for(broker: Mosquitto, prefix: str) -> MqttSettings:
    return MqttSettings(url=broker.url, topic_prefix=prefix)


def test_every_record_arrives_decodes_and_is_acknowledged(
    broker: Mosquitto, prefix: str, tmp_path: Path
) -> None:
    deployment = build_deployment(4, seed=2)
    nodes = {(f.id, n.id): n for f in deployment.farms for n in f.nodes}
    count = 12
    with Collector(broker.port, prefix) as collector:
        runner = SimulatorRunner(
            settings_for(broker, prefix),
            deployment,
            interval_s=0.05,
            count=count,
            seq_store=SequenceStore(tmp_path / "seq.json"),
            seed=2,
        )
        started = datetime.now(UTC)
        runner.start()
        runner.join(60)
        published = runner.published_records()
        assert runner.published == runner.acknowledged == len(nodes) * count
        assert runner.unacknowledged == 0
        assert len(published) == len(set(published)) == len(nodes) * count
        eventually(lambda: collector.triples() >= set(published), what="every published record")

        received = collector.triples()
        assert received == set(published)
        for farm_id, node_id in nodes:
            seqs = sorted(r.seq for r in received if (r.farm_id, r.node_id) == (farm_id, node_id))
            assert seqs == list(range(1, count + 1))  # a fresh store starts at 1, no gaps
        for message in collector.of(Channel.TELEMETRY):
            topic = NodeTopic.parse(message.topic, prefix)
            assert message.qos == 1
            record = decode_telemetry(bytes(message.payload), now=datetime.now(UTC)).records[0]
            assert record.synced is True
            assert started - timedelta(seconds=1) <= record.ts <= datetime.now(UTC)
            assert set(record.readings) == set(nodes[topic.farm_id, topic.node_id].sensors)

        # Status: online at start, offline at a clean end, both retained for late subscribers.
        eventually(lambda: len(collector.of(Channel.STATUS)) == 2 * len(nodes), what="statuses")
        states = [json.loads(m.payload) for m in collector.of(Channel.STATUS)]
        assert sorted(s["state"] for s in states) == ["offline"] * len(nodes) + ["online"] * len(
            nodes
        )
        assert all(s["v"] == 1 for s in states)
    with Collector(broker.port, prefix) as late:
        eventually(lambda: len(late.of(Channel.STATUS)) == len(nodes), what="retained statuses")
        assert all(m.retain for m in late.of(Channel.STATUS))
        assert {json.loads(m.payload)["state"] for m in late.of(Channel.STATUS)} == {"offline"}


def test_a_restarted_simulator_never_reuses_a_sequence_number(
    broker: Mosquitto, prefix: str, tmp_path: Path
) -> None:
    deployment = build_deployment(2, seed=5)
    store_path = tmp_path / "seq.json"
    runs: list[list[PublishedRecord]] = []
    with Collector(broker.port, prefix) as collector:
        for _ in range(2):
            runner = SimulatorRunner(
                settings_for(broker, prefix),
                deployment,
                interval_s=0.02,
                count=5,
                seq_store=SequenceStore(store_path, block=3),  # reopened, as after a restart
            )
            runner.run()
            runs.append(runner.published_records())
        everything = runs[0] + runs[1]
        assert (
            len(set(everything))
            == len(everything)
            == 2 * 5 * sum(len(f.nodes) for f in deployment.farms)
        )
        for first in runs[0]:
            later = [
                r.seq for r in runs[1] if (r.farm_id, r.node_id) == (first.farm_id, first.node_id)
            ]
            assert min(later) > first.seq
        eventually(lambda: collector.triples() == set(everything), what="both runs' records")


def test_the_stop_event_ends_an_endless_run_cleanly(broker: Mosquitto, prefix: str) -> None:
    stop = threading.Event()
    deployment = build_deployment(3, seed=8)
    with Collector(broker.port, prefix) as collector:
        runner = SimulatorRunner(
            settings_for(broker, prefix), deployment, interval_s=0.02, count=None, stop=stop
        )
        runner.start()
        eventually(lambda: runner.acknowledged >= 30, what="30 acknowledged records")
        stop.set()
        runner.join(30)
        assert runner.done.is_set()
        assert runner.acknowledged == runner.published >= 30
        eventually(
            lambda: collector.triples() == set(runner.published_records()), what="every record"
        )


def test_nothing_is_lost_when_the_broker_restarts(tmp_path: Path) -> None:
    """paho queues publishes while the broker is down and resends every unacknowledged one.

    The collector keeps a persistent session in a broker with persistence, as ingest does, so
    what the runner resends after the restart is queued for it even before it reconnects.
    """
    server = Mosquitto(tmp_path, persistence=True)
    server.start()
    prefix = f"test/restart-{uuid.uuid4().hex[:8]}"
    try:
        with Collector(server.port, prefix, persistent=True) as collector:
            runner = SimulatorRunner(
                settings_for(server, prefix),
                build_deployment(3, seed=4),
                interval_s=0.02,
                count=None,
                ack_timeout_s=30,
            )
            runner.start()
            eventually(lambda: runner.acknowledged >= 20, what="records before the restart")
            server.stop()
            # The runner keeps publishing into paho's queue while the broker is gone.
            eventually(
                lambda: runner.published - runner.acknowledged >= 30, what="a backlog while down"
            )
            published_while_down = runner.published
            assert runner.connections == 1
            server.start()
            eventually(lambda: runner.connections >= 2, timeout=40, what="the runner to reconnect")
            eventually(
                lambda: runner.acknowledged >= published_while_down,
                what="the backlog to be resent and acknowledged",
            )
            runner.request_stop()
            runner.join(60)
            assert runner.unacknowledged == 0
            assert runner.acknowledged == runner.published
            published = set(runner.published_records())
            eventually(
                lambda: collector.triples() >= published,
                timeout=40,
                what="every record, including those published while the broker was down",
            )
    finally:
        server.stop()


def test_messages_whose_puback_was_lost_are_resent_after_reconnecting(
    broker: Mosquitto, prefix: str
) -> None:
    """paho keeps QoS 1 messages until their PUBACK and resends them on the next connection."""
    proxy = CuttableProxy(broker.port)
    try:
        with Collector(broker.port, prefix) as collector:
            runner = SimulatorRunner(
                MqttSettings(url=f"mqtt://127.0.0.1:{proxy.port}", topic_prefix=prefix),
                build_deployment(3, seed=6),
                interval_s=0.02,
                count=None,
            )
            runner.start()
            eventually(lambda: runner.acknowledged >= 20, what="records before the trouble")
            proxy.swallow.set()
            eventually(lambda: runner.unacknowledged >= 20, what="PUBACKs to go missing")
            published_before_cut = runner.published
            proxy.cut()
            proxy.swallow.clear()
            eventually(lambda: runner.connections >= 2, timeout=40, what="the runner to reconnect")
            eventually(
                lambda: runner.acknowledged >= published_before_cut,
                what="the unacknowledged messages to be resent and acknowledged",
            )
            runner.request_stop()
            runner.join(60)
            assert proxy.accepted >= 2
            assert runner.acknowledged == runner.published
            published = set(runner.published_records())
            eventually(lambda: collector.triples() >= published, what="every record")
            # The broker had those messages already: resending them made duplicates (QoS 1 is
            # at-least-once), which ingest absorbs by (farm, node, seq).
            telemetry = collector.of(Channel.TELEMETRY)
            assert len(telemetry) > len(collector.triples())
    finally:
        proxy.close()


def test_node_sensor_lists_limit_what_is_published(broker: Mosquitto, prefix: str) -> None:
    farm = Farm(
        id="ao-ca-1",
        name="Ao cá thử",
        model=ModelType.AQUACULTURE_POND,
        nodes=(
            Node(id="n1", profile="generic", sensors=("dissolved_oxygen", "water_temperature")),
        ),
    )
    with Collector(broker.port, prefix) as collector:
        runner = SimulatorRunner(
            settings_for(broker, prefix), Deployment(farms=(farm,)), interval_s=0.01, count=3
        )
        runner.run()
        eventually(lambda: len(collector.of(Channel.TELEMETRY)) >= 3, what="three records")
        for message in collector.of(Channel.TELEMETRY):
            record = decode_telemetry(bytes(message.payload), now=datetime.now(UTC)).records[0]
            assert set(record.readings) == {"dissolved_oxygen", "water_temperature"}


def test_an_unreachable_broker_is_reported_not_waited_for_forever() -> None:
    settings = MqttSettings(url=f"mqtt://127.0.0.1:{free_port()}")  # nothing listens there
    runner = SimulatorRunner(settings, build_deployment(1), count=1, connect_timeout_s=1.5)
    with pytest.raises(RuntimeError, match="could not connect"):
        runner.run()
    assert runner.published == 0


@pytest.mark.parametrize(
    "options",
    [{"interval_s": 0}, {"count": -1}, {"max_unacknowledged": 70_000}, {"ack_timeout_s": 0}],
)
def test_nonsense_options_are_refused_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        SimulatorRunner(MqttSettings(), build_deployment(1), **options)
