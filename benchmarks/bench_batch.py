"""Batch scoring throughput on one Parquet file (5 million rows by default): one process (the
runtime's own batch speed), ``modelport predict`` with one worker and with every core, Spark
``local[2]`` (``modelport.spark.score``) and Dask with 2 worker processes
(``modelport.dask.score``).  A benchmark, not a test (issue #14)::

    python -m modelport.benchmarks.bench_batch [--rows 5000000] [--engines ...] [--json]

The model: XGBoost binary:logistic, 100 trees of depth 6 on 8 float64 features, converted to
ONNX.  The model and the data (row groups of 125,000 rows) are generated once into a cache
directory (``--cache``, default ``$XDG_CACHE_HOME/modelport/bench-batch``) and reused.

Each engine runs in a fresh subprocess.  Reported per engine:

* ``startup``: seconds until the engine can score (interpreter, imports, runtime load, and
  the worker pool / SparkSession + Python workers / Dask process pool, warmed up on a few
  rows so that every worker holds a loaded runtime);
* ``rows_per_s``: rows over the scoring seconds after start-up;
* ``rows_per_cpu_s``: rows over the CPU seconds the whole process tree spent after
  start-up (sampled with the memory): on a shared machine the wall-clock rate says more
  about the neighbours than about the engine, the CPU cost carries over;
* ``peak_mb``: the largest sum of resident memory over the engine's whole process tree
  (the process and every descendant: forkserver workers, the JVM, Spark's Python workers,
  Dask's pool), sampled every 0.1 s from ``/proc``; shared pages count once per process;
* ``load``: the 1-minute load average before and after (the machine may be shared).

Then the two goals of issue #14: ``modelport predict`` on every core against the one-process
speed times the cores used (goal >= 1/1.2), and Spark ``local[2]`` against ``modelport
predict`` on 2 cores, both once started (goal >= 1/1.5).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["main", "ENGINES", "prepare", "tree_usage", "tree_rss_mb", "goals"]

_ROW_GROUP = 125_000

_SINGLE = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np, pyarrow.parquet as pq
from modelport import runtimes
rt = runtimes.load(sys.argv[1]); names = list(rt.signature.feature_names)
rt.predict(np.zeros((10, len(names))))
startup = time.perf_counter() - t0; t1 = time.perf_counter(); rows = 0
for b in pq.ParquetFile(sys.argv[2]).iter_batches(batch_size=50_000, columns=names, use_threads=False):
    X = np.empty((b.num_rows, len(names)))
    for j, n in enumerate(names):
        X[:, j] = b.column(n).to_numpy(zero_copy_only=False)
    rows += len(rt.predict(X))
print(json.dumps({"rows": rows, "startup": startup, "score": time.perf_counter() - t1, "workers": 1}))
"""

# `modelport predict` itself (its --json summary); start-up = everything but the scoring
_PREDICT = "modelport predict"

_SPARK = """
import json, os, sys, time
os.environ["PYSPARK_PYTHON"] = sys.executable; os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
t0 = time.perf_counter()
import numpy as np, pandas as pd
from pyspark.sql import SparkSession
# The two settings docs/scale.md recommends for scoring jobs, measured on this file:
# 100,000-row Arrow batches (Spark's default is 10,000): fewer JVM<->Python hand-offs, about
# 8% less scoring time; 32 MB input splits (default 128 MB): the 400 MB file becomes 13 tasks
# instead of 4, so the second wave does not leave one of the two task slots idle (the
# default's last wave held a 128 MB and an 18 MB split: Spark used 1.7 of the 2 cores).
spark = (SparkSession.builder.master("local[2]").config("spark.driver.memory", "1g")
         .config("spark.sql.shuffle.partitions", "2").config("spark.ui.enabled", "false")
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
         .config("spark.sql.files.maxPartitionBytes", "32m").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
from modelport.spark import score
df = spark.read.parquet(sys.argv[2])
rows = df.count()
# warm-up: two tasks start both Python workers, each unpacks and loads the runtime
small = spark.createDataFrame(pd.DataFrame(np.zeros((2000, len(df.columns))), columns=df.columns)).repartition(2)
score(small, sys.argv[1], keep=[]).write.format("noop").mode("overwrite").save()
scored = score(df, sys.argv[1], keep=[])
startup = time.perf_counter() - t0; t1 = time.perf_counter()
scored.write.format("noop").mode("overwrite").save()
print(json.dumps({"rows": rows, "startup": startup, "score": time.perf_counter() - t1, "workers": 2}))
spark.stop()
"""

