"""The reference evaluator: what an IR :class:`Model` means, in numpy.

``predict_margin`` reproduces XGBoost 3.2's ``Booster.predict(DMatrix(X), output_margin=True)``
bit for bit in float32; ``predict`` applies the post-transform as the source framework does
and returns the source's ``predict`` shape.  Upstream behaviour followed (dmlc/xgboost):

* inputs are cast to float32 once (``DMatrix`` stores float32, ``src/data/data.cc``), a
  numeric split sends the row left when ``x < split_cond`` in float32
  (``src/predictor/predict_fn.h`` ``GetNextNode``: ``LeftChild() + !(fvalue < SplitCond())``);
  NaN (and the DMatrix ``missing`` value) is missing and follows ``default_left``;
* categorical splits: ``src/common/categorical.h`` ``Decision``: a category outside
  ``[0, 2**24)`` or not in the node's set goes left, in the set right; the category is the
  value truncated toward zero (``static_cast<int>``), so 1.7 tests category 1;
* summation: ``src/predictor/cpu_predictor.cc`` fills the output with the base margin
  (``InitOutPredictions``) then, tree by tree in model order, does ``out[row, group] += leaf``
  in float32; DART (``src/gbm/gbtree.cc`` ``Dart::PredictBatchImpl``) predicts each tree into a
  zeroed buffer and does ``out += leaf * weight_drop[i]``, i.e. a float32 product then a sum;
* gblinear (``src/gbm/gblinear.cc`` ``Pred``): ``psum = bias[g] + base_margin``, then
  ``psum += x_j * w[j, g]`` over the present features in column order, float32 throughout.

scikit-learn models (docs/ir.md, "Preprocessing and float64 linear models"): preprocessing
steps run first, in float64 on float64 inputs, with scikit-learn's own operation order
(``sklearn/preprocessing/_data.py``: StandardScaler ``X -= mean_; X /= scale_``, MinMaxScaler
``X *= scale_; X += min_``), so they are bit-identical to ``Pipeline.transform``; the booster
then reads the result (cast to its own input dtype).  A float64 linear model sums
``x_j * w_j`` in float64 in column order and adds the bias; scikit-learn's BLAS sums in its
own order, so the margin is within :data:`SKLEARN_LINEAR_MARGIN` of scikit-learn's
``decision_function`` rather than bit-identical.

Evaluation is vectorised over rows and trees: all trees' nodes are concatenated, leaves point
to themselves, and every row × tree node index advances one level per numpy step; rows are
processed in chunks (``_CHUNK_ELEMENTS``) to bound memory.

scikit-learn's IsolationForest (post-transform ``ISOLATION``): the float64 sum of path
lengths is the margin (rounded once); the prediction is ``decision_function`` computed in
float64 from the UNROUNDED sum (``modelport.core.ir._isolation``), bit-identical to
scikit-learn's before its rounding to float32.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from modelport.core.ir.model import (
    Affine,
    AffineKind,
    Comparison,
    FeatureType,
    Impute,
    LinearBooster,
    Lookup,
    Model,
    PostTransform,
    SelectColumns,
    Task,
    TreeEnsemble,
)
from modelport.core.errors import InputDataError
from modelport.core.ir._isolation import isolation_outputs
from modelport.core.ir._links64 import SKLEARN_FLOAT64_LINK, SKLEARN_LINEAR_MARGIN, linear_raw, outputs64

__all__ = ["predict_margin", "predict", "transform", "TRANSFORM_ULP", "input_dtype", "preprocess",
           "SKLEARN_LINEAR_MARGIN", "SKLEARN_FLOAT64_LINK"]

#: Largest difference, in float32 units in the last place, between :func:`predict` and
#: XGBoost's own transformed output (sigmoid, softmax, exp).  The margins are bit-exact and
#: the formulas are XGBoost's own float32 sequences (``src/common/math.h``); what differs is
#: the float32 ``exp`` itself: we use float64 ``exp`` rounded once (correctly rounded almost
#: always), XGBoost's compiled transform uses another float32 exp (neither glibc's scalar
#: ``expf`` nor the correctly rounded one on some inputs: measured on xgboost 3.2, e.g.
#: margin -1.965736 gives 0.12284761667 there, 0.12284762412 with either exp here).  One ULP
#: in exp becomes at most 2 ULP after the ``1 + e`` / division (softmax: ``e / sum``); the
#: worst measured over the whole case zoo is 2 ULP (dart_multiclass), in a handful of rows.
TRANSFORM_ULP = 2

#: Row chunk size: rows * trees node indices per chunk stay below this many elements.
_CHUNK_ELEMENTS = 1 << 22
#: XGBoost's upper bound on category codes (``OutOfRangeCat``: float32 integers are exact below it).
_MAX_CAT = float(1 << 24)


@dataclass(frozen=True, eq=False)
class _Flat:
    """All trees' nodes concatenated (global node ids), leaves looping onto themselves."""

    roots: np.ndarray
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    default_left: np.ndarray
    is_cat: np.ndarray
    cat_keys: np.ndarray  # sorted int64 (global_node << 25) | code
    value: np.ndarray  # float32 [n_nodes_total, leaf_dim]
    next4: np.ndarray  # [4 * n_nodes_total]: right, left, default child, default child
    depth: int
    has_cat: bool


