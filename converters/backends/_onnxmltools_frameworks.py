"""``--backend onnxmltools`` for framework sources (LightGBM model.txt, pickled scikit-learn):
files modelport cannot read into its IR yet, converted by the ecosystem's own converters.

* LightGBM: ``onnxmltools.convert_lightgbm(booster, zipmap=False)`` with a float32 input
  (onnxmltools 1.16 refuses ``DoubleTensorType`` for LightGBM classifiers).
* scikit-learn: ``skl2onnx.to_onnx(estimator)`` with a **float64** input
  (``DoubleTensorType``) when onnxruntime can load the result, else float32.  Measured
  (docs/onnx.md): a random forest through float32 flips classes on 0.5/0.5 ties
  (trap 16 of docs/parity-traps.md: 5 of 4,000 rows) and has none with float64 input; a
  StandardScaler + LogisticRegression pipeline is within 3e-16 in float64 against 2.3e-7 in
  float32.  skl2onnx 1.20's float64 tree *regressor* declares a double output that
  onnxruntime 1.32 rejects ("Type (tensor(double)) of output arg (variable) ... does not
  match"), so GradientBoostingRegressor and other tree regressors fall back to float32.
  ``modelport.input_precision`` records which one was used.

Classifier outputs are plain tensors (``zipmap=False``): ``label`` and ``probabilities``.
modelport adds its ``metadata_props`` (features, task, provenance, ``modelport.backend``).
"""

from __future__ import annotations

import json

import numpy as np

from modelport.converters.frontends._sources import FrameworkModel
from modelport.core.errors import UnsupportedModelError, require

__all__ = ["build_framework_onnx", "refuse_infinite_thresholds", "SKL2ONNX_OPSET"]

#: Opsets for skl2onnx: modelport's own default-domain opset, ``ai.onnx.ml`` 3 (the tree
#: operators onnxruntime executes with float and double inputs).
SKL2ONNX_OPSET = {"": 18, "ai.onnx.ml": 3}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _lightgbm(fm: FrameworkModel):
    from modelport.converters.backends._onnxmltools_xgboost import ONNXMLTOOLS_OPSET

    onnxmltools = require("onnxmltools", extra="onnxmltools", purpose="--backend onnxmltools")
    from onnxmltools.convert.common.data_types import FloatTensorType

    try:
        proto = onnxmltools.convert_lightgbm(
            fm.framework_object, name="modelport-onnxmltools", zipmap=False, target_opset=ONNXMLTOOLS_OPSET,
            initial_types=[("input", FloatTensorType([None, fm.n_features]))])
    except Exception as exc:  # onnxmltools raises bare RuntimeError/KeyError/...
        raise UnsupportedModelError(f"onnxmltools cannot convert this LightGBM model: {_first_line(exc)}") from None
    return proto, "float32", {"onnxmltools_version": getattr(onnxmltools, "__version__", "")}


def _loads_in_onnxruntime(proto) -> str:
    """'' when onnxruntime builds a session for ``proto``, else its first error line."""
    ort = require("onnxruntime", extra="onnx", purpose="checking the skl2onnx graph")
    from modelport.converters.targets._onnx_depth import check_onnx_depth

    check_onnx_depth(proto)  # onnxruntime overflows its stack on deeper trees while loading
    try:
        ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        return _first_line(exc)
    return ""


def _tree_objects(est) -> list:
    """Every fitted ``tree_`` inside ``est`` (ensembles, pipeline steps, column transformers)."""
    out, stack, seen = [], [est], set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if hasattr(obj, "tree_"):
            out.append(obj.tree_)
        members = getattr(obj, "estimators_", None)
        if members is not None:
            stack.extend(np.asarray(members, dtype=object).ravel().tolist())
        stack.extend(step for _name, step, *_rest in getattr(obj, "steps", []) or [])
        stack.extend(t for _name, t, *_rest in getattr(obj, "transformers_", []) or [])
    return out


def refuse_infinite_thresholds(est) -> None:
    """Refuse, before skl2onnx runs, a tree with an infinite split threshold: scikit-learn
    writes ``+inf`` for a split that separates only the missing values (a tree trained on
    NaN), and skl2onnx 1.20's ``find_switch_point`` (``skl2onnx/common/tree_ensemble.py``)
    never returns on it."""
    for tree in _tree_objects(est):
        internal = np.asarray(tree.children_left) != -1
        if np.isinf(np.asarray(tree.threshold)[internal]).any():
            raise UnsupportedModelError(
                "skl2onnx cannot convert a tree with an infinite threshold (scikit-learn's split for missing values "
                "only, from training on NaN; skl2onnx's find_switch_point never returns): use the default backend")


def _sklearn(fm: FrameworkModel):
    refuse_infinite_thresholds(fm.framework_object)
    skl2onnx = require("skl2onnx", extra="onnxmltools", purpose="--backend onnxmltools (scikit-learn)")
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    est = fm.framework_object
    options = {id(est): {"zipmap": False}} if fm.task != "regression" else None
    why_not_double = ""
    for precision, tensor in (("float64", DoubleTensorType), ("float32", FloatTensorType)):
        try:
            proto = skl2onnx.to_onnx(est, initial_types=[("input", tensor([None, fm.n_features]))],
                                     options=options, target_opset=SKL2ONNX_OPSET)
        except Exception as exc:  # skl2onnx raises RuntimeError/NotImplementedError/... per estimator
            problem = _first_line(exc)
        else:
            problem = _loads_in_onnxruntime(proto)
            if not problem:
                extra = {"skl2onnx_version": getattr(skl2onnx, "__version__", "")}
                if why_not_double:
                    extra["input_precision_reason"] = f"float64 graph unusable: {why_not_double}"
                return proto, precision, extra
        if precision == "float64":
            why_not_double = problem
        else:
            raise UnsupportedModelError(f"skl2onnx cannot convert this {fm.objective}: {problem}")
    raise AssertionError("unreachable")  # pragma: no cover


def build_framework_onnx(fm: FrameworkModel, *, source_format: str):
    """The ``onnx.ModelProto`` of ``fm`` written by onnxmltools / skl2onnx, with
    modelport's metadata."""
    if fm.framework == "lightgbm":
        proto, precision, extra = _lightgbm(fm)
    elif fm.framework == "scikit-learn":
        proto, precision, extra = _sklearn(fm)
    else:
        raise UnsupportedModelError(f"--backend onnxmltools has no converter for {fm.framework} models")
    from onnx import helper

    from modelport.core.version import __version__
    from modelport.core.contract import METADATA_PREFIX

    props = {
        "features": json.dumps([{"name": n, "type": "float", "categories": None} for n in fm.feature_names]),
        "task": fm.task,
        "n_classes": str(fm.n_classes),
        "n_outputs": str(fm.n_classes if fm.task == "multiclass" else 1),
        "missing": repr(float("nan")),
        "objective": fm.objective,
        "source_format": source_format,
        "framework": fm.framework,
        "framework_version": fm.framework_version,
        "source_sha256": fm.sha256,
        "modelport_version": __version__,
        "backend": "onnxmltools",
        "input_precision": precision,
        **extra,
    }
    helper.set_model_props(proto, {METADATA_PREFIX + k: v for k, v in props.items()})
    return proto
