"""``--backend sklearn2pmml`` (JPMML-XGBoost / JPMML-LightGBM on Java): registration, what it
writes, why its XGBoost margins differ (the base score added last, proven bit for bit), the
scikit-learn refusal, one-line Java errors, the missing-dependency errors, and the pmml
runtime's Targets rescaling that JPMML's documents need."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil

import numpy as np
import pytest

import modelport
from modelport import runtimes
from modelport.converters.backends import all_backends, backend_names
from modelport.core.errors import MissingDependencyError, ModelportError, UnsupportedModelError

_HAVE = shutil.which("javac") is not None and shutil.which("java") is not None and \
    importlib.util.find_spec("sklearn2pmml") is not None
needs_jpmml = pytest.mark.skipif(not _HAVE, reason="needs a JDK 11+ (javac, java) and the sklearn2pmml package "
                                                   "(pip install 'modelport[sklearn2pmml]')")


def test_registered_for_pmml():
    be = all_backends().get("pmml:sklearn2pmml")
    assert be.target == "pmml" and be.extra == "sklearn2pmml"
    assert set(be.frameworks) == {"xgboost", "lightgbm", "scikit-learn"}
    assert "sklearn2pmml" in backend_names("pmml")


def _convert(path, tmp_path, **kw):
    return modelport.convert(path, to="pmml", backend="sklearn2pmml", out=tmp_path / "out.pmml", **kw)


@needs_jpmml
def test_hinge_converts_and_verifies_with_metadata(xgb_trained, tmp_path):
    """binary:hinge has no base score to misplace: JPMML's PMML verifies at 0 ULP."""
    res = _convert(xgb_trained("binary_hinge").json_path, tmp_path)
    assert res.verified and res.report.passed and res.backend == "sklearn2pmml"
    rt = runtimes.load(res.path)
    meta = rt.signature.metadata
    assert meta["modelport.backend"] == "sklearn2pmml" and meta["modelport.jpmml_library"].startswith("JPMML-XGBoost ")
    assert json.loads(meta["modelport.pmml_margin_fields"]) == ["xgbValue"]
    text = res.path.read_text(encoding="utf-8")
    assert "<Application name=\"JPMML-XGBoost library\"" in text


@needs_jpmml
@pytest.mark.parametrize("name", ["reg_squarederror", "binary_logistic", "multi_softmax", "dart_binary"])
def test_xgboost_margins_are_the_base_last_sum(xgb_trained, tmp_path, name):
    """The measured failure is exactly JPMML's order: the float32 tree sum, then + base_score.
    Verification refuses it (0 ULP declared) and keeps it as .unverified; its margins equal
    the reference evaluator's with the base score moved last, bit for bit."""
    from modelport._api import VerificationError
    from modelport.core.ir import evaluate
    from modelport.core.ir.probe import probe_set
    from sklearn2pmml_known_failures import BASE_LAST_CASES

    tc = xgb_trained(name)
    with pytest.raises(VerificationError, match="pmml-margin"):
        _convert(tc.json_path, tmp_path)
    assert not (tmp_path / "out.pmml").exists()
    rt = runtimes.load(tmp_path / "out.pmml.unverified")
    model = modelport.load(tc.json_path)
    X = probe_set(model, n_random=256, seed=0, extra=tc.X_probe)
    got = np.asarray(rt.predict(X, output="margin"), np.float32).reshape(len(X), -1)
    ref = evaluate.predict_margin(model, X).reshape(len(X), -1)
    no_base = dataclasses.replace(model, base_score=np.zeros_like(np.asarray(model.base_score)))
    base_last = (evaluate.predict_margin(no_base, X).reshape(len(X), -1)
                 + np.asarray(model.base_score, np.float32)).astype(np.float32)
    np.testing.assert_array_equal(got, base_last)
    assert not np.array_equal(got, ref)
    assert f"xgboost/{name}" in BASE_LAST_CASES



