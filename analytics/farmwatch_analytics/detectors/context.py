"""Context novelty: has this *sequence* of coarse levels (at this time of day) been seen before?

The level and change views ask "is this reading rare?". A change of *shape* at normal levels
(a daily cycle that stays flat for an afternoon, a weekly pattern that skips a day) passes them:
every reading is ordinary, only the order is new. Smirnov's Contextual Anomaly Detector
(CAD OSE, NAB standard 69.9; M. Smirnov, https://github.com/smirmik/CAD, the ``context_ose``
detector of NAB) looks at exactly that: it codes each reading as a few coarse bits, remembers
the contexts "these facts were followed by those", and scores the fraction of the current
contexts it has never seen.

This is our own, smaller take on that idea (no code is taken from CAD, which is AGPL): each
reading becomes one of ``levels`` coarse symbols, and for every order ``k = 1..max_order`` the
context "last ``k`` symbols -> this symbol" is looked up in a memory of past contexts. The
score is the fraction of orders whose context is new. A never-seen step between two levels
(order 1) is rare and counts as much as a never-seen run of seven.

With ``period`` set, every context also carries the reading's time bucket (hour of the day with
the defaults the ensemble uses), and order 0 ("this level at this hour") is counted too: a
reading that is ordinary for the series but was never seen at this hour — the busy-hour level
in the middle of the night, a holiday's flat morning — is new. Numenta's HTM detector on NAB
encodes the time of day for the same reason.

Two choices differ from CAD because CAD reads the whole file first: the symbol scale is fixed
from the first ``scale_after`` readings (CAD divides the file's full min-max range; ours must
be causal), and the memory is bounded (least recently seen contexts are forgotten beyond
``memory``; CAD's grows without limit).
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque

from farmwatch_analytics.detectors.base import NEUTRAL_SCORE

__all__ = ["ContextNovelty"]

#: Levels beyond this many widths from the scale's minimum are all the same level.
_FAR = 10**9


class ContextNovelty:
    """Fraction of the contexts ``(last k symbols -> this symbol)`` never seen before.

    ``levels``: coarse symbols across the range of the first ``scale_after`` readings (8, the 3
    bits of CAD OSE); readings beyond that range get symbols of their own, of the same width.
    ``max_order``: the longest context (7, CAD OSE's longest left semi-context). ``memory``:
    how many contexts are remembered (least recently seen forgotten first; the busiest NAB
    series, 16,000 tweet counts, needs 34,000). ``period`` (seconds) and ``buckets``: when a
    period is given, each context carries the bucket of ``t`` within it and order 0 counts.

    >>> from farmwatch_analytics.detectors.base import score_stream
    >>> cycle = [0.0, 1.0, 2.0, 3.0, 2.0, 1.0] * 100
    >>> scores = score_stream(ContextNovelty(scale_after=30), [*cycle, 3.0, 3.0, 3.0])
    >>> max(scores[100:600]), scores[-2] > 0.5
    (0.0, True)

    Busy from 08:00 to 18:00 for a month, then busy at 03:00: every step has been seen before,
    only not at this hour.

    >>> hours = range(30 * 24 + 3)  # up to 02:00 of day 31
    >>> busy = [1.0 if 8 <= h % 24 < 18 else 0.0 for h in hours]
    >>> plain, daily = ContextNovelty(scale_after=24), ContextNovelty(scale_after=24, period=86400)
    >>> for x, h in zip(busy, hours):
    ...     plain.learn_one(x, h * 3600.0)
    ...     daily.learn_one(x, h * 3600.0)
    >>> plain.score_one(1.0, 723 * 3600.0), daily.score_one(1.0, 723 * 3600.0)
    (0.0, 1.0)
    """

    def __init__(
        self,
        *,
        levels: int = 8,
        max_order: int = 7,
        memory: int = 50_000,
        scale_after: int = 300,
        period: float | None = None,
        buckets: int = 24,
    ) -> None:
        self.levels = levels
        self.max_order = max_order
        self.memory = memory
        self.scale_after = scale_after
        self.period = period
        self.buckets = buckets
        self._state: _State | None = None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"ContextNovelty({args})"

    def score_one(self, x: float, t: float | None = None) -> float:
        state = self._state
        if state is None or state.width is None:
            return NEUTRAL_SCORE
        keys = state.keys(state.symbol(x, state.width), t)
        if not keys:
            return NEUTRAL_SCORE
        seen = state.contexts
        return sum(1 for key in keys if key not in seen) / state.orders

    def learn_one(self, x: float, t: float | None = None) -> None:
        if self._state is None:
            self._state = _State(self)
        self._state.learn(x, t)


class _State:
    def __init__(self, p: ContextNovelty) -> None:
        self.p = p
        self.lo = math.inf
        self.hi = -math.inf
        self.seen = 0
        self.width: float | None = None
        # The readings that set the scale, learned as contexts once it is set: so the memory is
        # not empty, and not every context new, on the first reading scored.
        self.start: deque[tuple[float, float | None]] = deque(maxlen=p.scale_after)
        self.history: deque[int] = deque(maxlen=p.max_order)
        self.contexts: OrderedDict[tuple[int, ...], None] = OrderedDict()
        self.orders = p.max_order + (p.period is not None)

    def symbol(self, x: float, width: float) -> int:
        """The coarse level of ``x``; absurd readings (±1e300, NaN) share one extreme symbol."""
        level = (x - self.lo) / width
        return math.floor(max(-_FAR, min(_FAR, level))) if math.isfinite(level) else -_FAR

    def keys(self, symbol: int, t: float | None) -> list[tuple[int, ...]]:
        past = tuple(self.history)
        period = self.p.period
        if period is None:
            return [(*past[len(past) - k :], symbol) for k in range(1, len(past) + 1)]
        bucket = (
            -1 if t is None or not math.isfinite(t) else int(t % period / period * self.p.buckets)
        )
        return [(bucket, *past[len(past) - k :], symbol) for k in range(len(past) + 1)]

    def learn(self, x: float, t: float | None) -> None:
        p = self.p
        if self.width is None:
            if math.isfinite(x):
                self.lo = min(self.lo, x)
                self.hi = max(self.hi, x)
            self.seen += 1
            self.start.append((x, t))
            # A constant start gives no scale: wait until the readings vary.
            if self.seen >= p.scale_after and self.hi > self.lo:
                self.width = (self.hi - self.lo) / p.levels
                for past_x, past_t in self.start:
                    self.remember(past_x, past_t, self.width)
                self.start.clear()
            return
        self.remember(x, t, self.width)

    def remember(self, x: float, t: float | None, width: float) -> None:
        p = self.p
        symbol = self.symbol(x, width)
        contexts = self.contexts
        for key in self.keys(symbol, t):
            if key in contexts:
                contexts.move_to_end(key)
            else:
                contexts[key] = None
                if len(contexts) > p.memory:
                    contexts.popitem(last=False)
        self.history.append(symbol)
