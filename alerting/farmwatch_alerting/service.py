"""The alerting service: MQTT in, rules, routing, templates, outbox, channels out.

Three threads, each with one job:

* the MQTT thread takes telemetry, analytics' derived values and alert candidates (in
  batches, through the same small subscriber as ingest, :mod:`farmwatch_core.mqtt_subscriber`:
  paho spent ~80 µs per message here, more than the rules), runs the rules
  (:class:`~farmwatch_alerting.evaluator.Evaluator`), stores every change of state and hands
  it to routing — and only then acknowledges the batch (a persistent session), so a crash
  between receipt and the store loses no alert: the broker delivers the messages again;
* the dispatch loop wakes on every change (and every ``tick_s`` for timers: silent nodes,
  group intervals, escalations, quiet hours ending), asks routing what to send, renders each
  notice for each contact and puts it in the outbox — the same SQLite transaction discipline
  as the store, so a restart neither loses nor repeats a notification;
* the delivery loop sends what the outbox says is due and retries with backoff.

Routing state (group timers, escalation levels) is saved in the store after every tick.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from farmwatch_analytics.model_profiles import ModelProfile, profile_for_model
from farmwatch_core.contract import ContractError, decode_any
from farmwatch_core.contract.candidates import AlertCandidate
from farmwatch_core.contract.derived import decode_derived
from farmwatch_core.contract.topics import Channel, NodeTopic, TopicFilter, validate_prefix
from farmwatch_core.mqtt_settings import MqttSettings
from farmwatch_core.mqtt_subscriber import Connection, MqttError, Publish
from farmwatch_core.mqtt_url import display_url
from farmwatch_core.registry import Deployment

from farmwatch_alerting.alert import Alert, AlertState
from farmwatch_alerting.channels import build_channels, close_channels
from farmwatch_alerting.config import AlertingConfig
from farmwatch_alerting.dispatch import Dispatcher, build_dispatcher
from farmwatch_alerting.evaluator import Evaluator
from farmwatch_alerting.messages import Contact, MessageRenderer
from farmwatch_alerting.notification import Notice
from farmwatch_alerting.outbox import Outbox
from farmwatch_alerting.silences import Silence
from farmwatch_alerting.store import STORE_FILE, AlertStore

__all__ = ["AlertingService"]

log = logging.getLogger("farmwatch.alerting")
DISPATCH_STATE = "dispatcher"
SILENCES = "silences"
SILENCE_RECORD = timedelta(days=30)  # expired silences are kept this long, for the record


def _profiles(deployment: Deployment) -> dict[str, ModelProfile]:
    return {farm.id: profile_for_model(farm.model) for farm in deployment.farms}


class AlertingService:
    """Everything between analytics and a farmer's phone, for one deployment."""

    def __init__(
        self,
        config: AlertingConfig,
        deployment: Deployment,
        mqtt: MqttSettings,
        data_dir: Path,
        *,
        client_id: str = "farmwatch-alerting",
        public_url: str = "http://127.0.0.1:8080",
        tick_s: float = 1.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.deployment = deployment
        self.mqtt = mqtt
        self.client_id = client_id
        self.public_url = (config.public_url or public_url).rstrip("/")
        self.tick_s = tick_s
        self.now = clock or (lambda: datetime.now(UTC))
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = AlertStore(data_dir / STORE_FILE)
        self.channels = build_channels(config.channels)
        self.outbox = Outbox(data_dir / "outbox.sqlite", self.channels)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._queued = threading.Event()
        self._threads: list[threading.Thread] = []
        self.connected = threading.Event()
        self.counts: dict[str, int] = {"messages": 0, "skipped": 0, "changes": 0, "notices": 0}
        open_alerts = self.store.open_alerts()
        self.evaluator = Evaluator(
            config.rules, deployment, _profiles(deployment), self.now(), open_alerts.values()
        )
        saved = self.store.fetch(DISPATCH_STATE)
        stored_silences = self.store.fetch(SILENCES)
        self.silences: dict[str, Silence] = {}
        for item in stored_silences if isinstance(stored_silences, list) else []:
            silence = Silence.from_dict(item)
            self.silences[silence.id] = silence
        self.dispatcher: Dispatcher = build_dispatcher(
            config.routing, silences=self.silences.values()
        )
        self.dispatcher.put_all(open_alerts.values())  # before the timers: they refer to them
        if isinstance(saved, dict):
            try:
                self.dispatcher.load(saved)
            except (ValueError, KeyError) as exc:
                log.warning("routing state not restored (%s): groups start afresh", exc)
        names = {
            (farm.id, node.id): node.description
            for farm in deployment.farms
            for node in farm.nodes
            if node.description  # "ao 2", "chuồng nái": what the farmer calls it
        }
        self.renderer = MessageRenderer(self._ack_link, names)
        self.receivers = config.routing.receivers_by_name()

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        loops = (
            ("mqtt", self._mqtt_loop),
            ("dispatch", self._dispatch_loop),
            ("delivery", self._delivery_loop),
        )
        for name, target in loops:
            thread = threading.Thread(target=target, name=f"alerting-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "alerting starting on %s; ack links at %s/a/<code>",
            display_url(self.mqtt.url),
            self.public_url,
        )

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        self._queued.set()
        for thread in self._threads:
            thread.join(timeout=10)
        with self._lock:
            self.store.put(DISPATCH_STATE, self.dispatcher.to_dict())
        close_channels(self.channels)
        self.outbox.close()
        self.store.close()

    # -- MQTT ------------------------------------------------------------------------------

    def _filters(self) -> list[str]:
        prefix = validate_prefix(self.mqtt.topic_prefix)
        head = f"{prefix}/" if prefix else ""
        return [
            str(TopicFilter(Channel.TELEMETRY, prefix=prefix)),
            str(TopicFilter(Channel.ANALYTICS, prefix=prefix)),
            f"{head}farms/+/candidates",
        ]

    def _mqtt_loop(self) -> None:
        """Connect, subscribe, receive; reconnect with backoff when the broker goes away."""
        backoff = 0.5
        while not self._stop.is_set():
            connection = Connection(self.mqtt, self.client_id)
            try:
                connection.connect(self._filters())
            except (MqttError, OSError) as exc:
                log.warning("alerting: %s; retrying in %.1f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.5
            self.connected.set()
            log.info("alerting subscribed to %s", ", ".join(self._filters()))
            try:
                connection.loop(functools.partial(self._on_batch, connection), self._stop)
            except (MqttError, OSError) as exc:
                log.warning("alerting lost the broker (%s); reconnecting", exc)
            finally:
                self.connected.clear()
                connection.close()

    def _on_batch(self, connection: Connection, batch: list[Publish]) -> None:
        """Evaluate a batch; acknowledge what was handled (stored), leave the rest unacked."""
        done: list[int] = []
        changed = False
        for message in batch:
            try:
                changed = bool(self._evaluate(message.topic, message.payload)) or changed
            except ContractError as exc:
                self.counts["skipped"] += 1
                log.debug("alerting skipped %s: %s", message.topic, exc)
            except Exception:
                log.exception("alerting could not evaluate %s; left for redelivery", message.topic)
                continue  # not acknowledged: the broker sends it again after a reconnect
            self.counts["messages"] += 1
            if message.qos:
                done.append(message.mid)
        if changed:
            self._changed.set()
        if done:
            connection.ack(done)

    def _evaluate(self, topic: str, payload: bytes) -> list[Alert]:
        """Rules over one message; changes are stored before this returns."""
        prefix = self.mqtt.topic_prefix
        if topic.endswith("/candidates"):
            candidate = AlertCandidate.from_json(payload)
            with self._lock:
                changed = self.evaluator.candidate(candidate)
                self._record(changed)
            return changed
        node = NodeTopic.parse(topic, prefix)
        now = self.now()
        if node.channel is Channel.ANALYTICS:
            record = decode_derived(payload)
            records = [record]
        else:
            records = list(decode_any(payload, now=now).records)
        changed = []
        with self._lock:
            for record in records:
                changed += self.evaluator.observe(
                    node.farm_id, node.node_id, record.ts, record.readings
                )
            self._record(changed)
        return changed

    def _record(self, changed: list[Alert]) -> None:
        for alert in changed:
            self.store.save(alert)
            self.dispatcher.put(alert)
            self.counts["changes"] += 1
            log.info(
                "alert %s %s %s/%s", alert.state.value, alert.name,
                alert.labels.get("farm"), alert.labels.get("node"),
            )  # fmt: skip

    # -- acknowledgement -------------------------------------------------------------------

    def _ack_link(self, alert: Alert) -> tuple[str, str] | None:
        episode = self.store.episode_of(
            alert.fingerprint, resolved=alert.state is AlertState.RESOLVED
        )
        if episode is None:
            return None
        code = self.store.ack_code(episode)
        return code, f"{self.public_url}/a/{code}"

    def acknowledge(self, code_or_id: str | int, by: str, at: datetime) -> Alert:
        """From the link, an SMS reply or the API: store it, stop escalation and repeats."""
        with self._lock:
            alert = self.store.acknowledge(code_or_id, by, at)
            self.evaluator.acknowledged(alert)
            self.dispatcher.put(alert)
        self._changed.set()
        log.info("alert %s acknowledged by %s", alert.name, by)
        return alert

    # -- silences --------------------------------------------------------------------------

    def add_silence(
        self, matchers: list[str], duration: timedelta, created_by: str, comment: str = ""
    ) -> Silence:
        """Mute matching alerts for ``duration`` from now (a pond being drained, a node moved)."""
        silence = Silence.create(
            matchers, self.now(), duration, created_by=created_by, comment=comment
        )
        with self._lock:
            self.silences[silence.id] = silence
            self._save_silences()
        log.info("silence %s by %s for %s: %s", silence.id, created_by, duration, matchers)
        return silence

    def expire_silence(self, silence_id: str) -> Silence:
        """End a silence now; KeyError when there is no such silence."""
        with self._lock:
            silence = self.silences[silence_id].expire(self.now())
            self.silences[silence_id] = silence
            self._save_silences()
        self._changed.set()  # alerts it held back may be due now
        return silence

    def _save_silences(self) -> None:
        now = self.now()
        for key, silence in list(self.silences.items()):
            if now - silence.ends_at > SILENCE_RECORD:
                del self.silences[key]
        self.store.put(SILENCES, [s.to_dict() for s in self.silences.values()])
        self.dispatcher.set_silences(self.silences.values())

    # -- loops -----------------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            self._changed.wait(self.tick_s)
            self._changed.clear()
            try:
                self.dispatch_once(self.now())
            except Exception:
                log.exception("alerting dispatch failed; retrying in %.0f s", self.tick_s)

    def dispatch_once(self, now: datetime) -> list[Notice]:
        """Timers, routing, rendering and queueing for ``now``; the notices sent."""
        with self._lock:
            self._record(self.evaluator.tick(now))
            notices = self.dispatcher.tick(now)
            for notice in notices:
                receiver = self.receivers.get(notice.receiver)
                if receiver is None:
                    continue
                contacts = [Contact(c.channel, c.to, receiver.language) for c in receiver.contacts]
                for notification in self.renderer.render_all(notice, contacts):
                    self.outbox.enqueue(notification, now)
            self.store.put(DISPATCH_STATE, self.dispatcher.to_dict())
        if notices:
            self.counts["notices"] += len(notices)
            self._queued.set()
        return notices

    def _delivery_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.outbox.deliver_due(self.now())
            except Exception:
                log.exception("alerting delivery failed; retrying")
            due = self.outbox.next_due_at()
            wait = self.tick_s
            if due is not None:
                wait = max(0.0, min(wait, (due - self.now()) / timedelta(seconds=1)))
            self._queued.wait(wait)
            self._queued.clear()