_FLAT_CACHE: weakref.WeakKeyDictionary[TreeEnsemble, _Flat] = weakref.WeakKeyDictionary()


def _flatten(ens: TreeEnsemble) -> _Flat:
    cached = _FLAT_CACHE.get(ens)
    if cached is not None:
        return cached
    sizes = np.array([t.left.size for t in ens.trees], dtype=np.int64)
    starts = np.zeros(len(ens.trees) + 1, dtype=np.int64)
    np.cumsum(sizes, out=starts[1:])
    total = int(starts[-1])
    tdt = np.float64 if ens.threshold_dtype == "float64" else np.float32
    left = np.empty(total, np.int64)
    right = np.empty(total, np.int64)
    keys = []
    for i, t in enumerate(ens.trees):
        s, e = starts[i], starts[i + 1]
        own = np.arange(s, e, dtype=np.int64)
        leaf = t.left == -1
        left[s:e] = np.where(leaf, own, t.left.astype(np.int64) + s)
        right[s:e] = np.where(leaf, own, t.right.astype(np.int64) + s)
        if t.is_categorical.any():
            counts = np.diff(t.cat_offsets)
            node_of = np.repeat(np.arange(t.left.size, dtype=np.int64) + s, counts)
            keys.append((node_of << 25) | t.cat_values.astype(np.int64))
    cat = lambda name, dt: np.concatenate([getattr(t, name) for t in ens.trees]).astype(dt) if ens.trees else np.zeros(0, dt)  # noqa: E731
    vdt = np.dtype(ens.value_dtype)
    value = (np.concatenate([t.value.reshape(t.left.size, -1) for t in ens.trees]).astype(vdt)
             if ens.trees else np.zeros((0, ens.leaf_dim), vdt))
    # Depth of the deepest leaf: advance every tree's frontier one level at a time.
    depth, frontier = 0, starts[:-1].copy()
    internal = left != np.arange(total)
    while True:
        frontier = frontier[internal[frontier]]
        if not frontier.size:
            break
        frontier = np.unique(np.concatenate([left[frontier], right[frontier]]))
        depth += 1
        if depth > total:  # only a cycle can be deeper than the node count
            raise ValueError("tree structure has a cycle; validate the IR before evaluating it")
    dleft = cat("default_left", bool)
    default_child = np.where(dleft, left, right)
    next4 = np.stack([right, left, default_child, default_child], axis=1).ravel()
    idx = np.int32 if 4 * total < 2**31 else np.int64
    flat = _Flat(
        next4=next4.astype(idx),
        roots=starts[:-1].astype(idx), left=left, right=right, feature=cat("feature", idx),
        threshold=cat("threshold", tdt), default_left=dleft,
        is_cat=cat("is_categorical", bool),
        cat_keys=np.sort(np.concatenate(keys)) if keys else np.zeros(0, np.int64),
        value=value, depth=depth, has_cat=bool(keys),
    )
    _FLAT_CACHE[ens] = flat
    return flat


def input_dtype(model: Model) -> np.dtype:
    """The dtype the model's inputs are rounded to once: float64 for models that compare or
    compute in float64 (float64 thresholds, float64 linear models, any preprocessing),
    float32 otherwise (XGBoost's DMatrix)."""
    b = model.booster
    wide = (bool(model.preprocessing) or getattr(b, "threshold_dtype", "float32") == "float64"
            or (isinstance(b, LinearBooster) and b.value_dtype == "float64"))
    return np.dtype(np.float64 if wide else np.float32)


def _booster_dtype(model: Model):
    b = model.booster
    if isinstance(b, TreeEnsemble):
        return np.float64 if b.threshold_dtype == "float64" else np.float32
    return np.float64 if b.value_dtype == "float64" else np.float32


