"""``farmwatch feedback summary``: farmers' answers to "was this useful?" for operators.

Prints the false-alarm and too-late rates per rule and detector (with the minimum-answers
guard), the suggested limits for threshold rules that cry wolf (advice only: nothing is
changed; edit alerting.yaml if you agree), and satisfaction per commune or district.
Reads the alert store the alerting service writes (``<data_dir>/alerting/alerts.sqlite``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from farmwatch_alerting.feedback import (
    MIN_ANSWERS,
    Answer,
    ReportAnswer,
    false_alarm_rates,
    satisfaction,
)
from farmwatch_alerting.store import STORE_FILE, AlertStore

__all__ = ["add_feedback_commands", "farm_answers"]


def farm_answers(store: AlertStore, start: datetime, end: datetime) -> list[tuple[str, bool]]:
    """(farm id, useful?) of every current answer about the period's alerts, and about farm
    reports of the months starting in it (district and cooperative reports have no farm)."""
    found = [
        (alert.labels.get("farm", ""), feedback.answer is Answer.USEFUL)
        for feedback, alert in store.answered_between(start, end)
    ]
    first, last = start.strftime("%Y-%m"), end.strftime("%Y-%m")
    for said in store.report_feedback():
        kind, _, rest = said.report.partition(":")
        farm, _, period = rest.rpartition(":")
        if kind == "farm" and first <= period <= last:
            found.append((farm, said.answer is ReportAnswer.USEFUL))
    return found


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def cmd_feedback_summary(args: argparse.Namespace, settings_of: Callable[..., Any]) -> int:
    from farmwatch.cli import _registry_or_say

    settings = settings_of(args)
    path = settings.alerting_dir / STORE_FILE
    if not path.exists():
        _say(f"no alert store at {path}: nothing answered yet")
        return 0
    end = datetime.now(UTC)
    start = end - timedelta(days=args.days)
    store = AlertStore(path)
    try:
        answered = store.answered_between(start, end)
        answers = farm_answers(store, start, end)
    finally:
        store.close()
    rows = false_alarm_rates(answered, min_answers=args.min_answers)
    _say(f"answers about alerts of the last {args.days:g} days: {len(answered)}")
    _say(f"{'rule (detector)':<40} {'answers':>7} {'false':>6} {'late':>6}  suggestion")
    for r in rows:
        name = f"{r.rule} ({r.detector})" if r.detector else r.rule
        advice = ""
        if r.suggestion is not None:
            s = r.suggestion
            sign = "<" if s.direction == "below" else ">"
            advice = (
                f"{sign} {s.current:g} → {sign} {s.suggested:g} would have silenced "
                f"{s.silenced}/{s.false_alarms} false alarms and kept all {s.useful} real ones"
            )
        _say(
            f"{name:<40} {r.answers:>7} {_share(r.false_alarm_share):>6} "
            f"{_share(r.too_late_share):>6}  {advice}"
        )
    deployment = _registry_or_say(settings, "feedback summary")
    if deployment is not None:
        _say(f"\nsatisfaction per {args.by} (share of useful answers):")
        for area in satisfaction(deployment, answers, by=args.by):
            where = f"{area.district} / {area.commune}" if args.by == "commune" else area.district
            _say(f"{where:<40} {area.answers:>7} {_share(area.useful_share):>6}")
    _say("Suggestions are advice: nothing was changed (edit alerting.yaml to apply one).")
    return 0


def add_feedback_commands(
    sub: Any, common: Callable[[argparse.ArgumentParser], None], settings_of: Callable[..., Any]
) -> None:
    feedback = sub.add_parser("feedback", help='farmers\' answers to "was this useful?"')
    feedback_sub = feedback.add_subparsers(dest="feedback_command", required=True)
    summary = feedback_sub.add_parser(
        "summary", help="false-alarm rates per rule, suggested limits, satisfaction per area"
    )
    common(summary)
    summary.add_argument("--days", type=float, default=90.0, help="the last N days (default 90)")
    summary.add_argument(
        "--min-answers", type=int, default=MIN_ANSWERS,
        help=f"fewer answers show no rate (default {MIN_ANSWERS})",
    )  # fmt: skip
    summary.add_argument("--by", choices=["district", "commune"], default="commune")
    summary.set_defaults(func=lambda args: cmd_feedback_summary(args, settings_of))
