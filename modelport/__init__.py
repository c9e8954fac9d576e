"""modelport: get trained models into production, exactly.

The public API is small and imports nothing heavy until used::

    import modelport
    ir = modelport.load("model.json")               # the model's IR
    modelport.convert("model.json", to="onnx")      # write + verify an artifact
    report = modelport.verify("model.json", "model.onnx")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelport.core.version import __version__

__all__ = ["__version__", "load", "convert", "verify", "ConvertResult", "ParityReport", "LoadOptions"]

if TYPE_CHECKING:  # pragma: no cover
    from modelport._api import ConvertResult, convert, load, verify
    from modelport._verify import ParityReport
    from modelport.converters.frontends import LoadOptions

_LAZY = {
    "load": "modelport._api",
    "convert": "modelport._api",
    "verify": "modelport._api",
    "ConvertResult": "modelport._api",
    "ParityReport": "modelport._verify",
    "LoadOptions": "modelport.converters.frontends",
}


def __getattr__(name: str) -> Any:
    """Import the public API on first use (keeps ``import modelport`` light)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelport' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
