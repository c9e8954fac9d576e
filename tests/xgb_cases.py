"""The XGBoost case zoo: ONE list (:data:`CASES`) drives every XGBoost parity test.

Each :class:`XGBCase` is small and seeded, trained at test time with the installed xgboost
and cached per session (:func:`trained_case`), so the evaluator parity tests, the frontend
tests and the ONNX parity tests all reuse the same booster and files.

``trained_case(name)`` returns a :class:`TrainedCase` with ``.booster``, ``.json_path``,
``.ubj_path``, ``.X_probe`` (float64 probe rows, see :func:`probe_rows`), ``.case`` and
``.dmatrix(X)`` (a DMatrix with the case's feature types, ``missing=nan``).
"""

from __future__ import annotations

import functools
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

__all__ = ["XGBCase", "CASES", "CASE_NAMES", "TrainedCase", "trained_case", "case_params", "probe_rows"]

N_ROWS = 400
N_FEATURES = 6


@dataclass(frozen=True)
class XGBCase:
    """One model to train: xgboost params, rounds, which data, and whether it is slow."""

    name: str
    params: dict = field(hash=False)
    rounds: int = 8
    data: str = "regression"
    """regression | positive | count | binary | multiclass | multitarget | ranking | aft | cox |
    categorical | nan_heavy"""
    slow: bool = False
    early_stopping: int | None = None
    """Rounds of patience: trains with an eval set so the model records best_iteration."""

    @property
    def classifier(self) -> bool:
        """True when the output is a class decision whose flips we count."""
        obj = self.params.get("objective", "")
        return obj.startswith(("binary:", "multi:"))


def _c(name, rounds=8, data="regression", slow=False, early_stopping=None, **params) -> XGBCase:
    params.setdefault("max_depth", 4)
    params.setdefault("seed", 7)
    params.setdefault("nthread", 2)
    return XGBCase(name, params, rounds, data, slow, early_stopping)


#: Every XGBoost model the suite trains: one per objective and per booster, plus the traps.
CASES: tuple[XGBCase, ...] = (
    _c("reg_squarederror", objective="reg:squarederror"),
    _c("reg_squaredlogerror", data="positive", objective="reg:squaredlogerror"),
    _c("reg_pseudohubererror", objective="reg:pseudohubererror"),
    _c("reg_absoluteerror", objective="reg:absoluteerror"),
    _c("reg_quantile", objective="reg:quantileerror", quantile_alpha=0.3),
    _c("reg_multi_quantile", objective="reg:quantileerror", quantile_alpha=[0.1, 0.5, 0.9]),
    _c("reg_logistic", data="binary", objective="reg:logistic"),
    _c("reg_gamma", data="positive", objective="reg:gamma"),
    _c("reg_tweedie", data="positive", objective="reg:tweedie", tweedie_variance_power=1.4),
    _c("count_poisson", data="count", objective="count:poisson"),
    _c("binary_logistic", data="binary", objective="binary:logistic"),
    _c("binary_logitraw", data="binary", objective="binary:logitraw"),
    _c("binary_hinge", data="binary", objective="binary:hinge"),
    _c("multi_softprob_parallel", data="multiclass", objective="multi:softprob", num_class=3,
       num_parallel_tree=2, subsample=0.8, colsample_bynode=0.8),
    _c("multi_softmax", data="multiclass", objective="multi:softmax", num_class=3),
    _c("survival_aft", data="aft", objective="survival:aft", aft_loss_distribution="normal",
       aft_loss_distribution_scale=1.2),
    _c("survival_cox", data="cox", objective="survival:cox"),
    _c("rank_pairwise", data="ranking", objective="rank:pairwise"),
    _c("rank_ndcg", data="ranking", objective="rank:ndcg"),
    _c("rank_map", data="ranking_binary", objective="rank:map"),
    _c("dart_binary", data="binary", objective="binary:logistic", booster="dart", rate_drop=0.3,
       skip_drop=0.0, normalize_type="forest"),
    _c("dart_multiclass", data="multiclass", objective="multi:softprob", num_class=3,
       booster="dart", rate_drop=0.4, skip_drop=0.0),
    _c("gblinear_regression", objective="reg:squarederror", booster="gblinear", max_depth=0),
    _c("gblinear_multiclass", data="multiclass", objective="multi:softprob", num_class=3,
       booster="gblinear", max_depth=0),
    _c("categorical", data="categorical", objective="binary:logistic", max_cat_to_onehot=1,
       tree_method="hist"),
    _c("categorical_onehot", data="categorical", objective="reg:squarederror", max_cat_to_onehot=8,
       tree_method="hist"),
    _c("nan_heavy", data="nan_heavy", objective="binary:logistic"),
    _c("early_stopped", rounds=60, data="binary", early_stopping=3, objective="binary:logistic",
       eta=0.6, max_depth=6),
    _c("multi_target_per_tree", data="multitarget", objective="reg:squarederror",
       multi_strategy="one_output_per_tree", tree_method="hist"),
    _c("multi_target_vector_leaf", data="multitarget", objective="reg:squarederror",
       multi_strategy="multi_output_tree", tree_method="hist"),
    _c("multi_class_vector_leaf", data="multiclass", objective="multi:softprob", num_class=3,
       multi_strategy="multi_output_tree", tree_method="hist"),
    _c("random_forest", rounds=1, data="binary", objective="binary:logistic", num_parallel_tree=6,
       subsample=0.7, colsample_bynode=0.7, eta=1.0, max_depth=8),
    _c("big_binary", rounds=150, data="binary", slow=True, objective="binary:logistic", max_depth=8),
    _c("big_multiclass_deep", rounds=40, data="multiclass", slow=True, objective="multi:softprob",
       num_class=3, max_depth=0, max_leaves=255, grow_policy="lossguide", tree_method="hist"),
)

