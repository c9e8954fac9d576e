"""scikit-learn tree models into the IR: decision trees, random forests, extra trees,
GradientBoosting and HistGradientBoosting.

Semantics reproduced (scikit-learn 1.9; checked bit for bit on margins by
``tests/test_sklearn_frontend.py``):

* ``sklearn/tree/_tree.pyx`` (``apply``) and ``sklearn/ensemble/_gradient_boosting.pyx``
  (``predict_stages``): inputs are cast to float32 (``DTYPE``), a split sends the row left when
  ``x <= threshold`` with a float64 threshold.  For a float32 ``x`` that test equals
  ``x <= t32`` with ``t32`` the largest float32 not above the threshold (:func:`float32_floor`),
  so the IR stores float32 thresholds and tests ``<=`` on float32 inputs: exact, never rounded
  to nearest.  NaN follows ``missing_go_to_left`` in trees and forests; ``predict_stages``
  (GradientBoosting) has no NaN branch (``NaN <= t`` is false: right).
* Forests (``sklearn/ensemble/_forest.py``): ``predict_proba`` sums each tree's leaf class
  proportions (``value / value.sum()``, float64) tree by tree from zeros, then divides by the
  tree count; regressors the same with the leaf values: the IR's float64 ``average``.
* GradientBoosting: ``raw = init + sum(learning_rate * leaf)`` in float64, stage by stage;
  HistGradientBoosting: ``raw = baseline + sum(leaf)`` (``_raw_predict``), inputs float64
  (``X_DTYPE``), ``x <= num_threshold`` in float64.  The initial value is the first term of
  the sum, so it is a one-leaf tree in front (the IR adds ``base_score`` last, which would
  round differently).
* HistGradientBoosting categorical features (``_predictor.pyx``): the model's OrdinalEncoder
  maps a raw category value to its code, an unknown value to NaN; NaN, a negative value and an
  unknown category follow the node's missing direction; a code in the node's bitset goes left,
  any other known code right.  Each IR categorical node puts the missing side on the left and
  lists, as raw category values, the categories going to the other side (not in the set:
  left; invalid: left).  A non-integral value (never a category: they must be integers) is
  truncated by the IR and unknown to scikit-learn: the one input this cannot mirror
  (docs/sklearn.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.core.errors import UnsupportedModelError
from modelport.core.ir.model import (
    Comparison,
    Feature,
    FeatureType,
    Model,
    PostTransform,
    Provenance,
    Task,
    Tree,
    TreeEnsemble,
)

__all__ = ["float32_floor", "tree_model_to_ir", "TREE_ESTIMATORS"]

_MAX_CAT = 1 << 24

#: estimator class name -> kind handled here
TREE_ESTIMATORS = {
    "DecisionTreeRegressor": "forest", "DecisionTreeClassifier": "forest",
    "ExtraTreeRegressor": "forest", "ExtraTreeClassifier": "forest",
    "RandomForestRegressor": "forest", "RandomForestClassifier": "forest",
    "ExtraTreesRegressor": "forest", "ExtraTreesClassifier": "forest",
    "GradientBoostingRegressor": "gb", "GradientBoostingClassifier": "gb",
    "HistGradientBoostingRegressor": "hgb", "HistGradientBoostingClassifier": "hgb",
}


def float32_floor(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 not above each float64 threshold.

    For every float32 ``x``: ``x <= t`` (compared in float64) iff ``x <= float32_floor(t)``:
    if ``x <= t`` then ``x`` is a float32 not above ``t``, so not above the largest one; the
    converse holds because ``float32_floor(t) <= t``.  ``inf`` stays ``inf``; a finite value
    above the float32 range gives the largest finite float32.
    """
    t = np.asarray(threshold, dtype=np.float64)
    with np.errstate(over="ignore"):
        r = t.astype(np.float32)
    up = r.astype(np.float64) > t
    r[up] = np.nextafter(r[up], np.float32(-np.inf))
    return r


def _tree(left, right, feature, threshold, default_left, value, *, is_cat=None, cat_sets=None) -> Tree:
    n = len(left)
    offsets = np.zeros(n + 1, dtype=np.int64)
    values: list[int] = []
    if cat_sets:
        for i in range(n):
            values.extend(cat_sets.get(i, ()))
            offsets[i + 1] = len(values)
    return Tree(
        left=np.asarray(left, dtype=np.int32), right=np.asarray(right, dtype=np.int32),
        feature=np.asarray(feature, dtype=np.int32), threshold=threshold,
        default_left=np.asarray(default_left, dtype=bool),
        is_categorical=np.zeros(n, bool) if is_cat is None else np.asarray(is_cat, dtype=bool),
        cat_offsets=offsets, cat_values=np.asarray(values, dtype=np.int32), value=value,
    )


