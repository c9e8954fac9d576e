"""The ``pfa`` target's preprocessing cells: each IR step (``core/ir/model.py`` version 2) as
the ``p{i}_{kind}_...`` cells of :mod:`modelport.runtimes._pfa_steps`, numbers as lossless
double literals."""

from __future__ import annotations

import math

import numpy as np

from modelport.core.errors import UnsupportedModelError
from modelport.core.ir.model import Affine, AffineKind, Impute, Lookup, Model, SelectColumns
from modelport.core.numerics import float_literal

__all__ = ["step_kinds", "step_cell_values"]


def _num(v: float, what: str) -> str:
    if not math.isfinite(float(v)):
        raise UnsupportedModelError(f"pfa: a non-finite {what} has no JSON literal")
    return float_literal(float(v), "float64")


def _nums(values, what: str) -> str:
    return "[" + ",".join(_num(v, what) for v in np.asarray(values, np.float64).ravel().tolist()) + "]"


def _ints(values) -> str:
    return "[" + ",".join(str(int(v)) for v in np.asarray(values).ravel().tolist()) + "]"


def _kind(step) -> str:
    if isinstance(step, SelectColumns):
        return "select"
    if isinstance(step, Affine):
        base = "affsd" if step.kind is AffineKind.SUBTRACT_DIVIDE else "affma"
        return base + ("c" if step.clip is not None else "")
    if isinstance(step, Impute):
        return "impnan" if math.isnan(float(step.missing_value)) else "impval"
    if isinstance(step, Lookup):
        return "lookup"
    raise UnsupportedModelError(f"pfa: preprocessing step {type(step).__name__}")


def step_kinds(model: Model) -> tuple[str, ...]:
    """The step kinds of ``model``'s preprocessing, in order."""
    return tuple(_kind(s) for s in model.preprocessing)


def step_cell_values(model: Model) -> dict[str, str]:
    """Cell name -> JSON text of every preprocessing step's data."""
    out: dict[str, str] = {}
    for i, step in enumerate(model.preprocessing):
        kind = _kind(step)
        p = f"p{i}_{kind}_"
        if kind == "select":
            out[p + "src"] = _ints(step.sources)
        elif kind.startswith("aff"):
            out.update({p + "col": _ints(step.columns), p + "off": _nums(step.offset, "offset"),
                        p + "scale": _nums(step.scale, "scale")})
            if step.clip is not None:
                out.update({p + "lo": _num(step.clip[0], "clip bound"), p + "hi": _num(step.clip[1], "clip bound")})
        elif kind.startswith("imp"):
            out.update({p + "col": _ints(step.columns), p + "fill": _nums(step.fill, "fill value")})
            if kind == "impval":
                out[p + "mv"] = _num(step.missing_value, "missing value")
        else:
            table = np.asarray(step.table, np.float64)
            bad = np.isnan(table)
            if np.any(bad.any(axis=1) != bad.all(axis=1)):
                raise UnsupportedModelError("pfa: a lookup table row that is only partly 'scikit-learn raises here'")
            rows = bad.all(axis=1) if table.shape[1] else np.zeros(table.shape[0], bool)
            table = np.where(bad, 0.0, table)
            out.update({p + "col": str(int(step.column)), p + "keys": _nums(step.keys, "lookup key"),
                        p + "table": "[" + ",".join(_nums(r, "table value") for r in table) + "]",
                        p + "bad": "[" + ",".join("true" if b else "false" for b in rows.tolist()) + "]"})
    return out
