"""onnxmltools' XGBoost converter behind ``--backend onnxmltools``.

It converts the ORIGINAL model file, not the IR: an XGBoost
``model.json`` / ``.ubj`` is loaded with xgboost and handed to
``onnxmltools.convert_xgboost`` as a ``Booster``, the way a user of onnxmltools would.
modelport then adds its ``metadata_props`` for the input columns and provenance (feature
names, objective, source hash), but NOT the task / post-transform keys: those describe
modelport's own graph, and onnxmltools' graph has its own outputs (``label`` /
``probabilities`` or ``variable``), which :mod:`modelport.runtimes.onnx` maps by position and
element type.  The parity suite measures how far its predictions are from XGBoost's.

LightGBM and scikit-learn models opened with their own framework are converted by
:mod:`._onnxmltools_frameworks`.
"""

from __future__ import annotations

from pathlib import Path

from modelport.core.contract import METADATA_PREFIX, artifact_metadata
from modelport.core.errors import UnsupportedModelError, require
from modelport.core.ir.model import Model

__all__ = ["build_with_onnxmltools", "ONNXMLTOOLS_OPSET"]

#: Highest default-domain opset onnxmltools 1.16's XGBoost converter accepts (it refuses 18).
ONNXMLTOOLS_OPSET = 15

#: metadata keys copied from the artifact contract (:func:`artifact_metadata`).
_KEPT_KEYS = ("features", "objective", "source_format", "framework", "framework_version",
              "source_sha256", "modelport_version", "missing")


def build_with_onnxmltools(model: Model, source_path: Path):
    """Convert the XGBoost file ``source_path`` (read into ``model``) with onnxmltools;
    returns an ``onnx.ModelProto`` carrying modelport's metadata for its inputs."""
    framework = model.provenance.framework if model.provenance else ""
    if framework != "xgboost":
        raise UnsupportedModelError(
            f"--backend onnxmltools supports XGBoost sources for now, not {framework or 'this model'!r}"
        )
    onnxmltools = require("onnxmltools", extra="onnxmltools", purpose="--backend onnxmltools")
    xgb = require("xgboost", extra="xgboost", purpose="--backend onnxmltools (loading the XGBoost file)")
    from onnxmltools.convert.common.data_types import FloatTensorType

    if not (model.provenance and model.provenance.source_format in ("xgboost-json", "xgboost-ubj")):
        raise UnsupportedModelError(f"--backend onnxmltools converts XGBoost .json/.ubj files; {Path(source_path).name} is "
                                    f"{model.provenance.source_format if model.provenance else 'not one'}: extract the model "
                                    "file (e.g. from the archive) and convert that")
    booster = xgb.Booster()
    try:
        booster.load_model(str(Path(source_path)))
    except xgb.core.XGBoostError as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]  # xgboost appends a C++ stack trace
        raise UnsupportedModelError(f"xgboost cannot load {Path(source_path).name}: {first}") from None
    # onnxmltools accepts only the names f0, f1, ... (it parses the tree dump by them):
    # convert with those and keep the model's own names in modelport's metadata, where the
    # runtime matches DataFrame columns and dict keys by them.
    booster.feature_names = None
    try:
        proto = onnxmltools.convert_xgboost(
            booster,
            name="modelport-onnxmltools",
            initial_types=[("input", FloatTensorType([None, model.n_features]))],
            target_opset=ONNXMLTOOLS_OPSET,
        )
    except Exception as exc:  # onnxmltools raises bare KeyError/RuntimeError/XGBoostError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UnsupportedModelError(f"onnxmltools cannot convert this model: {type(exc).__name__}: {first}") from None

    from onnx import helper

    ours = artifact_metadata(model, backend="onnxmltools")
    props = {k: v for k, v in ours.items() if k[len(METADATA_PREFIX):] in _KEPT_KEYS}
    props[METADATA_PREFIX + "backend"] = "onnxmltools"
    props[METADATA_PREFIX + "onnxmltools_version"] = getattr(onnxmltools, "__version__", "")
    helper.set_model_props(proto, props)
    return proto
