"""Encode IR preprocessing steps and float64 linear boosters as plain ONNX ops, bit exact.

Every step runs in float64 (the graph's input is double for these models), with the same
correctly rounded IEEE operations, in the same order, as :mod:`modelport.core.ir.evaluate`:

* ``select_columns``: ``Gather(x, sources, axis=1)``;
* ``affine``: ``Sub`` then ``Div`` (or ``Mul`` then ``Add``) on full-width vectors, then
  ``Where(column_mask, result, x)`` so untouched columns keep their exact bits (``-0.0 + 0`` would
  turn into ``+0.0``); ``clip`` is ``Max(Min(.))`` with NaN restored by ``Where(IsNaN)``;
* ``impute``: ``Where(column_mask & missing(x), fill, x)``;
* ``lookup``: the column is compared with every key (``Equal``), the first hit's index
  (``ArgMax``), the unknown row K where none hits, the missing row K + 1 where the value is NaN,
  then ``Gather`` of the table rows and ``Concat`` into the column's place;
* float64 linear: ``acc = 0; acc += x_j * w_j`` per column in order (``Split``, ``Mul``, ``Add``),
  ``+ bias``, ``+ base_score``, ``Cast`` to float32: the evaluator's order, so no BLAS ``MatMul``;
  the link and labels in double on the unrounded sum, each output cast once to float32
  (:func:`linear64_outputs`, the evaluator's ``core/ir/_links64.py``).
"""

from __future__ import annotations

import numpy as np

from modelport.core.errors import UnsupportedModelError
from modelport.core.ir.model import Affine, AffineKind, Impute, LinearBooster, Lookup, Model, SelectColumns

__all__ = ["preprocess_nodes", "linear64_margin", "linear64_outputs", "MAX_LOOKUP_KEYS"]

#: A lookup compares each row with every key ([N, K] booleans); beyond this K it is refused.
MAX_LOOKUP_KEYS = 100_000


class _Names:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, stem: str) -> str:
        self.n += 1
        return f"pp{self.n}_{stem}"


def preprocess_nodes(model: Model, x: str, nodes: list, const, helper, TensorProto) -> str:
    """Append the nodes of ``model.preprocessing`` on the double input ``x``; returns the name
    of the preprocessed double matrix."""
    name = _Names()
    width = model.n_features
    for step in model.preprocessing:
        if isinstance(step, SelectColumns):
            out = name("select")
            nodes.append(helper.make_node("Gather", [x, const(name("sources"), step.sources.astype(np.int64))], [out],
                                          axis=1))
            x, width = out, int(step.sources.size)
        elif isinstance(step, Affine):
            x = _affine(step, x, width, nodes, const, helper, name)
        elif isinstance(step, Impute):
            x = _impute(step, x, width, nodes, const, helper, name)
        elif isinstance(step, Lookup):
            x = _lookup(step, x, width, nodes, const, helper, TensorProto, name)
            width += step.table.shape[1] - 1
        else:  # pragma: no cover - validate() knows every step
            raise UnsupportedModelError(f"preprocessing step {type(step).__name__} has no ONNX encoding")
    return x


def _mask(cols: np.ndarray, width: int) -> np.ndarray:
    m = np.zeros((1, width), dtype=bool)
    m[0, cols.astype(np.int64)] = True
    return m


def _full(cols: np.ndarray, values: np.ndarray, width: int, default: float) -> np.ndarray:
    v = np.full((1, width), default, dtype=np.float64)
    v[0, cols.astype(np.int64)] = values
    return v


def _affine(step: Affine, x: str, width: int, nodes, const, helper, name) -> str:
    cols = step.columns
    off = const(name("offset"), _full(cols, step.offset, width, 0.0))
    sc = const(name("scale"), _full(cols, step.scale, width, 1.0))
    a, b = name("a"), name("b")
    if step.kind is AffineKind.SUBTRACT_DIVIDE:
        nodes.append(helper.make_node("Sub", [x, off], [a]))
        nodes.append(helper.make_node("Div", [a, sc], [b]))
    else:
        nodes.append(helper.make_node("Mul", [x, sc], [a]))
        nodes.append(helper.make_node("Add", [a, off], [b]))
    if step.clip is not None:
        lo, hi, c1, c2, isnan = name("lo"), name("hi"), name("min"), name("max"), name("isnan")
        const(lo, np.array(step.clip[0], dtype=np.float64))
        const(hi, np.array(step.clip[1], dtype=np.float64))
        nodes.append(helper.make_node("Min", [b, hi], [c1]))
        nodes.append(helper.make_node("Max", [c1, lo], [c2]))
        nodes.append(helper.make_node("IsNaN", [b], [isnan]))
        clipped = name("clipped")
        nodes.append(helper.make_node("Where", [isnan, b, c2], [clipped]))
        b = clipped
    out = name("affine")
    nodes.append(helper.make_node("Where", [const(name("mask"), _mask(cols, width)), b, x], [out]))
    return out


