"""Score a Spark DataFrame with any modelport artifact (``pip install 'modelport[spark]'``).

    from modelport.spark import score, predict_udf
    scored = score(df, "model.onnx")                        # df + a "prediction" column
    scored = score(df, "model.c/", output="probabilities", keep=["id"])
    df.withColumn("p", predict_udf("model.onnx")())         # column form

How it runs (built on ``DataFrame.mapInPandas``, no SparkContext-only API, so it also works
on Spark Connect):

* the artifact's bytes (a bundle directory is packed as a tar) are embedded in the scoring
  function's closure: Spark ships them with the task, nothing has to exist on the executors
  but modelport itself;
* each Python worker unpacks them once into the cache directory (``$XDG_CACHE_HOME/modelport``
  or ``~/.cache/modelport``, keyed by the artifact's SHA-256), loads one runtime and keeps it in
  :data:`_RUNTIMES`, a module-level dict of this importable module, so later batches and later
  tasks on the same (reused) worker skip the load;
* onnxruntime runs one intra-op thread per task (the runtime's default) and the C runtime is
  loaded with ``threads=1`` (:data:`WORKER_OPTIONS`): Spark already runs one task per core;
* the runtimes that run generated programs (java, javascript, go, rust) build them once per
  machine into the same cache, keyed by content; each build happens in a private temporary
  directory renamed into place when complete, so two workers building at once never see a
  half build (the loser of the race discards its copy).  They start one short-lived process
  per call and keep none running between calls, so nothing outlives a worker that exits or
  is killed except, at worst, the one process it was waiting for; :func:`score` hands them
  :data:`PROCESS_ROWS_PER_CALL` rows per call (consecutive Arrow batches of a task joined),
  :func:`predict_udf` one Arrow batch (a pandas UDF returns each batch's rows by itself);
* columns are matched by feature name; the result is the input DataFrame (or only the
  ``keep`` columns) with the prediction columns added: ``output`` for a one-column output,
  ``<output>_<j>`` per column otherwise (the names of ``modelport predict``).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from modelport.core.errors import InputDataError, UsageError, require

__all__ = ["score", "predict_udf", "Packed", "pack", "WORKER_OPTIONS", "PROCESS_ROWS_PER_CALL"]

#: Runtimes loaded in this Python worker, keyed by artifact SHA-256 (and output), reused
#: across batches and tasks.
_RUNTIMES: dict[str, Any] = {}

#: Rows ``score`` gathers (from consecutive Arrow batches of a task) into one ``predict``
#: call of a runtime that starts a process per call (java, javascript, go, rust): a JVM or
#: node start costs ~0.3 s, as much as scoring ~100,000 rows of a small model.
PROCESS_ROWS_PER_CALL = 100_000

#: Load options per runtime inside Spark: one scoring thread per task (Spark runs one task
#: per core; the C runtime would otherwise start min(cpus, 8) threads in every worker).
WORKER_OPTIONS: dict[str, dict[str, Any]] = {"c": {"threads": 1}}


class Packed:
    """An artifact as bytes that can travel inside a task closure."""

    def __init__(self, name: str, data: bytes, bundle: bool) -> None:
        self.name, self.data, self.bundle = name, data, bundle
        self.sha256 = hashlib.sha256(data).hexdigest()

    def runtime(self) -> Any:
        """This worker's runtime for the artifact (loaded on first use, then cached)."""
        rt = _RUNTIMES.get(self.sha256)
        if rt is None:
            from modelport import runtimes

            path = self.materialize()
            spec = runtimes.detect_runtime(path)
            rt = spec.load(path, **WORKER_OPTIONS.get(spec.name, {}))
            _RUNTIMES[self.sha256] = rt
        return rt

    def materialize(self) -> Path:
        """Write the artifact under the cache directory (once per machine and content).

        Each writer unpacks into its own temporary name and renames it into place, so
        concurrent workers (and machines sharing a home directory) never see a partial
        artifact; the loser of a race discards its copy."""
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "modelport" / "spark" / self.sha256
        target = base / self.name
        if target.exists():
            return target
        base.mkdir(parents=True, exist_ok=True)
        import shutil
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=base))
        try:
            if self.bundle:
                with tarfile.open(fileobj=io.BytesIO(self.data), mode="r") as tar:
                    tar.extractall(tmp / "a", filter="data")
            else:
                (tmp / "a").write_bytes(self.data)
            try:
                os.replace(tmp / "a", target)
            except OSError:  # another worker published the same bundle first
                if not target.exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target


def pack(artifact: str | os.PathLike[str]) -> Packed:
    """Read an artifact (a file, or a bundle directory packed as tar) into a :class:`Packed`."""
    p = Path(artifact)
    if not p.exists():
        raise InputDataError(f"{artifact}: no such artifact")
    if p.is_dir():
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for f in sorted(p.rglob("*")):
                if f.is_file():
                    info = tar.gettarinfo(str(f), arcname=str(f.relative_to(p)))
                    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                    with open(f, "rb") as fh:
                        tar.addfile(info, fh)
        return Packed(p.name, buf.getvalue(), True)
    return Packed(p.name, p.read_bytes(), False)


