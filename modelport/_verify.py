"""Parity checking: compare an artifact's outputs with the reference evaluator's.

Parity is two hops (docs/architecture.md): the frontend's parity tests prove source framework ≈ IR
evaluator; this module proves IR evaluator ≈ artifact, on probe rows that spring the known
traps (:mod:`modelport.core.ir.probe`) plus the user's own rows.  Margins and
predictions are compared separately, each with a NAMED tolerance that says why
(docs/parity-traps.md, "Tolerances": never loosen one to make a test pass).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelport.core.errors import InputDataError, ModelportError, VerificationError
from modelport.core.ir.model import Model, PostTransform, Task
from modelport.core.numerics import ulp_distance
from modelport.core.tolerances import EXACT, FLOAT32_ACCUMULATION, LABELS, PROBABILITY, Tolerance

__all__ = [
    "Tolerance",
    "EXACT",
    "LABELS",
    "PROBABILITY",
    "FLOAT32_ACCUMULATION",
    "ParityReport",
    "VerifyOptions",
    "compare",
    "ulp_distance",
    "verify_model",
]


@dataclass(frozen=True)
class VerifyOptions:
    """How many and which rows verification uses."""

    n_random: int = 256
    """Random probe rows within the features' threshold ranges."""
    seed: int = 0
    """Seed of the probe set (verification is deterministic)."""
    max_listed: int = 20
    """Most differing row indices listed in a report."""


@dataclass(frozen=True)
class ParityReport:
    """The outcome of comparing one output of an artifact with the reference."""

    output: str
    """``"prediction"`` or ``"margin"``."""
    n_rows: int
    """Rows compared."""
    max_abs_diff: float
    """Largest absolute difference (inf where one side is NaN and the other not)."""
    max_ulp_diff: int
    """Largest float32 ULP distance (-1 when a NaN/number mismatch makes it meaningless)."""
    class_flips: int
    """Rows whose predicted class differs (0 for non-classifiers)."""
    n_differing: int
    """Rows with at least one value outside the tolerance."""
    differing_rows: tuple[int, ...]
    """The first differing row indices (capped at ``VerifyOptions.max_listed``)."""
    tolerance: Tolerance
    """The tolerance applied."""
    passed: bool
    """True when no value is outside the tolerance and no class flipped (this output and,
    if present, the margin and the labels)."""
    margin: ParityReport | None = None
    """The margin comparison, when the artifact exposes margins."""
    labels: ParityReport | None = None
    """The class-label comparison, when both the source and the artifact give labels
    (framework sources verified against their own ``predict``)."""
    artifact: str = ""
    """The artifact checked."""
    rows: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    """For the listed rows: the reference and candidate values (for the CLI's table)."""
    data_start: int = -1
    """Index of the first of the user's own rows (``--data``) among the rows compared; -1 when
    none were given.  Row ``i >= data_start`` is data row ``i - data_start + 1``."""

    def row_label(self, i: int) -> str:
        """How to name compared row ``i`` to the user: a probe row, or a row of their data."""
        if 0 <= self.data_start <= i:
            return f"data row {i - self.data_start + 1}"
        return f"probe row {i}"

    def to_dict(self) -> dict[str, Any]:
        """A strict-JSON-ready dict (non-finite floats as "NaN"/"Infinity"/"-Infinity")."""
        d = asdict(self)
        d["margin"] = self.margin.to_dict() if self.margin is not None else None
        d["labels"] = self.labels.to_dict() if self.labels is not None else None
        d["rows"] = {str(k): v for k, v in self.rows.items()}
        return jsonable(d)

    def at(self, artifact: str) -> ParityReport:
        """The same report naming ``artifact`` (e.g. the published path instead of the staged one)."""
        from dataclasses import replace

        return replace(self, artifact=artifact, margin=self.margin.at(artifact) if self.margin else None,
                       labels=self.labels.at(artifact) if self.labels else None)

    def numbered_from(self, data_start: int) -> ParityReport:
        """The same report knowing where the user's rows start (see :attr:`data_start`)."""
        from dataclasses import replace

        return replace(self, data_start=data_start,
                       margin=self.margin.numbered_from(data_start) if self.margin else None,
                       labels=self.labels.numbered_from(data_start) if self.labels else None)

    def summary(self) -> str:
        """One line: PASS/FAIL and the figures."""
        parts = [f"{self.output}: {'PASS' if self._own_pass() else 'FAIL'} on {self.n_rows} rows, "
                 f"max abs diff {self.max_abs_diff:.3g}, max ULP diff {self.max_ulp_diff}, "
                 f"class flips {self.class_flips}, differing rows {self.n_differing} "
                 f"(tolerance {self.tolerance.name})"]
        for sub in (self.margin, self.labels):
            if sub is not None:
                parts.append(sub.summary())
        return "; ".join(parts)

    def _own_pass(self) -> bool:
        return self.n_differing == 0 and self.class_flips == 0


