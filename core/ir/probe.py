"""Probe rows that spring the parity traps: the rows every artifact is verified on.

:func:`probe_set` builds float32 rows that sit exactly on every numeric threshold and one
float32 ULP either side (float64 rows, also one float64 ULP either side, for models that
compare float64 inputs), put NaN in each feature the model reads, the model's missing
sentinel, every category of every categorical split plus unknown, negative and
non-integral codes, and random rows across each feature's threshold range,
plus the caller's own rows.

A NaN tests a node's default direction only in a row that REACHES the node, so
:func:`path_rows` builds, for each internal node, a row that follows the root-to-node path
(per-feature interval / missing / category-set constraints along the path; contradictory
paths are skipped) and then puts the node's trap values in its split feature.  The size is
bounded: past ``max_edge_rows`` the nodes and edge values are sampled (seeded), every
(depth, feature, default direction) group first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelport.core.ir.model import Comparison, LinearBooster, Model, TreeEnsemble

__all__ = ["ProbeOptions", "probe_set", "split_values", "edge_values", "edge_values_float64", "random_rows",
           "substitute_rows", "edge_rows", "path_rows", "with_extra"]


@dataclass(frozen=True)
class ProbeOptions:
    """Size limits of a probe set."""

    n_random: int = 256
    """Random rows drawn inside the features' observed threshold ranges."""
    max_edge_rows: int = 20_000
    """Most rows aimed at split edges: path-directed rows, rows that each put ONE
    threshold-edge value into a random row, and packed rows together (sampled beyond)."""
    packed: bool = True
    """Also add rows that put an edge value into EVERY feature at once (cheap, dense coverage)."""


@dataclass(frozen=True)
class _Splits:
    thresholds: list[np.ndarray]
    """Per feature: the sorted unique numeric thresholds (in the model's threshold dtype)."""
    categories: list[np.ndarray]
    """Per feature: the sorted unique category codes used by categorical splits."""


def split_values(model: Model) -> _Splits:
    """Per-feature numeric thresholds and category codes used by the model's splits."""
    nf = model.n_features
    thr: list[list[np.ndarray]] = [[] for _ in range(nf)]
    cats: list[list[np.ndarray]] = [[] for _ in range(nf)]
    booster = model.booster
    if not isinstance(booster, LinearBooster):
        for tree in booster.trees:
            internal = tree.left != -1
            num = internal & ~tree.is_categorical
            feats, values = tree.feature[num], tree.threshold[num]
            order = np.argsort(feats, kind="stable")
            feats, values = feats[order], values[order]
            bounds = np.searchsorted(feats, np.arange(nf + 1))
            for f in np.unique(feats):
                thr[f].append(values[bounds[f]:bounds[f + 1]])
            for node in np.flatnonzero(internal & tree.is_categorical):
                lo, hi = tree.cat_offsets[node], tree.cat_offsets[node + 1]
                cats[tree.feature[node]].append(tree.cat_values[lo:hi])
    dtype = np.dtype(getattr(booster, "threshold_dtype", "float32"))
    return _Splits(
        thresholds=[np.unique(np.concatenate(t)) if t else np.empty(0, dtype) for t in thr],
        categories=[np.unique(np.concatenate(c)) if c else np.empty(0, np.int32) for c in cats],
    )


def edge_values(thresholds: np.ndarray) -> np.ndarray:
    """float32 values on each threshold and one float32 ULP either side.

    For float64 thresholds (scikit-learn, LightGBM) the float32 rounding of the threshold is
    taken as "on" it; its neighbours then straddle the float64 value.
    """
    t = thresholds[np.isfinite(thresholds)].astype(np.float32)
    if not t.size:
        return t
    up = np.nextafter(t, np.float32(np.inf))
    down = np.nextafter(t, np.float32(-np.inf))
    return np.unique(np.concatenate([t, up, down]))


def edge_values_float64(thresholds: np.ndarray) -> np.ndarray:
    """float64 values on each float64 threshold and one float64 ULP either side, plus the
    float32 edges of :func:`edge_values` (for models that compare float64 inputs: LightGBM)."""
    t = np.asarray(thresholds, dtype=np.float64)
    t = t[np.isfinite(t)]
    if not t.size:
        return t
    up = np.nextafter(t, np.inf)
    down = np.nextafter(t, -np.inf)
    return np.unique(np.concatenate([t, up, down, edge_values(t).astype(np.float64)]))


