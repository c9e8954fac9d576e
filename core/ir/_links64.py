"""float64 linear models (scikit-learn): the margin and its link in float64, rounded once.

scikit-learn computes ``d = X @ coef_.T + intercept_`` in float64 and everything after it in
float64 too (``sklearn/linear_model/_base.py``):

* binary ``predict_proba`` = ``[1 - expit(d), expit(d)]`` (``_predict_proba_lr``; scipy's
  ``expit`` is ``1 / (1 + exp(-d))``), multiclass LogisticRegression ``softmax(d)``
  (``sklearn/utils/extmath.py``: ``exp(d - max)`` divided by its row sum);
* labels: ``d > 0`` for one column, else the first ``argmax`` of ``d``
  (``LinearClassifierMixin.predict``), never the probabilities.

The IR does the same on its own float64 margin (products summed in column order, then the
bias and base score), rounding each output once to float32; the softmax sum runs over the
classes in order.  What remains against scikit-learn is the float64 margin's summation order
(:data:`modelport.core.ir.evaluate.SKLEARN_LINEAR_MARGIN`) carried through the link.
"""

from __future__ import annotations

import numpy as np

from modelport.core.ir.model import LinearBooster, Model, PostTransform, Task
from modelport.core.tolerances import Tolerance

__all__ = ["linear_raw", "outputs64", "softmax64", "SKLEARN_LINEAR_MARGIN", "SKLEARN_FLOAT64_LINK"]

#: The evaluator's float64 linear margin against scikit-learn's ``decision_function`` /
#: ``predict`` (both rounded to float32).  Both sum the same float64 products, in different
#: orders (ours: column order; scikit-learn: its BLAS's blocked, vectorised order), so they
#: are not bit-identical in general.  Each float64 sum of n products is within
#: ``gamma_n * S`` of the exact sum (``gamma_n = n * 2**-53 / (1 - n * 2**-53)``,
#: ``S = sum |x_j * w_j| + |intercept|``; Higham, Accuracy and Stability of Numerical
#: Algorithms, eq. 3.5), so the two float64 results differ by at most ``2 * gamma_n * S``;
#: rounding each to float32 then adds at most 1 float32 ULP.  Hence: 1 ULP, or an absolute
#: ``2 * gamma_n * S`` for margins near zero where cancellation makes ``S`` dwarf the
#: result: 1e-10 covers n <= 1,000 terms with S <= 4.5e4 (2 * 1000 * 1.11e-16 * 4.5e4).
SKLEARN_LINEAR_MARGIN = Tolerance(
    "sklearn-linear-margin", 1e-10, 0.0, 1,
    "float64 dot products summed in another order (BLAS) than the evaluator's column order",
    "two float64 sums of n products differ by <= 2*gamma_n*sum|x_j w_j| (Higham eq. 3.5), then +1 float32 ULP "
    "from rounding each; measured on tests/test_sklearn_linear.py: 0 ULP on every probe row")

#: The evaluator's probabilities against scikit-learn's ``predict_proba`` of a float64 linear
#: classifier.  Both apply the same float64 link (``1 / (1 + exp(-d))``; ``exp(d - max) / sum``)
#: to float64 margins that differ only by the summation order (:data:`SKLEARN_LINEAR_MARGIN`:
#: ``2 * gamma_n * S``), and round once to float32.  The link's slope is at most 1 (sigmoid:
#: 1/4; softmax: each probability moves by at most the margins' largest change), and the two
#: float64 ``exp`` / sum orders differ by a few float64 ULP: far below half a float32 ULP, so
#: the float32 results are equal or neighbours, 1 ULP; near zero the margin's absolute
#: ``2 * gamma_n * S`` (1e-10) carries through.
SKLEARN_FLOAT64_LINK = Tolerance(
    "sklearn-float64-link", 1e-10, 0.0, 1,
    "the same float64 link on float64 margins summed in another order (BLAS), each rounded once to float32",
    "margin difference <= 2*gamma_n*sum|x_j w_j| (Higham eq. 3.5) through a link of slope <= 1, plus a few "
    "float64 ULP of exp and of the softmax sum: at most 1 float32 ULP; measured on tests/test_sklearn_linear.py")


def linear_raw(model: Model, lin: LinearBooster, X: np.ndarray) -> np.ndarray:
    """float64 ``[n, n_outputs]``: ``sum_j x_j * w_j`` in column order from zero, ``+ bias``,
    ``+ base_score``; NaN propagates (scikit-learn refuses it)."""
    X = np.asarray(X, dtype=np.float64)
    acc = np.zeros((X.shape[0], model.n_outputs), dtype=np.float64)
    w = lin.weights.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        for j in range(X.shape[1]):
            acc += X[:, j:j + 1] * w[j][None, :]
        acc += lin.bias.astype(np.float64)[None, :]
        acc += np.asarray(model.base_score, dtype=np.float64)[None, :]
    return acc


def softmax64(d: np.ndarray) -> np.ndarray:
    """``exp(d - max) / sum`` per row in float64, the sum over the classes in order."""
    e = np.exp(d - d.max(axis=1, keepdims=True))
    total = np.zeros(d.shape[0], dtype=np.float64)
    for k in range(d.shape[1]):
        total += e[:, k]
    return e / total[:, None]


def _first_argmax(d: np.ndarray) -> np.ndarray:
    return np.argmax(np.nan_to_num(d, nan=-np.inf), axis=1)


def outputs64(model: Model, d: np.ndarray) -> dict[str, np.ndarray]:
    """margin, prediction (and probabilities, label for classifiers), float32 (labels int64),
    from the float64 margin ``d`` (see the module docstring)."""
    pt = model.post_transform
    out: dict[str, np.ndarray] = {"margin": d.astype(np.float32)}
    with np.errstate(over="ignore", invalid="ignore"):
        if model.task is Task.BINARY:
            col = d[:, 0]
            label = (col > 0).astype(np.int64)
            if pt is PostTransform.SIGMOID:
                p = 1.0 / (1.0 + np.exp(-col))
                probs = np.stack([1.0 - p, p], axis=1).astype(np.float32)
                pred = p.astype(np.float32)
            elif pt is PostTransform.HINGE:
                pred = label.astype(np.float32)
                probs = np.stack([np.float32(1) - pred, pred], axis=1)
            else:
                raise ValueError(f"a binary float64 linear model with post-transform {pt.value}")
            out.update(prediction=pred[:, None], probabilities=probs, label=label)
        elif model.task is Task.MULTICLASS:
            if pt not in (PostTransform.SOFTMAX, PostTransform.SOFTMAX_LABEL):
                raise ValueError(f"a multiclass float64 linear model with post-transform {pt.value}")
            probs = softmax64(d).astype(np.float32)
            label = _first_argmax(d)
            pred = probs if pt is PostTransform.SOFTMAX else label.astype(np.float32)[:, None]
            out.update(prediction=pred, probabilities=probs, label=label)
        else:
            if pt is not PostTransform.IDENTITY:
                raise ValueError(f"a {model.task.value} float64 linear model with post-transform {pt.value}")
            out["prediction"] = out["margin"].copy()
    return out
