"""A fitted scikit-learn IsolationForest, scored one row at a time without scikit-learn's overhead.

``IsolationForest.score_samples`` costs about 4 ms for a single row (it validates the input
and dispatches every tree through joblib), which is 50 times the work itself: walking 64 trees
of depth ≤ 8 is a few hundred comparisons. The analytics engine scores one row per node per
hour, so that overhead, not the forest, would dominate its CPU. This keeps the fitted trees
as plain lists and walks them in Python, giving the same scores as ``score_samples``
(tests/analytics/test_forest.py compares them on random data).

Only the public tree arrays are read (``tree_.children_left``, ``children_right``,
``feature``, ``threshold``, ``n_node_samples``), so a scikit-learn upgrade that renames private
attributes does not break it. The score follows Liu, Ting & Zhou (2008), *Isolation Forest*,
ICDM, eq. 2: ``s = 2 ** (−E[h(x)] / c(ψ))`` with ``h`` the path length plus ``c(n)`` for the
``n`` training rows left in the leaf, and ``c(ψ)`` the average path length for the
subsample size ψ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["CompiledForest", "average_path_length"]

_EULER_GAMMA = 0.5772156649015329


def average_path_length(n: int) -> float:
    """c(n): the mean path length of an unsuccessful search in a binary tree of ``n`` rows.

    >>> average_path_length(1), average_path_length(2), round(average_path_length(256), 4)
    (0.0, 1.0, 10.2448)
    """
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + _EULER_GAMMA) - 2.0 * (n - 1.0) / n


class _Tree:
    """One isolation tree as flat lists; ``leaf_depth[i]`` is h(x) for rows ending in leaf i."""

    __slots__ = ("feature", "leaf_depth", "left", "right", "threshold")

    def __init__(self, tree: Any) -> None:
        self.left: list[int] = tree.children_left.tolist()
        self.right: list[int] = tree.children_right.tolist()
        self.feature: list[int] = tree.feature.tolist()
        self.threshold: list[float] = tree.threshold.tolist()
        samples: list[int] = tree.n_node_samples.tolist()
        depth = [0] * len(self.left)
        self.leaf_depth = [0.0] * len(self.left)
        for node in range(len(self.left)):  # parents come before their children
            child_depth = depth[node] + 1
            for child in (self.left[node], self.right[node]):
                if child >= 0:
                    depth[child] = child_depth
            if self.left[node] < 0:
                self.leaf_depth[node] = depth[node] + average_path_length(samples[node])

    def path_length(self, row: Sequence[float]) -> float:
        left, right, feature, threshold = self.left, self.right, self.feature, self.threshold
        node = 0
        while left[node] >= 0:
            node = left[node] if row[feature[node]] <= threshold[node] else right[node]
        return self.leaf_depth[node]


class CompiledForest:
    """The trees of a fitted ``sklearn.ensemble.IsolationForest``, ready to score rows.

    ``score(row)`` equals ``-model.score_samples([row])[0]`` (higher = more isolated, 0.5 is
    the paper's "no distinct anomaly" level). Rows are rounded to float32 first, as
    scikit-learn's trees compare them.

    >>> from sklearn.ensemble import IsolationForest
    >>> rng = np.random.default_rng(0)
    >>> rows = rng.normal(size=(300, 3))
    >>> model = IsolationForest(n_estimators=20, random_state=0).fit(rows)
    >>> forest = CompiledForest(model)
    >>> bool(abs(forest.score(rows[0]) + model.score_samples(rows[:1])[0]) < 1e-12)
    True
    >>> forest.score([8.0, 8.0, 8.0]) > 0.6 > forest.score([0.0, 0.0, 0.0])
    True
    """

    def __init__(self, model: Any) -> None:
        if any(len(f) != model.n_features_in_ for f in model.estimators_features_):
            raise ValueError("a forest fitted on feature subsets (max_features < 1.0)")
        self.trees = [_Tree(estimator.tree_) for estimator in model.estimators_]
        self.n_features = int(model.n_features_in_)
        self._denominator = len(self.trees) * average_path_length(int(model.max_samples_))

    def score(self, row: Sequence[float]) -> float:
        """The isolation score of one row (length ``n_features``)."""
        if len(row) != self.n_features:
            raise ValueError(f"expected {self.n_features} values, got {len(row)}")
        values = np.asarray(row, dtype=np.float32).tolist()
        total = sum(tree.path_length(values) for tree in self.trees)
        if self._denominator == 0.0:
            return 1.0  # a forest fitted on one row: scikit-learn's convention
        return float(2.0 ** (-total / self._denominator))
