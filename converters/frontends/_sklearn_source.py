"""The ``sklearn-pickle`` source: a pickle (or joblib file) holding a scikit-learn estimator
or Pipeline.

Unpickling runs code from the file, so it is refused unless ``LoadOptions.trust_pickle``
(``--trust-pickle``): only for files you made yourself.  scikit-learn trees cast inputs to
float32 and test ``x <= threshold`` with float64 thresholds (``sklearn/tree/_tree.pyx``),
so the probe rows sit on the float32 rounding of each threshold and one float32 ULP either
side (trap 2 of docs/parity-traps.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelport.converters.frontends._sources import (
    SOURCES,
    FrameworkModel,
    Source,
    default_names,
    file_sha256,
    per_feature,
)
from modelport.core.errors import ModelFormatError, UnsupportedModelError, require
from modelport.core.files import is_pickle, open_regular

__all__ = ["sniff_pickle", "open_sklearn_pickle", "open_sklearn_skops", "framework_model", "describe_estimator"]

#: joblib's compressed files start with a zlib header (``joblib.dump(..., compress=3)``).
_ZLIB_HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")


def sniff_pickle(head: bytes, name: str = "") -> bool:
    """True for a pickle of protocol 2-5 (starts with PROTO 0x80 and the protocol number;
    an uncompressed ``joblib.dump`` is one) or a zlib-compressed joblib file."""
    return is_pickle(head) or head[:2] in _ZLIB_HEADERS


def _unpickle(path: Path) -> Any:
    # Regular files only, opened without blocking (a FIFO would hang open()); one descriptor
    # for the sniff and the load.
    with open_regular(path) as fh:
        # joblib reads plain pickles, compressed ones, and what an uncompressed joblib.dump
        # writes: a pickle followed by raw numpy buffers, which pickle.load alone refuses
        # ("invalid load key").  joblib is a scikit-learn dependency.
        import joblib

        return joblib.load(fh)  # noqa: S301 - guarded by LoadOptions.trust_pickle


def describe_estimator(est: Any) -> str:
    """``"Pipeline(StandardScaler, LogisticRegression)"`` or the estimator's class name."""
    steps = getattr(est, "steps", None)
    if steps:
        return f"{type(est).__name__}({', '.join(describe_estimator(s) for _, s in steps)})"
    return type(est).__name__


def _trees(est: Any) -> tuple[list[Any], float]:
    """The fitted ``tree_`` objects of a tree estimator (not of a Pipeline, whose trees see
    transformed columns) and each tree's weight on the output (GradientBoosting's
    learning rate, 1/n for forests' averaged votes)."""
    if hasattr(est, "tree_"):
        return [est.tree_], 1.0
    members = getattr(est, "estimators_", None)
    if members is None:
        return [], 0.0
    flat = list(np.asarray(members, dtype=object).ravel())
    trees = [m.tree_ for m in flat if hasattr(m, "tree_")]
    if len(trees) != len(flat):
        return [], 0.0
    weight = float(getattr(est, "learning_rate", 0.0)) or 1.0 / max(len(trees), 1)
    return trees, weight


def _accepts_nan(est: Any, n_features: int, call) -> bool:
    """True when the estimator's predict takes a row holding NaN (scikit-learn >= 1.3 trees
    route it; most other estimators raise ValueError)."""
    row = np.zeros((1, n_features))
    row[0, 0] = np.nan
    try:
        call(row)
    except ValueError:
        return False
    return True


def open_sklearn_pickle(path: Path, options: Any = None) -> FrameworkModel:
    """Unpickle (only with ``trust_pickle``) a scikit-learn estimator into a :class:`FrameworkModel`."""
    if not getattr(options, "trust_pickle", False):
        raise UnsupportedModelError(
            f"{path.name} is a Python pickle; unpickling runs code from the file: pass --trust-pickle "
            "(trust_pickle=True) only for files you made yourself")
    require("sklearn", extra="sklearn", purpose="reading a pickled scikit-learn model")
    try:
        est = _unpickle(path)
    except Exception as exc:  # any failure inside unpickling is a format error
        raise ModelFormatError(f"{path.name}: cannot unpickle it ({type(exc).__name__}: {exc})") from None
    return framework_model(est, path, source="sklearn-pickle")


