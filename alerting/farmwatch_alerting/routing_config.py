"""The routing configuration: receivers, the route tree and inhibit rules, from YAML.

Validated once, at start-up, with errors that point at the line to fix
(``AlertingConfigError("route.routes[1].group_wait: ...")``): unknown keys are rejected
(a typo such as ``group_wiat`` must not silently fall back to a default), and so are routes
or escalations naming a receiver that does not exist, and escalation chains that loop.

.. code-block:: yaml

    receivers:
      - name: farmer-an
        contacts: [{channel: zalo, to: "0912345678"}]
        language: vi
        quiet_hours: {time_zone: Asia/Ho_Chi_Minh, ranges: ["21:00-05:30"]}
        escalate_to: technician
        escalate_after: 15m
      - name: technician
        contacts: [{channel: sms, to: "0987654321"}]
    route:
      receiver: farmer-an
      group_by: [farm, alertname]

``inhibit_rules`` left out means :data:`~farmwatch_alerting.inhibit.DEFAULT_INHIBIT_RULES`;
``inhibit_rules: []`` means none.

    >>> try:
    ...     RoutingConfig.from_yaml('''
    ... receivers: [{name: farmer}]
    ... route: {receiver: farmer, routes: [{receiver: nobody}]}
    ... ''')
    ... except AlertingConfigError as exc:
    ...     print(exc)
    route.routes[0].receiver: unknown receiver 'nobody' (receivers: farmer)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from farmwatch_alerting.durations import Duration
from farmwatch_alerting.inhibit import DEFAULT_INHIBIT_RULES, InhibitRule, InhibitRuleConfig
from farmwatch_alerting.quiet_hours import QuietHoursConfig
from farmwatch_alerting.routing import RouteConfig

__all__ = ["AlertingConfigError", "Contact", "ReceiverConfig", "RoutingConfig"]


class AlertingConfigError(ValueError):
    """The alerting configuration is wrong; the message starts with where (``route.routes[1]``)."""


class Contact(BaseModel):
    """How to reach a person: a configured channel's name and an address it understands."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    to: str


class ReceiverConfig(BaseModel):
    """A person or team that notices are addressed to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    contacts: tuple[Contact, ...] = ()
    language: Literal["vi", "en"] = "vi"
    send_resolved: bool = True
    quiet_hours: QuietHoursConfig | None = None
    escalate_to: str | None = None  # the next level, when a critical alert is not acknowledged
    escalate_after: Duration | None = None  # ... within this long of notifying this receiver

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a receiver needs a name")
        return value

    @field_validator("escalate_after")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return value


class RoutingConfig(BaseModel):
    """``receivers``, ``route`` and ``inhibit_rules`` of one deployment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    receivers: tuple[ReceiverConfig, ...]
    route: RouteConfig
    inhibit_rules: tuple[InhibitRuleConfig, ...] | None = None

    # ---- loading

    @classmethod
    def from_mapping(cls, data: Any, where: str = "") -> Self:
        """Validate parsed YAML; ``where`` prefixes error paths when this is part of a file."""
        try:
            config = cls.model_validate(data)
        except ValidationError as exc:
            raise AlertingConfigError(_describe(exc, where)) from None
        problems = config._reference_problems()
        if problems:
            raise AlertingConfigError(
                "; ".join(f"{_join(where, path)}: {msg}" for path, msg in problems)
            )
        return config

    @classmethod
    def from_yaml(cls, text: str, where: str = "") -> Self:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            place = where or "routing config"
            raise AlertingConfigError(f"{place}: not valid YAML: {exc}") from None
        return cls.from_mapping(data, where)

    @classmethod
    def from_file(cls, path: Path | str) -> Self:
        return cls.from_yaml(Path(path).read_text(encoding="utf-8"), where="")

    # ---- views

    def receiver(self, name: str) -> ReceiverConfig:
        return self.receivers_by_name()[name]

    def receivers_by_name(self) -> dict[str, ReceiverConfig]:
        return {r.name: r for r in self.receivers}

    def inhibit(self) -> tuple[InhibitRule, ...]:
        if self.inhibit_rules is None:
            return DEFAULT_INHIBIT_RULES
        return tuple(InhibitRule.from_config(r) for r in self.inhibit_rules)

    # ---- cross-references pydantic cannot see

    def _reference_problems(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        names: dict[str, int] = {}
        for i, receiver in enumerate(self.receivers):
            if receiver.name in names:
                problems.append((f"receivers[{i}].name", f"duplicate receiver {receiver.name!r}"))
            names.setdefault(receiver.name, i)
        known = ", ".join(sorted(names)) or "none"

        def check(path: str, name: str | None) -> None:
            if name is not None and name not in names:
                problems.append((path, f"unknown receiver {name!r} (receivers: {known})"))

        if self.route.receiver is None:
            problems.append(("route.receiver", "the root route needs a receiver"))
        stack: list[tuple[str, RouteConfig]] = [("route", self.route)]
        while stack:
            path, route = stack.pop()
            check(f"{path}.receiver", route.receiver)
            stack.extend((f"{path}.routes[{i}]", c) for i, c in enumerate(route.routes))
        if self.route.matchers:
            problems.append(("route.matchers", "the root route matches every alert: no matchers"))
        for i, receiver in enumerate(self.receivers):
            check(f"receivers[{i}].escalate_to", receiver.escalate_to)
            if (receiver.escalate_to is None) != (receiver.escalate_after is None):
                problems.append((f"receivers[{i}]", "escalate_to and escalate_after go together"))
        problems.extend(self._loops(names))
        return sorted(problems)

    def _loops(self, names: Mapping[str, int]) -> list[tuple[str, str]]:
        nxt = {r.name: r.escalate_to for r in self.receivers}
        out = []
        for name, index in names.items():
            seen = [name]
            step = nxt.get(name)
            while step is not None and step in nxt:
                if step in seen:
                    chain = " → ".join([*seen, step])
                    out.append((f"receivers[{index}].escalate_to", f"escalation loops: {chain}"))
                    break
                seen.append(step)
                step = nxt[step]
        return out


def _join(where: str, path: str) -> str:
    return f"{where}.{path}" if where else path


def _describe(exc: ValidationError, where: str) -> str:
    """Pydantic's errors as ``route.routes[1].group_wait: message`` lines."""
    lines = []
    for error in exc.errors(include_url=False):
        path = where
        for part in error["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            elif part.startswith(("function-", "tagged-union")):
                continue  # pydantic's internal validator steps
            else:
                path = f"{path}.{part}" if path else str(part)
        message = str(error["msg"]).removeprefix("Value error, ")
        if message.startswith("["):  # our validators name the list item: "[1]: bad regex"
            index, _, message = message.partition(": ")
            path += index
        lines.append(f"{path or 'routing config'}: {message}")
    return "; ".join(lines)
