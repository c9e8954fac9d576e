"""Anchors: the ecosystem's own converters and engines, run on the same model and rows as
``modelport bench`` so ``docs/benchmarks.md`` shows them side by side.

Each anchor turns the model file into a predict function with its own tools (m2cgen's
generated Python, treelite's GTIL interpreter, tl2cgen's compiled C, lleaves' LLVM code for
LightGBM, hummingbird's tensors) or runs modelport's PMML/PFA documents on another engine
(jpmml-evaluator, pypmml, titus2).  An anchor that is not installed, does not take this model,
or fails is listed with the reason; its output is compared with the reference (max abs diff)
rather than trusted: a fast wrong answer is not a result.  The ONNX anchor (onnxmltools /
skl2onnx) is a format row of the bench itself: ``onnx[onnxmltools]``.
"""

from __future__ import annotations

import html
import importlib
import json
import pickle
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Anchor", "ANCHORS", "run_anchors"]

Predict = Callable[[np.ndarray], np.ndarray]


class AnchorSkip(Exception):
    """This anchor does not apply here (not installed, not this framework): the message says why."""


@dataclass(frozen=True)
class Anchor:
    """A third-party way to run the same model."""

    name: str
    """Short name for the tables, e.g. ``"tl2cgen"``."""
    package: str
    """The PyPI distribution that provides it."""
    frameworks: tuple[str, ...]
    """Source frameworks it takes."""
    description: str
    """What is measured, one line."""
    prepare: Callable[[Path, str, Path, int, tuple[str, ...]], tuple[Predict, str]]
    """``prepare(model_path, framework, work_dir, threads, feature_names)`` → (predict,
    output) where output is ``"prediction"`` or ``"margin"`` (what predict returns)."""
    max_batch: int | None = None
    """Largest batch measured (engines that score one record per call in Python)."""


