"""LightGBM frontend: ``model.txt`` (``Booster.save_model``) read straight into the IR.

No lightgbm import: the text format is the contract.  Semantics reproduced, from LightGBM
4.x (``include/LightGBM/tree.h``, ``src/c_api.cpp``, ``src/boosting/gbdt_prediction.cpp``) and
checked bit for bit against ``lightgbm`` 4.7 by ``tests/test_lightgbm_frontend.py``:

* inputs are float64; ``predict`` on a dense matrix keeps only entries with
  ``|x| > kZeroThreshold`` or NaN (``RowFunctionFromDenseMatric``), every other entry reads as
  0.0, so ``1e-36`` is 0.0 (``kZeroThreshold = 1e-35f``, widened to double);
* numeric split (``NumericalDecision``): ``decision_type`` bit 0 categorical, bit 1
  default_left, bits 2-3 missing type (0 None, 1 Zero, 2 NaN).  NaN becomes 0.0 unless the
  missing type is NaN; a NaN (type NaN) or a zero (type Zero) follows default_left; otherwise
  the row goes left when ``x <= threshold`` in float64;
* categorical split (``CategoricalDecision``): NaN goes right; ``int(x)`` (truncation toward
  zero) negative goes right; a category in the node's bitset goes LEFT, any other right.  So
  -0.5 tests category 0 (unlike XGBoost, where it is invalid);
* sum: each output's trees added in file order in float64 from 0 (``PredictRaw``);
  ``average_output`` (random forest) divides each sum by the number of iterations
  (``Predict``; ``raw_score=True`` does NOT divide: the IR margin is the averaged one);
  leaves already include shrinkage and the initial score.

The IR has one ``x <= t`` test per node plus a default direction, so each LightGBM node
becomes a tiny "gadget" of IR nodes whose exits lead to the node's left or right subtree:
near-zero handling moves the threshold, and the two cases where one side is two intervals
(missing type Zero with the zero region on the other side, and a categorical set containing
0, which (-1, 0) also selects) emit a subtree twice, pruned by what the path already knows
(:mod:`._lgb_trees`; bounded: :data:`_MAX_GROWTH`).  ``docs/lightgbm.md``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from modelport.converters.frontends import FRONTENDS, Frontend, LoadOptions
from modelport.converters.frontends._lgb_trees import (
    ZERO_THRESHOLD,
    bitset_codes,
    categorical_split,
    check_shape,
    expand_tree,
    numeric_split,
)
from modelport.converters.frontends._lightgbm_source import sniff_lightgbm_text
from modelport.core.errors import ModelFormatError, UnsupportedModelError
from modelport.core.files import read_model_bytes
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

__all__ = ["load_lightgbm", "model_from_text", "OBJECTIVES", "ZERO_THRESHOLD"]

#: IR nodes allowed per LightGBM node (whole model) before a subtree-copying blow-up is refused.
_MAX_GROWTH = 16
_MAX_CAT = 1 << 24  # category codes the IR evaluates as valid

_T, _P = Task, PostTransform
#: objective (first word of ``objective=``) -> (task, post-transform).  ``ConvertOutput`` of
#: each objective in ``src/objective/*.hpp``.
OBJECTIVES: dict[str, tuple[Task, PostTransform]] = {
    "regression": (_T.REGRESSION, _P.IDENTITY),
    "regression_l1": (_T.REGRESSION, _P.IDENTITY),
    "huber": (_T.REGRESSION, _P.IDENTITY),
    "fair": (_T.REGRESSION, _P.IDENTITY),
    "quantile": (_T.REGRESSION, _P.IDENTITY),
    "mape": (_T.REGRESSION, _P.IDENTITY),
    "poisson": (_T.REGRESSION, _P.EXP),
    "gamma": (_T.REGRESSION, _P.EXP),
    "tweedie": (_T.REGRESSION, _P.EXP),
    "cross_entropy": (_T.REGRESSION, _P.SIGMOID),
    "binary": (_T.BINARY, _P.SIGMOID),
    "multiclass": (_T.MULTICLASS, _P.SOFTMAX),
    "multiclassova": (_T.MULTICLASS, _P.SIGMOID),
    "lambdarank": (_T.RANKING, _P.IDENTITY),
    "rank_xendcg": (_T.RANKING, _P.IDENTITY),
}


def _fail(msg: str) -> ModelFormatError:
    return ModelFormatError(" ".join(msg.split()))


# --------------------------------------------------------------------------- text parsing


def _sections(text: str, name: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The header's ``key=value`` lines (a bare key maps to ``""``) and one dict per ``Tree=``."""
    header: dict[str, str] = {}
    trees: list[dict[str, str]] = []
    current = header
    ended = False
    for raw in text.split("\n"):
        line = raw.rstrip("\r")
        if not line:
            continue
        if line == "end of trees":
            ended = True
            break
        key, sep, value = line.partition("=")
        if key == "Tree":
            if value.strip() != str(len(trees)):
                raise _fail(f"{name}: tree sections out of order: 'Tree={value[:20]}' after {len(trees)} trees")
            current = {}
            trees.append(current)
            continue
        if key in current:
            raise _fail(f"{name}: key {key[:40]!r} repeats in {'the header' if current is header else f'tree {len(trees) - 1}'}")
        current[key] = value if sep else ""
    if not ended:
        raise _fail(f"{name}: truncated LightGBM model (no 'end of trees' line)")
    return header, trees


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _fail(f"{what} is not an integer: {text[:40]!r}") from None


