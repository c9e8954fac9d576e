"""Targets: one per artifact format, each writing from the IR.

Each target module registers itself in :data:`TARGETS`.  The registry drives the CLI's
``--to`` choices, the docs' support table and the parity matrix.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

from modelport.core.ir.model import CONSTRUCTS, Model, constructs
from modelport.core.registry import Registry
from modelport.core.tolerances import FLOAT32_ACCUMULATION, Tolerance
from modelport.core.toolchains import Toolchain

__all__ = ["TARGETS", "Target", "WriteOptions", "all_targets", "FILE", "BUNDLE"]

#: ``Target.artifact`` values: one file, or a bundle (a directory with a manifest,
#: written with :func:`modelport.core.contract.write_manifest`).
FILE = "file"
BUNDLE = "bundle"


#: The ``WriteOptions.code_shape`` values.
CODE_SHAPES = ("auto", "unrolled", "arrays")


@dataclass(frozen=True)
class WriteOptions:
    """Options for writing an artifact from the IR (format-specific choices live here as
    typed, keyword-only fields with defaults)."""

    code_shape: str = "auto"
    """Generated code (the native targets): ``"unrolled"`` if/else per tree (fastest for small
    models), ``"arrays"`` node tables walked by a small loop (compact; compiles in seconds for
    10,000 trees), or ``"auto"`` to choose by model size."""

    def __post_init__(self) -> None:
        if self.code_shape not in CODE_SHAPES:
            from modelport.core.errors import UsageError

            raise UsageError(f"code_shape must be one of {', '.join(CODE_SHAPES)}, got {self.code_shape!r}")




@dataclass(frozen=True)
class Target:
    """A registered artifact format: everything convert and verify need to know about it,
    declared here so that nothing introspects the target's module."""

    name: str
    """Registry key and the CLI's ``--to`` value, e.g. ``"onnx"``."""
    extension: str
    """Name ending of the artifact, e.g. ``".onnx"``; for a bundle, of its directory
    (e.g. ``".c"`` gives ``model.c/``)."""
    description: str
    """One line for the docs' support table."""
    write: Callable[[Model, Path, WriteOptions], None]
    """``write(model, out_path, options)``: write the artifact (a file, or for a bundle a
    directory that ``write`` creates, ending with its manifest) or raise a ModelportError
    (UnsupportedModelError for anything it cannot express exactly)."""
    runtime: str | None
    """Name of the runtime (in :mod:`modelport.runtimes`) that executes the artifact, or
    None when none does (then the artifact is written unverified, and says so)."""
    margin_tolerance: Tolerance = FLOAT32_ACCUMULATION
    """What the runtime's margins are held to against the reference evaluator."""
    link_tolerance: Tolerance | None = None
    """What transformed outputs (sigmoid/softmax/exp) of artifacts modelport wrote itself are
    held to; None: the general PROBABILITY tolerance."""
    artifact: str = FILE
    """``FILE`` or ``BUNDLE``."""
    toolchain: tuple[Toolchain, ...] = ()
    """External programs the runtime needs to run the artifact (checked before verifying)."""
    supports: frozenset[str] = frozenset()
    """The optional IR constructs (keys of :data:`modelport.core.ir.model.CONSTRUCTS`:
    preprocessing steps, float64 linear models, nominal features) the target expresses
    exactly.  A model using any other is refused by :meth:`check_supported` before
    anything is written; ``write`` runs that check itself."""

    def __post_init__(self) -> None:
        unknown = set(self.supports) - set(CONSTRUCTS)
        if unknown:
            raise ValueError(f"target {self.name}: unknown construct(s) {sorted(unknown)}")
        write = self.write
        if getattr(write, "_checks_constructs", False):  # dataclasses.replace: wrap the original anew
            write = write.__wrapped__

        @functools.wraps(write)
        def checked_write(model: Model, out_path: Path, options: WriteOptions) -> None:
            self.check_supported(model)
            write(model, out_path, options)

        checked_write._checks_constructs = True  # type: ignore[attr-defined]
        object.__setattr__(self, "write", checked_write)

    def check_supported(self, model: Model) -> None:
        """Raise a one-line UnsupportedModelError naming the first construct of ``model``
        this target does not express (nothing is written)."""
        missing = sorted(constructs(model) - set(self.supports))
        if missing:
            from modelport.core.errors import UnsupportedModelError

            name = missing[0]
            raise UnsupportedModelError(f"the {self.name} target cannot express {name} ({CONSTRUCTS[name]}) exactly; "
                                        "convert to 'ir', which expresses every construct")

    @property
    def is_bundle(self) -> bool:
        """True when the artifact is a directory with a manifest."""
        return self.artifact == BUNDLE


TARGETS: Registry[Target] = Registry("target")

_TARGET_MODULES = (
    "modelport.converters.targets.ir",
    "modelport.converters.targets.onnx",
    "modelport.converters.targets.native.c",
    "modelport.converters.targets.native.python",
    "modelport.converters.targets.pfa",
    "modelport.converters.targets.pmml",
    "modelport.converters.targets.native.java",
    "modelport.converters.targets.native.javascript",
    "modelport.converters.targets.native.go",
    "modelport.converters.targets.native.rust",
)


def all_targets() -> Registry[Target]:
    """The registry with every built-in target registered."""
    for mod in _TARGET_MODULES:
        importlib.import_module(mod)
    return TARGETS
