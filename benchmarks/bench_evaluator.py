"""Speed of the reference evaluator against XGBoost's own predictor, same rows, same process.

Run: ``python -m modelport.benchmarks.bench_evaluator [--json] [--repeats N]``.

Trains 100 trees of depth 6 on 20 features (binary:logistic, seeded), saves the model as
JSON, loads it through the xgboost-json frontend, then times ``predict_margin`` and
``Booster.inplace_predict(..., predict_type="margin")`` on the same 10,000 float32 rows, best
of N repeats each, and reports rows/s and the ratio.  Before timing, it checks the two agree
bit for bit (a fast wrong answer is not a result).  Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile

import numpy as np

from modelport.benchmarks import best_time

N_TREES, DEPTH, N_FEATURES, N_ROWS = 100, 6, 20, 10_000


def run(repeats: int = 7, threads: int | None = None) -> dict:
    """Train, load, verify, time; returns the figures as a dict."""
    import xgboost as xgb

    from modelport.converters.frontends import load_model
    from modelport.core.ir.evaluate import predict_margin

    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_ROWS, N_FEATURES)).astype(np.float32)
    X[rng.random(X.shape) < 0.02] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) > 0).astype(float)
    nthread = threads or os.cpu_count() or 1
    booster = xgb.train({"objective": "binary:logistic", "max_depth": DEPTH, "seed": 0, "nthread": nthread},
                        xgb.DMatrix(X, label=y), N_TREES)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.json")
        booster.save_model(path)
        model = load_model(path)
    ours = predict_margin(model, X)
    ref = booster.inplace_predict(X, predict_type="margin", missing=np.nan).reshape(ours.shape)
    if not np.array_equal(ours.view(np.uint32), np.asarray(ref, np.float32).view(np.uint32)):
        raise SystemExit("evaluator and xgboost disagree: refusing to benchmark")
    t_ours = best_time(lambda: predict_margin(model, X), repeats=repeats)
    t_xgb = best_time(lambda: booster.inplace_predict(X, predict_type="margin", missing=np.nan), repeats=repeats)
    return {
        "trees": N_TREES, "depth": DEPTH, "features": N_FEATURES, "rows": N_ROWS, "repeats": repeats,
        "xgboost_threads": nthread, "xgboost_version": xgb.__version__, "numpy_version": np.__version__,
        "machine": platform.machine(), "python": platform.python_version(),
        "evaluator_seconds": t_ours, "xgboost_seconds": t_xgb,
        "evaluator_rows_per_s": N_ROWS / t_ours, "xgboost_rows_per_s": N_ROWS / t_xgb,
        "slowdown_vs_xgboost": t_ours / t_xgb,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--repeats", type=int, default=7, help="timed repeats per side (best is kept)")
    ap.add_argument("--threads", type=int, default=None, help="xgboost nthread (default: all cores)")
    args = ap.parse_args(argv)
    r = run(args.repeats, args.threads)
    print(json.dumps(r, indent=2) if args.json else format_text(r))
    return 0


def format_text(r: dict) -> str:
    """The human-readable summary of :func:`run`'s result."""
    return "\n".join([
        f"{r['trees']} trees, depth {r['depth']}, {r['features']} features, {r['rows']} rows "
        f"(best of {r['repeats']}; xgboost {r['xgboost_version']}, {r['xgboost_threads']} threads)",
        f"  modelport evaluator : {r['evaluator_rows_per_s']:>12,.0f} rows/s",
        f"  xgboost inplace     : {r['xgboost_rows_per_s']:>12,.0f} rows/s",
        f"  evaluator is {r['slowdown_vs_xgboost']:.1f}x slower than xgboost (bit-identical margins)",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
