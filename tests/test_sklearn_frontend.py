"""The scikit-learn frontend against scikit-learn itself: margins bit for bit (float64 sums
rounded once), links within SKLEARN_LINK, labels, safe loading (pickle needs trust; skops'
trusted-types check), and the float32 threshold rule proven on every float32 neighbour."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from modelport.converters.frontends import LoadOptions, load_model
from modelport.converters.frontends._sk_trees import float32_floor
from modelport.core.errors import UnsupportedModelError
from modelport.core.ir import evaluate
from modelport.core.ir.model import PostTransform, Task
from modelport.core.ir.validate import validate
from modelport.core.tolerances import Tolerance

pytest.importorskip("sklearn")
sio = pytest.importorskip("skops.io")

from cases import sklearn as skcases  # noqa: E402

#: scikit-learn applies its links (expit, softmax, exp) in float64 to the float64 raw score;
#: the IR's margin is that score rounded to float32 (|dx| <= 2**-24 |x|), and its link runs in
#: float32.  The rounding moves a link's output by a RELATIVE amount that grows with |x|:
#: exp: 2**-24 |x|; sigmoid: (1 - p) 2**-24 |x|; softmax: 2**-24 (|x_k| + |x_max|) for the
#: numerator and as much again for the sum, so <= 2**-24 * 4 max|x| in all; plus at most 4
#: float32 roundings (exp, sum, division).  :func:`link_bound` is that bound per element; the
#: measured worst case over the sklearn cases is 7 ULP (softmax, margins up to ~5).
SKLEARN_LINK = Tolerance("sklearn-link", 0.0, 2.0 ** -24, 0, "the margin's float32 rounding carried through the link, "
                         "plus 4 float32 roundings: rtol = 2**-24 * (4 max|x| + 4) per row (link_bound)",
                         "derived from |dx| <= 2**-24 |x|; measured max 7 ULP (softmax), 2 (sigmoid), 1 (exp)")


def link_bound(post: PostTransform, margin: np.ndarray) -> np.ndarray:
    """Per-row relative bound of :data:`SKLEARN_LINK` for margins ``[n, k]``."""
    m = np.abs(np.asarray(margin, dtype=np.float64)).max(axis=1, keepdims=True)
    scale = 4.0 if post is PostTransform.SOFTMAX else 1.0
    return SKLEARN_LINK.rtol * (scale * m + 4.0)


#: A binary classifier's class-0 probability is ``1 - p`` in float32 (classifier_outputs);
#: scikit-learn's is its own float64 value rounded: the float32 subtraction rounds to 2**-25
#: near 1 plus p's own error.  Measured max 8.4e-8 (GradientBoosting), relative error larger
#: on small values (23 ULP at 0.06), so the bound is absolute.
SKLEARN_CLASS0 = Tolerance("sklearn-class0", 2.0 ** -23, 0.0, 0, "binary class 0 is 1 - p in float32",
                           "1 - p rounds within 2**-25 near 1; p within a few ULP below 1: measured max 8.4e-8")


def _model(name):
    est, path = skcases.trained(name)
    return est, validate(load_model(path))


@pytest.mark.parametrize("name", skcases.NAMES)
def test_margins_bit_equal_to_sklearn(name):
    """The IR margin is scikit-learn's float64 raw score rounded once to float32, bit for bit,
    on the case's trap rows (thresholds, float32 neighbours, NaN, categories) and random rows."""
    _est, model = _model(name)
    X = skcases.rows(name)
    got = evaluate.predict_margin(model, X)
    want = skcases.framework_margin(name, X)
    assert got.shape == want.shape
    assert np.array_equal(got, want, equal_nan=True), f"{int((got != want).sum())} margins differ"


@pytest.mark.parametrize("name", skcases.NAMES)
def test_predict_proba_and_labels(name):
    est, model = _model(name)
    X = skcases.rows(name)
    margin = evaluate.predict_margin(model, X)
    if model.task is Task.REGRESSION:
        want = est.predict(X)
        got = evaluate.predict(model, X)
        if model.post_transform is PostTransform.IDENTITY:
            assert np.array_equal(got, want.astype(np.float32))
        else:
            assert (np.abs(got - want) / want <= link_bound(model.post_transform, margin)[:, 0]).all()
        return
    outs = evaluate.classifier_outputs(model, margin)
    got, proba = outs["probabilities"], est.predict_proba(X)
    linked = [1] if model.task is Task.BINARY else list(range(proba.shape[1]))
    if model.post_transform is PostTransform.IDENTITY:
        # Averaged leaf proportions are the margins themselves: exact.
        assert np.array_equal(got[:, linked], proba[:, linked].astype(np.float32))
    else:
        err = np.abs(got[:, linked] - proba[:, linked]) / proba[:, linked]
        assert (err <= link_bound(model.post_transform, margin)).all()
    if model.task is Task.BINARY:
        assert np.abs(got[:, 0] - proba[:, 0]).max() <= SKLEARN_CLASS0.atol
    labels = est.classes_[outs["label"]]
    # Measured: no tie on these rows (a float64 0.5 tie may round either way: docs/sklearn.md).
    assert np.array_equal(labels, est.predict(X))
    assert model.output_names == ((str(est.classes_[1]),) if len(est.classes_) == 2
                                  else tuple(str(c) for c in est.classes_))