def _import(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise AnchorSkip(f"not installed (pip install {package}): {exc}") from None


def _only(fw: str, frameworks: tuple[str, ...], name: str) -> None:
    if fw not in frameworks:
        raise AnchorSkip(f"{name} does not take {fw} models")


def _estimator(path: Path, fw: str):
    """The scikit-learn-style estimator object m2cgen and hummingbird take."""
    if fw == "scikit-learn":
        with open(path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 (the zoo's own pickle, made by this process's caller)
    if fw == "xgboost":
        xgb = _import("xgboost", "xgboost")
        objective = json.loads(xgb.Booster(model_file=str(path)).save_config())["learner"]["objective"]["name"]
        est = xgb.XGBClassifier() if objective.startswith(("binary:", "multi:")) else xgb.XGBRegressor()
        est.load_model(str(path))
        return est
    raise AnchorSkip(f"takes estimator objects, and a {fw} model file is not one")


def _m2cgen(path: Path, fw: str, work: Path, threads: int, names: tuple[str, ...]) -> tuple[Predict, str]:
    m2c = _import("m2cgen", "m2cgen")
    code = m2c.export_to_python(_estimator(path, fw))
    namespace: dict[str, Any] = {}
    exec(compile(code, str(work / "m2cgen_model.py"), "exec"), namespace)  # noqa: S102 (m2cgen's output for our model)
    score = namespace["score"]
    return (lambda X: np.asarray([score(r) for r in np.asarray(X, np.float64).tolist()])), "prediction"


def _treelite_model(path: Path, fw: str):
    tl = _import("treelite", "treelite")
    if fw == "xgboost":
        return tl, tl.frontend.load_xgboost_model(str(path)) if path.suffix == ".json" else \
            tl.frontend.load_xgboost_model(str(path), format_choice="ubjson")
    if fw == "lightgbm":
        return tl, tl.frontend.load_lightgbm_model(str(path))
    return tl, tl.sklearn.import_model(_estimator(path, fw))


def _gtil(path: Path, fw: str, work: Path, threads: int, names: tuple[str, ...]) -> tuple[Predict, str]:
    tl, model = _treelite_model(path, fw)
    return (lambda X: tl.gtil.predict(model, np.asarray(X, np.float32), nthread=threads)), "prediction"


def _tl2cgen(path: Path, fw: str, work: Path, threads: int, names: tuple[str, ...]) -> tuple[Predict, str]:
    tl2 = _import("tl2cgen", "tl2cgen")
    _tl, model = _treelite_model(path, fw)
    lib = work / "tl2cgen_model.so"
    tl2.export_lib(model, toolchain="gcc", libpath=str(lib), params={"parallel_comp": 0})
    pred = tl2.Predictor(str(lib), nthread=threads)
    return (lambda X: pred.predict(tl2.DMatrix(np.asarray(X, np.float32)))), "prediction"


def _lleaves(path: Path, fw: str, work: Path, threads: int, names: tuple[str, ...]) -> tuple[Predict, str]:
    _only(fw, ("lightgbm",), "lleaves")
    lleaves = _import("lleaves", "lleaves")
    model = lleaves.Model(model_file=str(path))
    model.compile(cache=str(work / "lleaves.o"))
    return (lambda X: model.predict(np.asarray(X, np.float64), n_jobs=threads)), "prediction"


def _hummingbird(path: Path, fw: str, work: Path, threads: int, names: tuple[str, ...]) -> tuple[Predict, str]:
    hb = _import("hummingbird.ml", "hummingbird-ml")
    est = _estimator(path, fw)
    model = hb.convert(est, "torch")
    if hasattr(est, "predict_proba") and not str(getattr(est, "objective", "")).startswith("reg"):
        return (lambda X: model.predict_proba(np.asarray(X, np.float32))), "prediction"
    return (lambda X: model.predict(np.asarray(X, np.float32))), "prediction"


def _modelport_artifact(path: Path, fmt: str, work: Path) -> Path:
    """modelport's own PMML / PFA document of the model, for the other engines to run."""
    from modelport import convert
    from modelport.converters.targets import all_targets

    if fmt not in all_targets():
        raise AnchorSkip(f"no {fmt} target is registered here to write the document it runs")
    from modelport.core.errors import UnsupportedModelError

    out = work / f"for-{fmt}"
    out.mkdir(exist_ok=True)
    try:
        return convert(path, to=fmt, out=out).path
    except UnsupportedModelError as exc:
        raise AnchorSkip(f"modelport writes no {fmt} document for this model ({exc})") from None


def _margin_fields(pmml: Path) -> list[str]:
    m = re.search(r'name="[^"]*pmml_margin_fields" value="([^"]*)"', pmml.read_text(encoding="utf-8"))
    if m is None:
        raise AnchorSkip("the PMML document names no margin output fields")
    return json.loads(html.unescape(m.group(1)))


def _frame(X: np.ndarray, names: tuple[str, ...]):
    pd = _import("pandas", "pandas")
    return pd.DataFrame(np.asarray(X, np.float64), columns=list(names))


def _jpmml(path: Path, fw: str, work: Path, threads: int, names: tuple[str, ...]) -> tuple[Predict, str]:
    jpmml = _import("jpmml_evaluator", "jpmml-evaluator")
    doc = _modelport_artifact(path, "pmml", work)
    fields = _margin_fields(doc)
    evaluator = jpmml.make_evaluator(str(doc)).verify()
    return (lambda X: evaluator.evaluateAll(_frame(X, names))[fields].to_numpy(np.float64)), "margin"


def _pypmml(path: Path, fw: str, work: Path, threads: int, names: tuple[str, ...]) -> tuple[Predict, str]:
    pypmml = _import("pypmml", "pypmml")
    doc = _modelport_artifact(path, "pmml", work)
    fields = _margin_fields(doc)
    model = pypmml.Model.fromFile(str(doc))
    return (lambda X: model.predict(_frame(X, names))[fields].to_numpy(np.float64)), "margin"


def _titus(path: Path, fw: str, work: Path, threads: int, names: tuple[str, ...]) -> tuple[Predict, str]:
    try:
        from modelport.benchmarks._titus import import_titus
    except ImportError as exc:
        raise AnchorSkip(f"the titus2 shims are not here: {exc}") from None
    engine_cls = import_titus()
    if engine_cls is None:
        raise AnchorSkip("not installed (pip install titus2)")
    doc = _modelport_artifact(path, "pfa", work)
    with open(doc, encoding="utf-8") as fh:
        engine, = engine_cls.fromJson(json.load(fh))

    def predict(X: np.ndarray) -> np.ndarray:
        return np.asarray([engine.action({f"f{j}": None if v != v else float(v) for j, v in enumerate(row)})["margin"]
                           for row in np.asarray(X, np.float64)])

    return predict, "margin"


_TREES = ("xgboost", "lightgbm", "scikit-learn")
ANCHORS: tuple[Anchor, ...] = (
    Anchor("m2cgen", "m2cgen", ("xgboost", "scikit-learn"), "m2cgen's generated pure Python, one call per row",
           _m2cgen, max_batch=1000),
    Anchor("treelite-gtil", "treelite", _TREES, "treelite's GTIL interpreter", _gtil),
    Anchor("tl2cgen", "tl2cgen", _TREES, "tl2cgen's generated C, compiled with gcc", _tl2cgen),
    Anchor("lleaves", "lleaves", ("lightgbm",), "lleaves' LLVM-compiled LightGBM model", _lleaves),
    Anchor("hummingbird", "hummingbird-ml", ("xgboost", "scikit-learn"), "hummingbird's PyTorch tensors",
           _hummingbird),
    Anchor("jpmml-evaluator", "jpmml-evaluator", _TREES, "jpmml-evaluator (Java) running modelport's PMML",
           _jpmml, max_batch=1000),
    Anchor("pypmml", "pypmml", _TREES, "pypmml (Scala/Java via py4j) running modelport's PMML", _pypmml,
           max_batch=1000),
    Anchor("titus2", "titus2", _TREES, "titus2 (Python PFA engine) running modelport's PFA, one record per call",
           _titus, max_batch=100),
)


def _diff(pred: np.ndarray, ref: np.ndarray | None) -> float | None:
    if ref is None:
        return None
    pred = np.asarray(pred, np.float64)
    ref = np.asarray(ref, np.float64)
    if pred.size != ref.size and pred.ndim >= 2 and pred.shape[-1] == 2 and pred.size == 2 * ref.size:
        pred = pred.reshape(-1, 2)[:, 1]  # [N, 2] class probabilities against P(class 1)
    if pred.size != ref.size:
        return None
    pred, ref = pred.reshape(-1), ref.reshape(-1)
    both_missing = np.isnan(pred) & np.isnan(ref)
    diff = np.where(both_missing, 0.0, np.abs(pred - ref))
    return float(np.max(np.where(np.isnan(diff), np.inf, diff))) if diff.size else 0.0  # a lost value: infinitely off


def run_anchors(model_path: Path, framework: str, *, X: np.ndarray, names: tuple[str, ...], reference: dict,
                threads: int, budget: float, batches: tuple[int, ...], work: Path,
                anchors: tuple[Anchor, ...] = ANCHORS, tick: Callable[[str], None] = lambda s: None) -> list[dict]:
    """Run every anchor on ``model_path`` and the rows ``X``; one row each, measured or with
    the reason it was not.  ``reference``: ``{"prediction": ..., "margin": ...}`` on the first
    rows of X (either may be None)."""
    from modelport._bench import _measure_predict
    from modelport._bench import BenchOptions

    rows = []
    for anchor in anchors:
        tick(anchor.name)
        row: dict[str, Any] = {"format": anchor.name, "anchor": True, "package": anchor.package,
                               "description": anchor.description, "status": "ok", "reason": ""}
        d = work / anchor.name
        d.mkdir(parents=True, exist_ok=True)
        try:
            _only(framework, anchor.frameworks, anchor.name)
            t0 = time.perf_counter()
            predict, output = anchor.prepare(model_path, framework, d, threads, names)
            row["convert_seconds"] = time.perf_counter() - t0
            n = len(next(iter(v for v in reference.values() if v is not None), X[:256]))
            row["output"] = output
            row["max_abs_diff"] = _diff(predict(X[:n]), reference.get(output))
            use = tuple(b for b in batches if anchor.max_batch is None or b <= anchor.max_batch)
            row["measured_batches"] = list(use)
            row.update(_measure_predict(predict, X, BenchOptions(batches=use or (1,), budget=budget), tick))
        except AnchorSkip as exc:
            row.update(status="unavailable", reason=str(exc))
        except Exception as exc:  # the anchor's own failure on this model is a result, not a crash
            row.update(status="failed", reason=f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
        rows.append(row)
    return rows
