"""The benchmark model zoo: small, medium and large XGBoost, LightGBM and scikit-learn models,
trained at run time (seeded) on synthetic data and on scikit-learn's bundled real data sets
(no download).  ``scripts/gen_benchmarks.py`` runs ``modelport bench`` on each entry.

An entry whose framework is not installed is not dropped: :func:`build` raises a one-line
MissingDependencyError naming it, and the benchmark lists the entry with that reason.  Whether
modelport can read the saved file (an IR frontend for LightGBM / scikit-learn) is the bench's
business: formats that cannot express a model are listed there with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelport.core.errors import require

__all__ = ["ZooEntry", "ZOO", "entries", "build"]


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: how to train and save it."""

    name: str
    """Short name, e.g. ``"xgb-medium"``."""
    framework: str
    """``"xgboost"``, ``"lightgbm"`` or ``"scikit-learn"``."""
    size: str
    """``"small"``, ``"medium"`` or ``"large"``."""
    description: str
    """One line for the docs: task, trees, depth, features, data."""
    train: Callable[[Path], Path]
    """``train(directory)``: train, save the model file into ``directory``, return its path."""
    trust_pickle: bool = False
    """True for pickled scikit-learn models (made here, so trusted)."""


def _synthetic(n: int, d: int, *, seed: int, nan: float = 0.0, kind: str = "binary", classes: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    z = X[:, 0] + 0.5 * X[:, 1] * X[:, 2 % d] - X[:, 3 % d] ** 2 + 0.3 * rng.normal(size=n)
    if kind == "binary":
        y = (z > -0.5).astype(float)
    elif kind == "multiclass":
        y = np.digitize(z, np.quantile(z, np.linspace(0, 1, classes + 1)[1:-1])).astype(float)
    else:
        y = z
    if nan:
        X[rng.random(X.shape) < nan] = np.nan
    return X, y, [f"f{i}" for i in range(d)]


def _dataset(name: str):
    datasets = require("sklearn.datasets", extra="sklearn", purpose="the zoo's real data sets")
    data = getattr(datasets, f"load_{name}")()
    return np.asarray(data.data, np.float32), np.asarray(data.target, float), [str(n) for n in data.feature_names]


def _xgb(params: dict, rounds: int, data) -> Callable[[Path], Path]:
    def train(directory: Path) -> Path:
        xgb = require("xgboost", extra="xgboost", purpose="the zoo's XGBoost models")
        X, y, names = data()
        booster = xgb.train({"nthread": 1, "seed": 0, **params}, xgb.DMatrix(X, label=y, feature_names=names), rounds)
        path = directory / "model.json"
        booster.save_model(str(path))
        return path

    return train


def _lgb(params: dict, rounds: int, data) -> Callable[[Path], Path]:
    def train(directory: Path) -> Path:
        lgb = require("lightgbm", extra="lightgbm", purpose="the zoo's LightGBM models")
        X, y, names = data()
        names = [n.replace(" ", "_") for n in names]  # LightGBM refuses spaces in feature names
        booster = lgb.train({"num_threads": 1, "seed": 0, "verbose": -1, "deterministic": True, **params},
                            lgb.Dataset(X, label=y, feature_name=names), rounds)
        path = directory / "model.txt"
        booster.save_model(str(path))
        return path

    return train


def _skl(make: Callable[[], object], data) -> Callable[[Path], Path]:
    def train(directory: Path) -> Path:
        import pickle

        require("sklearn", extra="sklearn", purpose="the zoo's scikit-learn models")
        X, y, _names = data()
        est = make()
        est.fit(np.asarray(X, np.float64), y)
        path = directory / "model.pkl"
        with open(path, "wb") as fh:
            pickle.dump(est, fh)
        return path

    return train


def _gbr():
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(n_estimators=100, max_depth=4, random_state=0)


def _rf():
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0, n_jobs=1)


