"""Request bodies to rows and predictions to response bodies, for ``/invocations``.

Every decoder returns a float64 ``[N, F]`` array (text rounded once, from its decimal
spelling to float64; the server then rounds once more to the runtime's input type, the way
:func:`modelport.runtimes._coerce.coerce_input` reads text).  Missing values: an empty CSV
cell, a JSON ``null``, a NaN in an ``.npy`` array.  ``NaN`` / ``inf`` spelled as text, and
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

__all__ = ["HttpError", "CONTENT_TYPES", "ACCEPT_TYPES", "media_type", "decode", "encode", "choose_accept"]

#: Request content types /invocations reads.
CONTENT_TYPES = ("text/csv", "application/json", "application/jsonlines", "application/x-npy")
#: Response types /invocations writes.
ACCEPT_TYPES = ("text/csv", "application/json", "application/jsonlines")
_JSONLINES_ALIASES = {"application/jsonlines", "application/json-lines", "application/x-jsonlines", "application/jsonl"}
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


def decode(body: bytes, content_type: str | None, features: Sequence[Any]) -> np.ndarray:
    """Rows of ``body`` as float64 ``[N, len(features)]``."""
    mt, params = media_type(content_type)
    if not body:
        raise HttpError(400, "empty request body: send at least one row")
    charset = params.get("charset")
    if charset and charset not in _CHARSETS and mt != "application/x-npy":
        raise HttpError(415, f"charset {charset!r} is not supported; send UTF-8")
    n = len(features)
    if mt == "text/csv":
        return decode_csv(body, n)
    if mt == "application/json":
        return _rows(_load_json(body, "body"), features, "request")
    if mt in _JSONLINES_ALIASES:
        return _decode_jsonlines(body, features)
    if mt == "application/x-npy":
        return _decode_npy(body, n)
    shown = content_type or "(none)"
    raise HttpError(415, f"unsupported content type {shown!r}; send one of {', '.join(CONTENT_TYPES)}")


# -- CSV ----------------------------------------------------------------------------------------


def decode_csv(body: bytes, n_features: int) -> np.ndarray:
    """CSV without a header, one row per line, as float64 ``[N, n_features]``.

    Fast path: one split of the whole body and one C-level conversion of all cells (see
    :func:`_parse_cells`); the slow path (empty cells = missing, or an error to locate) runs only when the fast one fails.
    """
    text = body.replace(b"\r\n", b"\n") if b"\r" in body else body
    if text.endswith(b"\n"):
        text = text[:-1]
    if not text.strip():
        raise HttpError(400, "empty request body: send at least one row")
    if b'"' in text:
        raise HttpError(400, "quoted CSV cells are not numbers; send numeric cells only")
    n_rows = text.count(b"\n") + 1
    cells = text.replace(b"\n", b",").split(b",")
    if len(cells) != n_rows * n_features:
        _raise_row_width(text, n_features)
    try:
        flat = _parse_cells(cells)
    except ValueError:
        flat = _csv_slow(cells, n_features)
        _check_finite(flat, n_features, allow_nan_mask=np.isnan(flat) & _empty_mask(cells))
        return flat.reshape(n_rows, n_features)
    _check_finite(flat, n_features)
    return flat.reshape(n_rows, n_features)


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
