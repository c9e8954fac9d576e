"""scikit-learn linear models and preprocessing pipelines in the parity matrix: estimators and
Pipelines (scalers, OneHotEncoder / OrdinalEncoder in a ColumnTransformer)
saved with ``skops.io.dump``, with float64 rows in the IR's input space (a string column's
value is its category code; an unseen category is the code ``len(categories)``) and
scikit-learn's own ``decision_function`` / ``predict`` as the first hop.

``ir`` and ``onnx`` express these models (float64 linear models, preprocessing steps, nominal
features); every other target refuses them with a one-line error naming the construct.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import pytest

from cases import CASES, KNOWN_BACKEND_FAILURES, KNOWN_REFUSALS, ParityCase

#: The string categories of column "colour" (plus None: missing) and "size".
COLOURS = ("red", "green", "blue", "violet", "teal")
SIZES = ("S", "M", "L")
#: A category no training row holds (what a string column's code len(categories) stands for).
UNSEEN = "never-seen"
#: The refusal every target without these constructs gives (docs/ir.md, "Preprocessing").
REFUSAL = r"cannot express (feature:nominal|linear-float64|preprocessing:[a-z_]+)"


def numeric_data(n: int, seed: int) -> np.ndarray:
    """Four float64 columns of different scales (no NaN: plain linear models refuse it)."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.normal(size=n), rng.normal(size=n) * 50 + 10, rng.uniform(-3, 3, size=n),
                            rng.exponential(size=n) * 1e-3])


