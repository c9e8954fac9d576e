"""scikit-learn Pipelines and ColumnTransformers into IR preprocessing steps.

The transformers become the IR's float64 steps (docs/ir.md, "Preprocessing"), in scikit-learn's
own operation order (``sklearn/preprocessing/_data.py``):

* StandardScaler ``X -= mean_; X /= scale_`` and RobustScaler ``X -= center_; X /= scale_``
  (an absent mean/center is 0, an absent scale 1: exact no-ops), MaxAbsScaler ``X /= scale_``:
  :class:`Affine` ``subtract_divide``; MinMaxScaler ``X *= scale_; X += min_``: ``multiply_add``;
  ``clip=True`` clips afterwards;
* SimpleImputer (numeric statistics): :class:`Impute`;
* OneHotEncoder / OrdinalEncoder: one :class:`Lookup` per input column.  Its table is read from
  the fitted encoder's own ``transform`` of every category, of an unseen value and of a missing
  one, so ``drop``, infrequent categories, ``handle_unknown`` ('ignore', 'infrequent_if_exist',
  'use_encoded_value') and ``encoded_missing_value`` are exactly scikit-learn's; where
  scikit-learn raises (``handle_unknown='error'``) the row is NaN.  String categories make the
  input column a NOMINAL feature (its input is the category's code);
* ColumnTransformer: :class:`SelectColumns` lays out each transformer's input columns in
  ``transformers_`` order, remainder last (the order of ``ColumnTransformer.transform``'s
  ``hstack``), then each transformer's steps run on its block.

Anything else is refused with one line naming it.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any
from collections.abc import Callable

import numpy as np

from modelport.core.errors import UnsupportedModelError
from modelport.core.ir.model import (
    Affine,
    AffineKind,
    Feature,
    FeatureType,
    Impute,
    Lookup,
    Model,
    Provenance,
    SelectColumns,
    Step,
)
from modelport.core.ir.validate import validate

__all__ = ["pipeline_to_ir", "TRANSFORMERS"]

#: The transformers :func:`pipeline_to_ir` converts, by class name.
TRANSFORMERS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "SimpleImputer", "OneHotEncoder",
                "OrdinalEncoder", "ColumnTransformer", "Pipeline")

#: A string no training set holds: the unseen category asked of an encoder with string categories.
_UNSEEN = "\x00modelport-unseen-category"


class _Layout:
    """The compiled steps and, for each current column, the input column it still copies
    unchanged (None once a step has changed it)."""

    def __init__(self, n_inputs: int) -> None:
        self.steps: list[Step] = []
        self.origin: list[int | None] = list(range(n_inputs))
        self.nominal: dict[int, tuple[str, ...]] = {}

    @property
    def width(self) -> int:
        return len(self.origin)


def _cols(start: int, width: int) -> np.ndarray:
    return np.arange(start, start + width, dtype=np.int32)


def _per_column(values: Any, width: int, what: str, default: float) -> np.ndarray:
    if values is None:
        return np.full(width, default)
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size != width:
        raise UnsupportedModelError(f"{what} has {arr.size} values for {width} columns")
    return arr


def _scaler(t: Any, name: str, lay: _Layout, start: int, width: int) -> None:
    clip = None
    if name in ("StandardScaler", "RobustScaler"):
        centred = t.with_mean if name == "StandardScaler" else t.with_centering
        scaled = t.with_std if name == "StandardScaler" else t.with_scaling
        offset = _per_column(getattr(t, "mean_" if name == "StandardScaler" else "center_", None) if centred else None,
                             width, f"{name}'s centre", 0.0)
        scale = _per_column(t.scale_ if scaled else None, width, f"{name}'s scale", 1.0)
        kind = AffineKind.SUBTRACT_DIVIDE
    elif name == "MaxAbsScaler":
        offset, scale, kind = np.zeros(width), _per_column(t.scale_, width, "MaxAbsScaler.scale_", 1.0), \
            AffineKind.SUBTRACT_DIVIDE
        if getattr(t, "clip", False):
            clip = (-1.0, 1.0)
    else:  # MinMaxScaler
        offset = _per_column(t.min_, width, "MinMaxScaler.min_", 0.0)
        scale = _per_column(t.scale_, width, "MinMaxScaler.scale_", 1.0)
        kind = AffineKind.MULTIPLY_ADD
        if getattr(t, "clip", False):
            clip = (float(t.feature_range[0]), float(t.feature_range[1]))
    if not (np.isfinite(offset).all() and np.isfinite(scale).all()):
        raise UnsupportedModelError(f"{name} has non-finite statistics (a column was all-missing in training)")
    lay.steps.append(Affine(columns=_cols(start, width), offset=offset, scale=scale, kind=kind, clip=clip))
    for c in range(start, start + width):
        lay.origin[c] = None


def _imputer(t: Any, lay: _Layout, start: int, width: int) -> None:
    if getattr(t, "add_indicator", False):
        raise UnsupportedModelError("SimpleImputer with add_indicator=True is not expressible in the IR")
    stats = np.asarray(t.statistics_)
    numeric = stats.dtype.kind in "fiu" or (stats.dtype.kind == "O" and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in stats))
    if not numeric:  # strategy='constant' keeps an object array of numbers: those are fine
        raise UnsupportedModelError("SimpleImputer on string columns is not expressible in the IR")
    fill = stats.astype(np.float64)
    if fill.size != width:
        raise UnsupportedModelError(f"SimpleImputer has {fill.size} statistics for {width} columns")
    if not np.isfinite(fill).all():
        raise UnsupportedModelError("SimpleImputer drops a column that was all-missing in training "
                                    "(keep_empty_features=False) or fills a non-finite value")
    mv = t.missing_values
    if mv is None or isinstance(mv, str) or not isinstance(mv, (int, float, np.number)):
        raise UnsupportedModelError(f"SimpleImputer with missing_values={mv!r} (only NaN or a number) "
                                    "is not expressible in the IR")
    lay.steps.append(Impute(columns=_cols(start, width), fill=fill, missing_value=float(mv)))
    for c in range(start, start + width):
        lay.origin[c] = None


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and v != v)


def _encoder_rows(t: Any, cats: list[np.ndarray]) -> tuple[list[np.ndarray], list[Any], list[bool]]:
    """Per feature: the known categories (missing ones removed), the missing marker, whether strings."""
    known, markers, strings = [], [], []
    for c in cats:
        miss = [v for v in c if _is_missing(v)]
        if len(miss) > 1:
            raise UnsupportedModelError(f"{type(t).__name__} learned both None and NaN as categories of one column")
        known.append(np.array([v for v in c if not _is_missing(v)], dtype=c.dtype))
        markers.append(miss[0] if miss else np.nan)
        strings.append(c.dtype.kind in "OUS" and any(isinstance(v, str) for v in c))
    return known, markers, strings


def _transform_rows(t: Any, rows: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = t.transform(rows)
    out = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
    return np.asarray(out, dtype=np.float64)


def _encoder(t: Any, name: str, lay: _Layout, start: int, width: int) -> int:
    cats = [np.asarray(c) for c in t.categories_]
    if len(cats) != width:
        raise UnsupportedModelError(f"{name} encodes {len(cats)} columns but receives {width}")
    known, markers, strings = _encoder_rows(t, cats)
    outs = list(getattr(t, "_n_features_outs", [1] * width)) if name == "OneHotEncoder" else [1] * width
    bounds = np.concatenate([[0], np.cumsum(outs)]).astype(int)
    base = [c[0] if c.size else markers[f] for f, c in enumerate(cats)]
    # Numeric encoders get a float64 matrix (as fitted); string ones an object matrix.
    rdt = object if any(strings) or any(c.dtype.kind == "O" for c in cats) else np.float64

    def row_of(f: int, value: Any) -> np.ndarray:
        row = np.array([base], dtype=rdt)
        row[0, f] = value
        try:
            return _transform_rows(t, row)[0, bounds[f]:bounds[f + 1]]
        except ValueError:  # scikit-learn refuses this value: the IR's NaN row
            return np.full(outs[f], np.nan)

    for f in range(width):
        col = start + int(bounds[f])  # where feature f's column sits now (earlier ones expanded)
        k = known[f]
        if strings[f]:
            if any(not isinstance(v, str) for v in k):
                raise UnsupportedModelError(f"{name} column {f} mixes strings and numbers as categories")
            origin = lay.origin[col]
            if origin is None:
                raise UnsupportedModelError(f"{name} reads string categories from a column an earlier step changed")
            names = tuple(str(v) for v in k)
            if lay.nominal.get(origin, names) != names:
                raise UnsupportedModelError(f"input column {origin} feeds two encoders with different categories")
            lay.nominal[origin] = names
            keys = np.arange(len(names), dtype=np.float64)
            unseen: Any = _UNSEEN
        else:
            keys = k.astype(np.float64)
            unseen = float(np.max(keys)) + 1.0 if keys.size else 0.0
        table = np.empty((keys.size + 2, outs[f]))
        rows = np.array([base] * max(k.size, 1), dtype=rdt)
        rows[:k.size, f] = k
        if k.size:
            table[:k.size] = _transform_rows(t, rows)[:k.size, bounds[f]:bounds[f + 1]]
        table[k.size] = row_of(f, unseen)
        table[k.size + 1] = row_of(f, markers[f])
        lay.steps.append(Lookup(column=col, keys=keys, table=table, encoder=name))
        lay.origin[col:col + 1] = [None] * outs[f]
    return int(bounds[-1])


def _column_transformer(t: Any, lay: _Layout, start: int, width: int) -> int:
    if getattr(t, "n_features_in_", width) != width:
        raise UnsupportedModelError(f"ColumnTransformer reads {t.n_features_in_} columns but receives {width}")
    indices = t._transformer_to_input_indices  # noqa: SLF001 - the fitted column routing (sklearn >= 1.2)
    blocks = []
    for name, trans, _cols_spec in t.transformers_:
        idx = [int(i) for i in indices.get(name, [])]
        if trans == "drop" or not idx:
            continue
        blocks.append((name, trans, idx))
    sources = list(range(start)) + [start + i for _n, _t, idx in blocks for i in idx] + \
        list(range(start + width, lay.width))
    lay.steps.append(SelectColumns(sources=np.asarray(sources, dtype=np.int32)))
    lay.origin = [lay.origin[s] for s in sources]
    pos = start
    for _name, trans, idx in blocks:
        pos += _transformer(trans, lay, pos, len(idx))
    return pos - start


def _transformer(t: Any, lay: _Layout, start: int, width: int) -> int:
    """Compile transformer ``t`` acting on columns [start, start + width); return its output width."""
    if t is None or (isinstance(t, str) and t == "passthrough"):
        return width
    name = type(t).__name__
    if name == "FunctionTransformer" and getattr(t, "func", 0) is None:
        # ColumnTransformer's fitted 'passthrough' (sklearn/compose/_column_transformer.py
        # swaps it for FunctionTransformer(func=None)): the identity.
        return width
    if name == "Pipeline":
        for _n, step in t.steps:
            width = _transformer(step, lay, start, width)
        return width
    if name in ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler"):
        _scaler(t, name, lay, start, width)
        return width
    if name == "SimpleImputer":
        _imputer(t, lay, start, width)
        return width
    if name in ("OneHotEncoder", "OrdinalEncoder"):
        return _encoder(t, name, lay, start, width)
    if name == "ColumnTransformer":
        return _column_transformer(t, lay, start, width)
    raise UnsupportedModelError(f"{name} is not a supported pipeline step (supported: {', '.join(TRANSFORMERS)})")


def pipeline_to_ir(pipe: Any, features: list[str], *, final_to_ir: Callable[..., Model],
                   provenance: Provenance | None) -> Model:
    """A fitted ``Pipeline`` (transformers, then a final estimator) as one IR Model: the
    transformers as preprocessing steps, the final estimator converted by ``final_to_ir(est,
    names, provenance=...)``.  The model's inputs are ``features``; columns read by an encoder
    with string categories become NOMINAL features."""
    steps = list(getattr(pipe, "steps", []))
    if not steps:
        raise UnsupportedModelError(f"{type(pipe).__name__} has no steps")
    final = steps[-1][1]
    if final is None or final == "passthrough":
        raise UnsupportedModelError("a Pipeline ending in a transformer (no estimator) has no predictions to convert")
    lay = _Layout(len(features))
    width = len(features)
    for _n, step in steps[:-1]:
        width = _transformer(step, lay, 0, width)
    n_final = getattr(final, "n_features_in_", width)
    if n_final != width:
        raise UnsupportedModelError(f"the preprocessing gives {width} columns but {type(final).__name__} reads {n_final}")
    inner = final_to_ir(final, [f"x{i}" for i in range(width)], provenance=provenance)
    feats = tuple(
        Feature(str(f), FeatureType.NOMINAL, lay.nominal[i]) if i in lay.nominal else Feature(str(f))
        for i, f in enumerate(features)
    )
    model = dataclasses.replace(inner, features=feats, preprocessing=tuple(lay.steps) + tuple(inner.preprocessing))
    return validate(model)
