"""A compiled tree-walking kernel shared by the PMML and PFA runtimes (ctypes, no Python per row).

The runtimes parse their documents into their own structures and then *lower* them into the
flat node tables of :class:`TreeTables` (:mod:`._tree_kernel_lower`); this module compiles one
fixed C source (:data:`C_SOURCE`, the same for every model: the model is data, not code) with
the system compiler and the flags of :mod:`modelport.runtimes.native.c` (C99, no FMA
contraction, no fast-math), caches the library outside any bundle keyed by source, flags and
compiler (:func:`~modelport.runtimes.native.c.build_library`), and walks a whole batch per call
(ctypes releases the GIL during it).

What the kernel computes is exactly what the numpy paths compute:

* a node holds a three-valued decision (FALSE -> slot 0, UNKNOWN/missing -> slot 1, TRUE ->
  slot 2 of ``next``), with the comparison operator the document states, evaluated in double:
  the runtimes hold float32 inputs and thresholds as float32 values, and a comparison of two
  float32 values is the same in double (the conversion is exact);
* ``KIND_CMP``: ``x op thr`` (PMML's six operators, isMissing, isNotMissing); missing (NaN or
  the sentinel) is UNKNOWN for the six comparisons;
* ``KIND_SET``: ``x`` equal to one of the node's members (PMML SimpleSetPredicate; ``op`` 0
  isIn, 1 isNotIn);
* ``KIND_CAT``: XGBoost categorical split (PFA): ``floor(x)`` in the node's codes, invalid
  codes (< 0 or >= 2**24) go ``invalid_left``;
* a walk advances at most ``depth`` steps (what the numpy paths do: their leaves point to
  themselves);
* sums run tree by tree in document order, in float32 (every ``+=`` rounded, C99 with
  ``FLT_EVAL_METHOD == 0``, no contraction) or in double, from the given start values or from
  the first tree's value (numpy's ``cumsum``), ``leaf * weight`` rounded first for weighted
  trees; the optional double tail (``/ count``, ``+ post``) then one rounding to float32.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from dataclasses import dataclass

import numpy as np

from modelport.core.errors import InputDataError, MissingDependencyError, ModelportError
from modelport.runtimes._tree_kernel_src import C_SOURCE

__all__ = ["C_SOURCE", "KERNELS", "NO_KERNEL", "KIND_LEAF", "KIND_CMP", "KIND_SET", "KIND_CAT", "TreeTables", "TreeKernel",
           "choose_kernel", "compiled_library"]

KERNELS = ("auto", "c", "numpy")
#: The reason given when ``kernel="auto"`` found no usable compiler (the details are logged).
NO_KERNEL = "no compiled kernel (no C compiler, or the build failed: logged)"
KIND_LEAF, KIND_CMP, KIND_SET, KIND_CAT = 0, 1, 2, 3
_LOG = logging.getLogger("modelport.runtimes")

_P = ctypes.c_void_p


class _Model(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int64) for n in ("n_nodes", "n_trees", "n_cols", "n_out", "leaf_dim", "depth")] + \
        [(n, _P) for n in ("kind", "op", "col", "set_lo", "set_hi", "next", "roots", "tree_out",
                           "thr", "members", "value", "tree_w", "init", "count", "post")] + \
        [(n, ctypes.c_int32) for n in ("acc_f32", "has_sentinel", "cat_in_set_left", "cat_invalid_left")] + \
        [("sentinel", ctypes.c_double), ("fast", _P), ("fast_op", ctypes.c_int32), ("c_depth", ctypes.c_int32),
         ("cnodes", _P), ("cvalue", _P)]

#: The fast form's packed node (C ``tk_node``).
_NODE = np.dtype([("thr", "<f8"), ("col", "<i4"), ("nx", "<i4", (3,))], align=True)
#: The complete form's packed node (C ``tk_cnode``).
_CNODE = np.dtype([("thr", "<f8"), ("col", "<i4"), ("dl", "<i4")], align=True)
#: Deepest tree walked in the fast form (every walk takes exactly ``depth`` steps there).
FAST_MAX_DEPTH = 64
#: Deepest tree laid out in the complete form, and the most leaf slots it may take.
COMPLETE_MAX_DEPTH, COMPLETE_MAX_SLOTS = 12, 1 << 22
#: Node layouts (``layout=``): "auto" picks the first that applies of complete, packed, nodes.
LAYOUTS = ("auto", "complete", "packed", "nodes")


@functools.lru_cache(maxsize=4)
def compiled_library(cc: str | None = None) -> ctypes.CDLL:
    """The kernel compiled (once per source, flags and compiler; cached on disk) and loaded."""
    from modelport.runtimes.native.c import build_library

    path = build_library({"model.c": C_SOURCE.encode()}, cc=cc)
    lib = ctypes.CDLL(str(path))
    lib.modelport_tk_scores.argtypes = (_P, _P, ctypes.c_int, ctypes.c_int64, _P)
    lib.modelport_tk_sums.argtypes = (_P, _P, ctypes.c_int, ctypes.c_int64, _P, ctypes.c_int)
    lib.modelport_tk_scores.restype = lib.modelport_tk_sums.restype = ctypes.c_int
    return lib


def choose_kernel(kernel: str, where: str, *, cc: str | None = None) -> ctypes.CDLL | None:
    """The compiled library for ``kernel="c"`` (a missing compiler is an error) or ``"auto"``
    (a missing compiler or a failed build falls back to numpy, logged); None for ``"numpy"``."""
    if kernel not in KERNELS:
        raise InputDataError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    if kernel == "numpy":
        return None
    try:
        return compiled_library(cc)
    except (MissingDependencyError, ModelportError, OSError) as exc:
        if kernel == "c":
            raise
        _LOG.info("%s: numpy tree walk (compiled kernel unavailable: %s)", where, str(exc).splitlines()[0][:200])
        return None


@dataclass
class TreeTables:
    """Flat node tables (see the module docstring); arrays are converted to the kernel's dtypes."""

    kind: np.ndarray
    op: np.ndarray
    col: np.ndarray
    thr: np.ndarray
    next: np.ndarray  # [3 * n_nodes]: FALSE, UNKNOWN, TRUE
    roots: np.ndarray
    value: np.ndarray  # [n_nodes, leaf_dim]
    depth: int
    n_cols: int
    set_lo: np.ndarray | None = None
    set_hi: np.ndarray | None = None
    members: np.ndarray | None = None
    tree_out: np.ndarray | None = None  # scalar leaves: the output each tree adds to
    n_out: int = 1
    sentinel: float | None = None
    cat_in_set_left: bool = False
    cat_invalid_left: bool = True


