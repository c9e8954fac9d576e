"""The ``ir`` target: the IR's own versioned JSON form (``*.ir.json``).

No runtime executes it; :mod:`modelport.core.ir.evaluate` (the reference evaluator)
reads it back through :func:`modelport.core.ir.serialize.load`.
"""

from __future__ import annotations

from pathlib import Path

from modelport.core.ir.model import Model
from modelport.core.ir.serialize import save
from modelport.converters.targets import TARGETS, Target, WriteOptions

__all__ = ["write_ir"]


def write_ir(model: Model, out_path: Path, options: WriteOptions) -> None:
    """Write ``model`` as IR JSON to ``out_path`` (lossless; see docs/ir.md)."""
    save(model, out_path)


TARGETS.register(
    "ir",
    Target(
        name="ir",
        extension=".ir.json",
        description="modelport's intermediate representation as versioned JSON (lossless, bit-exact floats)",
        write=write_ir,
        runtime=None,
    ),
)