ZOO: tuple[ZooEntry, ...] = (
    ZooEntry("xgb-small", "xgboost", "small", "binary:logistic, 10 trees, depth 3, 8 features, synthetic",
             _xgb({"objective": "binary:logistic", "max_depth": 3}, 10, lambda: _synthetic(2000, 8, seed=1))),
    ZooEntry("xgb-medium", "xgboost", "medium",
             "reg:squarederror, 200 trees, depth 6, 50 features, 5% missing, synthetic",
             _xgb({"objective": "reg:squarederror", "max_depth": 6}, 200,
                  lambda: _synthetic(10_000, 50, seed=2, nan=0.05, kind="regression"))),
    ZooEntry("xgb-large", "xgboost", "large",
             "multi:softprob, 5 classes x 200 rounds = 1000 trees, depth 8, 100 features, synthetic",
             _xgb({"objective": "multi:softprob", "num_class": 5, "max_depth": 8}, 200,
                  lambda: _synthetic(20_000, 100, seed=3, kind="multiclass", classes=5))),
    ZooEntry("xgb-breast-cancer", "xgboost", "small", "binary:logistic, 100 trees, depth 4, 30 features, "
             "scikit-learn's breast cancer data",
             _xgb({"objective": "binary:logistic", "max_depth": 4}, 100, lambda: _dataset("breast_cancer"))),
    ZooEntry("xgb-diabetes", "xgboost", "small", "reg:squarederror, 100 trees, depth 4, 10 features, "
             "scikit-learn's diabetes data",
             _xgb({"objective": "reg:squarederror", "max_depth": 4}, 100, lambda: _dataset("diabetes"))),
    ZooEntry("xgb-wine", "xgboost", "small", "multi:softprob, 3 classes x 50 rounds, depth 3, 13 features, "
             "scikit-learn's wine data",
             _xgb({"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, 50, lambda: _dataset("wine"))),
    ZooEntry("lgb-small", "lightgbm", "small", "binary, 20 trees, 15 leaves, 8 features, synthetic",
             _lgb({"objective": "binary", "num_leaves": 15}, 20, lambda: _synthetic(2000, 8, seed=4))),
    ZooEntry("lgb-medium", "lightgbm", "medium", "regression, 200 trees, 63 leaves, 50 features, 5% missing, synthetic",
             _lgb({"objective": "regression", "num_leaves": 63}, 200,
                  lambda: _synthetic(10_000, 50, seed=5, nan=0.05, kind="regression"))),
    ZooEntry("lgb-breast-cancer", "lightgbm", "small", "binary, 100 trees, 15 leaves, 30 features, "
             "scikit-learn's breast cancer data",
             _lgb({"objective": "binary", "num_leaves": 15}, 100, lambda: _dataset("breast_cancer"))),
    ZooEntry("skl-gbr-diabetes", "scikit-learn", "small", "GradientBoostingRegressor, 100 trees, depth 4, "
             "10 features, scikit-learn's diabetes data", _skl(_gbr, lambda: _dataset("diabetes")), trust_pickle=True),
    ZooEntry("skl-rf-breast-cancer", "scikit-learn", "medium", "RandomForestClassifier, 50 trees, depth 8, "
             "30 features, scikit-learn's breast cancer data", _skl(_rf, lambda: _dataset("breast_cancer")),
             trust_pickle=True),
)


def entries(*, sizes: tuple[str, ...] = ("small", "medium", "large"), frameworks: tuple[str, ...] | None = None,
            names: tuple[str, ...] | None = None) -> list[ZooEntry]:
    """The zoo entries of the given sizes / frameworks / names, in zoo order."""
    return [e for e in ZOO if e.size in sizes and (frameworks is None or e.framework in frameworks)
            and (names is None or e.name in names)]


def build(entry: ZooEntry, directory: str | Path) -> Path:
    """Train ``entry`` and save it under ``directory`` (created); the model file's path.
    A MissingDependencyError (one line, naming the package) when its framework is absent."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return entry.train(directory)
