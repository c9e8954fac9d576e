"""Speed of modelport's ONNX and onnxmltools' ONNX against XGBoost, same rows, same process.

Run: ``python -m modelport.benchmarks.bench_onnx [--json] [--threads N] [--repeats N]``.

Trains 100 trees of depth 6 on 20 features (binary:logistic, seeded, 2% NaN), saves the
model as JSON, converts it twice (``--backend modelport`` from the IR and
``--backend onnxmltools`` from the file), loads both through :mod:`modelport.runtimes`
(onnxruntime, ``threads`` intra-op threads) and measures, on the same float32 rows:

* single-row latency: ``predict`` on one row at a time (a different row each call),
  p50 and p99 over ``--calls`` calls;
* batch throughput at 1, 100 and 10,000 rows: best of ``--repeats`` calls, rows/s;

for each ONNX artifact and for ``Booster.inplace_predict`` (``nthread = threads``), and prints
the ratios against XGBoost (> 1: slower than XGBoost).  Latency includes modelport's input
coercion (the runtime's public ``predict``), as a user would see it.  Before timing it checks
the predictions (a fast wrong answer is not a result): modelport's margins must equal
XGBoost's bit for bit.  Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import numpy as np

from modelport.benchmarks import BATCHES, batch_throughput, single_row_latency

N_TREES, DEPTH, N_FEATURES = 100, 6, 20




def run(*, threads: int = 1, repeats: int = 7, calls: int = 2000) -> dict:
    """Train, convert, verify, time; returns the figures as a dict."""
    import onnxruntime
    import xgboost as xgb

    from modelport import runtimes
    from modelport.converters.frontends import load_model
    from modelport.converters.backends import BackendSource, get_backend
    from modelport.converters.targets import WriteOptions
    from modelport.converters.targets.onnx import multithread_margin_bound, write_onnx

    rng = np.random.default_rng(0)
    X = rng.normal(size=(10_000, N_FEATURES)).astype(np.float32)
    X[rng.random(X.shape) < 0.02] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": DEPTH, "seed": 0, "nthread": threads},
                        xgb.DMatrix(X, label=y), N_TREES)
    booster.set_param({"nthread": threads})
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "model.json")
        booster.save_model(src)
        model = load_model(src)
        ours_path, omt_path = os.path.join(d, "ours.onnx"), os.path.join(d, "omt.onnx")
        write_onnx(model, ours_path, WriteOptions())
        get_backend("onnx", "onnxmltools").write(BackendSource(path=Path(src), framework="xgboost", model=model), Path(omt_path))
        ours = runtimes.load(ours_path, threads=threads)
        omt = runtimes.load(omt_path, threads=threads)

    xgb_margin = np.asarray(booster.inplace_predict(X, predict_type="margin", missing=np.nan), np.float32)
    drift = float(np.max(np.abs(ours.predict(X, output="margin").astype(np.float64) - xgb_margin)))
    # One thread: XGBoost's summation order, bit exact.  More: onnxruntime reorders the sum
    # (see multithread_margin_bound in the ONNX target).
    allowed = 0.0 if threads == 1 else multithread_margin_bound(model)
    if drift > allowed:
        raise SystemExit(f"modelport ONNX margins differ from xgboost by {drift:.3g} > {allowed:.3g}: "
                         "refusing to benchmark")
    ref = booster.inplace_predict(X, missing=np.nan)
    check = {
        "modelport_max_abs_margin_diff": drift,
        "modelport_max_abs_diff": float(np.max(np.abs(ours.predict(X) - ref))),
        "onnxmltools_max_abs_diff": float(np.max(np.abs(omt.predict(X) - ref))),
    }
    contenders = {
        "xgboost": lambda a: booster.inplace_predict(a, missing=np.nan),
        "modelport_onnx": ours.predict,
        "onnxmltools_onnx": omt.predict,
    }
    results = {}
    for name, fn in contenders.items():
        results[name] = {"latency": single_row_latency(fn, X, calls), "rows_per_s": batch_throughput(fn, X, repeats)}
    base = results["xgboost"]
    for name in ("modelport_onnx", "onnxmltools_onnx"):
        r = results[name]
        r["vs_xgboost"] = {
            "p50_latency_ratio": r["latency"]["p50_us"] / base["latency"]["p50_us"],
            "p99_latency_ratio": r["latency"]["p99_us"] / base["latency"]["p99_us"],
            **{f"time_ratio_{n}": base["rows_per_s"][n] / r["rows_per_s"][n] for n in r["rows_per_s"]},
        }
    return {
        "trees": N_TREES, "depth": DEPTH, "features": N_FEATURES, "threads": threads, "repeats": repeats,
        "latency_calls": calls, "xgboost_version": xgb.__version__,
        "onnxruntime_version": onnxruntime.__version__, "machine": platform.machine(),
        "cpus": os.cpu_count(), "python": platform.python_version(), "check": check, "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads and xgboost nthread")
    ap.add_argument("--repeats", type=int, default=7, help="timed repeats per batch size (best is kept)")
    ap.add_argument("--calls", type=int, default=2000, help="single-row calls for the latency percentiles")
    args = ap.parse_args(argv)
    r = run(threads=args.threads, repeats=args.repeats, calls=args.calls)
    print(json.dumps(r, indent=2) if args.json else format_text(r))
    return 0


def format_text(r: dict) -> str:
    """The human-readable summary of :func:`run`'s result."""
    lines: list[str] = []
    add = lines.append
    add(f"{r['trees']} trees, depth {r['depth']}, {r['features']} features; {r['threads']} thread(s); "
          f"xgboost {r['xgboost_version']}, onnxruntime {r['onnxruntime_version']}")
    add(f"max |prob diff| vs xgboost: modelport {r['check']['modelport_max_abs_diff']:.3g}, "
          f"onnxmltools {r['check']['onnxmltools_max_abs_diff']:.3g}")
    head = f"{'':18s} {'p50 us':>9s} {'p99 us':>9s}" + "".join(f" {'rows/s @' + n:>14s}" for n in map(str, BATCHES))
    add(head)
    for name, res in r["results"].items():
        lat, tp = res["latency"], res["rows_per_s"]
        add(f"{name:18s} {lat['p50_us']:9.1f} {lat['p99_us']:9.1f}" + "".join(f" {tp[str(n)]:14,.0f}" for n in BATCHES))
    for name in ("modelport_onnx", "onnxmltools_onnx"):
        v = r["results"][name]["vs_xgboost"]
        add(f"{name} / xgboost time: p50 {v['p50_latency_ratio']:.2f}x, p99 {v['p99_latency_ratio']:.2f}x, "
              + ", ".join(f"{n} rows {v['time_ratio_' + str(n)]:.2f}x" for n in BATCHES))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
