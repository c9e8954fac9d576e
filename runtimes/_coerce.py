"""Input coercion shared by every runtime: turn what a user passes into float32 (or float64) [N, F].

Accepted inputs (``features`` is the model's ordered column list from its signature):

* numpy arrays: 2-D ``[N, F]`` (or 1-D ``[F]``, one row).  float64 and integer data are cast
  to float32, as XGBoost does when it builds a DMatrix from dense data
  (``src/data/adapter.h`` reads every element as ``float``);
* pandas DataFrames: columns are matched BY NAME and reordered to the model's order; a
  missing or extra column is an error naming it.  Categorical columns become their codes
  (code ``-1`` = missing → NaN), re-coded by category value when the model recorded its
  categories;
* a list of dicts (one per row, keys = feature names): same rules as DataFrames;
* a list of lists / tuples (positional rows);
* scipy sparse matrices (any format with ``tocoo``): an ABSENT entry is missing (NaN), a
  stored entry, zero included, is a value, exactly as XGBoost reads a CSR matrix
  (trap 5 of docs/parity-traps.md: ``SparsePage::Push`` keeps stored entries; absent ones never reach a
  split and follow ``default_left``).  Measured on xgboost 3.2: a CSR matrix predicts
  bit-identically to the dense matrix with NaN where entries are absent.

Everything else, wrong column counts, ragged rows and non-numeric strings raise
:class:`~modelport.core.errors.InputDataError` with the row / column at fault.  numpy only.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator, Sequence

import numpy as np

from modelport.core.errors import InputDataError

__all__ = ["coerce_input", "coerce_chunks", "is_sparse", "SPARSE_CHUNK_CELLS"]

#: Cells densified at a time when scoring a sparse matrix (:func:`coerce_chunks`): a block
#: is ``max(1, SPARSE_CHUNK_CELLS // columns)`` rows (4 MiB of float32), whatever the
#: matrix's row count.
SPARSE_CHUNK_CELLS = 1 << 20


def coerce_input(X: Any, features: Sequence[Any], *, dtype: Any = np.float32, allow_inf: bool = True) -> np.ndarray:
    """Return ``X`` as a C-contiguous ``dtype`` array ``[N, len(features)]`` (float32 by
    default; float64 for models that compare in float64).  Values are rounded to ``dtype``
    once, from the caller's own numbers or from float64 for text and Python objects.

    ``features`` holds objects with ``.name`` (and optionally ``.type`` / ``.categories``),
    e.g. :class:`modelport.runtimes.base.FeatureSpec`.  ``allow_inf=False`` refuses ±inf
    (after rounding to ``dtype``) with the row and column, as XGBoost's DMatrix does.
    A sparse matrix is densified whole here; runtimes score it with :func:`coerce_chunks`.
    """
    names = [f.name for f in features]
    n = len(names)
    if isinstance(X, np.ndarray) and X.dtype.kind in "fiub":
        out = _from_array(X, n, dtype)
    elif is_sparse(X):
        out = _from_sparse(X, n, dtype)
    else:
        with np.errstate(over="ignore"):  # a float64 beyond float32's range is inf, as in XGBoost
            out = np.ascontiguousarray(_coerce_wide(X, features, names, n), dtype=dtype)
    if not allow_inf:
        _refuse_inf(out, names)
    return out


def coerce_chunks(X: Any, features: Sequence[Any], *, dtype: Any = np.float32, allow_inf: bool = True,
                  rows: int | None = None) -> Iterator[np.ndarray]:
    """:func:`coerce_input` in row blocks: a sparse matrix is densified ``rows`` rows at a time
    (a 3e7 x 6 matrix with one stored value never becomes a 720 MB array); anything else is
    one block.  Concatenating the blocks gives exactly :func:`coerce_input`'s array."""
    if not is_sparse(X):
        yield coerce_input(X, features, dtype=dtype, allow_inf=allow_inf)
        return
    names = [f.name for f in features]
    n = len(names)
    rows = rows or max(1, SPARSE_CHUNK_CELLS // max(n, 1))
    coo = _checked_coo(X, n)
    order = np.argsort(coo.row, kind="stable")
    row, col, data = coo.row[order], coo.col[order], coo.data[order]
    total = int(X.shape[0])
    for start in range(0, max(total, 1), rows):
        stop = min(start + rows, total)
        a, b = np.searchsorted(row, [start, stop])
        out = np.full((stop - start, n), np.nan, dtype=dtype)
        with np.errstate(over="ignore"):
            out[row[a:b] - start, col[a:b]] = data[a:b].astype(dtype)
        if not allow_inf:
            _refuse_inf(out, names, offset=start)
        yield out


def _refuse_inf(out: np.ndarray, names: list[str], offset: int = 0) -> None:
    bad = np.isinf(out)
    if bad.any():
        r, c = (int(v) for v in np.argwhere(bad)[0])
        raise InputDataError(f"row {r + offset}, column {names[c]!r}: {out[r, c]} is infinite; this model refuses "
                             "infinite inputs (XGBoost's DMatrix does: 'Input data contains inf')")


def _coerce_wide(X: Any, features: Sequence[Any], names: list[str], n: int) -> np.ndarray:
    """Non-array inputs as float64 (exact for every float and for integers below 2**53)."""
    if _is_dataframe(X):
        return _from_dataframe(X, features)
    if _is_series(X):  # one row, indexed by feature name (or positionally)
        if all(isinstance(k, (int, np.integer)) for k in X.index):
            return _from_rows([list(X.to_numpy(dtype=object))], n, features)
        return _from_records([dict(X.items())], features)
    if isinstance(X, np.ndarray):
        return _from_array(X, n, np.float64, features)
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            return np.empty((0, n), dtype=np.float64)
        if all(isinstance(r, dict) for r in X):
            return _from_records(X, features)
        if any(isinstance(r, dict) for r in X):
            raise InputDataError("rows mix dicts and sequences; pass one kind")
        if all(_is_number(v) or isinstance(v, str) for v in X) and not any(isinstance(v, (list, tuple)) for v in X):
            return _from_rows([list(X)], n, features)  # a single flat row
        return _from_rows(X, n, features)
    if isinstance(X, dict):
        return _from_records([X], features)
    raise InputDataError(
        f"cannot read rows from {type(X).__name__}; pass a numpy array, pandas DataFrame or Series, "
        "list of dicts or list of lists"
    )


def _is_series(X: Any) -> bool:
    return type(X).__name__ == "Series" and hasattr(X, "index") and hasattr(X, "items")


_WARNED_EXTRA: set[tuple[str, ...]] = set()


def _ignore_extra(extra: list[str]) -> None:
    """Columns the model does not use are ignored; said once per set of names (a service
    sending an id column with every request is not warned on every request)."""
    key = tuple(sorted(extra))
    if key and key not in _WARNED_EXTRA:
        import logging

        _WARNED_EXTRA.add(key)
        shown = ", ".join(map(repr, key[:5])) + (f" and {len(key) - 5} more" if len(key) > 5 else "")
        # A log record, not a warning: runtimes silence third-party warnings while predicting.
        logging.getLogger("modelport.runtimes").warning("ignoring column(s) the model does not use: %s", shown)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) or v is None


