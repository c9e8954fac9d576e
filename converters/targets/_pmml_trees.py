"""IR trees and linear boosters as PMML 4.4 models (the pieces the PMML target assembles).

A tree becomes a ``TreeModel`` with ``missingValueStrategy="defaultChild"``: every internal
node lists its left child first, whose predicate is the split (``lessThan`` for XGBoost's
``x < t``, ``lessOrEqual`` for ``<=``, or a ``SimpleSetPredicate`` on the floored category),
and its right child second with ``<True/>``.  A missing value makes the left predicate
UNKNOWN, and the node's ``defaultChild`` (the IR's ``default_left``) is taken: XGBoost's
per-node missing direction, written per node.  Leaves carry ``score``; DART's ``leaf *
weight`` is written pre-multiplied, the same single float32 product XGBoost computes.
"""

from __future__ import annotations

import numpy as np

from modelport.core.errors import UnsupportedModelError
from modelport.core.ir.model import Comparison, LinearBooster, Tree, TreeEnsemble
from modelport.core.numerics import float_literal
from modelport.converters.targets._pmml_xml import Emitter, attr_escape

__all__ = ["emit_tree_model", "emit_constant_model", "emit_linear_model", "tree_scores", "literal"]


def literal(x: float, dtype: str, what: str) -> str:
    """Lossless decimal text of a finite value (PMML has no portable spelling of inf/NaN)."""
    text = float_literal(float(x), dtype)
    if text in ("nan", "inf", "-inf"):
        raise UnsupportedModelError(f"{what} is {text}, which PMML cannot carry exactly")
    return text


def tree_scores(ens: TreeEnsemble, t: int, tree: Tree, col: int) -> np.ndarray:
    """Leaf column ``col`` of tree ``t`` as written: ``leaf * weight`` in ``value_dtype`` for
    DART (the product XGBoost's ``Dart::PredictBatchImpl`` adds), else the leaf."""
    vdt = np.dtype(ens.value_dtype)
    v = tree.value.reshape(tree.left.size, -1)[:, col].astype(vdt)
    if ens.apply_tree_weight:
        v = (v * vdt.type(ens.tree_weight[t])).astype(vdt)
    return v


def _mining_schema(em: Emitter, fields: list[str], target: str | None = None, replace_missing: str | None = None) -> None:
    em.open("MiningSchema")
    if target is not None:
        em.empty("MiningField", {"name": target, "usageType": "target"})
    for f in fields:
        attrs = {"name": f}
        if replace_missing is not None:
            attrs["missingValueReplacement"] = replace_missing
        em.empty("MiningField", attrs)
    em.close("MiningSchema")


def emit_constant_model(em: Emitter, fields: list[str], value: str, *, math: str, model_name: str) -> None:
    """A TreeModel whose root is a leaf scoring ``value`` (the base score as a summand)."""
    em.open("TreeModel", {"modelName": model_name, "functionName": "regression", "x-mathContext": math})
    _mining_schema(em, fields[:1])
    em.open("Node", {"id": "0", "score": value})
    em.empty("True")
    em.close("Node")
    em.close("TreeModel")


