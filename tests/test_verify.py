"""Parity reports, probe sets, and convert()'s verify-then-rename contract."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import ir_samples as samples
import modelport
import xgb_cases
from modelport._verify import EXACT, LABELS, PROBABILITY, compare, ulp_distance
from modelport.core.ir import serialize
from modelport.core.ir.model import PostTransform, Task
from modelport.core.ir.probe import probe_set, split_values
from modelport.core.errors import InputDataError, ModelFormatError, VerificationError

FAST_CASES = xgb_cases.case_params(lambda c: not c.slow)


# --------------------------------------------------------------------------- compare()


def test_ulp_distance():
    one = np.float32(1.0)
    up = np.nextafter(one, np.float32(2))
    assert ulp_distance(np.array([one]), np.array([up])).tolist() == [1]
    assert ulp_distance(np.array([-0.0], np.float32), np.array([0.0], np.float32)).tolist() == [0]
    tiny = np.float32(np.finfo(np.float32).smallest_subnormal)
    assert ulp_distance(np.array([-tiny]), np.array([tiny])).tolist() == [2]  # across zero
    assert ulp_distance(np.array([np.nan], np.float32), np.array([1.0], np.float32)).tolist() == [-1]


def test_compare_exact_and_listing():
    ref = np.arange(50, dtype=np.float32)
    cand = ref.copy()
    cand[[3, 40]] = np.nextafter(cand[[3, 40]], np.float32(np.inf))
    r = compare(ref, cand, task=Task.REGRESSION, tolerance=EXACT, max_listed=1)
    assert not r.passed and r.n_differing == 2 and r.differing_rows == (3,) and r.max_ulp_diff == 1
    assert r.rows[3]["reference"] == [3.0]
    json.dumps(r.to_dict())
    ok = compare(ref, cand, task=Task.REGRESSION, tolerance=dataclasses.replace(EXACT, max_ulp=1))
    assert ok.passed and ok.max_abs_diff > 0


def test_compare_nan_handling():
    ref = np.array([np.nan, 1.0, np.inf], np.float32)
    assert compare(ref, ref.copy(), task=Task.REGRESSION).passed
    r = compare(ref, np.array([0.0, 1.0, np.inf], np.float32), task=Task.REGRESSION, tolerance=PROBABILITY)
    assert not r.passed and r.differing_rows == (0,) and r.max_abs_diff == float("inf") and r.max_ulp_diff == -1
    json.dumps(r.to_dict(), allow_nan=False)


def test_probability_tolerance_and_class_flips():
    ref = np.array([0.2, 0.5, 0.9], np.float32)
    near = ref + np.float32(5e-7)
    r = compare(ref, near, task=Task.BINARY, tolerance=PROBABILITY, post_transform=PostTransform.SIGMOID)
    assert r.passed is False and r.class_flips == 1 and r.differing_rows == (1,)  # 0.5 -> 0.5000005 flips
    far = ref + np.float32(1e-4)
    assert compare(ref, far, task=Task.REGRESSION, tolerance=PROBABILITY).n_differing == 3
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]], np.float32)
    r = compare(probs, probs[:, ::-1], task=Task.MULTICLASS, tolerance=PROBABILITY)
    assert r.class_flips == 2
    labels = np.array([0, 1, 2], np.float32)
    assert compare(labels, np.array([0, 2, 2], np.float32), task=Task.MULTICLASS, tolerance=LABELS).class_flips == 1


def test_compare_shape_mismatch_raises():
    with pytest.raises(VerificationError, match="shape"):
        compare(np.zeros((4, 3), np.float32), np.zeros(4, np.float32), task=Task.MULTICLASS)


# --------------------------------------------------------------------------- probe set


@pytest.mark.parametrize("name", sorted(samples.ALL))
def test_probe_set_hits_every_edge(name):
    model = samples.ALL[name]()
    X = probe_set(model, n_random=32, extra=np.zeros((2, model.n_features)))
    assert X.dtype == np.float32 and X.shape[1] == model.n_features
    splits = split_values(model)
    for f, thr in enumerate(splits.thresholds):
        col = X[:, f]
        for t in thr.astype(np.float32):
            for v in (t, np.nextafter(t, np.float32(np.inf)), np.nextafter(t, np.float32(-np.inf))):
                assert (col == v).any(), (f, v)
        assert np.isnan(col).any()
    for f, cats in enumerate(splits.categories):
        if not cats.size:
            continue
        assert set(cats.tolist()) <= set(X[:, f].tolist())
        assert (X[:, f] == cats.max() + 1).any() and (X[:, f] < 0).any()
    if not np.isnan(model.missing):
        assert (X == np.float32(model.missing)).any()
    assert (X[-2:] == 0).all()  # extra rows last
    assert np.array_equal(X, probe_set(model, n_random=32, extra=np.zeros((2, model.n_features))), equal_nan=True)


def test_probe_set_is_bounded():
    from modelport.core.ir.probe import ProbeOptions

    model = samples.deep_chain(5_000)
    X = probe_set(model, options=ProbeOptions(n_random=10, max_edge_rows=1_000))
    assert X.shape[0] < 2_100
    with pytest.raises(InputDataError):
        probe_set(model, extra=np.zeros((1, 3)))


# --------------------------------------------------------------------------- real models


@pytest.mark.parametrize("name", FAST_CASES)
def test_ir_round_trip_verifies_exactly_on_every_case(name, xgb_trained, tmp_path):
    case = xgb_trained(name)
    res = modelport.convert(case.json_path, to="ir", out=tmp_path / "m.ir.json")
    assert res.verified and res.report.passed and res.report.margin.passed
    assert res.report.tolerance in (EXACT, LABELS) and res.report.margin.tolerance is EXACT
    assert res.report.max_abs_diff == 0 and res.report.margin.max_abs_diff == 0
    assert modelport.verify(case.json_path, res.path, data=case.X_probe).passed


def test_tampered_artifact_fails_with_rows(xgb_trained, tmp_path):
    case = xgb_trained("binary_logistic")
    path = modelport.convert(case.json_path, to="ir", out=tmp_path).path
    doc = json.loads(path.read_text())
    tree = doc["booster"]["trees"][0]
    leaf = tree["left"].index(-1)
    tree["value"][leaf] += 0.25
    path.write_text(json.dumps(doc))
    report = modelport.verify(case.json_path, path)
    assert not report.passed and report.n_differing > 0 and report.margin.max_abs_diff == pytest.approx(0.25, abs=1e-6)
    assert report.differing_rows and report.differing_rows == tuple(sorted(report.differing_rows))


def test_failed_verification_keeps_only_unverified(tmp_path):
    from modelport.converters.targets import TARGETS, all_targets

    all_targets()
    src = serialize.save(samples.binary(), tmp_path / "src.ir.json")
    ir_target = TARGETS.get("ir")

    def bad_write(model, out, options):  # writes a model whose leaves are all off by 1
        ens = model.booster
        trees = tuple(dataclasses.replace(t, value=t.value + np.float32(1)) for t in ens.trees)
        serialize.save(dataclasses.replace(model, booster=dataclasses.replace(ens, trees=trees)), out)

    TARGETS.register("ir", dataclasses.replace(ir_target, write=bad_write), replace=True)
    try:
        with pytest.raises(VerificationError) as info:
            modelport.convert(src, to="ir", out=tmp_path / "out.ir.json")
    finally:
        TARGETS.register("ir", ir_target, replace=True)
    assert info.value.report.passed is False
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["out.ir.json.unverified", "src.ir.json"]


def test_write_error_leaves_nothing(tmp_path):
    from modelport.converters.targets import TARGETS, all_targets

    all_targets()
    src = serialize.save(samples.regression(), tmp_path / "src.ir.json")
    ir_target = TARGETS.get("ir")

    def half_write(model, out, options):
        out.write_text("{")
        raise ModelFormatError("boom")

    TARGETS.register("ir", dataclasses.replace(ir_target, write=half_write), replace=True)
    try:
        with pytest.raises(ModelFormatError, match="boom"):
            modelport.convert(src, to="ir", out=tmp_path / "out.ir.json")
    finally:
        TARGETS.register("ir", ir_target, replace=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.ir.json"]


def test_convert_refuses_to_overwrite_input(tmp_path):
    src = serialize.save(samples.regression(), tmp_path / "m.ir.json")
    with pytest.raises(modelport.core.errors.ModelportError, match="overwrite the input"):
        modelport.convert(src, to="ir")


@pytest.mark.onnx
@pytest.mark.parametrize("name", ["binary_logistic", "multi_softmax", "categorical", "gblinear_regression"])
def test_onnx_convert_verifies(name, xgb_trained, tmp_path):
    pytest.importorskip("onnxruntime")
    case = xgb_trained(name)
    res = modelport.convert(case.json_path, to="onnx", out=tmp_path, data=case.X_probe)
    assert res.path.name == "model.onnx" and res.verified and res.report.passed
    assert res.report.margin is not None and res.report.margin.max_ulp_diff == 0


def test_data_rows_from_csv(tmp_path):
    from modelport._csv import read_rows

    names = ("a", "b", "c")
    (tmp_path / "plain.csv").write_text("1,2,3\n4,,6\n")
    assert np.array_equal(read_rows(tmp_path / "plain.csv", feature_names=names),
                          np.array([[1, 2, 3], [4, np.nan, 6]], np.float32), equal_nan=True)
    (tmp_path / "header.csv").write_text("c,a,b\n3,1,2\n")
    assert read_rows(tmp_path / "header.csv", feature_names=names).tolist() == [[1, 2, 3]]
    bad = {"text.csv": ("1,2,3\n1,x,3\n", r"line 2 column 2: 'x' is not a number"),
           "short.csv": ("1,2\n", "line 1: 2 columns, the model has 3 features"),
           "names.csv": ("a,b,z\n1,2,3\n", r"missing: c\) \(unknown: z\)"),
           "empty.csv": ("", "no rows")}
    for fname, (text, match) in bad.items():
        (tmp_path / fname).write_text(text)
        with pytest.raises(InputDataError, match=match):
            read_rows(tmp_path / fname, feature_names=names)


def test_our_onnx_links_are_held_to_zero_ulp_third_party_to_the_probability_tolerance(xgb_trained, tmp_path):
    """convert's verification holds files our ONNX target wrote to its documented link bound
    (0 ULP: the graph computes the evaluator's float32 formulas), and only third-party
    backends to the generic 1e-6 probability tolerance; 1 ULP off fails our bound."""
    pytest.importorskip("onnxruntime")
    from modelport._verify import PROBABILITY, compare, link_tolerance
    from modelport.core.ir.model import PostTransform, Task
    from modelport.converters.targets import all_targets

    onnx_target = all_targets().get("onnx")
    link = link_tolerance(onnx_target, "modelport")
    assert link is not None and link.max_ulp == 0 and link.atol == 0.0 and link.rtol == 0.0
    assert link_tolerance(onnx_target, "onnxmltools") is None
    for name in ("binary_logistic", "multi_softprob_parallel", "count_poisson"):
        res = modelport.convert(xgb_trained(name).json_path, to="onnx", out=tmp_path / f"{name}.onnx")
        assert res.verified and res.report.tolerance.name == "onnx-link", (name, res.report.tolerance)
    ref = np.array([0.25, 1e-6, 0.75], dtype=np.float32)
    off = np.nextafter(ref, np.float32(1))
    assert not compare(ref, off, task=Task.BINARY, tolerance=link, post_transform=PostTransform.SIGMOID).passed
    assert compare(ref, off, task=Task.BINARY, tolerance=PROBABILITY, post_transform=PostTransform.SIGMOID).passed
