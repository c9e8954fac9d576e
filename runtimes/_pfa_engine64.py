"""The ``linear64`` forms (:mod:`._pfa_forms64`) executed with numpy over all rows at once.

Each expression is the form's double operation in the form's order: ``d`` from 0.0, ``+= x_j
* w_jk`` column by column (numpy's element-wise multiply then add: two roundings, no fused
multiply-add), ``+= bias``, ``+= base``; the links in double on ``d``; every output rounded
once to float32 (``u.f32``).
"""

from __future__ import annotations

import numpy as np

from modelport.runtimes._pfa_steps import run_steps

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
    if program.steps:
        X = run_steps(program.steps, X)
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


def load_steps(c, lay) -> tuple[tuple, int]:
    """The ``(kind, data)`` steps of a linear64 document's cells (``c``: the engine's cell
    reader), checked against the row width each step sees; and the final width."""
    width, steps = lay.n_features, []
    for i, kind in enumerate(lay.steps):
        p = f"p{i}_{kind}_"
        if kind == "select":
            src = c.ints(p + "src")
            if src.size and (src.min() < 0 or src.max() >= width):
                raise c.bad(p + "src", f"must index the {width} columns")
            steps.append((kind, {"src": src.astype(np.int64)}))
            width = int(src.size)
            continue
        if kind == "lookup":
            col = c.init(p + "col")
            if type(col) is not int or not 0 <= col < width:
                raise c.bad(p + "col", f"must be a column index below {width}")
            keys = c.nums(p + "keys", np.float64)
            table = c.matrix(p + "table", np.float64, None)
            bad = c.bools(p + "bad", keys.size + 2)
            if table.shape[0] != keys.size + 2:
                raise c.bad(p + "table", f"must have {keys.size + 2} rows (keys, unknown, missing)")
            steps.append((kind, {"col": col, "keys": keys, "table": table, "bad": bad}))
            width += table.shape[1] - 1
            continue
        cols = c.ints(p + "col")
        if cols.size and (cols.min() < 0 or cols.max() >= width):
            raise c.bad(p + "col", f"must index the {width} columns")
        d: dict = {"col": cols.astype(np.int64)}
        names = ("off", "scale") if kind.startswith("aff") else ("fill",)
        for name in names:
            d[name] = c.nums(p + name, np.float64)
            if d[name].size != cols.size:
                raise c.bad(p + name, f"must have {cols.size} values")
        for name in ("lo", "hi", "mv"):
            if p + name in c.cells:
                v = c.init(p + name)
                if type(v) not in (int, float):
                    raise c.bad(p + name, "must be a number")
                d[name] = float(v)
        steps.append((kind, d))
    return tuple(steps), width
