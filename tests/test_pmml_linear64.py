"""float64 linear models (scikit-learn) in the PMML target (docs/pmml.md, "float64 linear models").

* the plain scikit-learn linear cases of tests/cases/sklearn_linear.py: modelport's PMML run
  through the pmml runtime equals the reference evaluator bit for bit (margins, predictions,
  probabilities, labels), and so does jpmml-evaluator (the JVM, an independent implementation);
* hand-built models whose float64 sum depends on the order (``1e16 + 1 - 1e16``), on the bias
  added last, and on labels decided by a margin far below float32's resolution;
* preprocessing (every scaler, imputer and encoder variant, ColumnTransformer routing, nominal
  codes with unseen and missing categories) as DerivedFields: runtime and jpmml-evaluator bit
  for bit on the probe rows (NaN in every column, thresholds, unseen codes);
* every file validates against the PMML 4.4 schema jpmml-model ships.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from modelport.converters.frontends import load_model  # noqa: E402
from modelport.converters.targets import TARGETS  # noqa: E402
from modelport.converters.targets.pmml import build_pmml  # noqa: E402
from modelport.core.errors import UnsupportedModelError  # noqa: E402
from modelport.core.ir.evaluate import outputs  # noqa: E402
from modelport.core.ir.model import Feature, LinearBooster, Model, PostTransform, Task  # noqa: E402
from modelport.runtimes.pmml import PmmlRuntime  # noqa: E402

pytest.importorskip("defusedxml")

PLAIN = ("lin_logreg_binary", "lin_logreg_multiclass", "lin_linear_regression", "lin_ridge_multi_target", "lin_lasso",
         "lin_elasticnet")


def _model(weights, bias, *, task=Task.REGRESSION, post=PostTransform.IDENTITY, base=None) -> Model:
    w = np.asarray(weights, dtype=np.float64)
    k = w.shape[1]
    feats = tuple(Feature(name=f"f{j}") for j in range(w.shape[0]))
    n_classes = {Task.BINARY: 2, Task.MULTICLASS: k}.get(task, 0)
    return Model(task=task, features=feats, n_outputs=k, n_classes=n_classes,
                 booster=LinearBooster(weights=w, bias=np.asarray(bias, np.float64), value_dtype="float64"),
                 base_score=np.zeros(k, np.float32) if base is None else np.asarray(base, np.float32),
                 post_transform=post)


def _write(model: Model, path: Path) -> Path:
    path.write_text(build_pmml(model), encoding="utf-8")
    return path


def _check_runtime(model: Model, path: Path, X: np.ndarray) -> None:
    ref = outputs(model, X)
    rt = PmmlRuntime(path)
    np.testing.assert_array_equal(rt.predict(X, output="margin").reshape(ref["margin"].shape), ref["margin"])
    pred = ref["prediction"]
    np.testing.assert_array_equal(rt.predict(X).reshape(pred.shape), pred)
    if "probabilities" in ref:
        np.testing.assert_array_equal(rt.predict(X, output="probabilities"), ref["probabilities"])
        np.testing.assert_array_equal(rt.predict(X, output="label"), ref["label"])


def _check_jpmml_if_java(request, model: Model, path: Path, X: np.ndarray) -> None:
    """:func:`_check_jpmml` where Java and jpmml-evaluator are present (the ``jpmml`` fixture
    of tests/conftest.py skips otherwise; here that only drops the JVM half of the test)."""
    if shutil.which("java") is None:
        return
    try:
        jp = request.getfixturevalue("jpmml")
    except pytest.skip.Exception:
        return
    _check_jpmml(jp, model, path, X)


def _check_jpmml(jp, model: Model, path: Path, X: np.ndarray) -> None:
    """jpmml-evaluator's double results, rounded once to float32, equal the reference's on
    every row; where the reference's margin is NaN (a missing input reaches the dot product)
    jpmml reports the row's result as undefined (an error for that row) or missing."""
    import pandas as pd

    res = jp.make_evaluator(str(path)).verify().evaluateAll(pd.DataFrame(X, columns=[f.name for f in model.features]))
    ref = outputs(model, X)
    nan_ref = np.isnan(ref["margin"]).any(axis=1)
    failed = res["errors"].notna().to_numpy() if "errors" in res.columns else np.zeros(len(X), bool)
    if (failed & ~nan_ref).any():
        raise AssertionError(f"jpmml-evaluator: {res['errors'][failed & ~nan_ref].iloc[0]}")
    ok = ~failed
    res, X = res[ok], X[ok]
    ref = outputs(model, X)
    cols = ["margin"] if model.n_outputs == 1 else [f"margin({j})" for j in range(model.n_outputs)]
    d = np.stack([res[c].to_numpy(np.float64) for c in cols], axis=1)
    np.testing.assert_array_equal(d.astype(np.float32), ref["margin"], err_msg="jpmml margins")
    if model.post_transform is PostTransform.HINGE:
        pred = res["prediction"].to_numpy(np.float64).astype(np.float32)
        np.testing.assert_array_equal(pred, ref["prediction"][:, 0], err_msg="jpmml hinge predictions")
    elif "probabilities" in ref:
        k = ref["probabilities"].shape[1]
        p = np.stack([res[f"probability({c})"].to_numpy(np.float64) for c in range(k)], axis=1)
        np.testing.assert_array_equal(p.astype(np.float32), ref["probabilities"], err_msg="jpmml probabilities")
        label = (d[:, 0] > 0).astype(np.int64) if model.task is Task.BINARY else np.argmax(d, axis=1)
        np.testing.assert_array_equal(label, ref["label"], err_msg="labels from jpmml's double margins")


