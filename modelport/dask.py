"""Score a Dask DataFrame with any modelport artifact (``pip install 'modelport[dask]'``).

    import dask.dataframe as dd
    from modelport.dask import score
    scored = score(dd.read_parquet("rows/*.parquet"), "model.onnx", keep=["id"])
    scored.to_parquet("scored/")

Built on ``map_partitions``: the artifact travels as bytes inside the task (as in
:mod:`modelport.spark`, which provides the packing and the per-worker runtime cache), each
worker process loads one runtime and reuses it for every partition, columns are matched by
feature name, and the result has the input columns (or only ``keep``) plus the prediction
columns, named as ``modelport predict`` names them.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from modelport.core.errors import InputDataError, UsageError, require

__all__ = ["score"]


def _score_partition(pdf: Any, packed: Any, features: list[str], output: str, names: list[str],
                     keep: list[str] | None) -> Any:
    rt = packed.runtime()
    X = pdf[features].to_numpy(dtype=np.float64, na_value=np.nan)
    pred = np.asarray(rt.predict(X, output=output)) if len(pdf) else np.empty((0, len(names)))
    out = (pdf if keep is None else pdf[keep]).copy()
    if pred.ndim == 1:
        out[names[0]] = pred.astype(np.int64 if output == "label" else np.float32)
    else:
        for j, n in enumerate(names):
            out[n] = pred[:, j].astype(np.float32)
    return out


def score(ddf: Any, artifact: str | os.PathLike[str], *, output: str = "prediction",
          keep: list[str] | None = None) -> Any:
    """The Dask DataFrame ``ddf`` with prediction columns added (``keep``: carry only these
    input columns).  ``output`` is ``prediction``, ``probabilities``, ``label`` or ``margin``."""
    require("dask.dataframe", extra="dask", purpose="modelport.dask")
    from modelport.spark import _columns, pack

    packed = pack(artifact)
    rt = packed.runtime()
    features = list(rt.signature.feature_names)
    missing = [f for f in features if f not in ddf.columns]
    if missing:
        raise InputDataError(f"the DataFrame lacks feature column(s) {', '.join(map(repr, missing[:5]))}")
    absent = [k for k in keep or [] if k not in ddf.columns]
    if absent:
        raise UsageError(f"keep column {absent[0]!r} is not in the DataFrame")
    names, spark_type = _columns(rt, output)
    meta = (ddf._meta if keep is None else ddf._meta[keep]).copy()
    for n in names:
        meta[n] = np.empty(0, dtype=np.int64 if spark_type == "long" else np.float32)
    return ddf.map_partitions(_score_partition, packed, features, output, names, keep, meta=meta)
