"""Shared fixtures: real services, started once per session, isolated per test.

Each external service has one section: a session-scoped fixture that owns the process and a
function-scoped fixture that hands every test its own namespace on it (a database for InfluxDB),
so tests never see each other's data and the suite needs no cleanup between tests.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from farmwatch_core.settings import InfluxSettings, MqttSettings
from support.influxd import InfluxServer, unique_database
from support.mosquitto import start_mosquitto, unique_prefix

from farmwatch.broker import MosquittoProcess

ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to test stale compiled analytics: Python would import them instead of the edits."""
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_native.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        pytest.exit(check.stderr.strip() or "compiled analytics modules are stale", returncode=2)


# --------------------------------------------------------------------------------------------
# InfluxDB


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """A real influxd 1.x for the whole session (see support/influxd.py)."""
    with InfluxServer.launch(tmp_path_factory.mktemp("influxd")) as server:
        yield server


@pytest.fixture
def influx_settings(influxd: InfluxServer) -> Iterator[InfluxSettings]:
    """Settings for a database of this test's own; dropped afterwards to keep influxd small."""
    database = unique_database()
    yield InfluxSettings(url=influxd.url, database=database, timeout_s=10.0)
    if influxd.running:
        # Best effort: the whole data directory is deleted at the end of the session anyway.
        with contextlib.suppress(httpx.HTTPError):
            influxd.query(f'DROP DATABASE "{database}"')


# --------------------------------------------------------------------------------------------
# Paths


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """Where a test's SQLite store lives (the directory exists, the file does not yet)."""
    return tmp_path / "farmwatch.db"


# --------------------------------------------------------------------------------------------
# Mosquitto


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoProcess]:
    """A real mosquitto for the whole session, started from deploy/mosquitto/mosquitto.conf
    (the file docker-compose uses) on a free port. Never the machine's own broker on 1883."""
    if MosquittoProcess.available() is None:
        pytest.fail(
            "mosquitto is not installed: run `make test` (it installs it) or apt install mosquitto"
        )
    broker = start_mosquitto(tmp_path_factory.mktemp("mosquitto"))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mqtt_settings(mosquitto: MosquittoProcess, request: pytest.FixtureRequest) -> MqttSettings:
    """Settings pointing at the session broker with a topic prefix of this test's own."""
    return MqttSettings(url=mosquitto.url, topic_prefix=unique_prefix(request.node.name[:20]))