def _impute(step: Impute, x: str, width: int, nodes, const, helper, name) -> str:
    miss = name("missing")
    if np.isnan(step.missing_value):
        nodes.append(helper.make_node("IsNaN", [x], [miss]))
    else:
        nodes.append(helper.make_node("Equal", [x, const(name("mv"), np.array(step.missing_value, np.float64))], [miss]))
    both, out = name("fillable"), name("imputed")
    nodes.append(helper.make_node("And", [miss, const(name("mask"), _mask(step.columns, width))], [both]))
    nodes.append(helper.make_node("Where", [both, const(name("fill"), _full(step.columns, step.fill, width, 0.0)), x],
                                  [out]))
    return out


def _lookup(step: Lookup, x: str, width: int, nodes, const, helper, TensorProto, name) -> str:
    k = int(step.keys.size)
    if k > MAX_LOOKUP_KEYS:
        raise UnsupportedModelError(f"a lookup with {k} categories exceeds {MAX_LOOKUP_KEYS} in ONNX")
    c = int(step.column)
    col, eq, eqi, first, anyhit, hit, idx, isnan, row = (name(s) for s in (
        "col", "eq", "eqi", "first", "any", "hit", "idx", "isnan", "row"))
    nodes.append(helper.make_node("Gather", [x, const(name("c"), np.array([c], np.int64))], [col], axis=1))
    if not k:
        raise UnsupportedModelError("a lookup without known categories has no ONNX encoding")
    nodes.append(helper.make_node("Equal", [col, const(name("keys"), step.keys.reshape(1, k))], [eq]))
    nodes.append(helper.make_node("Cast", [eq], [eqi], to=TensorProto.INT32))
    nodes.append(helper.make_node("ArgMax", [eqi], [first], axis=1, keepdims=1, select_last_index=0))
    nodes.append(helper.make_node("ReduceMax", [eqi, const(name("axis"), np.array([1], np.int64))], [anyhit],
                                  keepdims=1))
    nodes.append(helper.make_node("Cast", [anyhit], [hit], to=TensorProto.BOOL))
    nodes.append(helper.make_node("Where", [hit, first, const(name("unknown"), np.array([[k]], np.int64))], [idx]))
    nodes.append(helper.make_node("IsNaN", [col], [isnan]))
    nodes.append(helper.make_node("Where", [isnan, const(name("missing_row"), np.array([[k + 1]], np.int64)), idx],
                                  [row]))
    n_out = int(step.table.shape[1])
    gathered, block = name("gathered"), name("block")
    nodes.append(helper.make_node("Gather", [const(name("table"), step.table), row], [gathered], axis=0))
    nodes.append(helper.make_node("Reshape", [gathered, const(name("shape"), np.array([-1, n_out], np.int64))],
                                  [block]))
    parts = []
    if c > 0:
        left = name("left")
        nodes.append(helper.make_node("Gather", [x, const(name("left_cols"), np.arange(c, dtype=np.int64))], [left],
                                      axis=1))
        parts.append(left)
    parts.append(block)
    if c + 1 < width:
        right = name("right")
        nodes.append(helper.make_node("Gather", [x, const(name("right_cols"), np.arange(c + 1, width, dtype=np.int64))],
                                      [right], axis=1))
        parts.append(right)
    if len(parts) == 1:
        return block
    out = name("looked_up")
    nodes.append(helper.make_node("Concat", parts, [out], axis=1))
    return out


def linear64_margin(model: Model, lin: LinearBooster, x: str, width: int, nodes, const, helper, TensorProto) -> None:
    """Append nodes computing ``margin`` float32 [N, n_outputs] from the double matrix ``x``."""
    n_out = int(model.n_outputs)
    w = np.asarray(lin.weights, dtype=np.float64)
    if w.shape != (width, n_out):
        raise UnsupportedModelError(f"linear booster shape {w.shape} does not match {width} columns x {n_out} outputs")
    cols = [x] if width == 1 else [f"lin64_col{i}" for i in range(width)]
    if width > 1:
        nodes.append(helper.make_node("Split", [x], cols, axis=1, num_outputs=width))
    acc = const("lin64_zero", np.zeros((1, n_out), dtype=np.float64))
    for i, col in enumerate(cols):
        nodes.append(helper.make_node("Mul", [col, const(f"lin64_w{i}", w[i].reshape(1, n_out))], [f"lin64_p{i}"]))
        nodes.append(helper.make_node("Add", [acc, f"lin64_p{i}"], [f"lin64_s{i}"]))
        acc = f"lin64_s{i}"
    nodes.append(helper.make_node("Add", [acc, const("lin64_bias", np.asarray(lin.bias, np.float64).reshape(1, n_out))],
                                  ["lin64_biased"]))
    nodes.append(helper.make_node("Add", ["lin64_biased", const("lin64_base", np.asarray(
        model.base_score, np.float64).reshape(1, n_out))], ["lin64_total"]))
    nodes.append(helper.make_node("Cast", ["lin64_total"], ["margin"], to=TensorProto.FLOAT))


