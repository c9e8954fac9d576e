"""``modelport predict ARTIFACT INPUT... -o OUT``: batch scoring of files through any runtime.

Inputs (CSV with or without a header, Parquet, JSON Lines, ``-`` for stdin; a directory or a
glob takes every file) are read in chunks of ``--chunk-rows`` rows, so memory stays bounded
whatever the input size.  For large inputs the chunks are scored by worker processes (one
per core by default), each loading the runtime once; results are written in input order,
one output row per input row (SageMaker batch-transform semantics).  A bad row fails the run
naming its file and line, or with ``--on-error skip`` goes to ``OUT.rejects.csv`` and is
counted in the summary.

A model file that is not an artifact (XGBoost JSON, LightGBM text, ...) is converted to ONNX
in a temporary directory and verified first (:func:`modelport.convert`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from modelport.core.errors import InputDataError, ModelFormatError, ModelportError, UsageError

__all__ = ["add_arguments", "run", "score_array", "prediction_frame", "main"]

_PARALLEL_BYTES = 32 << 20  # inputs above this many bytes use worker processes by default


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``predict``'s arguments to its subparser."""
    p.add_argument("artifact", metavar="ARTIFACT", help="an artifact (file or bundle directory), or any model file "
                                                      "(converted to ONNX in memory and verified first)")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="CSV (header optional), Parquet or JSON Lines file, '-' for stdin, a directory or a glob")
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="output file: .csv, .parquet or .jsonl")
    p.add_argument("--output", default="prediction", choices=("prediction", "probabilities", "label", "margin"),
                   help="what to write (default: prediction)")
    p.add_argument("--keep", default="", metavar="COLS", help="input columns to carry through, comma-separated")
    p.add_argument("--on-error", default="fail", choices=("fail", "skip"),
                   help="a bad row fails the run (default) or goes to OUT.rejects.csv (skip)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes (default: every core for inputs over 32 MB, else 1 = in this process)")
    p.add_argument("--chunk-rows", type=int, default=50_000, metavar="N", help="rows per chunk (default: 50000)")


# --------------------------------------------------------------------------- worker side

_WORKER: dict[str, Any] = {}


def _init_worker(artifact: str, output: str, features: list[str], keep: list[str], on_error: str,
                 out_kind: str) -> None:
    """Pool initializer: load the runtime once per process."""
    from modelport import runtimes

    _WORKER.update(rt=runtimes.load(artifact), output=output, features=features, keep=keep, on_error=on_error,
                   out_kind=out_kind)


