"""Compile the analytics hot path with mypyc, or check that the compiled modules are current.

Why: the analytics engine scores every reading of every node in Python; its per-reading loop
(the fault suite, the daily profiles, the hourly means) was already tuned as far as CPython
goes and still spent ~20 µs a reading. mypyc (part of mypy, which type-checks this code
strictly anyway) compiles the same modules to C extensions: no second spelling of the
detectors, the pure-Python modules stay the reference and the fallback (a Pi without a
compiler runs them on the same pickled state, see ``farmwatch_analytics.stateful``).

A compiled module is imported instead of its ``.py`` (extension suffixes come first), so a
stale one would silently run old code: the build records each source's SHA-256 in
``analytics/farmwatch_analytics/native.json``; ``--check`` (run at the start of every test
session) says which sources changed since, and ``farmwatch analytics`` logs which build it
runs. ``make native`` (a step of ``make run`` and ``make test``) rebuilds when a source
changed and is a no-op otherwise.

    .venv/bin/python scripts/build_native.py           # build (make native)
    .venv/bin/python scripts/build_native.py --check   # exit 1 if a compiled module is stale
    .venv/bin/python scripts/build_native.py --clean   # back to pure Python
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOT = ROOT / "analytics"
PACKAGE = PACKAGE_ROOT / "farmwatch_analytics"
STAMP = PACKAGE / "native.json"
# The modules a reading goes through. Others (the indicators' formulas, the service, the
# profiles' YAML) spend their time in libraries or rarely run.
MODULES = (
    "farmwatch_analytics/engine.py",
    "farmwatch_analytics/fault_suite.py",
    "farmwatch_analytics/detectors/sensor_faults.py",
    "farmwatch_analytics/detectors/process.py",
    "farmwatch_analytics/daily.py",
    "farmwatch_analytics/hourly.py",
    "farmwatch_analytics/detectors/forest.py",
    "farmwatch_analytics/predictions.py",
    "farmwatch_analytics/stateful.py",
)


def digest(module: str) -> str:
    return hashlib.sha256((PACKAGE_ROOT / module).read_bytes()).hexdigest()


def compiled(module: str) -> list[Path]:
    source = PACKAGE_ROOT / module
    return sorted(source.parent.glob(source.stem + ".cpython-*.so"))


def stale() -> list[str]:
    """What is wrong with the compiled modules now (empty: current, or none compiled)."""
    present = [module for module in MODULES if compiled(module)]
    if not present:
        return []
    try:
        recorded = json.loads(STAMP.read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError):
        return [f"{STAMP.relative_to(ROOT)} is missing or unreadable"]
    problems = [
        f"{module} changed since it was compiled"
        for module in present
        if recorded.get(module) != digest(module)
    ]
    problems += [f"{module} is not compiled" for module in MODULES if module not in present]
    return problems


def pure_python_copy(dest: Path) -> Path:
    """``dest`` holding farmwatch_analytics without its compiled modules: put it first on
    PYTHONPATH to run the pure-Python build beside the compiled one (the bench's baseline,
    the equivalence test's reference)."""
    shutil.copytree(
        PACKAGE,
        dest / PACKAGE.name,
        ignore=shutil.ignore_patterns("*.so", "__pycache__", STAMP.name),
    )
    return dest


def clean() -> None:
    for module in MODULES:
        for path in compiled(module):
            path.unlink()
    for path in PACKAGE_ROOT.glob("*__mypyc.cpython-*.so"):
        path.unlink()
    STAMP.unlink(missing_ok=True)


def build() -> int:
    mypyc = Path(sys.executable).with_name("mypyc")
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if (shutil.which("cc") is None and shutil.which("gcc") is None) or not headers.exists():
        print(
            "native: no C compiler or no Python headers; analytics runs as pure Python "
            "(install gcc and python3-dev, then run `make native`, for about twice the "
            "throughput)",
            file=sys.stderr,
        )
        clean()
        return 0
    if all(compiled(module) for module in MODULES) and not stale():
        print("native: compiled analytics modules are up to date", flush=True)
        return 0
    print(f"native: compiling {len(MODULES)} analytics modules with mypyc (~1 min)...", flush=True)
    env = dict(os.environ, MYPYC_OPT_LEVEL="3")
    clean()  # a half-replaced set of extensions must never be imported
    done = subprocess.run(
        [str(mypyc), *MODULES],
        cwd=PACKAGE_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        clean()
        print("native: mypyc failed (above); analytics stays pure Python", file=sys.stderr)
        return 1
    STAMP.write_text(
        json.dumps({"sha256": {module: digest(module) for module in MODULES}}, indent=1) + "\n",
        encoding="utf-8",
    )
    print(f"native: {len(MODULES)} modules compiled", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true")
    group.add_argument("--clean", action="store_true")
    args = parser.parse_args()
    if args.clean:
        clean()
        return 0
    if args.check:
        problems = stale()
        for problem in problems:
            print(f"native: {problem}; run `make native`", file=sys.stderr)
        return 1 if problems else 0
    return build()


if __name__ == "__main__":
    sys.exit(main())
