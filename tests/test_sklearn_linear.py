"""scikit-learn linear models and preprocessing held in the IR: the reference evaluator against
scikit-learn itself on the probe rows.

Preprocessing steps are held bit for bit (same float64 operations in the same order); float64
linear margins within SKLEARN_LINEAR_MARGIN (BLAS sums in another order) and probabilities
within SKLEARN_FLOAT64_LINK (scikit-learn's float64 link on the unrounded margin).  Targets
that do not express the new constructs refuse them with one line, writing nothing.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

from cases.sklearn_linear import NAMES, UNSEEN, decode, mixed_frame, numeric_data, rows, trained  # noqa: E402
from modelport.converters.frontends._sk_linear import linear_to_ir  # noqa: E402
from modelport.converters.frontends._sk_pipeline import pipeline_to_ir  # noqa: E402
from modelport.core.errors import ModelFormatError, UnsupportedModelError  # noqa: E402
from modelport.core.ir import evaluate, serialize  # noqa: E402
from modelport.core.ir.model import FeatureType, SelectColumns, constructs  # noqa: E402
from modelport.core.ir.probe import probe_set  # noqa: E402
from modelport.core.ir.validate import validate  # noqa: E402
from modelport.core.numerics import ulp_distance  # noqa: E402

LINEAR = [n for n in NAMES if n.startswith("lin_")]


def _to_ir(est, n_features: int, names=None):
    feats = list(names) if names is not None else [f"f{i}" for i in range(n_features)]
    if hasattr(est, "steps"):
        return pipeline_to_ir(est, feats, final_to_ir=linear_to_ir, provenance=None)
    return linear_to_ir(est, feats, provenance=None)


def _assert_within(got: np.ndarray, want: np.ndarray, tol) -> int:
    """Every value within ``tol`` (ULPs OR atol + rtol*|want|; NaN only against NaN); returns the max ULP."""
    got = np.asarray(got, np.float32).reshape(want.shape)
    want = np.asarray(want, np.float32)
    nan = np.isnan(got) | np.isnan(want)
    assert np.array_equal(np.isnan(got), np.isnan(want)), "NaN where the other is a number"
    ulps = ulp_distance(got[~nan], want[~nan])
    close = np.abs(got[~nan].astype(np.float64) - want[~nan]) <= tol.atol + tol.rtol * np.abs(want[~nan].astype(np.float64))
    bad = ~((ulps <= tol.max_ulp) & (ulps >= 0) | close)
    assert not bad.any(), f"{int(bad.sum())} values beyond {tol.name}: max {int(ulps.max())} ULP"
    return int(ulps.max()) if ulps.size else 0


@pytest.mark.parametrize("name", LINEAR)
def test_linear_model_matches_sklearn_on_probe_rows(name):
    est, _ = trained(name)
    model = _to_ir(est, 4)
    assert "linear-float64" in constructs(model)
    X = probe_set(model, extra=rows(name))
    assert X.dtype == np.float64
    nan_rows = np.isnan(X).any(axis=1)
    assert nan_rows.any(), "the probe rows put NaN in every column"
    margin = evaluate.predict_margin(model, X)
    assert np.isnan(margin[nan_rows]).all(), "a float64 linear model propagates NaN (scikit-learn refuses it)"
    X = X[~nan_rows]
    margin = margin[~nan_rows]
    raw = est.decision_function(X) if hasattr(est, "decision_function") else est.predict(X)
    _assert_within(margin, np.asarray(raw, np.float64).reshape(len(X), -1), evaluate.SKLEARN_LINEAR_MARGIN)
    if model.n_classes:
        outs = evaluate.outputs(model, X)
        want = np.searchsorted(est.classes_, est.predict(X))
        assert np.array_equal(outs["label"], want)
        if hasattr(est, "predict_proba"):
            _assert_within(outs["probabilities"], est.predict_proba(X), evaluate.SKLEARN_FLOAT64_LINK)


def _scaler_pipelines():
    from sklearn import preprocessing as P
    from sklearn.impute import SimpleImputer

    return {
        "standard": P.StandardScaler(), "standard_no_mean": P.StandardScaler(with_mean=False),
        "standard_no_std": P.StandardScaler(with_std=False), "minmax": P.MinMaxScaler(),
        "minmax_clip": P.MinMaxScaler(feature_range=(-1, 2), clip=True), "maxabs": P.MaxAbsScaler(),
        "robust": P.RobustScaler(quantile_range=(10, 90)), "robust_no_centre": P.RobustScaler(with_centering=False),
        "impute_mean": SimpleImputer(), "impute_median": SimpleImputer(strategy="median"),
        "impute_most_frequent": SimpleImputer(strategy="most_frequent"),
        "impute_constant": SimpleImputer(strategy="constant", fill_value=-7.25),
        "impute_sentinel": SimpleImputer(missing_values=-1.0, strategy="median"),
    }


@pytest.mark.parametrize("kind", list(_scaler_pipelines()))
def test_numeric_transformers_are_bit_exact(kind):
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(3)
    X = numeric_data(300, 2)
    X[:, 3] = np.round(X[:, 3] * 1e3)  # repeated values for most_frequent
    if kind == "impute_sentinel":
        X[rng.random(300) < 0.1, 1] = -1.0
    elif kind.startswith("impute"):
        X[rng.random(300) < 0.1, 0] = np.nan
    y = X[:, 0] + rng.normal(size=300) if kind != "impute_mean" else rng.normal(size=300)
    pipe = make_pipeline(_scaler_pipelines()[kind], LinearRegression()).fit(X, np.nan_to_num(y))
    model = _to_ir(pipe, 4)
    P = probe_set(model, extra=np.concatenate([X[:50], [[-1.0, -1.0, 1e300, -0.0]]]))
    if kind == "impute_sentinel":  # scikit-learn refuses NaN when another value means missing
        got = evaluate.preprocess(model, P)
        assert np.array_equal(np.isnan(got), np.isnan(P))
        P = P[~np.isnan(P).any(axis=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = pipe[:-1].transform(P)
    got = evaluate.preprocess(model, P)
    assert np.array_equal(got.view(np.int64)[~np.isnan(got)], want.view(np.int64)[~np.isnan(want)]), "not bit for bit"
    assert np.array_equal(np.isnan(got), np.isnan(want))


def _encoders():
    from sklearn import preprocessing as P

    o = {"dtype": "float64"}
    return {
        "onehot_ignore": P.OneHotEncoder(handle_unknown="ignore", **o),
        "onehot_error": P.OneHotEncoder(**o),
        "onehot_drop_first": P.OneHotEncoder(drop="first", handle_unknown="ignore", **o),
        "onehot_if_binary": P.OneHotEncoder(drop="if_binary", handle_unknown="ignore", **o),
        "onehot_infrequent": P.OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=25, **o),
        "onehot_max_categories": P.OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=3, **o),
        "onehot_infrequent_drop": P.OneHotEncoder(handle_unknown="ignore", min_frequency=25, drop="first", **o),
        "ordinal_unknown": P.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, **o),
        "ordinal_missing": P.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                            encoded_missing_value=-5, **o),
        "ordinal_error": P.OrdinalEncoder(**o),
        "ordinal_infrequent": P.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=99,
                                               min_frequency=25, **o),
    }


def _row_by_row(transform, frame) -> np.ndarray:
    """scikit-learn's transform (one row at a time when it refuses some: such a row is NaN,
    the IR's reading)."""
    try:
        return np.asarray(transform(frame), np.float64)
    except ValueError:
        pass
    out = []
    for i in range(len(frame)):
        try:
            out.append(np.asarray(transform(frame.iloc[i:i + 1]), np.float64)[0])
        except ValueError:
            out.append(None)
    width = max(len(r) for r in out if r is not None)
    return np.array([r if r is not None else np.full(width, np.nan) for r in out])


