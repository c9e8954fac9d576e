"""The probe set reaches every node with each of its trap values.

A row with NaN in feature j tests a node's default direction only if it REACHES that node;
random rows plus "NaN in feature j" rows do not guarantee that (a C generator that sent
missing values the wrong way at some nodes passed verification).  These tests compute, with
a walk independent of ``probe.py``, which (node, side) pairs an input can reach at all and
check that the probe set reaches each of them, then prove the point by mutation: flipping the
default direction of ANY internal node must change ``predict_margin`` on the probe set.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import ir_samples as samples
import xgb_cases
from modelport.core.ir import evaluate
from modelport.core.ir.model import Comparison, Feature, Model, PostTransform, Task
from modelport.core.ir.probe import ProbeOptions, probe_set

MISSING, LEFT, RIGHT = 0, 1, 2
_MAX_CAT = float(1 << 24)


# --------------------------------------------------------------------------- independent oracle


def _goes_left(model: Model, tree, node: int, x: float) -> bool:
    """One node's decision for value ``x``, written out from the evaluator's documented rules."""
    ens = model.booster
    dt = np.float64 if ens.threshold_dtype == "float64" else np.float32
    x = dt(x)
    if np.isnan(x) or (not np.isnan(model.missing) and x == dt(model.missing)):
        return bool(tree.default_left[node])
    if tree.is_categorical[node]:
        if not 0 <= x < _MAX_CAT:
            return ens.invalid_category_goes_left
        codes = tree.cat_values[tree.cat_offsets[node]:tree.cat_offsets[node + 1]]
        return (int(x) in codes.tolist()) == ens.categories_in_set_go_left
    t = dt(tree.threshold[node])
    return bool(x < t) if ens.comparison is Comparison.LT else bool(x <= t)


def _candidates(model: Model, tree, nodes: list[int]) -> list[float]:
    """Values that realise every satisfiable combination of the ``nodes``' decisions (all on
    one feature): each threshold and its float neighbours, the codes used and one past them,
    -1, and NaN."""
    dt = np.float64 if model.booster.threshold_dtype == "float64" else np.float32
    out = [0.0, -1.0, float("nan")]
    for n in nodes:
        if tree.is_categorical[n]:
            codes = tree.cat_values[tree.cat_offsets[n]:tree.cat_offsets[n + 1]].tolist()
            out += [float(c) for c in codes] + [float(max(codes, default=0) + 1)]
        else:
            t = dt(tree.threshold[n])
            out += [float(t), float(np.nextafter(t, dt(-np.inf))), float(np.nextafter(t, dt(np.inf)))]
    return out


def _parents(tree) -> np.ndarray:
    parent = np.full(tree.left.size, -1, np.int64)
    internal = np.flatnonzero(tree.left != -1)
    parent[tree.left[internal]] = internal
    parent[tree.right[internal]] = internal
    return parent


def _feasible(model: Model, tree, parent: np.ndarray, node: int, side: int) -> bool:
    """Can any input reach ``node`` and take ``side`` there (missing, present-left, present-right)?"""
    need: list[tuple[int, bool]] = []  # (ancestor, goes left)
    child, p = node, parent[node]
    while p >= 0:
        need.append((int(p), bool(tree.left[p] == child)))
        child, p = p, parent[p]
    by_feature: dict[int, list[tuple[int, bool]]] = {}
    for a, gl in need:
        by_feature.setdefault(int(tree.feature[a]), []).append((a, gl))
    f = int(tree.feature[node])
    by_feature.setdefault(f, [])
    for g, cons in by_feature.items():
        nodes = [a for a, _ in cons] + ([node] if g == f else [])
        ok = False
        for v in _candidates(model, tree, nodes):
            if all(_goes_left(model, tree, a, v) == gl for a, gl in cons):
                if g != f:
                    ok = True
                elif side == MISSING:
                    ok = np.isnan(v)
                else:
                    ok = not np.isnan(v) and _goes_left(model, tree, node, v) == (side == LEFT)
                if ok:
                    break
        if not ok:
            return False
    return True


def _reached(model: Model, tree, X: np.ndarray) -> set[tuple[int, int]]:
    """(node, side) pairs the rows of ``X`` take in ``tree``: all rows advance one level per
    step; numeric decisions vectorised, categorical ones through :func:`_goes_left`."""
    ens = model.booster
    seen: set[tuple[int, int]] = set()
    miss = np.isnan(X)
    if not np.isnan(model.missing):
        miss |= X == X.dtype.type(model.missing)
    rows = np.arange(X.shape[0])
    node = np.zeros(X.shape[0], np.int64)
    while rows.size:
        keep = tree.left[node] != -1
        rows, node = rows[keep], node[keep]
        f = tree.feature[node]
        v, m = X[rows, f], miss[rows, f]
        t = tree.threshold[node].astype(X.dtype)
        gl = (v < t) if ens.comparison is Comparison.LT else (v <= t)
        for i in np.flatnonzero(tree.is_categorical[node]).tolist():
            gl[i] = _goes_left(model, tree, int(node[i]), float(v[i]))
        gl = np.where(m, tree.default_left[node], gl)
        side = np.where(m, MISSING, np.where(gl, LEFT, RIGHT))
        seen |= {(int(k) // 3, int(k) % 3) for k in np.unique(node * 3 + side)}
        node = np.where(gl, tree.left[node], tree.right[node]).astype(np.int64)
    return seen


def _uncovered(model: Model, X: np.ndarray) -> list[tuple[int, int, int]]:
    """(tree, node, side) that some input reaches but no row of ``X`` does."""
    out = []
    for t, tree in enumerate(model.booster.trees):
        parent, seen = _parents(tree), _reached(model, tree, X)
        for node in np.flatnonzero(tree.left != -1).tolist():
            for side in (MISSING, LEFT, RIGHT):
                if (node, side) not in seen and _feasible(model, tree, parent, node, side):
                    out.append((t, node, side))
    return out


def _xgb_model(name: str) -> Model:
    from modelport.converters.frontends import load_model

    return load_model(xgb_cases.trained_case(name).json_path)


# --------------------------------------------------------------------------- (a) coverage

HAND = ["regression", "binary", "multiclass", "categorical", "vector_leaf"]


@pytest.mark.parametrize("name", HAND)
def test_hand_built_models_every_node_side_is_reached(name):
    model = samples.ALL[name]()
    assert _uncovered(model, probe_set(model, n_random=0)) == []


def test_contradictory_paths_are_skipped_not_faked():
    """Root: x0 < 1 (missing right); its left child tests x0 < 2 with missing left.  No row
    reaches the child with x0 missing, nor goes right there; rows do go left there."""
    tree = samples.make_tree([1, 3, -1, -1, -1], [2, 4, -1, -1, -1], [0, 0, 0, 0, 0], [1.0, 2.0, 0, 0, 0],
                             [0, 0, 1, 2, 3], default_left=[False, True, True, True, True])
    model = dataclasses.replace(samples.regression(1), booster=samples.ensemble([tree]))
    X = probe_set(model, n_random=0)
    parent = _parents(tree)
    assert not _feasible(model, tree, parent, 1, MISSING) and not _feasible(model, tree, parent, 1, RIGHT)
    assert (1, LEFT) in _reached(model, tree, X)
    assert _uncovered(model, X) == []


@pytest.mark.parametrize("comparison,dtype", [(Comparison.LE, "float64"), (Comparison.LT, "float64"),
                                              (Comparison.LE, "float32")])
def test_le_and_float64_models_every_node_side_is_reached(comparison, dtype):
    base = samples.regression()
    trees = [dataclasses.replace(t, threshold=t.threshold.astype(dtype)) for t in base.booster.trees]
    ens = dataclasses.replace(base.booster, trees=tuple(trees), comparison=comparison, threshold_dtype=dtype)
    model = dataclasses.replace(base, booster=ens)
    X = probe_set(model, n_random=0)
    assert X.dtype == np.dtype(dtype)
    assert _uncovered(model, X) == []


@pytest.mark.parametrize("name", ["early_stopped", "categorical", "nan_heavy", "multi_class_vector_leaf"])
def test_trained_models_every_node_side_is_reached(name):
    model = _xgb_model(name)
    assert _uncovered(model, probe_set(model, n_random=16)) == []


def test_extra_rows_stay_last():
    model = _xgb_model("early_stopped")
    extra = np.full((3, model.n_features), 7.5)
    X = probe_set(model, extra=extra)
    assert X.dtype == np.float32 and (X[len(X) - len(extra):] == np.float32(7.5)).all()


# --------------------------------------------------------------------------- (b) mutation


def _flip_default(model: Model, t: int, node: int) -> Model:
    tree = model.booster.trees[t]
    dl = tree.default_left.copy()
    dl[node] = not dl[node]
    trees = list(model.booster.trees)
    trees[t] = dataclasses.replace(tree, default_left=dl)
    return dataclasses.replace(model, booster=dataclasses.replace(model.booster, trees=tuple(trees)))


def _undetected_flips(model: Model, X: np.ndarray) -> list[tuple[int, int]]:
    ref = evaluate.predict_margin(model, X)
    missed = []
    for t, tree in enumerate(model.booster.trees):
        parent = _parents(tree)
        for node in np.flatnonzero(tree.left != -1).tolist():
            if not _feasible(model, tree, parent, node, MISSING):
                continue  # no input reaches the node with its feature missing: the flip is invisible
            if np.array_equal(ref, evaluate.predict_margin(_flip_default(model, t, node), X), equal_nan=True):
                missed.append((t, node))
    return missed


def test_every_default_direction_flip_changes_the_margin():
    """The C-generator bug class: a wrong default direction at ANY reachable node is caught."""
    model = _xgb_model("early_stopped")
    X = probe_set(model)
    n_internal = sum(int((t.left != -1).sum()) for t in model.booster.trees)
    assert n_internal > 50
    assert _undetected_flips(model, X) == []


def test_default_direction_flips_on_hand_built_models():
    for name in ("regression", "categorical", "multiclass"):
        model = samples.ALL[name]()
        assert _undetected_flips(model, probe_set(model, n_random=8)) == [], name


# --------------------------------------------------------------------------- (c) size


def _complete_tree(depth: int, nf: int, rng: np.random.Generator):
    n = 2 ** (depth + 1) - 1
    internal = np.arange(2**depth - 1)
    left = np.full(n, -1)
    right = np.full(n, -1)
    left[internal], right[internal] = 2 * internal + 1, 2 * internal + 2
    feature = np.where(left != -1, rng.integers(0, nf, n), 0)
    thr = np.where(left != -1, rng.standard_normal(n), 0).astype(np.float32)
    value = np.where(left == -1, rng.standard_normal(n), 0)
    return samples.make_tree(left, right, feature, thr, value, default_left=rng.random(n) < 0.5)


def test_size_is_bounded_for_a_150_tree_depth_8_model():
    rng = np.random.default_rng(0)
    nf = 30
    trees = [_complete_tree(8, nf, rng) for _ in range(150)]
    model = Model(task=Task.REGRESSION, features=tuple(Feature(f"f{i}") for i in range(nf)), n_outputs=1,
                  n_classes=0, booster=samples.ensemble(trees), base_score=np.zeros(1, np.float32),
                  post_transform=PostTransform.IDENTITY)
    X = probe_set(model)
    opts = ProbeOptions()
    # edge-aimed rows are capped; random rows, category rows and 2 rows per feature on top
    assert X.shape[0] <= opts.max_edge_rows + opts.n_random + 2 * (nf + 1)
    assert X.shape[0] > opts.max_edge_rows // 2
    assert np.array_equal(X, probe_set(model), equal_nan=True)  # deterministic
    # the sample still covers every (depth, feature, default direction) with a NaN that gets
    # there, wherever some node of the group can be reached with its feature missing
    reached, want = set(), set()
    for tree in model.booster.trees:
        depth = np.floor(np.log2(np.arange(tree.left.size) + 1)).astype(int)
        reached |= {(depth[n], tree.feature[n], tree.default_left[n])
                    for n, side in _reached(model, tree, X) if side == MISSING}
    for tree in model.booster.trees:
        depth = np.floor(np.log2(np.arange(tree.left.size) + 1)).astype(int)
        parent = _parents(tree)
        for n in np.flatnonzero(tree.left != -1).tolist():
            key = (depth[n], tree.feature[n], tree.default_left[n])
            if key not in want and _feasible(model, tree, parent, n, MISSING):
                want.add(key)
    assert want and want <= reached