def mixed_frame(n: int, seed: int, *, nan: bool = True):
    """A DataFrame: numeric 'x' (NaN 10% when ``nan``), 'y', string 'colour' (rare 'teal',
    None 5%), string 'size', integer-valued numeric category 'grade'."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    if nan:
        x[rng.random(n) < 0.1] = np.nan
    colour = rng.choice(COLOURS, size=n, p=[0.4, 0.3, 0.2, 0.07, 0.03]).astype(object)
    colour[rng.random(n) < 0.05] = None
    return pd.DataFrame({"x": x, "y": rng.normal(size=n) * 20 - 5, "colour": colour,
                         "size": rng.choice(SIZES, size=n).astype(object),
                         "grade": rng.integers(1, 6, size=n).astype(np.float64)})


def _signal(X: np.ndarray, rng) -> np.ndarray:
    return X[:, 0] + 0.04 * X[:, 1] + np.sin(X[:, 2]) + 300 * X[:, 3] + rng.normal(scale=0.3, size=len(X))


def _mixed_signal(df, rng) -> np.ndarray:
    return (np.nan_to_num(df["x"].to_numpy(float)) + 0.05 * df["y"].to_numpy() + (df["colour"] == "red") * 1.5
            - (df["size"] == "L") + 0.3 * df["grade"].to_numpy() + rng.normal(scale=0.3, size=len(df)))


def _pipelines(name: str):
    from sklearn import linear_model as L
    from sklearn import svm
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn import preprocessing as P

    ohe = {"dtype": "float64"}  # a dtype string, not numpy's class: skops trusts plain strings
    table = {
        # name: (estimator, target kind, mixed frame input)
        "lin_logreg_binary": (L.LogisticRegression(), "binary", False),
        "lin_logreg_multiclass": (L.LogisticRegression(max_iter=500), "multiclass", False),
        "lin_linear_regression": (L.LinearRegression(), "regression", False),
        "lin_ridge_multi_target": (L.Ridge(alpha=0.5), "multi_target", False),
        "lin_lasso": (L.Lasso(alpha=0.01), "regression", False),
        "lin_elasticnet": (L.ElasticNet(alpha=0.01, l1_ratio=0.3), "regression", False),
        "lin_sgd_regressor": (make_pipeline(P.StandardScaler(), L.SGDRegressor(random_state=0)), "regression", False),
        "lin_sgd_log_binary": (make_pipeline(P.StandardScaler(), L.SGDClassifier(loss="log_loss", random_state=0)),
                               "binary", False),
        "lin_sgd_hinge_multiclass": (make_pipeline(P.RobustScaler(), L.SGDClassifier(random_state=0)), "multiclass",
                                     False),
        "lin_linear_svc_multiclass": (make_pipeline(P.MaxAbsScaler(), svm.LinearSVC(random_state=0)), "multiclass",
                                      False),
        "lin_linear_svr": (make_pipeline(P.MinMaxScaler(clip=True), svm.LinearSVR(random_state=0, max_iter=5000)),
                           "regression", False),
        # No SimpleImputer in a skops case: it keeps a numpy.dtype, which the skops loader does
        # not trust (tests/test_sklearn_linear.py converts imputing pipelines directly).
        "pipe_column_transformer_logreg": (make_pipeline(ColumnTransformer([
            ("num", make_pipeline(P.StandardScaler(), P.RobustScaler()), ["x"]),
            ("num_y", P.StandardScaler(), ["y"]),
            ("cat", P.OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20, **ohe), ["colour"]),
            ("ord", P.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2,
                                     **ohe), ["size"]),
        ], remainder="passthrough"), L.LogisticRegression(max_iter=1000)), "multiclass", True),
        "pipe_onehot_drop_ridge": (make_pipeline(ColumnTransformer([
            ("cat", P.OneHotEncoder(drop="first", handle_unknown="ignore", **ohe), ["colour", "size", "grade"]),
            ("num", P.MinMaxScaler(), ["y"]),
        ], remainder="drop"), L.Ridge()), "regression", True),
    }
    return table[name]


NAMES = ("lin_logreg_binary", "lin_logreg_multiclass", "lin_linear_regression", "lin_ridge_multi_target", "lin_lasso",
         "lin_elasticnet", "lin_sgd_regressor", "lin_sgd_log_binary", "lin_sgd_hinge_multiclass",
         "lin_linear_svc_multiclass", "lin_linear_svr", "pipe_column_transformer_logreg", "pipe_onehot_drop_ridge")


def _labels(kind: str, s: np.ndarray, rng) -> np.ndarray:
    if kind == "binary":
        return (s > 0.3).astype(int)
    if kind == "multiclass":
        return np.array(["ant", "bee", "cat"])[np.digitize(s, [-0.3, 1.2])]
    if kind == "multi_target":
        return np.column_stack([s, 2 * s + rng.normal(size=len(s))])
    return s


@functools.cache
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="modelport-sklin-cases-"))


@functools.cache
def trained(name: str):
    """(fitted estimator, skops file) of case ``name``, trained once per process."""
    pytest.importorskip("sklearn")
    sio = pytest.importorskip("skops.io")
    est, kind, mixed = _pipelines(name)
    rng = np.random.default_rng(5)
    if mixed:
        df = mixed_frame(600, 1, nan=False)
        est.fit(df, _labels(kind, _mixed_signal(df, rng), rng))
    else:
        X = numeric_data(600, 1)
        est.fit(X, _labels(kind, _signal(X, rng), rng))
    path = _workdir() / f"{name}.skops"
    sio.dump(est, str(path))
    return est, path


def decode(X: np.ndarray):
    """IR input rows of the mixed frame (codes in 'colour' and 'size') as the DataFrame
    scikit-learn reads: code i is the i-th sorted category, NaN None, any other code UNSEEN."""
    pd = pytest.importorskip("pandas")
    cols = {"x": X[:, 0], "y": X[:, 1], "grade": X[:, 4]}
    out = {}
    for j, (name, cats) in enumerate((("colour", sorted(COLOURS)), ("size", sorted(SIZES))), start=2):
        vals = np.empty(len(X), dtype=object)
        for r, v in enumerate(X[:, j]):
            if np.isnan(v):
                vals[r] = None
            elif float(v).is_integer() and 0 <= v < len(cats):
                vals[r] = cats[int(v)]
            else:
                vals[r] = UNSEEN
        out[name] = vals
    return pd.DataFrame({"x": cols["x"], "y": cols["y"], "colour": out["colour"], "size": out["size"],
                         "grade": cols["grade"]})


def rows(name: str) -> np.ndarray:
    """float64 rows scikit-learn accepts: for the mixed frame every category code, an unseen
    code, NaN in the encoded columns, signed zeros, unseen grades; for plain linear models edge
    magnitudes (zeros, huge and tiny values)."""
    _est, _kind, mixed = _pipelines(name)
    if not mixed:
        X = numeric_data(150, 9)
        specials = np.array([[0.0, 0.0, 0.0, 0.0], [-0.0, 1e-300, -1e-300, 5e-324], [1e6, -1e6, 3.0, 1.0],
                             [1e-8, 123456.789, -2.5, 0.0]])
        return np.concatenate([specials, X])
    rng = np.random.default_rng(4)
    base = np.column_stack([rng.normal(size=60), rng.normal(size=60) * 20, rng.integers(0, 5, size=60),
                            rng.integers(0, 3, size=60), rng.integers(1, 6, size=60)]).astype(np.float64)
    extra = []
    for col, values in ((2, [0, 1, 2, 3, 4, 5, np.nan, 17]), (3, [0, 1, 2, 3, np.nan]), (0, [-0.0, 0.0, 1e5]),
                        (1, [-1e4]), (4, [0.0, 6.0, 2.5])):
        for v in values:
            r = base[len(extra) % len(base)].copy()
            r[col] = v
            extra.append(r)
    return np.concatenate([np.array(extra), base])


def framework_margin(name: str, X: np.ndarray) -> np.ndarray:
    """scikit-learn's own raw scores: ``decision_function`` of classifiers, ``predict`` of
    regressors (float64, rounded once to float32)."""
    mixed = _pipelines(name)[2]
    est = trained(name)[0]
    data = decode(X) if mixed else X
    raw = est.decision_function(data) if hasattr(est, "decision_function") else est.predict(data)
    return np.asarray(raw, dtype=np.float64).reshape(len(X), -1).astype(np.float32)


def _register(name: str) -> None:
    key = f"sklearn/{name}"
    CASES.register(key, ParityCase(name=key, framework="scikit-learn", slow=False,
                                   model_file=lambda: trained(name)[1], rows=lambda: rows(name),
                                   framework_margin=lambda X: framework_margin(name, X),
                                   extra={"objective": name}))


for _name in NAMES:
    _register(_name)


def case_constructs(name: str) -> set[str]:
    """The IR constructs (modelport.core.ir.model.CONSTRUCTS) case ``name`` uses."""
    out = {"linear-float64"}
    if name.startswith("pipe_"):
        out |= {"feature:nominal", "preprocessing:select_columns", "preprocessing:lookup", "preprocessing:affine"}
    elif name.startswith(("lin_sgd", "lin_linear_s")):
        out.add("preprocessing:affine")
    return out


def _register_refusals() -> None:
    from modelport.converters.targets import all_targets

    for tname, target in all_targets().items():
        if target.runtime is None:
            continue
        for n in NAMES:
            if not case_constructs(n) <= set(target.supports):
                KNOWN_REFUSALS[(tname, f"sklearn/{n}")] = REFUSAL


_register_refusals()

# skl2onnx through the onnxmltools backend, measured on these cases (strict xfails: a fix turns
# the suite red until the entry goes).
_NO_PROBA = ("the backend's framework check calls predict_proba, which scikit-learn does not offer for "
             "hinge-loss classifiers ({}: AttributeError)")
_BY_NAME = ("skl2onnx maps a ColumnTransformer's named columns to inputs of those names; the backend gives one "
            "'input' tensor (RuntimeError: Unable to find column name)")
KNOWN_BACKEND_FAILURES.update({
    ("onnxmltools", "sklearn/lin_ridge_multi_target"): "the onnxmltools backend refuses multi-output regression",
    ("onnxmltools", "sklearn/lin_sgd_hinge_multiclass"): _NO_PROBA.format("SGDClassifier loss='hinge'"),
    ("onnxmltools", "sklearn/lin_linear_svc_multiclass"): _NO_PROBA.format("LinearSVC"),
    ("onnxmltools", "sklearn/pipe_column_transformer_logreg"): _BY_NAME,
    ("onnxmltools", "sklearn/pipe_onehot_drop_ridge"): _BY_NAME,
})