@pytest.mark.parametrize("kind", list(_encoders()))
def test_encoders_are_exact_on_every_category_unknown_and_missing(kind):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    df = mixed_frame(400, 2)
    ct = ColumnTransformer([("num", "passthrough", ["y"]), ("enc", _encoders()[kind], ["colour", "size", "grade"])],
                           remainder="drop", sparse_threshold=0).fit(df)
    # Ridge on the NaN-free encoding: the encoders (which may output NaN) are what is tested.
    ridge = Ridge().fit(np.nan_to_num(ct.transform(df)), df["y"])
    pipe = Pipeline([("ct", ct), ("ridge", ridge)])
    model = _to_ir(pipe, 5, df.columns)
    assert [f.type for f in model.features] == [FeatureType.FLOAT, FeatureType.FLOAT, FeatureType.NOMINAL,
                                                FeatureType.NOMINAL, FeatureType.FLOAT]
    X = probe_set(model, n_random=64, extra=rows("pipe_column_transformer_logreg"))
    frame = decode(X)
    assert (frame["colour"] == UNSEEN).any() and frame["colour"].isna().any()
    got = evaluate.preprocess(model, X)
    want = _row_by_row(ct.transform, frame)
    refused = np.isnan(want).all(axis=1)
    if kind.endswith("_error"):
        assert refused.any(), "scikit-learn refuses unseen categories here"
    # Where scikit-learn raises, the IR's encoded columns are NaN (so is every prediction).
    assert np.isnan(got[refused]).any(axis=1).all()
    assert np.array_equal(got[~refused], want[~refused], equal_nan=True)


