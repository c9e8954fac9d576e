"""Structural validation of the IR.

:func:`validate` rejects an inconsistent :class:`~modelport.core.ir.model.Model` with a
precise one-line :class:`~modelport.core.errors.ModelFormatError` (``invalid IR: tree 3 node 7: ...``)
before any target or evaluator trusts it.  Every check is vectorised or walks trees level by
level, never recursively, so a 10,000-deep tree validates without touching Python's recursion
limit (docs/architecture.md: trees are walked iteratively).
"""

from __future__ import annotations

import numpy as np

from modelport.core.ir.model import (
    Affine,
    AffineKind,
    Comparison,
    Feature,
    FeatureType,
    Impute,
    LinearBooster,
    Lookup,
    Model,
    PostTransform,
    SelectColumns,
    Task,
    Tree,
    TreeEnsemble,
)
from modelport.core.errors import ModelFormatError

__all__ = ["validate", "tree_depth"]

_CLASSIFIER_TASKS = (Task.BINARY, Task.MULTICLASS)
_SOFTMAXES = (PostTransform.SOFTMAX, PostTransform.SOFTMAX_LABEL)


def _fail(where: str, message: str) -> None:
    raise ModelFormatError(f"invalid IR: {where}{': ' if where else ''}{message}")


def _wide_dtype(booster: object, arr: object) -> str:
    """The dtype a leaf value / base score / tree weight array must have: float32, or the
    ensemble's ``value_dtype`` (float64 for LightGBM and scikit-learn: stored losslessly)."""
    wide = getattr(booster, "value_dtype", "float32") if isinstance(booster, (TreeEnsemble, LinearBooster)) else "float32"
    return wide if getattr(arr, "dtype", None) == np.dtype(wide) else "float32"


def _check_array(where: str, name: str, arr: object, dtype: str, shape: tuple[int, ...]) -> None:
    """``arr`` is a numpy array of exactly ``dtype`` and ``shape`` (-1 matches any length)."""
    if not isinstance(arr, np.ndarray):
        _fail(where, f"{name} must be a numpy array, got {type(arr).__name__}")
    if arr.dtype != np.dtype(dtype):
        _fail(where, f"{name} must have dtype {dtype}, got {arr.dtype}")
    if arr.ndim != len(shape) or any(want not in (-1, got) for want, got in zip(shape, arr.shape, strict=False)):
        want = "[" + ", ".join("n" if s == -1 else str(s) for s in shape) + "]"
        _fail(where, f"{name} must have shape {want}, got {list(arr.shape)}")


def validate(model: Model) -> Model:
    """Check ``model`` for internal consistency; return it unchanged or raise ModelFormatError."""
    if not isinstance(model, Model):
        _fail("", f"expected a Model, got {type(model).__name__}")
    _check_header(model)
    _check_features(model.features)
    width = _check_steps(model)
    if isinstance(model.booster, TreeEnsemble):
        _check_ensemble(model.booster, model.n_outputs, width)
    elif isinstance(model.booster, LinearBooster):
        _check_linear(model.booster, model.n_outputs, width)
    else:
        _fail("booster", f"unknown booster type {type(model.booster).__name__}")
    return model


def _check_header(model: Model) -> None:
    if not isinstance(model.task, Task):
        _fail("task", f"{model.task!r} is not a Task")
    if not isinstance(model.post_transform, PostTransform):
        _fail("post_transform", f"{model.post_transform!r} is not a PostTransform")
    if not isinstance(model.n_outputs, int) or model.n_outputs < 1:
        _fail("n_outputs", f"must be a positive integer, got {model.n_outputs!r}")
    if not isinstance(model.n_classes, int) or model.n_classes < 0:
        _fail("n_classes", f"must be a non-negative integer, got {model.n_classes!r}")
    _check_array("", "base_score", model.base_score, _wide_dtype(model.booster, model.base_score), (model.n_outputs,))
    if not np.isfinite(model.base_score).all():
        # Every prediction would be NaN or infinite: a corrupt file, not a model.
        _fail("base_score", f"must be finite, got {model.base_score[~np.isfinite(model.base_score)][0]}")
    if not isinstance(model.missing, float):
        _fail("missing", f"must be a float, got {type(model.missing).__name__}")
    if model.output_names and len(model.output_names) != model.n_outputs:
        _fail("output_names", f"has {len(model.output_names)} names for {model.n_outputs} outputs")
    # Classes and the post-transform must agree (trap 7 of docs/parity-traps.md and 8).
    task, pt, k = model.task, model.post_transform, model.n_classes
    if task in _CLASSIFIER_TASKS and k < 2:
        _fail("n_classes", f"a {task.value} model needs n_classes >= 2, got {k}")
    if task not in _CLASSIFIER_TASKS and k != 0:
        _fail("n_classes", f"a {task.value} model must have n_classes 0, got {k}")
    if task is Task.BINARY and (k != 2 or model.n_outputs != 1):
        _fail("n_classes", f"a binary model has 2 classes and 1 output, got {k} and {model.n_outputs}")
    if task is Task.MULTICLASS and model.n_outputs != k:
        _fail("n_outputs", f"a multiclass model has one output per class: {model.n_outputs} != {k}")
    if pt in _SOFTMAXES and (task is not Task.MULTICLASS or model.n_outputs != k):
        _fail("post_transform", f"{pt.value} needs a multiclass model with n_outputs == n_classes")
    if pt is PostTransform.HINGE and task is not Task.BINARY:
        _fail("post_transform", f"hinge needs a binary model, got {task.value}")
    _check_isolation(model)


