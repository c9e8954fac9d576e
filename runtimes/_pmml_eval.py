"""Evaluation of a compiled PMML :class:`~._pmml_models.Document` over column arrays.

Every field is a float64 column (NaN = missing; float fields hold float32 values).
Arithmetic follows ``x-mathContext``: ``"float"`` rounds every operation to float32 (segment
sums left to right, ``1f / (1f + expf(-y))`` for logit, the reference evaluator's softmax),
where ``expf`` is float64 ``exp`` rounded once, as :mod:`modelport.core.ir.evaluate` does.
"""

from __future__ import annotations

import numpy as np

from modelport.core.errors import ModelFormatError
from modelport.runtimes._pmml_models import Document, Model
from modelport.runtimes._pmml_trees import unsupported
from modelport.runtimes._tree_kernel_lower import AGGREGATES, pmml_aggregate

__all__ = ["evaluate_document", "evaluate_model", "add_derived"]


def _expf(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(x.astype(np.float64)).astype(np.float32)



def _apply(fn: str, args: list[np.ndarray]) -> np.ndarray:
    with np.errstate(all="ignore"):
        if fn == "if":
            cond = args[0]
            then = args[1]
            other = args[2] if len(args) > 2 else np.full_like(then, np.nan)
            return np.where(np.isnan(cond), np.nan, np.where(cond != 0, then, other))
        return _FUNCTIONS[fn](*args)


_FUNCTIONS = {
    "floor": np.floor, "ceil": np.ceil, "abs": np.abs, "exp": lambda x: np.exp(x),
    "min": lambda *a: np.minimum.reduce(a), "max": lambda *a: np.maximum.reduce(a),
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
    "threshold": lambda x, y: np.where(np.isnan(x) | np.isnan(y), np.nan, (x > y).astype(np.float64)),
    "equal": lambda x, y: np.where(np.isnan(x) | np.isnan(y), np.nan, (x == y).astype(np.float64)),
    "isMissing": lambda x: np.isnan(x).astype(np.float64), "isNotMissing": lambda x: (~np.isnan(x)).astype(np.float64),
    "if": None,
}


def _eval_expr(e, env: dict[str, np.ndarray], n: int) -> np.ndarray:
    if e[0] == "const":
        return np.full(n, e[1])
    if e[0] in ("ref", "map"):
        if e[1] not in env:
            raise ModelFormatError(f"field {e[1]!r} is referenced but never defined")
        return env[e[1]] if e[0] == "ref" else _map_values(env[e[1]], *e[2:])
    args = [_eval_expr(a, env, n) for a in e[2]]
    if e[0] == "apply" and e[1] not in ("isMissing", "isNotMissing", "if") and e[3] is not None:
        miss = np.zeros(n, bool)
        for a in args:
            miss |= np.isnan(a)
        return np.where(miss, e[3], _apply(e[1], args))
    return _apply(e[1], args)


def _map_values(x: np.ndarray, keys: np.ndarray, vals: np.ndarray, default, missing) -> np.ndarray:
    """MapValues: the first row whose key equals ``x`` (so rows are applied last to first),
    else ``default``; a missing ``x`` gives ``missing`` (NaN when absent)."""
    out = np.full(x.shape, np.nan if default is None else default)
    for k, v in zip(keys[::-1], vals[::-1], strict=True):
        out[x == k] = v
    out[np.isnan(x)] = np.nan if missing is None else missing
    return out


def _cast(values: np.ndarray, dtype: str) -> np.ndarray:
    return values.astype(np.float32).astype(np.float64) if dtype == "float" else values.astype(np.float64)


def add_derived(derived: list, env: dict[str, np.ndarray], n: int) -> None:
    """Evaluate DerivedFields in order into ``env``."""
    for name, dtype, e in derived:
        env[name] = _cast(_eval_expr(e, env, n), dtype)


def _sum(cols: list[np.ndarray], weights: list[float], math: str, method: str) -> np.ndarray:
    """Aggregate segment results (blocks of columns [n, k], in segment order).  ``np.cumsum`` accumulates strictly left
    to right in the requested dtype (one rounding per addition, unlike the pairwise
    ``np.sum``), so a float32 context is the sequential float32 sum."""
    dt = np.float32 if math == "float" else np.float64
    M = (cols[0] if len(cols) == 1 else np.concatenate(cols, axis=1)).astype(dt)
    with np.errstate(all="ignore"):
        if method.startswith("weighted"):
            M = (M * np.asarray(weights, dt)[None, :]).astype(dt)
        acc = np.cumsum(M, axis=1, dtype=dt)[:, -1]
        if method == "average":
            acc = (acc / dt(M.shape[1])).astype(dt)
        elif method == "weightedAverage":
            acc = (acc / dt(sum(weights))).astype(dt)
    return acc.astype(np.float64)


def evaluate_model(m: Model, env: dict[str, np.ndarray], n: int) -> dict:
    """Evaluate a compiled model over ``env`` columns; returns {"value"} or {"probs", "cats"}."""
    if m.derived:
        add_derived(m.derived, env, n)
    local_env = env
    if m.replacements:
        local_env = dict(env)
        for name, v in m.replacements.items():
            if name in env:
                local_env[name] = np.where(np.isnan(env[name]), v, env[name])
    if m.kind == "RegressionModel":
        res = _regression(m, local_env, n)
    elif m.method == "modelChain":
        res = {}
        for _, sub, _w in m.parts:
            res = evaluate_model(sub, env, n)
    else:
        cols: list[np.ndarray] = []
        for part in m.parts:
            if part[0] == "trees":
                batch = part[1]
                undefined = [f for f in batch.preds.fields if f not in local_env]
                if undefined:
                    raise ModelFormatError(f"{m.where}: predicate field {undefined[0]!r} is never defined")
                X = np.column_stack([local_env[f] for f in batch.preds.fields]) if batch.preds.fields else np.zeros((n, 1))
                kernel = getattr(batch, "kernel", None)  # the compiled walk, attached by PmmlRuntime (_tree_kernel_lower)
                if kernel is not None and len(m.parts) == 1 and m.method in AGGREGATES:
                    cols = []
                    res = {"value": pmml_aggregate(kernel, X, math=m.math, method=m.method, weights=m.weights)}
                    break
                cols.append(kernel.scores(X) if kernel is not None else batch.evaluate(X))
            else:
                sub = evaluate_model(part[1], env, n)
                if "value" not in sub:
                    raise unsupported("classification segment", m.where, f"inside a {m.method} Segmentation")
                cols.append(sub["value"][:, None])
        else:
            res = {"value": _sum(cols, m.weights, m.math, m.method)}
    if m.rescale is not None and "value" in res:
        res["value"] = _rescale(res["value"], m.rescale, m.math)
    _outputs(m, res, env, n)
    return res


def _rescale(value: np.ndarray, rescale: tuple[float, float], math: str) -> np.ndarray:
    """PMML Target rescaling, ``value * rescaleFactor + rescaleConstant``, each operation
    rounded in the model's x-mathContext (jpmml-evaluator's ``Value.denormalize``: multiply by
    the factor, then add the constant)."""
    dt = np.float32 if math == "float" else np.float64
    factor, constant = dt(rescale[0]), dt(rescale[1])
    with np.errstate(all="ignore"):
        v = value.astype(dt)
        if factor != 1:
            v = (v * factor).astype(dt)
        return (v + constant).astype(dt).astype(np.float64)


def _regression(m: Model, env: dict[str, np.ndarray], n: int) -> dict:
    f = m.math == "float"
    dt = np.float32 if f else np.float64
    ys = []
    with np.errstate(all="ignore"):
        for _cat, intercept, preds in m.tables:
            y = np.full(n, intercept, dt)
            for name, coef in preds:
                if name not in env:
                    raise ModelFormatError(f"{m.where}: field {name!r} is referenced but never defined")
                y = (y + (env[name].astype(dt) * dt(coef)).astype(dt)).astype(dt)
            ys.append(y)
        one = dt(1)
        norm = m.normalization
        if m.function == "regression":
            y = ys[0]
            if norm == "exp":
                y = _expf(y) if f else np.exp(y)
            elif norm == "logit":
                y = (one / (one + (_expf(-y) if f else np.exp(-y)))).astype(dt)
            return {"value": y.astype(np.float64)}
        Y = np.stack(ys, axis=1)
        if norm == "softmax":
            z = Y - Y.max(axis=1, keepdims=True)
            e = _expf(z) if f else np.exp(z)
            s = np.zeros(n, np.float64)
            for k in range(e.shape[1]):  # sequential double sum (XGBoost's Softmax, src/common/math.h)
                s += e[:, k]
            P = (e / s.astype(dt)[:, None]).astype(dt)
        elif norm == "logit":
            P = (one / (one + (_expf(-Y) if f else np.exp(-Y)))).astype(dt)
            if Y.shape[1] == 2:
                P[:, 1] = one - P[:, 0]
        elif norm == "simplemax":
            P = (Y / Y.sum(axis=1, keepdims=True)).astype(dt)
        else:
            # normalizationMethod="none": each table's value is its class probability, except
            # the last, which is 1 minus the others' sum, added in table order in the model's
            # precision (PMML 4.4 RegressionModel; jpmml-evaluator's
            # RegressionModelUtil.computeMultinomialProbabilities does the same).
            P = Y.copy()
            rest = P[:, 0].copy()
            for k in range(1, P.shape[1] - 1):
                rest = (rest + P[:, k]).astype(dt)
            P[:, -1] = (one - rest).astype(dt)
    return {"probs": P.astype(np.float64), "cats": m.categories}


def _outputs(m: Model, res: dict, env: dict[str, np.ndarray], n: int) -> None:
    for name, dtype, kind, arg in m.outputs:
        if kind == "expr":
            v = _eval_expr(arg, env, n)
        elif kind == "predicted":
            if "value" in res:
                v = res["value"]
            else:
                idx = np.argmax(np.nan_to_num(res["probs"], nan=-np.inf), axis=1)
                try:
                    v = np.array([float(c) for c in res["cats"]])[idx]
                except ValueError:  # non-numeric class names: the class index
                    v = idx.astype(np.float64)
        else:
            if "probs" not in res or arg not in res["cats"]:
                raise ModelFormatError(f"{m.where}: OutputField {name!r} asks the probability of {arg!r}, which is not a class")
            v = res["probs"][:, res["cats"].index(arg)]
        env[name] = _cast(np.asarray(v, np.float64), dtype)


def evaluate_document(doc: Document, X: np.ndarray) -> tuple[dict, dict[str, np.ndarray]]:
    """Evaluate ``doc`` on ``X`` (float64 [n, len(doc.active)], NaN = missing): the top
    model's result and the field environment (every output field by name)."""
    n = X.shape[0]
    env: dict[str, np.ndarray] = {}
    X32 = X.astype(np.float32).astype(np.float64) if any(doc.fields[f] == "float" for f in doc.active) else X
    for j, name in enumerate(doc.active):
        col = X32[:, j] if doc.fields[name] == "float" else X[:, j]
        for mv in doc.missing_values.get(name, ()):
            col = np.where(col == mv, np.nan, col)
        env[name] = col
    add_derived(doc.derived, env, n)
    res = evaluate_model(doc.model, env, n)
    return res, env


