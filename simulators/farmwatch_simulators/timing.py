"""When a simulated node stamps its records: reporting jitter, clock skew, unsynchronised clocks.

Real nodes do not report on a perfect grid. A Raspberry Pi's loop wakes a little early or
late (``jitter``), its clock is off by seconds when NTP is slow or absent (``clock_skew``), and
a Pi without a real-time clock boots with a wrong clock until NTP fixes it (the
``clock_unsynced`` fault). Ingest and analytics must cope with all three, so the simulator
produces them, reproducibly from the scenario's seed.

The *physics* is still sampled on the node's schedule (the models integrate on a regular
grid; a reading taken two seconds later differs by far less than the sensor's resolution).
Only the timestamp the node writes moves:

* synced: ``scheduled + skew + jitter``, in whole milliseconds (the wire's resolution). Jitter
  is Gaussian with the scenario's SD, capped at 45 % of the interval so a node's stamps stay
  strictly increasing whatever the draw. Both are pure functions of (seed, node, scheduled
  time), so the labels, computed on the schedule, can be mapped to stamps afterwards.
* unsynchronised: the stamp the real edge agent writes (the rule of
  :class:`farmwatch_edge.clock.Stamper`): ``max(wrong wall clock, last stamp + 1 ms)`` with
  ``synced=false``. A clock that restarts behind the truth (at the Unix epoch, or at
  fake-hwclock's last saved time) therefore gives stamps just after the node's last good one,
  1 ms apart; with no earlier record they are the wrong wall clock itself (1970), which ingest
  refuses as too old. Once the episode ends the clock is right again and stamps continue from
  the true time.

>>> from datetime import UTC, datetime, timedelta
>>> clock = NodeClock(1, "pond-01-n1", timedelta(minutes=5), NodeBehaviour())
>>> t = datetime(2026, 7, 1, tzinfo=UTC)
>>> clock.stamp(t) == (t, True)  # no behaviour: the schedule itself
True
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from farmwatch_simulators.faults import FaultKind, Label, SensorFault

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)
#: Jitter is capped at this fraction of the interval: two neighbours then never swap order.
JITTER_CAP = 0.45
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class NodeBehaviour:
    """A scenario's node timing (``nodes:`` in the YAML); zero means a perfect clock."""

    jitter: timedelta = timedelta(0)  # SD of the stamp around the schedule
    clock_skew: timedelta = timedelta(0)  # each node's constant offset is drawn in ±this

    @property
    def is_perfect(self) -> bool:
        return not self.jitter and not self.clock_skew


PERFECT_CLOCK = NodeBehaviour()
"""No jitter, no skew: every record stamped on its schedule (the default)."""


def _splitmix64(x: int) -> int:
    """A 64-bit mixing function (Steele, Lea & Flood 2014, "Fast splittable PRNGs")."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _unit(bits: int) -> float:
    """A 64-bit integer as a uniform float in (0, 1)."""
    return ((bits >> 11) + 0.5) / float(1 << 53)


class NodeClock:
    """One node's stamps, in record order; see the module docstring.

    ``unsynced`` are the node's ``clock_unsynced`` faults (none in a clean reference run).
    :meth:`stamp` is stateful (the edge's stamper remembers its last stamp) and must be called
    in time order, once per record sent; :meth:`label_time` maps a scheduled time to the stamp
    its record carries, for labels.
    """

    def __init__(
        self,
        seed: int,
        name: str,
        interval: timedelta,
        behaviour: NodeBehaviour,
        unsynced: Sequence[SensorFault] = (),
    ) -> None:
        self.behaviour = behaviour
        self.unsynced = tuple(f for f in unsynced if f.kind is FaultKind.CLOCK_UNSYNCED)
        rng = random.Random(f"farmwatch-timing/{seed}/{name}")
        skew_s = behaviour.clock_skew.total_seconds()
        self.skew = timedelta(milliseconds=round(rng.uniform(-skew_s, skew_s) * 1000.0))
        self._key = rng.getrandbits(64)
        self._jitter_s = behaviour.jitter.total_seconds()
        self._cap_s = JITTER_CAP * interval.total_seconds()
        self._perfect = behaviour.is_perfect and not self.unsynced
        self._last: datetime | None = None
        self._wrong_stamps: dict[datetime, datetime] = {}

    def jitter(self, ts: datetime) -> timedelta:
        """The jitter of the record scheduled at ``ts`` (whole milliseconds, within the cap)."""
        if not self._jitter_s:
            return timedelta(0)
        ms = round(ts.timestamp() * 1000.0)
        a = _splitmix64(self._key ^ ms)
        b = _splitmix64(a)
        # Box-Muller: one standard normal from two uniforms.
        z = math.sqrt(-2.0 * math.log(_unit(a))) * math.cos(2.0 * math.pi * _unit(b))
        seconds = max(-self._cap_s, min(self._cap_s, z * self._jitter_s))
        return timedelta(milliseconds=round(seconds * 1000.0))

    def synced_stamp(self, ts: datetime) -> datetime:
        """What a node with a right (but skewed) clock stamps the record scheduled at ``ts``."""
        if self._perfect:
            return ts
        return ts + self.skew + self.jitter(ts)

    def _episode(self, ts: datetime) -> SensorFault | None:
        for fault in self.unsynced:
            if fault.covers(ts):
                return fault
        return None

    def stamp(self, ts: datetime) -> tuple[datetime, bool]:
        """(timestamp, synced) of the record scheduled at ``ts``; call in time order."""
        if self._perfect:
            return ts, True
        episode = self._episode(ts) if self.unsynced else None
        if episode is None:
            stamp, synced = self.synced_stamp(ts), True
        else:
            offset = episode.offset if episode.offset is not None else UNIX_EPOCH - episode.start
            stamp, synced = ts + offset, False
        # The edge's Stamper rule (farmwatch_edge.clock.Stamper): never at or before the last.
        last = self._last
        if last is not None and stamp <= last:
            stamp = last + MILLISECOND
        self._last = stamp
        if not synced:
            self._wrong_stamps[ts] = stamp
        return stamp, synced

    def label_time(self, ts: datetime) -> datetime:
        """The stamp of the record scheduled at ``ts`` (as sent, or as it would have been)."""
        wrong = self._wrong_stamps.get(ts)
        return wrong if wrong is not None else self.synced_stamp(ts)


def stamp_labels(
    labels: Iterable[Label], clocks: Mapping[tuple[str, str], NodeClock]
) -> list[Label]:
    """Labels computed on the schedule, moved to the stamps the records carry.

    A label's span names the first and last affected *records*; with jitter and skew their
    timestamps are not the scheduled instants, so each end is mapped through its node's clock.
    A ``clock_unsynced`` label stays on the true time: its records' stamps are the wrong ones,
    and "when was this node's clock wrong" is what the label answers (``seq`` finds them).
    """
    out: list[Label] = []
    for label in labels:
        clock = clocks.get((label.farm_id, label.node_id))
        if clock is None or label.kind == FaultKind.CLOCK_UNSYNCED:
            out.append(label)
            continue
        out.append(
            replace(label, start=clock.label_time(label.start), end=clock.label_time(label.end))
        )
    return out
