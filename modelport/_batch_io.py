"""Reading rows for ``modelport predict``: CSV (header optional), Parquet, JSON Lines.

Readers yield *raw chunks* (text lines or a pandas DataFrame) with the file name and the
line/row number of their first row; :func:`parse_chunk` turns a raw chunk into a float64
feature matrix, the carried-through (``--keep``) columns and the rejected rows.  Parsing runs
in the worker processes, so the main process only splits files into chunks and writes
(:mod:`modelport._batch_write`).

A bad row (wrong width, a non-number, a JSON line that is not an object or array) is an
:class:`~modelport.core.errors.InputDataError` naming the file and line, or, with
``on_error="skip"``, a reject ``(file, line, reason, raw text)``.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import itertools
import json
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelport.core.errors import InputDataError, UsageError

__all__ = ["Layout", "RawChunk", "expand_inputs", "open_layout", "read_chunks", "parse_chunk"]

_EXT = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
        ".ndjson": "jsonl", ".json": "jsonl"}


@dataclass(frozen=True)
class Layout:
    """How one input's rows map to the model's features."""

    kind: str
    """``"csv"``, ``"parquet"`` or ``"jsonl"``."""
    name: str
    """The file name used in messages (``<stdin>`` for ``-``)."""
    columns: tuple[str, ...] = ()
    """CSV with a header / Parquet: every column name; empty for a CSV without a header."""
    feature_index: tuple[int, ...] = ()
    """CSV: the column index of each feature, in the model's order."""
    keep_index: tuple[int, ...] = ()
    """CSV: the column index of each ``--keep`` column."""
    width: int = 0
    """CSV: fields per line."""
    header: bool = False


@dataclass
class RawChunk:
    """A slice of one input: ``data`` (CSV/JSON Lines: whole lines, one bytes object, cheap to
    send to a worker) or ``frame`` (Parquet)."""

    layout: Layout
    first: int
    """1-based line (CSV/JSON Lines) or row (Parquet) number of the first row."""
    data: bytes = b""
    frame: Any = None
    row_groups: tuple[str, tuple[int, ...]] | None = None
    """Parquet: ``(path, row group indices)`` the worker reads itself (no copy through the
    main process)."""
    row_range: tuple[int, int] | None = None
    """Parquet: only rows ``[start, stop)`` of the one group in ``row_groups``."""

    @property
    def lines(self) -> list[bytes]:
        """The text lines (without their line ends)."""
        out = self.data.split(b"\n")
        if out and out[-1] == b"":
            out.pop()
        return [ln[:-1] if ln.endswith(b"\r") else ln for ln in out]


def _kind(path: str, head: bytes) -> str:
    p = path[:-3] if path.endswith(".gz") else path
    ext = os.path.splitext(p)[1].lower()
    if ext in _EXT:
        return _EXT[ext]
    if head.startswith(b"PAR1"):
        return "parquet"
    return "jsonl" if head.lstrip()[:1] in (b"{", b"[") else "csv"


def expand_inputs(inputs: list[str]) -> list[str]:
    """Every file named by INPUT...: a file, ``-``, a directory (its files with a known
    extension, sorted) or a glob (sorted matches)."""
    out: list[str] = []
    for spec in inputs:
        if spec == "-":
            out.append(spec)
        elif os.path.isdir(spec):
            files = sorted(str(p) for p in Path(spec).iterdir() if p.is_file() and not p.name.startswith((".", "_"))
                           and _EXT.get(os.path.splitext(p.name[:-3] if p.name.endswith(".gz") else p.name)[1].lower()))
            if not files:
                raise InputDataError(f"{spec}: the directory holds no .csv, .parquet or .jsonl file")
            out += files
        elif any(c in spec for c in "*?["):
            files = sorted(f for f in glob.glob(spec, recursive=True) if os.path.isfile(f))
            if not files:
                raise InputDataError(f"{spec}: no file matches")
            out += files
        elif not os.path.exists(spec):
            raise InputDataError(f"{spec}: no such file")
        else:
            out.append(spec)
    if out.count("-") > 1:
        raise UsageError("'-' (stdin) given twice")
    return out


