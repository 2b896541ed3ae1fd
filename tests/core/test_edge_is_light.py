"""The edge member must install on a Raspberry Pi without the server's heavy dependencies."""

from __future__ import annotations

import re
from importlib.metadata import distribution

from packaging.requirements import Requirement

HEAVY = {"numpy", "scikit-learn", "scipy", "fastapi", "uvicorn", "pandas", "amqtt", "httpx"}


def _closure(name: str, seen: set[str]) -> set[str]:
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen:
        return seen
    seen.add(key)
    for text in distribution(key).requires or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            _closure(requirement.name, seen)
    return seen


def test_edge_dependency_closure_has_no_heavy_packages() -> None:
    closure = _closure("farmwatch-edge", set())
    assert "paho-mqtt" in closure
    assert not closure & HEAVY, closure & HEAVY


def test_server_packages_do_pull_them() -> None:
    # The check above can fail: the same walk finds FastAPI under ingest.
    assert "fastapi" in _closure("farmwatch-ingest", set())
