"""``--backend onnxmltools`` for ``--to onnx``: onnxmltools (XGBoost, LightGBM) and skl2onnx
(scikit-learn), the ecosystem's own ONNX converters, as a second opinion.

XGBoost files are loaded with xgboost and converted with ``onnxmltools.convert_xgboost``
(:mod:`._onnxmltools_xgboost`); LightGBM and scikit-learn models are opened with their own
framework and converted with ``convert_lightgbm`` / ``skl2onnx`` (:mod:`._onnxmltools_frameworks`).
docs/onnx.md lists what each gets wrong, measured.
"""

from __future__ import annotations

from pathlib import Path

from modelport.converters.backends import BACKENDS, Backend, BackendSource
from modelport.core.errors import UnsupportedModelError, require

__all__ = ["write_onnxmltools"]


def write_onnxmltools(source: BackendSource, out_path: Path) -> None:
    """Convert ``source`` with onnxmltools / skl2onnx and write the checked ONNX file."""
    if source.framework == "xgboost":
        if source.model is None:
            raise UnsupportedModelError("--backend onnxmltools converts XGBoost files that modelport can read")
        from modelport.converters.backends._onnxmltools_xgboost import build_with_onnxmltools

        proto = build_with_onnxmltools(source.model, source.path)
    elif source.framework_model is not None:
        from modelport.converters.backends._onnxmltools_frameworks import build_framework_onnx

        fm = source.framework_model
        proto = build_framework_onnx(fm, source_format=fm.source)
    else:
        raise UnsupportedModelError(f"--backend onnxmltools needs the {source.framework} model opened with its framework")
    onnx = require("onnx", extra="onnx", purpose="Writing ONNX")
    from modelport.converters.targets._onnx_depth import check_onnx_depth

    check_onnx_depth(proto)  # refuse what onnxruntime cannot load before anything is written
    onnx.checker.check_model(proto, full_check=True)
    Path(out_path).write_bytes(proto.SerializeToString())


BACKENDS.register(
    "onnx:onnxmltools",
    Backend(name="onnxmltools", target="onnx", frameworks=("xgboost", "lightgbm", "scikit-learn"),
            description="onnxmltools.convert_xgboost / convert_lightgbm and skl2onnx, converting the original model",
            write=write_onnxmltools, extra="onnxmltools"),
)