def _check_isolation(model: Model) -> None:
    """``ISOLATION`` (scikit-learn IsolationForest): one regression output from a plain float64
    tree sum with zero base score, and its two finite constants; no other post-transform has
    constants."""
    consts = model.post_constants
    if not isinstance(consts, tuple) or not all(isinstance(c, float) for c in consts):
        _fail("post_constants", "must be a tuple of floats")
    if model.post_transform is not PostTransform.ISOLATION:
        if consts:
            _fail("post_constants", f"{model.post_transform.value} takes no constants, got {len(consts)}")
        return
    b = model.booster
    if model.task is not Task.REGRESSION or model.n_outputs != 1:
        _fail("post_transform", "isolation needs a regression model with one output")
    if not (isinstance(b, TreeEnsemble) and b.value_dtype == "float64" and not b.average and not b.apply_tree_weight):
        _fail("post_transform", "isolation needs a float64, unaveraged, unweighted tree ensemble")
    if np.any(np.asarray(model.base_score) != 0):
        _fail("base_score", "must be 0 for isolation (the path lengths are summed from zero)")
    if len(consts) != 2 or not all(np.isfinite(consts)) or consts[0] < 0:
        _fail("post_constants", f"isolation needs (c >= 0, offset), both finite, got {list(consts)}")


def _check_features(features: tuple[Feature, ...]) -> None:
    if not isinstance(features, tuple) or not features:
        _fail("features", "must be a non-empty tuple of Feature")
    seen: dict[str, int] = {}
    for i, feat in enumerate(features):
        if not isinstance(feat, Feature) or not isinstance(feat.name, str):
            _fail(f"feature {i}", "must be a Feature with a string name")
        if not isinstance(feat.type, FeatureType):
            _fail(f"feature {i}", f"type {feat.type!r} is not a FeatureType")
        if feat.name in seen:
            _fail(f"feature {i}", f"name {feat.name!r} repeats feature {seen[feat.name]}")
        seen[feat.name] = i
        if feat.categories is not None and feat.type not in (FeatureType.CATEGORICAL, FeatureType.NOMINAL):
            _fail(f"feature {i}", "has categories but is not categorical")
        if feat.type is FeatureType.NOMINAL and not feat.categories:
            _fail(f"feature {i}", "is nominal but has no categories")


def _check_linear(booster: LinearBooster, n_outputs: int, n_features: int) -> None:
    dt = getattr(booster, "value_dtype", "float32")
    if dt not in ("float32", "float64"):
        _fail("linear booster", f"value_dtype must be 'float32' or 'float64', got {dt!r}")
    _check_array("linear booster", "weights", booster.weights, dt, (n_features, n_outputs))
    _check_array("linear booster", "bias", booster.bias, dt, (n_outputs,))
    for name, arr in (("weights", booster.weights), ("bias", booster.bias)):
        if not np.isfinite(arr).all():
            _fail("linear booster", f"{name} must be finite, got {arr[~np.isfinite(arr)][0]}")


