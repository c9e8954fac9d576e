"""``modelport bench MODEL``: every format on the user's own model, same rows, one process.

For each registered target (and each third-party backend it lists) the model is converted
with :func:`modelport.convert` (which verifies the artifact on probe rows plus the first
benchmark rows), loaded with :func:`modelport.runtimes.load`, and measured: load time,
peak memory, single-row latency percentiles, throughput per batch size, artifact size and
conversion time.  The original framework's own predict (XGBoost ``Booster.inplace_predict``,
LightGBM / scikit-learn ``predict``) is the baseline, and every format gets ratios against it.
A format that cannot run here (missing toolchain or package, unsupported model, parity
failure) is listed with the reason, never dropped.  Timing: :mod:`modelport.benchmarks._timing`.
"""

from __future__ import annotations

import gc
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelport.core.errors import (MissingDependencyError, ModelportError, UnsupportedModelError, UsageError,
                                   VerificationError)

__all__ = ["BenchOptions", "run_bench", "add_arguments", "command", "run", "main", "format_table"]

DEFAULT_BATCHES = (1, 100, 10_000)
_QUANTILES = tuple(range(0, 101, 2))
_PARITY_ROWS = 256  # benchmark rows added to the verification probe rows


@dataclass(frozen=True)
class BenchOptions:
    """What to measure and how long to spend on it."""

    formats: tuple[str, ...] | None = None
    """Format names (``onnx``, or ``onnx[onnxmltools]`` for a third-party backend); None: all."""
    batches: tuple[int, ...] = DEFAULT_BATCHES
    """Batch sizes for the throughput measurements."""
    threads: int = 1
    """Threads given to every runtime that takes a thread count, and to the baseline."""
    budget: float = 1.0
    """Seconds of sampling per measurement (a measurement stops earlier once its median is stable)."""
    data: Any = None
    """Rows (CSV path or array) to benchmark on; None: rows drawn from the model's own split thresholds."""
    load_options: Any = None
    """:class:`~modelport.converters.frontends.LoadOptions` for reading the model."""
    progress: bool = True
    """Show a progress bar (only when stderr is a terminal)."""
    seed: int = 0
    """Seed for synthesized rows."""
    cold_caches: bool = True
    """Point build caches (``XDG_CACHE_HOME``) at an empty directory, so load times include compiling."""
    extra: dict = field(default_factory=dict)
    """Free-form labels copied into the result (e.g. the zoo entry's name)."""


# --------------------------------------------------------------------------- the source model


@dataclass
class _Source:
    path: Path
    model: Any  # the IR Model, or None for a framework source no IR frontend reads
    framework_model: Any  # FrameworkModel for LightGBM / scikit-learn sources, else None
    feature_names: tuple[str, ...]
    dtype: Any
    summary: dict


def _open_source(path: Path, load_options) -> _Source:
    from modelport._api import framework_source, load

    src = framework_source(path)
    if src is not None:
        fm = src.open(path, load_options)
        return _Source(path, None, fm, tuple(fm.feature_names), np.float64,
                       {"framework": fm.framework, "framework_version": fm.framework_version,
                        "objective": fm.objective, "task": fm.task, "n_trees": fm.n_trees,
                        "n_features": fm.n_features, "format": fm.source})
    model = load(path, options=load_options)
    prov = model.provenance
    trees = getattr(model.booster, "trees", ())
    return _Source(path, model, None, tuple(f.name for f in model.features), np.float32,
                   {"framework": prov.framework if prov else "modelport-ir",
                    "framework_version": prov.framework_version if prov else "",
                    "objective": prov.objective if prov else "", "task": model.task.value, "n_trees": len(trees),
                    "n_features": model.n_features, "format": prov.source_format if prov else "modelport-ir"})


