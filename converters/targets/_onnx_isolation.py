"""ONNX nodes for scikit-learn's IsolationForest (IR post-transform ``ISOLATION``).

The reference evaluator computes ``decision_function`` in float64 from the UNROUNDED float64
sum of path lengths (``modelport.core.ir._isolation``); ``TreeEnsembleRegressor`` (ai.onnx.ml
v3) returns float only, so it cannot hand over that sum.  Instead it finds the leaves:

    input ─ TreeEnsembleRegressor, one target per tree, leaf value = its global node id
            (float, exact below 2**24: 0 + id is exact)        → leaf_ids float [N, T]
          ─ Cast int64 ─ Gather(float64 table of every node's value) → [N, T] double
          ─ Split into T columns ─ Add chain, tree order, from the first column
            (the evaluator's ``0 + v_0 + v_1 ...``: ``0 + v_0`` is exact)  → d double [N, 1]
    margin   = Cast(d, float)
    variable = Cast(-(2 ** -(d / denominator)) - offset, float), denominator = float64(T) * c
               computed here as the evaluator does; ``2 ** -1`` when it is 0

Every double op (Gather, Add, Div, Neg, Pow, Sub) is one IEEE operation, in the evaluator's
order; ``Pow`` is the C library's ``pow``, the function numpy's ``power`` calls too, so the
graph is bit-identical to the evaluator (measured by ``tests/test_sklearn_frontend.py``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from modelport.core.errors import UnsupportedModelError
from modelport.core.ir.model import Model, PostTransform, TreeEnsemble

__all__ = ["isolation_nodes"]

_MAX_ID = 1 << 24


def _leaf_id_model(model: Model) -> tuple[Model, np.ndarray]:
    """The model whose tree ``t`` writes its leaf's global node id to output ``t``, and the
    float64 table of every node's value by global id."""
    ens: TreeEnsemble = model.booster
    trees, table, start = [], [], 0
    for t in ens.trees:
        n = t.left.size
        ids = (np.arange(n, dtype=np.float64) + start).reshape(n, 1)
        trees.append(dataclasses.replace(t, value=ids))
        table.append(np.asarray(t.value, dtype=np.float64).reshape(n))
        start += n
    if start >= _MAX_ID:
        raise UnsupportedModelError(f"an isolation forest with {start} nodes (the ONNX leaf ids are exact below 2**24)")
    T = len(trees)
    ids_ens = dataclasses.replace(ens, trees=tuple(trees), tree_output=np.arange(T, dtype=np.int32),
                                  tree_weight=np.ones(T, dtype=np.float64))
    ids_model = dataclasses.replace(model, booster=ids_ens, n_outputs=T, base_score=np.zeros(T, dtype=np.float64),
                                    post_transform=PostTransform.IDENTITY, post_constants=(), output_names=())
    return ids_model, np.concatenate(table)


def isolation_nodes(model: Model, x: str, nodes, const, helper, TensorProto, tree_margin) -> list:
    """Append the nodes above to ``nodes`` (``tree_margin`` writes a model's tree sums to
    ``"margin"``); returns the graph outputs ``variable`` and ``margin``."""
    ens = model.booster
    if not isinstance(ens, TreeEnsemble) or not ens.trees:
        raise UnsupportedModelError("the isolation post-transform needs a tree ensemble with trees")
    ids_model, table = _leaf_id_model(model)
    T = len(ens.trees)
    tree_margin(ids_model, ids_model.booster, x, nodes, const, helper, TensorProto)
    tree_node = nodes[-1]
    if tree_node.op_type != "TreeEnsembleRegressor" or list(tree_node.output) != ["margin"]:
        raise UnsupportedModelError("the isolation forest's leaf ids need one tree node")
    tree_node.output[0] = "leaf_ids"
    nodes.append(helper.make_node("Cast", ["leaf_ids"], ["leaf_index"], to=TensorProto.INT64))
    const("leaf_values", table)
    nodes.append(helper.make_node("Gather", ["leaf_values", "leaf_index"], ["tree_values"], axis=0))
    cols = [f"tree_value_{t}" for t in range(T)]
    if T == 1:
        nodes.append(helper.make_node("Identity", ["tree_values"], cols))
    else:
        nodes.append(helper.make_node("Split", ["tree_values"], cols, axis=1, num_outputs=T))
    acc = cols[0]
    for t in range(1, T):
        nodes.append(helper.make_node("Add", [acc, cols[t]], [f"depth_sum_{t}"]))
        acc = f"depth_sum_{t}"
    nodes.append(helper.make_node("Cast", [acc], ["margin"], to=TensorProto.FLOAT))
    c, offset = (float(v) for v in model.post_constants)
    denominator = np.float64(T) * np.float64(c)
    if denominator != 0:
        const("iso_denominator", np.array(denominator, dtype=np.float64))
        nodes.append(helper.make_node("Div", [acc, "iso_denominator"], ["iso_ratio"]))
    else:  # scikit-learn's np.divide(..., out=ones, where=denominator != 0): d is finite, so d * 0 + 1 is 1
        const("iso_zero", np.array(0.0, dtype=np.float64))
        const("iso_one", np.array(1.0, dtype=np.float64))
        nodes.append(helper.make_node("Mul", [acc, "iso_zero"], ["iso_ratio_zero"]))
        nodes.append(helper.make_node("Add", ["iso_ratio_zero", "iso_one"], ["iso_ratio"]))
    const("iso_two", np.array(2.0, dtype=np.float64))
    const("iso_offset", np.array(offset, dtype=np.float64))
    nodes.append(helper.make_node("Neg", ["iso_ratio"], ["iso_neg_ratio"]))
    nodes.append(helper.make_node("Pow", ["iso_two", "iso_neg_ratio"], ["iso_scores"]))
    nodes.append(helper.make_node("Neg", ["iso_scores"], ["iso_score_samples"]))
    nodes.append(helper.make_node("Sub", ["iso_score_samples", "iso_offset"], ["iso_decision"]))
    nodes.append(helper.make_node("Cast", ["iso_decision"], ["variable"], to=TensorProto.FLOAT))
    return [helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", 1]),
            helper.make_tensor_value_info("margin", TensorProto.FLOAT, ["N", 1])]