def _open_binary(path: str):
    if path == "-":
        return sys.stdin.buffer
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def _is_number(cell: str) -> bool:
    cell = cell.strip()
    if not cell:
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def open_layout(path: str, features: list[str], keep: list[str]) -> tuple[Layout, Any]:
    """Open one input; return its layout and an open handle (a binary stream, or a
    ``pyarrow.parquet.ParquetFile``)."""
    name = "<stdin>" if path == "-" else path
    fh = _open_binary(path)
    head = fh.peek(4096)[:4096] if hasattr(fh, "peek") else b""
    kind = _kind(path if path != "-" else "", head)
    if kind == "parquet":
        from modelport.core.errors import require

        pq = require("pyarrow.parquet", extra="batch", purpose="reading Parquet input")
        src = io.BytesIO(fh.read()) if path == "-" else path  # stdin cannot seek: Parquet needs its footer
        if path != "-":
            fh.close()
        try:
            pf = pq.ParquetFile(src)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise InputDataError(f"{name}: not a readable Parquet file ({' '.join(str(exc).split())})") from None
        cols = tuple(pf.schema_arrow.names)
        _check_columns(name, cols, features, keep)
        return Layout("parquet", name, columns=cols, header=True), pf
    if kind == "jsonl":
        return Layout("jsonl", name), fh
    first = fh.readline()
    text = first.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    cells = next(csv.reader([text]), [])
    if cells and all(_is_number(c) for c in cells):
        if keep:
            raise UsageError(f"{name}: --keep needs a CSV header naming the columns (this file has none)")
        if len(cells) != len(features):
            raise InputDataError(f"{name}, line 1: {len(cells)} fields but the model has {len(features)} features "
                                 "(a CSV without a header must hold exactly the features, in the model's order)")
        layout = Layout("csv", name, feature_index=tuple(range(len(features))), width=len(features))
        return layout, _Prepend(first, fh)
    cols = tuple(c.strip() for c in cells)
    _check_columns(name, cols, features, keep)
    return Layout("csv", name, columns=cols, feature_index=tuple(cols.index(f) for f in features),
                  keep_index=tuple(cols.index(k) for k in keep), width=len(cols), header=True), fh


def _check_columns(name: str, cols: tuple[str, ...], features: list[str], keep: list[str]) -> None:
    missing = [f for f in features if f not in cols]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputDataError(f"{name}: the header lacks feature column(s) {shown}")
    absent = [k for k in keep if k not in cols]
    if absent:
        raise UsageError(f"{name}: --keep column {absent[0]!r} is not in the input (columns: {', '.join(cols[:20])})")


class _Prepend:
    """A binary line source with one line pushed back."""

    def __init__(self, first: bytes, rest: Any) -> None:
        self._first, self._rest = first, rest

    def __iter__(self) -> Iterator[bytes]:
        return itertools.chain([self._first], self._rest)

    def read(self, size: int = -1) -> bytes:
        """The pushed-back line first, then the rest."""
        if self._first:
            first, self._first = self._first, b""
            return first
        return self._rest.read(size)

    def close(self) -> None:
        if self._rest is not sys.stdin.buffer:
            self._rest.close()


