"""Reading rows for ``--data``: a numeric CSV, header optional, empty cells as NaN.

Errors are one-line :class:`~modelport.core.errors.InputDataError` naming the file, line and
column, never a traceback.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from modelport.core.errors import InputDataError

__all__ = ["read_rows"]


def _number(cell: str) -> float | None:
    """The cell as a float (empty → NaN), or None if it is not a number."""
    cell = cell.strip()
    if not cell:
        return math.nan
    try:
        return float(cell)
    except ValueError:
        return None


def read_rows(path: str | Path, *, feature_names: tuple[str, ...], dtype=np.float32) -> np.ndarray:
    """``dtype`` rows ``[n, len(feature_names)]`` from a CSV file (each cell parsed to
    float64 and rounded once to ``dtype``: float64 keeps the text's value for models that
    compare in float64).

    A first line that is not all numbers is a header: its names must be the model's features
    (any order; the columns are reordered to the model's order).  Without a header the file
    must have exactly one column per feature, in the model's order.
    """
    path = Path(path)
    n_features = len(feature_names)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            lines = list(csv.reader(fh))
    except OSError as exc:
        raise InputDataError(f"cannot read data file {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputDataError(f"{path.name}: not UTF-8 text") from None
    except csv.Error as exc:
        raise InputDataError(f"{path.name}: malformed CSV: {exc}") from None
    lines = [(i + 1, row) for i, row in enumerate(lines) if row and any(c.strip() for c in row)]
    if not lines:
        raise InputDataError(f"{path.name}: no rows")
    order = list(range(n_features))
    first_line, first = lines[0]
    if any(_number(c) is None for c in first):
        header = [c.strip() for c in first]
        missing = [n for n in feature_names if n not in header]
        if missing or len(header) != n_features:
            extra = [h for h in header if h not in feature_names]
            if header and not header[0].strip() and len(header) == n_features + 1:
                raise InputDataError(f"{path.name}: the first column has no name: a row index (pandas writes one "
                                     "unless to_csv(index=False))? write the file without it")
            raise InputDataError(
                f"{path.name}: header does not match the model's {n_features} features"
                + (f" (missing: {', '.join(missing[:5])})" if missing else "")
                + (f" (unknown: {', '.join(extra[:5])})" if extra else ""))
        order = [header.index(n) for n in feature_names]
        lines = lines[1:]
        if not lines:
            raise InputDataError(f"{path.name}: a header but no rows")
    out = np.empty((len(lines), n_features), dtype=np.float64)
    for r, (line_no, row) in enumerate(lines):
        if len(row) != n_features:
            raise InputDataError(f"{path.name} line {line_no}: {len(row)} columns, the model has {n_features} features")
        for c, src in enumerate(order):
            v = _number(row[src])
            if v is None:
                raise InputDataError(f"{path.name} line {line_no} column {src + 1}: {row[src].strip()[:30]!r} is not a number")
            out[r, c] = v
    return out.astype(dtype)