@pytest.fixture(scope="module")
def sk_cases():
    from cases import sklearn_linear as S

    return {n: (load_model(S.trained(n)[1]), S.rows(n)) for n in PLAIN}


@pytest.mark.parametrize("name", PLAIN)
def test_sklearn_case_runtime_bit_for_bit(sk_cases, name, tmp_path):
    ir, X = sk_cases[name]
    _check_runtime(ir, _write(ir, tmp_path / "m.pmml"), X)


@pytest.mark.parametrize("name", PLAIN)
def test_sklearn_case_jpmml_bit_for_bit(jpmml, sk_cases, name, tmp_path):
    ir, X = sk_cases[name]
    _check_jpmml(jpmml, ir, _write(ir, tmp_path / "m.pmml"), X)


#: 1e16 + 1 - 1e16: 0 summed left to right in float64 (1 is lost), 1 in any other order;
#: the bias 3 added last; a margin of 1e-30 (float32 0.0 after the link's rounding) labelled 1.
ORDER_ROWS = np.array([[1e16, 1.0, -1e16], [1.0, 1e16, -1e16], [0.0, 0.0, 0.0], [2.5, -1.25, 1e-300],
                       [-1e300, 0.0, 1e300]])


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass", "multi_target"])
def test_order_sensitive_sums(kind, tmp_path, request):
    w = np.array([[1.0], [1.0], [1.0]])
    if kind == "regression":
        m = _model(w, [3.0], base=[0.25])
    elif kind == "binary":
        m = _model(w, [1e-30], task=Task.BINARY, post=PostTransform.SIGMOID)
    elif kind == "multiclass":
        m = _model(np.hstack([w, -w, w * 0.5]), [3.0, 1e-30, -2.0], task=Task.MULTICLASS, post=PostTransform.SOFTMAX)
    else:
        m = _model(np.hstack([w, w * 2]), [0.1, -0.1], task=Task.MULTI_TARGET)
    path = _write(m, tmp_path / "m.pmml")
    _check_runtime(m, path, ORDER_ROWS)
    _check_jpmml_if_java(request, m, path, ORDER_ROWS)


def test_softmax_label_labels_come_from_the_double_margins(tmp_path):
    # at x = 0 the margins are 0 and 1e-20: equal in float32 (equal probabilities), class 1 wins in
    # float64; at x = 0.5, 0.5 + 1e-20 == 0.5 in float64 too, so the first maximum (class 0) wins
    m = _model(np.array([[1.0, 1.0, 0.0]]), [0.0, 1e-20, 0.0], task=Task.MULTICLASS, post=PostTransform.SOFTMAX_LABEL)
    X = np.array([[0.5], [0.0], [-3.0]])
    path = _write(m, tmp_path / "m.pmml")
    _check_runtime(m, path, X)
    assert PmmlRuntime(path).predict(X, output="label").tolist() == [0, 1, 2]


