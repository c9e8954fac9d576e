"""Speed of the generated C (and pure Python) against XGBoost, onnxruntime and m2cgen, same
rows, same process.

Run: ``python -m modelport.benchmarks.bench_native [--json] [--compile] [--budget S]``.

Trains 100 trees of depth 6 on 20 features (binary:logistic, seeded, 2% NaN), converts it to
the ``c`` target (default code shape) and loads it with :mod:`modelport.runtimes.native.c`,
then measures medians (:func:`modelport.benchmarks._timing.measure`) of:

* single-row latency: the C runtime's fast path (``row_function``: a preallocated float32
  buffer, one ctypes call, no conversion) for margins and for probabilities; the public
  ``predict`` on one row; ``Booster.inplace_predict`` on one row (nthread 1); onnxruntime on
  modelport's ONNX (one thread); the generated pure-Python module;
* batch throughput at 10,000 rows: the C runtime with one thread and with the default thread
  count, XGBoost ``inplace_predict`` with nthread 1, onnxruntime one thread;
* m2cgen's Python and C code when m2cgen is installed (it reads the booster's JSON dump and
  breaks on XGBoost 3.x's array-string base_score: reported, not hidden);
* ``--compile``: generation + compile time of a synthetic 2,000-tree depth-10 model and of a
  100-tree model with ~2,000 nodes per tree (forest-sized), in the default shape.

Before timing, modelport's margins must equal XGBoost's bit for bit.  Not a test: the figures
depend on the machine (on a shared machine, compare the ratios, measured side by side).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from modelport.benchmarks._timing import measure

N_TREES, DEPTH, N_FEATURES, N_ROWS = 100, 6, 20, 10_000


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


def _m2cgen(src: str, X: np.ndarray) -> dict:
    try:
        import m2cgen
        import xgboost as xgb
    except ImportError:
        return {"status": "not installed"}
    try:
        clf = xgb.XGBClassifier()  # m2cgen reads scikit-learn wrappers, not raw Boosters
        clf.load_model(src)
        code = m2cgen.export_to_python(clf)
    except Exception as exc:  # noqa: BLE001 - report any m2cgen failure as a figure
        return {"status": f"export failed: {type(exc).__name__}: {str(exc)[:120]}"}
    ns: dict = {}
    exec(compile(code, "m2cgen_model", "exec"), ns)  # noqa: S102 - code m2cgen generated here
    row = X[0].astype(np.float64).tolist()
    return {"status": "ok", "python_single_us": measure(lambda: ns["score"](row), budget=0.5).median * 1e6}


def run(*, budget: float = 1.0, compile_models: bool = False) -> dict:
    """Train, convert, verify, time; returns the figures as a dict."""
    import xgboost as xgb

    from modelport import runtimes
    from modelport.converters.frontends import load_model
    from modelport.converters.targets import WriteOptions
    from modelport.converters.targets.native.c import write_c
    from modelport.converters.targets.native.python import write_python

    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_ROWS, N_FEATURES)).astype(np.float32)
    X[rng.random(X.shape) < 0.02] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2]) > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": DEPTH, "seed": 0, "nthread": 1},
                        xgb.DMatrix(X, label=y), N_TREES)
    booster.set_param({"nthread": 1})
    res: dict = {"trees": N_TREES, "depth": DEPTH, "features": N_FEATURES, "rows": N_ROWS,
                 "xgboost_version": xgb.__version__, "machine": platform.machine(), "cpus": os.cpu_count(),
                 "python": platform.python_version()}
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "model.json")
        booster.save_model(src)
        model = load_model(src)
        write_c(model, Path(d) / "m.c", WriteOptions())
        write_python(model, Path(d) / "m.py", WriteOptions())
        crt = runtimes.load(Path(d) / "m.c", threads=1)
        crt_mt = runtimes.load(Path(d) / "m.c")
        prt = runtimes.load(Path(d) / "m.py")
        ort = None
        try:
            from modelport.converters.targets.onnx import write_onnx

            write_onnx(model, Path(d) / "m.onnx", WriteOptions())
            ort = runtimes.load(Path(d) / "m.onnx", threads=1)
        except ImportError:
            pass
        res["m2cgen"] = _m2cgen(src, X)
        res["c_shape"] = json.loads((Path(d) / "m.c" / "modelport.json").read_text())["metadata"].get("modelport.code_shape", "")
    ref = np.asarray(booster.inplace_predict(X, predict_type="margin"), np.float32)
    ours = crt.predict(X, output="margin")
    if not np.array_equal(ours.view(np.uint32), ref.view(np.uint32)):
        raise SystemExit("the C margins differ from xgboost's: refusing to benchmark")
    x, out, call = crt.row_function("margin")
    xp, outp, callp = crt.row_function("prediction")
    x[:] = X[1]
    xp[:] = X[1]
    row1 = X[1:2]
    row_list = X[1].tolist()
    t = lambda fn, b=budget: measure(fn, budget=b).median * 1e6  # noqa: E731
    single = {
        "c_row_function_margin": t(call),
        "c_row_function_probability": t(callp),
        "c_predict_one_row": t(lambda: crt.predict(row1)),
        "xgboost_inplace_predict": t(lambda: booster.inplace_predict(row1)),
        "python_module_predict": t(lambda: prt.module.predict(row_list)),
    }
    if ort is not None:
        single["onnxruntime_modelport_onnx"] = t(lambda: ort.predict(row1))
    tx = measure(lambda: booster.inplace_predict(X), budget=2 * budget).median
    batch = {
        "xgboost_nthread1": N_ROWS / tx,
        "c_1_thread": N_ROWS / measure(lambda: crt.predict(X, output="margin"), budget=2 * budget).median,
        f"c_{crt_mt.threads}_threads_x10_rows": 10 * N_ROWS / measure(
            lambda: crt_mt.predict(np.concatenate([X] * 10), output="margin"), budget=2 * budget).median,
    }
    if ort is not None:
        batch["onnxruntime_1_thread"] = N_ROWS / measure(lambda: ort.predict(X), budget=2 * budget).median
    res["single_row_us"] = single
    res["batch_rows_per_s"] = batch
    res["ratios"] = {
        "c_single_margin_vs_xgboost_latency": single["c_row_function_margin"] / single["xgboost_inplace_predict"],
        "c_batch_vs_xgboost_throughput": batch["c_1_thread"] / batch["xgboost_nthread1"],
    }
    if ort is not None:
        res["ratios"]["c_batch_vs_onnxruntime_throughput"] = batch["c_1_thread"] / batch["onnxruntime_1_thread"]
    if compile_models:
        res["compile"] = [_compile_time(synthetic_model(2000, 10, fill=0.8, seed=1), "2000 trees depth 10"),
                          _compile_time(synthetic_model(100, 11, fill=0.92, seed=2), "100 trees ~2000 nodes")]
    return res


def format_text(r: dict) -> str:
    """The human-readable summary of :func:`run`'s result."""
    lines = [f"{r['trees']} trees, depth {r['depth']}, {r['features']} features; xgboost {r['xgboost_version']}; "
             f"C shape {r.get('c_shape') or 'default'}", "single row, median us:"]
    lines += [f"  {k:32s} {v:10.2f}" for k, v in r["single_row_us"].items()]
    lines.append(f"batch of {r['rows']:,} rows, rows/s:")
    lines += [f"  {k:32s} {v:14,.0f}" for k, v in r["batch_rows_per_s"].items()]
    lines += [f"  {k}: {v:.2f}" for k, v in r["ratios"].items()]
    lines.append(f"m2cgen: {r['m2cgen']}")
    for c in r.get("compile", []):
        lines.append(f"compile {c['model']}: {c['nodes']:,} nodes, {c['source_mb']:.1f} MB source, "
                     f"generate {c['generate_s']:.1f} s, compile {c['compile_s']:.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--compile", action="store_true", help="also time generation + compilation of large models")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds of sampling per figure")
    args = ap.parse_args(argv)
    r = run(budget=args.budget, compile_models=args.compile)
    print(json.dumps(r, indent=2) if args.json else format_text(r))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