def _as_matrix(model: Model, X, dtype) -> np.ndarray:
    """Rows as a C-contiguous 2-D array in ``dtype``; pandas categoricals become codes."""
    if hasattr(X, "dtypes") and hasattr(X, "columns"):  # pandas DataFrame, without importing pandas
        if len(X.columns) != model.n_features:
            raise InputDataError(f"expected {model.n_features} columns, got {len(X.columns)}")
        cols = [_column(X[c], feat) for c, feat in zip(X.columns, model.features, strict=True)]
        X = np.column_stack(cols) if cols else np.zeros((len(X), 0))
    try:
        arr = np.asarray(X, dtype=np.float64) if not (isinstance(X, np.ndarray) and X.dtype == dtype) else X
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"rows are not numeric: {exc}") from None
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != model.n_features:
        raise InputDataError(f"expected rows of {model.n_features} features, got shape {tuple(arr.shape)}")
    # float64 -> float32 is one round-to-nearest, as DMatrix's cast (trap 2: a float64 value
    # between a threshold's neighbours lands on the threshold here exactly as in XGBoost).
    return np.ascontiguousarray(arr, dtype=dtype)


def _category_key(v) -> str:
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        f = float(v)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(v)


def _nominal_codes(values, feat) -> np.ndarray:
    """Category names as codes of a nominal feature: a known name its index, None/NaN
    missing (NaN), anything else unknown (``len(categories)``)."""
    index = {c: i for i, c in enumerate(feat.categories)}
    out = np.empty(len(values), dtype=np.float64)
    for r, v in enumerate(values):
        if v is None or (isinstance(v, (float, np.floating)) and v != v):
            out[r] = np.nan
        else:
            out[r] = index.get(_category_key(v), len(index))
    return out


def _column(s, feat) -> np.ndarray:
    """One DataFrame column as float64; categoricals become codes.

    When the model knows its training categories (``Feature.categories``), values are
    re-coded BY VALUE, as XGBoost 3.1+ does with its category encoder
    (``src/data/cat_container.h``): a DataFrame whose categories are ordered differently gives
    the same prediction, and a value never seen in training is an error (XGBoost raises
    "Found a category not in the training set").  Otherwise the column's own codes are used.
    """
    if feat.type is FeatureType.NOMINAL and feat.categories:
        return _nominal_codes(s.to_numpy(dtype=object, na_value=None), feat)
    if str(s.dtype) != "category":
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    codes = s.cat.codes.to_numpy().astype(np.float64)
    codes[codes < 0] = np.nan
    if feat.categories is None or any("\ufffd" in c for c in feat.categories):
        # No names, or names the source file garbled (xgboost 3.2 writes non-ASCII category
        # names lossily): the column's own codes are the only faithful input.
        return codes
    index = {c: i for i, c in enumerate(feat.categories)}
    mapping = np.empty(len(s.cat.categories), dtype=np.float64)
    for i, v in enumerate(s.cat.categories):
        key = _category_key(v)
        if key not in index:
            if not np.any(codes == i):
                mapping[i] = np.nan  # declared but unused: harmless
                continue
            raise InputDataError(f"column {feat.name!r}: category {key!r} was not seen in training")
        mapping[i] = index[key]
    ok = ~np.isnan(codes)
    out = np.full(codes.shape, np.nan)
    out[ok] = mapping[codes[ok].astype(np.int64)]
    return out


def _missing_mask(x: np.ndarray, missing: float) -> np.ndarray:
    m = np.isnan(x)
    if not np.isnan(missing):
        m |= x == x.dtype.type(missing)
    return m


