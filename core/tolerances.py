"""Named tolerances: when an artifact's output counts as equal to the reference.

Each is an object carrying its reason and how it is derived; verification and the parity
tests use these objects and never a bare number.  Never loosen one to make a test pass: find
the trap (docs/parity-traps.md).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Tolerance", "EXACT", "LABELS", "PROBABILITY", "FLOAT32_ACCUMULATION", "ulps"]


@dataclass(frozen=True)
class Tolerance:
    """When two float32 outputs count as equal: within ``max_ulp`` float32 ULPs, OR within
    ``atol + rtol * |reference|``.  NaN equals NaN; NaN against a number never passes."""

    name: str
    """Short name shown in every report, e.g. ``"onnx-margin"``."""
    atol: float
    """Absolute slack."""
    rtol: float
    """Slack relative to the reference value."""
    max_ulp: int
    """float32 ULPs of slack (0: bit-identical)."""
    reason: str
    """Why this much and no more."""
    derivation: str = ""
    """How the figure was obtained (measured, proven, documented by the format)."""


def ulps(name: str, n: int, reason: str, derivation: str = "") -> Tolerance:
    """A pure ULP tolerance (no absolute or relative slack)."""
    return Tolerance(name, 0.0, 0.0, int(n), reason, derivation)


#: The IR read back from its JSON and run through the same reference evaluator: any
#: difference at all is a serialization bug (the format is lossless, docs/parity-traps.md 12).
EXACT = ulps("exact", 0, "same arithmetic in the same order: must be bit-identical",
             "an exact re-implementation of the evaluator's float operations, in its order")

#: Class labels (multi:softmax, hinge) are integers stored as floats: equal or wrong.
LABELS = ulps("labels", 0, "class labels are exact")

#: Transformed probabilities (sigmoid, softmax) and exp outputs: the final link computed by
#: another library differs by a few float32 ULP ("about 1e-6 relative / 1e-6 absolute for
#: probabilities"; the reference evaluator itself is within 2 ULP of XGBoost).
PROBABILITY = Tolerance("probability", 1e-6, 1e-6, 2,
                        "a link (sigmoid/softmax/exp) computed by another library differs by a few float32 ULP",
                        "measured: XGBoost's own float32 exp is 2 ULP from a correctly rounded one on dart_multiclass")

#: Margins from a runtime that re-implements the float32 sum: XGBoost adds leaves in a fixed
#: order, so an exact re-implementation matches bit for bit (docs/parity-traps.md 11); 1 ULP
#: is the ceiling for a runtime that does not document an exact contract.
FLOAT32_ACCUMULATION = ulps("float32-accumulation", 1,
                            "float32 tree sums in the source's order: at most 1 ULP (docs/parity-traps.md 11)")