def is_sparse(X: Any) -> bool:
    """True for a scipy sparse matrix (anything with ``tocoo``, ``nnz`` and ``shape``)."""
    return callable(getattr(X, "tocoo", None)) and hasattr(X, "nnz") and hasattr(X, "shape")


def _checked_coo(X: Any, n: int) -> Any:
    if len(X.shape) != 2 or X.shape[1] != n:
        raise InputDataError(f"expected a sparse matrix [rows, {n}], got shape {tuple(X.shape)}")
    coo = X.tocoo()
    if coo.data.dtype.kind not in "fiub":
        raise InputDataError(f"sparse matrix dtype {coo.data.dtype} is not numeric")
    if coo.nnz and np.unique(coo.row.astype(np.int64) * n + coo.col).size != coo.nnz:
        raise InputDataError("the sparse matrix has duplicate entries; call sum_duplicates() first")
    return coo


def _from_sparse(X: Any, n: int, dtype: Any) -> np.ndarray:
    coo = _checked_coo(X, n)
    out = np.full(X.shape, np.nan, dtype=dtype)
    with np.errstate(over="ignore"):
        out[coo.row, coo.col] = coo.data.astype(dtype)
    return out


def _is_dataframe(X: Any) -> bool:
    return type(X).__name__ == "DataFrame" and hasattr(X, "columns") and hasattr(X, "dtypes")