def read_chunks(layout: Layout, handle: Any, *, rows: int, features: list[str], keep: list[str],
                split: bool = False) -> Iterator[RawChunk]:
    """Split one opened input into chunks of about ``rows`` rows (bounded memory).

    Parquet (not stdin): chunks name row groups the worker reads itself (nothing but the
    file name and group numbers crosses to the worker); small groups are joined to about
    ``rows`` rows.  A group over ``4 * rows`` rows (pyarrow writes groups of 1Mi rows,
    Spark of 128 MB) is, with ``split`` (worker processes), cut into row ranges of at most
    ``max(4 * rows, group / 8)`` rows that the workers stream from the group, so that every
    worker has a share of it; without ``split`` it is streamed here in batches of ``rows``."""
    if layout.kind == "parquet":
        row = 1
        cols = list(dict.fromkeys(features + keep))
        meta = handle.metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        if layout.name == "<stdin>":
            for batch in handle.iter_batches(batch_size=rows, columns=cols):
                yield RawChunk(layout, row, frame=batch.to_pandas())
                row += batch.num_rows
            return
        group: list[int] = []
        n = 0
        for i, size in enumerate(sizes):
            if size > 4 * rows:
                if group:
                    yield RawChunk(layout, row, row_groups=(layout.name, tuple(group)))
                    row += n
                    group, n = [], 0
                if split:
                    step = max(4 * rows, -(-size // 8))
                    for start in range(0, size, step):
                        yield RawChunk(layout, row, row_groups=(layout.name, (i,)),
                                       row_range=(start, min(start + step, size)))
                        row += min(step, size - start)
                else:
                    for batch in handle.iter_batches(batch_size=rows, row_groups=[i], columns=cols):
                        yield RawChunk(layout, row, frame=batch.to_pandas())
                        row += batch.num_rows
                continue
            group.append(i)
            n += size
            if n >= rows:
                yield RawChunk(layout, row, row_groups=(layout.name, tuple(group)))
                row += n
                group, n = [], 0
        if group:
            yield RawChunk(layout, row, row_groups=(layout.name, tuple(group)))
        return
    line = 2 if layout.header else 1
    try:
        for block, n in _line_blocks(handle, rows):
            yield RawChunk(layout, line, data=block)
            line += n
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def _line_blocks(handle: Any, rows: int) -> Iterator[tuple[bytes, int]]:
    """``(block, lines)``: ``rows`` whole lines at a time (the last block may hold fewer),
    each block ending with ``\\n``.  Reads large blocks and cuts them at the ``rows``-th
    newline with bytes/numpy operations: no Python-level loop over lines (iterating a
    file line by line cost the main process about a second per million rows, as much as
    a worker's parsing)."""
    rest = b""
    seen_bytes, seen_lines = 0, 0  # for the bytes-per-line estimate that sizes each read
    eof = False
    while True:
        parts, n = [rest], rest.count(b"\n")
        while n < rows and not eof:
            per_line = seen_bytes / seen_lines if seen_lines else 256
            more = handle.read(max(1 << 16, int((rows - n) * per_line * 1.05)))
            if not more:
                eof = True
                break
            k = more.count(b"\n")
            parts.append(more)
            n += k
            seen_bytes, seen_lines = seen_bytes + len(more), seen_lines + k
        data = b"".join(parts) if len(parts) > 1 else rest
        if not data:
            return
        if n >= rows:
            cut = int(np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)[rows - 1]) + 1
            block, rest = data[:cut], data[cut:]
            n = rows
        else:
            block, rest = data, b""
            if not block.endswith(b"\n"):
                block += b"\n"
                n += 1
        yield block, n


# --------------------------------------------------------------------------- parsing (workers)


def _reject(rejects: list, on_error: str, layout: Layout, line: int, reason: str, raw: str, what: str = "line") -> None:
    if on_error != "skip":
        raise InputDataError(f"{layout.name}, {what} {line}: {reason}")
    rejects.append((layout.name, line, reason, raw))


def _float(cell: Any) -> float:
    """A cell as float64: empty/None is NaN; anything else must be a number."""
    if cell is None:
        return math.nan
    if isinstance(cell, bool):
        raise ValueError
    if isinstance(cell, (int, float)):
        return float(cell)
    s = str(cell).strip()
    return math.nan if not s else float(s)


def parse_chunk(chunk: RawChunk, *, features: list[str], keep: list[str],
                on_error: str) -> tuple[np.ndarray, dict[str, Any], list[tuple[str, int, str, str]]]:
    """``(X float64 [n, n_features], kept columns, rejects)`` for one raw chunk."""
    kind = chunk.layout.kind
    if kind == "parquet":
        return _parse_frame(chunk, features, keep, on_error)
    if kind == "jsonl":
        return _parse_jsonl(chunk, features, keep, on_error)
    fast = _parse_csv_fast(chunk)
    return fast if fast is not None else _parse_csv_slow(chunk, on_error)


def _parse_csv_fast(chunk: RawChunk):
    """pandas' C parser on the whole block; None (use the line-by-line path) on any doubt:
    a line of another width, a blank line, a cell that is not a plain number."""
    import pandas as pd

    lay = chunk.layout
    data = chunk.data
    if b'"' in data:
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)  # every line ends with \n (read_chunks adds a last one)
    commas = np.searchsorted(np.flatnonzero(buf == 44), ends)
    starts = np.concatenate(([0], ends[:-1] + 1))
    n_lines = len(ends)
    if not np.all(np.diff(commas, prepend=0) == lay.width - 1) or np.any(ends - starts <= 1):
        return None  # a line of another width, or a blank one ("\n" or "\r\n")
    usecols = sorted(set(lay.feature_index) | set(lay.keep_index))
    na = {i: [""] for i in lay.feature_index}
    na.update({i: [] for i in lay.keep_index if i not in na})
    dtype = {i: "float64" for i in lay.feature_index}
    dtype.update({i: str for i in lay.keep_index if i not in dtype})
    try:
        df = pd.read_csv(io.BytesIO(data), header=None, names=list(range(lay.width)), usecols=usecols,
                         dtype=dtype, keep_default_na=False, na_values=na, skip_blank_lines=False, engine="c")
    except (ValueError, pd.errors.ParserError):
        return None
    if len(df) != n_lines:
        return None
    X = np.empty((len(df), len(lay.feature_index)), dtype=np.float64)
    for j, i in enumerate(lay.feature_index):
        X[:, j] = df[i].to_numpy(dtype=np.float64)
    kept = {lay.columns[i]: df[i].to_numpy(dtype=object) for i in lay.keep_index}
    return X, kept, []


