"""The CASES registry: every model the parity matrix converts, one entry per case.

Each framework's cases register here (XGBoost today from ``xgb_cases``; LightGBM and
scikit-learn join with their frontends).  A case trains its model at test time (small,
seeded, cached per process) and gives the model FILE a user would have, extra rows in the
source's own precision, and the framework's own margins for the first parity hop.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np

from modelport.core.registry import Registry

__all__ = ["ParityCase", "CASES", "all_cases", "KNOWN_BACKEND_FAILURES", "KNOWN_REFUSALS"]


@dataclass(frozen=True)
class ParityCase:
    """One model of the parity matrix."""

    name: str
    """``"<framework>/<case>"``, e.g. ``"xgboost/reg_squarederror"``."""
    framework: str
    """The training framework."""
    slow: bool
    """Large or many trees: runs in CI, skipped locally with ``-m "not slow"``."""
    model_file: Callable[[], Path]
    """Trains (once per process) and returns the saved model file."""
    rows: Callable[[], np.ndarray]
    """Extra verification rows in the source's precision (the case's own trap rows)."""
    framework_margin: Callable[[np.ndarray], np.ndarray] | None = None
    """The framework's own raw scores for rows, ``[n, n_outputs]`` (first hop), if it has them."""
    extra: dict[str, Any] | None = None
    """Case facts for reports (objective, ...)."""


CASES: Registry[ParityCase] = Registry("parity case")

_CASE_MODULES = ("cases.xgboost", "cases.lightgbm", "cases.sklearn", "cases.sklearn_linear")


def all_cases() -> Registry[ParityCase]:
    """The registry with every framework's cases registered."""
    for mod in _CASE_MODULES:
        importlib.import_module(mod)
    from sklearn2pmml_known_failures import sklearn2pmml_failures

    KNOWN_BACKEND_FAILURES.update(sklearn2pmml_failures(CASES))  # needs every case registered first
    return CASES


#: Measured failures of third-party backends, ``(backend, case name) -> reason``: each becomes
#: a strict xfail in the matrix, so an upstream fix turns the suite red until it is removed.
KNOWN_BACKEND_FAILURES: dict[tuple[str, str], str] = {}

#: Cells where modelport's own target refuses the model, ``(target, case name) -> a word of
#: the one-line error``: the matrix asserts the refusal (an UnsupportedModelError naming the
#: construct, nothing written) instead of a conversion.
KNOWN_REFUSALS: dict[tuple[str, str], str] = {}


def known_failure_path() -> Path:
    """Where the known failures are documented for users."""
    return Path(__file__).resolve().parents[2] / "docs" / "onnx.md"
