"""Probe rows for models with preprocessing steps or float64 linear boosters (scikit-learn).

The booster of such a model reads transformed columns, so its split thresholds do not bound
the INPUT columns; the rows here are aimed at the steps instead: each input column drawn
around its scaler's statistics, every category code of every lookup plus unseen codes
(``len(categories)``, -1, 0.5, 2**20) and NaN, each numeric lookup key and a value no key
equals, the imputer's missing value and NaN in every column, an all-NaN row, and the
threshold edges of booster columns that copy an input column unchanged.  float64 rows.
"""

from __future__ import annotations

import numpy as np

from modelport.core.ir.model import Affine, AffineKind, FeatureType, Impute, Lookup, Model, SelectColumns, TreeEnsemble

__all__ = ["step_probe_rows"]

#: Most threshold-edge rows per input column.
_MAX_EDGES = 3000


def _column_facts(model: Model) -> tuple[dict[int, Affine | None], dict[int, list], dict[int, list[float]], list]:
    """Per input column: the first affine step scaling it (and the index within it), numeric
    lookup keys and imputer missing values; and the input column each booster column copies."""
    origin: list[int | None] = list(range(model.n_features))
    affine: dict[int, tuple[Affine, int]] = {}
    keys: dict[int, list] = {}
    missing: dict[int, list[float]] = {}
    for step in model.preprocessing:
        if isinstance(step, SelectColumns):
            origin = [origin[int(s)] for s in step.sources]
        elif isinstance(step, (Affine, Impute)):
            for i, c in enumerate(step.columns):
                f = origin[int(c)]
                if f is None:
                    continue
                if isinstance(step, Impute):
                    missing.setdefault(f, []).append(step.missing_value)
                    continue
                affine.setdefault(f, (step, i))
                origin[int(c)] = None
        elif isinstance(step, Lookup):
            f = origin[step.column]
            if f is not None:
                keys.setdefault(f, []).append(step.keys)
            origin[step.column:step.column + 1] = [None] * step.table.shape[1]
    return affine, keys, missing, origin


def _base(model: Model, affine: dict, keys: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((n, model.n_features), dtype=np.float64)
    for f, feat in enumerate(model.features):
        if feat.type is FeatureType.NOMINAL and feat.categories:
            out[:, f] = rng.integers(0, len(feat.categories), size=n)
        elif f in keys:
            out[:, f] = rng.choice(np.concatenate(keys[f]), size=n) if np.concatenate(keys[f]).size else 0.0
        elif f in affine:
            step, i = affine[f]
            if step.kind is AffineKind.SUBTRACT_DIVIDE:
                out[:, f] = step.offset[i] + step.scale[i] * rng.standard_normal(n) * 1.5
            else:
                out[:, f] = (rng.uniform(-0.25, 1.25, size=n) - step.offset[i]) / step.scale[i]
        else:
            out[:, f] = rng.standard_normal(n)
    return out


def _substitute(base: np.ndarray, col: int, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rows = base[rng.integers(0, base.shape[0], size=values.size)].copy()
    rows[:, col] = values
    return rows


def step_probe_rows(model: Model, *, n_random: int, rng: np.random.Generator, edge_values) -> list[np.ndarray]:
    """The probe parts (float64 arrays ``[*, n_features]``) of a preprocessed / float64 linear model."""
    affine, keys, missing, origin = _column_facts(model)
    base = _base(model, affine, keys, max(n_random, 1), rng)
    parts = [base[:n_random]]
    for f, feat in enumerate(model.features):
        if feat.type is FeatureType.NOMINAL and feat.categories:
            k = len(feat.categories)
            parts.append(_substitute(base, f, np.array([*range(k), k, -1, 0.5, 2.0**20, np.nan]), rng))
        for ks in keys.get(f, []):
            odd = [np.nan] + ([float(ks.max()) + 1.0, float(ks.min()) - 0.5, float(ks.min()) + 0.5] if ks.size else [0.0])
            parts.append(_substitute(base, f, np.concatenate([ks, odd]), rng))
        mv = [v for v in missing.get(f, []) if not np.isnan(v)]
        parts.append(_substitute(base, f, np.array([np.nan, *mv]), rng))
        if f in affine:  # the scaler's own centre, and zero
            step, i = affine[f]
            parts.append(_substitute(base, f, np.array([step.offset[i], 0.0, -0.0]), rng))
    booster = model.booster
    if isinstance(booster, TreeEnsemble):  # edges of booster columns that copy an input column
        thr: dict[int, list[np.ndarray]] = {}
        for tree in booster.trees:
            inner = (tree.left != -1) & ~tree.is_categorical
            for c in np.unique(tree.feature[inner]):
                f = origin[int(c)] if int(c) < len(origin) else None
                if f is not None:
                    thr.setdefault(f, []).append(tree.threshold[inner & (tree.feature == c)])
        for f, ts in thr.items():
            edges = edge_values(np.unique(np.concatenate(ts))).astype(np.float64)
            if edges.size > _MAX_EDGES:
                edges = rng.choice(edges, size=_MAX_EDGES, replace=False)
            parts.append(_substitute(base, f, edges, rng))
    parts.append(np.full((1, model.n_features), np.nan))
    return parts