def test_column_transformer_pipeline_with_unseen_category_through_the_ir_runtime(tmp_path):
    import modelport.runtimes

    est, _ = trained("pipe_column_transformer_logreg")
    model = _to_ir(est, 5, ["x", "y", "colour", "size", "grade"])
    path = serialize.save(model, tmp_path / "m.ir.json")
    rt = modelport.runtimes.load(path)
    frame = mixed_frame(80, 21, nan=False)
    frame.loc[::7, "colour"] = "magenta"       # unseen at predict time
    frame.loc[3::11, "size"] = "XXL"
    frame.loc[5::13, "colour"] = None
    frame.loc[::5, "grade"] = 9.0              # an unseen number in the passthrough column
    got = rt.predict(frame, output="probabilities")
    _assert_within(got, est.predict_proba(frame), evaluate.SKLEARN_FLOAT64_LINK)
    assert np.array_equal(rt.predict(frame, output="label"), np.searchsorted(est.classes_, est.predict(frame)))
    margin = rt.predict(frame, output="margin")
    _assert_within(margin, est.decision_function(frame), evaluate.SKLEARN_LINEAR_MARGIN)


def test_serialization_is_lossless_and_versioned():
    est, _ = trained("pipe_column_transformer_logreg")
    model = _to_ir(est, 5, ["x", "y", "colour", "size", "grade"])
    text = serialize.dumps(model)
    assert '"ir_version": 2' in text and '"preprocessing": [' in text
    back = serialize.loads(text)
    X = probe_set(model)
    assert np.array_equal(evaluate.predict_margin(back, X).view(np.int32), evaluate.predict_margin(model, X).view(np.int32))
    assert serialize.dumps(back) == text
    with pytest.raises(ModelFormatError, match="needs ir_version 2"):
        serialize.loads(text.replace('"ir_version": 2', '"ir_version": 1'))
    plain = linear_to_ir(trained("lin_lasso")[0], ["a", "b", "c", "d"], provenance=None)
    assert '"value_dtype":"float64"' in serialize.dumps(plain).replace(" ", "")


def test_validate_rejects_a_step_reading_past_the_columns():
    import dataclasses

    model = _to_ir(trained("pipe_onehot_drop_ridge")[0], 5, ["x", "y", "colour", "size", "grade"])
    bad = dataclasses.replace(model, preprocessing=(SelectColumns(np.array([0, 9], np.int32)),) + model.preprocessing)
    with pytest.raises(ModelFormatError, match="column 9 is out of range"):
        validate(bad)


@pytest.mark.parametrize("case", ["lin_logreg_binary", "lin_sgd_regressor", "pipe_column_transformer_logreg"])
def test_targets_without_the_constructs_refuse_before_writing(case, tmp_path):
    """Every target, stripped of the constructs it declares, refuses the model in one line
    before writing anything: the check sits in ``Target.write`` itself, whatever the target
    (so a target that has not learned a construct can never half-write it)."""
    import dataclasses

    from modelport.converters.targets import WriteOptions, all_targets

    model = _to_ir(trained(case)[0], 5 if case.startswith("pipe") else 4,
                   ["x", "y", "colour", "size", "grade"] if case.startswith("pipe") else None)
    for name, target in all_targets().items():
        out = tmp_path / f"{name}{target.extension}"
        bare = dataclasses.replace(target, supports=frozenset())
        with pytest.raises(UnsupportedModelError, match=r"cannot express (feature:nominal|linear-float64|preprocessing)") as exc:
            bare.write(model, out, WriteOptions())
        assert "\n" not in str(exc.value) and name in str(exc.value)
        assert not out.exists()


@pytest.mark.parametrize("kind, word", [("sgd_modified_huber", "modified_huber"),
                                        ("function_transformer", "FunctionTransformer"),
                                        ("imputer_indicator", "add_indicator")])