_DASK = """
import json, sys, time
t0 = time.perf_counter()
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
import numpy as np, pandas as pd
import dask, dask.dataframe as dd
from modelport.dask import score
if __name__ == "__main__":
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    with dask.config.set(scheduler="processes", pool=pool):
        # warm-up: two partitions start both worker processes, each loads the runtime
        ddf = dd.read_parquet(sys.argv[2], split_row_groups=True)
        small = dd.from_pandas(pd.DataFrame(np.zeros((2000, len(ddf.columns))), columns=ddf.columns), npartitions=2)
        score(small, sys.argv[1], keep=[]).map_partitions(len).sum().compute()
        scored = score(ddf, sys.argv[1], keep=[])
        startup = time.perf_counter() - t0; t1 = time.perf_counter()
        rows = int(scored.map_partitions(len).sum().compute())
    print(json.dumps({"rows": rows, "startup": startup, "score": time.perf_counter() - t1, "workers": 2}))
    pool.shutdown()
"""


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


ENGINES = {
    "one process": _SINGLE,
    "predict 1 worker": _PREDICT,
    "predict all cores": _PREDICT,
    "spark local[2]": _SPARK,
    "dask 2 workers": _DASK,
}


def prepare(cache: Path, rows: int) -> tuple[str, str]:
    """``(artifact, data)`` in ``cache``: the ONNX model and a ``rows``-row Parquet file,
    made once (the data is written 250,000 rows at a time: bounded memory)."""
    import numpy as np

    cache.mkdir(parents=True, exist_ok=True)
    art = cache / "model.onnx"
    names = [f"x{i}" for i in range(8)]
    if not art.exists():
        import xgboost as xgb

        import modelport

        rng = np.random.default_rng(0)
        X = rng.normal(size=(20_000, 8)).astype(np.float32)
        y = (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 5] > 0).astype(int)
        b = xgb.train({"objective": "binary:logistic", "max_depth": 6, "seed": 0},
                      xgb.DMatrix(X, y, feature_names=names), 100)
        b.save_model(str(cache / "model.json"))
        modelport.convert(str(cache / "model.json"), to="onnx", out=str(cache / "model.tmp.onnx"))
        os.replace(cache / "model.tmp.onnx", art)
    data = cache / f"rows-{rows}.parquet"
    if not data.exists():
        import pyarrow as pa
        import pyarrow.parquet as pq

        rng = np.random.default_rng(1)
        tmp = cache / f".rows-{rows}.{os.getpid()}.parquet"
        with pq.ParquetWriter(tmp, pa.schema([(n, pa.float64()) for n in names])) as w:
            for start in range(0, rows, 2 * _ROW_GROUP):
                block = rng.normal(size=(min(2 * _ROW_GROUP, rows - start), 8))
                w.write_table(pa.table({n: block[:, j] for j, n in enumerate(names)}), row_group_size=_ROW_GROUP)
        os.replace(tmp, data)
    return str(art), str(data)


