"""Frontends: one per source format, each reading a model FILE into the IR.

Each frontend module registers itself in :data:`FRONTENDS` beside its load function.
:func:`load_model` sniffs the file's content (not only its name) to pick the frontend.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from modelport._registry import Registry
from modelport.converters.ir.model import Model
from modelport.errors import ModelFormatError

__all__ = ["FRONTENDS", "Frontend", "LoadOptions", "load_model", "detect_frontend"]


@dataclass(frozen=True)
class LoadOptions:
    """Options for reading a source model."""

    trust_pickle: bool = False
    """Allow unpickling a pickled model (e.g. in a SageMaker model.tar.gz).  Unpickling
    runs arbitrary code: only for files you made yourself."""


@dataclass(frozen=True)
class Frontend:
    """A registered source format."""

    name: str
    """Registry key, e.g. ``"xgboost-json"``."""
    framework: str
    """Training framework, e.g. ``"xgboost"``."""
    description: str
    """One line for the docs' support table."""
    extensions: tuple[str, ...]
    """Usual file name endings (a hint; detection is by content)."""
    sniff: Callable[[bytes, str], bool]
    """``sniff(first_bytes, file_name)``: True if the file looks like this format."""
    load: Callable[[Path, LoadOptions], Model]
    """``load(path, options)``: read the file into the IR or raise a ModelportError."""


FRONTENDS: Registry[Frontend] = Registry("frontend")

# Modules that register frontends when imported (kept lazy: importing the registry is cheap).
_FRONTEND_MODULES = (
    "modelport.converters.frontends.xgboost",
    "modelport.converters.frontends.sagemaker",
)


def _load_all() -> None:
    for mod in _FRONTEND_MODULES:
        importlib.import_module(mod)


def all_frontends() -> Registry[Frontend]:
    """The registry with every built-in frontend registered."""
    _load_all()
    return FRONTENDS


def detect_frontend(path: Path) -> Frontend:
    """The frontend whose ``sniff`` accepts the file, or a ModelFormatError."""
    _load_all()
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ModelFormatError(f"cannot read model file {str(path)!r}: {exc.strerror}") from None
    if not head:
        raise ModelFormatError(f"{path.name}: the file is empty")
    for _name, fe in FRONTENDS.items():
        if fe.sniff(head, path.name):
            return fe
    raise ModelFormatError(
        f"{path.name}: not a model format modelport reads (known: {', '.join(FRONTENDS.names())})"
    )


def load_model(path: str | Path, *, frontend: str | None = None, options: LoadOptions | None = None) -> Model:
    """Read a model file into the IR, detecting its format unless ``frontend`` names one."""
    _load_all()
    fe = FRONTENDS.get(frontend) if frontend else detect_frontend(Path(path))
    return fe.load(Path(path), options or LoadOptions())