def _thresholds_from_ir(model) -> tuple[list[list[float]], list[list[int]]]:
    n = model.n_features
    thr: list[list[float]] = [[] for _ in range(n)]
    cats: list[list[int]] = [[] for _ in range(n)]
    for tree in getattr(model.booster, "trees", ()):
        internal = tree.left >= 0
        for j, t, is_cat, i in zip(tree.feature[internal], tree.threshold[internal], tree.is_categorical[internal],
                                   np.flatnonzero(internal), strict=True):
            if is_cat:
                cats[j].extend(int(c) for c in tree.cat_values[tree.cat_offsets[i]:tree.cat_offsets[i + 1]])
            else:
                thr[j].append(float(t))
    return thr, cats


def synth_rows(source: _Source, n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` rows that exercise the model: each numeric feature uniform over its split
    thresholds' range widened by 10%, categorical features over the categories the splits name
    (plus one unseen), 1% missing; features the model never splits on: standard normal."""
    rng = np.random.default_rng(seed)
    if source.model is not None:
        thr, cats = _thresholds_from_ir(source.model)
    else:
        thr = [list(np.asarray(t, float)) for t in source.framework_model.thresholds]
        cats = [list(np.asarray(c, int)) for c in source.framework_model.categories] or [[] for _ in thr]
    X = rng.normal(size=(n, len(source.feature_names)))
    for j in range(X.shape[1]):
        t = np.asarray([v for v in thr[j] if np.isfinite(v)] if j < len(thr) else [])
        if j < len(cats) and cats[j]:
            X[:, j] = rng.choice(np.unique(cats[j] + [max(cats[j]) + 1]), size=n)
        elif t.size:
            lo, hi = float(t.min()), float(t.max())
            pad = 0.1 * (hi - lo) if hi > lo else max(1.0, abs(lo))
            X[:, j] = rng.uniform(lo - pad, hi + pad, size=n)
    if source.framework_model is None or source.framework_model.accepts_nan:
        X[rng.random(X.shape) < 0.01] = np.nan
    return X.astype(source.dtype)


def _rows(source: _Source, opts: BenchOptions) -> tuple[np.ndarray, str]:
    n = max(max(opts.batches), _PARITY_ROWS)
    if opts.data is None:
        return synth_rows(source, n, seed=opts.seed), "synthesized from the model's split thresholds (1% missing)"
    from modelport._api import _rows as read

    X = read(opts.data, source.feature_names, source.dtype)
    if X.shape[0] == 0:
        raise ModelportError("--data has no rows")
    how = f"{X.shape[0]} rows from {opts.data}" if isinstance(opts.data, (str, os.PathLike)) else f"{X.shape[0]} given rows"
    return np.resize(X, (n, X.shape[1])).astype(source.dtype), how + (" (repeated)" if X.shape[0] < n else "")


# --------------------------------------------------------------------------- baseline


def _baseline(source: _Source, threads: int, load_options) -> tuple[str, Callable | None, str]:
    """(name, predict, reason-if-None) of the original framework's own predict, given
    ``threads`` threads where the framework takes a count."""
    fw = source.framework_model.framework if source.framework_model is not None else source.summary["framework"]
    if fw == "xgboost" and source.summary["format"] in ("xgboost-json", "xgboost-ubj"):
        return _xgboost_baseline(source, threads, load_options)
    if fw in ("lightgbm", "scikit-learn"):
        fm = source.framework_model
        if fm is None:
            from modelport.converters.frontends._sources import detect_source

            src = detect_source(source.path)
            fm = src.open(source.path, load_options) if src is not None else None
        if fm is not None:
            obj = fm.framework_object
            if fw == "lightgbm" and hasattr(obj, "predict"):  # a lightgbm.Booster: pin its OpenMP threads
                return (f"lightgbm {fm.framework_version} Booster.predict",
                        lambda X: obj.predict(np.asarray(X, np.float64), num_threads=threads), "")
            if hasattr(obj, "n_jobs"):
                obj.n_jobs = threads
            return f"scikit-learn {fm.framework_version} {type(obj).__name__}.predict", fm.predict, ""
    from modelport.core.ir.evaluate import predict

    model = source.model
    return "modelport reference evaluator (no framework file)", lambda X: predict(model, X), ""


def _xgboost_baseline(source: _Source, threads: int, load_options) -> tuple[str, Callable | None, str]:
    try:
        import xgboost as xgb
    except ImportError:
        return "xgboost", None, "xgboost is not installed (pip install 'modelport[xgboost]')"
    booster = xgb.Booster(model_file=str(source.path))
    booster.set_param({"nthread": threads})
    kw: dict[str, Any] = {"missing": np.nan if load_options is None or load_options.missing is None
                          else load_options.missing}
    if load_options is not None and load_options.iteration_end is not None:
        kw["iteration_range"] = (0, load_options.iteration_end)
    elif load_options is not None and load_options.use_best_iteration and booster.attr("best_iteration"):
        kw["iteration_range"] = (0, int(booster.attr("best_iteration")) + 1)
    return f"xgboost {xgb.__version__} Booster.inplace_predict", lambda X: booster.inplace_predict(X, **kw), ""


# --------------------------------------------------------------------------- measuring


def _memory_reset() -> tuple[int, str]:
    """Reset the process's peak-RSS mark if the OS lets us; return (baseline bytes, method)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # Linux: reset VmHWM to the current RSS (proc(5), clear_refs)
        return _proc_status("VmRSS"), "VmHWM - VmRSS after resetting the peak (Linux /proc/self/clear_refs)"
    except OSError:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale,
                "growth of the process's ru_maxrss (a high-water mark: only growth past earlier peaks shows)")


def _memory_peak(method: str) -> int:
    if method.startswith("VmHWM"):
        return _proc_status("VmHWM")
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def _children_cpu() -> float:
    """CPU seconds used so far by this process's finished child processes."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _proc_status(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"{key} not in /proc/self/status")


def _measure_predict(predict: Callable, X: np.ndarray, opts: BenchOptions, tick: Callable[[str], None]) -> dict:
    from modelport.benchmarks._timing import measure

    singles = [X[i:i + 1] for i in range(min(len(X), 1000))]
    it = itertools.cycle(singles)
    tick("single-row latency")
    lat = measure(lambda: predict(next(it)), budget=opts.budget)
    out = {"latency": {**lat.summary(), "quantiles_us": [float(np.percentile(lat.samples * 1e6, q))
                                                         for q in _QUANTILES]}}
    tp = {}
    for b in opts.batches:
        tick(f"batch {b}")
        batches = itertools.cycle(_variants(X, b))
        t = measure(lambda batches=batches: predict(next(batches)), budget=opts.budget, min_samples=5)
        tp[str(b)] = {"rows_per_s": b / t.median, "median_ms": t.median * 1e3, "p95_ms": t.percentile(95) * 1e3,
                      "samples": t.n, "calls_per_sample": t.calls_per_sample, "stable": t.stable}
    out["throughput"] = tp
    return out


def _variants(X: np.ndarray, b: int, k: int = 4) -> list[np.ndarray]:
    """``k`` different batches of ``b`` rows, cycled through by the throughput measurement:
    a runtime that remembers its last input (the process-based native runtimes do) must not
    be credited with cache hits.  Disjoint slices when X has the rows, else rotations."""
    if len(X) >= k * b:
        return [X[i * b:(i + 1) * b] for i in range(k)]
    return [np.roll(X[:b], i, axis=0) for i in range(k)]


def _artifact_size(path: Path) -> tuple[int, int]:
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file()]
        return sum(p.stat().st_size for p in files), len(files)
    return path.stat().st_size, 1


def _parity(report) -> dict | None:
    if report is None:
        return None
    margin = report.margin
    return {"passed": bool(report.passed), "rows": report.n_rows, "output": report.output,
            "max_ulp": int(report.max_ulp_diff), "max_abs_diff": float(report.max_abs_diff),
            "margin_max_ulp": int(margin.max_ulp_diff) if margin is not None else None,
            "tolerance": report.tolerance.name, "class_flips": int(report.class_flips)}


def _format_entries(opts: BenchOptions) -> list[tuple[str, str, Any]]:
    from modelport.converters.targets import all_targets

    entries = [(name if b == "modelport" else f"{name}[{b}]", b, t)
               for name, t in all_targets().items() for b in _backends(name, t)]
    if opts.formats is None:
        return entries
    known = {e[0]: e for e in entries}
    unknown = [f for f in opts.formats if f not in known]
    if unknown:
        raise UsageError(f"unknown format {unknown[0]!r} (known: {', '.join(known)})")
    return [known[f] for f in opts.formats]


def _backends(name: str, target) -> tuple[str, ...]:
    """The converters that write ``name``: modelport's own first, then third-party ones."""
    try:
        from modelport.converters.backends import backend_names
    except ImportError:  # older layout: the target lists its backends
        return tuple(getattr(target, "backends", ("modelport",)))
    return backend_names(name)


def _unavailable(target) -> str:
    from modelport.runtimes import all_runtimes

    if target.runtime is None:
        return ""
    runtimes = all_runtimes()
    if target.runtime not in runtimes:
        return f"runtime {target.runtime!r} is not registered"
    for tc in (*target.toolchain, *runtimes.get(target.runtime).toolchain):
        try:
            tc.require(f"the {target.name} runtime")
        except MissingDependencyError as exc:
            return str(exc)
    return ""


def _bench_format(label: str, backend: str, target, source: _Source, X: np.ndarray, work: Path, opts: BenchOptions,
                  tick: Callable[[str], None]) -> dict:
    from modelport import convert, runtimes

    row: dict[str, Any] = {"format": label, "target": target.name, "backend": backend, "runtime": target.runtime,
                           "artifact": target.artifact, "status": "ok", "reason": "", "parity": None}
    reason = _unavailable(target)
    if reason:
        return {**row, "status": "unavailable", "reason": reason}
    tick("convert + verify")
    out = work / label.replace("[", "_").replace("]", "")
    out.mkdir()
    try:
        res = convert(source.path, to=target.name, out=out, backend=backend, data=X[:_PARITY_ROWS],
                      load_options=opts.load_options)
    except VerificationError as exc:
        return {**row, "status": "parity_failure", "reason": str(exc), "parity": _parity(getattr(exc, "report", None))}
    except MissingDependencyError as exc:
        return {**row, "status": "unavailable", "reason": str(exc)}
    except UnsupportedModelError as exc:
        return {**row, "status": "unsupported", "reason": str(exc)}
    except ModelportError as exc:
        return {**row, "status": "failed", "reason": str(exc)}
    except Exception as exc:  # a broken target must not take the other formats' results down
        return {**row, "status": "failed", "reason": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}
    size, n_files = _artifact_size(res.path)
    row.update(convert_seconds=res.seconds, artifact_bytes=size, artifact_files=n_files, verified=res.verified,
               parity=_parity(res.report))
    if target.runtime is None:
        return {**row, "status": "no_runtime", "reason": "no runtime executes this format: written, not measured"}
    tick("load")
    if opts.cold_caches:  # verification built the artifact into the cache: load from an empty one
        os.environ["XDG_CACHE_HOME"] = str(work / f"cache-{out.name}")
    gc.collect()
    base_rss, mem_method = _memory_reset()
    try:
        t0 = time.perf_counter()
        try:
            rt = runtimes.load(res.path, threads=opts.threads)
            threads = opts.threads
        except (ModelportError, TypeError):  # a runtime without a thread option (e.g. the IR evaluator)
            t0 = time.perf_counter()
            rt = runtimes.load(res.path)
            threads = None
        row["load_seconds"] = time.perf_counter() - t0
        children = _children_cpu()
        t0 = time.perf_counter()
        rt.predict(X[:1])
        row["first_predict_seconds"] = time.perf_counter() - t0
        rt.predict(X[: max(opts.batches)])
        row["memory"] = {"peak_bytes": max(0, _memory_peak(mem_method) - base_rss), "method": mem_method,
                         # predicting ran child processes (a JVM, node, a Go/Rust binary): their memory is theirs
                         "child_processes": _children_cpu() > children}
        row["threads"] = threads
        row.update(_measure_predict(rt.predict, X, opts, tick))
        row["_prediction"] = np.asarray(rt.predict(X[:_PARITY_ROWS]))
    except MissingDependencyError as exc:
        return {**row, "status": "unavailable", "reason": str(exc)}
    except Exception as exc:
        return {**row, "status": "failed", "reason": f"running: {type(exc).__name__}: {' '.join(str(exc).split())}"}
    finally:
        rt = None
        gc.collect()
    return row


def run_bench(model_path: str | os.PathLike[str], options: BenchOptions | None = None) -> dict:
    """Convert ``model_path`` to every selected format, verify, measure; return the
    JSON-ready result (``formats``: one row per format, available or not, with its reason)."""
    from modelport._bench_cli import Progress
    from modelport._bench_env import environment
    from modelport.benchmarks._timing import clock_resolution_ns, thread_info

    opts = options or BenchOptions()
    if opts.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {opts.threads}")
    if not opts.batches or min(opts.batches) < 1:
        raise UsageError("--batch sizes must be positive integers")
    path = Path(model_path)
    entries = _format_entries(opts)
    source = _open_source(path, opts.load_options)
    X, rows_how = _rows(source, opts)
    progress = Progress(len(entries) + 1, opts.progress)
    saved_cache = os.environ.get("XDG_CACHE_HOME")
    rows: list[dict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="modelport-bench-") as tmp:
            if opts.cold_caches:
                os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
            name, base_predict, why = _baseline(source, opts.threads, opts.load_options)
            progress.step(f"baseline {name.split()[0]}")
            baseline: dict[str, Any] = {"name": name, "status": "ok" if base_predict else "unavailable", "reason": why,
                                        "threads": opts.threads}
            if base_predict is not None:
                try:
                    baseline.update(_measure_predict(base_predict, X, opts, progress.tick))
                    base_pred = np.asarray(base_predict(X[:_PARITY_ROWS]))
                except Exception as exc:  # the framework refusing these rows is a result, not a crash
                    base_predict = None
                    baseline.update(status="failed", reason=f"{type(exc).__name__}: {' '.join(str(exc).split())}")
            progress.advance()
            for label, backend, target in entries:
                progress.step(label)
                row = _bench_format(label, backend, target, source, X, Path(tmp), opts, progress.tick)
                pred = row.pop("_prediction", None)
                if pred is not None and base_predict is not None and pred.size == base_pred.size:
                    diff = np.abs(pred.astype(np.float64).reshape(-1) - base_pred.astype(np.float64).reshape(-1))
                    row["max_abs_diff_vs_baseline"] = float(np.nanmax(diff)) if diff.size else 0.0
                rows.append(row)
                progress.advance()
    finally:
        progress.close()
        if saved_cache is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved_cache
    if baseline["status"] == "ok":
        for row in rows:
            if "latency" in row:
                row["vs_baseline"] = _ratios(row, baseline)
    from modelport._bench_env import recommend

    result = {
        "model": {"path": str(path), **source.summary}, "rows": {"n": int(X.shape[0]), "source": rows_how},
        "settings": {"batches": list(opts.batches), "budget_seconds": opts.budget, "cold_caches": opts.cold_caches,
                     **thread_info(opts.threads), "clock": "time.perf_counter_ns",
                     "clock_resolution_ns": clock_resolution_ns()},
        "environment": environment([t for _, _, t in entries]), "baseline": baseline, "formats": rows, **opts.extra,
    }
    result["recommendations"] = recommend(result)
    return result


def _ratios(row: dict, base: dict) -> dict:
    """Time ratios against the baseline: > 1 means slower than the framework's own predict."""
    out = {"p50_latency": row["latency"]["p50_us"] / base["latency"]["p50_us"],
           "p99_latency": row["latency"]["p99_us"] / base["latency"]["p99_us"]}
    for b, tp in row["throughput"].items():
        out[f"time_{b}"] = base["throughput"][b]["rows_per_s"] / tp["rows_per_s"]
    return out


# --------------------------------------------------------------------------- text table and CLI

from modelport._bench_cli import add_arguments, command, format_table, main, run  # noqa: E402