CASE_NAMES = tuple(c.name for c in CASES)
_BY_NAME = {c.name: c for c in CASES}
assert len(_BY_NAME) == len(CASES), "case names must be unique"


def case_params(filter_fn=None) -> list:
    """``pytest.param(name)`` per case, marked ``slow`` where the case says so."""
    return [
        pytest.param(c.name, id=c.name, marks=[pytest.mark.slow] if c.slow else [])
        for c in CASES if filter_fn is None or filter_fn(c)
    ]


def _data(kind: str, seed: int, n: int = N_ROWS):
    """Features (float64, some discrete so thresholds repeat) and the label fields."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    X[:, 1] = rng.integers(0, 5, n)  # discrete: ties on thresholds
    X[:, 2] = np.round(X[:, 2], 1)
    X[rng.random((n, N_FEATURES)) < (0.5 if kind == "nan_heavy" else 0.05)] = np.nan
    z = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 3]) - 0.3 * np.nan_to_num(X[:, 1])
    info: dict = {}
    ft = None
    if kind == "categorical":
        X[:, 4] = rng.integers(0, 7, n)
        X[:, 5] = rng.integers(0, 3, n)
        X[rng.random(n) < 0.05, 4] = np.nan
        z = z + np.isin(X[:, 4], [1, 4, 5]) * 1.5 - (X[:, 5] == 2)
        ft = ["q"] * (N_FEATURES - 2) + ["c", "c"]
    noise = rng.normal(scale=0.3, size=n)
    if kind in ("regression",):
        info["label"] = 3 * z + noise
    elif kind == "positive":
        info["label"] = np.exp(0.5 * z + noise)
    elif kind == "count":
        info["label"] = rng.poisson(np.exp(0.5 * z))
    elif kind in ("binary", "nan_heavy", "categorical"):
        info["label"] = (z + noise > 0).astype(float)
    elif kind == "multiclass":
        info["label"] = np.digitize(z + noise, [-0.5, 0.5]).astype(float)
    elif kind == "multitarget":
        info["label"] = np.stack([z + noise, np.nan_to_num(X[:, 5]) * 2 - z, np.sin(z)], axis=1)
    elif kind in ("ranking", "ranking_binary"):
        y = np.digitize(z + noise, [-1, 0, 1]).astype(float)
        info["label"] = (y >= 2).astype(float) if kind == "ranking_binary" else y
        info["qid"] = np.repeat(np.arange(n // 20), 20)
    elif kind == "aft":
        t = np.exp(0.5 * z + noise)
        censored = rng.random(n) < 0.3
        info["label_lower_bound"] = t
        info["label_upper_bound"] = np.where(censored, np.inf, t)
    elif kind == "cox":
        t = np.exp(0.5 * z + noise)
        info["label"] = np.where(rng.random(n) < 0.3, -t, t)  # negative: censored
    else:
        raise ValueError(kind)
    return X, info, ft


@dataclass
class TrainedCase:
    """A trained case and its files (shared, read-only)."""

    case: XGBCase
    booster: object
    json_path: Path
    ubj_path: Path
    X_probe: np.ndarray
    feature_types: list | None = None

    def dmatrix(self, X, missing: float = float("nan")):
        """DMatrix for prediction with the case's feature types."""
        import xgboost as xgb

        return xgb.DMatrix(X, missing=missing, feature_types=self.feature_types,
                           enable_categorical=self.feature_types is not None)


