"""The runtime interface every artifact loader implements, and the runtime registry.

A runtime loads one artifact and predicts like the original model::

    rt = modelport.runtimes.load("model.onnx")   # picked by the file's CONTENT
    rt.predict(X)                          # what xgboost's Booster.predict returns
    rt.predict(X, output="probabilities")  # what XGBClassifier.predict_proba returns
    rt.signature                           # inputs, task, objective, output meaning

Output conventions (all float32 except ``label``, which is int64):

==============================  =====================================================
``output=``                     shape / meaning
==============================  =====================================================
``"prediction"`` (default)      binary → [N] probability of class 1 (0/1 for hinge, the
                                margin for logitraw); multi:softprob → [N, k];
                                multi:softmax → [N] class index as float32;
                                regression / ranking / survival → [N];
                                multi-target → [N, t]
``"margin"``                    [N] for one output, else [N, n_outputs] (raw score)
``"probabilities"``             classifiers only: [N, n_classes]
``"label"``                     classifiers only: [N] int64 class index
==============================  =====================================================

This module imports numpy only.  Runtimes never import converters (see ARCHITECTURE.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable
from collections.abc import Callable

import numpy as np

from modelport.core.registry import Registry
from modelport.core.errors import InputDataError

__all__ = [
    "Output",
    "OUTPUTS",
    "FeatureSpec",
    "Signature",
    "Runtime",
    "RuntimeSpec",
    "RUNTIMES",
    "load",
    "all_runtimes",
    "detect_runtime",
    "select_output",
]

Output = Literal["prediction", "margin", "probabilities", "label"]
OUTPUTS: tuple[str, ...] = ("prediction", "margin", "probabilities", "label")
_CLASSIFIER_TASKS = ("binary", "multiclass")


@dataclass(frozen=True)
class FeatureSpec:
    """One input column as the runtime sees it."""

    name: str
    """Column name; DataFrame columns and dict keys are matched against it."""
    type: str = "float"
    """``"float"``, ``"int"``, ``"indicator"`` or ``"categorical"`` (codes)."""
    categories: tuple[str, ...] | None = None
    """For categorical columns: category values in code order, when known."""


@dataclass(frozen=True)
class Signature:
    """What an artifact expects and returns."""

    input_name: str
    """Name of the artifact's input tensor (``"input"`` for modelport's ONNX)."""
    input_type: str
    """Element type of the input tensor, e.g. ``"float32"``."""
    features: tuple[FeatureSpec, ...]
    """The input columns, in positional order."""
    task: str
    """``"regression"``, ``"binary"``, ``"multiclass"``, ``"multi_target"``, ``"ranking"``, ``"survival"``."""
    objective: str
    """The source objective, e.g. ``"binary:logistic"`` (``""`` if unknown)."""
    post_transform: str
    """The margin → prediction function (IR ``PostTransform`` value)."""
    n_outputs: int
    """Number of margin columns."""
    n_classes: int
    """Number of classes (0 for non-classifiers)."""
    outputs: tuple[str, ...] = OUTPUTS
    """The ``output=`` values this artifact can serve."""
    prediction: str = ""
    """One line: what ``predict(X)`` returns for this model."""
    metadata: dict[str, str] = field(default_factory=dict)
    """The artifact's raw metadata (provenance, versions)."""

    @property
    def n_features(self) -> int:
        """Number of input columns."""
        return len(self.features)

    @property
    def feature_names(self) -> list[str]:
        """Column names in positional order."""
        return [f.name for f in self.features]


@runtime_checkable
class Runtime(Protocol):
    """A loaded artifact that predicts like the original model (see the module docstring)."""

    signature: Signature

    def predict(self, X: Any, *, output: Output = "prediction") -> np.ndarray:
        """Predict for ``X`` (array, DataFrame, list of dicts or list of lists)."""
        ...


