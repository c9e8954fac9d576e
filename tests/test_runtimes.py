"""modelport.runtimes: input coercion, loading by content, signatures, output shapes.

Coercion is tested directly (numpy only) and through an ONNX artifact written from a tiny
hand-built IR model whose prediction is simply ``10 * [a < 0.5] + [b < 0.5]`` style sums.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from modelport import runtimes
from modelport.core.errors import InputDataError, ModelFormatError
from modelport.runtimes._coerce import coerce_input
from modelport.runtimes.base import FeatureSpec

FEATS = (FeatureSpec("a"), FeatureSpec("b"), FeatureSpec("c"))


# -- coercion (numpy only) ---------------------------------------------------------------
def test_numpy_float64_rounds_once_to_float32():
    x = np.array([[0.1, 1e-40, 2.0**60 + 1]], dtype=np.float64)
    out = coerce_input(x, FEATS)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, x.astype(np.float32))


def test_numpy_wrong_column_count_and_ndim():
    with pytest.raises(InputDataError, match="expected 3 columns, got 2"):
        coerce_input(np.zeros((4, 2)), FEATS)
    with pytest.raises(InputDataError, match="2-D"):
        coerce_input(np.zeros((2, 3, 1)), FEATS)
    assert coerce_input(np.array([1, 2, 3]), FEATS).shape == (1, 3)  # one row


def test_list_of_lists_ragged_and_strings():
    np.testing.assert_array_equal(coerce_input([[1, 2, 3], [4, None, 6]], FEATS),
                                  np.array([[1, 2, 3], [4, np.nan, 6]], np.float32))
    with pytest.raises(InputDataError, match="row 1: expected 3 values, got 2"):
        coerce_input([[1, 2, 3], [4, 5]], FEATS)
    with pytest.raises(InputDataError, match=r"row 0, column 1: the string 'x' is not a number"):
        coerce_input([[1, "x", 3]], FEATS)


def test_list_of_dicts_by_name():
    out = coerce_input([{"c": 3, "a": 1, "b": 2}], FEATS)
    np.testing.assert_array_equal(out, np.array([[1, 2, 3]], np.float32))
    with pytest.raises(InputDataError, match=r"row 1: missing column\(s\) 'c'; unexpected column\(s\) 'd'"):
        coerce_input([{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "d": 3}], FEATS)
    with pytest.raises(InputDataError, match=r"row 0, column 'b': the string 'two'"):
        coerce_input([{"a": 1, "b": "two", "c": 3}], FEATS)


def test_dataframe_reordered_by_name():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"c": [3.0, 6.0], "a": [1, 4], "b": [2.0, None]})
    np.testing.assert_array_equal(coerce_input(df, FEATS), np.array([[1, 2, 3], [4, np.nan, 6]], np.float32))


def test_dataframe_missing_and_extra_columns_named():
    pd = pytest.importorskip("pandas")
    with pytest.raises(InputDataError, match=r"missing column\(s\) 'c'; unexpected column\(s\) 'z'"):
        coerce_input(pd.DataFrame({"a": [1], "b": [2], "z": [3]}), FEATS)


def test_dataframe_strings_and_nullable():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": ["1", "x"], "b": [1, 2], "c": [1, 2]})
    with pytest.raises(InputDataError, match=r"row 0, column 'a': the string '1' is not a number"):
        coerce_input(df, FEATS)
    df = pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": [1.5, 2], "c": [True, False]})
    np.testing.assert_array_equal(coerce_input(df, FEATS), np.array([[1, 1.5, 1], [np.nan, 2, 0]], np.float32))


def test_dataframe_categorical_recoded_by_value():
    pd = pytest.importorskip("pandas")
    feats = (FeatureSpec("a"), FeatureSpec("k", "categorical", ("red", "green", "blue")))
    df = pd.DataFrame({"a": [0.0, 1, 2], "k": pd.Categorical(["blue", "red", None], categories=["red", "blue", "mauve"])})
    np.testing.assert_array_equal(coerce_input(df, feats)[:, 1], np.array([2, 0, np.nan], np.float32))
    # a value never seen in training is refused, not turned into 'missing' (test_runtime_inputs.py)
    df = pd.DataFrame({"a": [0.0, 1], "k": pd.Categorical(["blue", "mauve"])})
    with pytest.raises(InputDataError, match="column 'k': category 'mauve' was not seen in training"):
        coerce_input(df, feats)


def test_unreadable_input_type():
    with pytest.raises(InputDataError, match="cannot read rows from str"):
        coerce_input("1,2,3", FEATS)


def test_runtimes_import_numpy_only():
    code = ("import sys, modelport.runtimes; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('onnxruntime', 'onnx', 'pandas', 'xgboost') "
            "or m.startswith('modelport.converters')]; print(bad); sys.exit(bool(bad))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


# -- through an ONNX artifact -------------------------------------------------------------
@pytest.fixture(scope="module")
def onnx_artifact(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from test_onnx_target import ensemble, model, stump

    from modelport.core.ir.model import Feature, PostTransform, Task
    from modelport.converters.targets import WriteOptions
    from modelport.converters.targets.onnx import write_onnx

    m = model(ensemble([stump(0, 0.5, 10.0, 20.0), stump(1, 0.5, 1.0, 2.0), stump(2, 0.5, 0.0, 0.5)]),
              task=Task.BINARY, n_classes=2, n_features=3, base=-21.5, post=PostTransform.SIGMOID,
              features=(Feature("a"), Feature("b"), Feature("c")))
    path = tmp_path_factory.mktemp("rt") / "model.onnx"
    write_onnx(m, path, WriteOptions())
    return path


@pytest.mark.onnx
def test_signature(onnx_artifact):
    sig = runtimes.load(onnx_artifact).signature
    assert (sig.input_name, sig.input_type, sig.n_features) == ("input", "float32", 3)
    assert sig.feature_names == ["a", "b", "c"]
    assert (sig.task, sig.post_transform, sig.n_classes, sig.n_outputs) == ("binary", "sigmoid", 2, 1)
    assert sig.outputs == ("prediction", "margin", "probabilities", "label")
    assert "probability of class 1" in sig.prediction


@pytest.mark.onnx
def test_inputs_agree_across_forms(onnx_artifact):
    pd = pytest.importorskip("pandas")
    rt = runtimes.load(onnx_artifact)
    X = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, np.nan]])
    ref = rt.predict(X, output="margin")
    np.testing.assert_array_equal(ref, np.array([-10.5, 1, -9.5], np.float32))
    df = pd.DataFrame(X, columns=["a", "b", "c"])[["c", "b", "a"]]
    np.testing.assert_array_equal(rt.predict(df, output="margin"), ref)
    recs = [dict(zip("abc", row, strict=True)) for row in X.tolist()]
    np.testing.assert_array_equal(rt.predict(recs, output="margin"), ref)
    np.testing.assert_array_equal(rt.predict(X.tolist(), output="margin"), ref)
    with pytest.raises(InputDataError, match=r"missing column\(s\) 'c'"):
        rt.predict(df[["a", "b"]])


@pytest.mark.onnx
def test_output_shapes_and_dtypes(onnx_artifact):
    rt = runtimes.load(onnx_artifact)
    X = np.zeros((4, 3), np.float32)
    assert rt.predict(X).shape == (4,) and rt.predict(X).dtype == np.float32
    assert rt.predict(X, output="probabilities").shape == (4, 2)
    assert rt.predict(X, output="label").dtype == np.int64
    with pytest.raises(InputDataError, match="unknown output 'proba'"):
        rt.predict(X, output="proba")


@pytest.mark.onnx
def test_load_by_content_not_extension(onnx_artifact, tmp_path):
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(onnx_artifact.read_bytes())
    assert runtimes.detect_runtime(renamed).name == "onnx"
    assert runtimes.load(renamed).signature.n_features == 3


def test_garbage_and_empty_files_are_refused(tmp_path):
    garbage = tmp_path / "model.onnx"
    garbage.write_bytes(b"\x00\xffnot a model at all" * 10)
    with pytest.raises(ModelFormatError, match="not an artifact any runtime reads"):
        runtimes.load(garbage)
    ir_json = tmp_path / "model.ir.json"
    ir_json.write_text('{"ir_version": 1}')
    # Not a valid IR document (the IR runtime reads real ones): refused, pointing at convert.
    with pytest.raises(ModelFormatError, match="not an artifact any runtime reads.*modelport convert"):
        runtimes.load(ir_json)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelFormatError, match="empty"):
        runtimes.load(empty)
    with pytest.raises(ModelFormatError, match="cannot read"):
        runtimes.load(tmp_path / "absent.onnx")


@pytest.mark.onnx
def test_truncated_onnx_is_a_format_error(onnx_artifact, tmp_path):
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(onnx_artifact.read_bytes()[:200])
    with pytest.raises(ModelFormatError):
        runtimes.load(cut, runtime="onnx")


def test_runtime_registry():
    from modelport.runtimes.base import _load_all

    assert "onnx" in _load_all()
    with pytest.raises(KeyError, match="unknown runtime 'nope'"):
        runtimes.load("x", runtime="nope")


@pytest.mark.onnx
@pytest.mark.onnxmltools
def test_foreign_onnx_with_zipmap_and_other_output_names(tmp_path):
    """A skl2onnx file: no modelport metadata, outputs 'output_label' and a ZipMap
    'output_probability'; the runtime maps them by position and type."""
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    proto = skl2onnx.convert_sklearn(clf, initial_types=[("float_input", FloatTensorType([None, 3]))])
    assert [o.name for o in proto.graph.output] == ["output_label", "output_probability"]
    path = tmp_path / "foreign.model"
    path.write_bytes(proto.SerializeToString())
    rt = runtimes.load(path)
    sig = rt.signature
    assert (sig.input_name, sig.task, sig.n_classes, sig.feature_names) == ("float_input", "binary", 2, ["f0", "f1", "f2"])
    assert "margin" not in sig.outputs
    np.testing.assert_allclose(rt.predict(X, output="probabilities"), clf.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(rt.predict(X), clf.predict_proba(X)[:, 1], atol=1e-6)
    np.testing.assert_array_equal(rt.predict(X, output="label"), clf.predict(X))
    with pytest.raises(InputDataError, match="cannot give output='margin'"):
        rt.predict(X, output="margin")


def test_dataframe_with_unnamed_integer_columns_is_positional():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(coerce_input(df, FEATS), np.arange(6.0, dtype=np.float32).reshape(2, 3))
