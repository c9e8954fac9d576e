"""Speed of modelport's PFA engine against titus2 and XGBoost, same rows, same process.

Run: ``python -m modelport.benchmarks.bench_pfa [--json] [--repeats N] [--calls N] [--titus-rows N]``.

Trains 100 trees of depth 6 on 20 features (binary:logistic, seeded, 2% NaN) with one
thread, converts it to PFA (``--to pfa``), loads it with modelport's vectorised engine
(:mod:`modelport.runtimes.pfa`) and with titus2 (the Python PFA engine, if installed), and
measures on the same float32 rows:

* single-row latency: one row per call (a different row each call), p50 and p99 over
  ``--calls`` calls (``--titus-rows`` calls for titus2, which runs about 100 rows/s here);
* batch throughput at 1, 100 and 10,000 rows: best of ``--repeats`` calls, rows/s, by wall
  time and by process CPU time (on a loaded machine a long call is preempted and its wall
  time counts other processes' work; CPU time does not); titus2 scores one record per
  ``action`` call, so its batch figure is ``--titus-rows`` records timed once, conversion of
  each row to a record included;

for modelport's engine on the compiled tree kernel (``modelport_pfa_kernel``: ``kernel="c"``,
the document's trees lowered to flat node tables walked by ``runtimes/_tree_kernel.py``), the
same engine on numpy (``modelport_pfa_numpy``), titus2 and ``Booster.inplace_predict``
(``nthread = 1``), and prints the ratios.  Latency includes the runtime's input coercion (its
public ``predict``); ``modelport_pfa_kernel_row`` is the kernel's single-row fast path
(``row_function()``: preallocated buffers, the row copied in, margins out; latency only).  Before
timing it checks the predictions (a fast wrong answer is not a result): the engine's margins
must equal XGBoost's bit for bit, and titus2's margins must equal the engine's bit for bit on
the rows it scored.  Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable

import numpy as np

from modelport.benchmarks import BATCHES, batch_throughput, single_row_latency

N_TREES, DEPTH, N_FEATURES = 100, 6, 20
#: The contender the ratios are of: the PFA engine on the compiled tree kernel.
OURS = "modelport_pfa_kernel"




def _cpu_throughput(fn: Callable[[np.ndarray], object], X: np.ndarray, repeats: int) -> dict:
    """rows/s by process CPU time (``time.process_time``, best of ``repeats``, at least 0.2 s
    of calls each): every contender here runs on one thread, and CPU time does not count the
    time a loaded machine keeps the process waiting, which wall time does."""
    out = {}
    for n in BATCHES:
        batch = X[:n]
        fn(batch)
        k = max(1, int(0.2 * 10_000 / n))
        best = float("inf")
        for _ in range(max(1, repeats)):
            t0 = time.process_time()
            for _ in range(k):
                fn(batch)
            best = min(best, (time.process_time() - t0) / k)
        out[str(n)] = n / best if best > 0 else float("inf")
    return out


def _records(X: np.ndarray) -> list[dict]:
    return [{f"f{j}": None if np.isnan(v) else float(v) for j, v in enumerate(row)} for row in X]


def run(*, repeats: int = 7, calls: int = 2000, titus_rows: int = 200) -> dict:
    """Train, convert, verify, time; returns the figures as a dict."""
    import xgboost as xgb

    from modelport import runtimes
    from modelport.benchmarks._titus import import_titus
    from modelport.converters.frontends import load_model
    from modelport.converters.targets import WriteOptions
    from modelport.converters.targets.pfa import write_pfa

    rng = np.random.default_rng(0)
    X = rng.normal(size=(10_000, N_FEATURES)).astype(np.float32)
    X[rng.random(X.shape) < 0.02] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": DEPTH, "seed": 0, "nthread": 1},
                        xgb.DMatrix(X, label=y), N_TREES)
    booster.set_param({"nthread": 1})
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "model.json")
        booster.save_model(src)
        pfa_path = os.path.join(d, "model.pfa.json")
        write_pfa(load_model(src), pfa_path, WriteOptions())
        size = os.path.getsize(pfa_path)
        ours = runtimes.load(pfa_path, runtime="pfa", kernel="c")
        ours_numpy = runtimes.load(pfa_path, runtime="pfa", kernel="numpy")
        engine_cls = import_titus()
        titus = None
        if engine_cls is not None:
            with open(pfa_path, encoding="utf-8") as fh:
                titus, = engine_cls.fromJson(json.load(fh))

    xgb_margin = np.asarray(booster.inplace_predict(X, predict_type="margin", missing=np.nan), np.float32)
    ours_margin = ours.predict(X, output="margin")
    for rt in (ours, ours_numpy):
        if not np.array_equal(rt.predict(X, output="margin").view(np.int32), xgb_margin.view(np.int32)):
            raise SystemExit(f"modelport PFA engine ({rt.kernel}) margins differ from xgboost: refusing to benchmark")
    x_row, out_row, call_row = ours.row_function()

    def row_path(a):
        x_row[:] = a[0]
        call_row()
        return out_row

    for i in range(0, len(X), 97):
        if row_path(X[i:i + 1]).view(np.int32)[0] != xgb_margin.view(np.int32)[i]:
            raise SystemExit("the kernel's row function differs from xgboost: refusing to benchmark")
    check = {"engine_margin_bit_exact": True,
             "engine_max_abs_diff": float(np.max(np.abs(ours.predict(X) - booster.inplace_predict(X, missing=np.nan))))}
    contenders: dict[str, Callable[[np.ndarray], object]] = {
        "xgboost": lambda a: booster.inplace_predict(a, missing=np.nan),
        OURS: ours.predict,
        "modelport_pfa_numpy": ours_numpy.predict,
    }
    results = {name: {"latency": single_row_latency(fn, X, calls), "rows_per_s": batch_throughput(fn, X, repeats),
                      "cpu_rows_per_s": _cpu_throughput(fn, X, repeats)}
               for name, fn in contenders.items()}
    row_latency = single_row_latency(row_path, X, calls)
    if titus is not None:
        sub = X[:titus_rows]
        t_margin = np.array([titus.action(r)["margin"][0] for r in _records(sub)], dtype=np.float32)
        check["titus_margin_bit_exact"] = bool(np.array_equal(t_margin.view(np.int32), ours_margin[:titus_rows].view(np.int32)))
        if not check["titus_margin_bit_exact"]:
            raise SystemExit("titus2 margins differ from modelport's engine: refusing to benchmark")
        t0 = time.perf_counter()
        for r in _records(sub):
            titus.action(r)
        batch_rate = len(sub) / (time.perf_counter() - t0)
        c0 = time.process_time()
        for r in _records(sub):
            titus.action(r)
        cpu_rate = len(sub) / (time.process_time() - c0)
        results["titus2"] = {"latency": single_row_latency(lambda a: titus.action(_records(a)[0]), sub, titus_rows),
                             "rows_per_s": {str(n): batch_rate for n in BATCHES},
                             "cpu_rows_per_s": {str(n): cpu_rate for n in BATCHES}}
    base, ours_r = results["xgboost"], results[OURS]
    for r in results.values():
        r["vs_xgboost"] = {"p50_latency_ratio": r["latency"]["p50_us"] / base["latency"]["p50_us"],
                           **{f"time_ratio_{n}": base["rows_per_s"][n] / r["rows_per_s"][n] for n in r["rows_per_s"]},
                           **{f"cpu_time_ratio_{n}": base["cpu_rows_per_s"][n] / r["cpu_rows_per_s"][n]
                              for n in r["cpu_rows_per_s"]}}
    speedup = None
    if "titus2" in results:
        t = results["titus2"]
        speedup = {"p50_latency": t["latency"]["p50_us"] / ours_r["latency"]["p50_us"],
                   "p99_latency": t["latency"]["p99_us"] / ours_r["latency"]["p99_us"],
                   "p50_latency_row_function": t["latency"]["p50_us"] / row_latency["p50_us"],
                   **{f"rows_per_s_{n}": ours_r["rows_per_s"][n] / t["rows_per_s"][n] for n in map(str, BATCHES)},
                   **{f"cpu_rows_per_s_{n}": ours_r["cpu_rows_per_s"][n] / t["cpu_rows_per_s"][n]
                      for n in map(str, BATCHES)}}
    titus_version = None
    if titus is not None:
        from importlib.metadata import version

        titus_version = version("titus2")
    return {
        "trees": N_TREES, "depth": DEPTH, "features": N_FEATURES, "threads": 1, "repeats": repeats,
        "latency_calls": calls, "titus_rows": titus_rows, "pfa_bytes": size, "xgboost_version": xgb.__version__,
        "titus2_version": titus_version, "machine": platform.machine(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "check": check, "results": results, "engine_vs_titus2": speedup,
        "kernel_row_function_latency": row_latency,
        "kernel_vs_numpy": {n: ours_r["rows_per_s"][n] / results["modelport_pfa_numpy"]["rows_per_s"][n]
                            for n in ours_r["rows_per_s"]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--repeats", type=int, default=7, help="timed repeats per batch size (best is kept)")
    ap.add_argument("--calls", type=int, default=2000, help="single-row calls for the latency percentiles")
    ap.add_argument("--titus-rows", type=int, default=200, help="rows scored by titus2 (about 100 rows/s)")
    args = ap.parse_args(argv)
    r = run(repeats=args.repeats, calls=args.calls, titus_rows=args.titus_rows)
    print(json.dumps(r, indent=2) if args.json else format_text(r))
    return 0


def format_text(r: dict) -> str:
    """The human-readable summary of :func:`run`'s result."""
    lines: list[str] = []
    add = lines.append
    add(f"{r['trees']} trees, depth {r['depth']}, {r['features']} features; 1 thread; PFA {r['pfa_bytes']:,} bytes; "
        f"xgboost {r['xgboost_version']}, titus2 {r['titus2_version'] or 'not installed'}")
    add(f"margins bit-exact: engine vs xgboost {r['check']['engine_margin_bit_exact']}, "
        f"titus2 vs engine {r['check'].get('titus_margin_bit_exact', 'n/a')}")
    add(f"{'':24s} {'p50 us':>10s} {'p99 us':>10s}" + "".join(f" {'rows/s @' + n:>14s}" for n in map(str, BATCHES)))
    for name, res in r["results"].items():
        lat, tp = res["latency"], res["rows_per_s"]
        add(f"{name:24s} {lat['p50_us']:10.1f} {lat['p99_us']:10.1f}" + "".join(f" {tp[str(n)]:14,.0f}" for n in BATCHES))
    lat = r["kernel_row_function_latency"]
    add(f"{OURS + '_row':24s} {lat['p50_us']:10.1f} {lat['p99_us']:10.1f}  (row_function: margins, preallocated buffers)")
    add(f"{'CPU time':24s} {'':10s} {'':10s}" + "".join(f" {'rows/s @' + n:>14s}" for n in map(str, BATCHES)))
    for name, res in r["results"].items():
        add(f"{name:24s} {'':10s} {'':10s}" + "".join(f" {res['cpu_rows_per_s'][str(n)]:14,.0f}" for n in BATCHES))
    add("kernel vs numpy engine: " + ", ".join(f"{n} rows {v:.1f}x" for n, v in r["kernel_vs_numpy"].items()))
    for name, res in r["results"].items():
        if name != "xgboost":
            v = res["vs_xgboost"]
            add(f"{name} / xgboost time: p50 {v['p50_latency_ratio']:.2f}x, "
                + ", ".join(f"{n} rows {v['time_ratio_' + str(n)]:.2f}x" for n in BATCHES)
                + "; CPU " + ", ".join(f"{n} rows {v['cpu_time_ratio_' + str(n)]:.2f}x" for n in BATCHES))
    s = r["engine_vs_titus2"]
    if s:
        add(f"kernel speed-up over titus2: p50 {s['p50_latency']:,.0f}x (row_function {s['p50_latency_row_function']:,.0f}x), "
            f"p99 {s['p99_latency']:,.0f}x, "
            + ", ".join(f"{n} rows {s['rows_per_s_' + str(n)]:,.0f}x" for n in BATCHES)
            + "; CPU " + ", ".join(f"{n} rows {s['cpu_rows_per_s_' + str(n)]:,.0f}x" for n in BATCHES))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
