"""Changing the registry file safely: check the whole registry, then replace the file in one step.

The command line (``farmwatch registry farm add|remove``, :mod:`farmwatch.registry_cli`) and the
HTTP API (:mod:`farmwatch.registry_api`) both change the registry through :class:`RegistryFile`,
so they share one rule: a change is validated as a *whole* registry (references to cooperatives
and contacts, duplicate IDs, every field) before anything is written, and the file is replaced by
a rename, so ingest or alerting starting at that moment read either the old file or the new one,
never half of one. Writers take an exclusive lock on the registry's folder (``flock``) for the
whole read-change-write, so an officer's CLI edit and two API workers cannot lose each other's
changes. YAML comments are not kept: the file is written from the model.

Every problem has its *place* in the registry, as on load::

    >>> from pydantic import ValidationError
    >>> from farmwatch_core.registry import Deployment
    >>> try:
    ...     Deployment.model_validate({"farms": [{"id": "f1", "name": "F", "model": "spaceship"}]})
    ... except ValidationError as exc:
    ...     [str(p) for p in problems_of(exc)]  # doctest: +ELLIPSIS
    ["farms[0].model: Input should be 'aquaculture_pond', ..."]
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farmwatch_core.registry import Deployment, RegistryError, parse_registry
from pydantic import ValidationError

__all__ = ["Problem", "RegistryFile", "RegistryInvalid", "format_place", "problems_of"]

TOP_LEVEL = "(top level)"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing to fix, and where: ``farms[3].location.lat`` in the registry, ``location.lat``
    in a farm sent to the API, or ``row 4, lat`` in an imported sheet."""

    place: str
    message: str

    def __str__(self) -> str:
        return f"{self.place}: {self.message}"

    def as_json(self) -> dict[str, str]:
        return {"place": self.place, "message": self.message}

    @classmethod
    def parse(cls, text: str) -> Problem:
        """A problem from its text (``registry_import``'s ``"row 4, lat: ..."``).

        >>> Problem.parse("contacts row 3, phone: String should match pattern")
        Problem(place='contacts row 3, phone', message='String should match pattern')
        """
        place, sep, message = text.partition(": ")
        return cls(place, message) if sep else cls(TOP_LEVEL, text)


class RegistryInvalid(ValueError):
    """The changed registry would be invalid; nothing was written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)


def format_place(loc: Sequence[str | int]) -> str:
    """``("farms", 3, "location", "lat")`` → ``farms[3].location.lat`` (the load errors' form).

    >>> format_place(("farms", 3, "nodes", 0, "sensors", 2)), format_place(())
    ('farms[3].nodes[0].sensors[2]', '(top level)')
    """
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or TOP_LEVEL


def problems_of(exc: ValidationError, focus: Sequence[str | int] = ()) -> list[Problem]:
    """Every error of ``exc`` with its place; errors under ``focus`` (e.g. ``("farms", 3)``, the
    farm a caller sent) are placed relative to it, as in the caller's own document.

    The registry's cross-checks (unknown cooperative, an ID twice) come as one top-level error
    joining its findings with ``"; "``; they are split into one problem each.
    """
    found: list[Problem] = []
    depth = len(focus)
    for error in exc.errors():
        loc = tuple(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if depth and loc[:depth] == tuple(focus):
            loc = loc[depth:]
        if not loc:
            found += [Problem(TOP_LEVEL, part) for part in message.split("; ")]
        else:
            found.append(Problem(format_place(loc), message))
    return found


class RegistryFile:
    """The registry file as the writers see it: read (cached until the file changes), locked
    for a change, validated and replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[bytes, Deployment] | None = None
        self._cache_lock = threading.Lock()

    def read(self) -> Deployment:
        """The registry now (an empty one when the file does not exist yet).

        Parsed again only when the file's bytes changed (their SHA-256: a rename within the
        file system's timestamp tick can reuse an inode with the same size and time, so
        ``stat`` alone could serve an old registry), so the API can call this on every request
        of a registry of 10,000 farms. Raises RegistryError.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return Deployment()
        key = hashlib.sha256(raw).digest()
        with self._cache_lock:
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RegistryError(f"{self.path}: not UTF-8 text: {exc}") from None
        deployment = parse_registry(text, str(self.path))
        self._remember(raw, deployment)
        return deployment

    def _remember(self, raw: bytes, deployment: Deployment) -> None:
        with self._cache_lock:
            self._cache = (hashlib.sha256(raw).digest(), deployment)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The writers' lock (exclusive, across threads and processes) for a read-change-write."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The folder is locked rather than a lock file beside the registry, which would be left
        # behind in a configuration folder such as deploy/.
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @contextmanager
    def editing(self) -> Iterator[Deployment]:
        """Hold the writers' lock and give the current registry: read, change and
        :meth:`write` inside the ``with`` so no other writer (thread or process) comes between.
        """
        with self.locked():
            yield self.read()

    @staticmethod
    def validate(data: Mapping[str, Any], focus: Sequence[str | int] = ()) -> Deployment:
        """``data`` (the registry as plain data) as a registry, or RegistryInvalid with every
        problem (see :func:`problems_of` for ``focus``)."""
        try:
            return Deployment.model_validate(dict(data))
        except ValidationError as exc:
            raise RegistryInvalid(problems_of(exc, focus)) from None

    def write(self, deployment: Deployment) -> None:
        """Replace the file with ``deployment``: a temporary file beside it, flushed to disk,
        then renamed over it (keeping the old file's permissions)."""
        raw = deployment.to_yaml().encode("utf-8")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            if self.path.exists():
                tmp.chmod(stat.S_IMODE(self.path.stat().st_mode))
            tmp.replace(self.path)
        finally:
            tmp.unlink(missing_ok=True)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a power cut
        finally:
            os.close(folder)
        self._remember(raw, deployment)  # the next read need not parse what was just written

    def replace(self, data: Mapping[str, Any]) -> Deployment:
        """:meth:`validate` then :meth:`write` (hold :meth:`editing` around the read)."""
        deployment = self.validate(data)
        self.write(deployment)
        return deployment