def _usage() -> tuple[int, float, float]:
    """``(pid, peak RSS MB, CPU seconds)`` of this process (workers report it with every
    chunk: a forkserver's workers are not the command's children, so RUSAGE_CHILDREN
    would miss them)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return os.getpid(), r.ru_maxrss / 1024, r.ru_utime + r.ru_stime


def _ready(hold: float) -> int:
    """A no-op task: returns once this worker has loaded its runtime (the initializer runs
    first); ``hold`` keeps it busy a moment so that each worker takes one of them."""
    time.sleep(hold)
    return os.getpid()


def _score_chunk(chunk: Any) -> tuple[tuple, list, int, tuple[int, float, float]]:
    """Parse, score and (CSV / JSON Lines output) format one chunk: ``(payload, rejects,
    rows, usage)``.  ``payload`` is ``("text", header, rows)`` or, for Parquet output,
    ``("arrays", prediction, kept columns)``; either way the main process only writes."""
    from modelport._batch_io import parse_chunk
    from modelport._batch_write import encode_text

    w = _WORKER
    X, kept, rejects = parse_chunk(chunk, features=w["features"], keep=w["keep"], on_error=w["on_error"])
    pred = score_array(w["rt"], X, output=w["output"]) if len(X) else np.empty((0,), dtype=np.float32)
    if not len(X) or w["out_kind"] == "parquet":
        payload: tuple = ("arrays", pred, kept)
    else:
        payload = ("text", *encode_text(w["out_kind"], prediction_frame(pred, kept, w["output"])))
    return payload, rejects, len(X), _usage()


def score_array(rt: Any, X: np.ndarray, *, output: str) -> np.ndarray:
    """``rt.predict`` on a float64 feature matrix (each runtime rounds to its own input type)."""
    return np.asarray(rt.predict(X, output=output))


# --------------------------------------------------------------------------- main side


def _resolve_artifact(path: str, tmp: list[str], say: Any) -> str:
    from modelport import runtimes

    if not os.path.exists(path):
        raise InputDataError(f"{path}: no such file")
    try:
        runtimes.detect_runtime(path)
        return path
    except ModelFormatError:
        pass
    import modelport

    d = tempfile.mkdtemp(prefix="modelport-predict-")
    tmp.append(d)
    say(f"{path} is not an artifact: converting it to ONNX and verifying")
    res = modelport.convert(path, to="onnx", out=os.path.join(d, "model.onnx"))
    return str(res.path)


def prediction_frame(pred: np.ndarray, kept: dict[str, Any], output: str, names: tuple[str, ...] = ()) -> Any:
    """Kept columns first, then the prediction: one column ``output`` for [N], else
    ``output_<name or index>`` per column."""
    import pandas as pd

    cols: dict[str, Any] = dict(kept)
    if pred.ndim == 1:
        cols[output] = pred
    else:
        for j in range(pred.shape[1]):
            label = names[j] if j < len(names) and names[j] else str(j)
            cols[f"{output}_{label}"] = pred[:, j]
    return pd.DataFrame(cols)


class _Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled, self.t0, self.last = enabled, time.perf_counter(), 0.0

    def update(self, rows: int, done: bool = False) -> None:
        now = time.perf_counter()
        if not self.enabled or (not done and now - self.last < 0.5):
            return
        self.last = now
        rate = rows / max(now - self.t0, 1e-9)
        sys.stderr.write(f"\rmodelport: {rows:,} rows, {rate:,.0f} rows/s" + ("\n" if done else ""))
        sys.stderr.flush()


def _input_bytes(files: list[str]) -> int:
    return sum(os.path.getsize(f) for f in files if f != "-")


def run(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """Run ``modelport predict``; return ``(json summary, text)``."""
    from modelport import runtimes
    from modelport._batch_io import expand_inputs, open_layout, read_chunks
    from modelport._batch_write import Writer

    from modelport.core.errors import require

    require("pandas", extra="batch", purpose="modelport predict")
    if args.chunk_rows < 1:
        raise UsageError(f"--chunk-rows must be at least 1, got {args.chunk_rows}")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    keep = [k.strip() for k in args.keep.split(",") if k.strip()]
    writer = Writer(args.out)
    files = expand_inputs(list(args.inputs))
    say = (lambda m: print(f"modelport: {m}", file=sys.stderr, flush=True)) if not args.json else (lambda m: None)
    tmp: list[str] = []
    t0 = time.perf_counter()
    pool = None
    ok = False
    try:
        artifact = _resolve_artifact(args.artifact, tmp, say)
        before = set(sys.modules)
        rt = runtimes.load(artifact)
        # what loading imported (the runtime's module, onnxruntime, ...): preloaded once in
        # the forkserver below instead of imported by every worker
        runtime_modules = [type(rt).__module__] + sorted({m.split(".")[0] for m in set(sys.modules) - before
                                                          if not m.startswith("_")}
                                                         - {"modelport", "__main__"})
        sig = rt.signature
        if args.output not in sig.outputs:
            raise UsageError(f"--output {args.output}: this artifact (task {sig.task}) gives {', '.join(sig.outputs)}")
        features = list(sig.feature_names)
        workers = args.workers or ((os.cpu_count() or 1) if _input_bytes(files) > _PARALLEL_BYTES else 1)
        init = (artifact, args.output, features, keep, args.on_error, writer.kind)
        if workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            del rt
            # forkserver: workers fork from a clean server that imported the heavy modules
            # once (fast start, none of this process's threads or sessions inherited)
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["numpy", "pandas", "pyarrow.parquet", "modelport._batch_io", "modelport._batch_write",
                                        "modelport.runtimes", *runtime_modules])
            pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=init)
            # start every worker now (forkserver, imports, runtime load): part of the
            # start-up time, not of the scoring rate
            for fut in [pool.submit(_ready, 0.05) for _ in range(workers)]:
                fut.result()
        else:
            _WORKER.update(rt=rt, output=args.output, features=features, keep=keep, on_error=args.on_error,
                           out_kind=writer.kind)
        startup = time.perf_counter() - t0
        progress = _Progress(sys.stderr.isatty() and not args.json)
        rows = 0
        rejects: list = []
        pending: deque = deque()
        usage: dict[int, tuple[int, float, float]] = {}

        def drain(limit: int) -> None:
            nonlocal rows
            while len(pending) > limit:
                fut = pending.popleft()
                payload, rej, n, use = fut.result() if pool is not None else fut
                usage[use[0]] = use
                if n and payload[0] == "text":
                    writer.write_text(payload[1], payload[2])
                elif n:
                    writer.write(prediction_frame(payload[1], payload[2], args.output))
                rows += n
                rejects.extend(rej)
                progress.update(rows)

        for f in files:
            layout, handle = open_layout(f, features, keep)
            for chunk in read_chunks(layout, handle, rows=args.chunk_rows, features=features, keep=keep,
                                     split=pool is not None):
                pending.append(pool.submit(_score_chunk, chunk) if pool is not None else _score_chunk(chunk))
                drain(2 * workers if pool is not None else 0)
        drain(0)
        progress.update(rows, done=True)
        empty_pred = np.empty((0,) if args.output in ("prediction", "margin", "label") else (0, max(sig.n_classes, 1)),
                              dtype=np.int64 if args.output == "label" else np.float32)
        writer.close(prediction_frame(empty_pred, {k: np.empty(0, dtype=object) for k in keep}, args.output))
        ok = True
    except BrokenProcessPool:
        raise ModelportError("a worker process died (killed, or out of memory?): try fewer --workers or a smaller "
                             "--chunk-rows") from None
    finally:
        if not ok:
            writer.abort()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _WORKER.clear()
        for d in tmp:
            import shutil

            shutil.rmtree(d, ignore_errors=True)
    rejects_path = None
    if rejects:
        rejects_path = _write_rejects(args.out, rejects)
    seconds = time.perf_counter() - t0
    data = {"out": args.out, "rows": rows, "errors": len(rejects), "rejects": rejects_path,
            "seconds": round(seconds, 3), "startup_seconds": round(startup, 3),
            "rows_per_second": round(rows / seconds, 1) if seconds > 0 else None, "workers": workers,
            "inputs": len(files), "output": args.output,
            # peak resident memory of this process and of the largest worker, and the CPU
            # seconds of all of them (rows per CPU-second is the efficiency on a busy machine)
            "peak_rss_mb": round(_usage()[1], 1),
            "peak_worker_rss_mb": round(max((u[1] for u in usage.values()), default=0.0), 1),
            "cpu_seconds": round(_usage()[2] + (sum(u[2] for u in usage.values()) if workers > 1 else 0.0), 2)}
    text = (f"wrote {args.out}: {rows:,} rows in {seconds:.2f}s ({data['rows_per_second']:,.0f} rows/s, "
            f"{workers} worker{'s' if workers > 1 else ''})")
    if rejects:
        text += f"\n{len(rejects)} bad row(s) skipped: see {rejects_path}"
    return data, text


def _write_rejects(out: str, rejects: list) -> str:
    import csv

    path = out + ".rejects.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "line", "error", "row"])
        w.writerows(rejects)
    return path


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (``python -m modelport._predict``), same behaviour as
    ``modelport predict``: one-line errors, the exit codes of ``modelport``."""
    import json

    from modelport.core.errors import ModelportError

    p = argparse.ArgumentParser(prog="modelport predict")
    add_arguments(p)
    p.add_argument("--json", action="store_true", help="machine-readable JSON summary on stdout")
    args = p.parse_args(argv)
    try:
        data, text = run(args)
    except ModelportError as exc:
        print(f"modelport: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"modelport: error: {exc.strerror or exc} {exc.filename or ''}".rstrip(), file=sys.stderr)
        return 3
    print(json.dumps(data) if args.json else text, flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
