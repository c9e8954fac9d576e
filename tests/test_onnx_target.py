"""The ONNX target on hand-built IR models: every file passes ``check_model(full_check=True)``
and onnxruntime returns exactly the values worked out by hand below.

Each test pins one numeric rule (trap numbers of docs/parity-traps.md in brackets); expected margins are
written as float32 arithmetic done by hand, not by the reference evaluator.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import onnx  # noqa: E402

from modelport import runtimes  # noqa: E402
from modelport.core.ir.model import (  # noqa: E402
    Comparison,
    Feature,
    FeatureType,
    LinearBooster,
    Model,
    PostTransform,
    Task,
    Tree,
    TreeEnsemble,
)
from modelport.converters.targets import TARGETS, WriteOptions  # noqa: E402
from modelport.converters.targets.onnx import build_onnx, write_onnx  # noqa: E402
from modelport.core.errors import UnsupportedModelError  # noqa: E402

pytestmark = pytest.mark.onnx
F32 = np.float32


def tree(left, right, feature, threshold, default_left, value, cats=None, tdtype=np.float32):
    """A Tree from per-node lists; ``cats`` maps node → category codes (categorical split)."""
    n = len(left)
    cats = cats or {}
    offsets, codes = [0], []
    for i in range(n):
        codes += cats.get(i, [])
        offsets.append(len(codes))
    value = np.asarray(value, dtype=np.float32).reshape(n, -1)
    return Tree(
        np.array(left, np.int32), np.array(right, np.int32), np.array(feature, np.int32),
        np.array(threshold, tdtype), np.array(default_left, bool),
        np.array([i in cats for i in range(n)], bool), np.array(offsets, np.int64),
        np.array(codes, np.int32), value,
    )


def stump(feature, threshold, left_value, right_value, default_left=True, cats=None, tdtype=np.float32):
    """Root split + two leaves."""
    return tree([1, -1, -1], [2, -1, -1], [feature, 0, 0], [threshold, 0, 0],
                [default_left, False, False], [[0], [left_value], [right_value]], cats, tdtype)


def ensemble(trees, outputs=None, weights=None, comparison=Comparison.LT, tdtype="float32",
             in_set_left=False, invalid_left=True, leaf_dim=1, dart=False):
    n = len(trees)
    return TreeEnsemble(
        tuple(trees), np.array(outputs if outputs is not None else [0] * n, np.int32),
        np.array(weights if weights is not None else [1.0] * n, np.float32), comparison, tdtype,
        in_set_left, invalid_left, leaf_dim, dart,
    )


def model(booster, *, task=Task.REGRESSION, n_features=2, n_outputs=1, n_classes=0, base=0.0,
          post=PostTransform.IDENTITY, missing=float("nan"), features=None):
    feats = features or tuple(Feature(f"f{i}") for i in range(n_features))
    return Model(task, feats, n_outputs, n_classes, booster,
                 np.full(n_outputs, base, np.float32) if np.isscalar(base) else np.asarray(base, np.float32),
                 post, missing)


def run(m: Model, X, tmp_path, output="margin", **load):
    """Write, check with full_check, load through modelport.runtimes, predict."""
    path = tmp_path / "m.onnx"
    write_onnx(m, path, WriteOptions())
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    return runtimes.load(path, **load).predict(np.asarray(X, dtype=np.float32), output=output)


def test_registered():
    t = TARGETS.get("onnx")
    from modelport.converters.backends import backend_names

    assert (t.extension, t.runtime, backend_names("onnx")) == (".onnx", "onnx", ("modelport", "onnxmltools"))


def test_lt_threshold_and_ulp_neighbours(tmp_path):  # [2]
    t = F32(0.1)
    up, down = np.nextafter(t, F32(1)), np.nextafter(t, F32(-1))
    m = model(ensemble([stump(0, t, -1.0, 1.0)]))
    out = run(m, [[down, 0], [t, 0], [up, 0]], tmp_path)
    np.testing.assert_array_equal(out, F32([-1, 1, 1]))  # x < t goes left: only `down`


@pytest.mark.parametrize("comparison", [Comparison.LT, Comparison.LE])
def test_float64_threshold_rounding_is_exact_for_float32_inputs(comparison):  # [2] sklearn
    from modelport.converters.targets._onnx_trees import _float32_threshold

    rng = np.random.default_rng(1)
    ops = {Comparison.LT: np.less, Comparison.LE: np.less_equal}[comparison]
    for t in [0.1, -0.1, 1 / 3, 1e-30, 3.5, 1e39, -1e39] + list(rng.normal(size=50)):
        t32 = _float32_threshold(t, comparison)
        near = np.float32(t)
        xs = [near, np.nextafter(near, F32(np.inf)), np.nextafter(near, F32(-np.inf)), F32(np.inf), F32(-np.inf)]
        for x in xs:
            assert ops(np.float64(x), t) == ops(x, t32), (t, x)


def test_float64_thresholds_refused(tmp_path):
    """The IR evaluates float64-threshold models on float64 inputs; ONNX input is float32."""
    m = model(ensemble([stump(0, 0.1, -1.0, 1.0, tdtype=np.float64)], tdtype="float64"))
    with pytest.raises(UnsupportedModelError, match="float32 input"):
        write_onnx(m, tmp_path / "m.onnx", WriteOptions())


def test_missing_direction_per_node(tmp_path):  # [3]
    m = model(ensemble([stump(0, 0.0, 1.0, 2.0, default_left=True), stump(1, 0.0, 10.0, 20.0, default_left=False)]))
    out = run(m, [[np.nan, np.nan], [-1, -1], [1, 1]], tmp_path)
    np.testing.assert_array_equal(out, F32([1 + 20, 1 + 10, 2 + 20]))


def test_missing_sentinel(tmp_path):  # [4]
    m = model(ensemble([stump(0, 0.0, 1.0, 2.0, default_left=False)]), missing=-999.0)
    # -999 is missing (goes right by default), -998 is a value (< 0 goes left)
    np.testing.assert_array_equal(run(m, [[-999, 0], [-998, 0], [np.nan, 0]], tmp_path), F32([2, 1, 2]))


def test_categorical_xgboost_semantics(tmp_path):  # [9]
    cat = stump(1, 0.0, 10.0, 20.0, default_left=False, cats={0: [1, 3]})
    num = stump(0, 0.5, 1.0, 2.0)  # feature 0 is numeric: the floored copy must not leak into it
    feats = (Feature("x"), Feature("c", FeatureType.CATEGORICAL))
    m = model(ensemble([num, cat]), features=feats)
    rows = [[0.4, 1], [0.4, 3], [0.4, 2], [0.4, 1.7], [0.4, -1], [0.4, -0.5], [0.4, np.nan],
            [0.4, 2**24], [0.4, 1e10], [0.6, 3.99], [0.4, 0]]
    # in set → right (20); not in set / invalid → left (10); NaN → default (right);
    # 1.7 truncates to 1 (in set); -0.5 is invalid (negative) → left.
    expect = F32([1 + 20, 1 + 20, 1 + 10, 1 + 20, 1 + 10, 1 + 10, 1 + 20, 1 + 10, 1 + 10, 2 + 20, 1 + 10])
    np.testing.assert_array_equal(run(m, rows, tmp_path), expect)


def test_categorical_in_set_goes_left(tmp_path):  # LightGBM convention
    m = model(ensemble([stump(0, 0.0, 10.0, 20.0, default_left=True, cats={0: [0, 2, 5]})],
                       in_set_left=True, invalid_left=False))
    out = run(m, [[0, 0], [5, 0], [1, 0], [-3, 0], [np.nan, 0]], tmp_path)
    np.testing.assert_array_equal(out, F32([10, 10, 20, 20, 10]))


def test_categorical_root_with_long_chain(tmp_path):
    """A categorical root whose set becomes a chain of EQ nodes (extra ids after the tree)."""
    t = tree([1, -1, 3, -1, -1], [2, -1, 4, -1, -1], [0, 0, 1, 0, 0], [0, 0, 0.5, 0, 0],
             [True, False, True, False, False], [[0], [1], [0], [2], [3]], cats={0: [0, 4, 6, 7]})
    m = model(ensemble([t]))
    out = run(m, [[0, 0], [7, 1], [5, 0], [5, 1], [np.nan, 1]], tmp_path)
    np.testing.assert_array_equal(out, F32([2, 3, 1, 1, 1]))


def test_intercept_is_added_first(tmp_path):  # [11] XGBoost's float32 order
    h = float(2.0**-24)  # half an ULP of 1.0: 1 + h rounds back to 1 (ties to even)
    m = model(ensemble([stump(0, 0.0, h, h), stump(0, 0.0, h, h)]), base=1.0)
    # (1 + h) + h == 1 exactly; summing the leaves first would give 1 + 2h = 1.0000001.
    np.testing.assert_array_equal(run(m, [[0, 0]], tmp_path), F32([1.0]))


def test_multiclass_layout_and_softmax(tmp_path):  # [8]
    trees = [stump(0, 0.0, 1.0, -1.0), stump(0, 0.0, 0.5, 0.5), stump(1, 0.0, -2.0, 3.0), stump(0, 0.0, 0.25, 0.0)]
    base = [0.1, 0.2, 0.3]
    m = model(ensemble(trees, outputs=[0, 1, 2, 0]), task=Task.MULTICLASS, n_outputs=3, n_classes=3,
              base=base, post=PostTransform.SOFTMAX)
    X = [[-1, -1], [1, 1]]
    margin = run(m, X, tmp_path)
    expect = np.array([[F32(F32(0.1) + F32(1.0)) + F32(0.25), F32(0.2) + F32(0.5), F32(0.3) - F32(2)],
                       [F32(0.1) - F32(1.0), F32(0.2) + F32(0.5), F32(0.3) + F32(3)]], dtype=F32)
    np.testing.assert_array_equal(margin, expect)
    proba = run(m, X, tmp_path, output="probabilities")
    e = np.exp(expect.astype(np.float64))
    np.testing.assert_allclose(proba, e / e.sum(1, keepdims=True), atol=1e-6, rtol=0)
    np.testing.assert_array_equal(run(m, X, tmp_path, output="label"), [0, 2])
    np.testing.assert_array_equal(run(m, X, tmp_path, output="prediction"), proba)


def test_softmax_label_prediction_is_class_index(tmp_path):
    m = model(ensemble([stump(0, 0.0, 1.0, 0.0), stump(0, 0.0, 0.0, 1.0)], outputs=[0, 1]),
              task=Task.MULTICLASS, n_outputs=2, n_classes=2, post=PostTransform.SOFTMAX_LABEL)
    out = run(m, [[-1, 0], [1, 0]], tmp_path, output="prediction")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, F32([0, 1]))


def test_vector_leaves_add_to_every_output(tmp_path):
    t = tree([1, -1, -1], [2, -1, -1], [0, 0, 0], [0, 0, 0], [True, False, False],
             [[0, 0], [1, 2], [3, 4]])
    m = model(ensemble([t, t], outputs=[-1, -1], leaf_dim=2), task=Task.MULTI_TARGET, n_outputs=2, base=[0.5, -0.5])
    out = run(m, [[-1, 0], [1, 0]], tmp_path, output="prediction")
    np.testing.assert_array_equal(out, F32([[2.5, 3.5], [6.5, 7.5]]))


def test_dart_weights_float32_product(tmp_path):
    leaf, w = F32(0.1234567), F32(0.3333333)
    m = model(ensemble([stump(0, 0.0, leaf, leaf), stump(0, 0.0, leaf, leaf)], weights=[w, 1.0], dart=True))
    expect = F32(F32(0) + F32(leaf * w)) + leaf
    np.testing.assert_array_equal(run(m, [[0, 0]], tmp_path), F32([expect]))


def test_linear_booster_sequential_float32(tmp_path):
    w = np.array([[0.1, -1.5], [2.25, 0.3], [1e-3, 7.0]], F32)
    bias, base = np.array([0.5, -0.25], F32), np.array([0.125, 0.0625], F32)
    lin = LinearBooster(w, bias)
    m = model(lin, task=Task.MULTI_TARGET, n_features=3, n_outputs=2, base=base)
    X = np.array([[1.1, -2.3, 3.7], [np.nan, 4.0, np.nan], [1e6, 1e-6, -3]], F32)
    expect = np.empty((3, 2), F32)
    for r in range(3):
        for g in range(2):
            s = F32(bias[g] + base[g])
            for j in range(3):
                if not np.isnan(X[r, j]):
                    s = F32(s + F32(X[r, j] * w[j, g]))
            expect[r, g] = s
    np.testing.assert_array_equal(run(m, X, tmp_path), expect)


@pytest.mark.parametrize("post, margin, pred", [
    (PostTransform.EXP, 0.5, np.exp(0.5)),
    (PostTransform.IDENTITY, 0.5, 0.5),
])
def test_regression_transforms(tmp_path, post, margin, pred):
    m = model(ensemble([stump(0, 0.0, margin, margin)]), post=post)
    np.testing.assert_allclose(run(m, [[0, 0]], tmp_path, output="prediction"), [pred], rtol=1e-6)


def test_binary_sigmoid_and_hinge(tmp_path):
    m = model(ensemble([stump(0, 0.0, -2.0, 3.0)]), task=Task.BINARY, n_classes=2, base=0.5,
              post=PostTransform.SIGMOID)
    X = [[-1, 0], [1, 0]]
    p = 1 / (1 + np.exp(-np.array([-1.5, 3.5])))
    np.testing.assert_allclose(run(m, X, tmp_path, output="prediction"), p, atol=1e-7)
    np.testing.assert_allclose(run(m, X, tmp_path, output="probabilities"), np.c_[1 - p, p], atol=1e-7)
    np.testing.assert_array_equal(run(m, X, tmp_path, output="label"), [0, 1])
    hinge = model(m.booster, task=Task.BINARY, n_classes=2, post=PostTransform.HINGE)
    np.testing.assert_array_equal(run(hinge, X, tmp_path, output="prediction"), F32([0, 1]))


def test_metadata_props(tmp_path):
    m = model(ensemble([stump(0, 0.0, 1.0, 2.0)]), features=(Feature("age"), Feature("c", FeatureType.CATEGORICAL, ("a", "b"))))
    props = {p.key: p.value for p in build_onnx(m).metadata_props}
    assert props["modelport.task"] == "regression" and props["modelport.post_transform"] == "identity"
    assert '"categories": ["a", "b"]' in props["modelport.features"]
    for key in ("objective", "source_format", "framework_version", "source_sha256", "modelport_version"):
        assert "modelport." + key in props


@pytest.mark.parametrize("bad, match", [
    (lambda: model(ensemble([stump(0, 0.0, 1, 2)], invalid_left=False)), "not in set"),
    (lambda: model(ensemble([stump(0, 0.0, 1, 2)]), task=Task.MULTICLASS, n_classes=2, post=PostTransform.SIGMOID), "multiclass"),
    (lambda: model(ensemble([stump(0, 0.0, 1, 2)]), post=PostTransform.SOFTMAX), "multiclass"),
    (lambda: model(ensemble([stump(0, 0.0, 1, 2)], outputs=[3])), "out of range"),
])
def test_unsupported_raises(bad, match, tmp_path):
    with pytest.raises(UnsupportedModelError, match=match):
        write_onnx(bad(), tmp_path / "m.onnx", WriteOptions())


def test_unknown_backend_and_onnxmltools_without_source(tmp_path):
    from modelport.converters.backends import BackendSource, get_backend
    from modelport.core.errors import ModelportError

    with pytest.raises(ModelportError, match="no backend 'nope'"):
        get_backend("onnx", "nope")
    be = get_backend("onnx", "onnxmltools")
    with pytest.raises(UnsupportedModelError, match="XGBoost files that modelport can read"):
        be.write(BackendSource(path=tmp_path / "m.json", framework="xgboost"), tmp_path / "m.onnx")


# -- random ensembles: ONNX margin == reference evaluator, bit for bit --------------------
hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
_POOL = [F32(v) for v in (-1.0, 0.0, 0.1, 0.5, 1.5, 2.0, 3.0)]
_EDGES = sorted({float(x) for v in _POOL for x in (v, np.nextafter(v, F32(9)), np.nextafter(v, F32(-9)))})
_F32 = st.floats(-8, 8, width=32, allow_nan=False)


def _random_tree(data, n_features, leaf_dim):
    left, right, feat, thr, dl, val, cats = [-1], [-1], [0], [0.0], [False], [[0.0] * leaf_dim], {}
    frontier = [0]
    while frontier and len(left) < 15 and data.draw(st.booleans()):
        i = frontier.pop(data.draw(st.integers(0, len(frontier) - 1)))
        left[i], right[i] = len(left), len(left) + 1
        feat[i] = data.draw(st.integers(0, n_features - 1))
        dl[i] = data.draw(st.booleans())
        if data.draw(st.integers(0, 3)) == 0:
            cats[i] = sorted(data.draw(st.sets(st.integers(0, 5), min_size=1, max_size=4)))
        else:
            thr[i] = float(data.draw(st.sampled_from(_POOL)))
        for _ in range(2):
            left.append(-1), right.append(-1), feat.append(0), thr.append(0.0), dl.append(False)
            val.append([data.draw(_F32) for _ in range(leaf_dim)])
            frontier.append(len(left) - 1)
    return tree(left, right, feat, thr, dl, val, cats)


@hypothesis.settings(max_examples=100, deadline=None,
                     suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(data=st.data())
def test_random_ensembles_match_reference_evaluator(data, tmp_path):
    from modelport.core.ir.evaluate import predict_margin

    n_features = data.draw(st.integers(1, 3))
    n_outputs = data.draw(st.integers(1, 3))
    vector = n_outputs > 1 and data.draw(st.booleans())
    leaf_dim = n_outputs if vector else 1
    n_trees = data.draw(st.integers(1, 6))
    trees = [_random_tree(data, n_features, leaf_dim) for _ in range(n_trees)]
    outputs = [-1] * n_trees if vector else [data.draw(st.integers(0, n_outputs - 1)) for _ in range(n_trees)]
    dart = data.draw(st.booleans())
    weights = [data.draw(st.floats(0, 2, width=32)) for _ in range(n_trees)]
    missing = data.draw(st.sampled_from([float("nan"), -1.0]))
    m = model(ensemble(trees, outputs=outputs, weights=weights, leaf_dim=leaf_dim, dart=dart),
              task=Task.MULTI_TARGET if n_outputs > 1 else Task.REGRESSION, n_features=n_features,
              n_outputs=n_outputs, base=[data.draw(_F32) for _ in range(n_outputs)], missing=missing)
    values = _EDGES + [np.nan, 1.7, -0.5, 4.0, 5.0, 2.0**24, 1e10]
    X = np.array(data.draw(st.lists(st.lists(st.sampled_from(values), min_size=n_features, max_size=n_features),
                                    min_size=1, max_size=25)), dtype=np.float32)
    got = run(m, X, tmp_path).reshape(len(X), -1)
    np.testing.assert_array_equal(got, predict_margin(m, X))


def _identity_margin_model(task, post, n_outputs=1, n_classes=0):
    """A linear model whose margin is its input: margin[:, g] = 0 + x[:, g] * 1 (+ x[:, j] * 0)."""
    lin = LinearBooster(np.eye(n_outputs, dtype=F32), np.zeros(n_outputs, F32))
    return model(lin, task=task, n_features=n_outputs, n_outputs=n_outputs, n_classes=n_classes, post=post)


def _exp64_f32(x):
    with np.errstate(over="ignore"):
        return np.exp(np.asarray(x, dtype=F32).astype(np.float64)).astype(F32)


_MARGINS = np.concatenate([
    np.random.default_rng(3).uniform(-30, 30, 3000),
    [0.0, 1e-8, -1.965736, 17.0, -17.0, 88.0, 88.8, -87.5, -103.9, -104.0, 100.0, -100.0],
]).astype(F32)


def test_transforms_are_xgboost_float32_formulas(tmp_path):
    """Sigmoid, exp and softmax equal XGBoost's float32 sequences (src/common/math.h) bit for
    bit, with a float64 exp rounded once (overflow to inf, underflow to subnormals included)."""
    one = F32(1)
    x = _MARGINS[:, None]
    sig = run(_identity_margin_model(Task.BINARY, PostTransform.SIGMOID, n_classes=2), x, tmp_path,
              output="prediction")
    np.testing.assert_array_equal(sig, one / (one + _exp64_f32(-_MARGINS)))
    ex = run(_identity_margin_model(Task.REGRESSION, PostTransform.EXP), x, tmp_path, output="prediction")
    np.testing.assert_array_equal(ex, _exp64_f32(_MARGINS))
    m = _MARGINS.reshape(-1, 3)
    e = _exp64_f32(m - m.max(axis=1, keepdims=True))
    wsum = np.zeros(len(m))
    for k in range(3):  # XGBoost: double wsum, added class by class
        wsum += e[:, k]
    soft = run(_identity_margin_model(Task.MULTICLASS, PostTransform.SOFTMAX, 3, 3), m, tmp_path,
               output="probabilities")
    np.testing.assert_array_equal(soft, e / wsum.astype(F32)[:, None])


@pytest.mark.parametrize("task, post, n", [
    (Task.BINARY, PostTransform.SIGMOID, 1), (Task.MULTICLASS, PostTransform.SOFTMAX, 3),
    (Task.REGRESSION, PostTransform.EXP, 1),
])
def test_optimizer_does_not_fuse_approximate_kernels(tmp_path, task, post, n):
    """onnxruntime's MLAS Sigmoid/Softmax are approximations (up to 47,542 ULP off XGBoost on
    the case zoo): the session's optimized graph (ORT_ENABLE_ALL, as modelport.runtimes loads
    it) must keep the plain ops and the float64 Exp."""
    import onnxruntime as ort

    path, opt = tmp_path / "m.onnx", tmp_path / "optimized.onnx"
    write_onnx(_identity_margin_model(task, post, n, n if task is not Task.REGRESSION else 0), path, WriteOptions())
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath = str(opt)
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    g = onnx.load(str(opt)).graph
    ops = {node.op_type for node in g.node}
    assert not ops & {"Sigmoid", "Softmax", "LogSoftmax", "FastGelu", "QuickGelu"}, ops
    producer = {out: node for node in g.node for out in node.output}
    exps = [node for node in g.node if node.op_type == "Exp"]
    assert exps
    for node in exps:
        cast = producer[node.input[0]]
        assert cast.op_type == "Cast" and onnx.helper.get_attribute_value(cast.attribute[0]) == onnx.TensorProto.DOUBLE
