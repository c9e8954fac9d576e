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

This module imports numpy only.  Runtimes never import converters (see docs/architecture.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable
from collections.abc import Callable

import numpy as np

from modelport.core.contract import OUTPUTS, FeatureSpec, Signature, describe_prediction, is_bundle, read_manifest
from modelport.core.errors import InputDataError, ModelFormatError
from modelport.core.registry import Registry
from modelport.core.toolchains import Toolchain

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
    "describe_prediction",
]

Output = Literal["prediction", "margin", "probabilities", "label"]
_CLASSIFIER_TASKS = ("binary", "multiclass")


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
    """``sniff(first_bytes, file_name)``: True if a single-file artifact's content is this
    format (bundle runtimes are found through their manifest instead: return False)."""
    load: Callable[..., Runtime]
    """``load(path, **options)`` → a :class:`Runtime` (``path`` is a bundle directory for
    bundle runtimes)."""
    toolchain: tuple[Toolchain, ...] = ()
    """External programs needed to load and run (a C compiler, java, node, ...)."""
    extra: str = ""
    """The pip extra that installs its Python dependencies (``""``: numpy only)."""


RUNTIMES: Registry[RuntimeSpec] = Registry("runtime")

#: Modules that register runtimes when imported (cheap: heavy imports happen in ``load``).
_RUNTIME_MODULES = ("modelport.runtimes.ir", "modelport.runtimes.onnx")
_RUNTIME_MODULES += ("modelport.runtimes.native.c",)
_RUNTIME_MODULES += ("modelport.runtimes.native.python",)
_RUNTIME_MODULES += ("modelport.runtimes.pfa",)
_RUNTIME_MODULES += ("modelport.runtimes.pmml",)
_RUNTIME_MODULES += ("modelport.runtimes.native.java",)
_RUNTIME_MODULES += ("modelport.runtimes.native.javascript",)
_RUNTIME_MODULES += ("modelport.runtimes.native.go",)
_RUNTIME_MODULES += ("modelport.runtimes.native.rust",)


def _load_all() -> Registry[RuntimeSpec]:
    for mod in _RUNTIME_MODULES:
        importlib.import_module(mod)
    return RUNTIMES


def all_runtimes() -> Registry[RuntimeSpec]:
    """The registry with every built-in runtime registered (drives docs and the parity matrix)."""
    return _load_all()


def detect_runtime(path: str | Path) -> RuntimeSpec:
    """The runtime of an artifact: a bundle's manifest names it; a file is recognised by the
    first bytes its runtime's ``sniff`` accepts.  A ModelFormatError otherwise."""
    _load_all()
    if is_bundle(path):
        manifest = read_manifest(path, check=False)
        if manifest.runtime not in RUNTIMES:
            raise ModelFormatError(f"{Path(path).name}: bundle runtime {manifest.runtime!r} is not known here "
                                   f"(known runtimes: {', '.join(RUNTIMES.names())})")
        return RUNTIMES.get(manifest.runtime)
    if Path(path).is_dir():
        raise ModelFormatError(f"{Path(path).name}: a directory without a modelport.json manifest is not an artifact")
    return RUNTIMES.detect(path, what="artifact",
                           unknown=f"not an artifact any runtime reads (known runtimes: {', '.join(RUNTIMES.names())}); "
                                   "a model file is converted first: modelport convert MODEL --to FORMAT")


def load(path: str | Path, *, runtime: str | None = None, **options: Any) -> Runtime:
    """Load an artifact (a file or a bundle directory), choosing the runtime by its content
    unless ``runtime`` names one."""
    _load_all()
    spec = RUNTIMES.get(runtime) if runtime else detect_runtime(path)
    return spec.load(Path(path), **options)


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