def test_float32_floor_is_the_exact_rule():
    """``x <= t`` (float64 t) equals ``x <= float32_floor(t)`` for float32 x, checked on t's
    float32 neighbours for thresholds on, between and beyond float32 values."""
    rng = np.random.default_rng(0)
    t = np.concatenate([rng.normal(size=2000) * 10.0 ** rng.integers(-30, 30, 2000),
                        np.float32(rng.normal(size=200)).astype(np.float64), [0.0, -0.0, 1e-320, 3.5e38, -3.5e38, np.inf]])
    f = float32_floor(t)
    assert (f.astype(np.float64) <= t).all()
    with np.errstate(over="ignore"):
        near = t.astype(np.float32)
    for x in (near, np.nextafter(near, np.float32(np.inf)), np.nextafter(near, np.float32(-np.inf))):
        with np.errstate(invalid="ignore"):
            assert np.array_equal(x.astype(np.float64) <= t, x <= f)


def test_float64_rows_round_across_a_threshold():
    """Where a float64 threshold rounds UP to float32, the float32 value just above it goes
    right in scikit-learn (``x <= t`` is false) although it equals the nearest-rounded
    threshold, and a float64 value just above the threshold that rounds down goes left: the
    IR (float32 floor of each threshold) agrees with scikit-learn on every such row."""
    est, model = _model("decision_tree_regression")
    t = est.tree_
    nodes = [i for i in range(t.node_count) if t.feature[i] >= 0
             and np.float64(np.float32(t.threshold[i])) > t.threshold[i]]
    assert len(nodes) >= 5
    base = skcases.rows("decision_tree_regression")[-1]
    rows = []
    for i in nodes:
        thr = t.threshold[i]
        for x in (np.float64(np.float32(thr)), np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf)):
            r = base.copy()
            r[t.feature[i]] = x
            rows.append(r)
    rows = np.array(rows)
    assert np.array_equal(evaluate.predict(model, rows), est.predict(rows).astype(np.float32))
    # the IR's thresholds are not the nearest float32 but the one below
    ir_thr = model.booster.trees[0].threshold[nodes]
    assert (ir_thr.astype(np.float64) < t.threshold[nodes]).all()


def test_pickle_needs_trust(tmp_path):
    est, _ = skcases.trained("decision_tree_regression")
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(est))
    with pytest.raises(UnsupportedModelError, match="unpickling runs code from the file: pass --trust-pickle"):
        load_model(path)
    model = load_model(path, options=LoadOptions(trust_pickle=True))
    assert model.provenance.source_format == "sklearn-pickle"


def test_skops_refuses_untrusted_types(tmp_path):
    """A skops file holding a type neither skops nor modelport trusts is refused by name
    (building it could run code), and accepted only with trust_pickle."""
    from sklearn.preprocessing import FunctionTransformer

    est, _ = skcases.trained("decision_tree_regression")
    est = pickle.loads(pickle.dumps(est))  # noqa: S301 - the test's own object
    est.hostile_ = FunctionTransformer(func=np.linalg.svd)
    path = tmp_path / "m.skops"
    sio.dump(est, path)
    with pytest.raises(UnsupportedModelError, match="numpy.linalg.*svd.*--trust-pickle"):
        load_model(path)
    assert load_model(path, options=LoadOptions(trust_pickle=True)).n_features == skcases._N_FEATURES


def test_unsupported_estimators_refused_in_one_line(tmp_path):
    from sklearn.neighbors import KNeighborsRegressor

    X = skcases._data(100, 0, nan=False)
    path = tmp_path / "knn.pkl"
    path.write_bytes(pickle.dumps(KNeighborsRegressor(n_neighbors=3).fit(X, X[:, 0])))
    with pytest.raises(UnsupportedModelError, match="KNeighborsRegressor is not supported") as info:
        load_model(path, options=LoadOptions(trust_pickle=True))
    assert "\n" not in str(info.value)


def _bits32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).astype(np.float32).reshape(-1).view(np.int32)


