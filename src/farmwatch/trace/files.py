"""Where traceability records and the issuer's keys live, and how a record is issued.

``data_dir/trace/`` is the published folder the API serves (``GET /trace/{lot}``,
``/trace/{lot}.json``, ``/trace/public-key.pem``); the private key lives apart, in
``data_dir/keys/`` (0700, the key file 0600), so no route can ever reach it. Issuing writes the
signed JSON (pretty-printed with sorted keys for people: the signature covers the canonical
form, not the layout) and the printable page to ``--out`` and publishes the JSON. A lot already
published is not silently re-issued: its printed QR codes point at it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farmwatch.trace.page import render_page
from farmwatch.trace.record import check_lot
from farmwatch.trace.signing import (
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    fingerprint,
    load_or_create_key,
    sign,
)

__all__ = ["Issued", "issue", "key_file", "published_dir", "read_json", "write_json"]


def published_dir(data_dir: Path) -> Path:
    return data_dir / "trace"


def key_file(data_dir: Path) -> Path:
    return data_dir / "keys" / PRIVATE_KEY_FILE


def write_json(path: Path, document: Any) -> None:
    """Pretty JSON, sorted keys, UTF-8; written to a temporary name and renamed (never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Issued:
    json_path: Path
    html_path: Path
    published: Path
    public_key: Path
    key_fingerprint: str


def issue(
    record: dict[str, Any],
    data_dir: Path,
    out: Path,
    *,
    lang: str = "vi",
    replace: bool = False,
) -> Issued:
    """Sign ``record`` with the issuer's key (made on first use), write and publish it."""
    lot = check_lot(str(record["lot"]))
    folder = published_dir(data_dir)
    published = folder / f"{lot}.json"
    if published.exists() and not replace:
        raise FileExistsError(
            f"lot {lot} is already published ({published}); its printed QR codes point at it. "
            "Use a new lot ID, or --replace to re-issue it"
        )
    public_path = folder / PUBLIC_KEY_FILE
    key = load_or_create_key(key_file(data_dir), public_path)
    signed = sign(record, key)
    json_path = out / f"{lot}.json"
    html_path = out / (f"{lot}.html" if lang == "vi" else f"{lot}.{lang}.html")
    write_json(json_path, signed)
    html_path.write_text(render_page(signed, lang), encoding="utf-8")
    (out / PUBLIC_KEY_FILE).write_bytes(public_path.read_bytes())
    if published.resolve() != json_path.resolve():
        write_json(published, signed)
    return Issued(json_path, html_path, published, public_path, fingerprint(key.public_key()))
