"""Float numerics shared by every part: ULP distance and lossless float literals.

Generated code and text formats (C, Java, PMML, PFA, ...) must carry every threshold and
leaf value without losing a bit (docs/parity-traps.md, trap 12): :func:`float_literal` gives
the decimal text that parses back to the identical float32 or float64.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FLOAT32_UNIT_ROUNDOFF", "ulp_distance", "float_literal", "is_float32_exact"]

#: Unit roundoff of float32 (2**-24): the relative error of one correctly rounded operation.
FLOAT32_UNIT_ROUNDOFF = 2.0 ** -24


def ulp_distance(a, b) -> np.ndarray:
    """float32 ULP distance elementwise (int64); -0.0 and 0.0 are 0 apart; NaNs give -1."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)

    def ordered(x: np.ndarray) -> np.ndarray:
        i = x.view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)  # monotonic in the float's value

    d = np.abs(ordered(a) - ordered(b))
    return np.where(np.isnan(a) | np.isnan(b), -1, d)


def float_literal(x: float, dtype: str = "float32") -> str:
    """Decimal text of ``x`` rounded to ``dtype`` that every correctly rounding parser reads
    back as the identical value, whether it parses straight to float32 (a C ``1.5f``) or to
    float64 first (JavaScript, Python, JSON) and then rounds: the text is the shortest
    round-trip form of the value as a float64, and a float32 value is exactly a float64, so
    neither path can round it elsewhere.  Non-finite values are returned as ``"nan"``,
    ``"inf"`` and ``"-inf"``: each language spells those itself."""
    v = float(np.dtype(dtype).type(x))
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def is_float32_exact(values) -> bool:
    """True when every value is exactly representable as a float32 (NaN and inf count)."""
    arr = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        back = arr.astype(np.float32).astype(np.float64)
    return bool(np.all((back == arr) | (np.isnan(arr) & np.isnan(back))))