def _parse_csv_slow(chunk: RawChunk, on_error: str):
    lay = chunk.layout
    rows: list[list[float]] = []
    kept: dict[str, list[Any]] = {lay.columns[i]: [] for i in lay.keep_index}
    rejects: list = []
    for k, raw in enumerate(chunk.lines):
        line = chunk.first + k
        text = raw.decode("utf-8", errors="replace")
        if not text.strip():
            if lay.width == 1:  # one feature: an empty line is one missing value
                rows.append([math.nan])
                continue
            _reject(rejects, on_error, lay, line, f"empty line (expected {lay.width} fields)", text)
            continue
        cells = next(csv.reader([text]))
        if len(cells) != lay.width:
            _reject(rejects, on_error, lay, line, f"{len(cells)} fields, expected {lay.width}", text)
            continue
        vals = []
        for i in lay.feature_index:
            try:
                vals.append(_float(cells[i]))
            except ValueError:
                col = lay.columns[i] if lay.header else f"column {i + 1}"
                _reject(rejects, on_error, lay, line, f"{col}: {cells[i][:40]!r} is not a number", text)
                break
        else:
            rows.append(vals)
            for i in lay.keep_index:
                kept[lay.columns[i]].append(cells[i])
    X = np.array(rows, dtype=np.float64).reshape(len(rows), len(lay.feature_index))
    return X, {k: np.array(v, dtype=object) for k, v in kept.items()}, rejects