def _check_steps(model: Model) -> int:
    """Check each preprocessing step against the column count before it; return the
    booster's width (the column count after the last step)."""
    steps = model.preprocessing
    if not isinstance(steps, tuple):
        _fail("preprocessing", "must be a tuple of steps")
    width = model.n_features
    for i, step in enumerate(steps):
        where = f"preprocessing step {i}"
        if isinstance(step, SelectColumns):
            _check_array(where, "sources", step.sources, "int32", (-1,))
            _check_columns(where, step.sources, width)
            if not step.sources.size:
                _fail(where, "selects no column")
            width = int(step.sources.size)
        elif isinstance(step, (Affine, Impute)):
            _check_array(where, "columns", step.columns, "int32", (-1,))
            _check_columns(where, step.columns, width)
            k = step.columns.size
            if np.unique(step.columns).size != k:
                _fail(where, "lists a column twice")
            if isinstance(step, Affine):
                if not isinstance(step.kind, AffineKind):
                    _fail(where, f"kind {step.kind!r} is not an AffineKind")
                for name in ("offset", "scale"):
                    arr = getattr(step, name)
                    _check_array(where, name, arr, "float64", (k,))
                    if not np.isfinite(arr).all():
                        _fail(where, f"{name} must be finite")
                if step.clip is not None and not (isinstance(step.clip, tuple) and len(step.clip) == 2
                                                  and float(step.clip[0]) <= float(step.clip[1])):
                    _fail(where, f"clip must be a (low, high) pair with low <= high, got {step.clip!r}")
            else:
                _check_array(where, "fill", step.fill, "float64", (k,))
                if not np.isfinite(step.fill).all():
                    _fail(where, "fill values must be finite")
                if not isinstance(step.missing_value, float):
                    _fail(where, f"missing_value must be a float, got {type(step.missing_value).__name__}")
        elif isinstance(step, Lookup):
            if not isinstance(step.column, int) or not 0 <= step.column < width:
                _fail(where, f"column {step.column!r} is out of range [0, {width})")
            _check_array(where, "keys", step.keys, "float64", (-1,))
            if not np.isfinite(step.keys).all():
                _fail(where, "keys must be finite")
            if np.unique(step.keys).size != step.keys.size:
                _fail(where, "keys repeat")
            _check_array(where, "table", step.table, "float64", (step.keys.size + 2, -1))
            if step.table.shape[1] < 1:
                _fail(where, "table has no output column")
            width += step.table.shape[1] - 1
        else:
            _fail(where, f"unknown step type {type(step).__name__}")
    return width


def _check_columns(where: str, cols: np.ndarray, width: int) -> None:
    bad = cols[(cols < 0) | (cols >= width)]
    if bad.size:
        _fail(where, f"column {int(bad[0])} is out of range [0, {width})")


def _check_ensemble(ens: TreeEnsemble, n_outputs: int, n_features: int) -> None:
    if not isinstance(ens.trees, tuple) or not all(isinstance(t, Tree) for t in ens.trees):
        _fail("booster", "trees must be a tuple of Tree")
    n_trees = len(ens.trees)
    if not isinstance(ens.comparison, Comparison):
        _fail("booster", f"comparison {ens.comparison!r} is not a Comparison")
    if ens.threshold_dtype not in ("float32", "float64"):
        _fail("booster", f"threshold_dtype must be 'float32' or 'float64', got {ens.threshold_dtype!r}")
    if not isinstance(ens.leaf_dim, int) or ens.leaf_dim < 1:
        _fail("booster", f"leaf_dim must be a positive integer, got {ens.leaf_dim!r}")
    if ens.leaf_dim > 1 and ens.leaf_dim != n_outputs:
        _fail("booster", f"vector leaves of length {ens.leaf_dim} must have one value per output ({n_outputs})")
    _check_array("booster", "tree_output", ens.tree_output, "int32", (n_trees,))
    if ens.value_dtype not in ("float32", "float64"):
        _fail("booster", f"value_dtype must be 'float32' or 'float64', got {ens.value_dtype!r}")
    if not isinstance(ens.average, bool):
        _fail("booster", f"average must be a bool, got {ens.average!r}")
    _check_array("booster", "tree_weight", ens.tree_weight, _wide_dtype(ens, ens.tree_weight), (n_trees,))
    out = ens.tree_output
    vector = ens.leaf_dim == n_outputs and ens.leaf_dim > 1
    low = -1 if ens.leaf_dim == n_outputs else 0
    bad = np.flatnonzero((out < low) | (out >= n_outputs) | ((out != -1) if vector else False))
    if bad.size:
        t = int(bad[0])
        rule = "-1 (vector leaves)" if vector else f"in [{low}, {n_outputs})"
        _fail(f"tree {t}", f"tree_output {int(out[t])} must be {rule}")
    for t, tree in enumerate(ens.trees):
        _check_tree(f"tree {t}", tree, ens, n_features)


