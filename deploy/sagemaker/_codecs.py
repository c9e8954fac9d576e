"""Request bodies to rows and predictions to response bodies, for ``/invocations``.

Every decoder returns an ``[N, F]`` array of the runtime's input type (``dtype``): text is
rounded once from its decimal spelling to float64, then once more to the input type, the way
:func:`modelport.runtimes._coerce.coerce_input` reads text (parsing decimal text straight to
float32 would round once and differ from it on halfway cases).  Missing values: an empty CSV
cell, a JSON ``null``, a NaN in an ``.npy`` array, an index absent from a LIBSVM line (for
models from XGBoost; 0.0 for LightGBM and scikit-learn, whose sparse inputs mean zero).  ``NaN`` / ``inf`` spelled as text, and
numbers that overflow to infinity, are refused: a typo must not silently become "missing".
Every problem is an :class:`HttpError` with the status of the SageMaker container contract
and a one-line message naming the row and column.
"""

from __future__ import annotations

import functools
import io
import json
import math
from typing import Any
from collections.abc import Sequence

import numpy as np

try:  # optional C fast path for CSV cells (fast_float inside: correctly rounded, like float())
    from fastnumbers import try_array as _try_array
except ImportError:  # pragma: no cover - exercised where fastnumbers is absent
    _try_array = None

#: CSV bodies at least this long are parsed by Arrow's CSV reader when pyarrow is installed
#: (fast_float inside, correctly rounded).  Measured on 20 columns of 17-digit cells: Arrow
#: costs ~0.2 ms per call plus ~1.45 us per row, split + fastnumbers ~2.0 us per row, so
#: Arrow wins from ~360 rows (~140 KB); 1,000 rows: 1.65 ms against 2.0 ms.
ARROW_MIN_BYTES = 192 * 1024

__all__ = ["HttpError", "CONTENT_TYPES", "ACCEPT_TYPES", "media_type", "decode", "encode", "choose_accept"]

#: Request content types /invocations reads.
CONTENT_TYPES = ("text/csv", "application/json", "application/jsonlines", "application/x-npy", "text/libsvm")
#: Response types /invocations writes.
ACCEPT_TYPES = ("text/csv", "application/json", "application/jsonlines")
_JSONLINES_ALIASES = {"application/jsonlines", "application/json-lines", "application/x-jsonlines", "application/jsonl"}
_LIBSVM_ALIASES = {"text/libsvm", "text/x-libsvm"}  # the SageMaker XGBoost container's two names
_CHARSETS = {"utf-8", "utf8", "us-ascii", "ascii"}


class HttpError(Exception):
    """A request the server answers with ``status`` and the one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = " ".join(str(message).split())[:500]


def media_type(header: str | None) -> tuple[str, dict[str, str]]:
    """``"text/csv; charset=utf-8"`` -> ``("text/csv", {"charset": "utf-8"})`` (lower case)."""
    if not header:
        return "", {}
    if ";" not in header:
        return header.strip().lower(), {}
    main, *params = header.split(";")
    out = {}
    for p in params:
        k, _, v = p.partition("=")
        out[k.strip().lower()] = v.strip().strip('"').lower()
    return main.strip().lower(), out


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct Accept headers
def choose_accept(header: str | None, default: str) -> str:
    """The response type for an ``Accept`` header: the first supported type by quality;
    missing or ``*/*`` gives ``default``.  Nothing acceptable: HttpError 406."""
    if not header or not header.strip():
        return default
    ranked = []
    for i, part in enumerate(header.split(",")):
        mt, params = media_type(part)
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 1.0
        if q > 0:
            ranked.append((-q, i, mt))
    for _, _, mt in sorted(ranked):
        if mt in ("*/*", ""):
            return default
        if mt in _JSONLINES_ALIASES:
            return "application/jsonlines"
        if mt in ACCEPT_TYPES:
            return mt
        if mt in ("text/*",):
            return "text/csv"
        if mt in ("application/*",):
            return default if default.startswith("application/") else "application/json"
    raise HttpError(406, f"cannot answer with Accept {header.strip()!r}; supported: {', '.join(ACCEPT_TYPES)}")


