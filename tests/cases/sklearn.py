"""scikit-learn cases of the parity matrix: fitted estimators saved with ``skops.io.dump`` (the
format that loads without ``--trust-pickle``), read by modelport's own frontend, with float64
trap rows and scikit-learn's own raw scores (first hop)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import pytest

from cases import CASES, KNOWN_BACKEND_FAILURES, KNOWN_REFUSALS, ParityCase

_N_FEATURES = 5
_CAT = 2  # the categorical column (integer category values 0..7)


def _data(n: int, seed: int, *, nan: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.empty((n, _N_FEATURES))
    X[:, 0] = rng.normal(size=n)
    if nan:
        X[rng.random(n) < 0.15, 0] = np.nan      # NaN seen in training: missing_go_to_left
    X[:, 1] = rng.normal(size=n) * (rng.random(n) < 0.7)
    X[:, _CAT] = rng.integers(0, 8, size=n)
    if nan:
        X[rng.random(n) < 0.05, _CAT] = np.nan  # a missing category: HistGradientBoosting's missing side
    X[:, 3] = rng.uniform(-3, 3, size=n)
    X[:, 4] = 0.1 + rng.normal(size=n) * 1e-7    # splits between neighbouring float32 values
    return X


def _signal(X: np.ndarray, rng) -> np.ndarray:
    return (np.nan_to_num(X[:, 0], nan=1.0) + 2 * X[:, 1] + np.isin(X[:, _CAT], [1, 4, 6]) * 1.5
            + np.sin(X[:, 3]) + 3e6 * (X[:, 4] - 0.1) + rng.normal(scale=0.3, size=len(X)))


def _target(kind: str, X: np.ndarray, rng):
    s = _signal(X, rng)
    if kind == "binary":
        return (s > 0.5).astype(int)
    if kind == "binary_str":
        return np.where(s > 0.5, "yes", "no")
    if kind == "multiclass":
        return np.digitize(s, [-0.5, 1.0, 2.5]) * 10 + 3  # non-contiguous integer labels
    if kind == "multiclass_str":
        return np.array(["ant", "bee", "cat", "dog"])[np.digitize(s, [-0.5, 1.0, 2.5])]
    if kind == "poisson":
        return np.exp(s / 3)
    return s


def _make(name: str):
    from sklearn import ensemble as E
    from sklearn import tree as T

    hgb = {"max_iter": 15, "max_leaf_nodes": 15, "categorical_features": [_CAT], "random_state": 0}
    table = {
        "decision_tree_regression": (T.DecisionTreeRegressor(max_depth=8, random_state=0), "regression", True),
        "decision_tree_multiclass": (T.DecisionTreeClassifier(max_depth=8, random_state=0), "multiclass", True),
        "random_forest_regression_nan": (E.RandomForestRegressor(n_estimators=12, max_depth=10, random_state=0),
                                         "regression", True),
        "random_forest_binary_nan": (E.RandomForestClassifier(n_estimators=12, random_state=0), "binary", True),
        "random_forest_binary_str": (E.RandomForestClassifier(n_estimators=8, max_depth=6, random_state=1),
                                     "binary_str", True),
        "random_forest_multiclass_nan": (E.RandomForestClassifier(n_estimators=10, max_depth=8, random_state=0),
                                         "multiclass", True),
        "extra_trees_regression": (E.ExtraTreesRegressor(n_estimators=10, max_depth=8, random_state=0),
                                   "regression", True),
        "gradient_boosting_regression": (E.GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0),
                                         "regression", False),
        "gradient_boosting_binary": (E.GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0),
                                     "binary", False),
        "gradient_boosting_multiclass_str": (E.GradientBoostingClassifier(n_estimators=15, max_depth=3,
                                                                          random_state=0), "multiclass_str", False),
        "hist_gradient_boosting_regression": (E.HistGradientBoostingRegressor(**hgb), "regression", True),
        "hist_gradient_boosting_poisson": (E.HistGradientBoostingRegressor(loss="poisson", **hgb), "poisson", True),
        "hist_gradient_boosting_binary": (E.HistGradientBoostingClassifier(**hgb), "binary", True),
        "hist_gradient_boosting_multiclass": (E.HistGradientBoostingClassifier(**hgb), "multiclass", True),
    }
    return table[name]


NAMES = ("decision_tree_regression", "decision_tree_multiclass", "random_forest_regression_nan",
         "random_forest_binary_nan", "random_forest_binary_str", "random_forest_multiclass_nan",
         "extra_trees_regression", "gradient_boosting_regression", "gradient_boosting_binary",
         "gradient_boosting_multiclass_str", "hist_gradient_boosting_regression", "hist_gradient_boosting_poisson",
         "hist_gradient_boosting_binary", "hist_gradient_boosting_multiclass")


@functools.cache
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="modelport-sklearn-cases-"))


@functools.cache
def trained(name: str):
    """(estimator, skops file) of case ``name``, trained once per process."""
    pytest.importorskip("sklearn")
    sio = pytest.importorskip("skops.io")
    est, kind, nan = _make(name)
    X = _data(600, 0, nan=nan)
    est.fit(X, _target(kind, X, np.random.default_rng(7)))
    path = _workdir() / f"{name}.skops"
    sio.dump(est, path)
    return est, path


def _thresholds(est) -> list[tuple[int, float]]:
    """(feature, float64 threshold) of every numeric split of a fitted tree model."""
    out = []
    members = getattr(est, "estimators_", [est] if hasattr(est, "tree_") else [])
    for m in np.asarray(members, dtype=object).ravel():
        t = m.tree_
        out += [(int(f), float(v)) for f, v in zip(t.feature, t.threshold, strict=True) if f >= 0 and np.isfinite(v)]
    for it in getattr(est, "_predictors", []):
        for p in it:
            nodes = p.nodes[~p.nodes["is_leaf"].astype(bool) & ~p.nodes["is_categorical"].astype(bool)]
            order = _hgb_order(est)
            out += [(order[int(f)], float(v)) for f, v in zip(nodes["feature_idx"], nodes["num_threshold"], strict=True)
                    if np.isfinite(v)]
    return out


def _hgb_order(est) -> list[int]:
    pre = getattr(est, "_preprocessor", None)
    if pre is None:
        return list(range(_N_FEATURES))
    order: list[int] = []
    for _n, trans, cols in pre.transformers_:
        if not (isinstance(trans, str) and trans == "drop"):
            order += [int(j) for j in np.flatnonzero(np.asarray(cols))]
    return order


def rows(name: str) -> np.ndarray:
    """float64 rows on scikit-learn's edges: each threshold and its float64 and float32
    neighbours, float64 values that ROUND onto a float32 threshold (trap 2), NaN per feature,
    unseen, negative and large categories, plus ordinary rows."""
    est, _ = trained(name)
    base = _data(1, 5)[0]
    base[0] = 0.3
    out = []
    for f, t in _thresholds(est)[:150]:
        t32 = np.float32(t)
        cands = [t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf), float(t32),
                 float(np.nextafter(t32, np.float32(np.inf))), float(np.nextafter(t32, np.float32(-np.inf))),
                 # halfway-ish between t32 and its upper neighbour: rounds to one of them in float32
                 (float(t32) + float(np.nextafter(t32, np.float32(np.inf)))) / 2]
        for v in cands:
            r = base.copy()
            r[f] = v
            if f == _CAT:
                continue
            out.append(r)
    nan = _make(name)[2]
    for f in range(_N_FEATURES if nan else 0):  # GradientBoosting refuses NaN
        r = base.copy()
        r[f] = np.nan
        out.append(r)
    for v in (-1.0, 8.0, 9.0, 255.0, 300.0, 0.0, 7.0):
        r = base.copy()
        r[_CAT] = v
        out.append(r)
    return np.concatenate([np.array(out), _data(200, 11, nan=nan)])


def framework_margin(name: str, X: np.ndarray) -> np.ndarray:
    """scikit-learn's own raw scores in the IR's margin space (float64 rounded once)."""
    est, _ = trained(name)
    if hasattr(est, "decision_function"):  # (Hist)GradientBoosting classifiers: init + sum of trees
        raw = est.decision_function(X)
    elif hasattr(est, "_baseline_prediction"):  # HistGradientBoosting regressors (poisson: before exp)
        raw = est._raw_predict(X)
    elif hasattr(est, "predict_proba"):  # trees and forests: averaged class proportions
        raw = est.predict_proba(X)
        raw = raw[:, 1:] if raw.shape[1] == 2 else raw
    else:
        raw = est.predict(X)
    return np.asarray(raw, dtype=np.float64).reshape(len(X), -1).astype(np.float32)


def _register(name: str) -> None:
    key = f"sklearn/{name}"
    CASES.register(key, ParityCase(name=key, framework="scikit-learn", slow=False,
                                   model_file=lambda: trained(name)[1], rows=lambda: rows(name),
                                   framework_margin=lambda X: framework_margin(name, X),
                                   extra={"objective": name}))


for _name in NAMES:
    _register(_name)

# IsolationForest: an anomaly score (docs/sklearn.md), a case of its own outside NAMES (whose
# tests compare classifier and regressor outputs).  scikit-learn accepts NaN at predict time
# (score_samples validates with ensure_all_finite=False), so the rows keep their NaN cells;
# it is trained on NaN-free data.
ISOLATION = "isolation_forest"


@functools.cache
def trained_isolation():
    """(IsolationForest, skops file): feature subsampling (each tree reads 3 of the 5 columns),
    a fitted contamination (offset_ a percentile, not -0.5), trained once per process."""
    pytest.importorskip("sklearn")
    sio = pytest.importorskip("skops.io")
    from sklearn.ensemble import IsolationForest

    est = IsolationForest(n_estimators=40, max_features=3, contamination=0.05, random_state=0)
    est.fit(_data(600, 0, nan=False))
    path = _workdir() / f"{ISOLATION}.skops"
    sio.dump(est, path)
    return est, path


def isolation_rows() -> np.ndarray:
    """Every split threshold of the forest and its float64 / float32 neighbours, NaN per
    feature, and ordinary rows (with NaN cells)."""
    est, _ = trained_isolation()
    base = _data(1, 5, nan=False)[0]
    out = []
    for m, cols in list(zip(est.estimators_, est.estimators_features_, strict=True))[:12]:
        t = m.tree_
        for f, v in zip(t.feature, t.threshold, strict=True):
            if f < 0:
                continue
            t32 = np.float32(v)
            for c in (v, np.nextafter(v, -np.inf), np.nextafter(v, np.inf), float(t32),
                      float(np.nextafter(t32, np.float32(np.inf))), float(np.nextafter(t32, np.float32(-np.inf)))):
                r = base.copy()
                r[int(cols[f])] = c
                out.append(r)
    for f in range(_N_FEATURES):
        r = base.copy()
        r[f] = np.nan
        out.append(r)
    return np.concatenate([np.array(out), _data(200, 11, nan=True), 4 * _data(50, 12, nan=False)])


def isolation_depths(X: np.ndarray) -> np.ndarray:
    """scikit-learn's own float64 sum of path lengths (its ``_parallel_compute_tree_depths``,
    tree by tree, on X cast to float32 as ``score_samples`` does), ``[n, 1]`` float64."""
    import threading

    from sklearn.ensemble._iforest import _parallel_compute_tree_depths

    est, _ = trained_isolation()
    X32 = np.asarray(X, dtype=np.float32)
    depths = np.zeros(len(X32))
    lock = threading.Lock()
    subsample = est._max_features != X32.shape[1]
    for i, (tree, cols) in enumerate(zip(est.estimators_, est.estimators_features_, strict=True)):
        _parallel_compute_tree_depths(tree, X32, cols if subsample else None, est._decision_path_lengths[i],
                                      est._average_path_length_per_tree[i], depths, lock)
    return depths.reshape(-1, 1)


CASES.register(f"sklearn/{ISOLATION}", ParityCase(
    name=f"sklearn/{ISOLATION}", framework="scikit-learn", slow=False, model_file=lambda: trained_isolation()[1],
    rows=isolation_rows, framework_margin=lambda X: isolation_depths(X).astype(np.float32),
    extra={"objective": ISOLATION}))


def _register_isolation_refusals() -> None:
    """Every target with a runtime that does not declare the isolation-forest construct must
    refuse the case in one line (Target.supports)."""
    from modelport.converters.targets import all_targets

    for tname, target in all_targets().items():
        if target.runtime is not None and "isolation-forest" not in target.supports:
            KNOWN_REFUSALS[(tname, f"sklearn/{ISOLATION}")] = r"cannot express isolation-forest"


_register_isolation_refusals()
KNOWN_BACKEND_FAILURES[("onnxmltools", f"sklearn/{ISOLATION}")] = (
    "refused: the backend reads classifiers and regressors only (an IsolationForest is neither)")

# skl2onnx 1.20 (--backend onnxmltools), measured on each case's verification rows with
# scikit-learn 1.9.1 and onnxruntime 1.32.  The default path passes all of them.
_INF = ("refused up front: a tree with an infinite threshold (scikit-learn's missing-only split from "
        "training on NaN) sends skl2onnx's find_switch_point into an endless loop")
_HGB = ("conversion fails: ValueError 'Unable to create node TreeEnsemble...' for these HistGradientBoosting "
        "models (all with a categorical feature; not tried without)")
_SKL2ONNX = {
    "decision_tree_regression": _INF,
    "decision_tree_multiclass": ("NaN routing lost (sklearn-onnx#1253 class of bug, trap 3): 21 rows differ, "
                                 "max |diff| 1.0, 13 class flips"),
    "random_forest_regression_nan": _INF,
    "random_forest_binary_nan": _INF,
    "random_forest_binary_str": _INF,
    "random_forest_multiclass_nan": _INF,
    "extra_trees_regression": "NaN routing lost (trap 3): 45 rows differ, max |diff| 5.51",
    "hist_gradient_boosting_regression": _HGB,
    "hist_gradient_boosting_poisson": _HGB,
    "hist_gradient_boosting_binary": _HGB,
    "hist_gradient_boosting_multiclass": _HGB,
}
for _name, _reason in _SKL2ONNX.items():
    KNOWN_BACKEND_FAILURES[("onnxmltools", f"sklearn/{_name}")] = _reason
