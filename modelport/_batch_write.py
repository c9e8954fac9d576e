"""Writing ``modelport predict``'s output: CSV, Parquet or JSON Lines, chosen by OUT's
extension, written under a temporary name and renamed when complete.

Worker processes format CSV / JSON Lines chunks themselves (:func:`encode_text`), so the
main process only appends text (:meth:`Writer.write_text`) in input order.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from modelport.core.errors import UsageError

__all__ = ["Writer", "output_kind", "encode_text"]


def output_kind(path: str) -> str:
    """``"csv"``, ``"parquet"`` or ``"jsonl"`` by OUT's extension (a usage error otherwise)."""
    ext = os.path.splitext(path)[1].lower()
    kind = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(ext)
    if kind is None:
        raise UsageError(f"-o {path}: choose the output format by the extension: .csv, .parquet or .jsonl")
    return kind


def encode_text(kind: str, frame: Any) -> tuple[str, str]:
    """``(header, rows)`` of a CSV or JSON Lines output chunk (JSON Lines: no header)."""
    if kind == "csv":
        return (frame.iloc[:0].to_csv(index=False, lineterminator="\n"),
                frame.to_csv(index=False, header=False, lineterminator="\n") if len(frame) else "")
    # float32 columns as their shortest decimal (what the CSV writer prints), not as the
    # float64 they widen to
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == np.float32:
            out[c] = out[c].to_numpy().astype(str).astype(np.float64)
    text = out.to_json(orient="records", lines=True, double_precision=15)
    return "", (text if not text or text.endswith("\n") else text + "\n")


class Writer:
    """Writes prediction chunks to OUT; the format follows OUT's extension."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.kind = output_kind(path)
        if self.kind == "parquet":
            from modelport.core.errors import require

            require("pyarrow.parquet", extra="batch", purpose="writing Parquet output")
        self._pq = None
        self._fh = None
        self._header = True
        # Written under a temporary name and renamed by close(): a failed run leaves no
        # half-written OUT behind.
        self._tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{os.getpid()}.part")

    def write(self, frame: Any) -> None:
        """Append one pandas DataFrame of output rows."""
        if self.kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._pq is None:
                self._pq = pq.ParquetWriter(self._tmp, table.schema)
            self._pq.write_table(table.cast(self._pq.schema))
            return
        self.write_text(*encode_text(self.kind, frame))

    def write_text(self, header: str, body: str) -> None:
        """Append rows already formatted by :func:`encode_text` (workers format their own
        chunks, so the main process only copies text); ``header`` is written once."""
        if self._fh is None:
            self._fh = open(self._tmp, "w", encoding="utf-8", newline="")
        if self._header:
            self._fh.write(header)
            self._header = False
        self._fh.write(body)

    def close(self, empty: Any) -> None:
        """Finish the file (an input without rows still gets a header / schema)."""
        if self._pq is None and self._fh is None:
            self.write(empty)
        if self._pq is not None:
            self._pq.close()
        if self._fh is not None:
            self._fh.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Drop the partial output (the run failed)."""
        for h in (self._pq, self._fh):
            if h is not None:
                h.close()
        if os.path.exists(self._tmp):
            os.remove(self._tmp)
