"""Node health: CPU temperature (a Pi in a sun-baked box throttles, then fails) and battery.

Both come from sysfs files, so the driver needs no privilege and tests use a fake tree. The
battery is read from an ADC exposed by the kernel's IIO subsystem (e.g. an ADS1115 with the
ti-ads1015 overlay), scaled by ``battery_scale`` (volts per raw count times the divider ratio).
"""

from __future__ import annotations

from farmwatch_edge.config import HealthSensor


class HealthDriver:
    def __init__(self, config: HealthSensor) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def quantities(self) -> tuple[str, ...]:
        extra = ("battery_voltage",) if self.config.battery_file else ()
        return ("cpu_temperature", *extra)

    def read(self) -> dict[str, float]:
        from farmwatch_edge.drivers import DriverError

        try:
            out = {"cpu_temperature": int(self.config.thermal_file.read_text()) / 1000}
            if self.config.battery_file is not None:
                raw = float(self.config.battery_file.read_text())
                out["battery_voltage"] = round(raw * self.config.battery_scale, 3)
        except (OSError, ValueError) as exc:
            raise DriverError(f"health: {exc}") from exc
        return out

    def close(self) -> None:
        """Nothing to release."""
