"""CompiledForest must score exactly as scikit-learn's IsolationForest does, row by row."""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import pytest
from farmwatch_analytics.detectors.forest import CompiledForest, average_path_length
from sklearn.ensemble import IsolationForest


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_equal_score_samples(seed: int) -> None:
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(336, 7)) * rng.uniform(0.1, 100, size=7)
    model = IsolationForest(n_estimators=32, random_state=seed).fit(train)
    forest = CompiledForest(model)
    # Ordinary rows, far outliers, and rows exactly on the split thresholds (the float32 case).
    thresholds = model.estimators_[0].tree_.threshold
    on_split = np.tile(train[0], (20, 1))
    on_split[:, 0] = thresholds[thresholds != -2][:20].tolist() + [0.0] * max(
        0, 20 - int((thresholds != -2).sum())
    )
    rows = np.vstack([train[:50], rng.normal(size=(100, 7)) * 50, on_split])
    expected = -model.score_samples(rows)
    got = np.array([forest.score(row.tolist()) for row in rows])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_pickles_without_the_model_and_refuses_what_it_cannot_score() -> None:
    rng = np.random.default_rng(5)
    train = rng.normal(size=(200, 3))
    forest = CompiledForest(IsolationForest(n_estimators=8, random_state=0).fit(train))
    clone = pickle.loads(pickle.dumps(forest))  # noqa: S301 - our own bytes
    assert clone.score([0.1, 0.2, 0.3]) == forest.score([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="expected 3 values"):
        forest.score([1.0, 2.0])
    subset = IsolationForest(n_estimators=4, max_features=0.5, random_state=0).fit(train)
    with pytest.raises(ValueError, match="feature subsets"):
        CompiledForest(subset)


def test_a_directly_fitted_forest_scores_its_rows_as_it_scores_any_row_and_isolates_outliers() -> (
    None
):
    rng = np.random.default_rng(9)
    rows = rng.normal(size=(336, 6))
    forest, scores = CompiledForest.fit(rows, trees=32, seed=1)
    np.testing.assert_allclose(scores, [forest.score(r.tolist()) for r in rows], atol=1e-12)
    outliers = rng.normal(size=(50, 6)) * 6
    inliers = rng.normal(size=(50, 6))
    out = np.array([forest.score(r.tolist()) for r in outliers])
    inn = np.array([forest.score(r.tolist()) for r in inliers])
    assert (out[:, None] > inn[None, :]).mean() > 0.95  # AUC: isolation works
    sklearn = IsolationForest(n_estimators=32, random_state=1).fit(rows)
    theirs = -sklearn.score_samples(np.vstack([outliers, inliers]))
    ours = np.concatenate([out, inn])
    assert abs(ours.mean() - theirs.mean()) < 0.03  # the same algorithm, other random draws
    assert np.corrcoef(ours, theirs)[0, 1] > 0.9


def _checked_fit(rows: np.ndarray, trees: int, seed: int) -> list[Any]:
    """The trees as the direct fit drew them before it skipped scikit-learn's checks."""
    from sklearn.tree import ExtraTreeRegressor

    rng = np.random.default_rng(seed)
    n, psi = len(rows), min(256, len(rows))
    fitted = []
    for _ in range(trees):
        chosen = rows[rng.choice(n, psi, replace=False)]
        tree = ExtraTreeRegressor(
            max_features=1,
            max_depth=math.ceil(math.log2(psi)),
            random_state=int(rng.integers(2**31 - 1)),
        )
        fitted.append(tree.fit(chosen, rng.uniform(size=psi)).tree_)
    return fitted


@pytest.mark.parametrize("shape", [(336, 7), (48, 3)])
def test_the_unchecked_fit_builds_the_trees_a_checked_fit_builds(shape: tuple[int, int]) -> None:
    rows = np.random.default_rng(shape[0]).normal(size=shape) * [10.0**k for k in range(shape[1])]
    forest, _ = CompiledForest.fit(rows, trees=16, seed=4)
    reference = _checked_fit(rows, trees=16, seed=4)
    assert len(forest.trees) == len(reference)
    for ours, theirs in zip(forest.trees, reference, strict=True):
        assert ours.feature == theirs.feature.tolist()
        assert ours.threshold == theirs.threshold.tolist()
        assert ours.left == theirs.children_left.tolist()
        assert ours.leaf_depth == _leaf_depths(theirs)


def _leaf_depths(tree: Any) -> list[float]:
    """h(x) per leaf (0 elsewhere), node by node: depth plus c(n) of the rows left there."""
    left, right = tree.children_left.tolist(), tree.children_right.tolist()
    depth, out = [0] * len(left), [0.0] * len(left)
    for node in range(len(left)):  # parents come before their children
        for child in (left[node], right[node]):
            if child >= 0:
                depth[child] = depth[node] + 1
        if left[node] < 0:
            out[node] = depth[node] + average_path_length(int(tree.n_node_samples[node]))
    return out


def test_rows_that_are_not_finite_still_go_through_scikit_learns_checks() -> None:
    rows = np.random.default_rng(0).normal(size=(64, 3))
    rows[5, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        CompiledForest.fit(rows, trees=2, seed=0)