@functools.lru_cache(maxsize=64)  # clients send a handful of distinct Content-Type headers
def _media_type_cached(header: str | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    mt, params = media_type(header)
    return mt, tuple(params.items())


def decode(body: bytes, content_type: str | None, features: Sequence[Any], *, dtype: Any = np.float64,
           absent: float = np.nan) -> np.ndarray:
    """Rows of ``body`` as ``dtype`` ``[N, len(features)]`` (``absent``: the value of an index a
    LIBSVM line leaves out)."""
    mt, params = _media_type_cached(content_type)
    if not body:
        raise HttpError(400, "empty request body: send at least one row")
    if params:
        charset = dict(params).get("charset")
        if charset and charset not in _CHARSETS and mt != "application/x-npy":
            raise HttpError(415, f"charset {charset!r} is not supported; send UTF-8")
    n = len(features)
    if mt == "text/csv":
        return decode_csv(body, n, dtype=dtype)
    if mt == "application/json":
        return _rows(_load_json(body, "body"), features, "request").astype(dtype, copy=False)
    if mt in _JSONLINES_ALIASES:
        return _decode_jsonlines(body, features).astype(dtype, copy=False)
    if mt == "application/x-npy":
        return _decode_npy(body, n).astype(dtype, copy=False)
    if mt in _LIBSVM_ALIASES:
        return decode_libsvm(body, n, absent=absent).astype(dtype, copy=False)
    shown = content_type or "(none)"
    raise HttpError(415, f"unsupported content type {shown!r}; send one of {', '.join(CONTENT_TYPES)}")


# -- CSV ----------------------------------------------------------------------------------------


def decode_csv(body: bytes, n_features: int, *, dtype: Any = np.float64) -> np.ndarray:
    """CSV without a header, one row per line, as ``dtype`` ``[N, n_features]``.

    Three paths, all with the same results: one line of the right width (the single-row
    request) goes straight from one split to fastnumbers; long bodies go to Arrow's CSV
    reader (:data:`ARROW_MIN_BYTES`); the rest is one split of the whole body and one C-level
    conversion of all cells (see :func:`_parse_cells`).  The slow path (empty cells = missing,
    or an error to locate) runs only when a fast one fails.
    """
    row = _one_row(body, n_features)
    if row is not None:
        return row.astype(dtype).reshape(1, n_features)
    text = body.replace(b"\r\n", b"\n") if b"\r" in body else body
    if text.endswith(b"\n"):
        text = text[:-1]
    if not text or text.isspace():  # (isspace stops at the first other byte; strip() would copy)
        raise HttpError(400, "empty request body: send at least one row")
    if b'"' in text:
        raise HttpError(400, "quoted CSV cells are not numbers; send numeric cells only")
    n_rows = text.count(b"\n") + 1
    # (Arrow reads a blank line as a row of empty cells; the split path says it has 1 column.)
    if len(text) >= ARROW_MIN_BYTES and b"\n\n" not in text and not text.startswith(b"\n") and not text.endswith(b"\n"):
        got = _arrow_csv(text, n_features, n_rows, dtype)
        if got is not None:
            return got
    cells = text.replace(b"\n", b",").split(b",")
    if len(cells) != n_rows * n_features:
        _raise_row_width(text, n_features)
    try:
        flat = _parse_cells(cells)
    except ValueError:
        flat = _csv_slow(cells, n_features)
        _check_finite(flat, n_features, allow_nan_mask=np.isnan(flat) & _empty_mask(cells))
        return flat.reshape(n_rows, n_features).astype(dtype, copy=False)
    _check_finite(flat, n_features)
    return flat.reshape(n_rows, n_features).astype(dtype, copy=False)


def _one_row(body: bytes, n: int) -> np.ndarray | None:
    """float64 ``[n]`` for a body that is one line of ``n`` finite numbers, else None (the
    general path then parses it, or says what is wrong with it)."""
    if _try_array is None:
        return None
    line = body[:-1] if body.endswith(b"\n") else body
    if b"\n" in line or b"\r" in line or b'"' in line:
        return None
    cells = line.split(b",")
    if len(cells) != n:
        return None
    out = np.empty(n, dtype=np.float64)
    try:
        _try_array(cells, out)
    except ValueError:
        return None
    return out if np.isfinite(out).all() else None


@functools.lru_cache(maxsize=8)
def _arrow_options(n: int) -> tuple[Any, Any, Any, Any] | None:
    try:
        import pyarrow as pa
        import pyarrow.csv as pcsv
    except ImportError:
        return None
    names = [f"c{j}" for j in range(n)]
    read = pcsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 24)
    parse = pcsv.ParseOptions(quote_char=False, double_quote=False, escape_char=False, newlines_in_values=False,
                              ignore_empty_lines=False)
    # Only an empty cell is missing: Arrow's default null spellings ("NA", "nan", "NULL", ...)
    # would turn typos into missing values.
    convert = pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.float64()), null_values=[""], true_values=[],
                                  false_values=[], strings_can_be_null=False, quoted_strings_can_be_null=False)
    return pa, pcsv, (read, parse), convert