def linear64_outputs(model: Model, nodes: list, const, helper, TensorProto) -> list:
    """Graph outputs of a float64 linear model: its link and labels in double on the unrounded
    margin ``lin64_total``, each rounded once to float32 (``modelport.core.ir._links64``)."""
    from modelport.core.ir.model import PostTransform, Task

    n_out, pt, d = int(model.n_outputs), model.post_transform, "lin64_total"
    margin = helper.make_tensor_value_info("margin", TensorProto.FLOAT, ["N", n_out])
    if model.task not in (Task.BINARY, Task.MULTICLASS):
        if pt is not PostTransform.IDENTITY:
            raise UnsupportedModelError(f"a {model.task.value} float64 linear model with post-transform {pt.value}")
        nodes.append(helper.make_node("Identity", ["margin"], ["variable"]))
        return [helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", n_out]), margin]
    one = const("l64_one", np.array(1.0, dtype=np.float64))
    if model.task is Task.BINARY:
        nodes.append(helper.make_node("Greater", [d, const("l64_zero", np.array(0.0, np.float64))], ["l64_pos"]))
        nodes.append(helper.make_node("Cast", ["l64_pos"], ["l64_label_col"], to=TensorProto.INT64))
        nodes.append(helper.make_node("Reshape", ["l64_label_col", const("l64_flat", np.array([-1], np.int64))],
                                      ["label"]))
        if pt is PostTransform.SIGMOID:  # scipy's expit: 1 / (1 + exp(-d)); predict_proba [1 - p, p]
            nodes.append(helper.make_node("Neg", [d], ["l64_neg"]))
            nodes.append(helper.make_node("Exp", ["l64_neg"], ["l64_exp"]))
            nodes.append(helper.make_node("Add", [one, "l64_exp"], ["l64_den"]))
            nodes.append(helper.make_node("Div", [one, "l64_den"], ["l64_p"]))
            nodes.append(helper.make_node("Sub", [one, "l64_p"], ["l64_p0"]))
            nodes.append(helper.make_node("Concat", ["l64_p0", "l64_p"], ["l64_probs"], axis=1))
            nodes.append(helper.make_node("Cast", ["l64_probs"], ["probabilities"], to=TensorProto.FLOAT))
        elif pt is PostTransform.HINGE:
            nodes.append(helper.make_node("Cast", ["l64_pos"], ["l64_pred"], to=TensorProto.FLOAT))
            nodes.append(helper.make_node("Sub", [const("l64_one32", np.array(1.0, np.float32)), "l64_pred"],
                                          ["l64_pred0"]))
            nodes.append(helper.make_node("Concat", ["l64_pred0", "l64_pred"], ["probabilities"], axis=1))
        else:
            raise UnsupportedModelError(f"a binary float64 linear model with post-transform {pt.value}")
        n_classes = 2
    else:
        if pt not in (PostTransform.SOFTMAX, PostTransform.SOFTMAX_LABEL):
            raise UnsupportedModelError(f"a multiclass float64 linear model with post-transform {pt.value}")
        nodes.append(helper.make_node("ReduceMax", [d, const("l64_axis", np.array([1], np.int64))], ["l64_max"],
                                      keepdims=1))
        nodes.append(helper.make_node("Sub", [d, "l64_max"], ["l64_shift"]))
        nodes.append(helper.make_node("Exp", ["l64_shift"], ["l64_e"]))
        cols = [f"l64_e{k}" for k in range(n_out)]
        nodes.append(helper.make_node("Split", ["l64_e"], cols, axis=1, num_outputs=n_out))
        acc = cols[0]
        for k in range(1, n_out):  # the row sum over the classes in order (no ReduceSum: its order is its own)
            nodes.append(helper.make_node("Add", [acc, cols[k]], [f"l64_sum{k}"]))
            acc = f"l64_sum{k}"
        nodes.append(helper.make_node("Div", ["l64_e", acc], ["l64_softmax"]))
        nodes.append(helper.make_node("Cast", ["l64_softmax"], ["probabilities"], to=TensorProto.FLOAT))
        nodes.append(helper.make_node("ArgMax", [d], ["label"], axis=1, keepdims=0, select_last_index=0))
        n_classes = n_out
    return [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_classes]), margin]
