"""A simulated sensor, for bench runs, tests and commissioning a node before probes arrive."""

from __future__ import annotations

from farmwatch_edge.config import FakeSensor


class FakeDriver:
    """Returns the configured values; fails with the configured reason if ``fail`` is set."""

    def __init__(self, config: FakeSensor) -> None:
        self.config = config
        self.reads = 0

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def quantities(self) -> tuple[str, ...]:
        return tuple(self.config.values)

    def read(self) -> dict[str, float]:
        from farmwatch_edge.drivers import DriverError

        self.reads += 1
        if self.config.fail is not None:
            raise DriverError(self.config.fail)
        return dict(self.config.values)

    def close(self) -> None:
        """Nothing to release."""