def test_isolation_forest_bit_equal_to_sklearn():
    """IsolationForest: the float64 path-length sum (the margin before rounding) and the
    float64 decision_function are scikit-learn's bit for bit, so the IR's float32 margin and
    prediction are too, and ``prediction >= 0`` is scikit-learn's predict, on threshold rows,
    their float32 neighbours, NaN cells and ordinary rows."""
    from modelport.core.ir import _isolation

    est, path = skcases.trained_isolation()
    model = validate(load_model(path))
    assert model.post_transform is PostTransform.ISOLATION and model.task is Task.REGRESSION
    assert est._max_features != est.n_features_in_  # the per-tree column subsets are exercised
    X = skcases.isolation_rows()
    assert np.isnan(X).any()
    depths = evaluate._wide_sum(model, model.booster, evaluate._booster_input(model, X))
    want = skcases.isolation_depths(X)
    assert np.array_equal(depths.view(np.int64), want.view(np.int64))
    decision = _isolation.isolation_decision(model, depths)[:, 0]
    assert np.array_equal(decision.view(np.int64), est.decision_function(X).view(np.int64))
    outs = evaluate.outputs(model, X)
    assert np.array_equal(_bits32(outs["margin"]), _bits32(want))
    assert np.array_equal(_bits32(outs["prediction"]), _bits32(est.decision_function(X)))
    assert np.array_equal(_bits32(evaluate.predict(model, X)), _bits32(est.decision_function(X)))
    labels = np.where(outs["prediction"][:, 0] >= 0, 1, -1)
    assert np.array_equal(labels, est.predict(X)) and (labels == -1).any() and (labels == 1).any()


@pytest.mark.parametrize("kw", [
    {"max_samples": 1}, {"max_samples": 2}, {"max_samples": 3}, {"contamination": 0.2},
    {"max_features": 0.4, "max_samples": 0.5, "bootstrap": True}, {"max_features": 5},
])
def test_isolation_forest_edge_settings(kw):
    """The n_samples <= 1 and == 2 cases of the average path length (c = 0: every score
    is 2**-1), tiny trees, fitted offsets, bootstrap and column subsets: bit for bit."""
    import warnings

    from sklearn.ensemble import IsolationForest

    from modelport.converters.frontends.sklearn import estimator_to_ir
    from modelport.core.ir import serialize
    from modelport.core.ir.model import Provenance

    X = skcases._data(300, 3, nan=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = IsolationForest(n_estimators=7, random_state=4, **kw).fit(X)
    model = serialize.loads(serialize.dumps(estimator_to_ir(
        est, provenance=Provenance("sklearn-pickle", "scikit-learn", "", "", "IsolationForest"))))
    rows = np.concatenate([skcases._data(200, 9, nan=True), 5 * X[:50]])
    pred = evaluate.predict(model, rows)
    assert np.array_equal(_bits32(pred), _bits32(est.decision_function(rows)))
    assert np.array_equal(np.where(pred >= 0, 1, -1), est.predict(rows))


def test_isolation_constants_validated_and_serialized():
    """The post-transform's constants travel in the IR JSON (version 2) and are checked:
    missing, non-finite or attached to another post-transform are refused in one line."""
    import dataclasses

    from modelport.core.errors import ModelFormatError
    from modelport.core.ir import serialize
    from modelport.core.ir.model import constructs

    _est, path = skcases.trained_isolation()
    model = load_model(path)
    assert constructs(model) == {"isolation-forest"}
    text = serialize.dumps(model)
    assert '"ir_version": 2' in text and '"post_constants"' in text
    again = serialize.loads(text)
    assert again.post_constants == model.post_constants and again.post_constants[1] == _est.offset_
    for bad in [(), (1.0,), (float("nan"), 0.0), (-1.0, 0.0)]:
        with pytest.raises(ModelFormatError, match="post_constants"):
            validate(dataclasses.replace(model, post_constants=bad))
    with pytest.raises(ModelFormatError, match="takes no constants"):
        validate(dataclasses.replace(model, post_transform=PostTransform.IDENTITY))
    with pytest.raises(ModelFormatError, match="regression model with one output"):
        validate(dataclasses.replace(model, task=Task.RANKING))
    with pytest.raises(ValueError, match="constants"):
        evaluate.transform(PostTransform.ISOLATION, np.zeros((1, 1), np.float32))


def test_isolation_forest_refused_by_targets_without_the_construct(tmp_path):
    """A target that does not declare isolation-forest refuses in one line, before writing."""
    from modelport.converters.targets import WriteOptions, all_targets

    _est, path = skcases.trained_isolation()
    model = load_model(path)
    refusing = [t for _n, t in all_targets().items() if "isolation-forest" not in t.supports]
    assert refusing and "isolation-forest" in all_targets().get("ir").supports
    for target in refusing:
        out = tmp_path / f"m{target.extension}"
        with pytest.raises(UnsupportedModelError, match="cannot express isolation-forest") as info:
            target.write(model, out, WriteOptions())
        assert "\n" not in str(info.value) and not out.exists()


def test_skl2onnx_refused_on_infinite_threshold_before_it_runs():
    """skl2onnx's find_switch_point loops forever on scikit-learn's +inf threshold: refused
    up front, and every third-party converter runs under a time limit."""
    from modelport.converters.backends._onnxmltools_frameworks import refuse_infinite_thresholds
    from modelport.converters.backends.onnxmltools import run_bounded

    est, _ = skcases.trained("random_forest_binary_nan")
    assert any(np.isinf(m.tree_.threshold).any() for m in est.estimators_)
    with pytest.raises(UnsupportedModelError, match="infinite threshold"):
        refuse_infinite_thresholds(est)

    import time

    with pytest.raises(UnsupportedModelError, match="did not finish within 0.5 s"):
        run_bounded(time.sleep, (60,), what="a converter", seconds=0.5)


def test_skops_sniffed_by_content(tmp_path):
    """A skops file is recognised without its .skops name; another zip is not."""
    import io
    import zipfile

    from modelport.converters.frontends.sklearn import sniff_skops

    _est, path = skcases.trained("decision_tree_regression")
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(path.read_bytes())
    assert sniff_skops(renamed.read_bytes()[:4096], renamed.name)
    assert load_model(renamed).provenance.source_format == "sklearn-skops"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", "x")
    assert not sniff_skops(buf.getvalue(), "a.docx")


def test_docs_list_every_skl2onnx_failure():
    """docs/sklearn.md's comparison table names every sklearn case and every measured
    skl2onnx failure (a new case or an upstream fix must update the page)."""
    from pathlib import Path

    from cases import KNOWN_BACKEND_FAILURES

    text = (Path(__file__).resolve().parents[1] / "docs" / "sklearn.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ") and "_" in line}
    for name in skcases.NAMES:
        assert name in rows, name
        failing = ("onnxmltools", f"sklearn/{name}") in KNOWN_BACKEND_FAILURES
        assert failing == ("refused" in rows[name].split("|")[3] or "fails" in rows[name].split("|")[3]), name