def _complete(t: TreeTables, value: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The complete form's node and leaf-value tables (see the C source), or None when a
    tree is too deep or a default child is neither child."""
    D, T = int(t.depth), int(t.roots.size)
    if D > COMPLETE_MAX_DEPTH or T * (1 << D) > COMPLETE_MAX_SLOTS:
        return None
    nx = np.asarray(t.next, np.int64).reshape(-1, 3)
    internal = t.kind != KIND_LEAF
    if np.any(internal & (nx[:, 1] != nx[:, 0]) & (nx[:, 1] != nx[:, 2])):
        return None
    thr, dl = np.asarray(t.thr, np.float64), nx[:, 1] == nx[:, 2]
    op = int(np.asarray(t.op)[internal][0]) if internal.any() else 2
    bad = np.isnan(thr) | ((thr == -np.inf) & dl) if op == 2 else np.isnan(thr) | ((thr == np.inf) & ~dl)
    if np.any(internal & bad):  # a missing value would not reach its default child (see the C source)
        return None
    cur = np.asarray(t.roots, np.int64)[:, None]
    levels = []
    for _ in range(D):  # one level of every tree at a time; children interleaved (left, right)
        inn = internal[cur]
        lvl = np.zeros(cur.shape, _CNODE)
        lvl["thr"] = np.where(inn, thr[cur], 0.0)
        lvl["col"] = np.where(inn, np.asarray(t.col)[cur] + np.where(dl[cur], 0, t.n_cols), 0)  # the -inf or the +inf copy
        lvl["dl"] = np.where(inn, dl[cur], 1)
        levels.append(lvl)
        cur = np.stack([np.where(inn, nx[cur, 2], cur), np.where(inn, nx[cur, 0], cur)], axis=2).reshape(T, -1)
    nodes = np.concatenate(levels, axis=1) if levels else np.zeros((T, 0), _CNODE)
    return nodes.reshape(-1), value[cur.reshape(-1)]


class TreeKernel:
    """One lowered ensemble bound to the compiled library."""

    def __init__(self, lib: ctypes.CDLL, t: TreeTables, *, acc_f32: bool, tree_w: np.ndarray | None = None,
                 init: np.ndarray | None = None, count: np.ndarray | None = None, post: np.ndarray | None = None,
                 layout: str = "auto") -> None:
        n = int(t.kind.size)
        if n >= 2**31 - 1 or t.next.size != 3 * n:
            raise ModelportError("tree kernel: node tables too large or inconsistent")
        keep = self._keep = {}

        def arr(name, a, dtype):
            if a is None:
                return None
            keep[name] = np.ascontiguousarray(a, dtype=dtype)
            return keep[name].ctypes.data

        empty_i = np.zeros(n, np.int32)
        m = _Model()
        value = np.asarray(t.value, np.float64).reshape(n, -1)
        m.n_nodes, m.n_trees, m.n_cols, m.n_out, m.leaf_dim, m.depth = n, t.roots.size, t.n_cols, t.n_out, value.shape[1], t.depth
        m.kind, m.op, m.col = arr("kind", t.kind, np.int8), arr("op", t.op, np.int8), arr("col", t.col, np.int32)
        m.set_lo = arr("set_lo", t.set_lo if t.set_lo is not None else empty_i, np.int32)
        m.set_hi = arr("set_hi", t.set_hi if t.set_hi is not None else empty_i, np.int32)
        m.members = arr("members", t.members if t.members is not None else np.zeros(1), np.float64)
        m.next, m.roots = arr("next", t.next, np.int32), arr("roots", t.roots, np.int32)
        m.tree_out = arr("tree_out", t.tree_out, np.int32)
        m.thr, m.value = arr("thr", t.thr, np.float64), arr("value", value, np.float64)
        m.tree_w, m.init = arr("tree_w", tree_w, np.float64), arr("init", init, np.float64)
        m.count, m.post = arr("count", count, np.float64), arr("post", post, np.float64)
        m.acc_f32, m.has_sentinel = int(acc_f32), int(t.sentinel is not None)
        m.sentinel = float(t.sentinel) if t.sentinel is not None else 0.0
        m.cat_in_set_left, m.cat_invalid_left = int(t.cat_in_set_left), int(t.cat_invalid_left)
        internal = t.kind != KIND_LEAF
        ops = np.unique(np.asarray(t.op)[internal])
        fast = bool(np.all(t.kind[internal] == KIND_CMP) and ops.size <= 1 and set(ops.tolist()) <= {2, 3})
        complete = _complete(t, value) if fast and layout in ("auto", "complete") else None
        if layout not in LAYOUTS or (layout == "complete" and complete is None) or (layout == "packed" and not fast):
            raise InputDataError(f"tree kernel: layout {layout!r} does not apply to these trees")
        m.fast_op = int(ops[0]) if ops.size else 2
        if complete is not None:
            m.cnodes, m.cvalue, m.c_depth = arr("cnodes", complete[0], _CNODE), arr("cvalue", complete[1], np.float64), t.depth
        elif fast and layout in ("auto", "packed") and t.depth <= FAST_MAX_DEPTH:
            own = np.arange(n, dtype=np.int32)
            nodes = np.zeros(n, _NODE)
            nodes["thr"] = np.where(internal, t.thr, 0.0)
            nodes["col"] = np.where(internal, t.col, 0)
            nodes["nx"] = np.where(internal[:, None], np.asarray(t.next, np.int64).reshape(n, 3), own[:, None])
            m.fast = arr("fast", nodes, _NODE)
        self.layout = "complete" if m.cnodes else "packed" if m.fast else "nodes"
        self._model, self._lib = m, lib
        self._ref = ctypes.byref(m)
        self.n_trees, self.n_out, self.n_cols = int(t.roots.size), int(t.n_out), int(t.n_cols)

    def _rows(self, X: np.ndarray) -> tuple[np.ndarray, int]:
        if X.ndim != 2 or X.shape[1] != self.n_cols:  # the C code indexes columns without bounds checks
            raise InputDataError(f"tree kernel: expected rows of {self.n_cols} columns, got shape {X.shape}")
        if X.dtype == np.float32:
            return np.ascontiguousarray(X), 1
        return np.ascontiguousarray(X, dtype=np.float64), 0

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Each tree's leaf value, float64 [n, n_trees] (leaf_dim 1)."""
        X, f32 = self._rows(X)
        out = np.empty((X.shape[0], self.n_trees), np.float64)
        if X.shape[0]:
            self._lib.modelport_tk_scores(self._ref, X.ctypes.data, f32, X.shape[0], out.ctypes.data)
        return out

    def sums(self, X: np.ndarray, *, out_dtype=np.float32) -> np.ndarray:
        """The sums per output, [n, n_out] in ``out_dtype`` (float32 or float64)."""
        X, f32 = self._rows(X)
        out = np.empty((X.shape[0], self.n_out), out_dtype)
        if X.shape[0] and self._lib.modelport_tk_sums(self._ref, X.ctypes.data, f32, X.shape[0], out.ctypes.data,
                                                      int(out.dtype == np.float32)):
            raise MemoryError("tree kernel: out of memory")
        return out

    def row_function(self, in_dtype) -> tuple[np.ndarray, np.ndarray, functools.partial]:
        """``(x, out, call)``: fill the preallocated row ``x`` (``in_dtype``), ``call()``, read
        the float32 sums in ``out``; no allocation or conversion per call."""
        x = np.zeros(max(1, self.n_cols), dtype=np.dtype(in_dtype))
        out = np.zeros(self.n_out, np.float32)
        fn = self._lib["modelport_tk_sums"]  # a fresh function object: no per-call argtype conversion
        fn.restype = ctypes.c_int
        call = functools.partial(fn, self._ref, ctypes.c_void_p(x.ctypes.data), ctypes.c_int(int(x.dtype == np.float32)),
                                 ctypes.c_int64(1), ctypes.c_void_p(out.ctypes.data), ctypes.c_int(1))
        self._keep["row"] = (x, out)
        return x, out, call
