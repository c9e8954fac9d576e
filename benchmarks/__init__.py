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

__all__ = ["suites", "run_suite", "best_time"]


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