def _array(tree: dict[str, str], key: str, n: int, kind: type, where: str, *, required: bool = True) -> list:
    """The space-separated field ``key`` as ``n`` values of ``kind`` (``n`` is checked against
    the token count before anything else is built, so a lying count allocates nothing)."""
    if key not in tree:
        if required and n:
            raise _fail(f"{where}: missing field {key!r}")
        return []
    tokens = tree[key].split()
    if len(tokens) != n:
        raise _fail(f"{where}: {key} has {len(tokens)} values, expected {n}")
    try:
        return [kind(t) for t in tokens]
    except ValueError:
        raise _fail(f"{where}: {key} holds a value that is not {'an integer' if kind is int else 'a number'}") from None


def _tree(tree: dict[str, str], t: int, n_features: int, budget: list[int]) -> Tree:
    """One LightGBM tree as an IR tree (:func:`._lgb_trees.expand_tree`)."""
    where = f"tree {t}"
    if tree.get("is_linear", "0").strip() not in ("", "0"):
        raise UnsupportedModelError(f"{where}: linear trees (linear_tree=true, is_linear=1) are not supported")
    n_leaves = _int(tree.get("num_leaves", ""), f"{where}: num_leaves")
    if n_leaves < 1:
        raise _fail(f"{where}: num_leaves {n_leaves} < 1")
    leaf_value = _array(tree, "leaf_value", n_leaves, float, where)
    n_int = n_leaves - 1
    feat = _array(tree, "split_feature", n_int, int, where)
    thr = _array(tree, "threshold", n_int, float, where)
    dtype = _array(tree, "decision_type", n_int, int, where)
    kids = (_array(tree, "left_child", n_int, int, where), _array(tree, "right_child", n_int, int, where))
    n_cat = _int(tree.get("num_cat", "0"), f"{where}: num_cat")
    if not 0 <= n_cat <= n_int:
        raise _fail(f"{where}: num_cat {n_cat} outside [0, {n_int}]")
    bounds = _array(tree, "cat_boundaries", n_cat + 1, int, where) if n_cat else [0]
    words = tree.get("cat_threshold", "").split() if n_cat else []
    if bounds[0] != 0 or bounds[-1] != len(words) or any(b > a for a, b in zip(bounds[1:], bounds, strict=False)):
        raise _fail(f"{where}: cat_boundaries do not index cat_threshold")
    try:
        words_i = [int(w) for w in words]
    except ValueError:
        raise _fail(f"{where}: cat_threshold holds a value that is not an integer") from None

    check_shape(where, kids, n_int, n_leaves)
    splits = []
    for i in range(n_int):
        if not 0 <= feat[i] < n_features:
            raise _fail(f"{where} node {i}: split_feature {feat[i]} outside [0, {n_features})")
        d = dtype[i]
        if not 0 <= d < 16 or (d >> 2) == 3:
            raise _fail(f"{where} node {i}: decision_type {d} is not a LightGBM decision type")
        if d & 1:
            idx = thr[i]
            if not (idx.is_integer() and 0 <= idx < n_cat):
                raise _fail(f"{where} node {i}: categorical threshold {idx} is not a cat_boundaries index")
            codes = bitset_codes(words_i[bounds[int(idx)]:bounds[int(idx) + 1]])
            if codes and codes[-1] >= _MAX_CAT:
                raise UnsupportedModelError(f"{where} node {i}: category code {codes[-1]} >= 2**24")
            splits.append(categorical_split(codes))
        else:
            splits.append(numeric_split(thr[i], d >> 2, bool(d & 2)))
    return expand_tree(where=where, leaf_value=leaf_value, feature=feat, kids=kids, splits=splits, budget=budget,
                       growth=_MAX_GROWTH)


# --------------------------------------------------------------------------- the model


def _objective(text: str) -> tuple[str, Task, PostTransform, int]:
    """(name, task, post-transform, num_class) from the ``objective=`` line."""
    words = text.split()
    if not words:
        raise UnsupportedModelError("the model has no objective (custom objective?): its predict() is undefined here")
    kind, params = words[0], {}
    for w in words[1:]:
        k, _, v = w.partition(":")
        params[k] = v
    if kind not in OBJECTIVES:
        raise UnsupportedModelError(f"LightGBM objective {kind!r} is not supported")
    task, post = OBJECTIVES[kind]
    if "sqrt" in params:
        raise UnsupportedModelError(f"LightGBM objective {kind!r} with reg_sqrt (predict squares the margin) is not supported")
    if post is PostTransform.SIGMOID and kind != "cross_entropy":
        try:
            scale = float(params.get("sigmoid", "1"))
        except ValueError:
            raise _fail(f"objective sigmoid parameter {params.get('sigmoid', '')[:20]!r} is not a number") from None
        if scale != 1.0:
            raise UnsupportedModelError(f"LightGBM objective {kind!r} with sigmoid:{params['sigmoid']} "
                                        "(the IR's sigmoid has no scale; only sigmoid:1 is exact)")
    k = _int(params.get("num_class", "1"), "objective num_class") if task is Task.MULTICLASS else 1
    return kind, task, post, k