def _parse_jsonl(chunk: RawChunk, features: list[str], keep: list[str], on_error: str):
    lay = chunk.layout
    rows: list[list[float]] = []
    kept: dict[str, list[Any]] = {k: [] for k in keep}
    rejects: list = []
    for k, raw in enumerate(chunk.lines):
        line = chunk.first + k
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            continue  # JSON Lines allows blank lines between records
        try:
            rec = json.loads(text)
        except ValueError as exc:
            _reject(rejects, on_error, lay, line, f"not JSON ({exc.msg})", text)
            continue
        try:
            if isinstance(rec, list):
                if keep:
                    raise KeyError("--keep needs JSON objects (this line is an array)")
                if len(rec) != len(features):
                    raise KeyError(f"{len(rec)} values, expected {len(features)}")
                vals = [_float(v) for v in rec]
            elif isinstance(rec, dict):
                absent = [f for f in features + keep if f not in rec]
                if absent:
                    raise KeyError(f"no key {absent[0]!r}")
                vals = []
                for f in features:
                    try:
                        vals.append(_float(rec[f]))
                    except (ValueError, TypeError):
                        raise KeyError(f"{f}: {str(rec[f])[:40]!r} is not a number") from None
            else:
                raise KeyError("not a JSON object or array")
        except (ValueError, TypeError):
            _reject(rejects, on_error, lay, line, "a value is not a number", text)
            continue
        except KeyError as exc:
            _reject(rejects, on_error, lay, line, exc.args[0], text)
            continue
        rows.append(vals)
        for kk in keep:
            kept[kk].append(rec[kk])
    X = np.array(rows, dtype=np.float64).reshape(len(rows), len(features))
    return X, {k: np.array(v, dtype=object) for k, v in kept.items()}, rejects


_PARQUET_FILES: dict[str, Any] = {}


def _numeric_table(table: Any, features: list[str], keep: list[str]):
    """``(X, kept, [])`` straight from Arrow when every feature column is a float or integer
    column (nulls are NaN, as through pandas); None otherwise (the pandas path checks each
    value).  Skips building a DataFrame of the features."""
    import pyarrow as pa

    cols = [table.column(f) for f in features]
    if not all(pa.types.is_floating(c.type) or pa.types.is_integer(c.type) for c in cols):
        return None
    X = np.empty((table.num_rows, len(features)), dtype=np.float64)
    for j, c in enumerate(cols):
        X[:, j] = c.to_numpy()
    kept = {}
    if keep:
        df = table.select(list(dict.fromkeys(keep))).to_pandas()
        kept = {k: df[k].to_numpy() for k in keep}
    return X, kept, []


def _read_range(pf: Any, group: int, start: int, stop: int, cols: list[str]) -> Any:
    """Rows ``[start, stop)`` of one row group, streamed (memory: the range, not the group)."""
    import pyarrow as pa

    parts, at = [], 0
    for batch in pf.iter_batches(batch_size=stop - start, row_groups=[group], columns=cols, use_threads=False):
        lo, hi = max(start, at), min(stop, at + batch.num_rows)
        if hi > lo:
            parts.append(batch.slice(lo - at, hi - lo))
        at += batch.num_rows
        if at >= stop:
            break
    return pa.Table.from_batches(parts)


def _parse_frame(chunk: RawChunk, features: list[str], keep: list[str], on_error: str):
    df = chunk.frame
    if chunk.row_groups is not None:
        import pyarrow.parquet as pq

        path, groups = chunk.row_groups
        pf = _PARQUET_FILES.get(path)
        if pf is None:
            _PARQUET_FILES.clear()  # one open file per worker
            pf = _PARQUET_FILES[path] = pq.ParquetFile(path)
        cols = list(dict.fromkeys(features + keep))
        if chunk.row_range is None:
            table = pf.read_row_groups(list(groups), columns=cols, use_threads=False)
        else:
            table = _read_range(pf, groups[0], *chunk.row_range, cols)
        fast = _numeric_table(table, features, keep)
        if fast is not None:
            return fast
        df = table.to_pandas()
    n = len(df)
    X = np.empty((n, len(features)), dtype=np.float64)
    good = np.ones(n, dtype=bool)
    rejects: list = []
    for j, f in enumerate(features):
        col = df[f]
        if col.dtype.kind in "fiub":
            X[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        vals = col.to_numpy(dtype=object)
        for r, v in enumerate(vals):
            try:
                X[r, j] = _float(v)
            except (ValueError, TypeError):
                if good[r]:
                    _reject(rejects, on_error, chunk.layout, chunk.first + r, f"{f}: {str(v)[:40]!r} is not a number",
                            json.dumps({c: str(df[c].iloc[r]) for c in df.columns}), what="row")
                good[r] = False
    kept = {k: df[k].to_numpy()[good] for k in keep}
    return (X if good.all() else X[good]), kept, rejects
