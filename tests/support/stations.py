"""What the clean-water and effluent station scenarios must raise, shared by the offline test
(engine → evaluator in one process) and the end-to-end one (real mosquitto and services).

Each process event of the named scenarios maps to the alerts (default rule names from the
profiles' limits, node) it must cause, and each must start inside the event's window (plus
``LAG`` for the tank to drain or the chlorine to decay after the window closes). Nothing else
may fire: not on the control farm, not on the clean stretches between events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from farmwatch_simulators.faults import EventKind
from farmwatch_simulators.scenarios import Scenario

#: The alerts each event must raise on the node it hits.
EXPECTED: dict[EventKind, frozenset[str]] = {
    EventKind.CHLORINE_DOSING_FAILURE: frozenset(
        {"FreeChlorineLowWarning", "FreeChlorineLowCritical"}
    ),
    EventKind.TURBIDITY_SPIKE: frozenset({"TurbidityHighWarning"}),
    EventKind.PUMP_FAILURE: frozenset({"PumpFailureHighCritical"}),
    EventKind.TANK_DRY: frozenset({"TankRunningDryHighWarning", "TankLevelLowCritical"}),
    EventKind.EFFLUENT_OVERLOAD: frozenset({"CodHighWarning", "AmmoniumHighWarning"}),
}
LAG = timedelta(hours=1)

Fired = tuple[str, str, datetime]  # (rule name, node, when it started)


def check_fired(scenario: Scenario, fired: Iterable[Fired], shift: timedelta) -> None:
    """Exactly the expected alerts, each inside its event's (shifted) window."""
    fired = list(fired)
    wanted: dict[tuple[str, str], tuple[datetime, datetime]] = {}
    for event in scenario.events:
        for _farm, node in event.forcings:
            for name in EXPECTED[event.kind]:
                wanted[(name, node)] = (event.start + shift, event.end + shift + LAG)
    got = {(name, node) for name, node, _ in fired}
    assert got == set(wanted), (
        f"missing {sorted(set(wanted) - got)}, unexpected {sorted(got - set(wanted))}"
    )
    for name, node, started in fired:
        start, end = wanted[(name, node)]
        assert start <= started <= end, (name, node, started, start, end)