def jsonable(x: Any) -> Any:
    """``x`` with tuples as lists and non-finite floats as the strings "NaN", "Infinity",
    "-Infinity" (strict JSON has no such numbers)."""
    if isinstance(x, float):
        return x if np.isfinite(x) else ("NaN" if x != x else ("Infinity" if x > 0 else "-Infinity"))
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x


def _classes(values: np.ndarray, *, task: Task, output: str, post: PostTransform | None) -> np.ndarray | None:
    """The predicted class per row, or None for non-classifiers."""
    if task is Task.BINARY:
        cut = 0.0 if output == "margin" or post is PostTransform.IDENTITY else 0.5
        return (values[:, 0] > cut).astype(np.int64)  # XGBoost: class 1 when p > 0.5
    if task is Task.MULTICLASS:
        if values.shape[1] == 1:  # multi:softmax labels
            return values[:, 0].astype(np.int64)
        return np.argmax(np.nan_to_num(values, nan=-np.inf), axis=1)
    return None


def compare(reference: np.ndarray, candidate: np.ndarray, *, task: Task, output: str = "prediction",
            tolerance: Tolerance = EXACT, post_transform: PostTransform | None = None,
            max_listed: int = 20, artifact: str = "") -> ParityReport:
    """Compare two output arrays row by row under ``tolerance``.

    Both are reshaped to ``[n_rows, n_columns]``; a shape mismatch is a VerificationError.
    """
    ref = np.asarray(reference, dtype=np.float32)
    cand = np.asarray(candidate, dtype=np.float32)
    n = ref.shape[0] if ref.ndim else 1
    ref, cand = ref.reshape(n, -1), cand.reshape(cand.shape[0] if cand.ndim else 1, -1)
    if ref.shape != cand.shape:
        raise VerificationError(f"{output}: artifact returned shape {list(cand.shape)}, the reference {list(ref.shape)}")
    both_nan = np.isnan(ref) & np.isnan(cand)
    one_nan = np.isnan(ref) ^ np.isnan(cand)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(ref.astype(np.float64) - cand.astype(np.float64))
        same_inf = np.isinf(ref) & (ref == cand)
        diff = np.where(both_nan | same_inf, 0.0, diff)
        diff = np.where(one_nan, np.inf, diff)
        ulps = ulp_distance(ref, cand)
        ulps = np.where(both_nan, 0, ulps)
        ok = (diff <= tolerance.atol + tolerance.rtol * np.abs(ref.astype(np.float64))) | (
            (ulps >= 0) & (ulps <= tolerance.max_ulp))
        ok = (ok | both_nan) & ~one_nan
    bad_rows = np.flatnonzero(~ok.all(axis=1))
    flips = 0
    c_ref = _classes(ref, task=task, output=output, post=post_transform)
    if c_ref is not None:
        c_cand = _classes(cand, task=task, output=output, post=post_transform)
        flipped = np.flatnonzero(c_ref != c_cand)
        flips = int(flipped.size)
        bad_rows = np.union1d(bad_rows, flipped)
    listed = tuple(int(i) for i in bad_rows[:max_listed])
    finite_ulps = ulps[ulps >= 0]
    return ParityReport(
        output=output,
        n_rows=n,
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        max_ulp_diff=int(finite_ulps.max()) if finite_ulps.size and not one_nan.any() else (-1 if one_nan.any() else 0),
        class_flips=flips,
        n_differing=int(bad_rows.size),
        differing_rows=listed,
        tolerance=tolerance,
        passed=bool(bad_rows.size == 0),
        artifact=artifact,
        rows={i: {"reference": ref[i].tolist(), "candidate": cand[i].tolist()} for i in listed},
    )


def _with_margin(pred: ParityReport, margin: ParityReport | None) -> ParityReport:
    if margin is None:
        return pred
    from dataclasses import replace

    return replace(pred, margin=margin, passed=pred.passed and margin.passed)


