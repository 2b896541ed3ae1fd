"""``farmwatch trace create`` and ``farmwatch trace verify``, added to the main parser by cli.py."""

# ruff: noqa: T201 - a command-line module: printing is its output

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["add_trace_commands", "cmd_trace_create", "cmd_trace_verify"]


def cmd_trace_create(args: argparse.Namespace) -> int:
    from farmwatch_alerting.store import STORE_FILE, AlertStore
    from farmwatch_ingest.stores import open_store

    from farmwatch.cli import _day, _registry_or_say, _settings
    from farmwatch.exports import farms_for
    from farmwatch.trace.files import issue, published_dir
    from farmwatch.trace.record import build_record, check_lot

    settings = _settings(args)
    deployment = _registry_or_say(settings, "trace create")
    if deployment is None:
        return 2
    try:
        check_lot(args.lot)
        farms = farms_for(deployment, args.farm, args.growing_area)
        start, end = _day(args.start), _day(args.end)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    alerts = None
    alerts_db = settings.alerting_dir / STORE_FILE
    if alerts_db.exists():
        alert_store = AlertStore(alerts_db)
        try:
            alerts = [a for _, a in alert_store.episodes_between(start, end)]
        finally:
            alert_store.close()
    public_url = (
        args.public_url
        or settings.alerting.public_url
        or f"http://{settings.api.host}:{settings.api.port}"
    )
    store = open_store(settings)
    try:
        record = build_record(
            deployment, farms, store, lot=args.lot, start=start, end=end,
            created_at=datetime.now(UTC), public_url=public_url, product=args.product,
            alerts=alerts, max_gap=timedelta(minutes=args.max_gap_minutes),
        )  # fmt: skip
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        store.close()
    out: Path = args.out or published_dir(settings.data_dir)
    try:
        issued = issue(record, settings.data_dir, out, lang=args.lang, replace=args.replace)
    except (FileExistsError, PermissionError) as exc:
        print(exc, file=sys.stderr)
        return 1
    monitoring = record["monitoring"]
    print(monitoring["statement"][args.lang])
    for subject in monitoring["subjects"]:
        ex = subject["excursions"]
        print(
            f"  {subject['farm']:<12} {subject['subject']:<24} {subject['status']:<12} "
            f"{subject['readings']:>8,} readings  {subject['completeness']:>4.0%}  "
            f"{ex['count']} excursions"
        )
    if not record["alerts"]["available"]:
        print(f"  (no alerting store at {alerts_db}: alerts not included)")
    print(f"signed record → {issued.json_path}\nprintable page → {issued.html_path}")
    print(f"published as {record['json_url']} (from {issued.published})")
    print(f"key {issued.key_fingerprint} (public key: {issued.public_key})")
    return 0


def cmd_trace_verify(args: argparse.Namespace) -> int:
    from farmwatch.trace.record import FORMAT
    from farmwatch.trace.signing import load_public_key, verify

    try:
        document: Any = json.loads(Path(args.path).read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"INVALID: cannot read {args.path}: {exc}")
        return 1
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        print(f"INVALID: {args.path} is not JSON: {exc}")
        return 1
    trusted = None
    if args.public_key is not None:
        try:
            trusted = load_public_key(args.public_key)
        except (OSError, ValueError) as exc:
            print(f"cannot use the public key {args.public_key}: {exc}", file=sys.stderr)
            return 2
    result = verify(document, trusted)
    if not result.ok:
        print(f"INVALID: {result.reason}")
        return 1
    print(f"VALID: {result.reason}")
    if document.get("format") != FORMAT:
        print(f"  note: format {document.get('format')!r}, this farmwatch writes {FORMAT!r}")
    return 0


def add_trace_commands(sub: Any) -> None:
    from farmwatch.cli import _common

    trace = sub.add_parser("trace", help="signed traceability records of harvest lots")
    trace_sub = trace.add_subparsers(dest="trace_command", required=True)
    create = trace_sub.add_parser(
        "create", help="a lot's signed record and printable page with a QR code"
    )
    _common(create)
    which = create.add_mutually_exclusive_group(required=True)
    which.add_argument("--farm")
    which.add_argument("--growing-area", help="every farm with this growing-area code")
    create.add_argument("--lot", required=True, help="the lot (harvest batch) ID")
    create.add_argument("--start", required=True, help="YYYY-MM-DD (Hải Dương) or ISO time")
    create.add_argument("--end", required=True, help="exclusive, same forms")
    create.add_argument("--product", help='e.g. "Vải thiều"')
    create.add_argument("--out", type=Path, help="folder for the JSON, page and public key")
    create.add_argument("--public-url", help="base URL the QR code points to (the API's)")
    create.add_argument("--lang", choices=["vi", "en"], default="vi", help="page language")
    create.add_argument(
        "--max-gap-minutes", type=float, default=15.0, help="silence that ends an excursion"
    )
    create.add_argument("--replace", action="store_true", help="re-issue a published lot")
    create.set_defaults(func=cmd_trace_create)
    check = trace_sub.add_parser("verify", help="check a record's signature; says why not")
    check.add_argument("path", type=Path)
    check.add_argument("--public-key", type=Path, help="the issuer's public key (PEM) to trust")
    check.set_defaults(func=cmd_trace_verify)