def model_from_text(text: str, *, name: str = "<text>", sha256: str = "", iteration_end: int | None = None) -> Model:
    """Build the IR from the text of a LightGBM model file (``iteration_end``: keep only the
    first that many boosting iterations)."""
    header, trees = _sections(text, name)
    version = header.get("version", "")
    if version not in ("v2", "v3", "v4"):
        raise UnsupportedModelError(f"{name}: LightGBM model format version {version[:20]!r} is not supported (v2-v4 are)")
    kind, task, post, n_class = _objective(header.get("objective", ""))
    nf = _int(header.get("max_feature_idx", ""), "max_feature_idx") + 1
    names = header.get("feature_names", "").split(" ")
    if not 1 <= nf <= len(text) or len(names) != nf:
        raise _fail(f"{name}: feature_names has {len(names)} names, max_feature_idx says {nf} features")
    infos = header.get("feature_infos", "").split(" ")
    if len(infos) != nf:
        infos = ["none"] * nf
    per_iter = _int(header.get("num_tree_per_iteration", "1"), "num_tree_per_iteration")
    header_class = _int(header.get("num_class", "1"), "num_class")
    if header_class != n_class or per_iter != (n_class if task is Task.MULTICLASS else 1):
        raise _fail(f"{name}: num_class {header_class} / num_tree_per_iteration {per_iter} disagree with "
                    f"objective {header.get('objective', '')[:40]!r}")
    if task is Task.MULTICLASS and n_class < 2:
        raise _fail(f"{name}: {kind} needs num_class >= 2")
    if len(trees) % per_iter:
        raise _fail(f"{name}: {len(trees)} trees is not a whole number of iterations of {per_iter}")
    if iteration_end is not None:
        trees = trees[: iteration_end * per_iter]
    average = "average_output" in header
    if average and not trees:
        raise _fail(f"{name}: an averaged (random forest) model with no trees")
    # Counted from the leaf_value lines actually present (never from a claimed num_leaves), so
    # one lying tree cannot lend another the budget to expand 2**depth copies.
    lgb_nodes = sum(2 * len(t.get("leaf_value", "").split()) for t in trees)
    budget = [_MAX_GROWTH * lgb_nodes + 1024]
    ir_trees = tuple(_tree(t, i, nf, budget) for i, t in enumerate(trees))
    features = tuple(
        Feature(name=nm, type=FeatureType.FLOAT if info.startswith("[") or info == "none" else FeatureType.CATEGORICAL)
        for nm, info in zip(names, infos, strict=True)
    )
    ens = TreeEnsemble(
        trees=ir_trees,
        tree_output=np.arange(len(ir_trees), dtype=np.int32) % per_iter,
        tree_weight=np.ones(len(ir_trees), dtype=np.float32),
        comparison=Comparison.LE,
        threshold_dtype="float64",
        categories_in_set_go_left=True,
        invalid_category_goes_left=False,
        value_dtype="float64",
        average=average,
    )
    n_out = n_class if task is Task.MULTICLASS else 1
    return Model(
        task=task, features=features, n_outputs=n_out,
        n_classes=n_class if task is Task.MULTICLASS else (2 if task is Task.BINARY else 0),
        booster=ens, base_score=np.zeros(n_out, dtype=np.float64), post_transform=post,
        provenance=Provenance(source_format="lightgbm-text", framework="lightgbm", framework_version=version,
                              sha256=sha256, objective=header.get("objective", "")),
    )


def load_lightgbm(path: str | Path, options: LoadOptions | None = None) -> Model:
    """Read a LightGBM ``model.txt`` into the IR."""
    path = Path(path)
    options = options or LoadOptions()
    if options.use_best_iteration:
        raise UnsupportedModelError(f"{path.name}: a LightGBM model file records no best iteration "
                                    "(save_model already keeps only the trees up to it); use --iteration-end")
    data = read_model_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(f"{path.name}: not UTF-8 text (byte {exc.start})") from None
    try:
        return model_from_text(text, name=path.name, sha256=hashlib.sha256(data).hexdigest(),
                               iteration_end=options.iteration_end)
    except (ModelFormatError, UnsupportedModelError):
        raise
    except (ValueError, OverflowError, IndexError) as exc:
        raise _fail(f"{path.name}: malformed LightGBM model: {type(exc).__name__}: {str(exc)[:160]}") from None


FRONTENDS.register("lightgbm-text", Frontend(
    name="lightgbm-text", framework="lightgbm",
    description="LightGBM model saved as text (Booster.save_model('model.txt'))",
    extensions=(".txt",), sniff=sniff_lightgbm_text, load=load_lightgbm,
))
