"""Benchmarks: each ``bench_*`` module times modelport against the anchors run in the same
process (XGBoost's own predict, onnxruntime, ...) and prints ratios.  A module is a suite
when it has ``run(...) -> dict`` and ``format_text(dict) -> str``; ``modelport bench`` and
``modelport demo`` find the suites here, and each is also runnable as
``python -m modelport.benchmarks.bench_NAME [--json]``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType
from typing import Any

__all__ = ["suites", "run_suite", "best_time", "single_row_latency", "batch_throughput", "BATCHES"]

#: Batch sizes the suites time throughput at.
BATCHES = (1, 100, 10_000)


def best_time(fn, *, repeats: int) -> float:
    """The best wall time, in seconds, of ``repeats`` calls of ``fn()`` (the least disturbed
    run estimates the cost best on a shared machine)."""
    import time

    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def single_row_latency(fn, rows, calls: int) -> dict:
    """p50 / p99 in microseconds of ``calls`` one-row calls ``fn(rows[i:i+1])``, cycling through
    ``rows``."""
    import time

    import numpy as np

    times = np.empty(calls)
    for i in range(calls):
        row = rows[i % len(rows): i % len(rows) + 1]
        t0 = time.perf_counter()
        fn(row)
        times[i] = time.perf_counter() - t0
    return {"p50_us": float(np.percentile(times, 50) * 1e6), "p99_us": float(np.percentile(times, 99) * 1e6)}


def batch_throughput(fn, X, repeats: int, batches=BATCHES) -> dict:
    """Rows/s of ``fn`` on the first ``n`` rows of ``X`` for each batch size, after one warm-up
    call (JIT, caches): the best of ``repeats`` timings."""
    out = {}
    for n in batches:
        batch = X[:n]
        fn(batch)
        out[str(n)] = n / best_time(lambda b=batch: fn(b), repeats=repeats)
    return out


def suites() -> dict[str, ModuleType]:
    """Suite name (``bench_onnx`` → ``onnx``) → module, in name order."""
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("bench_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(mod, "run", None)) and callable(getattr(mod, "format_text", None)):
            found[info.name[len("bench_"):]] = mod
    return found


def run_suite(mod: ModuleType, *, repeats: int | None = None) -> dict[str, Any]:
    """Run one suite, with ``repeats`` timed repeats when given."""
    kwargs = {"repeats": repeats} if repeats is not None and "repeats" in inspect.signature(mod.run).parameters else {}
    return mod.run(**kwargs)
