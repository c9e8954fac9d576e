"""Targets: one per artifact format, each writing from the IR.

Each target module registers itself in :data:`TARGETS`.  The registry drives the CLI's
``--to`` choices, the docs' support table and the parity matrix.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

from modelport.core.registry import Registry
from modelport.core.ir.model import Model

__all__ = ["TARGETS", "Target", "WriteOptions", "all_targets"]


@dataclass(frozen=True)
class WriteOptions:
    """Options for writing an artifact."""

    backend: str = "modelport"
    """Which converter writes it: ``"modelport"`` (from the IR) or a third-party backend
    the target lists in ``Target.backends`` (e.g. ``"onnxmltools"``)."""
    source_path: Path | None = None
    """The original model file; third-party backends convert from it, not from the IR."""


@dataclass(frozen=True)
class Target:
    """A registered artifact format."""

    name: str
    """Registry key and the CLI's ``--to`` value, e.g. ``"onnx"``."""
    extension: str
    """File name ending of the artifact, e.g. ``".onnx"``."""
    description: str
    """One line for the docs' support table."""
    write: Callable[[Model, Path, WriteOptions], None]
    """``write(model, out_path, options)``: write the artifact or raise a ModelportError
    (UnsupportedModelError for anything it cannot express exactly)."""
    runtime: str | None
    """Name of the runtime (in :mod:`modelport.runtimes`) that executes the artifact, or
    None if only the reference evaluator reads it (the IR itself)."""
    backends: tuple[str, ...] = ("modelport",)
    """Converters available for this format; the first is the default."""


TARGETS: Registry[Target] = Registry("target")

_TARGET_MODULES = (
    "modelport.converters.targets.ir",
    "modelport.converters.targets.onnx",
)


def all_targets() -> Registry[Target]:
    """The registry with every built-in target registered."""
    for mod in _TARGET_MODULES:
        importlib.import_module(mod)
    return TARGETS