@needs_jpmml
@pytest.mark.parametrize(("objective", "extra"), [("binary", {}), ("multiclass", {"num_class": 3})])
def test_lightgbm_with_missing_values_seen_verifies_exactly(tmp_path, objective, extra):
    """JPMML-LightGBM computes in double like LightGBM: numeric inputs whose missing values
    were seen in training verify at 0 difference against LightGBM's own predict."""
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    x0 = np.nan_to_num(X[:, 0])
    y = (x0 > 0).astype(float) if objective == "binary" else np.digitize(x0, [-0.5, 0.5]).astype(float)
    booster = lgb.train({"objective": objective, "num_leaves": 15, "verbose": -1, "seed": 1, "deterministic": True,
                         "num_threads": 1, **extra}, lgb.Dataset(X, y), 20)
    path = tmp_path / f"{objective}.txt"
    booster.save_model(str(path))
    res = _convert(path, tmp_path)
    assert res.report.passed and res.report.max_abs_diff == 0, res.report.summary()
    assert runtimes.load(res.path).signature.metadata["modelport.jpmml_library"].startswith("JPMML-LightGBM ")

@needs_jpmml
def test_jpmml_refusal_is_one_line(xgb_trained, tmp_path):
    with pytest.raises(UnsupportedModelError) as exc:
        _convert(xgb_trained("gblinear_regression").json_path, tmp_path)
    msg = str(exc.value)
    assert "\n" not in msg and "JPMML-XGBoost" in msg and "Booster type 'gblinear' is not supported" in msg
    assert not any(tmp_path.iterdir())


@needs_jpmml
def test_ubj_file_converts_like_json(xgb_trained, tmp_path):
    from modelport._api import VerificationError

    with pytest.raises(VerificationError):  # the same base-last difference as the JSON file
        _convert(xgb_trained("reg_squarederror").ubj_path, tmp_path)
    a = runtimes.load(tmp_path / "out.pmml.unverified")
    assert a.signature.metadata["modelport.source_format"] == "xgboost-ubj"


@needs_jpmml
def test_hostile_feature_names_travel_intact(tmp_path):
    xgb = pytest.importorskip("xgboost")
    names = ['q"uote', "back\\slash", "*/ ${x} `t`", "ünï ©", "a&b>c'd"]  # xgboost refuses [, ] and <
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, len(names)))
    booster = xgb.train({"objective": "binary:hinge", "max_depth": 3, "seed": 1},
                        xgb.DMatrix(X, (X[:, 0] > 0).astype(float), feature_names=names), num_boost_round=3)
    path = tmp_path / "hostile.json"
    booster.save_model(str(path))
    res = _convert(path, tmp_path)
    assert res.report.passed
    assert [f.name for f in runtimes.load(res.path).signature.features] == names


@needs_jpmml
def test_java_timeout_is_one_line(xgb_trained, tmp_path):
    from modelport.converters.backends._jpmml import run_jpmml

    with pytest.raises(ModelportError, match=r"timed out after 0 s") as exc:
        run_jpmml("xgboost", xgb_trained("binary_hinge").json_path, tmp_path / "x.pmml", library="JPMML-XGBoost",
                  features=[(f"f{i}", "q") for i in range(6)], timeout=0.01)
    assert "\n" not in str(exc.value)


def _sklearn_model(tmp_path):
    pytest.importorskip("sklearn")
    skops_io = pytest.importorskip("skops.io")
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    est = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, X[:, 0])
    path = tmp_path / "tree.skops"
    skops_io.dump(est, path)
    return path


def test_scikit_learn_is_refused_naming_the_supported_range(tmp_path, monkeypatch):
    """JPMML-SkLearn (sklearn2pmml 0.133) refuses scikit-learn newer than 1.9.0; the refusal
    is one line naming the range, and nothing is written."""
    import sklearn

    from modelport.converters.backends import sklearn2pmml as be

    path = _sklearn_model(tmp_path)
    lo, hi = be.SKLEARN_RANGE
    if be._version_tuple(lo) <= be._version_tuple(sklearn.__version__) <= be._version_tuple(hi):
        match = "does not run sklearn2pmml's own converter"
    else:
        match = rf"scikit-learn {sklearn.__version__} model: .* supports scikit-learn {lo} to {hi} only"
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsupportedModelError, match=match) as exc:
        modelport.convert(path, to="pmml", backend="sklearn2pmml", out=out / "m.pmml")
    assert "\n" not in str(exc.value)
    assert not any(out.iterdir())


