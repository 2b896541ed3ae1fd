"""A relay that only remembers its state, with a history for tests and commissioning."""

from __future__ import annotations

import time
from collections.abc import Callable


class FakeRelay:
    """Records every switch as ``(time, on)``; ``fail`` makes ``set`` raise (a dead relay).

    >>> relay = FakeRelay("aerator", now=lambda: 5.0)
    >>> relay.set(True)
    >>> relay.state, relay.history
    (True, [(5.0, True)])
    """

    def __init__(
        self, name: str, *, state: bool = False, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._name = name
        self._state = state
        self.now = now
        self.history: list[tuple[float, bool]] = []
        self.fail: str | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def state(self) -> bool:
        return self._state

    def set(self, on: bool) -> None:
        from farmwatch_edge.actuators import ActuatorError

        if self.fail is not None:
            raise ActuatorError(self.fail)
        self._state = on
        self.history.append((self.now(), on))

    def close(self) -> None:
        """Nothing to release."""
