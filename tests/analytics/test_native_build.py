"""The mypyc-compiled analytics (``make native``) behave exactly as the pure-Python source.

The compiled modules are the same source, but compiled code checks declared types at run
time, stores floats unboxed and has no ``__dict__``; pickled state must cross between the
builds (a gateway without a compiler runs the pure-Python modules on the same state file).
Each test runs the pure-Python build in a subprocess from a copy of the sources without the
extensions (``scripts/build_native.py``'s ``pure_python_copy``) beside the compiled build in
this process, over a simulated deployment with every kind of labelled fault.
"""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from farmwatch_analytics.stateful import is_compiled
from support.engine_replay import new_engine, replay

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from build_native import MODULES, STAMP, pure_python_copy  # noqa: E402

SPLIT_DAY = 4.0  # the detectors are warm (their warm-ups are 1-3 days) and faults under way


@pytest.fixture(scope="module")
def pure(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pure_python_copy(tmp_path_factory.mktemp("pure"))


def run_pure(pure: Path, state_in: str, state_out: Path, start: float, end: float) -> list[str]:
    tests = str(ROOT / "tests")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(pure), tests]))
    probe = "import farmwatch_analytics.engine as e; print(e.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert where.startswith(str(pure)), where  # the copy, not the compiled package
    done = subprocess.run(
        [sys.executable, "-m", "support.engine_replay", state_in, str(state_out),
         str(start), str(end)],
        env=env, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return done.stdout.splitlines()


def test_this_session_runs_the_compiled_build() -> None:
    """`make test` builds the extensions first; without them the other tests prove nothing."""
    assert STAMP.exists(), "no compiled analytics: run `make native` (make test does)"
    assert is_compiled()
    for module in MODULES:
        name = module.removesuffix(".py").replace("/", ".")
        assert str(importlib.import_module(name).__file__).endswith(".so"), name


def test_compiled_and_pure_python_give_the_same_outputs_and_state(
    pure: Path, tmp_path: Path
) -> None:
    engine = new_engine()
    compiled = replay(engine, 0.0, SPLIT_DAY)
    reference = run_pure(pure, "-", tmp_path / "pure.pickle", 0.0, SPLIT_DAY)
    assert len(compiled) == len(reference) > 10_000
    assert compiled == reference
    assert any("sensor_fault" in line for line in compiled)  # faults were found, not just calm
    assert any("'firing'" in line and "anomaly" in line.lower() for line in compiled) or any(
        "limit" in line for line in compiled
    )

    # State saved by either build continues in the other exactly as in its own.
    (tmp_path / "compiled.pickle").write_bytes(pickle.dumps(engine))
    continued_pure = run_pure(
        pure, str(tmp_path / "compiled.pickle"), tmp_path / "after.pickle", SPLIT_DAY, 99.0
    )
    from_pure = pickle.loads((tmp_path / "pure.pickle").read_bytes())  # noqa: S301 - ours
    continued_compiled = replay(from_pure, SPLIT_DAY, 99.0)
    assert type(from_pure).__module__ == "farmwatch_analytics.engine"
    assert len(continued_pure) > 5_000
    assert continued_pure == continued_compiled
