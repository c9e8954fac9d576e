"""Preprocessing steps (scikit-learn pipelines) as part of a native :class:`.lower.Plan`.

The plan keeps each IR step's numbers only (column indices, offsets, scales, fills, lookup keys
and tables): category names never reach a plan, so they never reach generated code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelport.core.errors import UnsupportedModelError
from modelport.core.ir.model import Affine, AffineKind, Impute, Lookup, Model, SelectColumns

__all__ = ["StepPlan", "lower_steps"]


@dataclass(frozen=True, eq=False)
class StepPlan:
    """One preprocessing step of a ``"linear64"`` plan, on a float64 buffer of ``width_in``
    columns giving ``width_out`` columns (semantics: ``core/ir/evaluate.py`` ``_apply_step``).

    ``"select"``: ``out[i] = in[columns[i]]``.  ``"affine"``: for each k, column ``columns[k]``
    becomes ``(v - offset[k]) / scale[k]`` (``affine_kind == "subtract_divide"``) or
    ``v * scale[k] + offset[k]`` (``"multiply_add"``), each operation rounded (no fused
    multiply-add), then, when ``clip`` is set, ``if v < lo: v = lo; if v > hi: v = hi`` (NaN
    stays NaN, as numpy's clip).  ``"impute"``: column ``columns[k]`` becomes ``fill[k]`` when it
    is NaN (``missing_value`` None) or equals ``missing_value``.  ``"lookup"``: column
    ``columns[0]`` is replaced by ``table.shape[1]`` columns, the table row ``r``: NaN gives
    ``K + 1``, else the first ``i`` with ``value == keys[i]``, else ``K`` (unknown)."""

    kind: str
    width_in: int
    width_out: int
    columns: np.ndarray
    """int64: select sources, or the affected columns (one for a lookup)."""
    offset: np.ndarray | None = None
    scale: np.ndarray | None = None
    affine_kind: str = ""
    clip: tuple[float, float] | None = None
    fill: np.ndarray | None = None
    missing_value: float | None = None
    keys: np.ndarray | None = None
    table: np.ndarray | None = None



def lower_steps(model: Model, width: int) -> tuple[StepPlan, ...]:
    """The preprocessing steps of ``model`` as :class:`StepPlan` s; ``width`` is the booster's
    input width they must end with (UnsupportedModelError otherwise)."""
    steps, cur = [], model.n_features
    for st in model.preprocessing:
        if isinstance(st, SelectColumns):
            src = np.asarray(st.sources, np.int64).reshape(-1)
            sp = StepPlan("select", cur, int(src.size), src)
        elif isinstance(st, Affine):
            clip = None if st.clip is None else (float(st.clip[0]), float(st.clip[1]))
            sp = StepPlan("affine", cur, cur, np.asarray(st.columns, np.int64).reshape(-1),
                          offset=np.asarray(st.offset, np.float64).reshape(-1),
                          scale=np.asarray(st.scale, np.float64).reshape(-1),
                          affine_kind="subtract_divide" if st.kind is AffineKind.SUBTRACT_DIVIDE else "multiply_add",
                          clip=clip)
        elif isinstance(st, Impute):
            mv = None if np.isnan(st.missing_value) else float(st.missing_value)
            sp = StepPlan("impute", cur, cur, np.asarray(st.columns, np.int64).reshape(-1),
                          fill=np.asarray(st.fill, np.float64).reshape(-1), missing_value=mv)
        elif isinstance(st, Lookup):
            table = np.asarray(st.table, np.float64)
            sp = StepPlan("lookup", cur, cur + int(table.shape[1]) - 1, np.asarray([st.column], np.int64),
                          keys=np.asarray(st.keys, np.float64).reshape(-1), table=table)
        else:
            raise UnsupportedModelError(f"preprocessing step {type(st).__name__} cannot be written as native code")
        if sp.columns.size and (sp.columns.min() < 0 or sp.columns.max() >= cur):
            raise UnsupportedModelError(f"a {sp.kind} step reads a column outside its {cur} inputs")
        steps.append(sp)
        cur = sp.width_out
    if cur != width:
        raise UnsupportedModelError(f"the preprocessing steps give {cur} columns, the booster reads {width}")
    return tuple(steps)
