"""Runtimes: load any modelport artifact and predict like the original model.

Imports numpy only; each runtime imports its engine (e.g. onnxruntime) when it loads a file.
Runtimes never import :mod:`modelport.converters`.

    from modelport import runtimes
    rt = runtimes.load("model.onnx")      # chosen by the file's content, not its name
    rt.predict(X)                         # see modelport.runtimes.base for shapes
"""

from __future__ import annotations

from modelport.runtimes.base import (
    OUTPUTS,
    RUNTIMES,
    FeatureSpec,
    Runtime,
    RuntimeSpec,
    Signature,
    all_runtimes,
    detect_runtime,
    load,
)

__all__ = ["OUTPUTS", "RUNTIMES", "FeatureSpec", "Runtime", "RuntimeSpec", "Signature", "all_runtimes", "detect_runtime", "load"]
