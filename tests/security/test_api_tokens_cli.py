"""``farmwatch tokens add/list/revoke`` as an operator runs them, on a real token file."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from farmwatch_core.access import Role
from farmwatch_core.api_tokens import TOKENS_FILE, TokenStore
from support.api_world import REGISTRY

from farmwatch.cli import main


def run(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    code = main(["tokens", *args, "--data-dir", str(data)])
    out, err = capsys.readouterr()
    return code, out, err


def issued(out: str) -> str:
    found = re.search(r"^token: (fwt_[0-9a-f]{8}_\S+)$", out, re.MULTILINE)
    assert found, out
    return found[1]


def test_add_prints_once_stores_only_a_hash_and_revokes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "registry.yaml").write_text(REGISTRY, encoding="utf-8")
    code, out, _ = run(
        capsys, tmp_path, "add", "--role", "farmer", "--farm", "farm-a1", "--name", "Nông dân An"
    )
    assert code == 0
    token = issued(out)
    assert f"/login#t={token}" in out  # the phone's login link keeps the token out of logs

    file = tmp_path / TOKENS_FILE
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    stored = b"".join(p.read_bytes() for p in tmp_path.glob(TOKENS_FILE + "*"))
    assert token.encode() not in stored
    secret = token[len("fwt_12345678_") :]  # urlsafe base64 may itself contain "_"
    assert len(secret) >= 40
    assert secret.encode() not in stored  # nor its secret part
    store = TokenStore(file)
    info = store.verify(token)
    store.close()
    assert info is not None
    assert (info.grant.role, info.grant.farms, info.grant.name) == (
        Role.FARMER, ("farm-a1",), "Nông dân An",
    )  # fmt: skip

    code, out, _ = run(capsys, tmp_path, "list")
    assert code == 0
    assert info.id in out
    assert "Nông dân An" in out
    assert "farms farm-a1" in out
    assert "active" in out
    assert "fwt_" not in out

    code, out, _ = run(capsys, tmp_path, "revoke", info.id)
    assert code == 0
    assert f"revoked {info.id}" in out
    store = TokenStore(file)
    assert store.verify(token) is None
    store.close()
    assert "revoked" in run(capsys, tmp_path, "list")[1]
    code, _, err = run(capsys, tmp_path, "revoke", info.id)
    assert code == 1
    assert "no active token" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "farmer"], "needs --farm"),
        (["--role", "farmer", "--farm", "farm-zz"], "unknown farm 'farm-zz'"),
        (["--role", "cooperative", "--cooperative", "coop-z"], "unknown cooperative 'coop-z'"),
        (["--role", "officer", "--farm", "farm-a1", "--district", "Thanh Hà"], "takes no --farm"),
        (["--role", "admin", "--cooperative", "coop-x"], "takes no --cooperative"),
    ],
)
def test_add_refuses_a_scope_that_is_missing_or_unknown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "registry.yaml").write_text(REGISTRY, encoding="utf-8")
    code, out, err = run(capsys, tmp_path, "add", *args, "--name", "x")
    assert code == 2
    assert message in err
    assert "fwt_" not in out


def test_officer_and_cooperative_tokens(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "registry.yaml").write_text(REGISTRY, encoding="utf-8")
    code, out, err = run(
        capsys, tmp_path, "add", "--role", "officer", "--district", "Thanh Hà",
        "--district", "Gia Lộc", "--name", "Cán bộ",
    )  # fmt: skip
    assert code == 0
    assert "warning: no model farm in district 'Gia Lộc'" in err  # allowed: farms may come
    assert issued(out)
    code, out, _ = run(
        capsys, tmp_path, "add", "--role", "cooperative", "--cooperative", "coop-x", "--name", "X"
    )
    assert code == 0
    listed = run(capsys, tmp_path, "list")[1]
    assert "model farms of Thanh Hà, Gia Lộc" in listed
    assert "cooperative coop-x" in listed
