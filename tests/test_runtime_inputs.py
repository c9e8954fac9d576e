"""What users pass to ``runtimes.load(...).predict``, checked against xgboost's own predict on
the same input: scipy sparse matrices (trap 5 of docs/parity-traps.md: absent = missing, stored zero = 0)
and pandas DataFrames with named categories (trap 9 and 10: by name, by category value)."""

from __future__ import annotations

import numpy as np
import pytest

import modelport
from modelport import runtimes
from modelport.core.errors import InputDataError

xgb = pytest.importorskip("xgboost")
sp = pytest.importorskip("scipy.sparse")
pd = pytest.importorskip("pandas")
pytest.importorskip("onnxruntime")


def _bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


@pytest.fixture(scope="module")
def sparse_model(tmp_path_factory):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 6))
    X[rng.random(X.shape) < 0.4] = 0.0
    y = (X[:, 0] - X[:, 2] + 0.3 * X[:, 4] > 0).astype(int)
    # Trained on the sparse matrix: zeros absent, so the splits learn default directions.
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 4, "seed": 1},
                        xgb.DMatrix(sp.csr_matrix(X), label=y), 20)
    d = tmp_path_factory.mktemp("sparse")
    booster.save_model(str(d / "model.json"))
    onnx_path = modelport.convert(d / "model.json", to="onnx").path
    return booster, runtimes.load(onnx_path), X


def test_sparse_absent_entries_are_missing_like_xgboost(sparse_model):
    booster, rt, X = sparse_model
    S = sp.csr_matrix(X)
    ref = booster.predict(xgb.DMatrix(S), output_margin=True)
    assert np.array_equal(_bits(rt.predict(S, output="margin")), _bits(ref))
    # the dense matrix with real zeros is a different input, and xgboost agrees
    dense_ref = booster.predict(xgb.DMatrix(X), output_margin=True)
    assert not np.array_equal(ref, dense_ref)
    assert np.array_equal(_bits(rt.predict(X, output="margin")), _bits(dense_ref))


def test_sparse_stored_zero_is_a_value(sparse_model):
    booster, rt, X = sparse_model
    S = sp.csr_matrix((np.zeros(6), (np.zeros(6, int), np.arange(6))), shape=(1, 6))
    assert S.nnz == 6  # explicitly stored zeros
    ref = booster.predict(xgb.DMatrix(S), output_margin=True)
    assert np.array_equal(_bits(rt.predict(S, output="margin")), _bits(ref))
    assert np.array_equal(_bits(ref), _bits(booster.predict(xgb.DMatrix(np.zeros((1, 6))), output_margin=True)))


def test_sparse_formats_and_errors(sparse_model):
    _, rt, X = sparse_model
    want = rt.predict(sp.csr_matrix(X))
    for fmt in ("csc", "coo", "lil"):
        assert np.array_equal(rt.predict(sp.csr_matrix(X).asformat(fmt)), want)
    with pytest.raises(InputDataError, match="expected a sparse matrix \\[rows, 6\\]"):
        rt.predict(sp.csr_matrix(X[:, :5]))
    dup = sp.coo_matrix((np.array([1.0, 2.0]), (np.array([0, 0]), np.array([1, 1]))), shape=(1, 6))
    with pytest.raises(InputDataError, match="duplicate entries"):
        rt.predict(dup)


def _ir(booster):
    """The IR of a booster, read back from its JSON (the frontend reads files)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        booster.save_model(str(Path(d) / "m.json"))
        return modelport.load(Path(d) / "m.json")


@pytest.fixture(scope="module")
def categorical_frame_model(tmp_path_factory):
    rng = np.random.default_rng(9)
    n = 500
    color = rng.choice(["red", "green", "blue", "teal"], n)
    df = pd.DataFrame({
        "size": rng.normal(size=n),
        "color": pd.Categorical(color, categories=["red", "green", "blue", "teal"]),
        "weight": rng.normal(size=n),
    })
    y = df["size"] + np.isin(color, ["green", "teal"]) * 2.0 + 0.1 * rng.normal(size=n)
    booster = xgb.train({"objective": "reg:squarederror", "tree_method": "hist", "max_cat_to_onehot": 1,
                         "max_depth": 3, "seed": 3}, xgb.DMatrix(df, label=y, enable_categorical=True), 15)
    d = tmp_path_factory.mktemp("catframe")
    booster.save_model(str(d / "model.json"))
    onnx_path = modelport.convert(d / "model.json", to="onnx").path
    return booster, runtimes.load(onnx_path), df


def test_dataframe_reordered_columns_and_category_order(categorical_frame_model):
    booster, rt, df = categorical_frame_model
    ref = booster.predict(xgb.DMatrix(df, enable_categorical=True))
    # same values, columns in another order, categories declared in another order
    other = df[["weight", "color", "size"]].copy()
    other["color"] = other["color"].cat.reorder_categories(["teal", "blue", "green", "red"])
    got = rt.predict(other)
    assert np.array_equal(_bits(got), _bits(ref))
    assert np.array_equal(_bits(booster.predict(xgb.DMatrix(other[["size", "color", "weight"]],
                                                           enable_categorical=True))), _bits(ref))


def test_dataframe_unseen_category_is_refused(categorical_frame_model):
    """XGBoost 3.2 is inconsistent here: it raises for an unseen NUMERIC category ("Found a
    category not in the training set", src/data/cat_container.h) but silently routes an unseen
    STRING category as 'in no set'.  Guessing is how predictions change silently, so the
    runtime and the reference evaluator both refuse, naming the column and the value."""
    booster, rt, df = categorical_frame_model
    bad = df.head(3).copy()
    bad["color"] = pd.Categorical(["red", "purple", "blue"])
    booster.predict(xgb.DMatrix(bad, enable_categorical=True))  # xgboost: no error for strings
    with pytest.raises(InputDataError, match="column 'color': category 'purple' was not seen in training"):
        rt.predict(bad)
    from modelport.core.ir.evaluate import predict as reference

    with pytest.raises(InputDataError, match="category 'purple' was not seen in training"):
        reference(_ir(booster), bad[["size", "color", "weight"]])
    numeric = pd.DataFrame({"size": [0.1], "color": pd.Categorical([9]), "weight": [0.2]})
    with pytest.raises(InputDataError, match="category '9' was not seen in training"):
        rt.predict(numeric)
    # declared but unused categories are harmless
    ok = df.head(3).copy()
    ok["color"] = ok["color"].cat.add_categories(["purple"])
    assert np.array_equal(rt.predict(ok), rt.predict(df.head(3)))