@pytest.mark.parametrize("kw", [{}, {"n_estimators": 1}, {"max_samples": 1}, {"max_features": 2}])
def test_isolation_forest_onnx_bit_equal(kw, tmp_path):
    """The ONNX graph (leaf ids, then the evaluator's double ops in its order) gives the
    evaluator's margin and prediction bit for bit, hence scikit-learn's decision_function."""
    pytest.importorskip("onnxruntime")
    import warnings

    from sklearn.ensemble import IsolationForest

    import modelport

    if kw:
        X = skcases._data(300, 3, nan=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = IsolationForest(random_state=5, **{"n_estimators": 9, **kw}).fit(X)
        path = tmp_path / "iso.skops"
        sio.dump(est, path)
        rows = np.concatenate([skcases._data(200, 9, nan=True), 5 * X[:50]])
    else:
        est, path = skcases.trained_isolation()
        rows = skcases.isolation_rows()
    res = modelport.convert(path, to="onnx", out=tmp_path / "m.onnx", data=rows)
    assert res.verified and res.report.passed
    rt = modelport.runtimes.load(res.path)
    model = load_model(path)
    outs = evaluate.outputs(model, rows)
    assert np.array_equal(_bits32(rt.predict(rows)), _bits32(outs["prediction"]))
    assert np.array_equal(_bits32(rt.predict(rows, output="margin")), _bits32(outs["margin"]))
    assert np.array_equal(_bits32(rt.predict(rows)), _bits32(est.decision_function(rows)))


def test_isolation_forest_after_a_scaler(tmp_path):
    """A Pipeline ending in an IsolationForest: the float64 StandardScaler step, then the
    forest's float32 inputs, bit for bit through the evaluator."""
    from sklearn.ensemble import IsolationForest
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = skcases._data(300, 4, nan=False) * [1.0, 10.0, 1.0, 100.0, 1e-3]
    pipe = make_pipeline(StandardScaler(), IsolationForest(n_estimators=8, random_state=0)).fit(X)
    path = tmp_path / "pipe.skops"
    sio.dump(pipe, path)
    model = load_model(path)
    assert model.preprocessing and model.post_transform is PostTransform.ISOLATION
    rows = np.concatenate([skcases._data(200, 8, nan=False), X[:50]])
    assert np.array_equal(_bits32(evaluate.predict(model, rows)), _bits32(pipe.decision_function(rows)))