@dataclass(frozen=True)
class RuntimeSpec:
    """A registered runtime."""

    name: str
    """Registry key, e.g. ``"onnx"`` (a Target's ``runtime`` field names it)."""
    description: str
    """One line for the docs."""
    sniff: Callable[[bytes, str], bool]
    """``sniff(first_bytes, file_name)``: True if the file's content is this format."""
    load: Callable[..., Runtime]
    """``load(path, **options)`` → a :class:`Runtime`."""


RUNTIMES: Registry[RuntimeSpec] = Registry("runtime")

#: Modules that register runtimes when imported (cheap: heavy imports happen in ``load``).
_RUNTIME_MODULES = ("modelport.runtimes.onnx",)


def _load_all() -> Registry[RuntimeSpec]:
    for mod in _RUNTIME_MODULES:
        importlib.import_module(mod)
    return RUNTIMES


def all_runtimes() -> Registry[RuntimeSpec]:
    """The registry with every built-in runtime registered (drives docs and the parity matrix)."""
    return _load_all()


def detect_runtime(path: str | Path) -> RuntimeSpec:
    """The runtime whose ``sniff`` accepts the file's first bytes, or a ModelFormatError."""
    _load_all()
    return RUNTIMES.detect(path, what="artifact",
                           unknown=f"not an artifact any runtime reads (known runtimes: {', '.join(RUNTIMES.names())}); "
                                   "IR JSON files are read by modelport.converters, not by a runtime")


def load(path: str | Path, *, runtime: str | None = None, **options: Any) -> Runtime:
    """Load an artifact, choosing the runtime by the file's content unless ``runtime`` names one."""
    _load_all()
    spec = RUNTIMES.get(runtime) if runtime else detect_runtime(path)
    return spec.load(Path(path), **options)


def describe_prediction(task: str, post_transform: str, n_outputs: int) -> str:
    """One line saying what ``predict(X)`` returns."""
    if task == "binary":
        what = {"sigmoid": "probability of class 1", "hinge": "0/1 class", "identity": "raw margin"}
        return f"float32 [N]: {what.get(post_transform, post_transform)}"
    if task == "multiclass":
        if post_transform == "softmax_label":
            return "float32 [N]: class index (multi:softmax)"
        return f"float32 [N, {n_outputs}]: class probabilities"
    shape = "[N]" if n_outputs == 1 else f"[N, {n_outputs}]"
    return f"float32 {shape}: {post_transform}(margin)"


def select_output(
    sig: Signature,
    output: str,
    *,
    margin: np.ndarray | None,
    variable: np.ndarray | None = None,
    probabilities: np.ndarray | None = None,
    label: np.ndarray | None = None,
) -> np.ndarray:
    """Shape the raw artifact outputs into what ``predict(X, output=...)`` promises."""
    if output not in OUTPUTS:
        raise InputDataError(f"unknown output {output!r}; choose one of {', '.join(OUTPUTS)}")
    if output not in sig.outputs:
        raise InputDataError(
            f"this artifact cannot give output={output!r} (task {sig.task}); available: {', '.join(sig.outputs)}"
        )
    classifier = sig.task in _CLASSIFIER_TASKS
    if output == "margin":
        return _squeeze(np.asarray(margin, dtype=np.float32))
    if output == "label":
        labels = np.asarray(label).reshape(-1)
        if labels.dtype.kind in "iub" or (labels.dtype.kind == "f" and np.all(np.isfinite(labels))):
            return labels.astype(np.int64)
        # Class names (skl2onnx writes string labels for a classifier trained on strings):
        # returned as str, as the source's predict does; never forced into integers.
        return labels.astype(str)
    if output == "probabilities":
        return np.asarray(probabilities, dtype=np.float32)
    # output == "prediction"
    if not classifier:
        return _squeeze(np.asarray(variable, dtype=np.float32))
    if sig.task == "binary":
        return np.asarray(probabilities, dtype=np.float32)[:, 1].copy()
    if sig.post_transform == "softmax_label":
        return np.asarray(label).reshape(-1).astype(np.float32)
    return np.asarray(probabilities, dtype=np.float32)


def _squeeze(a: np.ndarray) -> np.ndarray:
    return a[:, 0].copy() if a.ndim == 2 and a.shape[1] == 1 else a
