"""NAB score of the general-purpose detector (issue 6), with baselines measured in the same run.

Runs each detector in-process over the Numenta Anomaly Benchmark corpus (``../shared/data/nab``)
and scores it with NAB's own rules through ``../shared/tools/nab_score.py`` (thresholds optimised
over the corpus, as NAB does). Detectors:

* ``ensemble`` -- what ``farmwatch analytics nab-detector`` runs (the figures in the last line);
* ``windowed_gaussian`` -- NAB's Windowed Gaussian, nothing else (published 39.6);
* ``wg_likelihood``, ``wg_likelihood_rest``, ``wg_likelihood_rest_novelty``,
  ``wg_likelihood_rest_novelty_diff``, ``plus_rank``, ``plus_pairs``, ``plus_context`` -- the
  ensemble built up one part at a time: the anomaly likelihood, alarm suppression, spatial
  novelty, the reading-to-reading change, the rank-based (empirical tail) views (``plus_rank`` is
  the ensemble before issue 6's last round: 67.56), one likelihood per Gaussian/rank pair, the
  sequence context view; ``ensemble`` adds the time-of-day context view to the last;
* ``with_knn`` -- the ensemble plus the conformal KNN view (slow; off by default).

``--files N`` takes N files spread over the corpus (for a quick check); ``--variants`` picks
detectors. The last line of output is a JSON object: ``nab_standard``, ``nab_low_fp``,
``nab_low_fn``, ``rows_per_s`` (ensemble, one core), ``files``, and the same three scores of
every other variant run, prefixed with its name.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

from farmwatch_analytics.detectors.base import Detector
from farmwatch_analytics.detectors.ensemble import EnsembleDetector
from farmwatch_analytics.detectors.gaussian import WindowedGaussian
from farmwatch_analytics.nab import build_nab_detector, nab_scores, read_nab_csv

ROOT = Path(__file__).resolve().parents[1]
PROFILES = {
    "standard": "nab_standard",
    "reward_low_FP_rate": "nab_low_fp",
    "reward_low_FN_rate": "nab_low_fn",
}
PUBLISHED = {
    "ARTime": 74.9,
    "Numenta HTM": 70.1,
    "CAD OSE": 69.9,
    "KNN CAD": 58.0,
    "Random Cut Forest": 51.7,
    "Windowed Gaussian": 39.6,
}


def _ladder(step: int) -> Callable[[], Detector]:
    """The ensemble built up one part at a time, so each part's contribution shows."""
    no_context: dict[str, Any] = {"context_order": None, "daily_buckets": None}
    no_pairs: dict[str, Any] = {"average_pairs": False, **no_context}
    no_rank: dict[str, Any] = {"rank_window": None, "diff_rank_window": None, **no_pairs}
    parts: list[dict[str, Any]] = [
        {"diff_gaussian_window": None, "novelty_margin": None, "rest": 0, **no_rank},
        {"diff_gaussian_window": None, "novelty_margin": None, **no_rank},  # + suppression
        {"diff_gaussian_window": None, **no_rank},  # + spatial novelty
        no_rank,  # + reading-to-reading change (Gaussian)
        no_pairs,  # + rank views, each with its own likelihood
        no_context,  # + Gaussian and rank views of the same thing share one likelihood
        {"daily_buckets": None},  # + sequence context (CAD OSE's idea)
    ]
    return functools.partial(EnsembleDetector, **parts[step])


VARIANTS: dict[str, Callable[[], Detector]] = {
    "ensemble": build_nab_detector,
    "windowed_gaussian": functools.partial(WindowedGaussian, window=6400, warmup=30),
    "wg_likelihood": _ladder(0),
    "wg_likelihood_rest": _ladder(1),
    "wg_likelihood_rest_novelty": _ladder(2),
    "wg_likelihood_rest_novelty_diff": _ladder(3),
    "plus_rank": _ladder(4),
    "plus_pairs": _ladder(5),
    "plus_context": _ladder(6),
    "with_knn": functools.partial(EnsembleDetector, use_knn=True),
}


def load_scorer(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("nab_score", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the NAB scorer from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_file(variant: str, path: str) -> tuple[list[float], float]:
    times, values = read_nab_csv(Path(path))
    t0 = time.process_time()
    scores = nab_scores(values, times, VARIANTS[variant])
    return scores, time.process_time() - t0


def run_variant(variant: str, paths: list[str], jobs: int) -> tuple[list[list[float]], float]:
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(_run_file, [variant] * len(paths), paths))
    return [scores for scores, _ in results], sum(cpu for _, cpu in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--shared",
        type=Path,
        default=ROOT.parent / "shared",
        help="the shared folder holding data/nab and tools/nab_score.py",
    )
    ap.add_argument("--files", type=int, default=None, help="only N files spread over the corpus")
    ap.add_argument(
        "--variants", nargs="*", default=["ensemble", "windowed_gaussian"], choices=sorted(VARIANTS)
    )
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--per-file", action="store_true", help="print each file's raw score")
    args = ap.parse_args()
    variants = ["ensemble", *[v for v in args.variants if v != "ensemble"]]

    scorer = load_scorer(args.shared / "tools" / "nab_score.py")
    nab_dir = str(args.shared / "data" / "nab")
    corpus = scorer.Corpus(nab_dir)
    if args.files is not None:
        step = max(1, len(corpus.files) // args.files)
        picked = [f.rel for f in corpus.files[::step][: args.files]]
        corpus = scorer.Corpus(nab_dir, include=picked)
    paths = [f.path for f in corpus.files]
    rows = sum(f.n for f in corpus.files)

    figures: dict[str, Any] = {}
    for variant in variants:
        scores, cpu_s = run_variant(variant, paths, args.jobs)
        result = scorer.evaluate(corpus, scores, None, per_file=args.per_file)
        line = ", ".join(
            f"{key} {result[profile]['nab_score']:.2f}" for profile, key in PROFILES.items()
        )
        std = result["standard"]
        print(
            f"{variant:<22} {line}  (windows hit {std['windows_detected']}/"
            f"{std['scorable_windows']}, FP rows {std['FP_rows']}, threshold "
            f"{std['threshold']:.4g}, {rows / cpu_s:,.0f} rows/s/core)",
            flush=True,
        )
        if args.per_file:
            for rel, raw, hit, windows, fp in std["per_file"]:
                print(f"    {rel:<58} raw {raw:8.3f} hit {hit}/{windows} FP rows {fp}")
        prefix = "" if variant == "ensemble" else f"{variant}_"
        for profile, key in PROFILES.items():
            figures[prefix + key] = round(float(result[profile]["nab_score"]), 2)
        if variant == "ensemble":
            figures["rows_per_s"] = round(rows / cpu_s)
    figures["files"] = len(paths)
    figures["rows"] = rows
    print(
        "published standard scores: "
        + ", ".join(f"{name} {score}" for name, score in PUBLISHED.items())
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
