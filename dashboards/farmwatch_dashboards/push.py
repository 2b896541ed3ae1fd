"""Upload the generated dashboards to an existing Grafana through its HTTP API.

Uses grafana-client (the maintained successor of grafana-api): find or create the folder, then
``POST /api/dashboards/db`` each dashboard with ``overwrite: true``. Dashboards keep their
fixed ``uid``, so pushing twice updates them in place: idempotent.

TLS: an ``https://`` Grafana is checked against the system's CAs, or against ``ca_file`` (a
cooperative's own CA or a self-signed certificate); ``verify=False`` turns the check off (for a
first test only). Messages name Grafana without any ``user:password@`` of its URL, and never the
token (it travels in a header, which no error quotes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farmwatch_core.mqtt_url import display_url
from farmwatch_core.tls import certificate_refused
from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaException

__all__ = ["PushError", "PushResult", "push_dashboards"]

FOLDER_UID = "farmwatch"


class PushError(RuntimeError):
    """Grafana refused or could not be reached; the message says which dashboard and why."""


@dataclass(frozen=True)
class PushResult:
    folder_uid: str
    dashboards: list[str]  # uids, in upload order


def _why(exc: GrafanaException) -> str:
    """Grafana's status and message, e.g. ``HTTP 401: Unauthorized`` (check the token)."""
    status = getattr(exc, "status_code", None)
    return f"HTTP {status}: {exc}" if status else str(exc)


def _folder(api: GrafanaApi, title: str) -> str:
    # grafana-client's folder methods carry no annotations: hence the ignores.
    folders: list[dict[str, Any]] = api.folder.get_all_folders()  # type: ignore[no-untyped-call]
    for folder in folders:
        if folder.get("title") == title:
            return str(folder["uid"])
    uid = FOLDER_UID if title == "farmwatch" else None
    created: dict[str, Any] = api.folder.create_folder(title, uid=uid)  # type: ignore[no-untyped-call]
    return str(created["uid"])


def push_dashboards(
    grafana_url: str,
    token: str,
    files: list[Path],
    folder: str = "farmwatch",
    *,
    ca_file: Path | None = None,
    verify: bool = True,
) -> PushResult:
    """Create or update every dashboard file in ``folder`` (created if missing)."""
    if ca_file is not None and not ca_file.is_file():
        raise PushError(f"CA file {ca_file} does not exist")
    shown = display_url(grafana_url)
    api = GrafanaApi.from_url(grafana_url, credential=token, timeout=30.0)
    if ca_file is not None:
        api.client.verify = str(ca_file)  # niquests takes a CA bundle path here
    elif not verify:
        api.client.verify = False
    try:
        folder_uid = _folder(api, folder)
    except GrafanaException as exc:
        if certificate_refused(exc):
            raise PushError(
                f"Grafana at {shown} presented a TLS certificate this host does not trust "
                f"({exc}); pass --ca-file with the CA that signed it"
            ) from exc
        raise PushError(
            f"Grafana at {shown}: cannot find or create folder {folder!r} "
            f"({_why(exc)}); check the URL and that the token may edit dashboards"
        ) from exc
    except OSError as exc:
        if certificate_refused(exc):
            raise PushError(
                f"Grafana at {shown} presented a TLS certificate this host does not trust "
                f"({exc}); pass --ca-file with the CA that signed it"
            ) from exc
        raise PushError(f"cannot reach Grafana at {shown}: {exc}") from exc
    uids = []
    for path in files:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        dashboard.pop("id", None)  # Grafana matches on uid; a stale id would be refused
        payload = {
            "dashboard": dashboard,
            "folderUid": folder_uid,
            "overwrite": True,
            "message": "farmwatch dashboards push",
        }
        try:
            api.dashboard.update_dashboard(payload)
        except GrafanaException as exc:
            raise PushError(f"Grafana refused {path.name} ({_why(exc)})") from exc
        uids.append(str(dashboard.get("uid")))
    return PushResult(folder_uid, uids)
