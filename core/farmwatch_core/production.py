"""Refuse to run production on missing or well-known secrets.

A cooperative's server is reachable from the farms' 4G routers; a broker or database left on
``admin``/``changeme`` is found by scanners within hours. So with ``FARMWATCH_ENV=production``
(docker-compose sets it) every service checks, before it connects anywhere, that the secrets
it will use are present, not a known default or example value, and long enough, and stops with
one message naming every problem (never the secret values) and exit code 2.

Why one module: the rules (what counts as a default, the minimum length, which setting needs
which secret) must be the same for ingest, analytics, alerting, the API and the compose
pre-flight; a copy per service would drift. Development (the default) is not checked: ``make
run`` must keep working on embedded defaults.

    >>> problem_with("influx.password", "changeme")
    'influx.password is a known default or example value; generate one (deploy/make-secrets.sh)'
    >>> problem_with("mqtt.password", "kV3q-9aT_wZ2mR7yLp0x") is None
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from farmwatch_core.mqtt_url import parse_mqtt_url
from farmwatch_core.settings import FarmwatchSettings

__all__ = [
    "KNOWN_DEFAULTS",
    "MIN_SECRET_LENGTH",
    "Needs",
    "ProductionConfigError",
    "check_production",
    "problem_with",
    "production_problems",
    "secret_file_problems",
]

MIN_SECRET_LENGTH = 16
"""Generated secrets are 32 characters (deploy/make-secrets.sh) and device passwords 32
(``secrets.token_urlsafe(24)``); 16 still refuses every word a person would type by hand."""

KNOWN_DEFAULTS: frozenset[str] = frozenset(
    {
        # The vendors' and tutorials' defaults for the stack's own parts.
        "admin", "administrator", "root", "password", "passw0rd", "password123", "secret",
        "changeme", "change-me", "change_me", "changeit", "default", "example", "test",
        "farmwatch", "mosquitto", "influxdb", "influx", "grafana", "unused", "token",
        "my-token", "mytoken", "my-super-secret-auth-token", "my-secret-token",
        "supersecret", "12345678", "123456789", "1234567890", "qwerty123",
        # Values that appear in this project's examples and documentation.
        "s3cret", "t0ken", "please-change-me", "replace-me", "generate-me",
    }
)  # fmt: skip
"""Compared case-insensitively after stripping; any secret starting with ``change`` or
``replace`` is refused too (``change-me-please``, ``REPLACE_WITH_TOKEN``)."""

_PLACEHOLDER_PREFIXES = ("change", "replace", "your-", "your_", "<", "xxx")


class ProductionConfigError(RuntimeError):
    """Production start-up refused; the message lists every problem, one per line."""


@dataclass(frozen=True, slots=True)
class Needs:
    """What a service connects to, hence which secrets it must have."""

    mqtt: bool = True
    influx: bool = True


def problem_with(name: str, value: str | SecretStr | None, *, required: bool = True) -> str | None:
    """Why ``value`` is not acceptable as the production secret ``name``, or None if it is."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or not value.strip():
        return f"{name} is missing" if required else None
    text = value.strip()
    lowered = text.lower()
    if lowered in KNOWN_DEFAULTS or lowered.startswith(_PLACEHOLDER_PREFIXES):
        return f"{name} is a known default or example value; generate one (deploy/make-secrets.sh)"
    if len(text) < MIN_SECRET_LENGTH:
        return f"{name} is shorter than {MIN_SECRET_LENGTH} characters"
    return None


def _mqtt_problems(settings: FarmwatchSettings) -> list[str]:
    mqtt = settings.mqtt
    address = parse_mqtt_url(mqtt.url)
    username = mqtt.username or address.username
    password: str | SecretStr | None = mqtt.password or address.password
    problems = []
    if not username:
        problems.append(
            "mqtt.username is missing: the production broker refuses anonymous clients "
            "(farmwatch devices add --service NAME issues an account)"
        )
    problem = problem_with("mqtt.password", password)
    if problem:
        problems.append(problem)
    return problems


def _influx_problems(settings: FarmwatchSettings) -> list[str]:
    influx = settings.influx
    if not influx.url:
        return []  # SQLite in the data directory: nothing to authenticate to
    problems = []
    if influx.token is not None:
        problem = problem_with("influx.token", influx.token)
        if problem:
            problems.append(problem)
    elif influx.username:
        problem = problem_with("influx.password", influx.password)
        if problem:
            problems.append(problem)
    else:
        problems.append(
            "InfluxDB credentials are missing: set influx.token (2.x/3.x) or influx.username "
            "and influx.password (1.x, or a 2.x v1 authorization)"
        )
    if influx.username and influx.username.lower() in {"admin", "root"}:
        problems.append(
            f"influx.username {influx.username!r} is an administrator account; give the "
            "services their own user with access to the farmwatch database only"
        )
    if not influx.verify_tls:
        problems.append("influx.verify_tls is off: production must check InfluxDB's certificate")
    if influx.ca_file is not None and not influx.ca_file.is_file():
        problems.append(f"influx.ca_file {influx.ca_file} does not exist")
    return problems


def production_problems(
    settings: FarmwatchSettings,
    needs: Needs = Needs(),
    extra: Mapping[str, str | SecretStr | None] | None = None,
) -> list[str]:
    """Every reason ``settings`` (plus ``extra`` optional secrets, e.g. an alerting channel's
    token: checked only when set) are unfit for production; empty when they are fine."""
    problems = []
    if needs.mqtt:
        problems += _mqtt_problems(settings)
    if needs.influx:
        problems += _influx_problems(settings)
    for name, value in (extra or {}).items():
        problem = problem_with(name, value, required=False)
        if problem:
            problems.append(problem)
    return problems


def secret_file_problems(folder: Path, names: Iterable[str] | None = None) -> list[str]:
    """The same rules for secret files (compose's ``/run/secrets``): ``names`` must exist and
    be fit; without ``names``, every file in ``folder`` is checked."""
    if not folder.is_dir():
        return [f"secrets folder {folder} does not exist"]
    if names is None:
        names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name[0] != ".")
        if not names:
            return [f"secrets folder {folder} is empty"]
    problems = []
    for name in names:
        path = folder / name
        value = path.read_text(encoding="utf-8") if path.is_file() else None
        problem = problem_with(f"secret file {path}", value)
        if problem:
            problems.append(problem)
    return problems


def check_production(
    settings: FarmwatchSettings,
    service: str,
    needs: Needs = Needs(),
    extra: Mapping[str, str | SecretStr | None] | None = None,
) -> None:
    """In production, raise :class:`ProductionConfigError` unless every secret is fit.

    Call it in a service's start, before connecting to anything. Outside production it does
    nothing.
    """
    if settings.env != "production":
        return
    problems = production_problems(settings, needs, extra)
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ProductionConfigError(
            f"{service} refuses to start in production (FARMWATCH_ENV=production):\n{lines}\n"
            "Secrets come from files in FARMWATCH_SECRETS_DIR (e.g. mqtt__password, "
            "influx__password) or FARMWATCH_* variables; see docs/deploy.md."
        )
