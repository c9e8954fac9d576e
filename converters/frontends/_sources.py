"""Framework sources: model files modelport cannot read into its IR yet, opened with the
framework itself so that a third-party backend (``--backend onnxmltools``) can convert them.

docs/architecture.md: third-party backends exist for what the IR does not model.  For such a source
the reference that verification compares the artifact with is the framework's OWN predict
(the first hop of parity), not the IR evaluator.  Each registered :class:`Source` sniffs a
file by content and opens it into a :class:`FrameworkModel`: the framework object, its task and
input width, the split thresholds the probe rows aim at, and ``predict`` = what the framework
returns, shaped like :mod:`modelport.runtimes` output.

Sources are consulted only when no IR frontend accepts the file (:func:`detect_source`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np

from modelport.core.registry import Registry

__all__ = ["FrameworkModel", "Source", "SOURCES", "all_sources", "detect_source", "open_source", "file_sha256"]

TASKS = ("regression", "binary", "multiclass")


@dataclass(frozen=True)
class FrameworkModel:
    """A model opened with its own framework (no IR)."""

    source: str
    """Registry name of the :class:`Source` that opened it, e.g. ``"lightgbm-text"``."""
    framework: str
    """``"lightgbm"`` or ``"scikit-learn"``."""
    framework_version: str
    """Version of the framework library that loaded it (and, where the file records one,
    the file's format version in ``details``)."""
    framework_object: Any
    """The framework object (``lightgbm.Booster``, a scikit-learn estimator or Pipeline)."""
    task: str
    """``"regression"``, ``"binary"`` or ``"multiclass"``, read from the object."""
    n_features: int
    """Input columns."""
    n_classes: int
    """Classes (0 for regression)."""
    feature_names: tuple[str, ...]
    """Column names (``f0``, ``f1``, ... when the model records none)."""
    predict: Callable[[np.ndarray], np.ndarray]
    """``predict(X float64 [N, F])``: the framework's own ``predict`` (regressors) or
    ``predict_proba`` (classifiers) as float32: binary → [N] P(class 1), multiclass → [N, k],
    regression → [N]."""
    predict_label: Callable[[np.ndarray], np.ndarray] | None
    """The framework's predicted class per row as int64 (what an ONNX ``label`` output
    holds), or None when it cannot be expressed as an integer."""
    thresholds: tuple[np.ndarray, ...]
    """Per feature: the float64 numeric split thresholds (empty when not known)."""
    categories: tuple[np.ndarray, ...]
    """Per feature: category codes used by categorical splits (empty when none)."""
    accepts_nan: bool
    """True when the framework's predict accepts NaN (probe rows then put NaN in each feature)."""
    float64_compare: bool
    """True when the framework compares float64 inputs with float64 thresholds (LightGBM):
    probe rows then also sit one float64 ULP either side of each threshold (trap 2 of docs/parity-traps.md)."""
    n_trees: int | None
    """Trees in the model, when it has trees."""
    leaf_scale: float | None
    """``|intercept| + sum over trees of max |leaf value|`` (contribution to the output):
    bounds the float32 accumulation error of a regressor (:mod:`modelport._verify_framework`)."""
    objective: str = ""
    """The objective / estimator description, e.g. ``"binary sigmoid:1"`` or ``"Pipeline(StandardScaler, LogisticRegression)"``."""
    sha256: str = ""
    """SHA-256 of the file."""
    details: dict[str, Any] = field(default_factory=dict)
    """Extra facts for ``modelport inspect`` (format version, classes, ...)."""


@dataclass(frozen=True)
class Source:
    """A registered framework source format."""

    name: str
    """Registry key, e.g. ``"lightgbm-text"``."""
    framework: str
    """Training framework, e.g. ``"lightgbm"``."""
    description: str
    """One line for the docs' support table."""
    extensions: tuple[str, ...]
    """Usual file name endings (a hint; detection is by content)."""
    sniff: Callable[[bytes, str], bool]
    """``sniff(first_bytes, file_name)``: True if the file looks like this format."""
    open: Callable[[Path, Any], FrameworkModel]
    """``open(path, load_options)``: the :class:`FrameworkModel`, or a ModelportError."""


SOURCES: Registry[Source] = Registry("source")

_SOURCE_MODULES = (
    "modelport.converters.frontends._lightgbm_source",
    "modelport.converters.frontends._sklearn_source",
)


def all_sources() -> Registry[Source]:
    """The registry with every built-in source registered."""
    for mod in _SOURCE_MODULES:
        importlib.import_module(mod)
    return SOURCES


def detect_source(path: str | Path) -> Source | None:
    """The source whose ``sniff`` accepts the file, or None (also for unreadable files:
    whoever reads the file next reports why)."""
    from modelport.core.errors import ModelFormatError

    try:
        return all_sources().detect(path, what="model file", unknown="not a framework source")
    except ModelFormatError:
        return None


def open_source(path: str | Path, options: Any = None) -> FrameworkModel:
    """Open ``path`` with the framework of the detected source (``options``: LoadOptions)."""
    from modelport.converters.frontends import LoadOptions
    from modelport.core.errors import ModelFormatError

    src = detect_source(path)
    if src is None:
        raise ModelFormatError(f"{Path(path).name}: not a LightGBM or scikit-learn model file")
    return src.open(Path(path), options or LoadOptions())


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, streamed (see :func:`modelport.core.files.sha256_file`)."""
    from modelport.core.files import sha256_file

    return sha256_file(path, what="model file")


def default_names(n: int, names: Any = None) -> tuple[str, ...]:
    """``names`` as strings when there are ``n`` of them, else ``f0 .. f{n-1}``."""
    names = [str(x) for x in names] if names is not None else []
    return tuple(names) if len(names) == n else tuple(f"f{i}" for i in range(n))


def per_feature(n: int, pairs: list[tuple[int, float]], dtype=np.float64) -> tuple[np.ndarray, ...]:
    """Group ``(feature, value)`` pairs into sorted unique arrays, one per feature."""
    out: list[list[float]] = [[] for _ in range(n)]
    for f, v in pairs:
        if 0 <= f < n:
            out[f].append(v)
    return tuple(np.unique(np.asarray(v, dtype=dtype)) for v in out)
