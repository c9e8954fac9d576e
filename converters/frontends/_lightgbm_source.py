"""The ``lightgbm-text`` source: LightGBM's ``model.txt`` (``Booster.save_model``), opened
with ``lightgbm.Booster(model_file=...)`` (a text parser: no pickle, safe on untrusted files).

LightGBM compares ``float64(x) <= threshold`` with float64 thresholds
(``include/LightGBM/tree.h``, ``NumericalDecision``), so the probe rows also sit one float64
ULP either side of each threshold (trap 2 of docs/parity-traps.md).  LightGBM's JSON dump
(``dump_model()``) is not a model file and is not accepted.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from modelport.converters.frontends._sources import (
    SOURCES,
    FrameworkModel,
    Source,
    default_names,
    per_feature,
)
from modelport.core.errors import ModelFormatError, UnsupportedModelError, require
from modelport.core.files import read_model_bytes

__all__ = ["sniff_lightgbm_text", "open_lightgbm_text"]

_CLASSIFIERS = {"binary": "binary", "multiclass": "multiclass", "multiclassova": "multiclass"}


def sniff_lightgbm_text(head: bytes, name: str = "") -> bool:
    """True for LightGBM's text model: first line ``tree``, then ``version=v<N>``."""
    text = head.replace(b"\r\n", b"\n")
    return text.startswith(b"tree\n") and b"\nversion=v" in text[:64]


def _walk(dump: dict[str, Any]) -> tuple[list[tuple[int, float]], list[tuple[int, float]], float, int]:
    """(numeric (feature, threshold) pairs, categorical (feature, code) pairs, sum over trees
    of max |leaf|, number of trees), walking each tree iteratively."""
    numeric: list[tuple[int, float]] = []
    cats: list[tuple[int, float]] = []
    scale = 0.0
    trees = dump.get("tree_info", [])
    for tree in trees:
        stack = [tree["tree_structure"]]
        biggest = 0.0
        while stack:
            node = stack.pop()
            if "split_feature" not in node:
                biggest = max(biggest, abs(float(node.get("leaf_value", 0.0))))
                continue
            f = int(node["split_feature"])
            if node.get("decision_type") == "==":
                cats += [(f, float(c)) for c in str(node["threshold"]).split("||") if c]
            else:
                numeric.append((f, float(node["threshold"])))
            stack += [node["left_child"], node["right_child"]]
        scale += biggest
    return numeric, cats, scale, len(trees)


#: Limits of the child process that first tries LightGBM's parser on an unchecked file.
TRIAL_TIMEOUT_SECONDS = 120
TRIAL_ADDRESS_SPACE_BYTES = 4 << 30

# Run in a child: parse the model text (stdin) with LightGBM and dump it as JSON; a corrupt
# file may abort, segfault or hang inside LightGBM's OpenMP parser (issue 13: 56 of 90
# mutations), which must kill only the child.
_TRIAL = """
import sys
try:
    import lightgbm as lgb
    b = lgb.Booster(model_str=sys.stdin.buffer.read().decode("utf-8", "replace"))
    b.dump_model()
    b.num_feature()
except BaseException as exc:
    text = " ".join(str(exc).split()) or type(exc).__name__
    sys.stdout.write("\\n@modelport-trial@" + text[:300])
    sys.exit(3)
"""