def test_constructs_the_ir_cannot_express_are_refused(kind, word):
    from sklearn import linear_model as L
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X = np.abs(numeric_data(100, 1))
    y = (X[:, 0] > 0.7).astype(int)
    if kind == "sgd_modified_huber":
        est = L.SGDClassifier(loss="modified_huber", random_state=0)
    elif kind == "function_transformer":
        est = make_pipeline(FunctionTransformer(np.log1p), L.LogisticRegression())
    else:
        X[::9, 0] = np.nan
        est = make_pipeline(SimpleImputer(add_indicator=True), L.LogisticRegression())
    est.fit(X, y)
    with pytest.raises(UnsupportedModelError, match=word):
        _to_ir(est, 4)


def _imputing_pipeline():
    from sklearn import preprocessing as P
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    df = mixed_frame(500, 8)
    ct = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), P.StandardScaler()), ["x", "y"]),
        ("cat", P.OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20, dtype="float64"), ["colour"]),
        ("ord", P.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2,
                                 dtype="float64"), ["size"]),
    ], remainder=P.MinMaxScaler(clip=True))
    y = np.digitize(np.nan_to_num(df["x"].to_numpy()) + (df["colour"] == "red") + 0.02 * df["y"], [-0.5, 0.8])
    return make_pipeline(ct, LogisticRegression(max_iter=1000)).fit(df, y)


def test_imputing_column_transformer_matches_sklearn_with_unseen_and_missing_values():
    pipe = _imputing_pipeline()
    model = _to_ir(pipe, 5, ["x", "y", "colour", "size", "grade"])
    assert constructs(model) >= {"preprocessing:impute", "preprocessing:lookup", "preprocessing:select_columns"}
    X = probe_set(model, extra=rows("pipe_column_transformer_logreg"))
    X = X[~np.isnan(X[:, 4])]  # the passthrough column is not imputed: scikit-learn refuses NaN there
    frame = decode(X)
    assert frame["x"].isna().any() and (frame["colour"] == UNSEEN).any() and (frame["size"] == UNSEEN).any()
    assert np.array_equal(evaluate.preprocess(model, X), pipe[:-1].transform(frame))
    margin = evaluate.predict_margin(model, X)
    _assert_within(margin, pipe.decision_function(frame), evaluate.SKLEARN_LINEAR_MARGIN)
    outs = evaluate.outputs(model, X)
    _assert_within(outs["probabilities"], pipe.predict_proba(frame), evaluate.SKLEARN_FLOAT64_LINK)
    assert np.array_equal(outs["label"], pipe.predict(frame))


@pytest.mark.parametrize("name", [*NAMES, "imputing"])
def test_onnx_expresses_every_construct_bit_for_bit(name, tmp_path):
    pytest.importorskip("onnxruntime")
    import modelport.runtimes
    from modelport.converters.targets import WriteOptions, all_targets

    pipe = name.startswith("pipe") or name == "imputing"
    est = _imputing_pipeline() if name == "imputing" else trained(name)[0]
    model = _to_ir(est, 5 if pipe else 4, ["x", "y", "colour", "size", "grade"] if pipe else None)
    X = probe_set(model, extra=rows("pipe_column_transformer_logreg" if pipe else name))
    path = tmp_path / "m.onnx"
    all_targets().get("onnx").write(model, path, WriteOptions())
    rt = modelport.runtimes.load(path)
    want = evaluate.predict_margin(model, X)
    got = np.asarray(rt.predict(X, output="margin"), np.float32).reshape(want.shape)
    assert np.array_equal(got.view(np.int32), want.view(np.int32)), "ONNX margins differ from the evaluator's"
    outs = evaluate.outputs(model, X)
    if model.n_classes:  # the float64 link and labels: bit for bit too
        assert np.array_equal(rt.predict(X, output="label"), outs["label"])
        got_p = np.asarray(rt.predict(X, output="probabilities"), np.float32)
        assert np.array_equal(got_p.view(np.int32), outs["probabilities"].view(np.int32))
    else:
        assert np.array_equal(np.asarray(rt.predict(X), np.float32).reshape(-1).view(np.int32),
                              evaluate.predict(model, X).reshape(-1).view(np.int32))
    if pipe:  # category names, unseen ones included, through the runtime's input coercion
        frame = decode(X[:40])
        assert np.array_equal(np.asarray(rt.predict(frame, output="margin"), np.float32).reshape(-1, want.shape[1]),
                              want[:40], equal_nan=True)


