"""Speed of modelport's PMML runtime against the JVM and Python PMML evaluators, same rows,
same process.

Run: ``python -m modelport.benchmarks.bench_pmml [--json] [--repeats N] [--calls N]``.

Trains 100 trees of depth 6 on 20 features (binary:logistic, seeded, 2% NaN), writes it as
PMML with modelport's target, and times, on the same float32 rows:

* ``modelport_pmml_kernel``: :mod:`modelport.runtimes.pmml` with ``kernel="c"`` (the
  document read into the runtime's trees, lowered to flat node tables and walked by the
  compiled kernel of ``runtimes/_tree_kernel.py``, one C call per tree batch);
* ``modelport_pmml_numpy``: the same runtime with ``kernel="numpy"`` (vectorised over rows);
* ``jpmml``: jpmml-evaluator 1.7 through ``jpmml_evaluator`` (JPype), single-threaded
  (``parallelism=1``), and ``jpmml_transpiled`` (``transpile=True``: the PMML compiled to
  Java bytecode) when available;
* ``pypmml`` (PMML4S on the JVM through Py4J) and ``sklearn_pmml_model`` (a pure-Python
  loader that rebuilds scikit-learn trees from the PMML), when installed; sklearn-pmml-model
  refuses NaN inputs, so when it does it is timed on the same rows with NaN replaced by 0
  (``nan_free_rows``), next to ``modelport_pmml_kernel_nan_free`` on those rows;
* ``xgboost``: ``Booster.inplace_predict`` with ``nthread=1``, the anchor of the ratios.

Rows/s by wall time and by process CPU time (``time.process_time``, all the process's threads,
so the JVM's compiler and collector threads count for jpmml and pypmml): on a loaded machine
a long call is preempted and its wall time counts other processes' work.
Single-row latency: ``predict`` on one row at a time (a different row each call), p50/p99
(``modelport_pmml_kernel`` included: its one-row call is the whole document, coercion and
links included);
batch throughput: rows/s at 1, 100 and 10,000 rows, best of ``--repeats``.  Inputs are the
contender's natural form (numpy for modelport/xgboost/sklearn-pmml-model, a dict or a
DataFrame for the JVM wrappers, which is what their users pass).  Before timing, every
contender's probabilities are compared with modelport's (a contender off by more than 1e-6
is flagged as disagreeing in the report) and modelport's margins must equal XGBoost's bit for
bit or nothing is timed.  Missing
contenders are reported as skipped with the reason.  Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from collections.abc import Callable

import numpy as np

from modelport.benchmarks import BATCHES, batch_throughput, single_row_latency
from modelport.benchmarks.bench_pfa import _cpu_throughput

N_TREES, DEPTH, N_FEATURES = 100, 6, 20
PROBA_ATOL = 1e-6
#: The contender the speed-ups are of: the PMML runtime on the compiled tree kernel.
OURS = "modelport_pmml_kernel"




def _jvm_contenders(path: str, names: list[str]) -> tuple[dict, dict]:
    """jpmml-evaluator (plain, transpiled) and pypmml as ``fn(X) -> P(class 1)``, or skip reasons."""
    out, skipped = {}, {}
    try:
        import pandas as pd
        import jpmml_evaluator

        def jp(ev):
            def score(X):
                if len(X) == 1:
                    r = ev.evaluate(dict(zip(names, map(float, X[0]), strict=True)))
                    return np.array([r["probability(1)"]])
                res = ev.evaluateAll(pd.DataFrame(X, columns=names), parallelism=1)
                return res["probability(1)"].to_numpy(np.float64)
            return score

        out["jpmml"] = jp(jpmml_evaluator.make_evaluator(path).verify())
        try:
            out["jpmml_transpiled"] = jp(jpmml_evaluator.make_evaluator(path, transpile=True).verify())
        except Exception as exc:  # the transpiler is optional in the wheel
            skipped["jpmml_transpiled"] = f"transpile=True failed: {type(exc).__name__}: {str(exc)[:120]}"
    except ImportError as exc:
        skipped["jpmml"] = f"jpmml_evaluator not installed ({exc})"
    try:
        import pandas as pd
        from pypmml import Model

        pm = Model.fromFile(path)

        def pyp(X):
            if len(X) == 1:
                return np.array([pm.predict(dict(zip(names, map(float, X[0]), strict=True)))["probability(1)"]])
            return pm.predict(pd.DataFrame(X, columns=names))["probability(1)"].to_numpy(np.float64)

        out["pypmml"] = pyp
    except ImportError as exc:
        skipped["pypmml"] = f"pypmml not installed ({exc})"
    return out, skipped


def run(*, repeats: int = 5, calls: int = 1000) -> dict:
    """Train, convert, check, time; returns the figures as a dict."""
    import xgboost as xgb

    from modelport import runtimes
    from modelport.converters.frontends import load_model
    from modelport.converters.targets.pmml import build_pmml

    rng = np.random.default_rng(0)
    X = rng.normal(size=(10_000, N_FEATURES)).astype(np.float32)
    X[rng.random(X.shape) < 0.02] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": DEPTH, "seed": 0, "nthread": 1},
                        xgb.DMatrix(X, label=y), N_TREES)
    booster.set_param({"nthread": 1})
    d = tempfile.mkdtemp(prefix="modelport-bench-pmml-")
    src = os.path.join(d, "model.json")
    booster.save_model(src)
    model = load_model(src)
    path = os.path.join(d, "model.pmml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(build_pmml(model))
    names = [f.name for f in model.features]
    ours = runtimes.load(path, kernel="c")
    ours_numpy = runtimes.load(path, kernel="numpy")
    xgb_margin = np.asarray(booster.inplace_predict(X, predict_type="margin", missing=np.nan), np.float32)
    for rt in (ours, ours_numpy):
        if not np.array_equal(rt.predict(X, output="margin").view(np.int32), xgb_margin.view(np.int32)):
            raise SystemExit(f"modelport PMML ({rt.kernel}) margins differ from xgboost: refusing to benchmark")
    ref = ours.predict(X).astype(np.float64)
    contenders: dict[str, Callable] = {
        "xgboost": lambda a: booster.inplace_predict(a, missing=np.nan),
        OURS: ours.predict,
        "modelport_pmml_numpy": ours_numpy.predict,
    }
    rows: dict[str, np.ndarray] = {}  # contenders timed on other rows than X
    jvm, skipped = _jvm_contenders(path, names)
    contenders.update(jvm)
    try:
        from sklearn_pmml_model.ensemble import PMMLGradientBoostingClassifier

        skp = PMMLGradientBoostingClassifier(pmml=path)
        contenders["sklearn_pmml_model"] = lambda a: skp.predict_proba(a)[:, 1]
        try:
            skp.predict_proba(X[:100])
        except ValueError:  # "Input X contains NaN": the same rows with NaN replaced by 0
            clean = np.nan_to_num(X, nan=0.0)
            rows["sklearn_pmml_model"] = rows[OURS + "_nan_free"] = clean
            contenders[OURS + "_nan_free"] = ours.predict
    except Exception as exc:  # ImportError, or it cannot read the file
        skipped["sklearn_pmml_model"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    check = {}
    for name, fn in list(contenders.items()):
        if name in ("xgboost", OURS, "modelport_pmml_numpy", OURS + "_nan_free"):
            continue
        data = rows.get(name, X)
        want = ours.predict(data[:2000]).astype(np.float64) if name in rows else ref[:2000]
        try:
            diff = np.abs(np.asarray(fn(data[:2000]), np.float64) - want)
        except Exception as exc:  # e.g. sklearn-pmml-model refuses NaN inputs
            skipped[name] = f"cannot score the benchmark rows: {type(exc).__name__}: {str(exc)[:100]}"
            del contenders[name]
            continue
        worst = float(np.nanmax(diff)) if np.isfinite(diff).any() else float("inf")
        nan_mismatch = int(np.sum(np.isnan(diff)))
        check[name] = {"max_abs_prob_diff": worst, "nan_rows": nan_mismatch}
        check[name]["agrees"] = bool(worst <= PROBA_ATOL and not nan_mismatch)
    results = {}
    for name, fn in contenders.items():
        slow = name not in ("xgboost", OURS, OURS + "_nan_free")
        data = rows.get(name, X)
        results[name] = {"latency": single_row_latency(fn, data, calls // 4 if slow else calls),
                         "rows_per_s": batch_throughput(fn, data, max(1, repeats // 2) if slow else repeats),
                         "cpu_rows_per_s": _cpu_throughput(fn, data, max(1, repeats // 2) if slow else repeats),
                         "nan_free_rows": name in rows}
    base = results["xgboost"]["rows_per_s"]
    for r in results.values():
        r["time_vs_xgboost"] = {n: base[n] / r["rows_per_s"][n] for n in r["rows_per_s"]}
    speedup = {}
    for name, r in results.items():
        if name in ("xgboost", OURS, OURS + "_nan_free"):
            continue
        ours_r = results[OURS + "_nan_free" if name in rows else OURS]
        speedup[name] = {n: ours_r["rows_per_s"][n] / r["rows_per_s"][n] for n in ours_r["rows_per_s"]}
        speedup[name].update({"cpu_" + n: ours_r["cpu_rows_per_s"][n] / r["cpu_rows_per_s"][n] for n in ours_r["cpu_rows_per_s"]})
    import xgboost

    return {"trees": N_TREES, "depth": DEPTH, "features": N_FEATURES, "threads": 1, "repeats": repeats,
            "latency_calls": calls, "xgboost_version": xgboost.__version__, "machine": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "check": check, "skipped": skipped,
            "results": results, "modelport_speedup": speedup}


def format_text(r: dict) -> str:
    """The human-readable summary of :func:`run`'s result."""
    lines = [f"{r['trees']} trees, depth {r['depth']}, {r['features']} features; 1 thread; xgboost {r['xgboost_version']}"]
    add = lines.append
    add(f"{'':31s} {'p50 us':>10s} {'p99 us':>10s}" + "".join(f" {'rows/s @' + str(n):>14s}" for n in BATCHES)
        + f" {'time/xgb @10k':>14s}")
    for name, res in r["results"].items():
        lat, tp = res["latency"], res["rows_per_s"]
        add(f"{name:31s} {lat['p50_us']:10.1f} {lat['p99_us']:10.1f}" + "".join(f" {tp[str(n)]:14,.0f}" for n in BATCHES)
            + f" {res['time_vs_xgboost']['10000']:13.2f}x" + ("  (NaN-free rows)" if res.get("nan_free_rows") else ""))
    add(f"{'CPU time (process_time)':31s} {'':10s} {'':10s}" + "".join(f" {'rows/s @' + str(n):>14s}" for n in BATCHES)
        + f" {'cpu/xgb @10k':>14s}")
    xgb_cpu = r["results"]["xgboost"]["cpu_rows_per_s"]["10000"]
    for name, res in r["results"].items():
        tp = res["cpu_rows_per_s"]
        add(f"{name:31s} {'':10s} {'':10s}" + "".join(f" {tp[str(n)]:14,.0f}" for n in BATCHES) + f" {xgb_cpu / tp['10000']:13.2f}x")
    for name, sp in r["modelport_speedup"].items():
        add(f"{OURS} vs {name}: " + ", ".join(f"{n} rows {v:.1f}x" for n, v in sp.items()))
    for name, c in r["check"].items():
        if not c.get("agrees", True):
            add(f"WARNING {name} disagrees with modelport/xgboost: max |prob diff| {c['max_abs_prob_diff']:.3g} "
                "(timed anyway, as a wrong answer)")
    for name, why in r["skipped"].items():
        add(f"skipped {name}: {why}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per batch size (best is kept)")
    ap.add_argument("--calls", type=int, default=1000, help="single-row calls for the latency percentiles")
    args = ap.parse_args(argv)
    r = run(repeats=args.repeats, calls=args.calls)
    print(json.dumps(r, indent=2) if args.json else format_text(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
