"""Hand-built IR models for tests that must not depend on a frontend (small and explicit)."""

from __future__ import annotations

import dataclasses

import numpy as np

from modelport.core.ir.model import (
    Comparison,
    Feature,
    FeatureType,
    LinearBooster,
    Model,
    PostTransform,
    Provenance,
    Task,
    Tree,
    TreeEnsemble,
)


def make_tree(left, right, feature, threshold, value, *, default_left=None, is_categorical=None,
              cat_sets=None, threshold_dtype="float32", leaf_dim=1) -> Tree:
    """A Tree from plain lists; ``cat_sets`` maps node index -> sorted category codes."""
    n = len(left)
    cat_sets = cat_sets or {}
    offsets, values = [0], []
    for i in range(n):
        values.extend(cat_sets.get(i, []))
        offsets.append(len(values))
    is_cat = np.zeros(n, dtype=bool) if is_categorical is None else np.asarray(is_categorical, dtype=bool)
    for i in cat_sets:
        is_cat[i] = True
    return Tree(
        left=np.asarray(left, dtype=np.int32),
        right=np.asarray(right, dtype=np.int32),
        feature=np.asarray(feature, dtype=np.int32),
        threshold=np.asarray(threshold, dtype=threshold_dtype),
        default_left=np.asarray(default_left if default_left is not None else [True] * n, dtype=bool),
        is_categorical=is_cat,
        cat_offsets=np.asarray(offsets, dtype=np.int64),
        cat_values=np.asarray(values, dtype=np.int32),
        value=np.asarray(value, dtype=np.float32).reshape(n, leaf_dim),
    )


def ensemble(trees, *, tree_output=None, leaf_dim=1, threshold_dtype="float32",
             comparison=Comparison.LT, cats_left=False) -> TreeEnsemble:
    n = len(trees)
    return TreeEnsemble(
        trees=tuple(trees),
        tree_output=np.asarray(tree_output if tree_output is not None else [0] * n, dtype=np.int32),
        tree_weight=np.ones(n, dtype=np.float32),
        comparison=comparison,
        threshold_dtype=threshold_dtype,
        categories_in_set_go_left=cats_left,
        leaf_dim=leaf_dim,
    )


def _features(n: int) -> tuple[Feature, ...]:
    return tuple(Feature(name=f"f{i}") for i in range(n))


PROV = Provenance(source_format="hand", framework="tests", framework_version="0", sha256="", objective="reg:squarederror")


def regression(n_features: int = 3) -> Model:
    """Two depth-2 trees over features 0..2 with awkward float32 thresholds."""
    t1 = make_tree([1, 3, 5, -1, -1, -1, -1], [2, 4, 6, -1, -1, -1, -1], [0, 1, 2, 0, 0, 0, 0],
                   [0.1, -1.5, 3e-8, 0, 0, 0, 0], [0, 0, 0, 1.25, -0.5, 0.75, 2.0],
                   default_left=[True, False, True, True, True, True, True])
    t2 = make_tree([1, -1, -1], [2, -1, -1], [2, 0, 0], [1.0000001, 0, 0], [0, 0.3, -0.3],
                   default_left=[False, True, True])
    return Model(task=Task.REGRESSION, features=_features(n_features), n_outputs=1, n_classes=0,
                 booster=ensemble([t1, t2]), base_score=np.array([0.5], dtype=np.float32),
                 post_transform=PostTransform.IDENTITY, provenance=PROV)


def binary() -> Model:
    m = regression()
    return dataclasses.replace(m, task=Task.BINARY, n_classes=2, post_transform=PostTransform.SIGMOID,
                               base_score=np.array([-0.2], dtype=np.float32))


def multiclass(k: int = 3) -> Model:
    trees = [make_tree([1, -1, -1], [2, -1, -1], [c % 2, 0, 0], [0.25 * c, 0, 0], [0, 0.1 * c, -0.2])
             for c in range(2 * k)]
    return Model(task=Task.MULTICLASS, features=_features(2), n_outputs=k, n_classes=k,
                 booster=ensemble(trees, tree_output=[i % k for i in range(2 * k)]),
                 base_score=np.array([0.5, 0.1, -0.3][:k] + [0.0] * max(0, k - 3), dtype=np.float32),
                 post_transform=PostTransform.SOFTMAX)


def categorical() -> Model:
    """Feature 1 is categorical: codes {1, 3, 7} go right (XGBoost's rule), the rest left."""
    t = make_tree([1, 3, -1, -1, -1], [2, 4, -1, -1, -1], [0, 1, 0, 0, 0], [2.5, 0, 0, 0, 0],
                  [0, 0, 1.0, -1.0, 0.5], cat_sets={1: [1, 3, 7]})
    feats = (Feature("x"), Feature("colour", FeatureType.CATEGORICAL, ("a", "b", "c", "d", "e", "f", "g", "h")))
    return Model(task=Task.REGRESSION, features=feats, n_outputs=1, n_classes=0, booster=ensemble([t]),
                 base_score=np.zeros(1, dtype=np.float32), post_transform=PostTransform.IDENTITY, missing=-999.0)


def vector_leaf() -> Model:
    t = make_tree([1, -1, -1], [2, -1, -1], [0, 0, 0], [0.0, 0, 0], [[0, 0], [1, 2], [3, 4]], leaf_dim=2)
    return Model(task=Task.MULTI_TARGET, features=_features(1), n_outputs=2, n_classes=0,
                 booster=ensemble([t], tree_output=[-1], leaf_dim=2), base_score=np.zeros(2, dtype=np.float32),
                 post_transform=PostTransform.IDENTITY, output_names=("a", "b"))


def linear() -> Model:
    return Model(task=Task.REGRESSION, features=_features(3), n_outputs=1, n_classes=0,
                 booster=LinearBooster(weights=np.array([[0.5], [-1.0], [2.0]], dtype=np.float32),
                                       bias=np.array([0.1], dtype=np.float32)),
                 base_score=np.array([0.5], dtype=np.float32), post_transform=PostTransform.IDENTITY)


def deep_chain(depth: int = 10_000) -> Model:
    """A tree that is a single path ``depth`` splits deep (node 2i+1 is a leaf, 2i+2 goes on)."""
    n = 2 * depth + 1
    left = np.full(n, -1, dtype=np.int32)
    right = np.full(n, -1, dtype=np.int32)
    idx = np.arange(depth)
    left[2 * idx] = 2 * idx + 1
    right[2 * idx] = 2 * idx + 2
    thr = np.zeros(n, dtype=np.float32)
    thr[2 * idx] = idx.astype(np.float32)
    value = np.zeros(n, dtype=np.float32)
    value[2 * idx + 1] = idx.astype(np.float32)
    value[-1] = depth
    t = make_tree(left, right, np.zeros(n, dtype=np.int32), thr, value)
    return Model(task=Task.REGRESSION, features=_features(1), n_outputs=1, n_classes=0, booster=ensemble([t]),
                 base_score=np.zeros(1, dtype=np.float32), post_transform=PostTransform.IDENTITY)


ALL = {"regression": regression, "binary": binary, "multiclass": multiclass, "categorical": categorical,
       "vector_leaf": vector_leaf, "linear": linear}
