"""Verification for framework sources (LightGBM model.txt, pickled scikit-learn): the artifact
run through :mod:`modelport.runtimes` against the framework's OWN predict (the first hop of
parity; there is no IR evaluator for these models yet).

Probe rows (:func:`framework_probe_rows`): random rows across each feature's threshold range,
rows on the float32 rounding of every threshold and one float32 ULP either side, for LightGBM
(float64 ``x <= t``) also one float64 ULP either side (trap 2 of docs/parity-traps.md), NaN in each feature
and all-NaN when the framework accepts NaN (3), every category code of categorical splits plus
unknown ones (9), then the user's rows.  The artifact receives what the runtime gives it:
float32 values (cast to float64 for a float64-input graph); the framework receives the same
rows in float64, so a float64 row that float32 cannot hold is a real difference for a user
whose data is float64.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from modelport._verify import LABELS, PROBABILITY, ParityReport, Tolerance, VerifyOptions, _mismatch, compare
from modelport.converters.frontends._sources import FrameworkModel
from modelport.core.numerics import FLOAT32_UNIT_ROUNDOFF  # one definition; in __all__ too
from modelport.core.ir.probe import edge_rows, edge_values, random_rows, substitute_rows, with_extra
from modelport.core.ir.model import Task

__all__ = ["framework_probe_rows", "framework_tolerance", "verify_framework", "FLOAT32_UNIT_ROUNDOFF"]



def framework_tolerance(fm: FrameworkModel) -> Tolerance:
    """The named tolerance for comparing the artifact with the framework's predict.

    Classifiers: :data:`~modelport._verify.PROBABILITY` (probabilities in [0, 1], a link
    computed by another library) and class flips are never tolerated.

    Tree regressors: the framework sums float64 leaves in float64; onnxruntime's tree kernel
    stores each leaf as float32 (one rounding: ``u * |leaf|``, u = 2**-24), adds the n terms
    (trees and the intercept) in float32 (any order: at most ``(n - 1) * u * sum |terms|``,
    Higham's recursive summation bound) and the float64 reference is rounded to float32 for
    the comparison (``u * |result|``).  With ``S = |intercept| + sum over trees of max |leaf|``
    (each row's terms are bounded by it) the difference is at most ``(n + 1) * u * S``
    (first order).  Derived from the model, not fitted to the data; a row routed differently
    (a threshold trap) is far outside it.

    Other regressors (no tree bound known): within 2 float32 ULP of the float64 reference,
    which a float64 graph meets and a float32 one may not (reported, never loosened).
    """
    if fm.task != "regression":
        return PROBABILITY
    if fm.leaf_scale is not None and fm.n_trees:
        n_terms = fm.n_trees + 1
        bound = (n_terms + 1) * FLOAT32_UNIT_ROUNDOFF * fm.leaf_scale
        return Tolerance("float32-tree-sum", bound, 0.0, 0,
                         f"the framework sums {fm.n_trees} trees in float64, onnxruntime in float32: "
                         f"(n + 1) * 2**-24 * (|intercept| + sum of max |leaf|) = {bound:.3g}")
    return Tolerance("float64-reference", 0.0, 0.0, 2,
                     "no float32 accumulation bound is known for this estimator: within 2 float32 ULP of the "
                     "framework's float64 result")


def _edges64(t: np.ndarray) -> np.ndarray:
    """float64 values on each threshold and one float64 ULP either side (float64 ``x <= t``)."""
    t = t[np.isfinite(t)].astype(np.float64)
    return np.unique(np.concatenate([t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)])) if t.size else t


def framework_probe_rows(fm: FrameworkModel, *, n_random: int = 256, seed: int = 0,
                      extra: np.ndarray | None = None, max_edge_rows: int = 20_000) -> np.ndarray:
    """float64 rows ``[n, n_features]`` that aim at every split edge of ``fm``
    (deterministic for a ``seed``); ``extra`` rows are appended as given.  Built from the
    same pieces as the IR's :func:`~modelport.core.ir.probe.probe_set`."""
    rng = np.random.default_rng(seed)
    nf = fm.n_features
    # random rows are float32 values (what the artifact can be given), held as float64
    base = random_rows(list(fm.thresholds), list(fm.categories), max(n_random, 1), rng).astype(np.float64)
    parts = [base[:n_random]]
    edge = [edge_values(t).astype(np.float64) for t in fm.thresholds]
    if fm.float64_compare:
        edge = [np.unique(np.concatenate([e, _edges64(t)])) for e, t in zip(edge, fm.thresholds, strict=True)]
    for f, c in enumerate(fm.categories):
        if c.size:
            edge[f] = np.unique(np.concatenate([edge[f], c, [c.max() + 1, -1.0, 0.5]]))
    parts.append(edge_rows(base, edge, rng, max_edge_rows))
    if fm.accepts_nan:
        parts.append(substitute_rows(base, np.arange(nf), np.full(nf, np.nan), rng))
        parts.append(np.full((1, nf), np.nan))
    return with_extra(parts, extra, nf, np.float64)


def _signature_check(artifact: Path, sig, fm: FrameworkModel) -> None:
    if sig is None:
        return
    if sig.n_features != fm.n_features:
        raise _mismatch(artifact, "features", sig.n_features, fm.n_features)
    if sig.task != fm.task:
        raise _mismatch(artifact, "as its task", sig.task, fm.task)
    if fm.task == "multiclass" and sig.n_classes != fm.n_classes:
        raise _mismatch(artifact, "classes", sig.n_classes, fm.n_classes)


def verify_framework(fm: FrameworkModel, artifact: str | Path, *, rows: np.ndarray | None = None,
                  options: VerifyOptions | None = None) -> ParityReport:
    """Compare ``artifact`` (any file :mod:`modelport.runtimes` loads) with the framework's
    own predict on the probe rows (+ ``rows``); labels too when both sides give them."""
    import modelport.runtimes as runtimes

    opts = options or VerifyOptions()
    artifact = Path(artifact)
    X = framework_probe_rows(fm, n_random=opts.n_random, seed=opts.seed, extra=rows)
    rt = runtimes.load(artifact)
    sig = getattr(rt, "signature", None)
    _signature_check(artifact, sig, fm)
    task = Task(fm.task)
    report = compare(fm.predict(X), np.asarray(rt.predict(X, output="prediction")), task=task,
                     output="prediction", tolerance=framework_tolerance(fm), max_listed=opts.max_listed,
                     artifact=str(artifact))
    if fm.predict_label is not None and sig is not None and "label" in sig.outputs:
        ref_labels, cand_labels = _label_codes(fm.predict_label(X), np.asarray(rt.predict(X, output="label")))
        labels = compare(ref_labels, cand_labels, task=Task.REGRESSION,
                         output="label", tolerance=LABELS, max_listed=opts.max_listed, artifact=str(artifact))
        report = dataclasses.replace(report, labels=labels, passed=report.passed and labels.passed)
    return report.numbered_from(len(X) - len(rows)) if rows is not None and len(rows) else report


def _label_codes(reference: np.ndarray, candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both label arrays as integer codes over one shared vocabulary, so class names
    (strings) compare exactly like class indices; numeric labels pass through."""
    if reference.dtype.kind in "iub" and candidate.dtype.kind in "iub":
        return reference, candidate
    ref, cand = reference.astype(str).reshape(-1), candidate.astype(str).reshape(-1)
    vocab = np.unique(np.concatenate([ref, cand]))
    return np.searchsorted(vocab, ref).astype(np.int64), np.searchsorted(vocab, cand).astype(np.int64)
