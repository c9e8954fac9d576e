"""XGBoost frontend: ``model.json`` / ``model.ubj`` files read straight into the IR.

No xgboost import: the file format is the contract.  Upstream references (dmlc/xgboost):

* ``src/learner.cc`` ``LearnerModelParam``: ``base_score`` is stored in OUTPUT space since the
  JSON format exists (1.0; "we save the value provided by user and keep it immutable") and
  turned into a margin with the objective's ``ProbToMargin`` when the model is configured.
  1.x/2.x write a scalar string (``"5E-1"``), 3.1+ an array string (``"[4.6E-1]"``), one value
  per class/target.
* ``src/tree/tree_model.cc`` ``RegTree::LoadModel``: per-node arrays; a leaf has
  ``left_children == -1`` and its value in ``split_conditions``; multi-target trees
  (``size_leaf_vector > 1``) keep leaf vectors in ``leaf_weights`` and, for a leaf, the leaf's
  index in ``right_children`` (verified against xgboost 3.2 by the parity tests).
* ``src/predictor/predict_fn.h`` ``GetNextNode`` + ``src/common/categorical.h`` ``Decision``: a
  category IN the node's set goes RIGHT; not in the set, negative or >= 2**24 goes LEFT; a
  missing value follows ``default_left``.
* ``src/gbm/gbtree.cc``: DART multiplies each tree's output by ``weight_drop[i]``;
  ``iteration_indptr`` gives the first tree of each boosting round.
* ``src/gbm/gblinear_model.h``: ``weights`` is ``[num_feature + 1, num_output_group]``
  row-major, the last row the bias.
* The writer's ``version`` decides two semantics older releases had (pinned by real files from
  1.0.2-3.0.5 and the outputs those releases computed, tests/fixtures/xgboost_legacy):
  ``binary:logitraw`` maps base_score through the logit before 1.3, and the intercept is added
  after the trees' float32 sum before 1.3 (gbtree) / 1.4 (dart): see :func:`_base_margin_last`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import warnings
from pathlib import Path

import numpy as np

from modelport.converters.frontends import FRONTENDS, Frontend, LoadOptions
from modelport.converters.frontends._ubjson import INT_MARKERS, UBJSONError
from modelport.converters.frontends._ubjson import loads as ubjson_loads
from modelport.converters.frontends._xgb_trees import as_integers, parse_trees
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
from modelport.core.errors import ModelFormatError, UnsupportedModelError
from modelport.core.files import read_model_bytes

__all__ = ["OBJECTIVES", "load_xgboost", "model_from_document", "parse_document"]

# objective -> (task, post-transform, link applied to base_score: output space -> margin).
# Links follow each objective's ProbToMargin in src/objective/*.cc (regression_obj.cu,
# multiclass_obj.cu, hinge.cu, aft_obj.cu, rank_obj / lambdarank_obj.cc); checked against
# xgboost 3.2's predict(output_margin=True) by tests/test_evaluate_parity.py.
_T, _P = Task, PostTransform
OBJECTIVES: dict[str, tuple[Task, PostTransform, str]] = {
    "reg:squarederror": (_T.REGRESSION, _P.IDENTITY, "identity"),
    "reg:squaredlogerror": (_T.REGRESSION, _P.IDENTITY, "identity"),
    "reg:pseudohubererror": (_T.REGRESSION, _P.IDENTITY, "identity"),
    "reg:absoluteerror": (_T.REGRESSION, _P.IDENTITY, "identity"),
    "reg:quantileerror": (_T.REGRESSION, _P.IDENTITY, "identity"),
    "reg:logistic": (_T.REGRESSION, _P.SIGMOID, "logit"),
    "reg:gamma": (_T.REGRESSION, _P.EXP, "log"),
    "reg:tweedie": (_T.REGRESSION, _P.EXP, "log"),
    "count:poisson": (_T.REGRESSION, _P.EXP, "log"),
    "binary:logistic": (_T.BINARY, _P.SIGMOID, "logit"),
    "binary:logitraw": (_T.BINARY, _P.IDENTITY, "identity"),  # LogisticRaw: margin as is
    "binary:hinge": (_T.BINARY, _P.HINGE, "identity"),
    "multi:softprob": (_T.MULTICLASS, _P.SOFTMAX, "identity"),
    "multi:softmax": (_T.MULTICLASS, _P.SOFTMAX_LABEL, "identity"),
    "survival:aft": (_T.SURVIVAL, _P.EXP, "log"),
    "survival:cox": (_T.SURVIVAL, _P.EXP, "log"),
    "rank:pairwise": (_T.RANKING, _P.IDENTITY, "identity"),
    "rank:ndcg": (_T.RANKING, _P.IDENTITY, "identity"),
    "rank:map": (_T.RANKING, _P.IDENTITY, "identity"),
}

#: Largest feature count / output count accepted (XGBoost's bst_feature_t is 32-bit; real
#: models are far below these, a corrupt file above them).
_MAX_FEATURES = 1 << 28
_MAX_OUTPUTS = 1 << 20
#: Longest integer text read (int64 needs 20 characters with the sign).
_MAX_INT_CHARS = 24
#: A feature without a name takes no bytes in the file, so ``num_feature`` is bounded by the
#: file's size in bytes, or by this floor for tiny files (a 9 KB file cannot be a model of
#: 16 million columns: building them would take gigabytes).
_FREE_FEATURES = 4096
#: Scalar-leaf boosters grow one tree per output per round, so an output count above the
#: number of trees (or this floor, for untrained models) is a corrupt count.
_FREE_OUTPUTS = 256

_FEATURE_TYPES = {
    "q": FeatureType.FLOAT,
    "float": FeatureType.FLOAT,
    "int": FeatureType.INT,
    "i": FeatureType.INDICATOR,
    "c": FeatureType.CATEGORICAL,
}


def _fail(msg: str) -> ModelFormatError:
    return ModelFormatError(msg.replace("\n", " "))


def _obj(parent: dict, key: str, where: str) -> dict:
    v = parent.get(key)
    if not isinstance(v, dict):
        raise _fail(f"{where}: missing or non-object '{key}'")
    return v


def _int(v, what: str) -> int:
    try:
        if isinstance(v, (bool, float)) and not float(v).is_integer():
            raise ValueError
        if isinstance(v, str) and len(v.strip()) > _MAX_INT_CHARS:
            raise ValueError  # bounded before int(): no 4300-digit conversions
        return int(v)
    except (TypeError, ValueError, OverflowError):
        raise _fail(f"{what} is not an integer: {str(v)[:40]!r}") from None


def _parse_int(text: str) -> int:
    if len(text) > _MAX_INT_CHARS:
        raise ValueError(f"an integer literal of {len(text)} digits")
    return int(text)


def parse_document(data: bytes, name: str = "<bytes>") -> tuple[dict, str]:
    """Decode XGBoost JSON or UBJSON bytes; returns ``(document, "json" | "ubj")``."""
    stripped = data.lstrip()
    # After '{', UBJSON has a key-length marker (or '$'/'#'/'}'); JSON has '"', space or '}'.
    if stripped[:1] == b"{" and stripped[1:2] not in (*INT_MARKERS, b"$", b"#"):
        try:
            doc = json.loads(data, parse_int=_parse_int)
        except RecursionError:
            raise _fail(f"{name}: JSON nested too deeply") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise _fail(f"{name}: malformed or truncated JSON ({str(exc).splitlines()[0]})") from None
        kind = "json"
    elif stripped[:1] == b"{":
        try:
            doc = ubjson_loads(bytes(stripped))
        except UBJSONError as exc:
            raise _fail(f"{name}: malformed or truncated UBJSON ({exc})") from None
        kind = "ubj"
    else:
        raise _fail(f"{name}: neither XGBoost JSON nor UBJSON (does not start with '{{')")
    if not isinstance(doc, dict) or not isinstance(doc.get("learner"), dict):
        raise _fail(f"{name}: not an XGBoost model (no top-level 'learner' object)")
    return doc, kind


def _base_score(text, n_outputs: int, link: str, objective: str) -> np.ndarray:
    """Parse ``base_score`` (scalar or array string) and map it to margin space in float32.

    XGBoost computes the link in float32 arithmetic on the float32 value
    (``ProbToMargin(float)`` returning float), then the result is the margin's start value.
    """
    s = str(text).strip()
    if len(s) > 64 * n_outputs + 64:
        raise _fail(f"base_score is {len(s)} characters long for {n_outputs} output(s)")
    try:
        if s.startswith("["):
            vals = [float(v) for v in s[1:-1].split(",") if v.strip()]
        else:
            vals = [float(s)]
    except ValueError:
        raise _fail(f"base_score is not a number or list of numbers: {s[:40]!r}") from None
    if not all(math.isfinite(v) for v in vals):
        raise _fail(f"base_score {s[:40]!r} is not finite: every prediction would be NaN or infinite")
    if len(vals) == 1:
        vals = vals * n_outputs
    if len(vals) != n_outputs:
        raise _fail(f"base_score has {len(vals)} values, the model has {n_outputs} outputs")
    out = np.asarray(vals, dtype=np.float32)
    if link == "logit":
        if np.any((out <= 0) | (out >= 1)):
            raise _fail(f"base_score {s!r} is outside (0, 1), impossible for {objective}")
        # -log(1/p - 1) in float32 steps as in LogisticRegression::ProbToMargin.
        with np.errstate(all="ignore"):
            one = np.float32(1.0)
            out = -np.log((one / out - one).astype(np.float64)).astype(np.float32)
    elif link == "log":
        if np.any(out <= 0):
            raise _fail(f"base_score {s!r} must be > 0 for {objective}")
        out = np.log(out.astype(np.float64)).astype(np.float32)
    return out.astype(np.float32)


def _features(learner: dict, n_features: int, gbm_model: dict | None) -> tuple[Feature, ...]:
    names = learner.get("feature_names") or []
    types = learner.get("feature_types") or []
    if not isinstance(names, list) or not isinstance(types, list):
        raise _fail("feature_names / feature_types must be lists of strings")
    if names and len(names) != n_features:
        raise _fail(f"feature_names has {len(names)} entries, num_feature is {n_features}")
    if types and len(types) != n_features:
        raise _fail(f"feature_types has {len(types)} entries, num_feature is {n_features}")
    cats = _category_values((gbm_model or {}).get("cats"), n_features)
    out = []
    for i in range(n_features):
        t = str(types[i]) if types else "float"
        if t not in _FEATURE_TYPES:
            raise UnsupportedModelError(f"feature type {t!r} of feature {i} is not supported")
        out.append(Feature(name=str(names[i]) if names else f"f{i}", type=_FEATURE_TYPES[t], categories=cats[i]))
    return tuple(out)


def _category_values(cats, n_features: int) -> list:
    """The training categories per feature from 3.x's ``cats`` encoder (None when absent).

    Each ``enc`` entry is either ``{"offsets", "values"}`` (strings: UTF-8 bytes and their
    start offsets) or ``{"type", "values"}`` (numeric categories), in category-code order.
    """
    out: list = [None] * n_features
    if not isinstance(cats, dict) or not cats.get("enc"):
        return out
    enc = cats["enc"]
    if len(enc) != n_features:
        raise _fail(f"cats.enc has {len(enc)} entries, num_feature is {n_features}")
    for i, e in enumerate(enc):
        vals = list(e.get("values", [])) if isinstance(e, dict) else []
        if not vals:
            continue
        if "offsets" in e:
            offs = [int(o) for o in e["offsets"]]
            if offs[-1:] != [len(vals)]:
                offs = offs + [len(vals)]
            raw = bytes(int(v) & 0xFF for v in vals)
            out[i] = tuple(raw[a:b].decode("utf-8", "replace") for a, b in itertools.pairwise(offs))
        else:
            out[i] = tuple(_num_text(v) for v in vals)
    return out


def _num_text(v) -> str:
    f = float(v)
    return str(int(f)) if f.is_integer() else repr(f)


def model_from_document(
    doc: dict,
    *,
    source_format: str,
    sha256: str = "",
    iteration_end: int | None = None,
    use_best_iteration: bool | None = None,
    source_bytes: int | None = None,
) -> Model:
    """Build the IR from a decoded XGBoost model document.

    ``source_bytes`` (the size of the file the document came from) bounds the counts the
    document declares without storing them, such as ``num_feature`` with no feature names.

    Truncation: by default (``use_best_iteration=None``) what the saving API's predict does: a
    model saved by the scikit-learn wrapper after early stopping keeps rounds
    ``[0, best_iteration]`` as ``XGBModel.predict`` does; any other keeps every tree, as
    ``Booster.predict`` does.  ``use_best_iteration=True``/``False`` forces either; ``iteration_end=k`` keeps the
    first ``k`` rounds (``iteration_range=(0, k)``).  Both cut at ``iteration_indptr``, so
    ``num_class * num_parallel_tree`` trees per round stay together.

    Any structural surprise the explicit checks did not name (a number where an object
    belongs, a string inside a numeric array...) still surfaces as a one-line
    :class:`ModelFormatError`, never as a bare TypeError from deep inside numpy.
    """
    if iteration_end is not None and iteration_end < 0:
        raise ValueError(f"iteration_end must be >= 0, got {iteration_end}")
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # float32 casts of huge values overflow to inf on purpose (refused by validation);
            # numpy's RuntimeWarnings must not reach the user's stderr.
            warnings.simplefilter("ignore")
            return _build(doc, source_format=source_format, sha256=sha256, iteration_end=iteration_end,
                          use_best_iteration=use_best_iteration, source_bytes=source_bytes)
    except (ModelFormatError, UnsupportedModelError):
        raise
    except MemoryError:
        raise _fail("malformed XGBoost model: a declared size does not fit in memory") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        detail = " ".join(str(exc).split())[:160]
        raise _fail(f"malformed XGBoost model: {type(exc).__name__}: {detail}") from None


def _build(
    doc: dict,
    *,
    source_format: str,
    sha256: str = "",
    iteration_end: int | None = None,
    use_best_iteration: bool | None = None,
    source_bytes: int | None = None,
) -> Model:
    """Build the IR; see :func:`model_from_document`."""
    learner = _obj(doc, "learner", "model")
    lmp = _obj(learner, "learner_model_param", "learner")
    objective = str(_obj(learner, "objective", "learner").get("name", ""))
    if objective not in OBJECTIVES:
        raise UnsupportedModelError(f"XGBoost objective {objective!r} is not supported")
    task, post, link = OBJECTIVES[objective]
    version = doc.get("version") or []
    version_s = ".".join(str(_int(v, "version")) for v in version) if isinstance(version, list) else ""
    writer = _writer_version(version)
    if objective == "binary:logitraw" and writer is not None and writer < _LOGITRAW_IDENTITY_SINCE:
        # Before 1.3 ``LogisticRaw`` had no ProbToMargin of its own and inherited
        # ``LogisticRegression::ProbToMargin`` (src/objective/regression_loss.h): base_score 0.5
        # became margin 0, not 0.5.  Measured with xgboost 1.0.2-1.2.1 vs 1.3.3+ (fixtures in
        # tests/fixtures/xgboost_legacy); xgboost >= 1.3 reading such a file shifts every
        # margin by +0.5 from what the model was trained with, we follow the writer.
        link = "logit"
    n_features = _int(lmp.get("num_feature", 0), "num_feature")
    n_class = _int(lmp.get("num_class", 0), "num_class")
    n_target = max(1, _int(lmp.get("num_target", 1), "num_target"))
    if objective == "reg:quantileerror":
        alphas = _quantiles(learner["objective"])
        n_target = max(n_target, len(alphas))
    # Sanity bounds: a corrupt count must fail in one line, not allocate terabytes.
    for what, v, hi in (("num_feature", n_features, _MAX_FEATURES), ("num_class", n_class, _MAX_OUTPUTS),
                        ("num_target", n_target, _MAX_OUTPUTS)):
        if not 0 <= v <= hi:
            raise _fail(f"{what} is {v}, outside [0, {hi}]")
    names = learner.get("feature_names") or learner.get("feature_types") or []
    free = max(_FREE_FEATURES, source_bytes or 0)
    if n_features > free and not (isinstance(names, list) and len(names) == n_features):
        raise _fail(f"num_feature is {n_features} but the file ({source_bytes} bytes) names none of them: "
                    f"more than {free} unnamed features is a corrupt count")
    if n_class > 1 and n_target > 1:
        raise UnsupportedModelError("multi-class models with several targets are not supported")
    n_outputs = n_class if n_class > 1 else n_target
    if task is Task.MULTICLASS and n_class < 2:
        raise _fail(f"{objective} needs num_class >= 2, the file says {n_class}")
    if task is not Task.MULTICLASS and n_class > 1:
        raise _fail(f"num_class is {n_class} but the objective {objective} is not multi-class")
    base = _base_score(lmp.get("base_score", "0.5"), n_outputs, link, objective)

    gb = _obj(learner, "gradient_booster", "learner")
    name = gb.get("name")
    gbm_model = None
    rounds_kept = rounds_total = None
    truncation = ""
    if name == "gblinear":
        booster = _linear(_obj(gb, "model", "gblinear"), n_features, n_outputs)
        # gblinear adds the FIRST intercept to every output group (src/gbm/gblinear.cc
        # PredictBatchInternal reads ``base_score(0)``), even when 3.x stores one per class:
        # measured on xgboost 3.2 (tests: gblinear_multiclass).
        base = np.full(n_outputs, base[0], dtype=np.float32)
    elif name in ("gbtree", "dart"):
        # dart (<= 3.2): {"name": "dart", "gbtree": {...}, "weight_drop": [...]};
        # 3.3+: gbtree with a "weight_drop" beside "model" (trap 13 of docs/parity-traps.md).
        inner = _obj(gb, "gbtree", "dart") if "gbtree" in gb else gb
        gbm_model = _obj(inner, "model", str(name))
        weight_drop = gb.get("weight_drop", inner.get("weight_drop"))
        if name == "dart" and weight_drop is None:
            raise _fail("dart booster without 'weight_drop'")
        attrs = learner.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise _fail("learner.attributes is not an object")
        # The default follows the saving API's predict: the scikit-learn wrapper (which records a
        # "scikit_learn" attribute) predicts with best_iteration after early stopping
        # (xgboost/sklearn.py _get_iteration_range), Booster.predict with every round.
        if use_best_iteration is None:
            use_best_iteration = "scikit_learn" in attrs and "best_iteration" in attrs
            truncation = "best_iteration (saved by the scikit-learn wrapper)" if use_best_iteration else ""
        else:
            truncation = "best_iteration" if use_best_iteration and "best_iteration" in attrs else ""
        best = attrs.get("best_iteration") if use_best_iteration else None
        end = iteration_end
        if iteration_end is not None:
            truncation = f"iteration_end={iteration_end}"
        if best is not None:
            best_i = _int(best, "best_iteration")
            if best_i < 0:  # would keep the wrong trees through negative indexing
                raise _fail(f"best_iteration is {best_i}, not a round number (>= 0)")
            end = best_i + 1 if end is None else min(end, best_i + 1)
        _check_outputs(gbm_model, n_outputs)
        booster = _ensemble(gbm_model, weight_drop, n_features, n_outputs, end)
        info = np.asarray(gbm_model.get("tree_info", []))
        starts = _round_starts(gbm_model, gbm_model.get("gbtree_model_param", {}), info, len(gbm_model["trees"]), n_outputs)
        rounds_total = len(starts) - 1
        rounds_kept = rounds_total if end is None else min(end, rounds_total)
        since = _DART_BASE_FIRST_SINCE if name == "dart" else _GBTREE_BASE_FIRST_SINCE
        if writer is not None and writer < since and booster.leaf_dim == 1:
            booster, base = _base_margin_last(booster, base), np.zeros_like(base)
    else:
        raise UnsupportedModelError(f"XGBoost booster {name!r} is not supported (gbtree, dart, gblinear are)")

    if task is Task.REGRESSION and n_outputs > 1:
        task = Task.MULTI_TARGET
    output_names: tuple[str, ...] = ()
    if objective == "reg:quantileerror" and n_outputs > 1:
        output_names = tuple(f"quantile_{a:g}" for a in alphas)
    return Model(
        task=task,
        features=_features(learner, n_features, gbm_model),
        n_outputs=n_outputs,
        n_classes=n_class if task is Task.MULTICLASS else (2 if task is Task.BINARY else 0),
        booster=booster,
        base_score=base,
        post_transform=post,
        missing=float("nan"),
        provenance=Provenance(
            source_format=source_format, framework="xgboost", framework_version=version_s,
            sha256=sha256, objective=objective, rounds_kept=rounds_kept, rounds_total=rounds_total,
            truncation=truncation if rounds_kept != rounds_total else "",
        ),
        output_names=output_names,
    )


#: First releases whose semantics differ from older writers (measured against each
#: release's own predictions: tests/test_xgboost_legacy_files.py).
_LOGITRAW_IDENTITY_SINCE = (1, 3)
_GBTREE_BASE_FIRST_SINCE = (1, 3)
_DART_BASE_FIRST_SINCE = (1, 4)


def _check_outputs(gbm_model: dict, n_outputs: int) -> None:
    """Scalar-leaf trees: one tree per output per round, so more outputs than trees (beyond a
    small floor for untrained models) is a corrupt num_class / num_target, refused before
    anything is sized by it.  Vector-leaf trees hold every output in ``leaf_weights``."""
    trees = gbm_model.get("trees") if isinstance(gbm_model, dict) else None
    n_trees = len(trees) if isinstance(trees, list) else 0
    if n_outputs <= max(n_trees, _FREE_OUTPUTS):
        return
    first = trees[0] if n_trees and isinstance(trees[0], dict) else {}
    tp = first.get("tree_param") if isinstance(first.get("tree_param"), dict) else {}
    if str(tp.get("size_leaf_vector", "1")).strip() in ("0", "1"):
        raise _fail(f"the model declares {n_outputs} outputs but holds only {n_trees} trees")


def _writer_version(version) -> tuple[int, ...] | None:
    """The ``version`` array of the document as a tuple (None when absent: read as current)."""
    if not isinstance(version, list) or not version:
        return None
    return tuple(_int(v, "version") for v in version)


def _base_margin_last(ens: TreeEnsemble, base: np.ndarray) -> TreeEnsemble:
    """The ensemble with the intercept moved to the END of the float32 sum.

    XGBoost <= 1.2 (gbtree) and <= 1.3 (dart) summed a row's trees into a local float32
    accumulator starting at 0 (``src/predictor/cpu_predictor.cc`` ``PredValue``; dart's own
    ``PredLoopInternal``) and only then added it to the output initialised with the base
    margin: ``base + (t1 + t2 + ...)``.  From 1.3 (gbtree) and 1.4 (dart) every tree is added
    straight onto the base margin: ``((base + t1) + t2) + ...``.  The two differ in the last
    bit whenever the base margin is not 0 (measured on 1.0.2-1.2.1 / 1.3.3 files).  The IR's
    sum starts at ``base_score``, so an exact encoding of the old order is: base_score 0 (the
    old accumulator's start) and one single-leaf tree per output, holding that output's base
    margin, appended after the model's trees (weight 1: DART's ``leaf * 1.0`` is exact).
    """
    extra = []
    for g in range(base.size):
        extra.append(Tree(
            left=np.full(1, -1, np.int32), right=np.full(1, -1, np.int32), feature=np.zeros(1, np.int32),
            threshold=np.zeros(1, np.float32), default_left=np.zeros(1, bool), is_categorical=np.zeros(1, bool),
            cat_offsets=np.zeros(2, np.int64), cat_values=np.zeros(0, np.int32),
            value=np.full((1, 1), base[g], np.float32),
        ))
    return dataclasses.replace(
        ens,
        trees=ens.trees + tuple(extra),
        tree_output=np.concatenate([ens.tree_output, np.arange(base.size, dtype=np.int32)]),
        tree_weight=np.concatenate([ens.tree_weight, np.ones(base.size, np.float32)]),
    )


def _quantiles(obj: dict) -> list[float]:
    p = obj.get("quantile_loss_param", {}).get("quantile_alpha", "0.5")
    s = str(p).strip().strip("[]")
    try:
        return [float(v) for v in s.split(",") if v.strip()] or [0.5]
    except ValueError:
        raise _fail(f"quantile_alpha is not a list of numbers: {str(p)[:40]!r}") from None


def _linear(model: dict, n_features: int, n_outputs: int) -> LinearBooster:
    w = np.asarray(model.get("weights", []), dtype=np.float32).ravel()
    want = (n_features + 1) * n_outputs
    if w.size != want:
        raise _fail(f"gblinear weights has {w.size} values, expected (num_feature+1)*outputs = {want}")
    w = w.reshape(n_features + 1, n_outputs)
    return LinearBooster(weights=np.ascontiguousarray(w[:-1]), bias=np.ascontiguousarray(w[-1]))


def _round_starts(model: dict, param: dict, info: np.ndarray, n_trees: int, n_outputs: int) -> list[int]:
    """The first tree of each boosting round, and ``n_trees`` last (``iteration_indptr``;
    before 2.0 rounds are ``num_output_group * num_parallel_tree`` trees wide)."""
    indptr = model.get("iteration_indptr")
    if indptr is None:
        per = max(1, _int(param.get("num_parallel_tree", 1), "num_parallel_tree")) * (
            n_outputs if info.size and info.max(initial=0) > 0 else 1)
        indptr = list(range(0, n_trees + 1, per))
        if indptr[-1] != n_trees:
            indptr.append(n_trees)
    if not isinstance(indptr, list):
        raise _fail("iteration_indptr is not a list")
    indptr = [_int(v, "iteration_indptr") for v in indptr]
    if not indptr or indptr[0] != 0 or indptr[-1] != n_trees or any(a > b for a, b in itertools.pairwise(indptr)):
        raise _fail(f"iteration_indptr is not a non-decreasing 0..{n_trees} sequence")
    return indptr


def _ensemble(model: dict, weight_drop, n_features: int, n_outputs: int, end: int | None) -> TreeEnsemble:
    trees_doc = model.get("trees")
    if not isinstance(trees_doc, list):
        raise _fail("gbtree model has no 'trees' list")
    param = model.get("gbtree_model_param", {})
    n_trees = _int(param.get("num_trees", len(trees_doc)), "num_trees")
    if n_trees != len(trees_doc):
        raise _fail(f"num_trees is {n_trees} but the file holds {len(trees_doc)} trees")
    info = as_integers(np.asarray(model.get("tree_info", [])), "info", "tree_info", np.int64)
    if info.size != n_trees:
        raise _fail(f"tree_info has {info.size} entries for {n_trees} trees")
    indptr = _round_starts(model, param, info, n_trees, n_outputs)
    n_keep = indptr[min(end, len(indptr) - 1)] if end is not None else n_trees
    if weight_drop is not None:
        wd = np.asarray(weight_drop, dtype=np.float32).ravel()
        if wd.size != n_trees:
            raise _fail(f"weight_drop has {wd.size} entries for {n_trees} trees")
        if not np.isfinite(wd).all():
            raise _fail("weight_drop holds a non-finite weight")
    else:
        wd = np.ones(n_trees, dtype=np.float32)
    trees, leaf_dim = parse_trees(trees_doc[:n_keep], n_features, n_outputs)
    info = info[:n_keep]
    if leaf_dim > 1:
        tree_output = np.full(n_keep, -1, dtype=np.int32)
    else:
        if info.size and (info.min() < 0 or info.max() >= n_outputs):
            raise _fail(f"tree_info refers to output {int(info.max())}, the model has {n_outputs}")
        tree_output = info.astype(np.int32)
    return TreeEnsemble(
        trees=tuple(trees),
        tree_output=tree_output,
        tree_weight=wd[:n_keep].copy(),
        comparison=Comparison.LT,
        threshold_dtype="float32",
        categories_in_set_go_left=False,
        invalid_category_goes_left=True,
        leaf_dim=leaf_dim,
        apply_tree_weight=weight_drop is not None,
    )


def load_xgboost(
    path: str | Path,
    options: LoadOptions | None = None,
    *,
    iteration_end: int | None = None,
    use_best_iteration: bool | None = None,
) -> Model:
    """Read an XGBoost ``.json`` or ``.ubj`` model file into the IR (see
    :func:`model_from_document` for the truncation options)."""
    path = Path(path)
    try:
        data = read_model_bytes(path)
    except OSError as exc:
        raise ModelFormatError(f"cannot read model file {str(path)!r}: {exc.strerror}") from None
    doc, kind = parse_document(data, path.name)
    if options is not None:
        iteration_end = options.iteration_end if iteration_end is None else iteration_end
        use_best_iteration = options.use_best_iteration if use_best_iteration is None else use_best_iteration
    return model_from_document(
        doc, source_format=f"xgboost-{kind}", sha256=hashlib.sha256(data).hexdigest(),
        iteration_end=iteration_end, use_best_iteration=use_best_iteration, source_bytes=len(data),
    )


def _sniff_json(head: bytes, name: str) -> bool:
    s = head.lstrip()
    return s[:1] == b"{" and b'"learner"' in head


def _sniff_ubj(head: bytes, name: str) -> bool:
    # '{' then a key length marker (XGBoost writes 'L' int64; any int marker is legal).
    return head[:1] == b"{" and head[1:2] in INT_MARKERS and b"learner" in head


FRONTENDS.register("xgboost-json", Frontend(
    name="xgboost-json", framework="xgboost", description="XGBoost model saved as JSON (save_model('model.json'))",
    extensions=(".json",), sniff=_sniff_json, load=load_xgboost,
))
FRONTENDS.register("xgboost-ubj", Frontend(
    name="xgboost-ubj", framework="xgboost", description="XGBoost model saved as UBJSON (save_model('model.ubj'))",
    extensions=(".ubj",), sniff=_sniff_ubj, load=load_xgboost,
))
