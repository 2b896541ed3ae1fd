"""Pickling that works the same for the pure-Python and the mypyc-compiled analytics.

The analytics service pickles its learned state (every detector's windows, runs and scales)
so a restart doesn't forget. The hot modules are compiled with mypyc (see
``scripts/build_native.py``); a compiled instance has no ``__dict__`` and its ``__new__``
runs ``__init__``, so the default pickling can neither read nor rebuild it. Classes whose
instances are pickled derive from :class:`Stateful` and are marked
``@mypyc_attr(allow_interpreted_subclasses=True)`` (the one way a compiled ``__new__`` skips
``__init__``; the mark is not inherited): their state is the same ``{attribute:
value}`` dict in both builds, so state saved by one loads in the other (a gateway without a
C compiler runs the pure-Python modules on the same state file).

>>> import pickle
>>> class Counter(Stateful):
...     def __init__(self, start: int) -> None:
...         self.count = start
>>> pickle.loads(pickle.dumps(Counter(3))).count
3
"""

from __future__ import annotations

from typing import Any

from mypy_extensions import mypyc_attr

__all__ = ["Stateful", "attribute_names", "is_compiled"]


def is_compiled() -> bool:
    """Whether this process runs the mypyc-compiled analytics (``make native``)."""
    from farmwatch_analytics import fault_suite

    return str(fault_suite.__file__).endswith(".so")


def attribute_names(obj: object) -> list[str]:
    """The instance attributes of ``obj``: mypyc's list, else ``__dict__`` and ``__slots__``."""
    names: tuple[str, ...] | None = getattr(type(obj), "__mypyc_attrs__", None)
    if names is not None:
        return [name for name in names if name not in {"__dict__", "__weakref__"}]
    found = list(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        found.extend([slots] if isinstance(slots, str) else [s for s in slots if s not in found])
    return found


def _rebuild(cls: type[Stateful], state: dict[str, Any]) -> Stateful:
    """An instance of ``cls`` made without its ``__init__``, given ``state``."""
    obj = cls.__new__(cls)  # compiled: runs no __init__ only with allow_interpreted_subclasses
    obj.restore(state)  # not __setstate__, which a slotted dataclass replaces with its own
    return obj


@mypyc_attr(allow_interpreted_subclasses=True)
class Stateful:
    """Base of the analytics classes whose instances are pickled (see the module docstring).

    A subclass that must accept state saved by an older farmwatch overrides :meth:`restore`
    and calls this one.
    """

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        state = {name: getattr(self, name) for name in attribute_names(self) if hasattr(self, name)}
        return (_rebuild, (type(self), state))

    def __setstate__(self, state: Any) -> None:
        """State pickled before :meth:`__reduce__` existed: a ``__dict__`` copy or, for a
        class with ``__slots__``, the ``(__dict__ or None, {slot: value})`` pair."""
        if isinstance(state, tuple):
            merged: dict[str, Any] = {}
            for part in state:
                merged.update(part or {})
            state = merged
        self.restore(state)

    def restore(self, state: dict[str, Any]) -> None:
        """Set the attributes of a pickled instance (made without ``__init__``)."""
        for name, value in state.items():
            object.__setattr__(self, name, value)  # frozen dataclasses too