def _check_tree(where: str, tree: Tree, ens: TreeEnsemble, n_features: int) -> None:
    if not isinstance(tree.left, np.ndarray) or tree.left.ndim != 1 or tree.left.size < 1:
        _fail(where, "left must be a non-empty 1-D numpy array")
    n = tree.left.shape[0]
    _check_array(where, "left", tree.left, "int32", (n,))
    _check_array(where, "right", tree.right, "int32", (n,))
    _check_array(where, "feature", tree.feature, "int32", (n,))
    _check_array(where, "threshold", tree.threshold, ens.threshold_dtype, (n,))
    _check_array(where, "default_left", tree.default_left, "bool", (n,))
    _check_array(where, "is_categorical", tree.is_categorical, "bool", (n,))
    _check_array(where, "cat_offsets", tree.cat_offsets, "int64", (n + 1,))
    _check_array(where, "cat_values", tree.cat_values, "int32", (-1,))
    _check_array(where, "value", tree.value, _wide_dtype(ens, tree.value), (n, ens.leaf_dim))

    left, right = tree.left, tree.right
    leaf = left == -1
    half = np.flatnonzero(leaf != (right == -1))
    if half.size:
        i = int(half[0])
        _fail(f"{where} node {i}", f"has only one child (left={int(left[i])}, right={int(right[i])}); a leaf has both -1")
    internal = np.flatnonzero(~leaf)
    for side, child in (("left", left), ("right", right)):
        bad = internal[(child[internal] < 0) | (child[internal] >= n)]
        if bad.size:
            i = int(bad[0])
            _fail(f"{where} node {i}", f"{side} child {int(child[i])} is out of range [0, {n})")
    _check_shape_is_tree(where, left, right, internal, n)

    feat = tree.feature
    bad = internal[(feat[internal] < 0) | (feat[internal] >= n_features)]
    if bad.size:
        i = int(bad[0])
        _fail(f"{where} node {i}", f"feature {int(feat[i])} is out of range [0, {n_features})")

    offs = tree.cat_offsets
    if offs[0] != 0 or offs[-1] != tree.cat_values.size:
        _fail(where, f"cat_offsets must run from 0 to len(cat_values)={tree.cat_values.size}, "
                     f"got {int(offs[0])}..{int(offs[-1])}")
    dec = np.flatnonzero(np.diff(offs) < 0)
    if dec.size:
        _fail(f"{where} node {int(dec[0])}", "cat_offsets must be non-decreasing")
    has_set = np.diff(offs) > 0
    stray = np.flatnonzero(has_set & ~(tree.is_categorical & ~leaf))
    if stray.size:
        _fail(f"{where} node {int(stray[0])}", "has a category set but is not a categorical split")
    leaf_cat = np.flatnonzero(leaf & tree.is_categorical)
    if leaf_cat.size:
        _fail(f"{where} node {int(leaf_cat[0])}", "is a leaf marked categorical")
    vals = tree.cat_values
    if vals.size:
        if (vals < 0).any():
            _fail(where, f"category code {int(vals[vals < 0][0])} is negative")
        # Within one node's set the codes must strictly increase (sorted, no duplicates).
        starts = np.zeros(vals.size, dtype=bool)
        starts[offs[:-1][has_set]] = True
        unsorted = np.flatnonzero((np.diff(vals) <= 0) & ~starts[1:])
        if unsorted.size:
            node = int(np.searchsorted(offs, unsorted[0] + 1, side="right") - 1)
            _fail(f"{where} node {node}", "category codes must be sorted and unique")


def _check_shape_is_tree(where: str, left: np.ndarray, right: np.ndarray, internal: np.ndarray, n: int) -> None:
    """Every node has at most one parent, the root none, and there is no cycle.

    Nodes unreachable from the root are tolerated (XGBoost keeps deleted nodes in its arrays)
    but they may not form a cycle either, so any walk over the arrays terminates.
    """
    children = np.concatenate([left[internal], right[internal]])
    parents = np.concatenate([internal, internal])
    indegree = np.bincount(children, minlength=n)
    if indegree[0]:
        p = int(parents[np.flatnonzero(children == 0)[0]])
        _fail(f"{where} node {p}", "points back to the root (cycle)")
    shared = np.flatnonzero(indegree > 1)
    if shared.size:
        c = int(shared[0])
        ps = sorted({int(p) for p in parents[children == c]})
        if len(ps) == 1:
            _fail(f"{where} node {ps[0]}", f"has node {c} as both children")
        _fail(f"{where} node {c}", f"is a child of nodes {ps[0]} and {ps[1]} (shared child: reachable twice)")
    # Level-by-level walk from every parentless node; what is never reached lies on a cycle.
    seen = np.zeros(n, dtype=bool)
    frontier = np.flatnonzero(indegree == 0)
    while frontier.size:
        seen[frontier] = True
        inner = frontier[left[frontier] != -1]
        frontier = np.concatenate([left[inner], right[inner]])
    if not seen.all():
        _fail(f"{where} node {int(np.flatnonzero(~seen)[0])}", "lies on a cycle")


def tree_depth(tree: Tree) -> int:
    """Depth of ``tree`` (a lone leaf has depth 0), walking level by level from the root."""
    depth, frontier = 0, np.array([0])
    while True:
        inner = frontier[tree.left[frontier] != -1]
        if not inner.size:
            return depth
        frontier = np.concatenate([tree.left[inner], tree.right[inner]])
        depth += 1