def tree_usage(pid: int) -> tuple[float, dict[int, float]]:
    """``(resident MB, {pid: CPU seconds})`` of process ``pid`` and all its descendants,
    from ``/proc``."""
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            fields = stat[stat.rindex(b")") + 2:].split()
            parent[int(entry)] = int(fields[1])
            cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    children: dict[int, list[int]] = {}
    for p, pp in parent.items():
        children.setdefault(pp, []).append(p)
    total, todo, page, seen = 0, [pid], os.sysconf("SC_PAGE_SIZE"), {}
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, ()))
        try:
            with open(f"/proc/{p}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * page
        except OSError:
            continue
        seen[p] = cpu.get(p, 0.0)
    return total / 2**20, seen


def tree_rss_mb(pid: int) -> float:
    """Resident memory (MB) of process ``pid`` and all its descendants."""
    return tree_usage(pid)[0]


def _run_engine(name: str, art: str, data: str, scratch: str) -> dict:
    if ENGINES[name] == _PREDICT:
        workers = 1 if name == "predict 1 worker" else _cores()
        argv = [sys.executable, "-m", "modelport._predict", art, data, "-o", os.path.join(scratch, "scored.parquet"),
                "--json", "--workers", str(workers)]
    else:
        argv = [sys.executable, "-c", ENGINES[name], art, data]
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603 - fixed argv
    peak = [0.0]
    cpu: dict[int, float] = {}  # the last CPU seconds seen of every process of the tree
    timeline: list[tuple[float, float]] = []  # (seconds since start, CPU seconds of the tree)

    def sample() -> None:
        while proc.poll() is None:
            rss, seen = tree_usage(proc.pid)
            peak[0] = max(peak[0], rss)
            cpu.update(seen)
            timeline.append((time.perf_counter() - t0, sum(cpu.values())))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.join()
    r: dict = {"wall": wall, "peak_mb": peak[0], "load_before": load0, "load_after": os.getloadavg()[0]}
    if proc.returncode:
        r["error"] = (err.strip().splitlines() or ["failed"])[-1]
        return r
    d = json.loads(out.strip().splitlines()[-1])
    if ENGINES[name] == _PREDICT:
        score = d["seconds"] - d["startup_seconds"]
        d = {"rows": d["rows"], "startup": wall - score, "score": score, "workers": d["workers"]}
    r.update(d)
    r["rows_per_s"] = r["rows"] / r["score"] if r["score"] > 0 else None
    # CPU seconds of the whole tree while scoring (after start-up): rows per CPU-second is
    # what carries over from a busy machine to an idle one
    if timeline:
        at_start = max((c for t, c in timeline if t <= r["startup"]), default=0.0)
        r["cpu"] = timeline[-1][1]
        r["score_cpu"] = timeline[-1][1] - at_start
        r["rows_per_cpu_s"] = r["rows"] / r["score_cpu"] if r["score_cpu"] > 0 else None
    return r


def goals(results: dict) -> dict:
    """The two ratios of issue #14 (None when an engine is missing or failed)."""
    def rate(name: str):
        return results.get(name, {}).get("rows_per_s")

    one, pred = rate("one process"), rate("predict all cores")
    workers = results.get("predict all cores", {}).get("workers")
    out = {"predict_vs_one_process_x_cores": None, "spark_vs_predict_same_cores": None,
           "predict_vs_one_process_per_cpu_s": None, "spark_vs_predict_per_cpu_s": None}
    if one and pred and workers:
        out["predict_vs_one_process_x_cores"] = pred / (one * workers)
    spark = rate("spark local[2]")
    if spark and pred and workers == 2:
        out["spark_vs_predict_same_cores"] = spark / pred

    def per_cpu(name: str):
        return results.get(name, {}).get("rows_per_cpu_s")

    if per_cpu("one process") and per_cpu("predict all cores"):
        out["predict_vs_one_process_per_cpu_s"] = per_cpu("predict all cores") / per_cpu("one process")
    if per_cpu("spark local[2]") and per_cpu("predict all cores"):
        out["spark_vs_predict_per_cpu_s"] = per_cpu("spark local[2]") / per_cpu("predict all cores")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every engine on one cached Parquet file and print the table (or JSON)."""
    p = argparse.ArgumentParser(prog="bench_batch", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=5_000_000, help="rows in the Parquet file (default: 5,000,000)")
    p.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset of: " + ", ".join(ENGINES))
    p.add_argument("--cache", default=os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                                                   "modelport", "bench-batch"),
                   help="where the model and the data are generated once")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    names = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        p.error(f"unknown engine {unknown[0]!r}; choose from: {', '.join(ENGINES)}")
    art, data = prepare(Path(args.cache), args.rows)
    results = {}
    if not args.json:
        print(f"{args.rows:,} rows, {_cores()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        for name in names:
            results[name] = _run_engine(name, art, data, scratch)
            if not args.json:
                print(_line(name, results[name]), flush=True)
    g = goals(results)
    if args.json:
        print(json.dumps({"rows": args.rows, "cores": _cores(), "engines": results, "goals": g}, indent=2))
    else:
        print(_goal_text(g))
    return 0


def _line(name: str, r: dict) -> str:
    if "error" in r:
        return f"{name:<18} failed: {r['error']}"
    per_cpu = f"{r['rows_per_cpu_s']:>9,.0f}" if r.get("rows_per_cpu_s") else f"{'n/a':>9}"
    return (f"{name:<18} {r['rows_per_s']:>9,.0f} rows/s {per_cpu} rows/CPU-s  start-up {r['startup']:6.2f}s  "
            f"scoring {r['score']:7.2f}s  peak {r['peak_mb']:6.0f} MB  load {r['load_before']:.1f}->{r['load_after']:.1f}")


def _goal_text(g: dict) -> str:
    def fmt(v, goal):
        return "n/a" if v is None else f"{v:.2f} (goal >= {goal:.2f}: {'met' if v >= goal else 'NOT met'})"

    return (f"predict on every core / (one process x cores): {fmt(g['predict_vs_one_process_x_cores'], 1 / 1.2)}\n"
            f"spark local[2] / predict on 2 cores, once started: {fmt(g['spark_vs_predict_same_cores'], 1 / 1.5)}\n"
            f"per CPU-second (what an idle machine would show if every core is kept busy):\n"
            f"  predict on every core / one process: {fmt(g['predict_vs_one_process_per_cpu_s'], 1 / 1.2)}\n"
            f"  spark local[2] / predict: {fmt(g['spark_vs_predict_per_cpu_s'], 1 / 1.5)}")


if __name__ == "__main__":
    raise SystemExit(main())
