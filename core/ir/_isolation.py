"""scikit-learn's IsolationForest score: the ``ISOLATION`` post-transform, in float64.

``sklearn/ensemble/_iforest.py`` (scikit-learn 1.9), ``_compute_score_samples``:

* each tree adds ``decision_path_lengths[leaf] + average_path_length[leaf] - 1.0`` (float64,
  in that order) to ``depths``, a float64 array starting at zero, tree by tree in
  ``estimators_`` order.  The IR holds each leaf's ``(a + b) - 1.0`` as its float64 value and
  sums the trees in the same order (``value_dtype="float64"``, no averaging): the sum ``d`` is
  bit-identical;
* ``denominator = len(estimators_) * _average_path_length([max_samples])`` (one float64
  product), ``scores = 2 ** -(d / denominator)`` (``2 ** -1`` when the denominator is 0),
  ``score_samples = -scores``, ``decision_function = score_samples - offset_``, and
  ``predict`` is ``+1`` where ``decision_function >= 0``, else ``-1``.

The same float64 operations run here, on the same ``d``, so the float64 decision function is
bit-identical to scikit-learn's (numpy's ``power`` on the same machine); the IR's outputs are
float32, each rounded once from its float64 value: the margin is ``float32(d)`` and the
prediction ``float32(decision_function)`` -- never recomputed from the rounded margin.
Rounding to float32 keeps the sign and zero of a float64, so ``prediction >= 0`` is exactly
scikit-learn's ``predict == 1``.
"""

from __future__ import annotations

import numpy as np

from modelport.core.ir.model import Model

__all__ = ["isolation_decision", "isolation_outputs"]


def isolation_decision(model: Model, depths: np.ndarray) -> np.ndarray:
    """float64 ``decision_function`` from the float64 path-length sums ``depths`` (any shape)."""
    c, offset = (float(v) for v in model.post_constants)
    denominator = np.float64(len(model.booster.trees)) * np.float64(c)
    d = np.asarray(depths, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        ratio = np.divide(d, denominator, out=np.ones_like(d), where=denominator != 0)
        scores = 2 ** (-ratio)
        return -scores - np.float64(offset)


def isolation_outputs(model: Model, depths: np.ndarray) -> dict[str, np.ndarray]:
    """``margin`` (float32 of the path-length sum) and ``prediction`` (float32 of the float64
    decision function), both ``[n, 1]``, from the float64 sums ``depths`` ``[n, 1]``."""
    return {"margin": depths.astype(np.float32), "prediction": isolation_decision(model, depths).astype(np.float32)}
