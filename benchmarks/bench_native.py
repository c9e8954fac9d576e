"""Speed of the generated C (and pure Python) against XGBoost, onnxruntime, m2cgen and tl2cgen:
same rows, same process, one table.

Run: ``modelport bench native`` or ``python -m modelport.benchmarks.bench_native [--json]
[--rounds R] [--big-rows N] [--compile]``.

Trains 100 trees of depth 6 on 20 features (binary:logistic, seeded, 2% NaN; ~590 node visits
per row), converts it to the ``c`` target and loads it with :mod:`modelport.runtimes.native.c`;
before timing, modelport's margins must equal XGBoost's bit for bit.  Then, for every engine
that is installed:

* single-row latency, p50 and p99 in microseconds over the same 256 rows cycled: each call is
  timed alone (``perf_counter_ns``, the cost of the clock pair subtracted); ``rounds`` rounds,
  **p50 = the smallest round median (min-of-medians), p99 = the median of the round p99s**.
  ``cpu_us`` is the process CPU time of a round divided by its calls (excludes time the
  process was descheduled: the fairest figure on a shared machine);
* throughput in rows/s at 1, 100 and 10,000 rows per call: per round, the median per-call time
  of repeated calls; reported: the best round (min-of-medians); also rows per second of
  process CPU time (``N_per_cpu_s``: counts every thread an engine uses, and not the time the
  process waited for a core);
* the C runtime's batch at ``big_rows`` rows (default 1,000,000) with 1, 2 and ``cpu_count``
  threads, and the bits of the threaded results compared with one thread.

Engines: ``c_fast_path`` (``CRuntime.row_predictor("margin")``: the CPython extension, or its
ctypes fallback) on a float32 array row and on a list (its batch figures: a Python loop of
single-row calls); ``c_predict`` (the public ``predict``,
margins); ``python_generated`` (the generated module, per row); ``onnxruntime`` (modelport's
ONNX, one thread, margins); ``xgboost`` (``Booster.inplace_predict``, nthread 1, margins);
``m2cgen_c`` (m2cgen's C compiled with ``cc -O2``, called through ctypes row by row, its only
interface); ``tl2cgen`` (its compiled library and DMatrix API, one thread).  m2cgen reads the
scikit-learn wrapper's ``base_score`` parameter and breaks on XGBoost 3.x, whose base_score is
an array (``"[5E-1]"``): for m2cgen only, a temporary copy of the model JSON gets the scalar and
the wrapper's ``base_score`` attribute is set to it; its agreement with XGBoost is reported.

Ratios: C single-row p50 against the 1.5 us goal; C batch rows/s at 10,000 rows over XGBoost's,
wall and per CPU second (goal >= 2, judged on CPU time); thread scaling (2 threads / 1 thread,
and cpu_count / 1) and CPU per row by threads.  Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

N_TREES, DEPTH, N_FEATURES, N_ROWS = 100, 6, 20, 10_000
BATCHES = (1, 100, 10_000)
SINGLE_ROW_GOAL_US = 1.5
BATCH_GOAL_X = 2.0


def synthetic_model(n_trees: int, depth: int, *, n_features: int = 20, fill: float = 1.0, seed: int = 0):
    """A random XGBoost-like IR model (binary:logistic): ``n_trees`` trees, every split with
    probability ``fill`` down to ``depth`` (1.0: complete trees)."""
    from modelport.core.ir.model import Comparison, Feature, Model, PostTransform, Task, Tree, TreeEnsemble

    rng = np.random.default_rng(seed)
    trees = []
    for _ in range(n_trees):
        left, right, level = [-1], [-1], [0]
        i = 0
        while i < len(left):
            if level[i] < depth and (level[i] == 0 or rng.random() < fill):
                left[i], right[i] = len(left), len(left) + 1
                left += [-1, -1]
                right += [-1, -1]
                level += [level[i] + 1] * 2
            i += 1
        n = len(left)
        la = np.array(left, np.int32)
        trees.append(Tree(left=la, right=np.array(right, np.int32),
                          feature=np.where(la >= 0, rng.integers(0, n_features, n), 0).astype(np.int32),
                          threshold=np.where(la >= 0, rng.normal(size=n), 0).astype(np.float32),
                          default_left=rng.random(n) < 0.5, is_categorical=np.zeros(n, bool),
                          cat_offsets=np.zeros(n + 1, np.int64), cat_values=np.zeros(0, np.int32),
                          value=np.where(la[:, None] < 0, rng.normal(size=(n, 1)) * 0.1, 0).astype(np.float32)))
    ens = TreeEnsemble(trees=tuple(trees), tree_output=np.zeros(n_trees, np.int32),
                       tree_weight=np.ones(n_trees, np.float32), comparison=Comparison.LT,
                       threshold_dtype="float32", categories_in_set_go_left=False)
    return Model(task=Task.BINARY, features=tuple(Feature(f"f{i}") for i in range(n_features)), n_outputs=1,
                 n_classes=2, booster=ens, base_score=np.zeros(1, np.float32), post_transform=PostTransform.SIGMOID)


def _compile_time(model, name: str) -> dict:
    from modelport.converters.targets import WriteOptions
    from modelport.converters.targets.native.c import write_c
    from modelport.runtimes.native.c import CRuntime

    with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as cache:
        old = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = cache  # a cold build, not a cached library
        try:
            t0 = time.perf_counter()
            write_c(model, Path(d) / "m.c", WriteOptions())
            t1 = time.perf_counter()
            rt = CRuntime(Path(d) / "m.c", threads=1)
            t2 = time.perf_counter()
        finally:
            if old is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = old
        size = sum(f.stat().st_size for f in (Path(d) / "m.c").iterdir())
        del rt
    nodes = sum(t.left.size for t in model.booster.trees)
    return {"model": name, "trees": len(model.booster.trees), "nodes": int(nodes), "generate_s": t1 - t0,
            "compile_s": t2 - t1, "source_mb": size / 1e6}


def _clock_pair_ns() -> float:
    clock = time.perf_counter_ns
    s = []
    for _ in range(5000):
        t0 = clock()
        s.append(clock() - t0)
    return float(np.median(s))


def single_row(fn, rows: list, *, calls: int, rounds: int) -> dict:
    """p50/p99 per call in us (see the module docstring: min-of-medians, median p99) and the
    process CPU time per call, of ``fn(rows[i % len(rows)])``."""
    clock, cpu = time.perf_counter_ns, time.process_time_ns
    pair = _clock_pair_ns()
    for r in rows[:64]:
        fn(r)  # warm-up
    n = len(rows)
    p50, p99, cpus = [], [], []
    for _ in range(rounds):
        t = np.empty(calls)
        c0 = cpu()
        for i in range(calls):
            r = rows[i % n]
            t0 = clock()
            fn(r)
            t[i] = clock() - t0
        cpus.append((cpu() - c0) / calls)
        t = np.maximum(t - pair, 0) / 1e3
        p50.append(float(np.percentile(t, 50)))
        p99.append(float(np.percentile(t, 99)))
    # the CPU figure includes the timing loop (two clock reads per call): the least disturbed round
    return {"p50_us": min(p50), "p99_us": float(np.median(p99)), "cpu_us": min(cpus) / 1e3}


def rows_per_s(fn, X: np.ndarray, *, rounds: int, batches=BATCHES, min_round_s: float = 0.05) -> dict:
    """Rows/s of ``fn(X[:n])`` for each n: per round the median per-call time of repeated calls
    (at least ``min_round_s`` seconds, at least 3 calls), the best round reported."""
    out, cpu = {}, {}
    for n in batches:
        b = X[:n]
        t0 = time.perf_counter()
        fn(b)
        one = max(time.perf_counter() - t0, 1e-7)
        k = max(3, min(10_000, int(min_round_s / one)))
        best = best_cpu = float("inf")
        for _ in range(rounds):
            ts = []
            c0 = time.process_time_ns()
            for _ in range(k):
                t0 = time.perf_counter_ns()
                fn(b)
                ts.append(time.perf_counter_ns() - t0)
            best_cpu = min(best_cpu, (time.process_time_ns() - c0) / k / 1e9)
            best = min(best, float(np.median(ts)) / 1e9)
        out[str(n)] = n / best
        cpu[f"{n}_per_cpu_s"] = n / max(best_cpu, 1e-9)
    return {**out, **cpu}


def _m2cgen_c(src: str, d: Path) -> tuple[object, str]:
    """m2cgen's C for the model, compiled and loaded: ``(score(ptr_in, ptr_out), status)``."""
    try:
        import m2cgen
        import xgboost as xgb
    except ImportError:
        return None, "not installed"
    doc = json.loads(Path(src).read_text())
    param = doc["learner"]["learner_model_param"]
    bs = param["base_score"]
    scalar = float(json.loads(bs)[0]) if bs.strip().startswith("[") else float(bs)
    param["base_score"] = repr(scalar)  # XGBoost 3.x writes "[5E-1]"; m2cgen needs a number
    patched = d / "m2cgen_model.json"
    patched.write_text(json.dumps(doc))
    try:
        clf = xgb.XGBClassifier()  # m2cgen reads scikit-learn wrappers, not raw Boosters
        clf.load_model(str(patched))
        clf.base_score = scalar  # the wrapper re-reads the array from the booster's config
        code = m2cgen.export_to_c(clf)
    except Exception as exc:  # noqa: BLE001 - report any m2cgen failure as a figure
        return None, f"export failed: {type(exc).__name__}: {str(exc)[:120]}"
    (d / "m2cgen.c").write_text(code)
    from modelport.core.toolchains import CC

    cc = CC.require("compiling m2cgen's C")[0]
    proc = subprocess.run([cc, "-O2", "-fPIC", "-shared", "-o", str(d / "m2cgen.so"), str(d / "m2cgen.c"), "-lm"],  # noqa: S603
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None, f"compile failed: {proc.stderr.strip()[:120]}"
    fn = ctypes.CDLL(str(d / "m2cgen.so")).score
    fn.restype = None
    return fn, "ok (base_score patched to a scalar in a temporary copy)"


def _tl2cgen(src: str, d: Path) -> tuple[object, str]:
    try:
        import tl2cgen
        import treelite
    except ImportError:
        return None, "not installed"
    try:
        tl = treelite.frontend.load_xgboost_model(src)
        tl2cgen.export_lib(tl, toolchain="gcc", libpath=str(d / "tl2cgen.so"), params={}, nthread=1)
        pred = tl2cgen.Predictor(str(d / "tl2cgen.so"), nthread=1)
    except Exception as exc:  # noqa: BLE001 - report any tl2cgen failure as a figure
        return None, f"failed: {type(exc).__name__}: {str(exc)[:120]}"
    return (lambda b: pred.predict(tl2cgen.DMatrix(b), pred_margin=True)), "ok"


def _train():
    import xgboost as xgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_ROWS, N_FEATURES)).astype(np.float32)
    X[rng.random(X.shape) < 0.02] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": DEPTH, "seed": 0, "nthread": 1},
                        xgb.DMatrix(X, label=y), N_TREES)
    booster.set_param({"nthread": 1})
    return booster, X


