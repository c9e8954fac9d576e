"""The ``pfa`` target: a Portable Format for Analytics document (``*.pfa.json``).

The document is the skeleton of :mod:`modelport.runtimes._pfa_forms` for the model's
layout (flat tree arrays walked by a ``while`` loop, float32 rounding written as
``u.f32``, the links as explicit float32 expressions) with its cells filled from the IR:
thresholds, leaf values, weights and the base score as lossless decimal literals
(:func:`modelport.core.numerics.float_literal`), category sets as sorted code arrays, and
modelport's artifact metadata in the document's top-level ``metadata`` map.  Input columns
are the record fields ``f0``, ``f1``, ... of type ``["null", "float"]`` (``"double"`` for
models that compare in float64); feature names live only in the metadata.  See docs/pfa.md.

Executed by modelport's vectorised engine (:mod:`modelport.runtimes.pfa`), bit-exact with
the reference evaluator, and checked independently with titus2 in the tests.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from modelport.converters.targets import TARGETS, Target, WriteOptions
from modelport.core.contract import artifact_metadata
from modelport.core.errors import UnsupportedModelError
from modelport.converters.targets._pfa_steps import step_cell_values, step_kinds
from modelport.core.ir.model import Comparison, LinearBooster, Model, Task, TreeEnsemble, booster_width
from modelport.core.numerics import float_literal
from modelport.core.tolerances import EXACT
from modelport.runtimes._pfa_forms import Layout, skeleton

__all__ = ["layout_of", "build_pfa", "write_pfa"]

#: Largest category code a PFA double carries exactly and XGBoost accepts (2**24).
_MAX_CAT = 1 << 24


def layout_of(model: Model) -> Layout:
    """The document layout of ``model``; UnsupportedModelError (one line) for what the
    forms cannot express exactly."""
    b = model.booster
    post = model.post_transform.value
    probs = {Task.BINARY: "binary", Task.MULTICLASS: "multiclass"}.get(model.task, "none")
    if probs == "binary" and model.n_outputs != 1:
        raise UnsupportedModelError(f"pfa: a binary model with {model.n_outputs} margin columns")
    if post in ("softmax", "softmax_label") and model.n_outputs < 1:
        raise UnsupportedModelError("pfa: softmax over zero outputs")
    if probs == "multiclass" and post not in ("softmax", "softmax_label", "identity"):
        # one-vs-all classes (LightGBM multiclassova): a sigmoid per class, not normalised;
        # the document's class probabilities are written for softmax and identity only
        # (identity: scikit-learn trees and forests, whose margins are the probabilities).
        raise UnsupportedModelError(f"pfa: a multiclass model with a per-class {post} (one-vs-all) is not written")
    if model.preprocessing and not (isinstance(b, LinearBooster) and b.value_dtype == "float64"):
        raise UnsupportedModelError("pfa: preprocessing steps are written before a float64 linear model only")
    sentinel = not math.isnan(float(model.missing))
    if sentinel and math.isinf(float(model.missing)):
        raise UnsupportedModelError("pfa: an infinite missing-value sentinel has no JSON literal")
    if isinstance(b, LinearBooster) and b.value_dtype == "float64":
        return _layout64(model, post, probs)
    if isinstance(b, LinearBooster):
        return Layout(n_features=model.n_features, in_type="float", margin="linear", vector=False, has_cat=False,
                      cmp="<", sentinel=sentinel, link=post, probs=probs)
    if not isinstance(b, TreeEnsemble):
        raise UnsupportedModelError(f"pfa: booster {type(b).__name__}")
    if b.threshold_dtype not in ("float32", "float64") or b.value_dtype not in ("float32", "float64"):
        raise UnsupportedModelError(f"pfa: thresholds {b.threshold_dtype} / values {b.value_dtype}")
    wide = b.value_dtype == "float64" or b.average
    if wide and b.value_dtype == "float32":
        raise UnsupportedModelError("pfa: averaging a float32 sum (only float64 averaged sums are written)")
    if wide and b.apply_tree_weight:
        raise UnsupportedModelError("pfa: tree weights on a float64 sum")
    vector = b.leaf_dim > 1
    if vector and (b.leaf_dim != model.n_outputs or np.any(b.tree_output != -1)):
        raise UnsupportedModelError(f"pfa: vector leaves of length {b.leaf_dim} for {model.n_outputs} outputs")
    if not vector and len(b.trees) and (np.any(b.tree_output < 0) or np.any(b.tree_output >= model.n_outputs)):
        raise UnsupportedModelError("pfa: a tree adds to an output column that does not exist")
    margin = ("wide_avg" if b.average else "wide") if wide else ("dart32" if b.apply_tree_weight else "sum32")
    return Layout(n_features=model.n_features, in_type="double" if b.threshold_dtype == "float64" else "float",
                  margin=margin, vector=vector, has_cat=any(bool(t.is_categorical.any()) for t in b.trees),
                  cmp="<" if b.comparison is Comparison.LT else "<=", sentinel=sentinel, link=post, probs=probs,
                  value_type="double" if b.value_dtype == "float64" else "float")


def _layout64(model: Model, post: str, probs: str) -> Layout:
    """A scikit-learn float64 linear model: the links ``core/ir/_links64.py`` defines."""
    ok = {"none": ("identity",), "binary": ("sigmoid", "hinge"), "multiclass": ("softmax", "softmax_label")}[probs]
    if post not in ok:
        raise UnsupportedModelError(f"pfa: a {model.task.value} float64 linear model with post-transform {post}")
    return Layout(n_features=model.n_features, in_type="double", margin="linear64", vector=False, has_cat=False,
                  cmp="<", sentinel=False, link=post, probs=probs, steps=step_kinds(model))


def _nums(values, dtype: str, what: str) -> str:
    arr = np.asarray(values, dtype=dtype).ravel()
    if arr.size and not np.all(np.isfinite(arr)):
        raise UnsupportedModelError(f"pfa: a non-finite {what} has no JSON literal")
    return "[" + ",".join(float_literal(v, dtype) for v in arr.tolist()) + "]"


def _ints(values) -> str:
    return "[" + ",".join(str(int(v)) for v in np.asarray(values).ravel().tolist()) + "]"


def _bools(values) -> str:
    return "[" + ",".join("true" if v else "false" for v in np.asarray(values, dtype=bool).ravel().tolist()) + "]"


def _rows(matrix, dtype: str, what: str) -> str:
    return "[" + ",".join(_nums(r, dtype, what) for r in np.asarray(matrix)) + "]"


def _tree_cells(model: Model, ens: TreeEnsemble, lay: Layout) -> dict[str, str]:
    tdt = ens.threshold_dtype
    vdt = ens.value_dtype
    sizes = [t.left.size for t in ens.trees]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64) if sizes else np.zeros(1, np.int64)
    total = int(starts[-1])
    if total >= 2**31 - 1:
        raise UnsupportedModelError(f"pfa: {total} nodes exceed PFA's int indices")

    def cat(name, dt):
        return np.concatenate([getattr(t, name) for t in ens.trees]).astype(dt) if sizes else np.zeros(0, dt)

    left, right = np.empty(total, np.int64), np.empty(total, np.int64)
    for i, t in enumerate(ens.trees):
        s = starts[i]
        leaf = t.left == -1
        left[starts[i]:starts[i + 1]] = np.where(leaf, -1, t.left.astype(np.int64) + s)
        right[starts[i]:starts[i + 1]] = np.where(leaf, -1, t.right.astype(np.int64) + s)
    is_leaf = left == -1
    thr = np.where(is_leaf, 0, cat("threshold", tdt)).astype(tdt)
    value = (np.concatenate([t.value.reshape(t.left.size, -1) for t in ens.trees]) if sizes
             else np.zeros((0, ens.leaf_dim))).astype(vdt)
    value[~is_leaf] = 0
    cells = {
        "roots": _ints(starts[:-1]), "left": _ints(left), "right": _ints(right),
        "feature": _ints(np.where(is_leaf, 0, cat("feature", np.int64))),
        "threshold": _nums(thr, tdt, "threshold"), "defaultLeft": _bools(cat("default_left", bool)),
        "value": _rows(value, vdt, "leaf value"),
    }
    if not lay.vector:
        cells["treeOutput"] = _ints(ens.tree_output)
    if lay.margin == "dart32":
        cells["treeWeight"] = _nums(ens.tree_weight, "float32", "tree weight")
    if lay.margin == "wide_avg":
        counts = (np.full(model.n_outputs, len(ens.trees)) if lay.vector
                  else np.bincount(ens.tree_output, minlength=model.n_outputs))
        cells["count"] = _nums(np.where(counts > 0, counts, 1), "float64", "tree count")
    if lay.has_cat:
        offs, codes = [0], []
        for t in ens.trees:
            cv = t.cat_values.astype(np.int64)
            if cv.size and (cv.min() < 0 or cv.max() >= _MAX_CAT):
                raise UnsupportedModelError(f"pfa: category code outside [0, {_MAX_CAT})")
            for i in range(t.left.size):
                a, e = int(t.cat_offsets[i]), int(t.cat_offsets[i + 1])
                codes.extend(sorted(cv[a:e].tolist()) if t.is_categorical[i] and t.left[i] != -1 else [])
                offs.append(len(codes))
        cells.update({"isCat": _bools(cat("is_categorical", bool) & ~is_leaf), "catStart": _ints(offs),
                      "cats": _nums(codes, "float64", "category"),
                      "catInSetLeft": "true" if ens.categories_in_set_go_left else "false",
                      "catInvalidLeft": "true" if ens.invalid_category_goes_left else "false"})
    return cells


def build_pfa(model: Model, *, backend: str = "modelport") -> str:
    """The PFA document of ``model`` as JSON text (cells last, so the head is the program)."""
    lay = layout_of(model)
    doc = skeleton(lay)
    b = model.booster
    in_dt = "float64" if lay.in_type == "double" else "float32"
    cells: dict[str, str] = {"base": _nums(model.base_score.reshape(-1), "float32", "base score")}
    if model.base_score.size != model.n_outputs:
        raise UnsupportedModelError(f"pfa: {model.base_score.size} base scores for {model.n_outputs} outputs")
    if lay.sentinel:
        cells["missingValue"] = float_literal(model.missing, in_dt)
    if lay.margin == "linear64":
        cells.update(step_cell_values(model))
        if b.weights.shape != (booster_width(model), model.n_outputs):
            raise UnsupportedModelError(f"pfa: linear weights of shape {b.weights.shape}")
        cells["bias"] = _nums(b.bias, "float64", "bias")
        cells["weights"] = _rows(b.weights.astype(np.float64), "float64", "weight")
    elif isinstance(b, LinearBooster):
        if b.weights.shape != (model.n_features, model.n_outputs):
            raise UnsupportedModelError(f"pfa: linear weights of shape {b.weights.shape}")
        cells["bias"] = _nums(b.bias, "float32", "bias")
        cells["weights"] = _rows(b.weights.astype(np.float32), "float32", "weight")
    else:
        cells.update(_tree_cells(model, b, lay))
    if set(cells) != set(doc["cells"]):  # pragma: no cover - the forms and this writer disagree
        raise AssertionError(f"pfa cells {sorted(cells)} != {sorted(doc['cells'])}")
    types = {name: c["type"] for name, c in doc.pop("cells").items()}
    doc["metadata"] = artifact_metadata(model, backend=backend)
    head = json.dumps(doc, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    cell_text = ",".join(f'{json.dumps(name)}:{{"type":{json.dumps(types[name])},"init":{cells[name]}}}'
                         for name in types)
    return head[:-1] + ',"cells":{' + cell_text + "}}\n"


def write_pfa(model: Model, out_path: Path, options: WriteOptions) -> None:
    """Write ``model`` to ``out_path`` as a PFA document (see the module docstring)."""
    Path(out_path).write_text(build_pfa(model), encoding="utf-8")


TARGETS.register(
    "pfa",
    Target(
        name="pfa",
        extension=".pfa.json",
        description="PFA (Portable Format for Analytics) JSON document, run by modelport's vectorised PFA engine",
        write=write_pfa,
        runtime="pfa",
        margin_tolerance=EXACT,
        link_tolerance=EXACT,
        supports=frozenset({"linear-float64", "preprocessing:select_columns", "preprocessing:affine",
                            "preprocessing:impute", "preprocessing:lookup", "feature:nominal"}),
    ),
)
