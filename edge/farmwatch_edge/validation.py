"""Validating the agent's configuration documents with msgspec, and saying what is wrong.

Why msgspec and not pydantic (which the server uses): the agent runs on a Pi Zero 2 W with
512 MB, and pydantic, pydantic-core and what only they import cost ≈ 10 MB of resident memory
in the agent against ≈ 1.7 MB for msgspec and every model (measured, docs/edge.md "Benchmark
and memory"). The models are :class:`Strict` structs: keyword-only, unknown keys refused.

:func:`validate` is the one way in. It converts plain data (a YAML or JSON document) into a
model, checks every constraint and each model's ``__post_init__``, and raises
:class:`InvalidConfig` with one line per problem located by its path, e.g.
``sensors[2].interval_s: must be > 0`` — a message a technician can act on and a retained
MQTT status can carry. Like pydantic's lax mode, numbers given as strings are accepted.

>>> validate(dict[str, float], {"interval_s": "30"})
{'interval_s': 30.0}

See :mod:`farmwatch_edge.config` for the models and examples of refusals.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from msgspec import Meta

__all__ = [
    "InvalidConfig",
    "Meta",
    "Secret",
    "Strict",
    "field_error",
    "validate",
]

T = TypeVar("T")


class Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every configuration model: unknown keys are errors (a misspelt key must not be
    a silently ignored setting). Subclasses say ``kw_only=True`` too (msgspec applies it to the
    fields a class defines), so required fields may follow defaults."""


class InvalidConfig(ValueError):
    """A document does not validate: ``where`` (a path such as ``sensors[2].interval_s``,
    empty for the whole document) and ``reason``; the message is both, on one line.

    >>> str(InvalidConfig("must be > 0", "interval_s").within("sensors.probe"))
    'sensors.probe.interval_s: must be > 0'
    """

    def __init__(self, reason: str, where: str = "") -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.reason = reason
        self.where = where

    def within(self, outer: str) -> InvalidConfig:
        """The same problem seen from a document that holds this one at ``outer``."""
        return InvalidConfig(self.reason, _join(outer, self.where))


def _join(outer: str, inner: str) -> str:
    if not outer or not inner:
        return outer or inner
    return f"{outer}{inner}" if inner.startswith("[") else f"{outer}.{inner}"


