"""``farmwatch report --farm F | --cooperative C | --district D --period YYYY-MM``: the glue
between the command line and :func:`~farmwatch.reports.build.build_report`.

The options live on the ``report`` parser itself, beside its subcommands (``report programme``),
so the monthly report needs no subcommand word. Imports stay inside the functions: building the
CLI parser must not load matplotlib or WeasyPrint.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["add_month_arguments", "cmd_report_month"]


def add_month_arguments(report: argparse.ArgumentParser) -> None:
    """The monthly report's options, on the ``report`` parser."""
    which = report.add_mutually_exclusive_group()
    which.add_argument("--farm", help="one farm's monthly report")
    which.add_argument("--cooperative", help="every farm of a cooperative (HTX), compared")
    which.add_argument("--district", help="every farm of a district, compared")
    report.add_argument("--period", help="the month, YYYY-MM (a month in Hải Dương time)")
    report.add_argument(
        "--lang", choices=["vi", "en", "both"], default="vi", help="language (default vi)"
    )
    report.add_argument("--out", type=Path, help="folder for the HTML, PDF and summary JSON")
    report.add_argument(
        "--target-minutes", type=float, default=30.0, help="acknowledge alerts within (default 30)"
    )
    report.add_argument("--no-pdf", action="store_true", help="HTML and JSON only")


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def cmd_report_month(args: argparse.Namespace) -> int:
    """Build the monthly report the options ask for; 2 when they do not make sense."""
    from farmwatch_alerting.store import STORE_FILE
    from farmwatch_ingest.stores import open_store

    from farmwatch.cli import _registry_or_say, _settings
    from farmwatch.reports.build import build_report
    from farmwatch.reports.collect import resolve_scope
    from farmwatch.reports.compute import month_bounds

    if not (args.farm or args.cooperative or args.district):
        _say("give --farm F, --cooperative C or --district D (or `farmwatch report programme`)")
        return 2
    if args.period is None or args.out is None:
        _say("give --period YYYY-MM and --out DIR")
        return 2
    settings = _settings(args)
    deployment = _registry_or_say(settings, "report")
    if deployment is None:
        return 2
    try:
        month_bounds(args.period)
        scope = resolve_scope(deployment, args.farm, args.cooperative, args.district)
    except ValueError as exc:
        _say(str(exc))
        return 2
    languages = ("vi", "en") if args.lang == "both" else (args.lang,)
    store = open_store(settings)
    try:
        files = build_report(
            store, scope, args.period, args.out, languages=languages,
            alerts_db=settings.alerting_dir / STORE_FILE, target_minutes=args.target_minutes,
            now=datetime.now(UTC), pdf=not args.no_pdf, progress=_say,
            public_url=settings.alerting.public_url
            or f"http://{settings.api.host}:{settings.api.port}",
        )  # fmt: skip
    finally:
        store.close()
    for path in (files.summary, *files.html.values(), *files.pdf.values()):
        sys.stdout.write(f"→ {path}\n")
    return 0