def _stump(value: float, tdt: str) -> Tree:
    """A one-leaf tree holding ``value`` (an initial prediction as the first term of the sum)."""
    return _tree([-1], [-1], [0], np.zeros(1, tdt), [False], np.array([[value]], dtype=np.float64))


def _sk_tree(tree_: Any, leaf: np.ndarray, *, nan_routing: bool) -> Tree:
    """An IR tree from a fitted ``sklearn.tree._tree.Tree`` with leaf values ``leaf`` [n, dim]."""
    left = np.asarray(tree_.children_left, dtype=np.int64)
    right = np.asarray(tree_.children_right, dtype=np.int64)
    is_leaf = left == -1
    feature = np.where(is_leaf, 0, tree_.feature)
    thr = np.where(is_leaf, 0.0, tree_.threshold)
    if np.isnan(thr).any():
        raise UnsupportedModelError("a scikit-learn tree has a NaN threshold")
    mgl = np.asarray(getattr(tree_, "missing_go_to_left", np.zeros(left.size)), dtype=bool)
    default_left = (mgl & ~is_leaf) if nan_routing else np.zeros(left.size, bool)
    value = np.where(is_leaf[:, None], leaf, 0.0).astype(np.float64)
    t32 = float32_floor(thr)
    # ``+inf`` (a split of the missing values alone, from training on NaN) sends every number
    # left; so does the largest float32 for every input scikit-learn accepts: it refuses a row
    # that is infinite after the float32 cast ("Input X contains infinity or a value too large
    # for dtype('float32')"), so only finite float32 values reach the trees.  PMML and PFA
    # have no infinite literal.
    t32[np.isposinf(t32)] = np.finfo(np.float32).max
    return _tree(left, right, feature, t32, default_left, value)


def _class_leaves(tree_: Any, n_classes: int) -> np.ndarray:
    """``DecisionTreeClassifier.predict_proba``'s per-leaf rows: ``value / value.sum()`` in
    float64 (a zero sum divides by 1), as ``sklearn/tree/_classes.py`` does per row."""
    v = np.asarray(tree_.value, dtype=np.float64)[:, 0, :n_classes]
    norm = v.sum(axis=1, keepdims=True)
    norm[norm == 0.0] = 1.0
    return v / norm


def _ensemble(trees, outputs, *, tdt: str, average: bool, leaf_dim: int = 1, cat: bool = False) -> TreeEnsemble:
    return TreeEnsemble(
        trees=tuple(trees), tree_output=np.asarray(outputs, dtype=np.int32),
        tree_weight=np.ones(len(trees), dtype=np.float64), comparison=Comparison.LE, threshold_dtype=tdt,
        categories_in_set_go_left=not cat, invalid_category_goes_left=cat, leaf_dim=leaf_dim,
        value_dtype="float64", average=average,
    )


def _classes(est: Any) -> tuple[Task, int, tuple[str, ...]]:
    classes = np.asarray(est.classes_)
    if classes.ndim != 1:
        raise UnsupportedModelError(f"multi-output {type(est).__name__} is not supported")
    k = int(classes.size)
    if k < 2:
        raise UnsupportedModelError(f"{type(est).__name__} trained on one class")
    names = tuple(str(c) for c in classes)
    return (Task.BINARY if k == 2 else Task.MULTICLASS), k, names


def _forest(est: Any, is_clf: bool) -> tuple[TreeEnsemble, Task, int, int, PostTransform, tuple[str, ...]]:
    members = list(getattr(est, "estimators_", [est]))
    if getattr(est, "n_outputs_", 1) != 1:
        raise UnsupportedModelError(f"multi-output {type(est).__name__} (n_outputs_={est.n_outputs_}) is not supported")
    average = hasattr(est, "estimators_")
    if is_clf:
        task, k, names = _classes(est)
        dim = 1 if k == 2 else k
        trees = []
        for m in members:
            proba = _class_leaves(m.tree_, k)
            trees.append(_sk_tree(m.tree_, proba[:, 1:2] if k == 2 else proba, nan_routing=True))
        outputs = [0 if k == 2 else -1] * len(trees)
        ens = _ensemble(trees, outputs, tdt="float32", average=average, leaf_dim=dim)
        # Binary: one output, P(class 1); multiclass: the averaged class proportions.
        return ens, task, k, dim, PostTransform.IDENTITY, (names[1],) if k == 2 else names
    trees = [_sk_tree(m.tree_, np.asarray(m.tree_.value, np.float64)[:, 0, :1], nan_routing=True) for m in members]
    return _ensemble(trees, [0] * len(trees), tdt="float32", average=average), Task.REGRESSION, 0, 1, \
        PostTransform.IDENTITY, ()


