"""Large C tables as one string literal instead of a brace initializer.

A compiler parses a brace initializer of a million structs slowly (gcc: about 10 s of CPU for
the 2,000-tree depth-10 benchmark model) but lexes a string literal of the same bytes in about
a second.  Tables larger than :data:`BLOB_MIN_ELEMENTS` elements are therefore written as::

    static const union { unsigned char b[N]; T v[N / sizeof(T)]; } name_u = { "\\001..." };
    #define name (name_u.v)

The bytes are the little-endian IEEE-754 / two's-complement image numpy gives; the code
refuses to compile on a big-endian target (``#error``) and checks ``sizeof(T)`` at compile
time, so a layout mismatch cannot go unnoticed.  Small tables keep readable initializers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["BLOB_MIN_ELEMENTS", "FORCE", "table", "ENDIAN_GUARD"]

#: Tables with at least this many elements are written as string literals.
BLOB_MIN_ELEMENTS = 50_000

#: Emitted once before any blob table.
ENDIAN_GUARD = ("#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__\n"
                "#error \"this model stores its large tables little-endian (see docs/native.md)\"\n"
                "#endif\n")

# Printable ASCII passes through except the quote, the backslash and '?' (trigraphs); every
# other byte is a 3-digit octal escape (never greedy: at most 3 digits are read).
_LUT = np.array([f"\\{b:03o}" if not (32 <= b < 127) or chr(b) in '"\\?' else chr(b) for b in range(256)], dtype=object)
_PER_LINE = 64


#: Set by tests to force (True) or forbid (False) string-literal tables regardless of size.
FORCE: bool | None = None


def table(name: str, ctype: str, n: int, items: Callable[[], list[str]], image: Callable[[], np.ndarray],
          *, empty: str = "0") -> str:
    """C for ``static const ctype name[n]``: a brace initializer of ``items()`` (C literals),
    or for large tables a string literal of ``image()`` (a numpy array whose bytes are exactly
    the C objects' representation; a structured dtype for structs).  Only the form used is
    built."""
    big = FORCE if FORCE is not None else n >= BLOB_MIN_ELEMENTS
    if not big or n == 0:
        return f"static const {ctype} {name}[{max(1, n)}] = {{\n" + ",\n".join(items() or [empty]) + "\n};\n"
    raw = np.ascontiguousarray(image())
    data = np.frombuffer(raw.tobytes(), dtype=np.uint8)
    size = data.size // n
    pieces = _LUT[data]  # one C spelling per byte, then 64 bytes per source line
    lines = ['"' + "".join(pieces[k:k + _PER_LINE].tolist()) + '"' for k in range(0, pieces.size, _PER_LINE)]
    return (f"typedef char {name}_size_check[(sizeof({ctype}) == {size}) ? 1 : -1];\n"
            f"static const union {{ unsigned char b[{data.size}]; {ctype} v[{n}]; }} {name}_u = {{\n"
            + "\n".join(lines) + "\n};\n"
            f"#define {name} ({name}_u.v)\n")
