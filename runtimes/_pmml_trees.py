"""Vectorised evaluation of PMML TreeModels: every (row, tree) pair advances one level per
numpy step, never a per-row Python walk.

Predicates are compiled into one flat table (:class:`Predicates`) and evaluated for arrays of
(predicate, row) pairs in PMML's three-valued logic, coded FALSE=0, UNKNOWN=1, TRUE=2 so
that ``and`` is the minimum and ``or`` the maximum (Kleene logic, PMML 4.4 "Predicates").
Supported: True, False, SimplePredicate (all operators), SimpleSetPredicate (numeric
arrays), CompoundPredicate (and, or, xor, surrogate).  Tree nodes follow PMML's rules: the
first child whose predicate is TRUE is taken; an UNKNOWN predicate triggers
``missingValueStrategy`` (defaultChild, none, lastPrediction, nullPrediction); no TRUE
child triggers ``noTrueChildStrategy``.  A null prediction is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from modelport.core.errors import ModelFormatError, UnsupportedModelError

__all__ = ["Predicates", "TreeBatch", "FALSE", "UNKNOWN", "TRUE", "MISSING_STRATEGIES", "NO_TRUE_CHILD"]

FALSE, UNKNOWN, TRUE = 0, 1, 2
K_TRUE, K_FALSE, K_SIMPLE, K_SET, K_COMPOUND = range(5)
OPS = {"equal": 0, "notEqual": 1, "lessThan": 2, "lessOrEqual": 3, "greaterThan": 4, "greaterOrEqual": 5,
       "isMissing": 6, "isNotMissing": 7}
BOOL_OPS = {"and": 0, "or": 1, "xor": 2, "surrogate": 3}
MISSING_STRATEGIES = {"none": 0, "defaultChild": 1, "lastPrediction": 2, "nullPrediction": 3}
NO_TRUE_CHILD = {"returnNullPrediction": 0, "returnLastPrediction": 1}
MAX_COMPOUND_DEPTH = 32
#: (row, tree) pairs walked at once; bounds the evaluator's working memory (~100 MB).
CHUNK_PAIRS = 1 << 21


@dataclass
class Predicates:
    """Flat predicate table; ``fields`` are the batch's column names (indices into its matrix)."""

    fields: list[str] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    col: list[int] = field(default_factory=list)
    op: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    sub_start: list[int] = field(default_factory=list)
    sub_count: list[int] = field(default_factory=list)
    subs: list[int] = field(default_factory=list)
    set_members: list[tuple[int, float]] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)

    def _col(self, name: str) -> int:
        try:
            return self.fields.index(name)
        except ValueError:
            self.fields.append(name)
            return len(self.fields) - 1

    def add(self, kind: int, *, col: int = 0, op: int = 0, value: float = 0.0, subs: list[int] | None = None,
            depth: int = 0) -> int:
        """Append one predicate; returns its id."""
        self.kind.append(kind)
        self.col.append(col)
        self.op.append(op)
        self.value.append(value)
        self.sub_start.append(len(self.subs))
        self.sub_count.append(len(subs or ()))
        self.subs.extend(subs or ())
        self.depth.append(depth)
        return len(self.kind) - 1

    def freeze(self) -> None:
        """Turn the lists into numpy arrays (called once, after the last tree is added)."""
        self.kind_a = np.array(self.kind, np.int8)
        self.col_a = np.array(self.col, np.int64)
        self.op_a = np.array(self.op, np.int8)
        self.value_a = np.array(self.value, np.float64)
        self.sub_start_a = np.array(self.sub_start, np.int64)
        self.sub_count_a = np.array(self.sub_count, np.int64)
        self.subs_a = np.array(self.subs, np.int64)
        vals = np.array(sorted({v for _, v in self.set_members}), np.float64)
        self.set_values = vals
        keys = [p * (vals.size + 1) + int(np.searchsorted(vals, v)) for p, v in self.set_members]
        self.set_keys = np.unique(np.array(keys, np.int64))
        self.has_compound = bool(np.any(self.kind_a == K_COMPOUND))

    def evaluate(self, pids: np.ndarray, rows: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Three-valued results (int8) of predicates ``pids`` on matrix rows ``rows``."""
        kind = self.kind_a[pids]
        out = np.full(pids.shape, TRUE, np.int8)
        out[kind == K_FALSE] = FALSE
        sel = np.flatnonzero(kind == K_SIMPLE)
        if sel.size:
            p = pids[sel]
            x = X[rows[sel], self.col_a[p]]
            v = self.value_a[p]
            op = self.op_a[p]
            miss = np.isnan(x)
            with np.errstate(invalid="ignore"):
                r = np.select([op == 0, op == 1, op == 2, op == 3, op == 4, op == 5],
                              [x == v, x != v, x < v, x <= v, x > v, x >= v], default=False)
            res = np.where(r, TRUE, FALSE).astype(np.int8)
            res[miss] = UNKNOWN
            res[op == 6] = np.where(miss[op == 6], TRUE, FALSE)
            res[op == 7] = np.where(miss[op == 7], FALSE, TRUE)
            out[sel] = res
        sel = np.flatnonzero(kind == K_SET)
        if sel.size:
            p = pids[sel]
            x = X[rows[sel], self.col_a[p]]
            miss = np.isnan(x)
            vals = self.set_values
            rank = np.searchsorted(vals, x)
            found = (rank < vals.size) & (vals[np.minimum(rank, max(vals.size - 1, 0))] == x) if vals.size else np.zeros(x.shape, bool)
            key = p * (vals.size + 1) + rank
            pos = np.minimum(np.searchsorted(self.set_keys, key), max(self.set_keys.size - 1, 0))
            member = found & (self.set_keys[pos] == key) if self.set_keys.size else np.zeros(x.shape, bool)
            is_in = self.op_a[p] == 0
            res = np.where(member == is_in, TRUE, FALSE).astype(np.int8)
            res[miss] = UNKNOWN
            out[sel] = res
        if self.has_compound:
            sel = np.flatnonzero(kind == K_COMPOUND)
            if sel.size:
                out[sel] = self._compound(pids[sel], rows[sel], X)
        return out

    def _compound(self, pids: np.ndarray, rows: np.ndarray, X: np.ndarray) -> np.ndarray:
        counts = self.sub_count_a[pids]
        starts = self.sub_start_a[pids]
        group = np.repeat(np.arange(pids.size), counts)
        within = np.arange(group.size) - np.repeat(np.cumsum(counts) - counts, counts)
        sub_ids = self.subs_a[starts[group] + within]
        sub_res = self.evaluate(sub_ids, rows[group], X)  # nesting depth checked at compile time
        op = self.op_a[pids]
        out = np.full(pids.shape, UNKNOWN, np.int8)
        first = np.cumsum(counts) - counts
        nonempty = counts > 0
        mn = np.full(pids.shape, TRUE, np.int8)
        mx = np.full(pids.shape, FALSE, np.int8)
        if group.size:
            mn[nonempty] = np.minimum.reduceat(sub_res, first[nonempty])
            mx[nonempty] = np.maximum.reduceat(sub_res, first[nonempty])
        out = np.where(op == 0, mn, out)
        out = np.where(op == 1, mx, out)
        if np.any(op == 2):
            unknown = np.zeros(pids.shape, bool)
            np.logical_or.at(unknown, group, sub_res == UNKNOWN)
            trues = np.bincount(group, weights=(sub_res == TRUE), minlength=pids.size).astype(np.int64)
            xor = np.where(unknown, UNKNOWN, np.where(trues % 2 == 1, TRUE, FALSE)).astype(np.int8)
            out = np.where(op == 2, xor, out)
        if np.any(op == 3):
            sur = np.full(pids.shape, UNKNOWN, np.int8)
            for k in range(int(counts.max())):
                idx = np.flatnonzero((counts > k) & (sur == UNKNOWN))
                sur[idx] = sub_res[first[idx] + k]
            out = np.where(op == 3, sur, out)
        return out


@dataclass
class TreeBatch:
    """Many TreeModels flattened into global node arrays; ``evaluate`` returns [n, n_trees]."""

    preds: Predicates = field(default_factory=Predicates)
    roots: list[int] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    pred_of: list[int] = field(default_factory=list)
    kid_start: list[int] = field(default_factory=list)
    kid_count: list[int] = field(default_factory=list)
    default_child: list[int] = field(default_factory=list)
    missing_strategy: list[int] = field(default_factory=list)
    no_true_child: list[int] = field(default_factory=list)
    depth: int = 0
    score_dtype: str = "float64"

    def freeze(self) -> None:
        """Arrays from the lists; the depth bounds the number of level steps."""
        self.preds.freeze()
        for name in ("roots", "pred_of", "kid_start", "kid_count", "default_child", "missing_strategy", "no_true_child"):
            setattr(self, name + "_a", np.array(getattr(self, name), np.int64))
        self.score_a = np.array(self.score, np.float64)
        self.max_kids = int(max(self.kid_count, default=0))
        self.fast_next = None
        self._build_fast()

    def _build_fast(self) -> None:
        """The binary-split fast path: every internal node has a split child and a ``<True/>``
        child, the roots are ``<True/>``, and UNKNOWN goes to ``defaultChild`` (or, with
        strategy ``none``, on to the ``<True/>`` child).  Then one predicate per node decides
        a slot (FALSE: second child, UNKNOWN: default, TRUE: first child) in a [node, 3]
        table where leaves point to themselves, and every pair advances without compaction,
        as the reference evaluator does."""
        kc, ks, kinds, pof = self.kid_count_a, self.kid_start_a, self.preds.kind_a, self.pred_of_a
        n = kc.size
        own = np.arange(n, dtype=np.int64)
        internal = kc > 0
        if not n or np.any(internal & (kc != 2)) or np.any(kinds[pof[self.roots_a]] != K_TRUE):
            return
        left, right = np.where(internal, ks, own), np.where(internal, ks + 1, own)
        if np.any(kinds[pof[right[internal]]] != K_TRUE):
            return
        split = pof[left[internal]]
        if np.any((kinds[split] != K_SIMPLE) & (kinds[split] != K_SET)):
            return
        ms = self.missing_strategy_a
        if np.any(internal & (ms != 0) & (ms != 1)):
            return
        dflt = np.where(ms == 1, self.default_child_a, right)
        if np.any(internal & (dflt < 0)):
            return
        dflt = np.where(internal, dflt, own)
        self.fast_next = np.stack([right, dflt, left], axis=1).ravel()
        true_pred = int(pof[self.roots_a[0]])
        self.fast_pred = np.where(internal, pof[left], true_pred)
        ops = np.unique(self.preds.op_a[split])
        self.fast_op = int(ops[0]) if ops.size == 1 and ops[0] in (2, 3, 4, 5) and np.all(kinds[split] == K_SIMPLE) else -1
        self.fast_col = np.where(internal, self.preds.col_a[self.fast_pred], 0)
        self.fast_val = np.where(internal, self.preds.value_a[self.fast_pred], np.nan)

    def _evaluate_fast(self, X: np.ndarray) -> np.ndarray:
        n, t = X.shape[0], len(self.roots)
        ncol = X.shape[1]
        rows = np.repeat(np.arange(n, dtype=np.int64), t)
        row_base = rows * ncol
        Xf = np.ascontiguousarray(X).ravel()
        node = np.tile(self.roots_a, n)
        op, nxt = self.fast_op, self.fast_next
        for _ in range(self.depth):
            if op >= 0:
                x = Xf[row_base + self.fast_col[node]]
                v = self.fast_val[node]
                with np.errstate(invalid="ignore"):
                    hit = (x < v) if op == 2 else (x <= v) if op == 3 else (x > v) if op == 4 else (x >= v)
                slot = hit.view(np.int8) << 1
                slot[np.isnan(x)] = 1
            else:
                slot = self.preds.evaluate(self.fast_pred[node], rows, X)
            node = nxt[node * 3 + slot]
        return self.score_a[node].reshape(n, t)

    def evaluate(self, X: np.ndarray) -> np.ndarray:
        """Scores [n_rows, n_trees] (float64; NaN where a tree returns a null prediction),
        in row chunks of at most :data:`CHUNK_PAIRS` (row, tree) pairs to bound memory."""
        t = max(1, len(self.roots))
        step = max(1, CHUNK_PAIRS // t)
        if X.shape[0] <= step:
            return self._evaluate(X)
        return np.concatenate([self._evaluate(X[a:a + step]) for a in range(0, X.shape[0], step)])

    def _evaluate(self, X: np.ndarray) -> np.ndarray:
        if self.fast_next is not None:
            return self._evaluate_fast(X)
        n, t = X.shape[0], len(self.roots)
        rows = np.repeat(np.arange(n, dtype=np.int64), t)
        node = np.tile(self.roots_a, n)
        result = np.full(n * t, np.nan)
        root_ok = self.preds.evaluate(self.pred_of_a[node], rows, X) == TRUE
        act = np.flatnonzero(root_ok)
        for _ in range(self.depth + 1):
            if not act.size:
                break
            nd = node[act]
            nk = self.kid_count_a[nd]
            leaf = nk == 0
            result[act[leaf]] = self.score_a[nd[leaf]]
            act, nd, nk = act[~leaf], nd[~leaf], nk[~leaf]
            r = rows[act]
            chosen = np.full(act.size, -1, np.int64)
            stop = np.zeros(act.size, bool)  # finished with a last/null prediction
            strategy = self.missing_strategy_a[nd]
            for k in range(self.max_kids):
                open_ = np.flatnonzero((chosen < 0) & ~stop & (nk > k))
                if not open_.size:
                    break
                kid = self.kid_start_a[nd[open_]] + k  # children are numbered contiguously
                res = self.preds.evaluate(self.pred_of_a[kid], r[open_], X)
                hit = res == TRUE
                chosen[open_[hit]] = kid[hit]
                unk = open_[res == UNKNOWN]
                if unk.size:
                    s = strategy[unk]
                    dflt = unk[s == 1]
                    chosen[dflt] = self.default_child_a[nd[dflt]]
                    last = unk[s == 2]
                    result[act[last]] = self.score_a[nd[last]]
                    stop[unk[(s == 2) | (s == 3)]] = True
                    bad = dflt[chosen[dflt] < 0]
                    stop[bad] = True  # defaultChild strategy without a defaultChild: null
            none = np.flatnonzero((chosen < 0) & ~stop)
            if none.size:
                ret_last = self.no_true_child_a[nd[none]] == 1
                result[act[none[ret_last]]] = self.score_a[nd[none[ret_last]]]
            go = chosen >= 0
            node[act[go]] = chosen[go]
            act = act[go]
        return result.reshape(n, t)


def check_compound_depth(depth: int, where: str) -> None:
    """Refuse predicates nested deeper than :data:`MAX_COMPOUND_DEPTH`."""
    if depth > MAX_COMPOUND_DEPTH:
        raise ModelFormatError(f"{where}: CompoundPredicate nested deeper than {MAX_COMPOUND_DEPTH}")


def unsupported(element: str, where: str, detail: str = "") -> UnsupportedModelError:
    """The one-line error for anything outside the evaluator's subset."""
    extra = f" ({detail})" if detail else ""
    return UnsupportedModelError(f"{where}: PMML element {element}{extra} is outside the pmml runtime's subset (docs/pmml.md)")