def random_rows(thresholds: list[np.ndarray], categories: list[np.ndarray], n: int,
                rng: np.random.Generator) -> np.ndarray:
    """float32 rows uniform within each feature's threshold range (widened 10%), integer
    codes for categorical features; features that no split uses are standard normal.
    ``thresholds`` and ``categories`` hold one array per feature."""
    out = np.empty((n, len(thresholds)), dtype=np.float32)
    for f, (t, c) in enumerate(zip(thresholds, categories, strict=True)):
        t = t[np.isfinite(t)]
        if c.size:
            out[:, f] = rng.integers(0, int(c.max()) + 2, size=n)
        elif t.size:
            lo, hi = float(t.min()), float(t.max())
            pad = max(0.1 * (hi - lo), 1e-3 * max(abs(lo), abs(hi)), 1e-6)
            out[:, f] = rng.uniform(lo - pad, hi + pad, size=n)
        else:
            out[:, f] = rng.standard_normal(n)
    return out


def substitute_rows(base: np.ndarray, cols: np.ndarray, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One row per (col, value): a random base row with that column set to that value."""
    if not cols.size:
        return np.empty((0, base.shape[1]), dtype=base.dtype)
    rows = base[rng.integers(0, base.shape[0], size=cols.size)].copy()
    rows[np.arange(cols.size), cols] = values
    return rows


def edge_rows(base: np.ndarray, edges: list[np.ndarray], rng: np.random.Generator, max_rows: int) -> np.ndarray:
    """One row per edge value (``edges``: one array per feature), each a random base row with
    that feature set to the value; sampled down to ``max_rows`` when there are more."""
    if not edges:
        return np.empty((0, base.shape[1]), dtype=base.dtype)
    cols = np.concatenate([np.full(e.size, f, dtype=np.int64) for f, e in enumerate(edges)])
    vals = np.concatenate(edges)
    if cols.size > max_rows:
        keep = np.sort(rng.choice(cols.size, size=max_rows, replace=False))
        cols, vals = cols[keep], vals[keep]
    return substitute_rows(base, cols, vals, rng)


def with_extra(parts: list[np.ndarray], extra: np.ndarray | None, n_features: int, dtype) -> np.ndarray:
    """The probe parts and the caller's ``extra`` rows (checked, cast to ``dtype``) as one array."""
    if extra is not None:
        extra = np.asarray(extra, dtype=dtype)
        if extra.ndim != 2 or extra.shape[1] != n_features:
            from modelport.core.errors import InputDataError

            raise InputDataError(f"extra rows must have shape [n, {n_features}], got {list(extra.shape)}")
        parts = [*parts, extra]
    return np.ascontiguousarray(np.concatenate(parts, axis=0), dtype=dtype)


# --------------------------------------------------------------------------- path-directed rows

#: XGBoost's bound on category codes: a value outside ``[0, 2**24)`` is an invalid category.
_MAX_CAT = float(1 << 24)


def _levels(tree) -> tuple[np.ndarray, np.ndarray]:
    """Depth and parent of every node reachable from the root (-1 elsewhere), level by level."""
    n = tree.left.size
    depth = np.full(n, -1, np.int64)
    parent = np.full(n, -1, np.int64)
    frontier, d = np.zeros(1, np.int64), 0
    while frontier.size and d <= n:  # d > n only on a cycle, which validate() rejects
        depth[frontier] = d
        frontier = frontier[tree.left[frontier] != -1]
        kids_l, kids_r = tree.left[frontier].astype(np.int64), tree.right[frontier].astype(np.int64)
        parent[kids_l], parent[kids_r] = frontier, frontier
        frontier, d = np.concatenate([kids_l, kids_r]), d + 1
    return depth, parent


def _select_nodes(ens: TreeEnsemble, levels: list, budget: int,
                  rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Per tree, a bool mask of the internal nodes to aim rows at: all of them when their rows
    fit ``budget``.  Otherwise a seeded sample that first takes one node of every
    (depth, feature, default direction) group, then the rest in random order, and per tree the
    group id of each node (-1 for leaves) so the walk can stand in for a representative that
    no missing value reaches; None when nothing was sampled away."""
    tid, nid, keys, cost = [], [], [], []
    for t, (tree, (depth, _)) in enumerate(zip(ens.trees, levels, strict=True)):
        nodes = np.flatnonzero((tree.left != -1) & (depth >= 0))
        tid.append(np.full(nodes.size, t, np.int64))
        nid.append(nodes)
        keys.append(np.stack([depth[nodes], tree.feature[nodes], tree.default_left[nodes]], axis=1).astype(np.int64))
        cost.append(np.where(tree.is_categorical[nodes], 9, 5))
    masks = [np.zeros(t.left.size, bool) for t in ens.trees]
    bounds = np.cumsum([0] + [n.size for n in nid])
    tid, nid, cost = np.concatenate(tid), np.concatenate(nid), np.concatenate(cost)
    if cost.sum() <= budget:
        for t, mask in enumerate(masks):
            mask[nid[bounds[t]:bounds[t + 1]]] = True
        return masks, None
    k = np.concatenate(keys)
    k = (k[:, 0] * (int(k[:, 1].max()) + 1) + k[:, 1]) * 2 + k[:, 2]  # one int64 per group
    _, group = np.unique(k, return_inverse=True)
    group = group.reshape(-1)
    groups = [np.full(t.left.size, -1, np.int64) for t in ens.trees]
    for t, g in enumerate(groups):
        g[nid[bounds[t]:bounds[t + 1]]] = group[bounds[t]:bounds[t + 1]]
    order = rng.permutation(tid.size)
    lead = np.zeros(order.size, bool)
    lead[np.unique(group[order], return_index=True)[1]] = True
    ranked = np.concatenate([order[lead], order[~lead]])
    # a tenth of the budget stays free for stand-ins of representatives nothing reaches
    chosen = ranked[np.cumsum(cost[ranked]) <= budget - budget // 10]
    for t, mask in enumerate(masks):
        mine = chosen[tid[chosen] == t]
        mask[nid[mine]] = True
    return masks, groups


class _Path:
    """What the current root-to-node path demands of each feature: a closed interval
    ``[lo, hi]`` for present values (in the comparison dtype), whether missing is allowed,
    and for categorical splits the codes that must be in (``cin``) / out (``cout``) and whether
    an invalid code is allowed; ``row`` holds one value per feature that meets them all."""

    def __init__(self, model: Model, neutral: np.ndarray, dtype) -> None:
        nf = model.n_features
        self.dtype = dtype
        self.neutral = neutral.tolist()
        self.sentinel = None if np.isnan(model.missing) else float(dtype(model.missing))
        self.lo, self.hi = [-np.inf] * nf, [np.inf] * nf
        self.miss, self.inv, self.catc = [True] * nf, [True] * nf, [False] * nf
        self.cin: list[frozenset | None] = [None] * nf
        self.cout: list[frozenset] = [frozenset()] * nf
        self.row = neutral.astype(dtype).copy()
        self.undo: list[tuple] = []

    def _state(self, f: int) -> tuple:
        return (f, self.lo[f], self.hi[f], self.miss[f], self.inv[f], self.catc[f], self.cin[f], self.cout[f],
                self.row[f])

    def restore(self, mark: int) -> None:
        """Undo every constraint added since ``mark`` (a length of ``undo``)."""
        while len(self.undo) > mark:
            f, self.lo[f], self.hi[f], self.miss[f], self.inv[f], self.catc[f], self.cin[f], self.cout[f], \
                self.row[f] = self.undo.pop()

    def present_ok(self, f: int, v: float) -> bool:
        """True when the present (non-missing) value ``v`` of feature ``f`` follows the path."""
        if v != v or v == self.sentinel or not (self.lo[f] <= v <= self.hi[f]):
            return False
        if not self.catc[f]:
            return True
        if not 0.0 <= v < _MAX_CAT:
            return self.inv[f]
        c = int(v)  # truncation toward zero, as the evaluator
        cin = self.cin[f]
        return (cin is None or c in cin) and c not in self.cout[f]

    def _choose(self, f: int) -> float | None:
        lo, hi, cands = self.lo[f], self.hi[f], []
        if lo <= hi:
            cands += [min(max(self.neutral[f], lo), hi), lo, hi]
        if self.catc[f]:
            cin, cout = self.cin[f], self.cout[f]
            if cin is not None:
                cands += sorted(cin - cout)[:1]
            else:
                k = 0
                while k in cout:
                    k += 1
                cands.append(float(k))
            cands.append(-1.0)
        if self.sentinel is not None and self.sentinel in cands:
            s = self.dtype(self.sentinel)
            cands += [float(np.nextafter(s, self.dtype(np.inf))), float(np.nextafter(s, self.dtype(-np.inf)))]
        return next((v for v in cands if np.isfinite(v) and self.present_ok(f, v)), None)

    def follow(self, tree, node: int, go_left: bool, cats_left: bool, invalid_left: bool, lt: bool) -> bool:
        """Add the constraint "``node`` sends the row ``go_left``"; False if now infeasible."""
        f = int(tree.feature[node])
        self.undo.append(self._state(f))
        self.miss[f] = self.miss[f] and bool(tree.default_left[node]) == go_left
        if tree.is_categorical[node]:
            s = frozenset(tree.cat_values[tree.cat_offsets[node]:tree.cat_offsets[node + 1]].tolist())
            self.catc[f] = True
            self.inv[f] = self.inv[f] and invalid_left == go_left
            if go_left == cats_left:
                self.cin[f] = s if self.cin[f] is None else self.cin[f] & s
            else:
                self.cout[f] = self.cout[f] | s
        else:
            t = self.dtype(tree.threshold[node])
            if t != t:  # x < NaN is false: everything present goes right
                if go_left:
                    self.lo[f], self.hi[f] = np.inf, -np.inf
            elif go_left:
                self.hi[f] = min(self.hi[f], float(t if not lt else np.nextafter(t, self.dtype(-np.inf))))
            else:
                self.lo[f] = max(self.lo[f], float(t if lt else np.nextafter(t, self.dtype(np.inf))))
        v = self._choose(f)
        self.row[f] = np.nan if v is None else v
        return v is not None or self.miss[f]

    def variants(self, tree, node: int) -> list[tuple[int, float]]:
        """(feature, value) pairs to put at ``node``'s feature: the threshold and one ULP either
        side (or in-set, out-of-set, non-integral and invalid codes), NaN and the sentinel,
        each only when it still reaches ``node``."""
        f = int(tree.feature[node])
        if tree.is_categorical[node]:
            s = sorted(tree.cat_values[tree.cat_offsets[node]:tree.cat_offsets[node + 1]].tolist())
            ins = [float(c) for c in s if self.present_ok(f, float(c))][:1]
            k, outs = 0, []
            while not outs and k <= len(s) + len(self.cout[f]) + 1:
                if k not in s and self.present_ok(f, float(k)):
                    outs.append(float(k))
                k += 1
            if self.cin[f] is not None and not outs:
                outs = [float(c) for c in sorted(self.cin[f] - set(s)) if self.present_ok(f, float(c))][:1]
            vals = ins + outs + [v + 0.5 for v in ins + outs] + [-1.0, -0.5, _MAX_CAT]
        else:
            t = self.dtype(tree.threshold[node])
            vals = [float(t), float(np.nextafter(t, self.dtype(-np.inf))), float(np.nextafter(t, self.dtype(np.inf)))]
        out = [(f, v) for v in dict.fromkeys(vals) if self.present_ok(f, v)]
        if self.miss[f]:
            out.append((f, float("nan")))
            if self.sentinel is not None:
                out.append((f, self.sentinel))
        return out


#: When sampling, nodes walked in full (every node a possible stand-in) before the walk only
#: goes to the sampled nodes: bounds the pure-Python walk on huge models.
_FULL_WALK = 50_000


def _with_ancestors(mask: np.ndarray, depth: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """``mask`` plus every ancestor of a marked node, one depth level at a time."""
    need = mask.copy()
    order = np.argsort(-depth, kind="stable")
    d = depth[order]
    cuts = np.flatnonzero(np.diff(d)) + 1
    for level in np.split(order, cuts):
        up = parent[level[need[level]]]
        need[up[up >= 0]] = True
    return need


def path_rows(model: Model, *, budget: int, seed: int = 0, neutral: np.ndarray | None = None,
              dtype=np.float32) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rows that reach internal nodes along their root-to-node path and then put the node's
    trap values (threshold ±1 ULP, NaN, the sentinel, category codes) in its split feature.

    Every internal node of every tree is aimed at when the rows fit ``budget``; otherwise a
    seeded sample that covers each (depth, feature, default direction) first.  A node no row
    can reach (contradictory ancestors) gets no rows.  ``neutral`` (one value per feature)
    fills the features the path leaves free.  Returns the rows and, per feature, the present
    values put at split features (the threshold edges these rows already cover).
    """
    nf = model.n_features
    ens = model.booster
    covered: list[list[float]] = [[] for _ in range(nf)]
    empty = np.empty((0, nf), dtype=dtype)
    if isinstance(ens, LinearBooster) or budget <= 0 or not ens.trees:
        return empty, [np.asarray(c, dtype=dtype) for c in covered]
    levels = [_levels(t) for t in ens.trees]
    masks, groups = _select_nodes(ens, levels, budget, np.random.default_rng([seed, 1]))
    state = _Path(model, np.zeros(nf) if neutral is None else neutral, dtype)
    lt, rows = ens.comparison is Comparison.LT, []
    rules = (ens.categories_in_set_go_left, ens.invalid_category_goes_left, lt)
    # groups whose NaN already reached a node of theirs (only when sampling)
    done = None if groups is None else np.zeros(int(max(g.max(initial=-1) for g in groups)) + 1, bool)
    visits = 0
    for t, (tree, (depth, parent), sel) in enumerate(zip(ens.trees, levels, masks, strict=True)):
        # The walk goes where a node or a descendant is selected; when sampling, the first
        # _FULL_WALK nodes are all walked so that unselected nodes can stand in for groups.
        full = groups is not None and visits < _FULL_WALK
        if not full and not sel.any():
            continue
        need = _with_ancestors(tree.left != -1 if full else sel, depth, parent)
        visits += int(need.sum())
        stack: list[tuple[int, int, bool]] = [(0, -1, False)]
        while stack:
            node, par, go_left = stack.pop()
            if node < 0:  # exit marker: par is the undo mark
                state.restore(par)
                continue
            mark = len(state.undo)
            if par >= 0 and not state.follow(tree, par, go_left, *rules):
                state.restore(mark)
                continue
            g = -1 if groups is None else int(groups[t][node])
            stand_in = g >= 0 and not done[g] and state.miss[int(tree.feature[node])]
            if (sel[node] or stand_in) and len(rows) < budget:
                for f, v in state.variants(tree, node):
                    row = state.row.copy()
                    row[f] = v
                    rows.append(row)
                    if v == v and v != state.sentinel:
                        covered[f].append(v)
                    elif g >= 0:
                        done[g] = True
            stack.append((-1, mark, False))
            for child, side in ((int(tree.right[node]), False), (int(tree.left[node]), True)):
                if need[child]:
                    stack.append((child, node, side))
        state.restore(0)
    X = np.stack(rows[:budget]).astype(dtype, copy=False) if rows else empty
    return X, [np.unique(np.asarray(c, dtype=dtype)) for c in covered]


def _neutral(model: Model, splits: _Splits, dtype) -> np.ndarray:
    """One value per feature for features a path leaves free: the median threshold, 0 for
    categorical features and features no split uses."""
    out = np.zeros(model.n_features, dtype=dtype)
    for f, (t, c) in enumerate(zip(splits.thresholds, splits.categories, strict=True)):
        t = t[np.isfinite(t)]
        if t.size and not c.size:
            out[f] = t[t.size // 2]
    return out


def _used_features(model: Model, splits: _Splits) -> np.ndarray:
    """Features the model reads: split features, or the features with a nonzero weight."""
    if isinstance(model.booster, LinearBooster):
        return np.flatnonzero(np.any(np.asarray(model.booster.weights) != 0, axis=1))
    return np.array([f for f, (t, c) in enumerate(zip(splits.thresholds, splits.categories, strict=True))
                     if t.size or c.size], dtype=np.int64)


def probe_set(model: Model, *, n_random: int = 256, seed: int = 0, extra: np.ndarray | None = None,
              options: ProbeOptions | None = None) -> np.ndarray:
    """Rows ``[n, n_features]`` that exercise every split edge of ``model``: float32, or
    float64 for a model that compares float64 inputs (``threshold_dtype="float64"``: LightGBM),
    whose rows then also sit on each threshold and one float64 ULP either side.

    Besides random rows, it holds path-directed rows (:func:`path_rows`: every internal node
    reached with each of its trap values, sampled past the budget), threshold-edge rows for
    the edges those do not already cover, packed edges, category codes, and NaN / the
    sentinel in each feature the model reads.  The rows aimed at split edges (path, edge and
    packed rows) number at most ``options.max_edge_rows``.  ``extra`` rows (e.g. the user's
    ``--data``) are appended LAST, as given (cast to that dtype): they start at
    ``len(X) - len(extra)``.  Deterministic for a given ``seed``.
    """
    opts = options or ProbeOptions(n_random=n_random)
    rng = np.random.default_rng(seed)
    nf = model.n_features
    if model.preprocessing or getattr(model.booster, "value_dtype", "") == "float64" and isinstance(
            model.booster, LinearBooster):
        from modelport.core.ir._probe_steps import step_probe_rows

        return with_extra(step_probe_rows(model, n_random=opts.n_random, rng=rng, edge_values=edge_values),
                          extra, nf, np.float64)
    splits = split_values(model)
    wide = getattr(model.booster, "threshold_dtype", "float32") == "float64"
    dtype = np.float64 if wide else np.float32
    base = random_rows(splits.thresholds, splits.categories, max(opts.n_random, 1), rng).astype(dtype)
    parts = [base[: opts.n_random]]

    edges = [(edge_values_float64 if wide else edge_values)(t) for t in splits.thresholds]
    longest = max((e.size for e in edges), default=0)
    n_packed = min(longest, opts.max_edge_rows // 10) if opts.packed else 0
    room = max(opts.max_edge_rows - n_packed, 0)
    n_edges = sum(e.size for e in edges)

    # Path-directed rows first: each reaches its node, so its NaN really tests the default
    # direction there (a random row with NaN may never get to that node).
    paths, covered = path_rows(model, budget=max(room // 2, room - n_edges), seed=seed,
                               neutral=_neutral(model, splits, dtype), dtype=dtype)
    parts.append(paths)

    # Threshold edges the path rows did not place, one substitution per row (sampled).
    edges = [e[~np.isin(e, c)] for e, c in zip(edges, covered, strict=True)]
    parts.append(edge_rows(base, edges, rng, room - paths.shape[0]))

    # Packed edges: row r holds edge value r (cycled, shuffled) in every feature at once.
    if n_packed:
        full = [(edge_values_float64 if wide else edge_values)(t) for t in splits.thresholds]
        packed = base[rng.integers(0, base.shape[0], size=n_packed)].copy()
        for f, e in enumerate(full):
            if e.size:
                packed[:, f] = rng.permutation(np.resize(e, n_packed))
        parts.append(packed)

    # Categories: every code used by a split, plus unknown (max + 1, huge), negative and
    # non-integral codes; -0.5 is invalid for XGBoost, category 0 for LightGBM.
    for f, c in enumerate(splits.categories):
        if c.size:
            odd = np.array([int(c.max()) + 1, 2**20, -1, 0.5, float(c.min()) + 0.5, -0.5], dtype=dtype)
            codes = np.concatenate([c.astype(dtype), odd])
            parts.append(substitute_rows(base, np.full(codes.size, f), codes, rng))

    # Missing: NaN in each feature the model reads, all-NaN, and the sentinel the same way
    # (docs/parity-traps.md); features nothing reads would only grow the set (nf**2 values).
    used = _used_features(model, splits)
    missing_values = [dtype(np.nan)]
    if not np.isnan(model.missing):
        missing_values.append(dtype(model.missing))
    for mv in missing_values:
        parts.append(substitute_rows(base, used, np.full(used.size, mv, dtype=dtype), rng))
        parts.append(np.full((1, nf), mv, dtype=dtype))
    return with_extra(parts, extra, nf, dtype)