class Secret:
    """A string that does not show itself in ``repr`` or logs (a broker password).

    >>> Secret("s3cret")
    Secret('**********')
    >>> Secret("s3cret").get_secret_value()
    's3cret'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def field_error(field: str, message: str) -> ValueError:
    """The error a ``__post_init__`` raises about one of its fields, so that :func:`validate`
    locates it at that field (``sensors[0].name: ...``) rather than at the model."""
    return ValueError(f"{field}: {message}")


def validate(model: type[T], data: object) -> T:
    """``data`` as a ``model``, or :class:`InvalidConfig` saying where and what is wrong.

    Instances of a model inside ``data`` are taken as they are (their ``__post_init__`` ran
    when they were built), so a test can mix models and plain dicts.
    """
    try:
        return msgspec.convert(data, model, strict=False, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise InvalidConfig(*_explained(exc, model, data)) from None


def _dec_hook(kind: type, value: Any) -> Any:
    """The two value types msgspec does not know: paths and secrets, both from strings."""
    if kind is Path:
        if isinstance(value, str | Path):
            return Path(value)
        raise ValueError(f"Expected a path, got `{type(value).__name__}`")
    if kind is Secret:
        if isinstance(value, str):
            return Secret(value)
        if isinstance(value, Secret):
            return value
        raise ValueError(f"Expected `str`, got `{type(value).__name__}`")
    raise NotImplementedError(f"{kind!r} is not a configuration type")  # pragma: no cover


# msgspec's messages end with " - at `$.path`" (nothing for the root); see msgspec's
# src/msgspec/_core.c, ms_raise_validation_error and the "Expected ..." formats.
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD = re.compile(r"^(?P<field>[A-Za-z_]\w*): (?P<message>.*)$", re.DOTALL)
_BOUND = re.compile(r"^Expected `[^`]+` (?P<op>>=|<=|>|<) (?P<limit>\S+)$")
_LENGTH = re.compile(r"^Expected `(?P<kind>[^`]+)` of length (?P<op>>=|<=) (?P<limit>\d+)$")
_TYPE = re.compile(r"^Expected `(?P<expected>[^`]+)`, got `(?P<got>[^`]+)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")
_VALUE = re.compile(r"^Invalid (?:enum )?value (?P<value>.*)$")
_NAMES = {"array": "list", "object": "mapping", "str": "text", "float": "number"}


def explain(exc: msgspec.ValidationError) -> str:
    """msgspec's error as ``path: what is wrong``, in words a technician reads.

    >>> try:
    ...     msgspec.convert([[1, 0.5]], list[list[int]])
    ... except msgspec.ValidationError as exc:
    ...     print(explain(exc))
    [0][1]: expected integer, got number
    """
    return str(InvalidConfig(*_explained(exc)))


def _explained(
    exc: msgspec.ValidationError, model: object = None, data: object = None
) -> tuple[str, str]:
    """(reason, where) of a msgspec error; with the ``model``, a value outside a fixed set
    also says which values are allowed."""
    found = _AT.match(str(exc))
    if found is None:  # pragma: no cover - the pattern matches any text
        return str(exc), ""
    message, path = found["message"], (found["path"] or "").removeprefix(".")
    for pattern in (_UNKNOWN, _MISSING, _FIELD):
        named = pattern.match(message)
        if named:
            path = _join(path, named["field"])
            if pattern is _UNKNOWN:
                message = "unknown key (not allowed here)"
            elif pattern is _MISSING:
                message = "required"
            else:
                message = named["message"]
            break
    reason = _reword(message)
    if model is not None and _VALUE.match(message):
        allowed = _allowed(model, path, data)
        if allowed:
            # I2C addresses are written in hex on datasheets and by i2cdetect.
            shown = (hex(v) if path.endswith("address") else repr(v) for v in allowed)
            reason += f" (one of {', '.join(shown)})"
    return reason, path


def _allowed(model: object, path: str, data: object) -> list[Any] | None:
    """The values a ``Literal`` (or enum, or a union's ``driver`` tag) at ``path`` of
    ``model`` accepts; None if the path cannot be followed (best effort, for messages).
    ``data`` (the document) picks the member of a tagged union, e.g. which sensor model."""
    from msgspec import inspect

    kinds: list[Any] = [inspect.type_info(model)]
    for step in re.findall(r"\[[^\]]*\]|[^.\[]+", path):
        kinds = _members(kinds)
        tagged = [k for k in kinds if isinstance(k, inspect.StructType) and k.tag_field]
        if len(tagged) > 1 and isinstance(data, dict):
            tag = data.get(tagged[0].tag_field)
            kinds = [k for k in kinds if k not in tagged or k.tag == tag] or kinds
        data = _step_into(data, step)
        following: list[Any] = []
        for kind in kinds:
            if step.startswith("["):
                if isinstance(kind, inspect.ListType | inspect.SetType | inspect.FrozenSetType):
                    following.append(kind.item_type)
                elif isinstance(kind, inspect.DictType):
                    following.append(kind.value_type)
            elif isinstance(kind, inspect.StructType):
                if kind.tag_field == step and kind.tag is not None:
                    following.append(inspect.LiteralType((kind.tag,)))
                following += [f.type for f in kind.fields if f.encode_name == step]
        kinds = following
    values: list[Any] = []
    for kind in _members(kinds):
        if isinstance(kind, inspect.LiteralType):
            values += [v for v in kind.values if v not in values]
        elif isinstance(kind, inspect.EnumType):
            values += [m.value for m in kind.cls if m.value not in values]
    return values or None


def _step_into(data: object, step: str) -> object:
    if step.startswith("["):
        index = step[1:-1]
        if isinstance(data, list) and index.isdigit() and int(index) < len(data):
            return data[int(index)]
        return None  # a mapping's key: msgspec does not say which
    return data.get(step) if isinstance(data, dict) else None


def _members(kinds: list[Any]) -> list[Any]:
    """Unions flattened, constraints (``Annotated``) taken off."""
    from msgspec import inspect

    out: list[Any] = []
    for given in kinds:
        kind = given
        while isinstance(kind, inspect.Metadata):
            kind = kind.type
        if isinstance(kind, inspect.UnionType):
            out += _members(list(kind.types))
        else:
            out.append(kind)
    return out


def _reword(message: str) -> str:
    if m := _BOUND.match(message):
        return f"must be {m['op']} {float(m['limit']):g}"
    if m := _LENGTH.match(message):
        items = "characters" if m["kind"] == "str" else "items"
        least = "at least" if m["op"] == ">=" else "at most"
        return f"must have {least} {m['limit']} {items}"
    if m := _TYPE.match(message):
        return f"expected {_name(m['expected'])}, got {_name(m['got'])}"
    if m := _VALUE.match(message):
        return f"invalid value {m['value']}"
    return message


def _name(kinds: str) -> str:
    return " or ".join("integer" if k == "int" else _NAMES.get(k, k) for k in kinds.split(" | "))