def _from_array(X: np.ndarray, n: int, dtype: Any, features: Sequence[Any] = ()) -> np.ndarray:
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2:
        raise InputDataError(f"expected a 2-D array [rows, {n}], got {X.ndim} dimensions {X.shape}")
    if X.shape[1] != n:
        raise InputDataError(f"expected {n} columns, got {X.shape[1]}")
    if X.dtype.kind in "fiub":
        return np.ascontiguousarray(X, dtype=dtype)
    if X.dtype.kind == "O" or X.dtype.kind in "US":
        return _from_rows(X.tolist(), n, features)
    raise InputDataError(f"array dtype {X.dtype} is not numeric")


def _to_float(v: Any, where: str, feat: Any = None) -> float:
    if v is None:
        return float("nan")
    if isinstance(v, str) and feat is not None and getattr(feat, "categories", None):
        # A categorical feature's value given by its name (CSV, dicts, JSON): its code.
        try:
            return float(feat.categories.index(v))
        except ValueError:
            if getattr(feat, "type", "") == "nominal":
                # scikit-learn encoders decide what an unseen category means: its code is
                # len(categories), the IR's 'unknown' (docs/ir.md, nominal features).
                return float(len(feat.categories))
            raise InputDataError(f"{where}: category {v!r} was not seen in training") from None
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    if isinstance(v, (complex, np.complexfloating)):
        # float() of a numpy complex silently drops the imaginary part.
        raise InputDataError(f"{where}: the complex number {v!r} is not a real number")
    if isinstance(v, (int, float, np.number)):
        try:
            return float(v)
        except OverflowError:  # a Python int beyond float64 (10**400)
            raise InputDataError(f"{where}: the integer {_short(v)} is too large for a float") from None
    if isinstance(v, str):
        raise InputDataError(f"{where}: the string {v!r} is not a number")
    raise InputDataError(f"{where}: a {type(v).__name__} is not a number")


def _name_key(v: Any) -> str:
    """A DataFrame cell of a nominal column as a category name (integral numbers without
    ``.0``, as the reference evaluator spells them)."""
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        f = float(v)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(v)


def _short(v: Any) -> str:
    text = str(v) if not isinstance(v, int) or v.bit_length() < 1000 else f"of {v.bit_length()} bits"
    return text if len(text) <= 40 else text[:20] + "..." + text[-10:]


def _from_rows(rows: Sequence[Any], n: int, features: Sequence[Any] = ()) -> np.ndarray:
    feats = list(features) if len(features) == n else [None] * n
    out = np.empty((len(rows), n), dtype=np.float64)
    for r, row in enumerate(rows):
        if not isinstance(row, (list, tuple, np.ndarray)):
            raise InputDataError(f"row {r}: expected a list of {n} values, got {type(row).__name__}")
        if len(row) != n:
            raise InputDataError(f"row {r}: expected {n} values, got {len(row)}")
        for c, v in enumerate(row):
            out[r, c] = _to_float(v, f"row {r}, column {c}", feats[c])
    return out  # rounded to the model's dtype once by coerce_input, like XGBoost's DMatrix


def _from_records(records: Sequence[dict], features: Sequence[Any]) -> np.ndarray:
    names = [f.name for f in features]
    out = np.empty((len(records), len(names)), dtype=np.float64)
    for r, rec in enumerate(records):
        missing = [nm for nm in names if nm not in rec]
        if missing:  # the unexpected names may be the same columns misspelt: name them too
            extra = sorted(str(k) for k in rec if k not in set(names))
            raise InputDataError(f"row {r}: {_column_problem(missing, extra)}")
        if len(rec) > len(names):
            _ignore_extra([str(k) for k in rec if k not in set(names)])
        for j, feat in enumerate(features):
            out[r, j] = _to_float(rec[feat.name], f"row {r}, column {feat.name!r}", feat)
    return out


def _column_problem(missing: list, extra: list) -> str:
    parts = []
    if missing:
        parts.append(f"missing column(s) {', '.join(map(repr, missing))}")
    if extra:
        parts.append(f"unexpected column(s) {', '.join(map(repr, extra))}")
    return "; ".join(parts)


