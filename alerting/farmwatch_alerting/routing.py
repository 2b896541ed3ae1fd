"""The routing tree: which receiver hears about an alert, and how its notices are grouped.

This is Alertmanager's ``route`` (``dispatch/route.go``) for farmwatch. A route has matchers,
a receiver and grouping settings; children inherit every setting they leave out. An alert
descends from the root: the *first* child whose matchers match takes it, unless that child
says ``continue: true``, in which case the following siblings are tried too; a route none of
whose children match takes the alert itself. The root matches every alert.

    >>> root = Route.build(RouteConfig.model_validate({
    ...     "receiver": "farmer", "group_by": ["farm"],
    ...     "routes": [{"matchers": ['severity="critical"'], "receiver": "phone",
    ...                 "continue": True},
    ...                {"matchers": ['farm=~"pond-.*"'], "receiver": "pond-team"}]}))
    >>> [r.receiver for r in root.match({"farm": "pond-01", "severity": "critical"})]
    ['phone', 'pond-team']
    >>> [r.receiver for r in root.match({"farm": "barn-01", "severity": "warning"})]
    ['farmer']
    >>> root.routes[0].group_by, root.routes[0].group_key({"farm": "pond-01", "node": "n1"})
    (('farm',), '{}/{severity="critical"}:{farm="pond-01"}')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from farmwatch_alerting.durations import Duration
from farmwatch_alerting.matchers import Matcher, check_matchers, matches_all, parse_matchers

__all__ = ["ALL_LABELS", "DEFAULTS", "Route", "RouteConfig"]

ALL_LABELS = "..."
"""``group_by: ['...']`` groups by every label: one group (one notice) per alert."""


@dataclass(frozen=True, slots=True)
class _Defaults:
    """The root's settings when the config leaves them out: Alertmanager's own defaults
    (https://prometheus.io/docs/alerting/latest/configuration/#route)."""

    group_wait: timedelta = timedelta(seconds=30)
    group_interval: timedelta = timedelta(minutes=5)
    repeat_interval: timedelta = timedelta(hours=4)


DEFAULTS = _Defaults()


class RouteConfig(BaseModel):
    """One node of the tree as written in YAML; ``None`` means "inherit from the parent"."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    receiver: str | None = None
    matchers: tuple[str, ...] = ()
    group_by: tuple[str, ...] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    continue_: bool = Field(default=False, alias="continue")
    routes: tuple[RouteConfig, ...] = ()

    @field_validator("matchers")
    @classmethod
    def _matchers_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_matchers(value)

    @field_validator("group_by")
    @classmethod
    def _group_by_all_alone(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and ALL_LABELS in value and len(value) > 1:
            raise ValueError("'...' (group by all labels) cannot be combined with label names")
        return value

    @field_validator("group_interval", "repeat_interval")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return value


@dataclass(frozen=True, slots=True)
class Route:
    """A route with every inherited setting filled in; build it with :meth:`build`.

    ``id`` names the route by the matchers on its path from the root (as Alertmanager's
    ``Route.Key()``), with a position only where siblings share the same matchers, so group
    keys (and persisted group state) survive adding unrelated routes to the config.
    """

    id: str
    receiver: str
    matchers: tuple[Matcher, ...]
    group_by: tuple[str, ...]  # sorted; ("...",) for all labels; () puts all alerts in one group
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    continue_: bool
    routes: tuple[Route, ...]

    @classmethod
    def build(cls, config: RouteConfig) -> Route:
        """Resolve a config tree from its root, which must name a receiver."""
        if config.receiver is None:
            raise ValueError("the root route needs a receiver")
        return _resolve(config, None, "{}")

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes that take an alert with these labels (empty if this route does not)."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            taken = child.match(labels)
            found.extend(taken)
            if taken and not child.continue_:
                break
        return found or [self]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels that name an alert's group on this route."""
        if self.group_by == (ALL_LABELS,):
            return dict(sorted(labels.items()))
        return {name: labels[name] for name in self.group_by if name in labels}

    def group_key(self, labels: Mapping[str, str]) -> str:
        """Route id plus group labels: one aggregation group, one thread of notices."""
        shown = ",".join(f'{k}="{v}"' for k, v in sorted(self.group_labels(labels).items()))
        return f"{self.id}:{{{shown}}}"

    def walk(self) -> list[Route]:
        """This route and all below it, depth first (for validation and docs)."""
        out = [self]
        for child in self.routes:
            out.extend(child.walk())
        return out


def _resolve(config: RouteConfig, parent: Route | None, route_id: str) -> Route:
    if parent is None:
        receiver = config.receiver or ""
        group_by = config.group_by or ()
        inherited = (DEFAULTS.group_wait, DEFAULTS.group_interval, DEFAULTS.repeat_interval)
    else:
        receiver = config.receiver or parent.receiver
        group_by = parent.group_by if config.group_by is None else config.group_by
        inherited = (parent.group_wait, parent.group_interval, parent.repeat_interval)
    wait, interval, repeat = (
        own if own is not None else default
        for own, default in zip(
            (config.group_wait, config.group_interval, config.repeat_interval),
            inherited,
            strict=True,
        )
    )
    node = Route(
        route_id, receiver, parse_matchers(config.matchers), tuple(sorted(set(group_by))),
        wait, interval, repeat, config.continue_, (),
    )  # fmt: skip
    children = []
    for i, child in enumerate(config.routes):
        canonical = ",".join(str(m) for m in parse_matchers(child.matchers))
        child_id = f"{route_id}/{{{canonical}}}"
        if sum(1 for c in config.routes if c.matchers == child.matchers) > 1:
            child_id += f"/{i}"
        children.append(_resolve(child, node, child_id))
    # The node is frozen; its children need it (for inheritance) before it can hold them.
    object.__setattr__(node, "routes", tuple(children))
    return node
