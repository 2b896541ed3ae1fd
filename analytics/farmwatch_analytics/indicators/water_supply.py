"""Rural clean-water stations: pump failure and a tank running dry, from the station's readings.

Two conditions a village water operator must hear about before the taps run dry, neither of
which one reading shows:

* **pump failure** — the pump is on (``pump_state`` 1) but the flow meter reads (nearly)
  nothing for several minutes: it is running dry, air-locked, its impeller or coupling is
  broken, or a valve is shut. A few minutes, because a pump starting against a closed valve or
  priming shows no flow for a minute, and a pump running dry burns its seal in tens of
  minutes (pump makers' dry-running warnings; farmwatch default 10 min, a profile parameter).
* **tank running dry** — the storage tank is below a level (a profile parameter, 25 % by
  default: about a quarter of a day's demand left in a tank sized for one day's supply) *and
  still falling*: a low tank that the pump is refilling is not news, a low tank that keeps
  emptying is.

The step functions are pure (state in, state out) so they are doctested and serve the
simulator's checks too; :class:`StationIndicators` keeps one node's state between records and
:func:`observe` is the analytics engine's per-record hook. The derived names are registered in
the contract (:data:`farmwatch_core.contract.derived.DERIVED`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, MutableMapping
from datetime import datetime

from farmwatch_analytics.model_profiles import ModelProfile

__all__ = [
    "DEFAULTS",
    "INDICATORS",
    "StationIndicators",
    "observe",
    "pump_no_flow_minutes",
    "tank_level_trend",
    "tank_running_dry",
]

#: The derived values this module computes (a profile lists those it wants).
INDICATORS = ("pump_no_flow_minutes", "pump_failure", "tank_level_trend", "tank_running_dry")

#: Profile parameters and their defaults (farmwatch defaults; override per station).
DEFAULTS: Mapping[str, float] = {
    "pump_min_flow_l_min": 5.0,  # below this the pump delivers "nothing" (meter noise, drips)
    "pump_failure_after_min": 10.0,  # minutes on without flow before it is a failure
    "tank_dry_level_pct": 25.0,  # tank level under which falling means running dry
    "tank_falling_pct_h": 1.0,  # a fall faster than this (%/h) is "falling", not noise
    "tank_trend_window_min": 30.0,  # the trend is the level's change over this window
}
# A gap longer than this between records (node offline) restarts the pump's count: minutes
# nobody saw are not minutes of failure.
MAX_GAP_MIN = 30.0


def pump_no_flow_minutes(
    previous_min: float, dt_min: float, pump_on: bool, flow_l_min: float, min_flow_l_min: float
) -> float:
    """Minutes the pump has been on without delivering water, after a step of ``dt_min``.

    Counts up while the pump is on and the flow stays under ``min_flow_l_min``; any flow or
    the pump switching off resets it to zero.

    >>> m = 0.0
    >>> for flow in (120.0, 0.4, 0.0, 0.3):
    ...     m = pump_no_flow_minutes(m, 5.0, True, flow, 5.0)
    >>> m
    15.0
    >>> pump_no_flow_minutes(m, 5.0, False, 0.0, 5.0), pump_no_flow_minutes(m, 5.0, True, 80.0, 5.0)
    (0.0, 0.0)
    """
    if not pump_on or flow_l_min >= min_flow_l_min:
        return 0.0
    return previous_min + max(0.0, dt_min)


def tank_level_trend(oldest: tuple[float, float], newest: tuple[float, float]) -> float | None:
    """The tank level's change in %/h between two ``(epoch seconds, level %)`` samples.

    ``None`` when they are the same instant (no trend yet).

    >>> tank_level_trend((0.0, 60.0), (1800.0, 55.0))
    -10.0
    >>> tank_level_trend((0.0, 60.0), (0.0, 60.0)) is None
    True
    """
    dt_h = (newest[0] - oldest[0]) / 3600.0
    if dt_h <= 0:
        return None
    return (newest[1] - oldest[1]) / dt_h


def tank_running_dry(
    level_pct: float, trend_pct_h: float | None, dry_level_pct: float, falling_pct_h: float
) -> bool:
    """Whether the tank is below ``dry_level_pct`` and falling faster than ``falling_pct_h``.

    >>> tank_running_dry(18.0, -6.0, 25.0, 1.0)  # low and emptying
    True
    >>> tank_running_dry(18.0, 4.0, 25.0, 1.0), tank_running_dry(60.0, -6.0, 25.0, 1.0)
    (False, False)
    >>> tank_running_dry(18.0, None, 25.0, 1.0)  # no trend yet: do not guess
    False
    """
    return trend_pct_h is not None and level_pct < dry_level_pct and trend_pct_h < -falling_pct_h


class StationIndicators:
    """One station node's pump and tank state between records (picklable, small)."""

    def __init__(self, parameters: Mapping[str, object]) -> None:
        def number(name: str) -> float:
            value = parameters.get(name, DEFAULTS[name])
            return float(value) if isinstance(value, int | float) else DEFAULTS[name]

        self.min_flow = number("pump_min_flow_l_min")
        self.failure_after = number("pump_failure_after_min")
        self.dry_level = number("tank_dry_level_pct")
        self.falling = number("tank_falling_pct_h")
        self.window_s = number("tank_trend_window_min") * 60.0
        self.no_flow_min = 0.0
        self.last_t: float | None = None
        self.levels: deque[tuple[float, float]] = deque()

    def observe(self, ts: datetime, readings: Mapping[str, float]) -> dict[str, float]:
        """This record's pump and tank indicators (only those its readings allow).

        >>> from datetime import UTC, datetime, timedelta
        >>> station = StationIndicators({"pump_failure_after_min": 10})
        >>> t0 = datetime(2026, 7, 1, tzinfo=UTC)
        >>> out = [station.observe(t0 + timedelta(minutes=5 * i),
        ...                        {"pump_state": 1.0, "water_flow": 0.0, "tank_level": 30 - 3 * i})
        ...        for i in range(4)]
        >>> [(o["pump_no_flow_minutes"], o["pump_failure"]) for o in out]
        [(0.0, 0.0), (5.0, 0.0), (10.0, 1.0), (15.0, 1.0)]
        >>> out[-1]["tank_level_trend"], out[-1]["tank_running_dry"]
        (-36.0, 1.0)
        """
        t = ts.timestamp()
        dt_min = 0.0 if self.last_t is None else (t - self.last_t) / 60.0
        self.last_t = t
        out: dict[str, float] = {}
        pump, flow = readings.get("pump_state"), readings.get("water_flow")
        if pump is not None and flow is not None and math.isfinite(flow):
            if dt_min > MAX_GAP_MIN:  # nobody saw those minutes: start counting afresh
                self.no_flow_min, dt_min = 0.0, 0.0
            self.no_flow_min = pump_no_flow_minutes(
                self.no_flow_min, dt_min, pump >= 0.5, flow, self.min_flow
            )
            out["pump_no_flow_minutes"] = min(self.no_flow_min, 10080.0)
            out["pump_failure"] = float(self.no_flow_min >= self.failure_after)
        level = readings.get("tank_level")
        if level is not None and math.isfinite(level):
            levels = self.levels
            if levels and t - levels[-1][0] > MAX_GAP_MIN * 60.0:
                levels.clear()  # a gap: the old level says nothing about the current trend
            levels.append((t, level))
            while len(levels) > 1 and t - levels[1][0] >= self.window_s:
                levels.popleft()
            trend = None
            if t - levels[0][0] >= self.window_s / 2:  # half a window before any trend
                trend = tank_level_trend(levels[0], levels[-1])
            if trend is not None:
                out["tank_level_trend"] = max(-100.0, min(100.0, trend))
            out["tank_running_dry"] = float(
                tank_running_dry(level, trend, self.dry_level, self.falling)
            )
        return out


def observe(
    states: MutableMapping[str, StationIndicators],
    profile: ModelProfile,
    node: str,
    ts: datetime,
    readings: Mapping[str, float],
) -> dict[str, float]:
    """The engine's per-record hook: ``node``'s station indicators, if its profile wants them.

    ``states`` is the engine's per-node store of :class:`StationIndicators` (kept with its
    pickled state). Profiles that list none of :data:`INDICATORS` get nothing.
    """
    wanted = [name for name in INDICATORS if name in profile.indicators]
    if not wanted:
        return {}
    state = states.get(node)
    if state is None:
        state = states[node] = StationIndicators(profile.parameters)
    values = state.observe(ts, readings)
    return {name: values[name] for name in wanted if name in values}