def _columns(rt: Any, output: str) -> tuple[list[str], str]:
    """Output column names and their Spark type, from one prediction on a row of zeros."""
    sig = rt.signature
    if output not in sig.outputs:
        raise UsageError(f"output={output!r}: this artifact (task {sig.task}) gives {', '.join(sig.outputs)}")
    probe = np.asarray(rt.predict(np.zeros((1, sig.n_features)), output=output))
    spark_type = "long" if output == "label" else "float"
    if probe.ndim == 1:
        return [output], spark_type
    return [f"{output}_{j}" for j in range(probe.shape[1])], spark_type


def _rows_per_call(rt: Any) -> int:
    """Rows to gather before one ``predict``: 0 (each Arrow batch alone) for in-process
    runtimes, :data:`PROCESS_ROWS_PER_CALL` for those starting a process per call."""
    from modelport.runtimes.native._harness import ProcessRuntime

    return PROCESS_ROWS_PER_CALL if isinstance(rt, ProcessRuntime) else 0


def _grouped(batches: Iterator[Any], rows: int) -> Iterator[Any]:
    """The pandas batches, consecutive ones concatenated until they hold ``rows`` rows."""
    if rows <= 0:
        yield from batches
        return
    import pandas as pd

    held: list[Any] = []
    count = 0
    for pdf in batches:
        held.append(pdf)
        count += len(pdf)
        if count >= rows:
            yield held[0] if len(held) == 1 else pd.concat(held, ignore_index=True)
            held, count = [], 0
    if held:
        yield held[0] if len(held) == 1 else pd.concat(held, ignore_index=True)


def _scorer(packed: Packed, features: list[str], output: str, names: list[str], keep: list[str] | None):
    def score_batches(batches: Iterator[Any]) -> Iterator[Any]:
        rt = packed.runtime()
        for pdf in _grouped(batches, _rows_per_call(rt)):
            X = pdf[features].to_numpy(dtype=np.float64, na_value=np.nan)
            pred = np.asarray(rt.predict(X, output=output)) if len(pdf) else np.empty((0, len(names)))
            out = pdf if keep is None else pdf[keep]
            out = out.copy()
            if pred.ndim == 1:
                out[names[0]] = pred
            else:
                for j, n in enumerate(names):
                    out[n] = pred[:, j]
            yield out

    return score_batches


def score(df: Any, artifact: str | os.PathLike[str], *, output: str = "prediction",
          keep: list[str] | None = None) -> Any:
    """The Spark DataFrame ``df`` with prediction columns added (``keep``: carry only these
    input columns).  ``output`` is ``prediction``, ``probabilities``, ``label`` or ``margin``."""
    require("pyspark", extra="spark", purpose="modelport.spark")
    packed = pack(artifact)
    rt = packed.runtime()
    features = list(rt.signature.feature_names)
    missing = [f for f in features if f not in df.columns]
    if missing:
        raise InputDataError(f"the DataFrame lacks feature column(s) {', '.join(map(repr, missing[:5]))} "
                             f"(columns: {', '.join(df.columns[:20])})")
    absent = [k for k in keep or [] if k not in df.columns]
    if absent:
        raise UsageError(f"keep column {absent[0]!r} is not in the DataFrame")
    names, spark_type = _columns(rt, output)
    clash = [n for n in names if n in (df.columns if keep is None else keep)]
    if clash:
        raise UsageError(f"the DataFrame already has a column {clash[0]!r}: drop or rename it first")
    fields = [f for f in df.schema.fields if keep is None or f.name in keep]
    if keep is not None:
        fields = [next(f for f in df.schema.fields if f.name == k) for k in keep]
    from pyspark.sql.types import FloatType, LongType, StructField, StructType

    typ = LongType() if spark_type == "long" else FloatType()
    schema = StructType(fields + [StructField(n, typ, False) for n in names])
    return df.mapInPandas(_scorer(packed, features, output, names, keep), schema)


def predict_udf(artifact: str | os.PathLike[str], *, output: str = "prediction") -> Any:
    """A pandas UDF factory for ``withColumn``: ``predict_udf(path)()`` scores the DataFrame's
    columns named like the model's features; ``predict_udf(path)(*cols)`` takes the feature
    columns in the model's order.  A multi-column output is an ``array<float>`` column."""
    require("pyspark", extra="spark", purpose="modelport.spark")
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    packed = pack(artifact)
    rt = packed.runtime()
    features = list(rt.signature.feature_names)
    names, spark_type = _columns(rt, output)
    ret = ("bigint" if spark_type == "long" else "float") if len(names) == 1 else "array<float>"

    def _predict(rows):  # the feature columns arrive as one struct: a pandas DataFrame
        X = rows.to_numpy(dtype=np.float64, na_value=np.nan)
        pred = np.asarray(packed.runtime().predict(X, output=output))
        return pd.Series(pred) if pred.ndim == 1 else pd.Series(list(pred))

    # real classes, not strings: PySpark reads the hints to pick the UDF kind (pandas is
    # imported here, not at module level, so string annotations would not resolve)
    _predict.__annotations__ = {"rows": pd.DataFrame, "return": pd.Series}
    predict = pandas_udf(ret)(_predict)

    def column(*cols: Any) -> Any:
        from pyspark.sql.functions import col, struct

        if cols and len(cols) != len(features):
            raise UsageError(f"predict_udf: {len(cols)} columns given, the model has {len(features)} features "
                             f"({', '.join(features[:10])})")
        picked = [col(c) if isinstance(c, str) else c for c in (cols or features)]
        return predict(struct(*[c.alias(f"_{j}") for j, c in enumerate(picked)]))

    column.features = features  # type: ignore[attr-defined]
    return column
