"""``farmwatch dashboards push`` against a small real HTTP server speaking Grafana's API.

Grafana itself cannot run on these machines, so this server implements the endpoints
grafana-client calls for a push — ``GET /api/folders``, ``POST /api/folders`` and
``POST /api/dashboards/db`` — with Grafana's answers, checks the bearer token, and refuses
payloads Grafana would refuse (no ``dashboard``, no ``uid``/``title``, unknown folder). It
stores what it receives, so the test sees what Grafana would hold.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from farmwatch_core.registry import load_registry
from farmwatch_dashboards.generate import write_files

from farmwatch.cli import main

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "glsa_test_token"


@dataclass
class FakeGrafana:
    folders: dict[str, str] = field(default_factory=dict)  # uid -> title
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> payload
    versions: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""


def _handler(state: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._reply(401, {"message": "Unauthorized"})
                return False
            return True

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length", "0"))
            parsed: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
            return parsed

        def do_GET(self) -> None:
            state.requests.append(("GET", self.path))
            if not self._authorised():
                return
            if self.path.split("?")[0] == "/api/folders":
                self._reply(200, [{"uid": u, "title": t} for u, t in state.folders.items()])
            else:
                self._reply(404, {"message": "Not found"})

        def do_POST(self) -> None:
            state.requests.append(("POST", self.path))
            if not self._authorised():
                return
            body = self._body()
            if self.path == "/api/folders":
                uid = body.get("uid") or f"f{len(state.folders)}"
                if uid in state.folders:
                    self._reply(409, {"message": "a folder with the same uid already exists"})
                    return
                state.folders[uid] = body["title"]
                self._reply(200, {"uid": uid, "title": body["title"]})
            elif self.path == "/api/dashboards/db":
                dashboard = body.get("dashboard")
                if (
                    not isinstance(dashboard, dict)
                    or not dashboard.get("uid")
                    or not dashboard.get("title")
                ):
                    self._reply(400, {"message": "Dashboard title cannot be empty"})
                    return
                if body.get("folderUid") not in state.folders:
                    self._reply(400, {"message": "folder not found"})
                    return
                uid = dashboard["uid"]
                if uid in state.dashboards and not body.get("overwrite"):
                    self._reply(412, {"message": "version-mismatch", "status": "version-mismatch"})
                    return
                state.dashboards[uid] = body
                state.versions[uid] = state.versions.get(uid, 0) + 1
                self._reply(
                    200,
                    {"status": "success", "uid": uid, "version": state.versions[uid], "id": 1},
                )
            else:
                self._reply(404, {"message": "Not found"})

    return Handler


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    state = FakeGrafana()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    write_files(load_registry(ROOT / "deploy" / "registry.yaml"), tmp_path)
    return tmp_path


def push(grafana: FakeGrafana, source: Path, token: str = TOKEN) -> int:
    return main(
        ["dashboards", "push", "--grafana-url", grafana.url, "--token", token,
         "--source", str(source), "--folder", "Nông trại"]
    )  # fmt: skip


def test_push_creates_the_folder_and_every_dashboard(grafana: FakeGrafana, generated: Path) -> None:
    assert push(grafana, generated) == 0
    assert list(grafana.folders.values()) == ["Nông trại"]
    (folder_uid,) = grafana.folders
    files = sorted((generated / "dashboards").glob("*.json"))
    assert len(grafana.dashboards) == len(files) == 12
    for path in files:
        sent = json.loads(path.read_text(encoding="utf-8"))
        body = grafana.dashboards[sent["uid"]]
        assert body["dashboard"] == sent
        assert body["folderUid"] == folder_uid
        assert body["overwrite"] is True


def test_push_twice_updates_in_place(grafana: FakeGrafana, generated: Path) -> None:
    assert push(grafana, generated) == 0
    assert push(grafana, generated) == 0
    assert len(grafana.folders) == 1  # found, not created again
    assert len(grafana.dashboards) == 12
    assert set(grafana.versions.values()) == {2}


def test_push_with_a_wrong_token_fails_and_says_so(
    grafana: FakeGrafana, generated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert push(grafana, generated, token="not-the-token") == 1  # noqa: S106 - a test token
    err = capsys.readouterr().err
    assert "cannot find or create folder" in err
    assert "HTTP 401" in err
    assert not grafana.dashboards