def _gradient_boosting(est: Any, is_clf: bool):
    from sklearn.dummy import DummyClassifier, DummyRegressor

    init = est.init_
    if not (isinstance(init, str) and init == "zero") and type(init) not in (DummyClassifier, DummyRegressor):
        raise UnsupportedModelError(f"{type(est).__name__} with init={type(init).__name__} (only the default "
                                    "DummyEstimator or 'zero' initial prediction is supported)")
    if is_clf and est.loss != "log_loss":
        raise UnsupportedModelError(f"{type(est).__name__} with loss={est.loss!r} (predict_proba = expit(2*raw) "
                                    "has no IR post-transform); use loss='log_loss'")
    stages = np.asarray(est.estimators_, dtype=object)
    n_stages, K = stages.shape
    nf = int(est.n_features_in_)
    init_raw = np.asarray(est._raw_predict_init(np.zeros((1, nf), dtype=np.float32)), dtype=np.float64)[0]
    trees = [_stump(float(init_raw[k]), "float32") for k in range(K)]
    outputs = list(range(K))
    lr = float(est.learning_rate)
    for i in range(n_stages):
        for k in range(K):
            t = stages[i, k].tree_
            # predict_stages adds ``scale * value`` (a float64 product) per stage.
            leaf = lr * np.asarray(t.value, dtype=np.float64)[:, 0, :1]
            trees.append(_sk_tree(t, leaf, nan_routing=False))
            outputs.append(k)
    ens = _ensemble(trees, outputs, tdt="float32", average=False)
    if not is_clf:
        return ens, Task.REGRESSION, 0, 1, PostTransform.IDENTITY, ()
    task, k, names = _classes(est)
    if k == 2:
        return ens, task, k, 1, PostTransform.SIGMOID, (names[1],)
    return ens, task, k, k, PostTransform.SOFTMAX, names


def _bits(bitset: np.ndarray) -> set[int]:
    words = np.asarray(bitset, dtype=np.uint32)
    return {32 * w + b for w in range(words.size) for b in range(32) if (int(words[w]) >> b) & 1}


def _hgb_columns(est: Any, nf: int) -> tuple[list[int], dict[int, np.ndarray]]:
    """The original column of each predictor column (the model's ColumnTransformer puts the
    categorical columns first) and, per original categorical column, its category values."""
    pre = getattr(est, "_preprocessor", None)
    if pre is None:
        return list(range(nf)), {}
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

    order: list[int] = []
    cats: dict[int, np.ndarray] = {}
    for _name, trans, cols in pre.transformers_:
        idx = np.arange(nf)[np.asarray(cols)] if np.asarray(cols).dtype == bool else np.asarray(cols, dtype=int)
        if isinstance(trans, str) and trans == "drop":
            if idx.size:
                raise UnsupportedModelError("HistGradientBoosting preprocessor drops columns")
            continue
        if isinstance(trans, OrdinalEncoder):
            for j, c in zip(idx, trans.categories_, strict=True):
                cats[int(j)] = np.asarray(c)
        elif not (isinstance(trans, FunctionTransformer) and _is_check_array(trans.func)):
            raise UnsupportedModelError(f"HistGradientBoosting preprocessor step {type(trans).__name__}")
        order.extend(int(j) for j in idx)
    if sorted(order) != list(range(nf)):
        raise UnsupportedModelError("HistGradientBoosting preprocessor does not map every column once")
    return order, cats


def _is_check_array(func: Any) -> bool:
    """True for HistGradientBoosting's own numeric pass-through ``partial(check_array, ...)``."""
    import functools

    from sklearn.utils.validation import check_array

    return isinstance(func, functools.partial) and func.func is check_array


def _category_values(cats: np.ndarray, col: int) -> list[int]:
    """The raw category values of a column as IR codes (non-negative integers < 2**24)."""
    out = []
    for c in cats:
        try:
            f = float(c)
        except (TypeError, ValueError):
            raise UnsupportedModelError(f"HistGradientBoosting categorical column {col}: category {str(c)[:30]!r} is "
                                        "not a number (the IR's categories are integer codes)") from None
        if np.isnan(f):
            out.append(-1)  # NaN is missing, never a code
            continue
        if not (f.is_integer() and 0 <= f < _MAX_CAT):
            raise UnsupportedModelError(f"HistGradientBoosting categorical column {col}: category value {f:g} is not "
                                        "an integer in [0, 2**24) (the IR's categories are integer codes)")
        out.append(int(f))
    return out