def test_binary_hinge(tmp_path, request):
    """Labels (and the prediction) are ``d > 0`` on the double margin: 1e-30 is class 1."""
    m = _model([[1.0], [1.0]], [1e-30], task=Task.BINARY, post=PostTransform.HINGE)
    X = np.array([[0.0, 0.0], [1.0, -1.0], [-2.0, 1.0], [1e16, 1.0], [np.nan, 1.0]])
    path = _write(m, tmp_path / "m.pmml")
    _check_runtime(m, path, X)
    assert PmmlRuntime(path).predict(X, output="label").tolist() == [1, 1, 0, 1, 0]
    _check_jpmml_if_java(request, m, path, X)


def test_target_declares_linear_float64():
    assert "linear-float64" in TARGETS.get("pmml").supports


def test_validates_against_pmml_4_4_xsd(tmp_path):
    etree = pytest.importorskip("lxml.etree", reason="lxml is not installed")
    jp = pytest.importorskip("jpmml_evaluator", reason="jpmml_evaluator (ships the PMML 4.4 XSD) is not installed")
    jars = sorted(glob.glob(os.path.join(os.path.dirname(jp.__file__), "dependencies", "pmml-model-[0-9]*.jar")))
    if not jars:
        pytest.skip("jpmml_evaluator ships no pmml-model jar here")
    schema = etree.XMLSchema(etree.fromstring(zipfile.ZipFile(jars[0]).read("pmml.xsd")))
    from cases import sklearn_linear as S

    m = _model(np.ones((3, 3)), [1.0, 2.0, 3.0], task=Task.MULTICLASS, post=PostTransform.SOFTMAX, base=[0.5, 0, 0])
    pipe = _to_ir(S.trained("pipe_column_transformer_logreg")[0], MIXED)  # every step kind but impute
    for model, name in ((m, "m.pmml"), (pipe, "pipe.pmml"), (_step_model("impute_sentinel")[0], "imp.pmml"),
                        (_step_model("minmax_clip")[0], "clip.pmml")):
        doc = etree.parse(str(_write(model, tmp_path / name)))
        assert schema.validate(doc), str(schema.error_log.last_error)


def test_hostile_feature_names_through_the_steps(tmp_path):
    import dataclasses

    model, X = _step_model("minmax_clip")
    hostile = ['a"b', "c\nd", "e*/f", "g${h}`", "\u00e9<&>"]
    feats = tuple(dataclasses.replace(f, name=hostile[j]) for j, f in enumerate(model.features))
    model = dataclasses.replace(model, features=feats)
    _check_runtime(model, _write(model, tmp_path / "m.pmml"), X)


# -- preprocessing: scikit-learn pipelines --------------------------------------------------

def _to_ir(est, names):
    from modelport.converters.frontends._sk_linear import linear_to_ir
    from modelport.converters.frontends._sk_pipeline import pipeline_to_ir

    if hasattr(est, "steps"):
        return pipeline_to_ir(est, list(names), final_to_ir=linear_to_ir, provenance=None)
    return linear_to_ir(est, list(names), provenance=None)


MIXED = ["x", "y", "colour", "size", "grade"]
STEP_KINDS = ["standard", "minmax_clip", "maxabs", "robust", "impute_median", "impute_sentinel", "onehot_ignore",
              "onehot_infrequent_drop", "onehot_if_binary", "ordinal_missing"]


def _step_model(kind: str):
    """(IR, probe rows) of a small pipeline ending in a LinearRegression, one step ``kind``."""
    from sklearn import preprocessing as P
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline

    from cases.sklearn_linear import mixed_frame, numeric_data
    from modelport.core.ir.probe import probe_set

    o = {"dtype": "float64"}
    steps = {
        "standard": P.StandardScaler(), "minmax_clip": P.MinMaxScaler(feature_range=(-1, 2), clip=True),
        "maxabs": P.MaxAbsScaler(), "robust": P.RobustScaler(quantile_range=(10, 90)),
        "impute_median": SimpleImputer(strategy="median"),
        "impute_sentinel": SimpleImputer(missing_values=-1.0, strategy="median"),
        "onehot_ignore": P.OneHotEncoder(handle_unknown="ignore", **o),
        "onehot_infrequent_drop": P.OneHotEncoder(handle_unknown="ignore", min_frequency=25, drop="first", **o),
        "onehot_if_binary": P.OneHotEncoder(drop="if_binary", handle_unknown="ignore", **o),
        "ordinal_missing": P.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                            encoded_missing_value=-5, **o),
        "ordinal_unknown": P.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, **o),
    }
    rng = np.random.default_rng(3)
    if kind.startswith(("onehot", "ordinal")):
        df = mixed_frame(400, 2, nan=False)
        ct = ColumnTransformer([("cat", steps[kind], ["colour", "size", "grade"])], remainder="passthrough")
        pipe = make_pipeline(ct, LinearRegression()).fit(df, df["y"].to_numpy() + rng.normal(size=len(df)))
        model = _to_ir(pipe, MIXED)
        from cases.sklearn_linear import rows

        return model, probe_set(model, extra=rows("pipe_column_transformer_logreg"))
    X = numeric_data(300, 2)
    if kind == "impute_sentinel":
        X[rng.random(300) < 0.1, 1] = -1.0
    elif kind.startswith("impute"):
        X[rng.random(300) < 0.1, 0] = np.nan
    pipe = make_pipeline(steps[kind], LinearRegression()).fit(X, np.nan_to_num(X[:, 0]) + rng.normal(size=300))
    model = _to_ir(pipe, [f"f{j}" for j in range(4)])
    return model, probe_set(model, extra=np.concatenate([X[:50], [[-1.0, -1.0, 1e300, -0.0]]]))


