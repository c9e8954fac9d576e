"""The ``ir`` target: the IR's own versioned JSON form (``*.ir.json``).

Its runtime is the reference evaluator itself (:mod:`modelport.runtimes.ir`), so a round
trip through this format must be bit-identical (tolerance ``EXACT``).
"""

from __future__ import annotations

from pathlib import Path

from modelport.core.ir.model import CONSTRUCTS, Model
from modelport.core.ir.serialize import save
from modelport.converters.targets import TARGETS, Target, WriteOptions
from modelport.core.tolerances import EXACT

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
        runtime="ir",
        margin_tolerance=EXACT,
        link_tolerance=EXACT,
        supports=frozenset(CONSTRUCTS),
    ),
)