def _hgb_tree(nodes: np.ndarray, raw_left: np.ndarray, known: np.ndarray, f_idx_map, order, cat_values) -> Tree:
    n = nodes.size
    is_leaf = nodes["is_leaf"].astype(bool)
    left = np.where(is_leaf, -1, nodes["left"]).astype(np.int64)
    right = np.where(is_leaf, -1, nodes["right"]).astype(np.int64)
    col = nodes["feature_idx"].astype(np.int64)
    feature = np.where(is_leaf, 0, np.asarray(order, dtype=np.int64)[col] if len(order) else col)
    thr = np.where(is_leaf | nodes["is_categorical"].astype(bool), 0.0, nodes["num_threshold"]).astype(np.float64)
    if np.isnan(thr).any():
        raise UnsupportedModelError("a HistGradientBoosting tree has a NaN threshold")
    mgl = nodes["missing_go_to_left"].astype(bool) & ~is_leaf
    is_cat = nodes["is_categorical"].astype(bool) & ~is_leaf
    default_left = mgl.copy()
    sets: dict[int, list[int]] = {}
    for i in np.flatnonzero(is_cat):
        c = int(col[i])
        left_codes = _bits(raw_left[int(nodes["bitset_idx"][i])])
        known_codes = _bits(known[int(f_idx_map[c])])
        values = cat_values[int(feature[i])]
        # Codes going to the side that is NOT the missing one, as raw category values.
        other = sorted(values[code] for code in known_codes if code < len(values) and values[code] >= 0
                       and (code in left_codes) != bool(mgl[i]))
        sets[int(i)] = other
        if not mgl[i]:  # missing side is the right child: swap so that it becomes the IR left
            left[i], right[i] = right[i], left[i]
        default_left[i] = True
    value = np.where(is_leaf, nodes["value"], 0.0).astype(np.float64).reshape(n, 1)
    return _tree(left, right, feature, thr, default_left, value, is_cat=is_cat, cat_sets=sets)


_HGB_LOSSES = {
    "HalfSquaredError": PostTransform.IDENTITY, "AbsoluteError": PostTransform.IDENTITY,
    "PinballLoss": PostTransform.IDENTITY, "HuberLoss": PostTransform.IDENTITY,
    "HalfPoissonLoss": PostTransform.EXP, "HalfGammaLoss": PostTransform.EXP,
    "HalfBinomialLoss": PostTransform.SIGMOID, "HalfMultinomialLoss": PostTransform.SOFTMAX,
}


def _hist_gradient_boosting(est: Any, is_clf: bool):
    nf = int(est.n_features_in_)
    loss = type(est._loss).__name__
    if loss not in _HGB_LOSSES:
        raise UnsupportedModelError(f"{type(est).__name__} with loss {loss} (no exact IR post-transform)")
    order, cats = _hgb_columns(est, nf)
    cat_values = {j: _category_values(v, j) for j, v in cats.items()}
    known, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
    baseline = np.asarray(est._baseline_prediction, dtype=np.float64).reshape(-1)
    K = baseline.size
    trees = [_stump(float(baseline[k]), "float64") for k in range(K)]
    outputs = list(range(K))
    for it in est._predictors:
        for k, pred in enumerate(it):
            trees.append(_hgb_tree(pred.nodes, pred.raw_left_cat_bitsets, known, f_idx_map, order, cat_values))
            outputs.append(k)
    ens = _ensemble(trees, outputs, tdt="float64", average=False, cat=True)
    post = _HGB_LOSSES[loss]
    if not is_clf:
        return ens, Task.REGRESSION, 0, 1, post, (), cats
    task, k, names = _classes(est)
    return ens, task, k, (1 if k == 2 else k), post, ((names[1],) if k == 2 else names), cats


def tree_model_to_ir(est: Any, features: list[str], *, provenance: Provenance) -> Model:
    """The IR of a fitted scikit-learn tree estimator (see the module docstring)."""
    from sklearn.base import is_classifier

    name = type(est).__name__
    kind = TREE_ESTIMATORS.get(name)
    if kind is None:
        raise UnsupportedModelError(f"{name} is not a tree model modelport reads")
    is_clf = bool(is_classifier(est))
    cats: dict[int, np.ndarray] = {}
    if kind == "forest":
        ens, task, k, n_out, post, out_names = _forest(est, is_clf)
    elif kind == "gb":
        ens, task, k, n_out, post, out_names = _gradient_boosting(est, is_clf)
    else:
        ens, task, k, n_out, post, out_names, cats = _hist_gradient_boosting(est, is_clf)
    feats = tuple(
        Feature(name=nm, type=FeatureType.CATEGORICAL if j in cats else FeatureType.FLOAT)
        for j, nm in enumerate(features)
    )
    return Model(
        task=task, features=feats, n_outputs=n_out, n_classes=k, booster=ens,
        base_score=np.zeros(n_out, dtype=np.float64), post_transform=post, provenance=provenance,
        output_names=out_names,
    )
