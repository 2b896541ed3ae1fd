"""The persistent outbox: timelines (time is an argument), outages, restarts and kill -9.

Delivery goes through the real webhook channel to a real local HTTP receiver that the test
scripts (503 during an outage, 429 with Retry-After, 400), so what is counted as delivered is
what a receiver actually got.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from farmwatch_alerting.channels import WebhookChannel
from farmwatch_alerting.notification import Channel, DeliveryResult, Notification
from farmwatch_alerting.outbox import Outbox, OutboxBusy, RetryPolicy
from support.waiting import eventually

if TYPE_CHECKING:
    from alerting.conftest import HttpReceiver, NotificationFactory

T0 = datetime(2026, 7, 15, 20, 16, tzinfo=UTC)
NO_JITTER = RetryPolicy(base_delay_s=10, factor=2, max_delay_s=900, jitter=0)


def s(seconds: float) -> datetime:
    """The timeline: T0 + seconds."""
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def hook(http_receiver: HttpReceiver) -> Iterator[WebhookChannel]:
    channel = WebhookChannel("hook", f"{http_receiver.url}/hook", timeout_s=5)
    yield channel
    channel.close()


@pytest.fixture
def outbox(sqlite_path: Path, hook: WebhookChannel) -> Iterator[Outbox]:
    with Outbox(sqlite_path, {"hook": hook}, NO_JITTER) as box:
        yield box


@pytest.fixture
def make(notification_factory: NotificationFactory) -> NotificationFactory:
    """Notifications for the "hook" channel created at T0."""

    def factory(**overrides: object) -> Notification:
        return notification_factory(**{"channel": "hook", "created_at": T0, **overrides})

    return factory


def keys(receiver: HttpReceiver) -> list[str]:
    return [r.headers["idempotency-key"] for r in receiver.requests("/hook")]


def test_enqueue_is_idempotent_and_due_follows_the_clock(
    outbox: Outbox, make: NotificationFactory
) -> None:
    first, second = make(id="a"), make(id="b")
    assert outbox.enqueue(first, now=s(0))
    assert not outbox.enqueue(first, now=s(5))  # the same id again: ignored
    assert outbox.enqueue(second, now=s(10))
    assert outbox.due(s(-1)) == []
    assert [n.id for n in outbox.due(s(0))] == ["a"]
    assert outbox.due(s(10)) == [first, second]  # round-trips every field
    assert outbox.counts().queued == 2
    assert outbox.next_due_at() == s(0)


def test_outage_then_recovery_timeline(
    outbox: Outbox, make: NotificationFactory, http_receiver: HttpReceiver
) -> None:
    notification = make()
    outbox.enqueue(notification)
    http_receiver.respond(503, times=3)
    assert outbox.deliver_due(s(0)).retrying == 1
    assert outbox.deliver_due(s(9)).attempted == 0  # backoff: 10 s
    assert outbox.deliver_due(s(10)).retrying == 1  # then 20 s
    assert outbox.deliver_due(s(29)).attempted == 0
    assert outbox.deliver_due(s(30)).retrying == 1  # then 40 s
    assert outbox.deliver_due(s(70)).sent == 1
    assert outbox.deliver_due(s(10_000)).attempted == 0
    audit = outbox.attempts(notification.id)
    assert [(a.number, a.at, a.outcome, a.retryable) for a in audit] == [
        (1, s(0), "retry", True),
        (2, s(10), "retry", True),
        (3, s(30), "retry", True),
        (4, s(70), "sent", False),
    ]
    assert audit[0].detail.startswith("HTTP 503")
    assert {a.channel for a in audit} == {"hook"}
    counts = outbox.counts()
    assert (counts.queued, counts.sent, counts.failed, counts.attempts, counts.retries) == (
        0, 1, 0, 4, 3,
    )  # fmt: skip
    assert keys(http_receiver) == [notification.id] * 4
    item = outbox.item(notification.id)
    assert item is not None
    assert (item.state, item.attempts, item.done_at) == ("sent", 4, s(70))


def test_an_outage_loses_and_duplicates_nothing(
    outbox: Outbox, make: NotificationFactory, http_receiver: HttpReceiver
) -> None:
    notifications = [make(id=f"n{i:02d}") for i in range(20)]
    for n in notifications:
        outbox.enqueue(n)
    http_receiver.respond(503, times=45)  # the receiver is down for the first 45 requests
    now = T0
    for _ in range(200):
        outbox.deliver_due(now)
        if outbox.counts().queued == 0:
            break
        now += timedelta(seconds=15)
    counts = outbox.counts()
    assert (counts.queued, counts.sent, counts.failed) == (0, 20, 0)
    delivered = keys(http_receiver)[45:]  # what the receiver answered 200 to
    assert sorted(delivered) == [n.id for n in notifications]  # each exactly once
    assert counts.attempts == 45 + 20


def test_retry_after_is_honoured(
    outbox: Outbox, make: NotificationFactory, http_receiver: HttpReceiver
) -> None:
    notification = make()
    outbox.enqueue(notification)
    http_receiver.respond(429, headers={"Retry-After": "300"})
    outbox.deliver_due(s(0))
    item = outbox.item(notification.id)
    assert item is not None
    assert item.next_at == s(300)  # not the 10 s backoff
    assert outbox.deliver_due(s(299)).attempted == 0
    assert outbox.deliver_due(s(300)).sent == 1


def test_a_permanent_failure_stops_at_once_and_says_what_to_do(
    outbox: Outbox,
    make: NotificationFactory,
    http_receiver: HttpReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    notification = make()
    outbox.enqueue(notification)
    http_receiver.respond(400, b'{"error":"unknown contact"}')
    with caplog.at_level(logging.ERROR, logger="farmwatch_alerting.outbox"):
        assert outbox.deliver_due(s(0)).failed == 1
    assert outbox.deliver_due(s(3600)).attempted == 0
    assert [a.outcome for a in outbox.attempts(notification.id)] == ["failed"]
    assert outbox.counts().failed == 1
    (record,) = caplog.records
    assert notification.id in record.getMessage()
    assert "What next" in record.getMessage()
    assert "HTTP 400" in record.getMessage()
    # After fixing the cause, an operator requeues it.
    assert outbox.requeue(notification.id, s(4000))
    assert outbox.deliver_due(s(4000)).sent == 1
    assert [a.outcome for a in outbox.attempts(notification.id)] == ["failed", "sent"]


def test_gives_up_after_max_attempts(
    sqlite_path: Path, hook: WebhookChannel, make: NotificationFactory, http_receiver: HttpReceiver
) -> None:
    http_receiver.default = replace(http_receiver.default, status=503)
    policy = replace(NO_JITTER, max_attempts=3)
    with Outbox(sqlite_path, {"hook": hook}, policy) as outbox:
        notification = make()
        outbox.enqueue(notification)
        for t in (0, 10, 30):
            outbox.deliver_due(s(t))
        assert outbox.deliver_due(s(10_000)).attempted == 0
        item = outbox.item(notification.id)
        assert item is not None
        assert (item.state, item.attempts) == ("failed", 3)
        assert "gave up after 3 attempt(s)" in item.last_detail
        assert outbox.counts().failed == 1


def test_gives_up_at_max_age_with_a_last_try_at_the_deadline(
    sqlite_path: Path, hook: WebhookChannel, make: NotificationFactory, http_receiver: HttpReceiver
) -> None:
    http_receiver.default = replace(http_receiver.default, status=503)
    policy = replace(NO_JITTER, base_delay_s=50, max_age_s=60)
    with Outbox(sqlite_path, {"hook": hook}, policy) as outbox:
        notification = make()
        outbox.enqueue(notification)
        outbox.deliver_due(s(0))  # next at 50
        outbox.deliver_due(s(50))  # backoff says 150, the deadline says 60
        item = outbox.item(notification.id)
        assert item is not None
        assert item.next_at == s(60)
        assert outbox.deliver_due(s(60)).failed == 1
        assert [a.at for a in outbox.attempts(notification.id)] == [s(0), s(50), s(60)]


def test_jitter_spreads_retries() -> None:
    policy = RetryPolicy(base_delay_s=100, jitter=0.2, max_delay_s=1000)
    rng = random.Random(7)
    delays = [policy.delay_s(1, rng) for _ in range(200)]
    assert min(delays) >= 80
    assert max(delays) <= 120
    assert len({round(d, 3) for d in delays}) > 150


def test_an_unknown_channel_fails_with_the_configured_names(
    outbox: Outbox, make: NotificationFactory
) -> None:
    notification = make(channel="zalo")
    outbox.enqueue(notification)
    assert outbox.deliver_due(s(0)).failed == 1
    (attempt,) = outbox.attempts(notification.id)
    assert "no channel named 'zalo'" in attempt.detail
    assert "hook" in attempt.detail


class BuggyChannel:
    """A channel with a bug (it raises, which channels must not): the outbox survives it."""

    name = "buggy"

    def send(self, notification: Notification) -> DeliveryResult:
        raise KeyError(notification.id)


def test_a_channel_that_raises_is_retried_and_does_not_stop_the_others(
    sqlite_path: Path, hook: WebhookChannel, make: NotificationFactory
) -> None:
    channels: dict[str, Channel] = {"hook": hook, "buggy": BuggyChannel()}
    with Outbox(sqlite_path, channels, NO_JITTER) as outbox:
        outbox.enqueue(make(id="bad", channel="buggy"))
        outbox.enqueue(make(id="good"))
        done = outbox.deliver_due(s(0))
        assert (done.retrying, done.sent) == (1, 1)
        assert "channel raised KeyError" in outbox.attempts("bad")[0].detail


def test_nothing_is_lost_across_a_restart(
    sqlite_path: Path, hook: WebhookChannel, make: NotificationFactory, http_receiver: HttpReceiver
) -> None:
    notifications = [make(id=f"r{i}") for i in range(3)]
    with Outbox(sqlite_path, {"hook": hook}, NO_JITTER) as outbox:
        for n in notifications:
            outbox.enqueue(n)
        http_receiver.respond(503)
        outbox.deliver_due(s(0), limit=1)  # one attempt made, then the process stops
    with Outbox(sqlite_path, {"hook": hook}, NO_JITTER) as outbox:
        assert outbox.counts().queued == 3
        assert not outbox.enqueue(notifications[0])  # still known: not queued twice
        outbox.deliver_due(s(0))
        outbox.deliver_due(s(10))
    with Outbox(sqlite_path, {"hook": hook}, NO_JITTER) as outbox:
        counts = outbox.counts()
        assert (counts.queued, counts.sent, counts.attempts, counts.retries) == (0, 3, 4, 1)
    assert Counter(keys(http_receiver)) == {"r0": 2, "r1": 1, "r2": 1}


def test_one_worker_per_outbox(sqlite_path: Path, hook: WebhookChannel) -> None:
    with (
        Outbox(sqlite_path, {"hook": hook}) as first,
        Outbox(sqlite_path, {"hook": hook}) as second,
    ):
        first.deliver_due(T0)
        with pytest.raises(OutboxBusy, match="one worker per outbox"):
            second.deliver_due(T0)


def test_times_must_be_aware(outbox: Outbox, make: NotificationFactory) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        outbox.due(datetime(2026, 7, 15, 20, 16))  # noqa: DTZ001 - the point of the test


CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from pathlib import Path

    from farmwatch_alerting.channels import WebhookChannel
    from farmwatch_alerting.outbox import Outbox

    path, url = Path(sys.argv[1]), sys.argv[2]
    with Outbox(path, {"hook": WebhookChannel("hook", url, timeout_s=30)}) as outbox:
        outbox.deliver_due(datetime.fromisoformat(sys.argv[3]))
    """
)


