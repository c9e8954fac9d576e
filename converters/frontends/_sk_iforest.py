"""scikit-learn's IsolationForest into the IR (scikit-learn 1.9, ``sklearn/ensemble/_iforest.py``).

``score_samples`` casts X to float32, and for each tree (``_parallel_compute_tree_depths``)
finds the leaf with ``tree.apply`` -- on ``X[:, estimators_features_[i]]`` when the forest
subsamples features (``_max_features != n_features``), else on X itself -- and adds
``decision_path_lengths[leaf] + average_path_length[leaf] - 1.0`` to a float64 sum started at
zero, tree by tree.  The IR tree is the scikit-learn tree with its split features mapped back
to the input columns (thresholds as in :mod:`._sk_trees`: the largest float32 not above the
float64 threshold, ``<=`` on float32 inputs, NaN following ``missing_go_to_left``) and those
float64 leaf values, computed here with the same two operations in the same order; the trees
are summed in float64 from zero without averaging.  The ``ISOLATION`` post-transform carries
``c = _average_path_length([_max_samples])`` and ``offset_``
(:mod:`modelport.core.ir._isolation`).  The model's task is regression: its prediction is
``decision_function`` (docs/sklearn.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from modelport.converters.frontends._sk_trees import _ensemble, _sk_tree
from modelport.core.errors import UnsupportedModelError
from modelport.core.ir.model import Feature, Model, PostTransform, Provenance, Task

__all__ = ["isolation_forest_to_ir"]


def _per_tree(est: Any, i: int, tree_: Any) -> tuple[np.ndarray, np.ndarray]:
    """(decision path lengths, average path lengths) of tree ``i``: the arrays ``fit`` stored,
    or the same computation when the file lacks them."""
    from sklearn.ensemble._iforest import _average_path_length

    dpl = getattr(est, "_decision_path_lengths", None)
    apl = getattr(est, "_average_path_length_per_tree", None)
    if dpl is not None and apl is not None:
        return np.asarray(dpl[i], dtype=np.float64), np.asarray(apl[i], dtype=np.float64)
    return (np.asarray(tree_.compute_node_depths(), dtype=np.float64),
            np.asarray(_average_path_length(tree_.n_node_samples), dtype=np.float64))


def isolation_forest_to_ir(est: Any, features: list[str], *, provenance: Provenance) -> Model:
    """The IR of a fitted ``sklearn.ensemble.IsolationForest`` (see the module docstring)."""
    from sklearn.ensemble._iforest import _average_path_length

    nf = int(est.n_features_in_)
    members = list(est.estimators_)
    if not members:
        raise UnsupportedModelError("an IsolationForest without trees")
    subsample = int(est._max_features) != nf
    trees = []
    for i, (m, cols) in enumerate(zip(members, est.estimators_features_, strict=True)):
        t = m.tree_
        if getattr(m, "n_outputs_", 1) != 1:
            raise UnsupportedModelError("an IsolationForest tree with several outputs")
        dpl, apl = _per_tree(est, i, t)
        leaf = ((dpl + apl) - 1.0).reshape(-1, 1)  # as _parallel_compute_tree_depths, per leaf
        tree = _sk_tree(t, leaf, nan_routing=True)
        if subsample:
            cols = np.asarray(cols, dtype=np.int64)
            if cols.size and (cols.min() < 0 or cols.max() >= nf):
                raise UnsupportedModelError(f"IsolationForest tree {i} reads a column outside 0..{nf - 1}")
            is_leaf = tree.left == -1
            mapped = np.where(is_leaf, 0, cols[np.where(is_leaf, 0, tree.feature)]).astype(np.int32)
            tree = dataclasses.replace(tree, feature=mapped)
        trees.append(tree)
    c = float(np.asarray(_average_path_length([est._max_samples]), dtype=np.float64)[0])
    offset = float(np.float64(est.offset_))
    ens = _ensemble(trees, [0] * len(trees), tdt="float32", average=False)
    return Model(
        task=Task.REGRESSION, features=tuple(Feature(name=n) for n in features), n_outputs=1, n_classes=0,
        booster=ens, base_score=np.zeros(1, dtype=np.float64), post_transform=PostTransform.ISOLATION,
        provenance=provenance, output_names=("decision_function",), post_constants=(c, offset),
    )
