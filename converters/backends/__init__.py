"""Third-party converters as backends: one registry keyed by target and source framework.

Well-kept converters of the ecosystem stay in the house as second opinions and for what the
IR does not model (``--backend onnxmltools``; sklearn2pmml later).  A backend converts the
ORIGINAL model (the file, or the framework object opened from it), never the IR, and its
artifact goes through the same stage → verify → publish path as modelport's own targets:
verified against the reference evaluator when an IR frontend reads the source, against the
framework's own predict otherwise.

Entries are keyed ``"<target>:<backend>"`` (``"onnx:onnxmltools"``); a target's backends are
``("modelport",)`` (its own writer) plus every entry registered for it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

from modelport.core.errors import UsageError
from modelport.core.registry import Registry

__all__ = ["Backend", "BackendSource", "BACKENDS", "all_backends", "backend_names", "get_backend"]


@dataclass(frozen=True)
class BackendSource:
    """What a backend converts: the source file, and whichever of the IR model (an IR
    frontend read the file) and the framework object (opened with its own framework) exist."""

    path: Path
    """The original model file."""
    framework: str
    """``"xgboost"``, ``"lightgbm"`` or ``"scikit-learn"``."""
    model: Any = None
    """The IR :class:`~modelport.core.ir.model.Model`, when an IR frontend read the file."""
    framework_model: Any = None
    """The :class:`~modelport.converters.frontends._sources.FrameworkModel` (the framework's own
    object), when the file was opened with its framework."""


@dataclass(frozen=True)
class Backend:
    """A registered third-party converter for one target."""

    name: str
    """The ``--backend`` value, e.g. ``"onnxmltools"``."""
    target: str
    """The target whose format it writes, e.g. ``"onnx"``."""
    frameworks: tuple[str, ...]
    """Source frameworks it converts."""
    description: str
    """One line for the docs' support table."""
    write: Callable[[BackendSource, Path], None]
    """``write(source, out_path)``: write the artifact or raise a ModelportError."""
    extra: str
    """The pip extra that installs the converter."""


BACKENDS: Registry[Backend] = Registry("backend")

_BACKEND_MODULES = ("modelport.converters.backends.onnxmltools", "modelport.converters.backends.sklearn2pmml")


def all_backends() -> Registry[Backend]:
    """The registry with every built-in backend registered."""
    for mod in _BACKEND_MODULES:
        importlib.import_module(mod)
    return BACKENDS


def backend_names(target: str) -> tuple[str, ...]:
    """The ``--backend`` values for ``target``: ``"modelport"`` first, then third-party ones."""
    return ("modelport",) + tuple(b.name for _k, b in all_backends().items() if b.target == target)


def get_backend(target: str, name: str, *, framework: str | None = None) -> Backend:
    """The backend ``name`` of ``target`` (and, with ``framework``, one that converts it), or
    a one-line UsageError listing what exists."""
    key = f"{target}:{name}"
    backends = all_backends()
    if key not in backends:
        raise UsageError(f"format {target!r} has no backend {name!r} (available: {', '.join(backend_names(target))})")
    be = backends.get(key)
    if framework is not None and framework not in be.frameworks:
        raise UsageError(f"--backend {name} converts {', '.join(be.frameworks)} models to {target}, not {framework}")
    return be
