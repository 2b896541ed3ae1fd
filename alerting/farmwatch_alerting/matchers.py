"""Label matchers, as Alertmanager writes them: ``name="value"``, ``!=``, ``=~``, ``!~``.

Routes, inhibit rules and silences all select alerts the same way, so they share this one
parser. The syntax follows Alertmanager's ``matchers`` lists (one matcher per string; the
value may be double-quoted, with ``\\"`` and ``\\\\`` escapes, or bare). Regular expressions
are *fully* anchored, as in Alertmanager (``farm=~"pond"`` does not match ``pond-01``), and a
label the alert does not carry reads as the empty string, so ``node=""`` means "no node label".

    >>> m = Matcher.parse('farm=~"pond-.*"')
    >>> m.matches({"farm": "pond-01"}), m.matches({"farm": "barn-01"})
    (True, False)
    >>> str(m)
    'farm=~"pond-.*"'
    >>> Matcher.parse("severity!=critical").matches({})
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "MatchType",
    "Matcher",
    "MatcherError",
    "check_matchers",
    "matches_all",
    "parse_matchers",
]

# Prometheus label names: https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels
_LABEL_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_MATCHER = re.compile(rf"\s*({_LABEL_NAME})\s*(=~|!~|!=|=)\s*(.*?)\s*", re.DOTALL)


class MatcherError(ValueError):
    """A matcher string that does not parse (bad name, operator, quoting or regex)."""


class MatchType(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One condition on one label; frozen and hashable so rules can be compared and cached."""

    name: str
    type: MatchType
    value: str
    _regex: re.Pattern[str] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(_LABEL_NAME, self.name):
            raise MatcherError(f"{self.name!r} is not a label name")
        kind = MatchType(self.type)
        object.__setattr__(self, "type", kind)
        if kind in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                object.__setattr__(self, "_regex", re.compile(self.value))
            except re.error as exc:
                raise MatcherError(f"{self}: bad regex: {exc}") from exc

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Parse ``name<op>value``; the value is quoted (``"..."``) or bare."""
        found = _MATCHER.fullmatch(text)
        if found is None:
            raise MatcherError(
                f"{text!r} is not a matcher: expected name=value, name!=value, "
                'name=~"regex" or name!~"regex"'
            )
        name, op, raw = found.groups()
        return cls(name, MatchType(op), _unquote(raw, text))

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.type is MatchType.EQUAL:
            return value == self.value
        if self.type is MatchType.NOT_EQUAL:
            return value != self.value
        if self._regex is None:  # __post_init__ compiles it for both regex kinds
            raise RuntimeError("unreachable: a regex matcher without its regex")
        found = self._regex.fullmatch(value) is not None
        return found if self.type is MatchType.REGEX else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.type.value}"{escaped}"'


def _unquote(raw: str, text: str) -> str:
    if not raw.startswith('"'):
        if '"' in raw:
            raise MatcherError(f"{text!r}: a bare value cannot contain a double quote")
        return raw
    if len(raw) < 2 or not raw.endswith('"'):
        raise MatcherError(f"{text!r}: unterminated quoted value")
    out: list[str] = []
    body = raw[1:-1]
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            if i + 1 == len(body):
                raise MatcherError(f"{text!r}: dangling backslash")
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
            continue
        if char == '"':
            raise MatcherError(f"{text!r}: unescaped double quote inside the value")
        out.append(char)
        i += 1
    return "".join(out)


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    """Parse a ``matchers:`` list; the first bad one raises, naming itself."""
    return tuple(Matcher.parse(text) for text in texts)


def check_matchers(texts: tuple[str, ...]) -> tuple[str, ...]:
    """A config validator: every matcher parses; the error names its index (``[1]: ...``)."""
    for i, text in enumerate(texts):
        try:
            Matcher.parse(text)
        except ValueError as exc:
            raise ValueError(f"[{i}]: {exc}") from exc
    return texts


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches (so an empty list matches everything, as in Alertmanager)."""
    return all(m.matches(labels) for m in matchers)
