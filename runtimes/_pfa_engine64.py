"""The ``linear64`` forms (:mod:`._pfa_forms64`) executed with numpy over all rows at once.

Each expression is the form's double operation in the form's order: ``d`` from 0.0, ``+= x_j
* w_jk`` column by column (numpy's element-wise multiply then add: two roundings, no fused
multiply-add), ``+= bias``, ``+= base``; the links in double on ``d``; every output rounded
once to float32 (``u.f32``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["run64"]

_F32 = np.float32


def _softmax(d: np.ndarray) -> np.ndarray:
    e = np.exp(d - d.max(axis=1, keepdims=True))
    s = np.zeros(d.shape[0], dtype=np.float64)
    for k in range(d.shape[1]):  # class order, from 0.0
        s = s + e[:, k]
    return e / s[:, None]


def _label(d: np.ndarray, binary: bool) -> np.ndarray:
    if binary:
        return (d[:, 0] > 0.0).astype(np.int64)
    best = np.zeros(d.shape[0], dtype=np.int64)
    bestv = d[:, 0].copy()
    for k in range(1, d.shape[1]):  # the first maximum, NaN below every number
        v = d[:, k]
        beats = (v > bestv) | (np.isnan(bestv) & ~np.isnan(v))
        best = np.where(beats, k, best)
        bestv = np.where(beats, v, bestv)
    return best


def run64(program, X: np.ndarray) -> dict[str, np.ndarray]:
    """``margin``, ``prediction``, ``probabilities`` (float32) and, for classifiers,
    ``label`` (int64) of the float64 rows ``X`` (NaN propagates)."""
    lay = program.lay
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    w = program.weights
    with np.errstate(all="ignore"):
        d = np.zeros((n, program.n_outputs), dtype=np.float64)
        for j in range(X.shape[1]):
            d = d + X[:, j:j + 1] * w[j][None, :]
        d = d + program.bias[None, :]
        d = d + program.base[None, :]
        label = _label(d, lay.probs == "binary") if lay.probs != "none" else None
        if lay.link == "sigmoid":
            p = 1.0 / (1.0 + np.exp(-d))
        elif lay.link == "hinge":
            p = np.where(d > 0.0, 1.0, 0.0)
        elif lay.link == "softmax":
            p = _softmax(d)
        elif lay.link == "softmax_label":
            p = label.astype(np.float64)[:, None]
        else:
            p = d
        if lay.probs == "binary":
            probs = np.stack([(1.0 - p[:, 0]).astype(_F32), p[:, 0].astype(_F32)], axis=1)
        elif lay.probs == "multiclass":
            probs = (p if lay.link == "softmax" else _softmax(d)).astype(_F32)
        else:
            probs = np.zeros((n, 0), dtype=_F32)
    out = {"margin": d.astype(_F32), "prediction": p.astype(_F32), "probabilities": probs}
    if label is not None:
        out["label"] = label
    return out