@pytest.mark.parametrize("final", ["DecisionTreeRegressor", "HistGradientBoostingRegressor"])
def test_tree_after_preprocessing_is_exact(final, tmp_path):
    """The preprocessing steps feed the tree frontend's IR too: margins equal scikit-learn's."""
    from sklearn import ensemble, tree
    from sklearn import preprocessing as P
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    from modelport.converters.frontends.sklearn import estimator_to_ir

    df = mixed_frame(500, 3)
    y = np.nan_to_num(df["x"].to_numpy()) + (df["colour"] == "red") + 0.05 * df["y"]
    est = (tree.DecisionTreeRegressor(max_depth=6, random_state=0) if final == "DecisionTreeRegressor"
           else ensemble.HistGradientBoostingRegressor(max_iter=10, random_state=0))
    ct = ColumnTransformer([("num", P.StandardScaler(), ["x", "y"]),
                            ("cat", P.OneHotEncoder(handle_unknown="ignore", dtype="float64"), ["colour", "size"])],
                           remainder="passthrough")
    pipe = make_pipeline(ct, est).fit(df, y)
    model = estimator_to_ir(pipe, list(df.columns), provenance=None)
    X = probe_set(model, extra=rows("pipe_column_transformer_logreg"))
    got = evaluate.predict_margin(model, X)
    want = pipe.predict(decode(X)).astype(np.float32).reshape(-1, 1)
    assert np.array_equal(got.view(np.int32), want.view(np.int32))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["preprocessing"].append({"step": "rotate"}), "is not one of: select_columns"),
    (lambda d: d["preprocessing"][0]["sources"].__setitem__(0, 99), "column 99 is out of range"),
    (lambda d: d["preprocessing"].append({"step": "lookup", "encoder": "", "column": 0, "keys": [1.0],
                                          "table": [[1.0], [2.0, 3.0], [0.0]]}), "equal-length lists"),
    (lambda d: d["preprocessing"].append({"step": "affine", "kind": "rotate", "columns": [0], "offset": [0.0],
                                          "scale": [1.0], "clip": None}), "is not one of: subtract_divide"),
    (lambda d: d["preprocessing"].append({"step": "affine", "kind": "multiply_add", "columns": [0], "offset": [0.0],
                                          "scale": ["Infinity"], "clip": None}), "scale must be finite"),
    (lambda d: d["preprocessing"].append({"step": "impute", "columns": [0, 0], "fill": [0.0, 1.0],
                                          "missing_value": "NaN"}), "lists a column twice"),
    (lambda d: d["booster"].update(value_dtype="float16"), "value_dtype must be"),
])
def test_malformed_version_2_documents_are_one_line_errors(edit, message):
    import json

    model = _to_ir(trained("pipe_onehot_drop_ridge")[0], 5, ["x", "y", "colour", "size", "grade"])
    doc = json.loads(serialize.dumps(model))
    edit(doc)
    with pytest.raises(ModelFormatError, match=message) as exc:
        serialize.loads(json.dumps(doc))
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("name", LINEAR[:1])
def test_verify_data_rows_keep_float64_for_float64_models(name):
    """``--data`` rows reach a float64 model unrounded: rounding them to float32 would verify
    other rows than the user's (a float64 value between two float32 neighbours)."""
    from modelport._api import read_data

    est, _ = trained(name)
    model = _to_ir(est, 4)
    x = np.array([[0.1, 1 / 3, 2.0 ** -30 + 1.0, -7.123456789012345]])
    assert not np.array_equal(x.astype(np.float32).astype(np.float64), x)
    got = read_data(x, model)
    assert got.dtype == np.float64 and np.array_equal(got, x)


def test_skops_file_with_imputer_and_encoders_loads_without_trust_pickle(tmp_path):
    """Fitted imputers and encoders hold a numpy.dtype: a skops file of such a pipeline loads
    through the trusted-types check (no --trust-pickle) and reads back the same IR."""
    import skops.io as sio

    import modelport

    pipe = _imputing_pipeline()
    path = tmp_path / "pipe.skops"
    sio.dump(pipe, path)
    assert "numpy.dtype" in sio.get_untrusted_types(file=path)
    model = modelport.load(path)
    want = _to_ir(pipe, 5, ["x", "y", "colour", "size", "grade"])
    X = probe_set(want)
    assert np.array_equal(evaluate.predict_margin(model, X), evaluate.predict_margin(want, X), equal_nan=True)