def prediction_tolerance(post: PostTransform, margin_tol: Tolerance, link_tol: Tolerance | None = None) -> Tolerance:
    """The tolerance for predictions given the post-transform, the margin tolerance and, when
    the artifact's writer documents one, its bound on the link (sigmoid/softmax/exp)."""
    if post in (PostTransform.HINGE, PostTransform.SOFTMAX_LABEL):
        return LABELS
    if post is PostTransform.IDENTITY or margin_tol is EXACT:
        return margin_tol
    return link_tol or PROBABILITY


def _target_for(artifact: Path):
    """The registered target that wrote ``artifact``: a bundle's manifest names it; for a
    file, the target whose runtime reads the content (the longest matching extension wins
    among several)."""
    from modelport.converters.targets import all_targets
    from modelport.core.contract import is_bundle, read_manifest
    from modelport.runtimes import detect_runtime

    targets = all_targets()
    if is_bundle(artifact):
        fmt = read_manifest(artifact, check=False).format
        return targets.get(fmt) if fmt in targets else None
    try:
        runtime = detect_runtime(artifact).name
    except ModelportError:
        return None  # reported by the runtime's load, with the artifact's name
    candidates = [t for _n, t in targets.items() if t.runtime == runtime]
    if not candidates:
        return None
    return max(candidates, key=lambda t: (artifact.name.endswith(t.extension), len(t.extension)))


def link_tolerance(target: Any, backend: str) -> Tolerance | None:
    """The target's declared bound on transformed outputs, which holds only for files it
    wrote itself (backend ``"modelport"``); None otherwise."""
    if target is None or backend != "modelport":
        return None
    return target.link_tolerance


def margin_tolerance(target: Any) -> Tolerance:
    """The margin tolerance a target declares (FLOAT32_ACCUMULATION for an unknown one)."""
    return FLOAT32_ACCUMULATION if target is None else target.margin_tolerance


def _mismatch(artifact: Path, what: str, theirs: object, ours: object) -> VerificationError:
    return VerificationError(f"{artifact.name} is not a conversion of this model: it has {theirs} {what}, "
                             f"the model {ours}")


def _run_artifact(artifact: Path, X: np.ndarray, target: Any, model: Model) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(prediction, margin or None, the backend that wrote it) of the artifact on X, after
    checking its signature."""
    if target is not None and target.runtime is None:
        raise ModelportError(f"no runtime executes {target.name} artifacts: nothing to verify {artifact.name} with")
    if target is not None:
        for tool in target.toolchain:
            tool.require(f"verifying a {target.name} artifact")
    import modelport.runtimes as runtimes

    rt = runtimes.load(artifact)
    sig = getattr(rt, "signature", None)
    if sig is not None and sig.n_features != model.n_features:
        raise _mismatch(artifact, "features", sig.n_features, model.n_features)
    if sig is not None and sig.n_outputs != model.n_outputs:
        raise _mismatch(artifact, "outputs", sig.n_outputs, model.n_outputs)
    pred = rt.predict(X, output="prediction")
    try:
        margin = rt.predict(X, output="margin")
    except (NotImplementedError, KeyError, InputDataError):  # the artifact exposes no margin
        margin = None
    backend = sig.backend if sig is not None else ""
    return np.asarray(pred), (None if margin is None else np.asarray(margin)), backend


def verify_model(model: Model, artifact: str | Path, *, rows: np.ndarray | None = None,
                 options: VerifyOptions | None = None, target: Any = None) -> ParityReport:
    """Compare ``artifact`` with the reference evaluator on ``model``'s probe set (+ ``rows``)."""
    from modelport.core.ir import evaluate
    from modelport.core.ir.probe import probe_set

    opts = options or VerifyOptions()
    artifact = Path(artifact)
    target = target or _target_for(artifact)
    X = probe_set(model, n_random=opts.n_random, seed=opts.seed, extra=rows)
    ref_pred, ref_margin = evaluate.predict(model, X), evaluate.predict_margin(model, X)
    cand_pred, cand_margin, backend = _run_artifact(artifact, X, target, model)
    mtol = margin_tolerance(target)
    ptol = prediction_tolerance(model.post_transform, mtol, link_tolerance(target, backend))
    pred = compare(ref_pred, cand_pred, task=model.task, output="prediction", post_transform=model.post_transform,
                   tolerance=ptol, max_listed=opts.max_listed,
                   artifact=str(artifact))
    margin = None
    if cand_margin is not None:
        margin = compare(ref_margin, cand_margin, task=model.task, output="margin", tolerance=mtol,
                         max_listed=opts.max_listed, artifact=str(artifact))
    report = _with_margin(pred, margin)
    return report.numbered_from(len(X) - len(rows)) if rows is not None and len(rows) else report
