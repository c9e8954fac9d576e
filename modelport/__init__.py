"""modelport: get trained models into production, exactly.

The public API is small and imports nothing heavy until used::

    import modelport
    ir = modelport.load("model.json")               # the model's IR
    modelport.convert("model.json", to="onnx")      # write + verify an artifact
    report = modelport.verify("model.json", "model.onnx")
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