def test_scikit_learn_in_range_is_refused_for_telemetry(tmp_path, monkeypatch):
    """Inside the supported range the refusal names the other reason: sklearn2pmml's own
    converter reports to telemetry.jpmml.org and expires, and modelport does not run it."""
    from modelport.converters.backends import BackendSource
    from modelport.converters.backends import sklearn2pmml as be

    fm = type("FM", (), {"framework_version": "1.5.2"})()
    with pytest.raises(UnsupportedModelError, match="telemetry.jpmml.org"):
        be.write_sklearn2pmml(BackendSource(path=tmp_path / "m.pkl", framework="scikit-learn", framework_model=fm),
                              tmp_path / "out.pmml")


def test_missing_sklearn2pmml_package_is_exit_4(xgb_trained, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "sklearn2pmml" else real(n, *a))
    with pytest.raises(MissingDependencyError, match=r"pip install 'modelport\[sklearn2pmml\]'") as exc:
        _convert(xgb_trained("binary_hinge").json_path, tmp_path)
    assert exc.value.exit_code == 4
    assert not any(tmp_path.iterdir())


def test_missing_java_is_exit_4(xgb_trained, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(MissingDependencyError, match="JDK 11") as exc:
        _convert(xgb_trained("binary_hinge").json_path, tmp_path)
    assert exc.value.exit_code == 4
    assert not any(tmp_path.iterdir())


# -- the pmml runtime's Targets (JPMML-XGBoost's base score) ----------------------------------

_DOC = """<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header/>
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="float"/>
    <DataField name="y" optype="continuous" dataType="float"/>
  </DataDictionary>
  <MiningModel functionName="regression" x-mathContext="{math}">
    <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="x"/></MiningSchema>
    <Targets>{target}</Targets>
    <Segmentation multipleModelMethod="sum">
      <Segment id="1"><True/><TreeModel functionName="regression" missingValueStrategy="defaultChild">
        <MiningSchema><MiningField name="x"/></MiningSchema>
        <Node score="0" defaultChild="2"><True/>
          <Node id="1" score="0.1"><SimplePredicate field="x" operator="lessThan" value="0"/></Node>
          <Node id="2" score="1e-8"><SimplePredicate field="x" operator="greaterOrEqual" value="0"/></Node>
        </Node></TreeModel></Segment>
    </Segmentation>
  </MiningModel>
</PMML>
"""


@pytest.mark.parametrize("math", ["float", "double"])
def test_runtime_applies_target_rescaling_in_the_math_context(tmp_path, math):
    path = tmp_path / "t.pmml"
    path.write_text(_DOC.format(math=math, target='<Target field="y" rescaleFactor="3" rescaleConstant="0.7"/>'))
    got = runtimes.load(path).predict(np.array([[-1.0], [1.0], [np.nan]]))
    dt = np.float32 if math == "float" else np.float64
    leaves = np.array([0.1, 1e-8, 1e-8], dtype=dt)
    want = ((leaves * dt(3)).astype(dt) + dt(0.7)).astype(dt)
    np.testing.assert_array_equal(np.asarray(got, np.float64).ravel(), want.astype(np.float32).astype(np.float64))


@pytest.mark.parametrize("target", ['<Target field="y" min="0" rescaleConstant="1"/>',
                                    '<Target field="y" castInteger="round"/>',
                                    '<Target field="y"/><Target field="y"/>'])
def test_runtime_refuses_other_targets(tmp_path, target):
    path = tmp_path / "t.pmml"
    path.write_text(_DOC.format(math="float", target=target))
    with pytest.raises(UnsupportedModelError, match="Targets"):
        runtimes.load(path)


@needs_jpmml
def test_conversion_time_is_java_bound(xgb_trained, tmp_path):
    """One conversion (driver cached) spends a JVM start plus JPMML's work: well under the
    timeout; guards against a driver rebuild on every call."""
    import time

    from modelport.converters.backends._jpmml import _cache_root

    _convert(xgb_trained("binary_hinge").json_path, tmp_path)
    builds = set(_cache_root().iterdir())
    start = time.perf_counter()
    _convert(xgb_trained("binary_hinge").json_path, tmp_path, force=True)
    assert time.perf_counter() - start < 60
    assert set(_cache_root().iterdir()) == builds