def emit_tree_model(em: Emitter, ens: TreeEnsemble, t: int, col: int, *, names: list[str], floor_names: dict[int, str],
                    math: str, model_name: str) -> None:
    """Tree ``t`` (leaf column ``col``) as a TreeModel; walks the nodes with an explicit stack."""
    tree = ens.trees[t]
    scores = tree_scores(ens, t, tree, col)
    tdt = ens.threshold_dtype
    vdt = "float32" if ens.value_dtype == "float32" else "float64"
    op = "lessThan" if ens.comparison is Comparison.LT else "lessOrEqual"
    set_op = "isIn" if ens.categories_in_set_go_left else "isNotIn"
    used = sorted({int(f) for f in np.unique(tree.feature[tree.left != -1])}) if (tree.left != -1).any() else [0]
    em.open("TreeModel", {"modelName": model_name, "functionName": "regression", "missingValueStrategy": "defaultChild",
                          "noTrueChildStrategy": "returnLastPrediction", "splitCharacteristic": "binarySplit",
                          "x-mathContext": math})
    _mining_schema(em, [names[f] for f in used])
    left, right, feature = tree.left, tree.right, tree.feature
    parts = em.parts
    stack: list[tuple[int, str]] = [(0, "<True/>")]
    while stack:
        i, pred = stack.pop()
        if i < 0:
            parts.append("</Node>")
            continue
        if left[i] == -1:
            parts.append(f'<Node id="{i}" score="{literal(scores[i], vdt, f"tree {t} leaf {i}")}">{pred}</Node>')
            continue
        lc, rc = int(left[i]), int(right[i])
        parts.append(f'<Node id="{i}" defaultChild="{lc if tree.default_left[i] else rc}">{pred}')
        f = int(feature[i])
        if tree.is_categorical[i]:
            codes = tree.cat_values[tree.cat_offsets[i]:tree.cat_offsets[i + 1]]
            arr = " ".join(str(int(c)) for c in codes)
            left_pred = (f'<SimpleSetPredicate field="{attr_escape(floor_names[f])}" booleanOperator="{set_op}">'
                         f'<Array type="int" n="{codes.size}">{arr}</Array></SimpleSetPredicate>')
        else:
            thr = literal(tree.threshold[i], tdt, f"tree {t} node {i} threshold")
            left_pred = f'<SimplePredicate field="{attr_escape(names[f])}" operator="{op}" value="{thr}"/>'
        stack.append((-1, ""))
        stack.append((rc, "<True/>"))
        stack.append((lc, left_pred))
    em.close("TreeModel")


def emit_linear_model(em: Emitter, lin: LinearBooster, col: int, base: np.float32, *, names: list[str],
                      output_field: str) -> None:
    """gblinear output ``col``: ``(bias + base) + sum_j x_j * w_j`` in float32, column order.

    Written as a float "sum" Segmentation of one constant (``bias + base``, rounded once as
    XGBoost's ``psum = bias[g] + base_margin``) and one single-predictor RegressionModel per
    feature (``0 + 1 * (w * x)``): the segments fix the summation order, which a single
    RegressionTable leaves to the evaluator (jpmml-evaluator's differs: measured 1 ULP on 123
    of 503 probe rows).  XGBoost skips a missing feature (``gblinear.cc`` ``Pred`` iterates the
    present entries); ``missingValueReplacement="0"`` adds ``0 * w`` instead, which leaves the
    float32 sum unchanged for the finite weights the target accepts."""
    intercept = np.float32(np.float32(lin.bias[col]) + np.float32(base))
    em.open("MiningModel", {"modelName": f"gblinear({col})", "functionName": "regression", "x-mathContext": "float"})
    _mining_schema(em, names)
    em.open("Output")
    em.empty("OutputField", {"name": output_field, "optype": "continuous", "dataType": "float",
                             "feature": "predictedValue", "isFinalResult": "false"})
    em.close("Output")
    em.open("Segmentation", {"multipleModelMethod": "sum"})
    em.open("Segment", {"id": "bias"})
    em.empty("True")
    emit_constant_model(em, names, literal(intercept, "float32", f"gblinear intercept {col}"), math="float", model_name="bias")
    em.close("Segment")
    for j, name in enumerate(names):
        em.open("Segment", {"id": f"w{j}"})
        em.empty("True")
        em.open("RegressionModel", {"modelName": f"w{j}", "functionName": "regression", "x-mathContext": "float"})
        _mining_schema(em, [name], replace_missing="0")
        em.open("RegressionTable", {"intercept": "0"})
        em.empty("NumericPredictor", {"name": name, "coefficient": literal(lin.weights[j, col], "float32", f"gblinear weight {j}")})
        em.close("RegressionTable")
        em.close("RegressionModel")
        em.close("Segment")
    em.close("Segmentation")
    em.close("MiningModel")