def _arrow_csv(text: bytes, n: int, n_rows: int, dtype: Any) -> np.ndarray | None:
    """The body through Arrow's CSV reader (fast_float: correctly rounded to float64, as
    ``float()``), each column rounded once more to ``dtype``; None when pyarrow is absent or
    refuses the body (a cell it cannot read, a ragged row): the general path then decides."""
    opts = _arrow_options(n)
    if opts is None:
        return None
    pa, pcsv, (read, parse), convert = opts
    try:
        table = pcsv.read_csv(pa.py_buffer(text), read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows != n_rows or table.num_columns != n:
        return None
    out = np.empty((n_rows, n), dtype=dtype)
    empty = None
    for j, col in enumerate(table.columns):
        values = col.to_numpy()  # a null (empty cell) is NaN
        if col.null_count:
            if empty is None:
                empty = np.zeros((n_rows, n), dtype=bool)
            empty[:, j] = col.is_null().to_numpy()
        out[:, j] = values
    if not np.isfinite(out).all():  # "nan" / "inf" spelled out, or overflow: only empty cells may be missing
        wide = out if out.dtype == np.float64 else np.column_stack([c.to_numpy() for c in table.columns])
        _check_finite(wide.reshape(-1), n, allow_nan_mask=None if empty is None else empty.reshape(-1))
    return out


def _parse_cells(cells: list[bytes]) -> np.ndarray:
    """float64 of every cell, correctly rounded (as Python's ``float``); ValueError on any
    cell that is not a number.  fastnumbers (the ``serve`` extra) does it in C, about 10x
    faster than a ``float`` call per cell, with the same results."""
    if _try_array is not None:
        out = np.empty(len(cells), dtype=np.float64)
        _try_array(cells, out)
        return out
    return np.fromiter(map(float, cells), dtype=np.float64, count=len(cells))


def _raise_row_width(text: bytes, n: int) -> None:
    for i, line in enumerate(text.split(b"\n")):
        got = line.count(b",") + 1
        if got != n:
            raise HttpError(400, f"row {i + 1} has {got} columns, the model takes {n}")
    raise HttpError(400, f"the model takes {n} columns per row")  # pragma: no cover - unreachable


def _empty_mask(cells: list[bytes]) -> np.ndarray:
    return np.fromiter((not c.strip() for c in cells), dtype=bool, count=len(cells))


def _csv_slow(cells: list[bytes], n: int) -> np.ndarray:
    out = np.empty(len(cells), dtype=np.float64)
    for k, c in enumerate(cells):
        s = c.strip()
        if not s:
            out[k] = np.nan
            continue
        try:
            out[k] = float(s)
        except ValueError:
            shown = s[:40].decode("utf-8", "replace")
            raise HttpError(400, f"row {k // n + 1}, column {k % n + 1}: {shown!r} is not a number") from None
    return out


def _check_finite(flat: np.ndarray, n: int, allow_nan_mask: np.ndarray | None = None) -> None:
    if allow_nan_mask is None and np.isfinite(flat).all():
        return
    bad = ~np.isfinite(flat)
    if allow_nan_mask is not None:
        bad &= ~allow_nan_mask
    if bad.any():
        k = int(np.argmax(bad))
        raise HttpError(400, f"row {k // n + 1}, column {k % n + 1}: {float(flat[k])!r} is not a finite number "
                             "(leave the cell empty for a missing value)")


# -- JSON / JSON Lines --------------------------------------------------------------------------


def _reject_constant(name: str) -> float:
    raise HttpError(400, f"{name} is not a finite number (use null for a missing value)")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise HttpError(400, f"{text[:40]} is not a finite float32/float64 number")
    return v


def _load_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)
    except HttpError:
        raise
    except (ValueError, RecursionError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise HttpError(400, f"malformed JSON in {where}: {msg}") from None


def _rows(doc: Any, features: Sequence[Any], where: str) -> np.ndarray:
    if isinstance(doc, dict):
        for key in ("instances", "inputs"):
            if key in doc:
                doc = doc[key]
                break
        else:
            doc = [doc]  # a single object: one row
    if not isinstance(doc, list):
        raise HttpError(400, f"{where}: expected a list of rows, 'instances' or 'inputs'")
    if not doc:
        raise HttpError(400, f"{where}: no rows")
    if all(_is_scalar(v) for v in doc):
        doc = [doc]  # a bare flat list: one row
    return np.vstack([_row(r, features, f"{where} row {i + 1}") for i, r in enumerate(doc)]) if len(doc) < 64 \
        else _rows_fast(doc, features, where)


def _is_scalar(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _rows_fast(doc: list[Any], features: Sequence[Any], where: str) -> np.ndarray:
    n = len(features)
    if all(type(r) is list and len(r) == n for r in doc):
        try:
            arr = np.array(doc, dtype=np.float64)
        except (TypeError, ValueError):
            pass
        else:
            if all(_is_scalar(v) for r in doc for v in r):
                return arr.reshape(len(doc), n)
    return np.vstack([_row(r, features, f"{where} row {i + 1}") for i, r in enumerate(doc)])


def _row(r: Any, features: Sequence[Any], where: str) -> np.ndarray:
    n = len(features)
    if isinstance(r, dict) and "features" in r and isinstance(r["features"], list):
        r = r["features"]
    if isinstance(r, dict):
        names = [f.name for f in features]
        unknown = [k for k in r if k not in set(names)]
        if unknown:
            raise HttpError(400, f"{where}: unknown feature {unknown[0]!r}")
        missing = [k for k in names if k not in r]
        if missing:
            raise HttpError(400, f"{where}: no value for feature {missing[0]!r} (use null for a missing value)")
        r = [r[k] for k in names]
    if not isinstance(r, list):
        raise HttpError(400, f"{where}: expected a list of {n} numbers or an object keyed by feature name")
    if len(r) != n:
        raise HttpError(400, f"{where}: has {len(r)} columns, the model takes {n}")
    for j, v in enumerate(r):
        if not _is_scalar(v):
            raise HttpError(400, f"{where}, column {j + 1}: {json.dumps(v)[:40]} is not a number")
    return np.array([np.nan if v is None else float(v) for v in r], dtype=np.float64)


def _decode_jsonlines(body: bytes, features: Sequence[Any]) -> np.ndarray:
    lines = body.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise HttpError(400, "empty request body: send at least one row")
    rows = []
    for i, line in enumerate(lines):
        doc = _load_json(line, f"line {i + 1}")
        if isinstance(doc, dict) and ("instances" in doc or "inputs" in doc):
            raise HttpError(400, f"line {i + 1}: JSON Lines holds one row per line, not 'instances'")
        rows.append(_row(doc, features, f"line {i + 1}"))
    return np.vstack(rows)


# -- LIBSVM --------------------------------------------------------------------------------------


def decode_libsvm(body: bytes, n_features: int, *, absent: float = np.nan) -> np.ndarray:
    """``text/libsvm`` (alias ``text/x-libsvm``), one row per line, as float64 ``[N, n_features]``.

    A line is ``[label] [qid:Q] index:value ...`` with an optional ``# comment``.  The label
    and ``qid`` are read and ignored (prediction needs neither); a first token holding ``:`` is
    a feature, so a line may leave the label out (XGBoost's own reader always takes the first
    token as ``label[:weight]``; weights mean nothing to a prediction and are not accepted).
    Indices are 0-based, column ``index`` of the model, as XGBoost reads LIBSVM by default
    (dmlc-core's ``indexing_mode=0``, what the SageMaker XGBoost container's
    ``xgb.DMatrix(file)`` does).  An index the line leaves out is ``absent``.  A blank line, a
    malformed pair, an index out of range or repeated, or a value that is not a finite number
    is a 400 naming the line."""
    text = body.replace(b"\r\n", b"\n") if b"\r" in body else body
    lines = text.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    if not lines or not any(line.strip() for line in lines):
        raise HttpError(400, "empty request body: send at least one row")
    out = np.full((len(lines), n_features), absent, dtype=np.float64)
    for i, line in enumerate(lines):
        toks = line.split(b"#", 1)[0].split()
        if not toks:
            raise HttpError(400, f"line {i + 1} is empty: every line is one row (a label and/or index:value pairs)")
        if b":" not in toks[0]:
            try:
                float(toks[0])
            except ValueError:
                raise HttpError(400, f"line {i + 1}: label {_shown(toks[0])} is not a number") from None
            toks = toks[1:]
        if toks and toks[0].startswith(b"qid:"):
            toks = toks[1:]
        row = out[i]
        seen = set()
        for tok in toks:
            idx, sep, val = tok.partition(b":")
            if not sep or not idx or not val:
                raise HttpError(400, f"line {i + 1}: {_shown(tok)} is not index:value")
            if not idx.isdigit():
                raise HttpError(400, f"line {i + 1}: index {_shown(idx)} is not a non-negative integer")
            k = int(idx)
            if k >= n_features:
                raise HttpError(400, f"line {i + 1}: index {k} is out of range; the model takes indices 0..{n_features - 1} "
                                     "(0-based, as XGBoost reads LIBSVM)")
            if k in seen:
                raise HttpError(400, f"line {i + 1}: index {k} appears twice")
            seen.add(k)
            row[k] = _libsvm_number(val, i, f"index {k}")
    return out


def _shown(tok: bytes) -> str:
    return repr(tok[:40].decode("utf-8", "replace"))


def _libsvm_number(tok: bytes, i: int, what: str) -> float:
    try:
        v = float(tok)
    except ValueError:
        raise HttpError(400, f"line {i + 1}, {what}: {_shown(tok)} is not a number") from None
    if not math.isfinite(v):
        raise HttpError(400, f"line {i + 1}, {what}: {_shown(tok)} is not a finite number (leave the index out for a missing value)")
    return v


# -- NPY -----------------------------------------------------------------------------------------


def _decode_npy(body: bytes, n: int) -> np.ndarray:
    try:
        arr = np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise HttpError(400, f"not a readable .npy array ({type(exc).__name__}: {exc})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiub":
        raise HttpError(400, f"the .npy array must be numeric, got {getattr(arr, 'dtype', type(arr))}")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != n:
        raise HttpError(400, f"the .npy array has shape {arr.shape}, the model takes [N, {n}]")
    if arr.shape[0] == 0:
        raise HttpError(400, "the .npy array has no rows")
    if arr.dtype.kind == "f" and np.isinf(arr).any():
        k = int(np.argmax(np.isinf(arr).reshape(-1)))
        raise HttpError(400, f"row {k // n + 1}, column {k % n + 1}: inf is not a finite number (NaN means missing)")
    return arr if arr.dtype == np.float32 else arr.astype(np.float64)


# -- responses -----------------------------------------------------------------------------------


def encode(pred: np.ndarray, accept: str) -> bytes:
    """Predictions ``[N]`` or ``[N, k]`` as ``accept`` (one CSV / JSON Lines line per input row;
    JSON ``{"predictions": [...]}``).  Floats are written with enough digits to round-trip
    exactly (the float32 value's shortest float64 spelling)."""
    rows = pred.tolist()
    if accept == "text/csv":
        if pred.dtype.kind in "US":
            import csv

            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerows([r] if pred.ndim == 1 else r for r in rows)
            return buf.getvalue().encode()
        if pred.ndim == 1:
            return ("\n".join(map(repr, rows)) + "\n").encode()
        return ("\n".join(",".join(map(repr, r)) for r in rows) + "\n").encode()
    if accept == "application/jsonlines":
        return ("\n".join(map(json.dumps, rows)) + "\n").encode()
    return json.dumps({"predictions": rows}).encode()
