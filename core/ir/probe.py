"""Probe rows that spring the parity traps: the rows every artifact is verified on.

:func:`probe_set` builds float32 rows that sit exactly on every numeric threshold and one
float32 ULP either side (PARITY-TRAPS 2; float64 rows, also one float64 ULP either side, for
models that compare float64 inputs), put NaN in each feature (3), the model's missing
sentinel (4), every category of every categorical split plus unknown, negative and
non-integral codes (9), and random rows across each feature's threshold range, plus the
caller's own rows.  The size is bounded: past ``max_rows`` the edge values are sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelport.core.ir.model import LinearBooster, Model

__all__ = ["ProbeOptions", "probe_set", "split_values", "edge_values", "edge_values_float64", "random_rows",
           "substitute_rows",
           "edge_rows", "with_extra"]


@dataclass(frozen=True)
class ProbeOptions:
    """Size limits of a probe set."""

    n_random: int = 256
    """Random rows drawn inside the features' observed threshold ranges."""
    max_edge_rows: int = 20_000
    """Most rows that each put ONE threshold-edge value into a random row (sampled beyond)."""
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


def probe_set(model: Model, *, n_random: int = 256, seed: int = 0, extra: np.ndarray | None = None,
              options: ProbeOptions | None = None) -> np.ndarray:
    """Rows ``[n, n_features]`` that exercise every split edge of ``model``: float32, or
    float64 for a model that compares float64 inputs (``threshold_dtype="float64"``: LightGBM),
    whose rows then also sit on each threshold and one float64 ULP either side.

    ``extra`` rows (e.g. the user's ``--data``) are appended as given (cast to that dtype).
    Deterministic for a given ``seed``.
    """
    opts = options or ProbeOptions(n_random=n_random)
    rng = np.random.default_rng(seed)
    nf = model.n_features
    splits = split_values(model)
    wide = getattr(model.booster, "threshold_dtype", "float32") == "float64"
    dtype = np.float64 if wide else np.float32
    base = random_rows(splits.thresholds, splits.categories, max(opts.n_random, 1), rng).astype(dtype)
    parts = [base[: opts.n_random]]

    # Threshold edges, one substitution per row (sampled if there are too many).
    edges = [(edge_values_float64 if wide else edge_values)(t) for t in splits.thresholds]
    parts.append(edge_rows(base, edges, rng, opts.max_edge_rows))

    # Packed edges: row r holds edge value r (cycled, shuffled) in every feature at once.
    if opts.packed:
        longest = max((e.size for e in edges), default=0)
        n_packed = min(longest, opts.max_edge_rows)
        if n_packed:
            packed = base[rng.integers(0, base.shape[0], size=n_packed)].copy()
            for f, e in enumerate(edges):
                if e.size:
                    packed[:, f] = rng.permutation(np.resize(e, n_packed))
            parts.append(packed)

    # Categories: every code used by a split, plus unknown (max + 1, huge), negative and
    # non-integral codes (PARITY-TRAPS 9); -0.5 is invalid for XGBoost, category 0 for LightGBM.
    for f, c in enumerate(splits.categories):
        if c.size:
            odd = np.array([int(c.max()) + 1, 2**20, -1, 0.5, float(c.min()) + 0.5, -0.5], dtype=dtype)
            codes = np.concatenate([c.astype(dtype), odd])
            parts.append(substitute_rows(base, np.full(codes.size, f), codes, rng))

    # Missing: NaN in each feature, all-NaN, and the sentinel the same way (PARITY-TRAPS 3, 4).
    missing_values = [dtype(np.nan)]
    if not np.isnan(model.missing):
        missing_values.append(dtype(model.missing))
    for mv in missing_values:
        parts.append(substitute_rows(base, np.arange(nf), np.full(nf, mv, dtype=dtype), rng))
        parts.append(np.full((1, nf), mv, dtype=dtype))
    return with_extra(parts, extra, nf, dtype)
