"""Lowering the PMML and PFA runtimes' parsed trees into :class:`~._tree_kernel.TreeTables`.

Each function returns the kernel, or None and the reason the document (or one of its tree
batches) stays on the numpy walk; the runtimes log the reason.  Nothing here changes a
result: the tables say exactly what the numpy paths evaluate (same operator, same
thresholds, same missing direction, same sum order and precision).
"""

from __future__ import annotations

import ctypes

import numpy as np

from modelport.runtimes._tree_kernel import KIND_CAT, KIND_CMP, KIND_LEAF, KIND_SET, TreeKernel, TreeTables

__all__ = ["lower_pfa", "lower_pmml_batch", "pmml_aggregate", "AGGREGATES"]

#: PMML Segmentation methods the kernel sums itself when the segments are one tree batch.
AGGREGATES = ("sum", "weightedSum", "average", "weightedAverage")
_K_SIMPLE, _K_SET = 2, 3  # _pmml_trees.K_SIMPLE / K_SET (not imported: the tables are read by value)


def _ranges(owner: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi) of each node 0..n-1 in the sorted ``owner`` array."""
    ids = np.arange(n)
    return np.searchsorted(owner, ids, "left"), np.searchsorted(owner, ids, "right")


def lower_pfa(program, lib: ctypes.CDLL, *, layout: str = "auto") -> tuple[TreeKernel | None, str]:
    """The kernel computing a PFA :class:`~._pfa_engine.Program`'s margins, or (None, why)."""
    lay = program.lay
    if lay.margin == "linear":
        return None, "a linear booster has no trees"
    n = int(program.feature.size)
    nx = program.next4.reshape(n, 4).astype(np.int64)
    own = np.arange(n)
    internal = ~((nx[:, 0] == own) & (nx[:, 1] == own))
    kind = np.where(internal, KIND_CMP, KIND_LEAF).astype(np.int8)
    extra: dict = {}
    if program.cat_keys is not None:
        kind[internal & program.is_cat] = KIND_CAT
        keys = program.cat_keys
        lo, hi = _ranges(keys >> 25, n)
        extra = dict(set_lo=lo, set_hi=hi, members=(keys & ((1 << 25) - 1)).astype(np.float64),
                     cat_in_set_left=program.cat_in_set_left, cat_invalid_left=program.cat_invalid_left)
    k = program.n_outputs
    tables = TreeTables(kind=kind, op=np.full(n, 2 if lay.cmp == "<" else 3, np.int8), col=program.feature,
                        thr=program.threshold.astype(np.float64), next=nx[:, [0, 2, 1]].ravel(), roots=program.roots,
                        value=program.value.astype(np.float64), depth=program.depth, n_cols=lay.n_features,
                        tree_out=None if lay.vector else program.tree_output, n_out=k, sentinel=program.sentinel, **extra)
    if lay.vector and program.value.shape[1] != k:
        return None, f"vector leaves of width {program.value.shape[1]} for {k} outputs"
    if lay.margin in ("sum32", "dart32"):
        w = program.tree_weight if lay.margin == "dart32" else None
        return TreeKernel(lib, tables, acc_f32=True, tree_w=w, init=program.base, layout=layout), ""
    count = program.count if lay.margin == "wide_avg" else None
    return TreeKernel(lib, tables, acc_f32=False, init=np.zeros(k), count=count, post=program.base, layout=layout), ""


def lower_pmml_batch(batch, lib: ctypes.CDLL, *, math: str, method: str, weights: list[float],
                     layout: str = "auto") -> tuple[TreeKernel | None, str]:
    """The kernel for one PMML :class:`~._pmml_trees.TreeBatch` (its per-tree scores, and
    its ``method`` aggregate in ``math`` precision), or (None, why)."""
    if batch.fast_next is None:
        return None, "trees outside the binary-split form (multiway splits, compound predicates or a last/null-prediction strategy)"
    P = batch.preds
    internal = batch.kid_count_a > 0
    pid = batch.fast_pred
    pk = P.kind_a[pid]
    kind = np.where(internal, np.where(pk == _K_SET, KIND_SET, KIND_CMP), KIND_LEAF).astype(np.int8)
    if np.any(internal & (pk != _K_SET) & (pk != _K_SIMPLE)):
        return None, "a split predicate other than SimplePredicate or SimpleSetPredicate"
    extra: dict = {}
    if np.any(kind == KIND_SET):
        mp = np.array([p for p, _ in P.set_members], np.int64)
        mv = np.array([v for _, v in P.set_members], np.float64)
        keep = ~np.isnan(mv)  # NaN equals nothing
        mp, mv = mp[keep], mv[keep]
        order = np.lexsort((mv, mp))
        mp, mv = mp[order], mv[order]
        lo = np.searchsorted(mp, pid, "left")
        hi = np.searchsorted(mp, pid, "right")
        sets = kind == KIND_SET
        extra = dict(set_lo=np.where(sets, lo, 0), set_hi=np.where(sets, hi, 0), members=mv if mv.size else np.zeros(1))
    T = int(batch.roots_a.size)
    if T == 0:
        return None, "an empty tree batch"
    ncol = max(1, len(P.fields))
    tables = TreeTables(kind=kind, op=np.where(internal, P.op_a[pid], 0).astype(np.int8), col=np.where(internal, P.col_a[pid], 0),
                        thr=np.where(internal, P.value_a[pid], 0.0), next=batch.fast_next, roots=batch.roots_a,
                        value=batch.score_a, depth=int(batch.depth), n_cols=ncol, tree_out=np.zeros(T, np.int32), n_out=1, **extra)
    w = np.asarray(weights, np.float64) if method.startswith("weighted") and len(weights) == T else None
    return TreeKernel(lib, tables, acc_f32=math == "float", tree_w=w, layout=layout), ""


def pmml_aggregate(kernel: TreeKernel, X: np.ndarray, *, math: str, method: str, weights: list[float]) -> np.ndarray:
    """A one-batch Segmentation's result as ``_pmml_eval._sum`` computes it (float64 [n]): the
    kernel's sequential sum in ``math`` precision, then the average's division."""
    dt = np.float32 if math == "float" else np.float64
    acc = kernel.sums(X, out_dtype=np.float64)[:, 0].astype(dt)
    with np.errstate(all="ignore"):
        if method == "average":
            acc = (acc / dt(kernel.n_trees)).astype(dt)
        elif method == "weightedAverage":
            acc = (acc / dt(sum(weights))).astype(dt)
    return acc.astype(np.float64)
