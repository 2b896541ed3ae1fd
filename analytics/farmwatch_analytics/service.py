"""``farmwatch analytics run``: the analytics engine on live telemetry.

Subscribes to every node's telemetry (a shared subscription, so several analytics processes
could split the farms; one is plenty for a province), feeds the
:class:`~farmwatch_analytics.engine.AnalyticsEngine`, and publishes what comes out, QoS 1:

* derived values on each node's ``analytics`` channel, which ingest stores beside the readings
  (ingest stays the only writer to the store);
* alert candidates on ``farms/{farm}/candidates`` for the alerting stage.

A timer checks for silent nodes every ``tick_s`` seconds. The engine's learned state (profiles
of every sensor, neighbour baselines, pond re-aeration rates) is pickled to
``data_dir/analytics-state.pickle`` every ``save_every_s`` and at a clean stop, and loaded at
start, so a restart does not send every detector back to its warm-up. The state file is
written to a temporary name and renamed, so a crash mid-write keeps the previous one.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from farmwatch_core.contract import (
    Channel,
    ContractError,
    NodeTopic,
    Record,
    TopicFilter,
    node_topic,
)
from farmwatch_core.contract.derived import derived_spec, encode_derived
from farmwatch_core.contract.formats import decode_any
from farmwatch_core.contract.topics import candidates_topic
from farmwatch_core.mqtt import new_client
from farmwatch_core.mqtt_settings import MqttSettings
from farmwatch_core.registry import Deployment

from farmwatch_analytics.engine import AnalyticsEngine, EngineOutput
from farmwatch_analytics.model_profiles import profile_for_model
from farmwatch_analytics.stateful import is_compiled

__all__ = ["AnalyticsService", "build_engine"]

log = logging.getLogger("farmwatch.analytics")
STATE_VERSION = 1


def build_engine(deployment: Deployment) -> AnalyticsEngine:
    """An engine with each registered farm's model profile (and its overrides, when any)."""
    profiles = {farm.id: profile_for_model(farm.model) for farm in deployment.farms}
    farm_nodes = {farm.id: [node.id for node in farm.nodes] for farm in deployment.farms}
    return AnalyticsEngine(profiles, farm_nodes)


