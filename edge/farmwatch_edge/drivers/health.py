"""Node health: CPU temperature (a Pi in a sun-baked box throttles, then fails), battery and
Wi-Fi signal strength.

All come from sysfs/procfs files, so the driver needs no privilege and tests use a fake tree.
The battery is read from an ADC exposed by the kernel's IIO subsystem (e.g. an ADS1115 with the
ti-ads1015 overlay), scaled by ``battery_scale`` (volts per raw count times the divider ratio).

RSSI comes from ``/proc/net/wireless`` (the wireless-extensions statistics that cfg80211 keeps
for every Wi-Fi driver, the Pi's brcmfmac included). It is read *where available*: a node on
Ethernet or a 4G router has no such line, and a Wi-Fi link that is down has nothing to measure;
then the reading has no ``rssi`` (not a driver error: the CPU temperature still counts). A
signal that keeps dropping is the usual cause of a far pond's node going offline for hours.
"""

from __future__ import annotations

from farmwatch_edge.config import HealthSensor

# The contract's bounds for rssi (docs/contract.md); anything else is a driver's placeholder.
_RSSI_MIN_DBM = -140.0


def parse_wireless(text: str, interface: str | None = None) -> float | None:
    """The signal level in dBm of ``interface`` (default: the first listed), or None.

    Format: two header lines, then one line per interface with the level in the fourth
    column. Old drivers give an unsigned 8-bit value (200 means -56 dBm); level and link
    quality both 0 means not associated.

    >>> parse_wireless(
    ...     "Inter-| sta-|   Quality        |   Discarded packets     | Missed | WE\\n"
    ...     " face | tus | link level noise |  nwid  crypt   frag  retry | beacon | 22\\n"
    ...     " wlan0: 0000   54.  -56.  -256        0      0      0      0        0\\n"
    ... )
    -56.0
    """
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep or (interface is not None and name.strip() != interface):
            continue
        fields = rest.split()
        try:
            quality, level = float(fields[1].rstrip(".")), float(fields[2].rstrip("."))
        except (IndexError, ValueError):
            return None
        if level > 0:
            level -= 256
        if level == 0 and quality == 0:
            return None
        return level if _RSSI_MIN_DBM <= level < 0 else None
    return None


class HealthDriver:
    def __init__(self, config: HealthSensor) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def quantities(self) -> tuple[str, ...]:
        battery = ("battery_voltage",) if self.config.battery_file else ()
        rssi = ("rssi",) if self.config.wireless_file else ()
        return ("cpu_temperature", *battery, *rssi)

    def read(self) -> dict[str, float]:
        from farmwatch_edge.drivers import DriverError

        try:
            out = {"cpu_temperature": int(self.config.thermal_file.read_text()) / 1000}
            if self.config.battery_file is not None:
                raw = float(self.config.battery_file.read_text())
                out["battery_voltage"] = round(raw * self.config.battery_scale, 3)
        except (OSError, ValueError) as exc:
            raise DriverError(f"health: {exc}") from exc
        rssi = self._rssi()
        if rssi is not None:
            out["rssi"] = rssi
        return out

    def _rssi(self) -> float | None:
        if self.config.wireless_file is None:
            return None
        try:
            text = self.config.wireless_file.read_text()
        except OSError:
            return None  # no wireless extensions: not a Wi-Fi node
        return parse_wireless(text, self.config.wireless_interface)

    def close(self) -> None:
        """Nothing to release."""
