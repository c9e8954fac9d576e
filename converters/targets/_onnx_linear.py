"""Encode an IR :class:`LinearBooster` (XGBoost gblinear) as plain ONNX ops, bit exact.

XGBoost's gblinear (``src/gbm/gblinear.cc``, ``Pred``) computes, per row and output group::

    psum = bias[g] + base_score[g]           (float32)
    for each PRESENT entry (i, x_i):  psum += x_i * w[i, g]   (float32, feature order)

Missing entries (NaN, or the DMatrix ``missing`` value) are absent from the sparse row, so
they contribute nothing.  ``MatMul`` would not reproduce this: onnxruntime's MLAS GEMM sums in
blocked, vectorised order.  So the margin is an explicit chain, one ``Mul`` + ``Add`` per
feature, on NaN-zeroed columns (``0 * w`` adds exactly ``+0``, which leaves ``psum`` unchanged;
``inf * 0`` gives NaN as in XGBoost).  Elementwise float32 ``Mul``/``Add`` are correctly
rounded IEEE operations in onnxruntime, so the result is XGBoost's bit for bit.
"""

from __future__ import annotations

import numpy as np

from modelport.core.ir.model import LinearBooster, Model
from modelport.core.errors import UnsupportedModelError

__all__ = ["linear_margin", "MAX_LINEAR_FEATURES"]

#: The chain has 2 nodes per feature; beyond this the graph is unreasonably large.
MAX_LINEAR_FEATURES = 20_000


def linear_margin(model: Model, lin: LinearBooster, x: str, nodes, const, helper, n_features: int) -> None:
    """Append nodes computing ``margin`` [N, n_outputs] from the (missing-mapped) input ``x``."""
    w = np.asarray(lin.weights, dtype=np.float32)
    bias = np.asarray(lin.bias, dtype=np.float32).reshape(-1)
    n_out = int(model.n_outputs)
    if w.shape != (n_features, n_out) or bias.shape != (n_out,):
        raise UnsupportedModelError(
            f"linear booster shapes {w.shape}/{bias.shape} do not match {n_features} features x {n_out} outputs"
        )
    if n_features > MAX_LINEAR_FEATURES:
        raise UnsupportedModelError(f"linear booster with {n_features} features exceeds {MAX_LINEAR_FEATURES}")
    base = np.asarray(model.base_score, dtype=np.float32).reshape(-1)
    init = (bias + base).astype(np.float32)  # float32 add, as XGBoost: bias[g] + base
    const("lin_init", init.reshape(1, n_out))
    const("lin_zero", np.array(0.0, dtype=np.float32))
    nodes.append(helper.make_node("IsNaN", [x], ["lin_isnan"]))
    nodes.append(helper.make_node("Where", ["lin_isnan", "lin_zero", x], ["lin_x"]))
    if n_features == 1:
        cols = ["lin_x"]
    else:
        cols = [f"lin_col{i}" for i in range(n_features)]
        nodes.append(helper.make_node("Split", ["lin_x"], cols, axis=1, num_outputs=n_features))
    acc = "lin_init"
    for i, col in enumerate(cols):
        const(f"lin_w{i}", w[i].reshape(1, n_out))
        nodes.append(helper.make_node("Mul", [col, f"lin_w{i}"], [f"lin_p{i}"]))
        out = "margin_raw" if i == n_features - 1 else f"lin_s{i}"
        nodes.append(helper.make_node("Add", [acc, f"lin_p{i}"], [out]))
        acc = out
    # psum starts as [1, n_out]; broadcast against [N, n_out] products happens at i=0.
    nodes.append(helper.make_node("Identity", [acc], ["margin"]))