def run(*, rounds: int = 3, repeats: int | None = None, big_rows: int = 1_000_000, calls: int = 20_000,
        compile_models: bool = False) -> dict:
    """Train, convert, verify, time every engine; returns the figures as a dict
    (``repeats``, from ``modelport bench --repeats``, sets ``rounds``)."""
    import xgboost as xgb

    from modelport import runtimes
    from modelport.converters.frontends import load_model
    from modelport.converters.targets import WriteOptions
    from modelport.converters.targets.native.c import write_c
    from modelport.converters.targets.native.python import write_python
    from modelport.runtimes.native.c import CRuntime

    rounds = max(1, repeats or rounds)
    booster, X = _train()
    cpus = os.cpu_count() or 1
    res: dict = {"trees": N_TREES, "depth": DEPTH, "features": N_FEATURES, "rounds": rounds,
                 "xgboost_version": xgb.__version__, "machine": platform.machine(), "cpus": cpus,
                 "python": platform.python_version(), "load_average": list(os.getloadavg())}
    ref = np.asarray(booster.inplace_predict(X, predict_type="margin"), np.float32).reshape(-1)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        src = str(d / "model.json")
        booster.save_model(src)
        model = load_model(src)
        write_c(model, d / "m.c", WriteOptions())
        write_python(model, d / "m.py", WriteOptions())
        crt = CRuntime(d / "m.c", threads=1)
        prt = runtimes.load(d / "m.py")
        ort = None
        try:
            from modelport.converters.targets.onnx import write_onnx

            write_onnx(model, d / "m.onnx", WriteOptions())
            ort = runtimes.load(d / "m.onnx", threads=1)
        except ImportError:
            pass
        m2c, res["m2cgen"] = _m2cgen_c(src, d)
        tl2, res["tl2cgen"] = _tl2cgen(src, d)
        if not np.array_equal(crt.predict(X, output="margin").reshape(-1).view(np.uint32), ref.view(np.uint32)):
            raise SystemExit("the C margins differ from xgboost's: refusing to benchmark")
        fast = crt.row_predictor("margin")
        res["c_fast_path"] = crt.fast_path
        X64 = np.ascontiguousarray(X, dtype=np.float64)
        m2c_out = np.zeros(2)
        m2c_ptrs = [ctypes.c_void_p(X64.ctypes.data + i * 8 * N_FEATURES) for i in range(N_ROWS)]
        m2c_optr = ctypes.c_void_p(m2c_out.ctypes.data)

        def m2c_batch(b):
            out = np.empty(len(b))
            for i in range(len(b)):  # m2cgen has no batch entry: one call per row
                m2c(m2c_ptrs[i], m2c_optr)
                out[i] = m2c_out[1]
            return out

        rows_np = [X[i] for i in range(256)]
        rows_2d = [X[i:i + 1] for i in range(256)]
        rows_list = [X[i].tolist() for i in range(256)]
        engines = {  # name: (single-row callable, its rows, batch callable or None)
            "c_fast_path": (fast, rows_np, lambda b: [fast(r) for r in b]),  # batch: a loop of single rows
            "c_fast_path_list": (fast, rows_list, None),
            "c_predict": (lambda r: crt.predict(r, output="margin"), rows_2d,
                          lambda b: crt.predict(b, output="margin")),
            "xgboost": (lambda r: booster.inplace_predict(r, predict_type="margin"), rows_2d,
                        lambda b: booster.inplace_predict(b, predict_type="margin")),
            "python_generated": (prt.module.predict_margin, rows_list,
                                 lambda b: [prt.module.predict_margin(r) for r in b.tolist()]),
        }
        if ort is not None:
            engines["onnxruntime"] = (lambda r: ort.predict(r, output="margin"), rows_2d,
                                      lambda b: ort.predict(b, output="margin"))
        if m2c is not None:
            engines["m2cgen_c"] = (lambda i: m2c(m2c_ptrs[i], m2c_optr), list(range(256)), m2c_batch)
            m2c_batch(X[:1000])
            res["m2cgen_max_abs_diff_vs_xgboost_probability"] = float(np.max(np.abs(
                m2c_batch(X[:1000]) - booster.inplace_predict(X[:1000]))))
        if tl2 is not None:
            engines["tl2cgen"] = (tl2, rows_2d, tl2)
            res["tl2cgen_margin_bits_equal_xgboost"] = bool(np.array_equal(
                np.asarray(tl2(X), np.float32).reshape(-1).view(np.uint32), ref.view(np.uint32)))
        single, batch = {}, {}
        for name, (fn, rows, bfn) in engines.items():
            slow = name in ("python_generated", "tl2cgen", "onnxruntime")
            single[name] = single_row(fn, rows, calls=calls // 10 if slow else calls, rounds=rounds)
            if bfn is not None:
                batch[name] = rows_per_s(bfn, X, rounds=rounds)
        res["single_row"], res["rows_per_s"] = single, batch
        res["threads"] = _thread_scaling(d / "m.c", X, big_rows, rounds, cpus, CRuntime)
    c1 = single["c_fast_path"]["p50_us"]
    ratios = {"c_single_row_p50_us": c1, "c_single_row_goal_us": SINGLE_ROW_GOAL_US,
              "c_single_row_meets_goal": c1 <= SINGLE_ROW_GOAL_US,
              "c_single_row_vs_xgboost_x": single["xgboost"]["p50_us"] / c1,
              "c_batch_10000_vs_xgboost_x": batch["c_predict"]["10000"] / batch["xgboost"]["10000"],
              "c_batch_goal_x": BATCH_GOAL_X,
              "c_batch_10000_vs_xgboost_cpu_x": batch["c_predict"]["10000_per_cpu_s"] / batch["xgboost"]["10000_per_cpu_s"]}
    # judged on CPU time: wall-clock batch figures swing 2x with the other load on a shared machine
    ratios["c_batch_meets_goal"] = ratios["c_batch_10000_vs_xgboost_cpu_x"] >= BATCH_GOAL_X
    th = res["threads"]["rows_per_s"]
    if "2" in th:
        ratios["thread_scaling_2_vs_1"] = th["2"] / th["1"]
    ratios[f"thread_scaling_{cpus}_vs_1"] = th[str(cpus)] / th["1"]
    cpu_row = res["threads"]["cpu_ns_per_row"]
    # CPU per row with k threads vs one: 1.0 = no threading overhead (contention, false sharing),
    # whatever the machine's other load does to the wall-clock scaling
    ratios["thread_cpu_efficiency_2"] = cpu_row["1"] / cpu_row.get("2", cpu_row["1"])
    res["ratios"] = ratios
    if compile_models:
        res["compile"] = [_compile_time(synthetic_model(2000, 10, fill=0.8, seed=1), "2000 trees depth 10"),
                          _compile_time(synthetic_model(100, 11, fill=0.92, seed=2), "100 trees ~2000 nodes")]
    return res


def _thread_scaling(path: Path, X: np.ndarray, n: int, rounds: int, cpus: int, CRuntime) -> dict:
    """Rows/s of the C runtime's margins on ``n`` rows with 1, 2 and ``cpus`` threads (best of
    ``rounds`` wall times), and whether every thread count gave one thread's bits."""
    big = np.ascontiguousarray(np.resize(X, (n, X.shape[1])))
    out, cpu_ns, first, same = {}, {}, None, True
    for k in sorted({1, 2, cpus}):
        rt = CRuntime(path, threads=k)
        best, best_cpu = float("inf"), float("inf")
        for _ in range(rounds):
            c0, t0 = time.process_time(), time.perf_counter()
            m = rt.predict(big, output="margin")
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        rt.close()
        if first is None:
            first = m
        same = same and np.array_equal(m.view(np.uint32), first.view(np.uint32))
        out[str(k)] = n / best
        cpu_ns[str(k)] = best_cpu / n * 1e9
    return {"rows": n, "rows_per_s": out, "cpu_ns_per_row": cpu_ns, "identical_to_one_thread": same,
            "timing": "best of rounds: wall for rows/s, process CPU time for cpu_ns_per_row"}


def format_text(r: dict) -> str:
    """The human-readable summary of :func:`run`'s result."""
    lines = [f"{r['trees']} trees, depth {r['depth']}, {r['features']} features; xgboost {r['xgboost_version']}; "
             f"{r['cpus']} cpus, load {r['load_average'][0]:.1f}; {r['rounds']} rounds; "
             f"C fast path: {r['c_fast_path']}",
             "single row (us; p50 = min of round medians, p99 = median of round p99s, cpu = process CPU "
             "time per call incl. the timing loop) and rows/s (best round's median) per batch size:",
             f"  {'engine':20s} {'p50':>8s} {'p99':>8s} {'cpu':>8s} " + " ".join(f"{n + ' rows':>14s}" for n in map(str, BATCHES))]
    for name, s in r["single_row"].items():
        b = r["rows_per_s"].get(name, {})
        cells = " ".join(f"{b[k]:14,.0f}" if k in b else f"{'-':>14s}" for k in map(str, BATCHES))
        lines.append(f"  {name:20s} {s['p50_us']:8.2f} {s['p99_us']:8.2f} {s['cpu_us']:8.2f} {cells}")
    t = r["threads"]
    lines.append("rows per second of process CPU time (all threads; immune to waiting for a core):")
    for name, b in r["rows_per_s"].items():
        if f"{BATCHES[-1]}_per_cpu_s" in b:
            lines.append(f"  {name:20s} " + " ".join(f"{b[f'{n}_per_cpu_s']:14,.0f}" for n in BATCHES))
    lines.append(f"C batch of {t['rows']:,} rows (margins), rows/s by threads: "
                 + ", ".join(f"{k}: {v:,.0f}" for k, v in t["rows_per_s"].items())
                 + "; CPU ns per row: " + ", ".join(f"{k}: {v:,.0f}" for k, v in t["cpu_ns_per_row"].items())
                 + f"; identical to one thread: {t['identical_to_one_thread']}")
    lines.append("ratios: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                        for k, v in r["ratios"].items()))
    lines.append(f"m2cgen: {r['m2cgen']}; max |p - xgboost p| {r.get('m2cgen_max_abs_diff_vs_xgboost_probability', '-')}")
    lines.append(f"tl2cgen: {r['tl2cgen']}; margins bit-equal to xgboost: {r.get('tl2cgen_margin_bits_equal_xgboost', '-')}")
    for c in r.get("compile", []):
        lines.append(f"compile {c['model']}: {c['nodes']:,} nodes, {c['source_mb']:.1f} MB source, "
                     f"generate {c['generate_s']:.1f} s, compile {c['compile_s']:.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--compile", action="store_true", help="also time generation + compilation of large models")
    ap.add_argument("--rounds", type=int, default=3, help="timing rounds per figure (default 3)")
    ap.add_argument("--big-rows", type=int, default=1_000_000, help="rows of the thread-scaling batch")
    ap.add_argument("--calls", type=int, default=20_000, help="single-row calls per round")
    args = ap.parse_args(argv)
    r = run(rounds=args.rounds, big_rows=args.big_rows, calls=args.calls, compile_models=args.compile)
    print(json.dumps(r, indent=2) if args.json else format_text(r))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
