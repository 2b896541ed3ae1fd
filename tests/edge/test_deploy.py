"""The systemd unit and install script in edge/deploy: they parse, agree with the CLI, dry-run.

systemd-analyze is not assumed (CI containers lack systemd); the unit is checked with
configparser, which reads the same INI subset, and ExecStart with the CLI's own parser.
"""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from farmwatch_edge.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "edge" / "deploy"
UNIT = DEPLOY / "farmwatch-edge.service"
INSTALL = DEPLOY / "install.sh"
BASH = shutil.which("bash") or "/bin/bash"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_parses_and_has_the_hardening_and_restart_policy() -> None:
    unit = _unit()
    assert unit.sections() == ["Unit", "Service", "Install"]
    service = unit["Service"]
    assert service["Restart"] == "always"
    assert float(service["RestartSec"]) > 0
    assert service["User"] == "farmwatch"
    assert service["StateDirectory"] == "farmwatch-edge"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/farmwatch-edge"
    assert service["SupplementaryGroups"].split() == ["gpio", "i2c", "dialout"]
    assert service["NoNewPrivileges"] == "yes"
    # adjtimex() (clock-sync detection) must stay allowed.
    assert "ProtectClock" not in service
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_unit_state_directory_is_the_default_data_dir() -> None:
    from farmwatch_edge.config import EdgeConfig

    default = EdgeConfig(farm_id="f", node_id="n").data_dir
    assert default == Path("/var/lib/") / _unit()["Service"]["StateDirectory"]


def _environment() -> dict[str, str]:
    pairs = shlex.split(_unit()["Service"]["Environment"])
    return dict(pair.split("=", 1) for pair in pairs)


def test_unit_runs_the_agent_with_docstrings_stripped_from_its_own_bytecode_cache() -> None:
    service = _unit()["Service"]
    env = _environment()
    assert env["PYTHONOPTIMIZE"] == "2"  # python -OO: ≈ 1 MB less resident (docs/edge.md)
    # The cache is the service's own (systemd makes CacheDirectory writable under
    # ProtectSystem=strict), so stale bytecode after a python3 upgrade is rewritten once.
    assert service["CacheDirectory"] == "farmwatch-edge"
    assert env["PYTHONPYCACHEPREFIX"].startswith("/var/cache/farmwatch-edge/")


def test_install_compiles_the_bytecode_the_unit_uses() -> None:
    result = _dry_run(str(ROOT))
    assert result.returncode == 0, result.stderr
    env = _environment()
    compile_lines = [line for line in result.stdout.splitlines() if "compileall" in line]
    assert len(compile_lines) == 1
    argv = shlex.split(compile_lines[0].removeprefix("+ "))
    assert argv[:3] == [
        "env",
        f"PYTHONOPTIMIZE={env['PYTHONOPTIMIZE']}",
        f"PYTHONPYCACHEPREFIX={env['PYTHONPYCACHEPREFIX']}",
    ]
    assert "/opt/farmwatch-edge/venv/lib" in argv  # the agent and its packages
    # The standard library of the python3 the venv is made from (install.sh asks it).
    stdlib = subprocess.run(
        ["python3", "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert stdlib in argv
    out = result.stdout
    assert out.index("pip install") < out.index("compileall") < out.index("systemctl restart")


def test_exec_start_is_a_command_the_cli_accepts() -> None:
    argv = shlex.split(_unit()["Service"]["ExecStart"])
    assert argv[0] == "/opt/farmwatch-edge/venv/bin/farmwatch-edge"
    args = _parser().parse_args(argv[1:])
    assert args.command == "run"
    assert args.config == Path("/etc/farmwatch-edge/config.yaml")


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = tmp_path / "farmwatch-edge.service"
    unit.write_text(UNIT.read_text())
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    # The ExecStart binary does not exist on a dev machine: only unit-file errors count.
    errors = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and "is not executable" not in line
    ]
    assert not errors, result.stderr


def test_install_script_syntax() -> None:
    subprocess.run([BASH, "-n", str(INSTALL)], check=True)
    assert INSTALL.read_text().splitlines()[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in INSTALL.read_text()
    assert os.access(INSTALL, os.X_OK)


def _dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, str(INSTALL), "--dry-run", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_dry_run_from_a_checkout_prints_the_plan_and_changes_nothing() -> None:
    result = _dry_run("--model", "greenhouse", str(ROOT))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "dry run: nothing is changed" in out
    # Every planned step, in order.
    steps = [
        "== service user farmwatch",
        f"/opt/farmwatch-edge/venv/bin/pip install --upgrade {ROOT}/core {ROOT}/edge",
        "== config /etc/farmwatch-edge",
        "+ install -m 0644 " + str(UNIT) + " /etc/systemd/system/farmwatch-edge.service",
        "+ systemctl daemon-reload",
        "+ systemctl enable farmwatch-edge.service",
    ]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions)
    config = Path("/etc/farmwatch-edge/config.yaml")
    if not config.exists():
        assert f"{ROOT}/edge/examples/greenhouse.yaml {config}" in out


def test_dry_run_with_wheels(tmp_path: Path) -> None:
    for wheel in ("farmwatch_core-0.1.0-py3-none-any.whl", "farmwatch_edge-0.1.0-py3-none-any.whl"):
        (tmp_path / wheel).touch()
    result = _dry_run(str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"pip install --upgrade {tmp_path}/farmwatch_core-0.1.0" in result.stdout
    assert "pond.yaml" in result.stdout or "exists: kept" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "missing SOURCE"),
        (("--model", "zoo", "."), "--model must be"),
        (("/nonexistent-farmwatch",), "neither a farmwatch checkout"),
        (("--bogus", "."), "unknown option"),
    ],
)
def test_install_script_refuses_bad_arguments(args: tuple[str, ...], message: str) -> None:
    result = _dry_run(*args)
    assert result.returncode == 2
    assert message in result.stderr