@pytest.mark.parametrize("kind", STEP_KINDS)
def test_preprocessing_step_bit_for_bit(kind, tmp_path, request):
    model, X = _step_model(kind)
    path = _write(model, tmp_path / "m.pmml")
    _check_runtime(model, path, X)
    _check_jpmml_if_java(request, model, path, X)


PIPES = ("lin_sgd_regressor", "lin_sgd_log_binary", "lin_sgd_hinge_multiclass", "lin_linear_svc_multiclass",
         "lin_linear_svr", "pipe_column_transformer_logreg", "pipe_onehot_drop_ridge")


@pytest.mark.parametrize("name", PIPES)
def test_sklearn_pipeline_case_bit_for_bit(name, tmp_path, request):
    from cases import sklearn_linear as S
    from modelport.core.ir.probe import probe_set

    pipe = name.startswith("pipe")
    model = _to_ir(S.trained(name)[0], MIXED if pipe else [f"f{j}" for j in range(4)])
    X = probe_set(model, extra=S.rows(name))
    path = _write(model, tmp_path / "m.pmml")
    _check_runtime(model, path, X)
    _check_jpmml_if_java(request, model, path, X)


def test_preprocessing_before_trees_is_refused():
    import dataclasses

    import ir_samples
    from modelport.core.ir.model import Affine, AffineKind

    tree = ir_samples.regression()
    step = Affine(columns=np.array([0], np.int32), offset=np.array([1.0]), scale=np.array([2.0]),
                  kind=AffineKind.SUBTRACT_DIVIDE)
    with pytest.raises(UnsupportedModelError, match="float64 linear model only"):
        build_pmml(dataclasses.replace(tree, preprocessing=(step,)))


def test_imputing_column_transformer_and_category_names(tmp_path, request):
    """SimpleImputer inside a ColumnTransformer, a clipping MinMaxScaler remainder, encoders with
    unseen and missing categories; the runtime also takes the category names themselves."""
    from sklearn import preprocessing as P
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from cases.sklearn_linear import decode, mixed_frame, rows
    from modelport.core.ir.probe import probe_set

    df = mixed_frame(500, 8)
    ct = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), P.StandardScaler()), ["x", "y"]),
        ("cat", P.OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20, dtype="float64"), ["colour"]),
        ("ord", P.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2,
                                 dtype="float64"), ["size"]),
    ], remainder=P.MinMaxScaler(clip=True))
    y = np.digitize(np.nan_to_num(df["x"].to_numpy()) + (df["colour"] == "red") + 0.02 * df["y"], [-0.5, 0.8])
    model = _to_ir(make_pipeline(ct, LogisticRegression(max_iter=1000)).fit(df, y), MIXED)
    X = probe_set(model, extra=rows("pipe_column_transformer_logreg"))
    path = _write(model, tmp_path / "m.pmml")
    _check_runtime(model, path, X)
    named = X[~np.isnan(X).any(axis=1)]
    named = named[np.isin(named[:, 2], np.arange(5)) & np.isin(named[:, 3], np.arange(3))]
    frame = decode(named)  # the category names of codes 0..k-1
    np.testing.assert_array_equal(PmmlRuntime(path).predict(frame, output="probabilities"),
                                  outputs(model, named)["probabilities"])
    _check_jpmml_if_java(request, model, path, X)
