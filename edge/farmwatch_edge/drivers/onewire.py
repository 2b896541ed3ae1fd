"""DS18B20 waterproof temperature probes through the Linux 1-Wire sysfs interface (w1-therm).

With ``dtoverlay=w1-gpio`` in /boot/config.txt the kernel exposes each probe as
``/sys/bus/w1/devices/28-xxxxxxxxxxxx/w1_slave``, two lines such as::

    72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
    72 01 4b 46 7f ff 0e 10 57 t=23125

Two failure modes are common on long pond cables and are refused, not stored: a CRC error
(``NO`` on the first line: electrical noise) and exactly 85.000 °C, the power-on reset value
the chip returns when it lost power during conversion (a loose wire) — a pond is never 85 °C.
"""

from __future__ import annotations

from pathlib import Path

from farmwatch_edge.config import DS18B20Sensor

POWER_ON_RESET_MILLIDEGREES = 85_000


def parse_w1_slave(text: str) -> float:
    """Degrees Celsius from a w1_slave file, or ValueError with the reason.

    >>> parse_w1_slave("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\\n72 01 4b 46 7f ff 0e 10 57 t=23125\\n")
    23.125
    """  # noqa: E501 - the file's real line
    lines = text.strip().splitlines()
    if len(lines) < 2:
        raise ValueError("w1_slave is incomplete (probe disconnected?)")
    if not lines[0].rstrip().endswith("YES"):
        raise ValueError("CRC check failed (noise on the 1-Wire line; check the pull-up)")
    _, sep, raw = lines[1].rpartition("t=")
    if not sep:
        raise ValueError("w1_slave has no t= value")
    try:
        millidegrees = int(raw.strip())
    except ValueError:
        raise ValueError(f"w1_slave has a bad t= value {raw.strip()[:20]!r}") from None
    if millidegrees == POWER_ON_RESET_MILLIDEGREES:
        raise ValueError("85 °C power-on reset value (the probe lost power; check wiring)")
    return millidegrees / 1000


class DS18B20Driver:
    """Reads every configured probe (or the first one found) in one call."""

    def __init__(self, config: DS18B20Sensor) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def quantities(self) -> tuple[str, ...]:
        return tuple(self.config.devices.values()) or ("water_temperature",)

    def _devices(self) -> dict[str, str]:
        from farmwatch_edge.drivers import DriverError

        if self.config.devices:
            return self.config.devices
        found = sorted(self.config.sysfs_root.glob("28-*"))
        if not found:
            raise DriverError(
                f"no DS18B20 under {self.config.sysfs_root} (is dtoverlay=w1-gpio set?)"
            )
        return {found[0].name: "water_temperature"}

    def read(self) -> dict[str, float]:
        from farmwatch_edge.drivers import DriverError

        out: dict[str, float] = {}
        errors: list[str] = []
        for device, quantity in self._devices().items():
            path: Path = self.config.sysfs_root / device / "w1_slave"
            try:
                out[quantity] = parse_w1_slave(path.read_text())
            except FileNotFoundError:
                errors.append(f"{device}: not found (probe unplugged?)")
            except (OSError, ValueError) as exc:
                errors.append(f"{device}: {exc}")
        if errors:
            # A partial result would hide a broken probe behind a working one: report it.
            raise DriverError("; ".join(errors))
        return out

    def close(self) -> None:
        """Nothing to release: every read opens and closes the sysfs file."""