class AnalyticsService:
    """The engine behind an MQTT subscription, with a silence timer and persisted state."""

    def __init__(
        self,
        mqtt: MqttSettings,
        deployment: Deployment,
        state_file: Path,
        *,
        client_id: str = "farmwatch-analytics",
        group: str = "analytics",
        tick_s: float = 30.0,
        save_every_s: float = 300.0,
    ) -> None:
        self.mqtt = mqtt
        self.deployment = deployment
        self.state_file = state_file
        self.client_id = client_id
        self.group = group
        self.tick_s = tick_s
        self.save_every_s = save_every_s
        self.engine = self._load_state() or build_engine(deployment)
        self._lock = threading.Lock()  # paho's network thread and the timer share the engine
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._timer: threading.Thread | None = None
        self._client: paho.Client | None = None
        self.counts: dict[str, int] = defaultdict(int)
        self._pending: set[int] = set()
        self._pending_lock = threading.Lock()

    # -- state ---------------------------------------------------------------------------

    def _load_state(self) -> AnalyticsEngine | None:
        if not self.state_file.exists():
            return None
        try:
            with self.state_file.open("rb") as handle:
                version, engine = pickle.load(handle)  # noqa: S301 - our own file in data_dir
        except (
            OSError,
            pickle.UnpicklingError,
            EOFError,
            AttributeError,
            TypeError,
            ValueError,
        ) as exc:  # TypeError: a compiled attribute refusing a value of another type
            log.warning(
                "analytics state %s unreadable (%s); starting fresh: detectors warm up again",
                self.state_file,
                exc,
            )
            return None
        if version != STATE_VERSION or not isinstance(engine, AnalyticsEngine):
            log.warning(
                "analytics state %s is from another version; starting fresh", self.state_file
            )
            return None
        # Farms added to the registry since the state was saved get their profiles now.
        fresh = build_engine(self.deployment)
        for farm, profile in fresh.profiles.items():
            engine.profiles.setdefault(farm, profile)
        log.info("analytics state restored from %s", self.state_file)
        return engine

    def save_state(self) -> None:
        """Write the engine's state atomically (temporary file, fsync, rename)."""
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        with self._lock, tmp.open("wb") as handle:
            pickle.dump((STATE_VERSION, self.engine), handle, protocol=pickle.HIGHEST_PROTOCOL)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.state_file)

    # -- MQTT ------------------------------------------------------------------------------

    def start(self) -> None:
        client, address = new_client(self.mqtt, self.client_id, persistent=True)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.reconnect_delay_set(1, 30)
        client.connect_async(address.host, address.port, keepalive=30)
        client.loop_start()
        self._client = client
        self._timer = threading.Thread(target=self._run_timer, name="analytics-timer", daemon=True)
        self._timer.start()
        log.info(
            "analytics connecting to %s (%s build)",
            address.url(),
            "compiled" if is_compiled() else "pure-Python",
        )

    def wait_ready(self, timeout: float) -> bool:
        """Whether the broker confirmed the subscription within ``timeout`` seconds.

        Telemetry published before that reaches ingest but not analytics (a new shared
        group has no queue yet): a caller that publishes right after :meth:`start` waits.
        """
        return self._subscribed.wait(timeout)

    def _on_subscribe(self, _c: paho.Client, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("analytics: the broker refused the subscription to %s", self._filter())
            return
        self._subscribed.set()
        log.info("analytics subscribed to %s", self._filter())

    def stop(self, drain_s: float = 15.0) -> None:
        """Stop the timer, let published messages reach the broker, disconnect, save state."""
        self._stop.set()
        if self._timer is not None:
            self._timer.join(timeout=5)
        if self._client is not None:
            deadline = time.monotonic() + drain_s
            while self.unacknowledged() and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.unacknowledged():
                log.warning(
                    "stopping with %d analytics messages unacknowledged", self.unacknowledged()
                )
            self._client.disconnect()
            self._client.loop_stop()
        self.save_state()

    def unacknowledged(self) -> int:
        """QoS 1 messages published and not yet acknowledged by the broker."""
        with self._pending_lock:
            return len(self._pending)

    def _on_publish(self, _c: paho.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with self._pending_lock:
            self._pending.discard(mid)

    def _send(self, client: paho.Client, topic: str, payload: bytes) -> None:
        # The lock spans publish and the bookkeeping, so a PUBACK handled on paho's thread
        # cannot arrive between them and leave a mid pending forever.
        with self._pending_lock:
            info = client.publish(topic, payload, qos=1)
            self._pending.add(info.mid)

    def _filter(self) -> str:
        return TopicFilter(Channel.TELEMETRY, prefix=self.mqtt.topic_prefix).shared(self.group)

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("analytics could not connect to the broker: %s", reason)
            return
        client.subscribe(self._filter(), qos=1)

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = NodeTopic.parse(message.topic, self.mqtt.topic_prefix)
            decoded = decode_any(bytes(message.payload), now=datetime.now(UTC))
        except ContractError as exc:
            # Ingest dead-letters bad input with the full story; analytics just skips it.
            self.counts["skipped"] += 1
            log.debug("analytics skipped %s: %s", message.topic, exc)
            return
        for record in decoded.records:
            with self._lock:
                out = self.engine.process(topic.farm_id, topic.node_id, record.ts, record.readings)
            self.counts["records"] += 1
            self._publish(out, record)

    def _publish(self, out: EngineOutput, source: Record | None = None) -> None:
        """Send what the engine produced; derived values go out as fields of ``source``."""
        client = self._client
        if client is None:
            return
        prefix = self.mqtt.topic_prefix
        if source is not None and out.derived:
            values: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
            for point in out.derived:
                spec = derived_spec(point.name)
                if spec is not None and spec.low <= point.value <= spec.high:
                    values[(point.farm, point.node)][point.name] = point.value
            for (farm, node), fields in values.items():
                topic = node_topic(farm, node, Channel.ANALYTICS, prefix=prefix)
                payload = encode_derived(source.ts, source.seq, source.synced, fields)
                self._send(client, str(topic), payload)
                self.counts["derived"] += len(fields)
        for candidate in out.candidates:
            self._send(client, candidates_topic(candidate.farm, prefix), candidate.to_json())
            self.counts[f"candidates_{candidate.state}"] += 1
            log.info(
                "%s %s %s/%s %s (%s) value=%s",
                candidate.state,
                candidate.kind.value,
                candidate.node,
                candidate.subject,
                candidate.severity.value,
                candidate.source,
                candidate.value,
            )

    def _run_timer(self) -> None:
        last_save = time.monotonic()
        while not self._stop.wait(self.tick_s):
            with self._lock:
                out = self.engine.tick(datetime.now(UTC))
            self._publish(out)
            if time.monotonic() - last_save >= self.save_every_s:
                try:
                    self.save_state()
                except OSError:
                    log.exception("could not save analytics state to %s", self.state_file)
                last_save = time.monotonic()
