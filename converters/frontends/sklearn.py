"""scikit-learn frontend: a fitted estimator saved with pickle / joblib or skops, read into the IR.

* pickle and joblib files run code from the file when loaded: refused unless
  ``LoadOptions.trust_pickle`` (``--trust-pickle``), with the reason in the error;
* skops files (``skops.io.dump``, a zip of JSON and arrays) load without it: skops builds only
  the types it trusts, plus the scikit-learn types this frontend reads
  (:data:`SKOPS_TRUSTED`); any other type in the file is refused by name
  (``skops.io.get_untrusted_types``), unless ``--trust-pickle`` is given.

The estimator is dispatched by type: tree models (decision trees, random forests, extra trees,
GradientBoosting, HistGradientBoosting) to :mod:`._sk_trees`, IsolationForest to
:mod:`._sk_iforest`; linear models and pipelines to
``_sk_linear`` / ``_sk_pipeline``.  Feature names are ``feature_names_in_`` when the model was
fitted on a DataFrame, else ``f0 .. f{n-1}``.  docs/sklearn.md describes the semantics.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from modelport.converters.frontends import FRONTENDS, Frontend, LoadOptions
from modelport.converters.frontends._sklearn_source import _unpickle, describe_estimator, sniff_pickle
from modelport.converters.frontends._sources import default_names
from modelport.core.errors import ModelFormatError, UnsupportedModelError, require
from modelport.core.files import read_model_bytes
from modelport.core.ir.model import Model, Provenance

__all__ = ["load_sklearn", "estimator_to_ir", "sniff_sklearn", "sniff_skops", "SKOPS_TRUSTED"]

#: Types skops does not trust by default that a tree model holds: plain data containers of
#: scikit-learn (no code runs when skops rebuilds them from their arrays and attributes).
SKOPS_TRUSTED = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.LogLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.Interval",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.PinballLoss",
    "sklearn._loss.loss.HuberLoss",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfGammaLoss",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss._loss.CyAbsoluteError",
    "sklearn._loss._loss.CyPinballLoss",
    "sklearn._loss._loss.CyHuberLoss",
    "sklearn._loss._loss.CyHalfPoissonLoss",
    "sklearn._loss._loss.CyHalfGammaLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn.utils._bunch.Bunch",
    # HistGradientBoosting's own preprocessor passes numeric columns through
    # FunctionTransformer(partial(check_array, dtype=float64)).  skops names every function a
    # partial wraps, so trusting partial trusts nothing else.
    "functools.partial",
    "sklearn.utils.validation.check_array",
    # SimpleImputer, OneHotEncoder and OrdinalEncoder keep the dtype they were fitted with:
    # skops rebuilds it from its name (numpy.dtype("float64")), no code from the file runs.
    "numpy.dtype",
)

_ZIP = b"PK\x03\x04"
_LINEAR_MODULES = ("sklearn.linear_model.", "sklearn.svm.", "sklearn.discriminant_analysis.")
_PIPELINES = ("Pipeline", "ColumnTransformer")


def sniff_skops(head: bytes, name: str = "") -> bool:
    """True for a skops file: a zip archive named ``*.skops``, or whose first member is one
    skops writes (``schema.json``, or an array file named by an object id, ``140296361786224.npy``)."""
    if not head.startswith(_ZIP):
        return False
    if name.lower().endswith(".skops"):
        return True
    n = int.from_bytes(head[26:28], "little")
    first = head[30:30 + n]
    return first == b"schema.json" or re.fullmatch(rb"[0-9]{1,40}\.(npy|npz)", first) is not None


def sniff_sklearn(head: bytes, name: str = "") -> bool:
    """True for a pickle / joblib file or a skops file."""
    return sniff_pickle(head, name) or sniff_skops(head, name)


def _load_skops(path: Path, options: LoadOptions) -> Any:
    sio = require("skops.io", extra="sklearn", purpose="reading a skops file")
    try:
        untrusted = list(sio.get_untrusted_types(file=str(path)))
    except Exception as exc:  # a corrupt zip / schema
        raise ModelFormatError(f"{path.name}: not a readable skops file ({type(exc).__name__}: {str(exc)[:160]})") from None
    unknown = sorted(t for t in untrusted if t not in SKOPS_TRUSTED)
    if unknown and not options.trust_pickle:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise UnsupportedModelError(f"{path.name}: the skops file holds types skops does not trust and modelport does "
                                    f"not read ({shown}); building them can run code: pass --trust-pickle only for "
                                    "files you made yourself")
    try:
        return sio.load(str(path), trusted=untrusted)
    except Exception as exc:  # skops raises TypeError/ValueError/... on bad content
        raise ModelFormatError(f"{path.name}: cannot load the skops file ({type(exc).__name__}: {str(exc)[:160]})") from None


def _load_pickle(path: Path, options: LoadOptions) -> Any:
    if not options.trust_pickle:
        raise UnsupportedModelError(
            f"{path.name} is a Python pickle; unpickling runs code from the file: pass --trust-pickle "
            "(trust_pickle=True) only for files you made yourself, or save the model with skops.io.dump")
    require("sklearn", extra="sklearn", purpose="reading a pickled scikit-learn model")
    try:
        return _unpickle(path)
    except Exception as exc:  # any failure inside unpickling is a format error
        raise ModelFormatError(f"{path.name}: cannot unpickle it ({type(exc).__name__}: {str(exc)[:160]})") from None


def _features(est: Any) -> list[str]:
    n = getattr(est, "n_features_in_", None)
    if n is None:
        raise UnsupportedModelError(f"the {type(est).__name__} is not fitted (no n_features_in_)")
    return list(default_names(int(n), getattr(est, "feature_names_in_", None)))


def estimator_to_ir(est: Any, features: list[str] | None = None, *, provenance: Provenance) -> Model:
    """The IR of a fitted scikit-learn estimator or pipeline (dispatch by type)."""
    name = type(est).__name__
    module = type(est).__module__
    if not module.startswith("sklearn.") or not hasattr(est, "predict"):
        hint = " (save XGBoost models with save_model('model.json'))" if "xgboost" in module else ""
        raise UnsupportedModelError(f"the file holds a {module}.{name}, not a scikit-learn estimator{hint}")
    features = _features(est) if features is None else features
    from modelport.converters.frontends._sk_trees import TREE_ESTIMATORS, tree_model_to_ir

    if name in TREE_ESTIMATORS:
        return tree_model_to_ir(est, features, provenance=provenance)
    if name == "IsolationForest":
        from modelport.converters.frontends._sk_iforest import isolation_forest_to_ir

        return isolation_forest_to_ir(est, features, provenance=provenance)
    if name in _PIPELINES:
        try:
            from modelport.converters.frontends._sk_pipeline import pipeline_to_ir
        except ImportError:
            raise UnsupportedModelError(f"scikit-learn {describe_estimator(est)} is not supported") from None
        return pipeline_to_ir(est, features, final_to_ir=estimator_to_ir, provenance=provenance)
    if module.startswith(_LINEAR_MODULES):
        try:
            from modelport.converters.frontends._sk_linear import linear_to_ir
        except ImportError:
            raise UnsupportedModelError(f"scikit-learn {name} is not supported") from None
        return linear_to_ir(est, features, provenance=provenance)
    raise UnsupportedModelError(f"scikit-learn {name} is not supported (use --backend onnxmltools for skl2onnx)")


def load_sklearn(path: str | Path, options: LoadOptions | None = None) -> Model:
    """Read a pickled / joblib / skops scikit-learn estimator into the IR."""
    path = Path(path)
    options = options or LoadOptions()
    if options.truncates:
        raise UnsupportedModelError(f"{path.name}: scikit-learn models have no boosting rounds to truncate here")
    data = read_model_bytes(path)
    is_skops = data.startswith(_ZIP)
    est = _load_skops(path, options) if is_skops else _load_pickle(path, options)
    sklearn = require("sklearn", extra="sklearn", purpose="reading a scikit-learn model")
    objective = describe_estimator(est)
    loss = getattr(est, "loss", None)
    if isinstance(loss, str):
        objective += f" loss={loss}"
    prov = Provenance(source_format="sklearn-skops" if is_skops else "sklearn-pickle", framework="scikit-learn",
                      framework_version=sklearn.__version__, sha256=hashlib.sha256(data).hexdigest(),
                      objective=objective)
    try:
        return estimator_to_ir(est, provenance=prov)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"{path.name}: malformed {type(est).__name__}: {type(exc).__name__}: {str(exc)[:160]}") from None


FRONTENDS.register("sklearn", Frontend(
    name="sklearn", framework="scikit-learn",
    description="scikit-learn estimator saved with skops.io.dump, or pickle / joblib (needs --trust-pickle)",
    extensions=(".skops", ".pkl", ".pickle", ".joblib"), sniff=sniff_sklearn, load=load_sklearn,
))