@functools.cache
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="modelport-xgb-cases-"))


@functools.cache
def trained_case(name: str) -> TrainedCase:
    """Train (once per process) and save the named case; see :class:`TrainedCase`."""
    xgb = pytest.importorskip("xgboost")
    case = _BY_NAME[name]
    seed = sum(map(ord, name))  # stable across runs (str hash is salted)
    X, info, ft = _data(case.data, seed)
    kw = dict(missing=np.nan, feature_types=ft, enable_categorical=ft is not None)
    dtrain = xgb.DMatrix(X, **kw, **info)
    evals, es = (), None
    if case.early_stopping:
        Xv, infov, _ = _data(case.data, seed + 1, 200)
        evals, es = [(xgb.DMatrix(Xv, **kw, **infov), "valid")], case.early_stopping
    booster = xgb.train(dict(case.params), dtrain, case.rounds, evals=evals,
                        early_stopping_rounds=es, verbose_eval=False)
    d = _workdir() / name
    d.mkdir(exist_ok=True)
    json_path, ubj_path = d / "model.json", d / "model.ubj"
    booster.save_model(str(json_path))
    booster.save_model(str(ubj_path))
    X_probe = probe_rows(json.loads(json_path.read_text()), X, ft, seed)
    return TrainedCase(case, booster, json_path, ubj_path, X_probe, ft)


def probe_rows(doc: dict, X_train: np.ndarray, feature_types, seed: int) -> np.ndarray:
    """float64 rows that probe every split of the model (trap 2 of docs/parity-traps.md, 3, 9).

    For each (feature, threshold) used by a tree: the threshold exactly, one float32 ULP
    below and above, and float64 values within half a float32 ULP that round onto it; NaN in
    every feature; for categorical features every code plus -1, -0.5, 0.5, 1.7, a code past
    the largest, 2**24 and 1e10; then random training-like rows.  Other columns come from
    random training rows so every path gets exercised.
    """
    rng = np.random.default_rng(seed)
    n_feat = X_train.shape[1]
    thresholds: dict[int, set] = {}
    gb = doc["learner"]["gradient_booster"]
    model = gb.get("model") or gb.get("gbtree", {}).get("model", {})
    for t in model.get("trees", []):
        for lc, f, c, st in zip(t["left_children"], t["split_indices"], t["split_conditions"], t["split_type"], strict=True):
            if lc != -1 and st == 0:
                thresholds.setdefault(int(f), set()).add(float(np.float32(c)))
    values: list[tuple[int, float]] = []
    for f, ts in sorted(thresholds.items()):
        for thr in sorted(ts):
            t32 = np.float32(thr)
            up, down = np.nextafter(t32, np.float32(np.inf)), np.nextafter(t32, np.float32(-np.inf))
            values += [(f, float(t32)), (f, float(up)), (f, float(down))]
            # float64 values that round onto the float32 threshold (just inside half-ULPs).
            values += [(f, float(t32) + (float(up) - float(t32)) * 0.49),
                       (f, float(t32) - (float(t32) - float(down)) * 0.49)]
    for f in range(n_feat):
        values += [(f, np.nan)] * 4
        if feature_types and feature_types[f] == "c":
            top = int(np.nanmax(X_train[:, f]))
            values += [(f, float(v)) for v in range(top + 2)]
            values += [(f, v) for v in (-1.0, -0.5, 0.5, 1.7, float(1 << 24), 1e10)]
    base = X_train[rng.integers(0, len(X_train), len(values))].copy()
    for i, (f, v) in enumerate(values):
        base[i, f] = v
    rand = X_train[rng.integers(0, len(X_train), 200)].copy()
    num = [f for f in range(n_feat) if not (feature_types and feature_types[f] == "c")]
    rand[:, num] += rng.normal(scale=0.5, size=(200, len(num)))
    return np.concatenate([base, rand]).astype(np.float64)