def test_kill_9_mid_delivery_loses_nothing(
    sqlite_path: Path,
    hook: WebhookChannel,
    make: NotificationFactory,
    http_receiver: HttpReceiver,
    tmp_path: Path,
) -> None:
    notifications = [make(id=f"k{i:02d}") for i in range(8)]
    with Outbox(sqlite_path, {"hook": hook}, NO_JITTER) as outbox:
        for n in notifications:
            outbox.enqueue(n)
    # Two quick answers, then one that takes 30 s: the worker is waiting on the third when it
    # is killed, however slow the machine is.
    http_receiver.respond(200, times=2)
    http_receiver.respond(200, delay_s=30)
    script = tmp_path / "worker.py"
    script.write_text(CHILD)
    worker = subprocess.Popen(
        [sys.executable, str(script), str(sqlite_path), f"{http_receiver.url}/hook", T0.isoformat()]
    )
    try:
        eventually(lambda: len(http_receiver.requests()) >= 3, timeout=30)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(10)
    assert worker.returncode == -signal.SIGKILL
    in_flight = keys(http_receiver)[2]

    with Outbox(sqlite_path, {"hook": hook}, NO_JITTER) as outbox:
        before = outbox.counts()
        assert (before.sent, before.queued) == (2, 6)  # the third's outcome is unknown
        assert outbox.deliver_due(s(1)).sent == 6
        assert outbox.counts().queued == 0
        audit = outbox.attempts(in_flight)
        assert [a.outcome for a in audit] == ["interrupted", "sent"]
        assert "outcome unknown" in audit[0].detail
    received = Counter(keys(http_receiver))
    assert set(received) == {n.id for n in notifications}  # nothing lost
    # At least once: only the attempt cut short by the kill is repeated (receivers drop it
    # by its Idempotency-Key).
    assert {k: c for k, c in received.items() if c > 1} == {in_flight: 2}


