"""scikit-learn linear models into the IR: a float64 :class:`LinearBooster`.

scikit-learn computes ``decision_function`` / ``predict`` as ``X @ coef_.T + intercept_`` in
float64 (``sklearn/linear_model/_base.py``: ``LinearModel._decision_function`` and
``LinearClassifierMixin.decision_function``, both ``safe_sparse_dot(X, coef_.T) +
intercept_``).  The IR holds ``coef_`` and ``intercept_`` exactly (float64); its evaluator
sums in column order, scikit-learn's BLAS in its own, so margins agree within
:data:`modelport.core.ir.evaluate.SKLEARN_LINEAR_MARGIN`.

Links: ``LogisticRegression.predict_proba`` is ``expit(d)`` for two classes and
``softmax(d)`` for more (scikit-learn 1.5+ is always multinomial); ``SGDClassifier`` with
``loss="log_loss"`` is ``expit(d)`` for two classes.  Labels are ``d > 0`` (two classes) or
the first ``argmax`` of ``d``.  Constructs the IR cannot express (SGD's one-vs-rest
normalised probabilities, ``modified_huber``'s clipped probability, a sparse ``coef_``,
one-vs-rest LogisticRegression) are refused with one line naming them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.core.errors import UnsupportedModelError
from modelport.core.ir.model import Feature, LinearBooster, Model, PostTransform, Provenance, Task
from modelport.core.ir.validate import validate

__all__ = ["linear_to_ir", "LINEAR_ESTIMATORS"]

#: The estimators :func:`linear_to_ir` converts, by class name.
LINEAR_ESTIMATORS = ("LogisticRegression", "LinearRegression", "Ridge", "Lasso", "ElasticNet", "SGDClassifier",
                     "SGDRegressor", "LinearSVC", "LinearSVR")

_CLASSIFIERS = ("LogisticRegression", "SGDClassifier", "LinearSVC")
_PROBABILISTIC_SGD = ("log_loss", "modified_huber")


def _coef(est: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    coef = getattr(est, "coef_", None)
    if coef is None:
        raise UnsupportedModelError(f"{name} is not fitted (no coef_)")
    if hasattr(coef, "toarray"):
        raise UnsupportedModelError(f"{name} has a sparse coef_ (sparsify()); call densify() before converting")
    coef = np.asarray(coef, dtype=np.float64)
    coef2 = coef.reshape(1, -1) if coef.ndim == 1 else coef
    intercept = np.asarray(getattr(est, "intercept_", 0.0), dtype=np.float64).reshape(-1)
    if intercept.size == 1 and coef2.shape[0] > 1:
        intercept = np.full(coef2.shape[0], intercept[0])
    if intercept.size != coef2.shape[0]:
        raise UnsupportedModelError(f"{name}: intercept_ has {intercept.size} values for {coef2.shape[0]} outputs")
    if not (np.isfinite(coef2).all() and np.isfinite(intercept).all()):
        raise UnsupportedModelError(f"{name} has non-finite coefficients (a diverged fit)")
    return coef2, intercept


def _classifier_link(est: Any, name: str, n_classes: int) -> tuple[Task, PostTransform]:
    multi = n_classes > 2
    if name == "LogisticRegression":
        if getattr(est, "multi_class", "auto") == "ovr" and multi:
            raise UnsupportedModelError("LogisticRegression with multi_class='ovr' (normalised one-vs-rest "
                                        "probabilities) is not expressible in the IR")
        return (Task.MULTICLASS, PostTransform.SOFTMAX) if multi else (Task.BINARY, PostTransform.SIGMOID)
    loss = getattr(est, "loss", "hinge") if name == "SGDClassifier" else "hinge"
    if loss in _PROBABILISTIC_SGD and (multi or loss == "modified_huber"):
        what = "one-vs-rest normalised probabilities" if multi else "clipped (d + 1) / 2 probabilities"
        raise UnsupportedModelError(f"SGDClassifier with loss={loss!r} and {n_classes} classes ({what}) is not "
                                    "expressible in the IR")
    if loss == "log_loss":
        return Task.BINARY, PostTransform.SIGMOID
    return (Task.MULTICLASS, PostTransform.SOFTMAX_LABEL) if multi else (Task.BINARY, PostTransform.HINGE)


def linear_to_ir(est: Any, features: list[str], *, provenance: Provenance | None) -> Model:
    """A fitted scikit-learn linear estimator (:data:`LINEAR_ESTIMATORS`) as an IR Model whose
    inputs are ``features`` (float64, in order)."""
    name = type(est).__name__
    if name not in LINEAR_ESTIMATORS:
        raise UnsupportedModelError(f"{name} is not a supported scikit-learn linear model "
                                    f"(supported: {', '.join(LINEAR_ESTIMATORS)})")
    coef, intercept = _coef(est, name)
    n_in = coef.shape[1]
    if len(features) != n_in:
        raise UnsupportedModelError(f"{name} reads {n_in} features but {len(features)} names were given")
    if name in _CLASSIFIERS:
        classes = getattr(est, "classes_", None)
        n_classes = len(classes) if classes is not None else 0
        if n_classes < 2:
            raise UnsupportedModelError(f"{name} was fitted on fewer than two classes")
        task, post = _classifier_link(est, name, n_classes)
        n_outputs = 1 if task is Task.BINARY else n_classes
        # Class labels, as the tree frontend names them: binary the positive class, else all.
        labels = tuple(str(c) for c in classes)
        out_names = labels[1:] if task is Task.BINARY else labels
        if coef.shape[0] != n_outputs:
            raise UnsupportedModelError(f"{name} has {coef.shape[0]} coefficient rows for {n_classes} classes")
    else:
        n_classes = 0
        out_names = ()
        n_outputs = coef.shape[0]
        task = Task.REGRESSION if n_outputs == 1 else Task.MULTI_TARGET
        post = PostTransform.IDENTITY
    model = Model(
        task=task,
        features=tuple(Feature(str(f)) for f in features),
        n_outputs=n_outputs,
        n_classes=n_classes,
        booster=LinearBooster(weights=np.ascontiguousarray(coef.T), bias=intercept.copy(), value_dtype="float64"),
        base_score=np.zeros(n_outputs, dtype=np.float64),
        post_transform=post,
        provenance=provenance,
        output_names=out_names,
    )
    return validate(model)
