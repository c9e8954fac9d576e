"""Batch scoring throughput on one Parquet file: one process, ``modelport predict`` on every
core, Spark ``local[2]`` (``modelport.spark.score``) and Dask with 2 worker processes
(``modelport.dask.score``).  A benchmark, not a test::

    python -m modelport.benchmarks.bench_batch --rows 1000000 [--json]

Each engine runs in a fresh subprocess; reported per engine: start-up seconds (runtime
load, worker pool / SparkSession / Dask start), scoring seconds, rows/s over the scoring
time, and peak memory: the largest resident set of any one process of that run (through
``RUSAGE_CHILDREN`` of a fresh parent, so the JVM and Python workers count, but the sum over
processes does not appear; ``modelport predict``'s workers report their own peak).  The
model: XGBoost binary:logistic, 100 trees of depth 6 on 8 features, converted to ONNX;
every engine writes nowhere (Spark: the ``noop`` sink) or to a scratch file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

__all__ = ["main", "ENGINES"]

_SINGLE = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np, pyarrow.parquet as pq
from modelport import runtimes
rt = runtimes.load(sys.argv[1]); names = rt.signature.feature_names
startup = time.perf_counter() - t0; t1 = time.perf_counter(); rows = 0
for b in pq.ParquetFile(sys.argv[2]).iter_batches(batch_size=50_000, columns=names):
    X = np.column_stack([b.column(n).to_numpy(zero_copy_only=False) for n in names])
    rows += len(rt.predict(X))
print(json.dumps({"rows": rows, "startup": startup, "score": time.perf_counter() - t1}))
"""

_PREDICT = """
import json, subprocess, sys, time, os
t0 = time.perf_counter()
out = os.path.join(sys.argv[3], "predict.parquet")
res = subprocess.run([sys.executable, "-m", "modelport._predict", sys.argv[1], sys.argv[2], "-o", out, "--json",
                      "--workers", str(os.cpu_count())], capture_output=True, text=True, check=True)
d = json.loads(res.stdout)
print(json.dumps({"rows": d["rows"], "startup": d["startup_seconds"], "score": d["seconds"] - d["startup_seconds"],
                  "workers": d["workers"], "peak_worker_mb": d["peak_worker_rss_mb"], "cpu": d["cpu_seconds"]}))
"""

_SPARK = """
import json, os, sys, time
os.environ["PYSPARK_PYTHON"] = sys.executable; os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
t0 = time.perf_counter()
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").config("spark.driver.memory", "1g")
         .config("spark.sql.shuffle.partitions", "2").config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
from modelport.spark import score
df = spark.read.parquet(sys.argv[2])
scored = score(df, sys.argv[1], keep=[])
startup = time.perf_counter() - t0; t1 = time.perf_counter()
scored.write.format("noop").mode("overwrite").save()
rows = df.count()
print(json.dumps({"rows": rows, "startup": startup, "score": time.perf_counter() - t1}))
spark.stop()
"""

_DASK = """
import json, sys, time
t0 = time.perf_counter()
import dask, dask.dataframe as dd
from modelport.dask import score
ddf = dd.read_parquet(sys.argv[2], split_row_groups=True)
scored = score(ddf, sys.argv[1], keep=[])
startup = time.perf_counter() - t0; t1 = time.perf_counter()
with dask.config.set(scheduler="processes", num_workers=2):
    rows = int(scored.map_partitions(len).sum().compute())
print(json.dumps({"rows": rows, "startup": startup, "score": time.perf_counter() - t1}))
"""

ENGINES = {"single process": _SINGLE, "modelport predict": _PREDICT, "spark local[2]": _SPARK, "dask 2 processes": _DASK}

_MEASURE = textwrap.dedent("""
    import json, resource, subprocess, sys, time
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", sys.argv[1], *sys.argv[2:]], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode:
        print(json.dumps({"error": (res.stderr.strip().splitlines() or ["failed"])[-1]})); sys.exit(0)
    d = json.loads(res.stdout.strip().splitlines()[-1])
    # forkserver workers are not our descendants' waited-for children: they report their own peak
    d.update(wall=wall, peak_mb=max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                                    d.get("peak_worker_mb", 0)))
    print(json.dumps(d))
""")


def _prepare(d: str, rows: int) -> tuple[str, str]:
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    import modelport

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 8)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 5] > 0).astype(int)
    names = [f"x{i}" for i in range(8)]
    b = xgb.train({"objective": "binary:logistic", "max_depth": 6, "seed": 0}, xgb.DMatrix(X, y, feature_names=names), 100)
    b.save_model(os.path.join(d, "model.json"))
    art = str(modelport.convert(os.path.join(d, "model.json"), to="onnx", out=os.path.join(d, "model.onnx")).path)
    data = os.path.join(d, "rows.parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetWriter(data, pa.schema([(n, pa.float64()) for n in names])) as w:
        for start in range(0, rows, 250_000):
            n = min(250_000, rows - start)
            w.write_table(pa.Table.from_pandas(pd.DataFrame(rng.normal(size=(n, 8)), columns=names),
                                               preserve_index=False), row_group_size=125_000)
    return art, data


def main(argv: list[str] | None = None) -> int:
    """Run every engine on one generated Parquet file and print the table (or JSON)."""
    p = argparse.ArgumentParser(prog="bench_batch", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset of: " + ", ".join(ENGINES))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as d:
        art, data = _prepare(d, args.rows)
        for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
            res = subprocess.run([sys.executable, "-c", _MEASURE, ENGINES[name], art, data, d],  # noqa: S603 - fixed argv
                                 capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            if "rows" in r:
                r["rows_per_s"] = r["rows"] / r["score"] if r["score"] > 0 else None
            results[name] = r
            if not args.json:
                print(_line(name, r), flush=True)
    if args.json:
        print(json.dumps({"rows": args.rows, "cores": os.cpu_count(), "engines": results}, indent=2))
    return 0


def _line(name: str, r: dict) -> str:
    if "error" in r:
        return f"{name:<20} failed: {r['error']}"
    return (f"{name:<20} {r['rows_per_s']:>10,.0f} rows/s  start-up {r['startup']:6.2f}s  scoring {r['score']:6.2f}s  "
            f"wall {r['wall']:6.2f}s  peak {r['peak_mb']:7.0f} MB")


if __name__ == "__main__":
    raise SystemExit(main())