def open_sklearn_skops(path: Path, options: Any = None) -> FrameworkModel:
    """Load a skops file (skops' trusted-types check, :mod:`..sklearn`) into a :class:`FrameworkModel`."""
    from modelport.converters.frontends import LoadOptions
    from modelport.converters.frontends.sklearn import _load_skops

    est = _load_skops(path, options if options is not None else LoadOptions())
    return framework_model(est, path, source="sklearn-skops")


def framework_model(est: Any, path: Path, *, source: str) -> FrameworkModel:
    """A loaded scikit-learn estimator as a :class:`FrameworkModel` (its own predict)."""
    sklearn = require("sklearn", extra="sklearn", purpose="reading a scikit-learn model")
    from sklearn.base import is_classifier, is_regressor
    if not type(est).__module__.startswith("sklearn.") or not hasattr(est, "predict"):
        hint = " (save XGBoost models with save_model('model.json'))" if "xgboost" in type(est).__module__ else ""
        raise UnsupportedModelError(f"{path.name}: the pickle holds a {type(est).__module__}.{type(est).__name__}, "
                                    f"not a scikit-learn estimator{hint}")
    n_features = getattr(est, "n_features_in_", None)
    if n_features is None:
        raise UnsupportedModelError(f"{path.name}: the {type(est).__name__} is not fitted (no n_features_in_)")
    n_features = int(n_features)
    if is_classifier(est):
        classes = np.asarray(est.classes_)
        task = "binary" if classes.size == 2 else "multiclass"
    elif is_regressor(est):
        classes, task = np.empty(0), "regression"
    else:
        raise UnsupportedModelError(f"{path.name}: a {type(est).__name__} is neither a classifier nor a regressor")

    def predict(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if task == "regression":
            out = np.asarray(est.predict(X), dtype=np.float64)
            if out.ndim != 1:
                raise UnsupportedModelError(f"{path.name}: multi-output regression is not supported")
            return out.astype(np.float32)
        proba = np.asarray(est.predict_proba(X), dtype=np.float64)
        return (proba[:, 1] if task == "binary" else proba).astype(np.float32)

    integer_classes = classes.size and np.issubdtype(classes.dtype, np.integer)

    def predict_label(X: np.ndarray) -> np.ndarray:
        """The estimator's own labels: int64 for integer classes, else the class names as str."""
        labels = np.asarray(est.predict(np.asarray(X, dtype=np.float64)))
        return labels.astype(np.int64) if integer_classes else labels.astype(str)

    trees, weight = _trees(est)
    numeric = [(int(f), float(t)) for tr in trees for f, t in zip(tr.feature, tr.threshold, strict=True) if f >= 0]
    scale = None
    if trees and task == "regression":
        init = getattr(est, "init_", None)
        base = float(np.max(np.abs(init.predict(np.zeros((1, n_features)))))) if hasattr(init, "predict") else 0.0
        scale = base + weight * sum(float(np.max(np.abs(tr.value))) for tr in trees)
    return FrameworkModel(
        source=source,
        framework="scikit-learn",
        framework_version=sklearn.__version__,
        framework_object=est,
        task=task,
        n_features=n_features,
        n_classes=int(classes.size),
        feature_names=default_names(n_features, getattr(est, "feature_names_in_", None)),
        predict=predict,
        predict_label=predict_label if classes.size else None,
        thresholds=per_feature(n_features, numeric),
        categories=per_feature(n_features, []),
        accepts_nan=_accepts_nan(est, n_features, predict),
        float64_compare=False,  # scikit-learn casts inputs to float32 before comparing
        n_trees=len(trees) or None,
        leaf_scale=scale,
        objective=describe_estimator(est),
        sha256=file_sha256(path),
        details={"classes": classes.tolist()},
    )


SOURCES.register("sklearn-pickle", Source(
    name="sklearn-pickle", framework="scikit-learn",
    description="pickled / joblib scikit-learn estimator or Pipeline (needs --trust-pickle), for --backend onnxmltools",
    extensions=(".pkl", ".pickle", ".joblib"), sniff=sniff_pickle, open=open_sklearn_pickle,
))


def _sniff_skops(head: bytes, name: str = "") -> bool:
    from modelport.converters.frontends.sklearn import sniff_skops

    return sniff_skops(head, name)


SOURCES.register("sklearn-skops", Source(
    name="sklearn-skops", framework="scikit-learn",
    description="scikit-learn estimator saved with skops.io.dump (skops' trusted-types check); for --backend onnxmltools",
    extensions=(".skops",), sniff=_sniff_skops, open=open_sklearn_skops,
))