def _tree_margins(model: Model, ens: TreeEnsemble, X: np.ndarray, out: np.ndarray) -> None:
    flat = _flatten(ens)
    n_trees = flat.roots.size
    n, nf = X.shape
    if n_trees == 0:
        return
    step = max(1, _CHUNK_ELEMENTS // n_trees)
    lt = ens.comparison is Comparison.LT
    cat_left_in_set = ens.categories_in_set_go_left
    for a in range(0, n, step):
        Xc = X[a:a + step]
        m = Xc.shape[0]
        flatX = Xc.ravel()
        row_base = (np.arange(m, dtype=np.int64 if m * nf >= 2**31 else flat.roots.dtype) * nf)[:, None]
        node = np.broadcast_to(flat.roots, (m, n_trees)).copy()
        for _ in range(flat.depth):
            x = flatX[row_base + flat.feature[node]]
            thr = flat.threshold[node]
            go_left = (x < thr) if lt else (x <= thr)
            if flat.has_cat:
                cm = flat.is_cat[node]
                if cm.any():
                    xv, nd = x[cm], node[cm]
                    valid = (xv >= 0) & (xv < _MAX_CAT)
                    code = np.where(valid, xv, 0).astype(np.int64)  # truncation toward zero
                    key = (nd.astype(np.int64) << 25) | code
                    pos = np.minimum(np.searchsorted(flat.cat_keys, key), flat.cat_keys.size - 1)
                    in_set = valid & (flat.cat_keys[pos] == key)
                    go_cat = np.where(valid, in_set == cat_left_in_set, ens.invalid_category_goes_left)
                    go_left[cm] = go_cat
            # One gather picks the next node: slots (right, left, default, default) per node,
            # indexed by go_left + 2 * missing.
            slot = go_left.view(np.int8) + (_missing_mask(x, model.missing).view(np.int8) << 1)
            node = flat.next4[(node << 2) + slot]
        _accumulate(ens, flat.value[node], out[a:a + m])


def _accumulate(ens: TreeEnsemble, leaves: np.ndarray, out: np.ndarray) -> None:
    """``out += leaf`` tree by tree in model order, in ``value_dtype`` (float32 for XGBoost,
    as cpu_predictor.cc)."""
    w = ens.tree_weight.astype(ens.value_dtype)
    if ens.leaf_dim > 1:
        for t in range(leaves.shape[1]):
            v = leaves[:, t, :]
            out += (v * w[t]) if ens.apply_tree_weight else v
        return
    cols = ens.tree_output
    for t in range(leaves.shape[1]):
        v = leaves[:, t, 0]
        out[:, cols[t]] += (v * w[t]) if ens.apply_tree_weight else v


def _linear_margins(model: Model, lin: LinearBooster, X: np.ndarray, out: np.ndarray) -> None:
    """gblinear: ``(bias + base) + sum_j x_j * w_j`` in column order, skipping missing."""
    X = X.astype(np.float32, copy=False)
    out += lin.bias.astype(np.float32)[None, :]
    w = lin.weights.astype(np.float32)
    for j in range(X.shape[1]):
        xj = X[:, j:j + 1]
        miss = _missing_mask(xj, model.missing)
        out[...] = np.where(miss, out, out + xj * w[j][None, :])


def preprocess(model: Model, X) -> np.ndarray:
    """The model's inputs after its preprocessing steps: float64 ``[n, booster width]``
    (the input matrix itself, in :func:`input_dtype`, for a model without steps)."""
    Xm = _as_matrix(model, X, input_dtype(model))
    if not model.preprocessing:
        return Xm
    Xm = np.array(Xm, dtype=np.float64, copy=True)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for step in model.preprocessing:
            Xm = _apply_step(step, Xm)
    return Xm


def _apply_step(step, X: np.ndarray) -> np.ndarray:
    if isinstance(step, SelectColumns):
        return np.ascontiguousarray(X[:, step.sources.astype(np.int64)])
    if isinstance(step, Affine):
        cols = step.columns.astype(np.int64)
        x = X[:, cols]
        if step.kind is AffineKind.SUBTRACT_DIVIDE:  # X -= offset; X /= scale (two roundings)
            x = x - step.offset[None, :]
            x = x / step.scale[None, :]
        else:  # X *= scale; X += offset (two roundings, no fused multiply-add)
            x = x * step.scale[None, :]
            x = x + step.offset[None, :]
        if step.clip is not None:
            x = np.clip(x, step.clip[0], step.clip[1])
        X[:, cols] = x
        return X
    if isinstance(step, Impute):
        cols = step.columns.astype(np.int64)
        x = X[:, cols]
        miss = np.isnan(x) if np.isnan(step.missing_value) else (x == step.missing_value)
        X[:, cols] = np.where(miss, step.fill[None, :], x)
        return X
    if isinstance(step, Lookup):
        x = X[:, step.column]
        k = step.keys.size
        order = np.argsort(step.keys, kind="stable")
        sk = step.keys[order]
        pos = np.minimum(np.searchsorted(sk, x), max(k - 1, 0))
        hit = (sk[pos] == x) if k else np.zeros(x.shape, bool)
        row = np.where(hit, order[pos] if k else 0, k)
        row = np.where(np.isnan(x), k + 1, row)
        block = step.table[row]
        return np.ascontiguousarray(np.concatenate([X[:, :step.column], block, X[:, step.column + 1:]], axis=1))
    raise TypeError(f"unknown preprocessing step {type(step).__name__}")


def _is_linear64(model: Model) -> bool:
    return isinstance(model.booster, LinearBooster) and model.booster.value_dtype == "float64"


def _booster_input(model: Model, X) -> np.ndarray:
    """The matrix the booster reads: the preprocessed columns cast to its dtype, or the input."""
    if model.preprocessing:
        return np.ascontiguousarray(preprocess(model, X), dtype=_booster_dtype(model))
    return _as_matrix(model, X, input_dtype(model))


def outputs(model: Model, X) -> dict[str, np.ndarray]:
    """Every output a runtime returns, float32 margins ``[n, n_outputs]`` and the
    ``prediction`` (as :func:`predict` before squeezing), plus ``probabilities`` and ``label``
    for classifiers (:func:`classifier_outputs`).  A float64 linear model (scikit-learn)
    applies its link and takes its labels in float64 on the unrounded margin, as scikit-learn
    does (``modelport.core.ir._links64``)."""
    if _is_linear64(model):
        return outputs64(model, linear_raw(model, model.booster, _booster_input(model, X)))
    if model.post_transform is PostTransform.ISOLATION:
        return isolation_outputs(model, _wide_sum(model, model.booster, _booster_input(model, X)))
    margin = predict_margin(model, X)
    pred = transform(model.post_transform, margin)
    out = {"margin": margin, "prediction": pred}
    if model.task in (Task.BINARY, Task.MULTICLASS):
        out.update(classifier_outputs(model, margin, pred))
    return out


def predict_margin(model: Model, X) -> np.ndarray:
    """Raw scores (margins), float32 ``[n_rows, n_outputs]``: base score plus the booster's sum.

    Bit-identical to XGBoost 3.2's ``predict(DMatrix(X, missing=nan), output_margin=True)``
    for models read by the XGBoost frontend.  Preprocessing steps, if any, run first
    (:func:`preprocess`).
    """
    booster = model.booster
    Xm = _booster_input(model, X)
    if _is_linear64(model):
        return linear_raw(model, booster, Xm).astype(np.float32)
    if isinstance(booster, TreeEnsemble) and (booster.value_dtype != "float32" or booster.average):
        return _wide_margins(model, booster, Xm)
    out = np.empty((Xm.shape[0], model.n_outputs), dtype=np.float32)
    out[...] = np.asarray(model.base_score, dtype=np.float32).reshape(1, -1)
    if isinstance(booster, TreeEnsemble):
        _tree_margins(model, booster, Xm, out)
    elif isinstance(booster, LinearBooster):
        _linear_margins(model, booster, Xm, out)
    else:  # pragma: no cover - the IR has two booster kinds
        raise TypeError(f"unknown booster {type(booster).__name__}")
    return out


def _wide_margins(model: Model, ens: TreeEnsemble, Xm: np.ndarray) -> np.ndarray:
    """Margins of an ensemble that sums in ``value_dtype`` and/or averages: the tree sum in
    ``value_dtype`` from zero, divided by each output's tree count when ``average``, plus the
    base score, rounded once to float32."""
    return _wide_sum(model, ens, Xm).astype(np.float32)


def _wide_sum(model: Model, ens: TreeEnsemble, Xm: np.ndarray) -> np.ndarray:
    """:func:`_wide_margins` before the final rounding, in ``value_dtype``."""
    vdt = np.dtype(ens.value_dtype)
    acc = np.zeros((Xm.shape[0], model.n_outputs), dtype=vdt)
    _tree_margins(model, ens, Xm, acc)
    if ens.average:
        if ens.leaf_dim > 1:
            counts = np.full(model.n_outputs, len(ens.trees), dtype=vdt)
        else:
            counts = np.bincount(ens.tree_output, minlength=model.n_outputs).astype(vdt)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = acc / np.where(counts > 0, counts, 1)[None, :]
    acc += np.asarray(model.base_score, dtype=vdt).reshape(1, -1)
    return acc


def _expf(x: np.ndarray) -> np.ndarray:
    """float32 exp: float64 exp rounded once to float32 (glibc's expf is < 1 ULP off this)."""
    with np.errstate(over="ignore"):
        return np.exp(x.astype(np.float64)).astype(np.float32)


def transform(post: PostTransform, margin: np.ndarray) -> np.ndarray:
    """Apply a post-transform to float32 margins ``[n, k]`` (shape kept, float32).

    Follows ``src/common/math.h``: ``Sigmoid = 1.0f / (1.0f + expf(-x))`` and
    ``Softmax``: ``expf(x - max)`` per class, summed in double, each divided by
    ``float(sum)``; ``multi:softmax`` is the first index of the maximum (``FindMaxIndex``).
    """
    m = np.asarray(margin, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # an infinite margin gives inf/NaN as in the source
        return _transform(post, m)


def _transform(post: PostTransform, m: np.ndarray) -> np.ndarray:
    one = np.float32(1.0)
    if post is PostTransform.IDENTITY:
        return m.copy()
    if post is PostTransform.SIGMOID:
        return (one / (one + _expf(-m))).astype(np.float32)
    if post is PostTransform.EXP:
        return _expf(m)
    if post is PostTransform.HINGE:
        return (m > 0).astype(np.float32)
    if post is PostTransform.SOFTMAX:
        e = _expf(m - m.max(axis=1, keepdims=True))
        wsum = np.zeros(m.shape[0], dtype=np.float64)
        for k in range(m.shape[1]):  # sequential double sum, as the C++ loop
            wsum += e[:, k]
        return (e / wsum.astype(np.float32)[:, None]).astype(np.float32)
    if post is PostTransform.SOFTMAX_LABEL:
        return np.argmax(m, axis=1).astype(np.float32)[:, None]  # first maximum wins
    if post is PostTransform.ISOLATION:
        raise ValueError("the isolation post-transform needs the model's constants and the float64 path-length "
                         "sum: use outputs() or predict()")
    raise ValueError(f"unknown post-transform {post!r}")


def predict(model: Model, X) -> np.ndarray:
    """What the source framework's ``predict`` returns, float32.

    Shapes: one output → ``[n]`` (probability of class 1 for binary, value for regression);
    multi:softprob → ``[n, n_classes]``; multi:softmax → ``[n]`` class index as float;
    several targets/quantiles → ``[n, n_targets]``.
    """
    wide = _is_linear64(model) or model.post_transform is PostTransform.ISOLATION
    out = outputs(model, X)["prediction"] if wide else transform(model.post_transform, predict_margin(model, X))
    return out[:, 0] if out.shape[1] == 1 else out


def classifier_outputs(model: Model, margin: np.ndarray, prediction: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The ``probabilities`` [n, n_classes] and ``label`` [n] a classifier's runtime returns,
    from its margins and (optionally) its already transformed ``prediction``, as XGBoost's
    scikit-learn wrapper derives them: binary ``predict_proba = [1 - p, p]`` and
    ``label = p > 0.5``; multiclass probabilities are the softmax, and the label is the first
    maximum of the softmax (multi:softprob) or of the margins (multi:softmax); a multiclass
    sigmoid (LightGBM multiclassova) gives the unnormalised per-class sigmoids and their argmax,
    and a multiclass identity (scikit-learn forests) gives the margins and their argmax."""
    m = np.asarray(margin, dtype=np.float32).reshape(margin.shape[0], -1)
    if model.task is Task.BINARY:
        p = (transform(model.post_transform, m) if prediction is None else np.asarray(prediction, np.float32)).reshape(-1)
        return {"probabilities": np.stack([np.float32(1) - p, p], axis=1), "label": (p > np.float32(0.5)).astype(np.int64)}
    if model.task is Task.MULTICLASS and model.post_transform in (PostTransform.SIGMOID, PostTransform.IDENTITY):
        # LightGBM multiclassova: one sigmoid per class, not normalised; LGBMClassifier's
        # predict_proba returns them as they are and predict takes their first argmax.
        # Identity: the margins ARE the class probabilities (scikit-learn trees and forests:
        # averaged leaf class proportions); predict is their first argmax.
        probs = transform(model.post_transform, m) if prediction is None else np.asarray(prediction, np.float32)
        probs = probs.reshape(m.shape[0], -1)
        return {"probabilities": probs, "label": np.argmax(np.nan_to_num(probs, nan=-np.inf), axis=1)}
    if model.task is Task.MULTICLASS:
        probs = transform(PostTransform.SOFTMAX, m)
        src = m if model.post_transform is PostTransform.SOFTMAX_LABEL else probs
        return {"probabilities": probs, "label": np.argmax(np.nan_to_num(src, nan=-np.inf), axis=1)}
    raise ValueError(f"{model.task.value} models have no classes")