def _from_dataframe(df: Any, features: Sequence[Any]) -> np.ndarray:
    names = [f.name for f in features]
    cols = list(df.columns)
    if len(set(map(str, cols))) != len(cols):
        raise InputDataError("the DataFrame has duplicate column names")
    by_name = {str(c): c for c in cols}
    if all(isinstance(c, (int, np.integer)) for c in cols) and not set(names) & set(by_name):
        # Unnamed (RangeIndex-like) columns: positional, like a numpy array.
        if cols != list(range(len(names))):
            raise InputDataError(f"expected {len(names)} columns named {names[:5]}..., got integer columns")
        return _from_dataframe(df.set_axis(names, axis=1), features)
    missing = [nm for nm in names if nm not in by_name]
    extra = [str(c) for c in cols if str(c) not in set(names)]
    if missing:  # the unexpected names may be the same columns misspelt: name them too
        raise InputDataError(_column_problem(missing, extra))
    _ignore_extra(extra)
    picked = [by_name[nm] for nm in names]
    dtypes = [df[c].dtype for c in picked]
    if all(isinstance(d, np.dtype) and d.kind in "fiub" for d in dtypes) and not any(
            getattr(f, "categories", None) for f in features):
        # Plain numeric columns: one block conversion (a one-row frame in tens of µs, not ms).
        return np.ascontiguousarray(df[picked].to_numpy(dtype=np.float64))
    out = np.empty((len(df), len(names)), dtype=np.float64)
    for j, feat in enumerate(features):
        s = df[by_name[feat.name]]
        out[:, j] = _series_to_float64(s, feat)
    return out


def _series_to_float64(s: Any, feat: Any) -> np.ndarray:
    dtype = s.dtype
    if getattr(feat, "type", "") == "nominal" and getattr(feat, "categories", None):
        # Category names (object or pandas category column): known name -> code, unseen ->
        # len(categories) (unknown), None/NaN -> missing.
        values = s.to_numpy(dtype=object, na_value=None) if hasattr(s, "to_numpy") else np.asarray(s, dtype=object)
        out = np.empty(len(values), dtype=np.float64)
        for r, v in enumerate(values):
            out[r] = np.nan if v is None or (isinstance(v, (float, np.floating)) and v != v) else _to_float(
                _name_key(v), f"row {r}, column {feat.name!r}", feat)
        return out
    if str(dtype) == "category" and getattr(feat, "type", "float") != "categorical":
        # Its codes (0, 1, 2) are not its values (10, 20, 30): scoring either would be a
        # guess.  Refused: pass the column as numbers (s.astype(float)).
        raise InputDataError(f"column {feat.name!r} is a pandas category column but the model's feature is numeric "
                             f"({getattr(feat, 'type', 'float')}); pass its values as numbers, e.g. "
                             f"df[{feat.name!r}].astype(float)")
    if str(dtype) == "category":
        cats_model = getattr(feat, "categories", None)
        codes = np.asarray(s.cat.codes, dtype=np.float64)
        if cats_model:
            # Re-code by category value so a frame with another category order still works.
            # A value the model never saw is an error, as in XGBoost 3.2 ("Found a category
            # not in the training set", src/data/cat_container.h) and the reference evaluator.
            lookup = {str(c): i for i, c in enumerate(cats_model)}
            mapped = np.array([lookup.get(str(c), np.nan) for c in s.cat.categories], dtype=np.float64)
            used = codes >= 0
            unseen = used & np.isnan(mapped[np.clip(codes, 0, None).astype(np.int64)] if len(mapped) else True)
            if np.any(unseen):
                bad = s.cat.categories[int(codes[np.argmax(unseen)])]
                raise InputDataError(f"column {feat.name!r}: category {str(bad)!r} was not seen in training")
            codes = np.where(used, mapped[np.clip(codes, 0, None).astype(np.int64)] if len(mapped) else np.nan, np.nan)
        else:
            codes[codes < 0] = np.nan
        return codes
    kind = getattr(dtype, "kind", "O")
    if kind in "fiub":
        if hasattr(s, "to_numpy"):  # nullable dtypes (Int64, Float64) carry pd.NA
            return s.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(s, dtype=np.float64)
    values = s.to_numpy(dtype=object, na_value=None) if hasattr(s, "to_numpy") else np.asarray(s, dtype=object)
    out = np.empty(len(values), dtype=np.float64)
    for r, v in enumerate(values):
        out[r] = _to_float(v, f"row {r}, column {feat.name!r}", feat)
    return out