def test_one_thread_enqueues_while_another_delivers(
    outbox: Outbox, make: NotificationFactory, http_receiver: HttpReceiver
) -> None:
    """The service shares one outbox between its dispatch and delivery threads."""
    notifications = [make(id=f"t{i:02d}") for i in range(30)]
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            for step in range(400):
                outbox.deliver_due(s(step))
                if outbox.counts().sent == len(notifications):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread below
            errors.append(exc)

    worker = threading.Thread(target=deliver)
    worker.start()
    for n in notifications:
        outbox.enqueue(n)
    worker.join(60)
    assert errors == []
    assert outbox.counts().sent == len(notifications)
    assert sorted(keys(http_receiver)) == [n.id for n in notifications]


def test_a_failing_channel_costs_one_attempt_per_round_and_holds_no_one_else(
    sqlite_path: Path, make: NotificationFactory, http_receiver: HttpReceiver
) -> None:
    down = WebhookChannel("down", f"{http_receiver.url}/down", timeout_s=5)
    up = WebhookChannel("up", f"{http_receiver.url}/up", timeout_s=5)
    http_receiver.handler = lambda request: (503 if request.path == "/down" else 200, b"{}")
    try:
        with Outbox(sqlite_path, {"down": down, "up": up}, NO_JITTER) as outbox:
            for i in range(5):
                outbox.enqueue(make(id=f"d{i}", channel="down"))
                outbox.enqueue(make(id=f"u{i}", channel="up"))
            first = outbox.deliver_due(s(0))
            assert (first.sent, first.retrying, first.held) == (5, 1, 4)
            assert outbox.attempts("d1") == []  # held, not attempted
            item = outbox.item("d1")
            assert item is not None
            assert item.next_at == s(10)  # the policy's base delay
            http_receiver.handler = None  # the channel is back
            assert outbox.deliver_due(s(10)).sent == 5
            assert outbox.counts().sent == 10
    finally:
        down.close()
        up.close()
    assert Counter(r.path for r in http_receiver.requests()) == {"/up": 5, "/down": 6}


def test_a_corrupted_record_fails_instead_of_blocking_the_queue(
    outbox: Outbox, sqlite_path: Path, make: NotificationFactory
) -> None:
    outbox.enqueue(make(id="bad"))
    outbox.enqueue(make(id="good"))
    with sqlite3.connect(sqlite_path) as db:
        db.execute("UPDATE outbox SET body = '{\"id\": 1}' WHERE id = 'bad'")
    db.close()
    done = outbox.deliver_due(s(0))
    assert (done.sent, done.failed) == (1, 1)
    item = outbox.item("bad")
    assert item is not None
    assert item.state == "failed"
    assert "unreadable" in item.last_detail