def _limit_child() -> None:  # runs in the child between fork and exec
    import resource

    # Never above what this process may use itself (a hard limit cannot be raised).
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = TRIAL_ADDRESS_SPACE_BYTES
    for lim in (soft, hard):
        if lim != resource.RLIM_INFINITY:
            cap = min(cap, lim)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def trial_load(text: bytes, name: str) -> None:
    """Parse ``text`` with LightGBM in a child process (time and memory limited): a crash,
    hang or error there becomes a one-line ModelFormatError here, before the same bytes are
    ever handed to LightGBM's native parser in this process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    try:
        proc = subprocess.run([sys.executable, "-c", _TRIAL], input=text, capture_output=True,  # noqa: S603 - our own script
                              timeout=TRIAL_TIMEOUT_SECONDS, env=env, preexec_fn=_limit_child)
    except subprocess.TimeoutExpired:
        raise ModelFormatError(f"{name}: LightGBM did not finish reading it within {TRIAL_TIMEOUT_SECONDS} s") from None
    if proc.returncode < 0:
        try:
            sig = signal.Signals(-proc.returncode).name
        except ValueError:
            sig = f"signal {-proc.returncode}"
        raise ModelFormatError(f"{name}: LightGBM crashed reading it ({sig}): the file is corrupt")
    if proc.returncode != 0:
        out = proc.stdout.decode("utf-8", "replace")
        why = out.rpartition("@modelport-trial@")[2].strip() or f"exit status {proc.returncode}"
        if "MemoryError" in why or proc.returncode == 1 and not why:
            why = "it needs more than the memory limit"
        raise ModelFormatError(f"{name}: LightGBM cannot read it: {why.splitlines()[0][:200]}")


def open_lightgbm_text(path: Path, options: Any = None) -> FrameworkModel:
    """Open a LightGBM ``model.txt`` into a :class:`FrameworkModel`.

    The file is read once (regular files only, size-capped), its bytes are first parsed by
    LightGBM in a limited child process (:func:`trial_load`), and only then in this process.
    """
    lgb = require("lightgbm", extra="lightgbm", purpose="reading a LightGBM model.txt with lightgbm")
    data = read_model_bytes(path)
    trial_load(data, path.name)
    try:
        # LightGBM prints its parser's warnings through Python (print / warnings.warn):
        # stderr stays one line on failure and quiet on success.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            booster = lgb.Booster(model_str=data.decode("utf-8", "replace"))
            dump = booster.dump_model()
    except lgb.basic.LightGBMError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise ModelFormatError(f"{path.name}: LightGBM cannot read it: {first}") from None
    except ValueError as exc:  # json.JSONDecodeError: a bare nan/inf (e.g. shrinkage=nan) in the dump
        raise ModelFormatError(f"{path.name}: LightGBM's dump of it is not JSON ({str(exc).splitlines()[0][:80]}): "
                               "a non-finite parameter or value") from None
    try:
        return _native(path, lgb, booster, dump, data)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ModelFormatError(f"{path.name}: malformed LightGBM model ({type(exc).__name__}: "
                               f"{' '.join(str(exc).split())[:120]})") from None


def _native(path: Path, lgb: Any, booster: Any, dump: dict, data: bytes) -> FrameworkModel:
    json.dumps(dump, allow_nan=False)  # non-finite numbers anywhere: ValueError, refused
    objective = str(dump.get("objective", "") or "")
    kind = objective.split()[0] if objective else ""
    if kind in ("lambdarank", "rank_xendcg"):
        raise UnsupportedModelError(f"{path.name}: LightGBM objective {kind!r} (ranking) is not supported")
    task = _CLASSIFIERS.get(kind, "regression")
    n_classes = int(dump.get("num_class", 1)) if task == "multiclass" else (2 if task == "binary" else 0)
    n_features = int(booster.num_feature())
    numeric, cats, scale, n_trees = _walk(dump)

    def predict(X: np.ndarray) -> np.ndarray:
        out = np.asarray(booster.predict(np.asarray(X, dtype=np.float64)), dtype=np.float64)
        return out.astype(np.float32)

    def predict_label(X: np.ndarray) -> np.ndarray:
        p = np.asarray(booster.predict(np.asarray(X, dtype=np.float64)), dtype=np.float64)
        # LGBMClassifier.predict: p > 0.5 for binary, the first argmax for multiclass (sklearn.py).
        return (p > 0.5).astype(np.int64) if p.ndim == 1 else np.argmax(p, axis=1).astype(np.int64)

    return FrameworkModel(
        source="lightgbm-text",
        framework="lightgbm",
        framework_version=getattr(lgb, "__version__", ""),
        framework_object=booster,
        task=task,
        n_features=n_features,
        n_classes=n_classes,
        feature_names=default_names(n_features, booster.feature_name()),
        predict=predict,
        predict_label=predict_label if task != "regression" else None,
        thresholds=per_feature(n_features, numeric),
        categories=per_feature(n_features, cats),
        accepts_nan=True,  # NaN is LightGBM's missing value (missing_type NaN / None → 0)
        float64_compare=True,
        n_trees=n_trees,
        leaf_scale=scale,  # LightGBM's leaves include the shrinkage and the boost_from_average intercept
        objective=objective,
        sha256=hashlib.sha256(data).hexdigest(),
        details={"format_version": str(dump.get("version", "")), "num_tree_per_iteration":
                 int(dump.get("num_tree_per_iteration", 1)), "categorical_features":
                 [booster.feature_name()[i] for i, c in enumerate(per_feature(n_features, cats)) if c.size]},
    )


SOURCES.register("lightgbm-text", Source(
    name="lightgbm-text", framework="lightgbm",
    description="LightGBM model.txt opened with lightgbm itself, for --backend onnxmltools "
                "(the default backend reads it into the IR: frontend lightgbm-text)",
    extensions=(".txt",), sniff=sniff_lightgbm_text, open=open_lightgbm_text,
))
