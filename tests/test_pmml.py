"""PMML target and runtime (issue #9).

* every case of tests/xgb_cases.py: modelport's PMML run through ``modelport.runtimes.pmml``
  equals the reference evaluator bit for bit (margins, predictions, probabilities, labels);
* the same files scored by jpmml-evaluator (the JVM, an independent implementation): margins
  bit for bit, probabilities within 1e-6, 0 class flips;
* every file validates against the PMML 4.4 schema that jpmml-model ships (``pmml.xsd`` in
  the pmml-model jar of the jpmml_evaluator wheel);
* hostile files (DTD entities, billion laughs, a 100 MB attribute, 100,000-deep nesting)
  are one-line errors with bounded memory; hostile feature names survive exactly.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

import xgb_cases

from modelport import runtimes
from modelport.converters.frontends import load_model
from modelport.converters.targets import TARGETS, all_targets
from modelport.converters.targets.pmml import build_pmml
from modelport.core.errors import ModelFormatError, UnsupportedModelError
from modelport.core.ir.evaluate import classifier_outputs, predict, predict_margin
from modelport.core.ir.model import Feature, Model, PostTransform, Task, Tree, TreeEnsemble, Comparison
from modelport.runtimes.pmml import PmmlRuntime, sniff_pmml

pytest.importorskip("defusedxml")

#: Probabilities from jpmml-evaluator vs the reference evaluator (docs/parity-traps.md, Tolerances).
JPMML_PROBA_ATOL = 1e-6


def _write(model: Model, path: Path) -> Path:
    path.write_text(build_pmml(model), encoding="utf-8")
    return path


def _case_pmml(xgb_trained, name: str, tmp_path: Path):
    tc = xgb_trained(name)
    ir = load_model(tc.json_path)
    return tc, ir, _write(ir, tmp_path / f"{name}.pmml")


# -- modelport's runtime vs the reference evaluator --------------------------------------


@pytest.mark.parametrize("name", xgb_cases.case_params())
def test_runtime_matches_reference_bit_for_bit(xgb_trained, name, tmp_path):
    tc, ir, path = _case_pmml(xgb_trained, name, tmp_path)
    rt = runtimes.load(path)
    assert isinstance(rt, PmmlRuntime)
    X = tc.X_probe
    n = X.shape[0]
    np.testing.assert_array_equal(rt.predict(X, output="margin").reshape(n, -1), predict_margin(ir, X))
    np.testing.assert_array_equal(rt.predict(X), predict(ir, X))
    if ir.task in (Task.BINARY, Task.MULTICLASS):
        ref = classifier_outputs(ir, predict_margin(ir, X))
        np.testing.assert_array_equal(rt.predict(X, output="probabilities"), ref["probabilities"])
        np.testing.assert_array_equal(rt.predict(X, output="label"), ref["label"])


# -- the JVM: jpmml-evaluator --------------------------------------------------------------


def jpmml_score(jp, path: Path, features: list[str], X: np.ndarray):
    """jpmml-evaluator's results for rows ``X`` (NaN passed as missing)."""
    import pandas as pd

    ev = jp.make_evaluator(str(path)).verify()
    res = ev.evaluateAll(pd.DataFrame(X, columns=features))
    if "errors" in res.columns and res["errors"].notna().any():
        raise AssertionError(f"jpmml-evaluator: {res['errors'].dropna().iloc[0]}")
    return res


@pytest.mark.parametrize("name", xgb_cases.case_params())
def test_jpmml_evaluator_agrees(jpmml, xgb_trained, name, tmp_path):
    tc, ir, path = _case_pmml(xgb_trained, name, tmp_path)
    X = tc.X_probe
    res = jpmml_score(jpmml, path, [f.name for f in ir.features], X)
    m_ref = predict_margin(ir, X)
    margin_cols = ["margin"] if ir.n_outputs == 1 else [f"margin({j})" for j in range(ir.n_outputs)]
    m_jvm = np.stack([res[c].to_numpy(np.float64) for c in margin_cols], axis=1).astype(np.float32)
    # Declared: TARGETS["pmml"].margin_tolerance is 0 ULP, and the JVM agrees bit for bit.
    np.testing.assert_array_equal(m_jvm, m_ref, err_msg="jpmml-evaluator margins vs the reference evaluator")
    if ir.task in (Task.BINARY, Task.MULTICLASS) and "label" in res.columns:
        ref = classifier_outputs(ir, m_ref)
        k = ref["probabilities"].shape[1]
        p_jvm = np.stack([res[f"probability({c})"].to_numpy(np.float64) for c in range(k)], axis=1)
        assert np.max(np.abs(p_jvm - ref["probabilities"])) <= JPMML_PROBA_ATOL
        labels = res["label"].to_numpy().astype(np.int64)
        if ir.post_transform is PostTransform.SOFTMAX_LABEL:
            ref_label = ref["label"]
        else:  # PMML's predicted class is the most probable one
            ref_label = np.argmax(ref["probabilities"], axis=1)
        assert int(np.sum(labels != ref_label)) == 0, "class flips"
    elif "prediction" in res.columns:
        p_jvm = res["prediction"].to_numpy(np.float64)
        p_ref = predict(ir, X).astype(np.float64)
        assert np.allclose(p_jvm, p_ref, rtol=1e-6, atol=1e-6, equal_nan=True)


# -- the PMML 4.4 schema -------------------------------------------------------------------


@pytest.fixture(scope="module")
def pmml_schema():
    """PMML 4.4 XSD from the pmml-model jar that the jpmml_evaluator wheel ships."""
    etree = pytest.importorskip("lxml.etree", reason="lxml is not installed")
    jp = pytest.importorskip("jpmml_evaluator", reason="jpmml_evaluator (ships the PMML 4.4 XSD in pmml-model.jar) is not installed")
    jars = sorted(glob.glob(os.path.join(os.path.dirname(jp.__file__), "dependencies", "pmml-model-[0-9]*.jar")))
    if not jars:
        pytest.skip("jpmml_evaluator ships no pmml-model jar here")
    xsd = zipfile.ZipFile(jars[0]).read("pmml.xsd")
    assert b"http://www.dmg.org/PMML-4_4" in xsd[:400]
    return etree, etree.XMLSchema(etree.fromstring(xsd))


@pytest.mark.parametrize("name", xgb_cases.case_params())
def test_validates_against_pmml_4_4_xsd(pmml_schema, xgb_trained, name, tmp_path):
    etree, schema = pmml_schema
    _, _, path = _case_pmml(xgb_trained, name, tmp_path)
    doc = etree.parse(str(path))
    assert schema.validate(doc), str(schema.error_log.last_error)


# -- hand-built IRs: sentinel, hostile names, refusals ------------------------------------


def _stump_model(names=("a", "b"), missing=float("nan"), thr=0.5) -> Model:
    tree = Tree(np.array([1, -1, -1], np.int32), np.array([2, -1, -1], np.int32), np.array([0, 0, 0], np.int32),
                np.array([thr, 0, 0], np.float32), np.array([False, False, False]), np.zeros(3, bool),
                np.zeros(4, np.int64), np.zeros(0, np.int32), np.array([[0], [-1.25], [2.5]], np.float32))
    ens = TreeEnsemble((tree,), np.zeros(1, np.int32), np.ones(1, np.float32), Comparison.LT, "float32", False)
    return Model(Task.REGRESSION, tuple(Feature(n) for n in names), 1, 0, ens, np.array([0.5], np.float32),
                 PostTransform.IDENTITY, missing)


def test_missing_sentinel_is_a_missing_value(tmp_path, jpmml):
    m = _stump_model(missing=-999.0)
    path = _write(m, tmp_path / "s.pmml")
    assert 'property="missing"' in path.read_text()
    X = np.array([[-999.0, 1], [0.0, 1], [1.0, 1], [np.nan, 1]])
    want = predict_margin(m, X)[:, 0]  # -999 follows default_left=False: right, like NaN
    np.testing.assert_array_equal(runtimes.load(path).predict(X, output="margin"), want)
    np.testing.assert_array_equal(want, np.float32([3.0, -0.75, 3.0, 3.0]))
    res = jpmml_score(jpmml, path, ["a", "b"], X)
    np.testing.assert_array_equal(res["margin"].to_numpy(np.float64).astype(np.float32), want)


def test_hostile_feature_names_round_trip(tmp_path):
    names = ('q"uote\'s', "new\nline\r\t", "*/ <!-- ${x} `tick` \\", "ünïcødé ✓ 𝔘")
    m = _stump_model(names=names + ("&amp;",))
    path = _write(m, tmp_path / "h.pmml")
    rt = runtimes.load(path)
    assert tuple(rt.signature.feature_names) == names + ("&amp;",)
    X = np.array([[0.25, 0, 0, 0, 0], [0.75, 0, 0, 0, 0]])
    np.testing.assert_array_equal(rt.predict(X), predict(m, X))


def test_unrepresentable_name_is_refused():
    with pytest.raises(UnsupportedModelError, match="U\\+0000"):
        build_pmml(_stump_model(names=("ok", "nul\x00")))


def test_threshold_literals_parse_back_to_the_same_float32(tmp_path):
    thr = np.nextafter(np.float32(0.1), np.float32(1))  # not the float32 nearest 0.1
    m = _stump_model(thr=float(thr))
    path = _write(m, tmp_path / "t.pmml")
    X = np.array([[float(thr)], [float(np.nextafter(thr, np.float32(0)))]], dtype=np.float32)
    X = np.concatenate([X, np.zeros_like(X)], axis=1)
    np.testing.assert_array_equal(runtimes.load(path).predict(X), np.float32([3.0, -0.75]))


def test_non_finite_threshold_is_refused():
    with pytest.raises(UnsupportedModelError, match="inf"):
        build_pmml(_stump_model(thr=float("inf")))


def test_compiler_and_evaluator_know_the_same_functions():
    from modelport.runtimes._pmml_eval import _FUNCTIONS
    from modelport.runtimes._pmml_models import FUNCTION_NAMES

    assert FUNCTION_NAMES == frozenset(_FUNCTIONS)


def test_registered_and_sniffed(tmp_path):
    all_targets()
    assert TARGETS.get("pmml").runtime == "pmml"
    assert "pmml" in runtimes.all_runtimes().names()
    path = _write(_stump_model(), tmp_path / "m.xml")  # found by content, not by name
    assert sniff_pmml(path.read_bytes()[:256])
    assert isinstance(runtimes.load(path), PmmlRuntime)


# -- hostile files -------------------------------------------------------------------------


def _one_line_error(path: Path, exc=ModelFormatError, match: str = "") -> str:
    with pytest.raises(exc, match=match) as info:
        PmmlRuntime(path)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_external_entity_refused(tmp_path):
    p = tmp_path / "xxe.pmml"
    p.write_text('<?xml version="1.0"?><!DOCTYPE PMML [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                 '<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header description="&x;"/></PMML>')
    _one_line_error(p, match="unsafe XML")


def test_billion_laughs_refused(tmp_path):
    ents = '<!ENTITY l0 "ha">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    p = tmp_path / "lol.pmml"
    p.write_text(f'<?xml version="1.0"?><!DOCTYPE PMML [{ents}]><PMML version="4.4"><Header description="&l9;"/></PMML>')
    _one_line_error(p, match="unsafe XML")


def test_huge_attribute_refused_with_bounded_memory(tmp_path):
    p = tmp_path / "big.pmml"
    with open(p, "wb") as fh:
        fh.write(b'<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header description="')
        block = b"A" * (1 << 20)
        for _ in range(100):
            fh.write(block)
        fh.write(b'"/></PMML>')
    tracemalloc.start()
    try:
        _one_line_error(p, match="longer than")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"peak {peak} bytes while refusing a 100 MB attribute"


def test_deep_nesting_refused(tmp_path):
    p = tmp_path / "deep.pmml"
    p.write_text('<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">' + "<Extension>" * 100_000
                 + "</Extension>" * 100_000 + "</PMML>")
    _one_line_error(p, match="deeper than")


@pytest.mark.parametrize("mutate, match", [
    (lambda t: t[: len(t) // 2], "not well-formed"),
    (lambda t: t.replace('score="-1.25"', 'score="-1.2.5"'), "not a number"),
    (lambda t: t.replace('field="a"', 'field="nowhere"'), "never defined"),
    (lambda t: t.replace('version="4.4"', 'version="3.2"'), "PMML 4.x only"),
])
def test_malformed_files_are_one_line_errors(tmp_path, mutate, match):
    text = build_pmml(_stump_model())
    p = tmp_path / "bad.pmml"
    p.write_text(mutate(text))
    with pytest.raises((ModelFormatError, UnsupportedModelError), match=match) as info:
        runtimes.load(p, runtime="pmml").predict(np.zeros((1, 2)))
    assert "\n" not in str(info.value)


def test_unsupported_element_named(tmp_path):
    p = tmp_path / "nn.pmml"
    p.write_text('<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><DataDictionary>'
                 '<DataField name="x" optype="continuous" dataType="double"/></DataDictionary>'
                 '<NeuralNetwork functionName="regression"/></PMML>')
    _one_line_error(p, exc=UnsupportedModelError, match="NeuralNetwork")


def test_ten_thousand_deep_tree(tmp_path):
    """A 10,000-deep chain: written and evaluated without recursion."""
    depth = 10_000
    n = 2 * depth + 1
    left = np.full(n, -1, np.int32)
    right = np.full(n, -1, np.int32)
    for d in range(depth):  # node 2d splits: left leaf 2d+1, right the next split 2d+2
        left[2 * d], right[2 * d] = 2 * d + 1, 2 * d + 2
    thr = np.zeros(n, np.float32)
    thr[0:2 * depth:2] = -np.arange(depth, dtype=np.float32)  # x < -d goes left at level d
    value = np.zeros((n, 1), np.float32)
    value[1:2 * depth:2, 0] = np.arange(depth, dtype=np.float32)
    value[-1, 0] = 99999
    tree = Tree(left, right, np.zeros(n, np.int32), thr, np.ones(n, bool), np.zeros(n, bool),
                np.zeros(n + 1, np.int64), np.zeros(0, np.int32), value)
    ens = TreeEnsemble((tree,), np.zeros(1, np.int32), np.ones(1, np.float32), Comparison.LT, "float32", False)
    m = Model(Task.REGRESSION, (Feature("x"),), 1, 0, ens, np.zeros(1, np.float32), PostTransform.IDENTITY)
    path = _write(m, tmp_path / "deep_tree.pmml")
    X = np.array([[1.0], [-0.5], [-5000.5], [-1e9], [np.nan]])
    np.testing.assert_array_equal(runtimes.load(path).predict(X), predict(m, X))


# -- foreign PMML (sklearn2pmml-style) -----------------------------------------------------

_FOREIGN = """<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
 <Header/>
 <DataDictionary>
  <DataField name="y" optype="categorical" dataType="string"><Value value="0"/><Value value="1"/></DataField>
  <DataField name="x1" optype="continuous" dataType="double"/>
  <DataField name="x2" optype="continuous" dataType="double"/>
 </DataDictionary>
 <MiningModel functionName="classification">
  <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="x1"/><MiningField name="x2"/></MiningSchema>
  <Output><OutputField name="probability(1)" optype="continuous" dataType="double" feature="probability" value="1"/></Output>
  <Segmentation multipleModelMethod="modelChain">
   <Segment id="1"><True/>
    <MiningModel functionName="regression">
     <MiningSchema><MiningField name="x1"/><MiningField name="x2"/></MiningSchema>
     <Output><OutputField name="decisionFunction" optype="continuous" dataType="double" feature="predictedValue"/></Output>
     <Segmentation multipleModelMethod="sum">
      <Segment id="t1"><True/>
       <TreeModel functionName="regression" missingValueStrategy="nullPrediction" noTrueChildStrategy="returnLastPrediction">
        <MiningSchema><MiningField name="x1"/><MiningField name="x2"/></MiningSchema>
        <Node score="0.1"><True/>
         <Node score="-0.5"><SimplePredicate field="x1" operator="lessOrEqual" value="0.25"/></Node>
         <Node><SimplePredicate field="x1" operator="greaterThan" value="0.25"/>
          <Node score="0.75"><CompoundPredicate booleanOperator="surrogate">
            <SimplePredicate field="x2" operator="lessOrEqual" value="1.5"/>
            <SimplePredicate field="x1" operator="lessOrEqual" value="2"/></CompoundPredicate></Node>
          <Node score="1.25"><True/></Node>
         </Node>
        </Node>
       </TreeModel>
      </Segment>
      <Segment id="t2"><True/>
       <TreeModel functionName="regression" missingValueStrategy="lastPrediction">
        <MiningSchema><MiningField name="x2"/></MiningSchema>
        <Node score="0.2"><True/>
         <Node score="0.3"><SimpleSetPredicate field="x2" booleanOperator="isIn"><Array type="real" n="2">1 3</Array></SimpleSetPredicate></Node>
         <Node score="-0.3"><True/></Node>
        </Node>
       </TreeModel>
      </Segment>
     </Segmentation>
    </MiningModel>
   </Segment>
   <Segment id="2"><True/>
    <RegressionModel functionName="classification" normalizationMethod="logit">
     <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="decisionFunction"/></MiningSchema>
     <RegressionTable intercept="0.5" targetCategory="1"><NumericPredictor name="decisionFunction" coefficient="2"/></RegressionTable>
     <RegressionTable intercept="0" targetCategory="0"/>
    </RegressionModel>
   </Segment>
  </Segmentation>
 </MiningModel>
</PMML>
"""


def _foreign_expected(x1: float, x2: float) -> float:
    """Worked by hand from _FOREIGN (PMML 4.4 tree and logit rules), in float64."""
    if np.isnan(x1):
        t1 = np.nan  # nullPrediction
    elif x1 <= 0.25:
        t1 = -0.5
    elif not np.isnan(x2):
        t1 = 0.75 if x2 <= 1.5 else 1.25
    else:  # surrogate falls back to x1 <= 2
        t1 = 0.75 if x1 <= 2 else 1.25
    t2 = 0.2 if np.isnan(x2) else (0.3 if x2 in (1.0, 3.0) else -0.3)  # lastPrediction: the root's score
    return 1.0 / (1.0 + np.exp(-(0.5 + 2.0 * (t1 + t2))))


def test_foreign_sklearn2pmml_style_file(tmp_path):
    p = tmp_path / "foreign.pmml"
    p.write_text(_FOREIGN)
    rt = runtimes.load(p)
    assert rt.signature.task == "binary" and rt.signature.feature_names == ["x1", "x2"]
    assert "margin" not in rt.signature.outputs
    X = np.array([[0.0, 1.0], [0.5, 1.0], [0.5, 3.0], [0.5, np.nan], [3.0, np.nan], [np.nan, 2.0], [1.0, np.nan]])
    want = np.array([_foreign_expected(a, b) for a, b in X])
    got = rt.predict(X)
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=0, atol=0, equal_nan=True)
    proba = rt.predict(X, output="probabilities")
    np.testing.assert_array_equal(proba[:, 1], got)


def test_foreign_file_agrees_with_jpmml(jpmml, tmp_path):
    p = tmp_path / "foreign.pmml"
    p.write_text(_FOREIGN)
    rng = np.random.default_rng(3)
    X = np.round(rng.normal(size=(300, 2)) * 2, 1)
    X[rng.random(X.shape) < 0.2] = np.nan
    X[::7, 1] = 3.0
    null = np.isnan(X[:, 0])  # tree t1 returns a null prediction: jpmml raises, we return NaN
    ours = runtimes.load(p).predict(X, output="probabilities")[:, 1].astype(np.float64)
    assert np.all(np.isnan(ours[null]))
    res = jpmml_score(jpmml, p, ["x1", "x2"], X[~null])
    np.testing.assert_allclose(ours[~null], res["probability(1)"].to_numpy(np.float64), rtol=0, atol=1e-7)


def test_convert_end_to_end_is_verified(xgb_trained, tmp_path):
    import modelport

    tc = xgb_trained("categorical")
    res = modelport.convert(tc.json_path, to="pmml", out=tmp_path / "m.pmml")
    assert res.verified and Path(res.path).is_file()


def test_sentinel_case_from_zoo_with_replace(xgb_trained, tmp_path):
    """A zoo model read with a missing sentinel: the sentinel is a DataField missing Value."""
    tc = xgb_trained("nan_heavy")
    ir = dataclasses.replace(load_model(tc.json_path), missing=0.0)
    path = _write(ir, tmp_path / "zero.pmml")
    X = tc.X_probe.copy()
    X[::3, 0] = 0.0
    np.testing.assert_array_equal(runtimes.load(path).predict(X, output="margin"), predict_margin(ir, X)[:, 0])


# -- float64 IRs (LightGBM): double context, averages, in-set-goes-left categories ---------

_LGB = {
    "regression": {"objective": "regression"},
    "binary": {"objective": "binary"},
    "multiclass": {"objective": "multiclass", "num_class": 3},
    "rf_average": {"objective": "binary", "boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.7},
    "categorical": {"objective": "binary"},
}


@pytest.mark.parametrize("kind", sorted(_LGB))
def test_lightgbm_float64_models(kind, tmp_path, request):
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5))
    X[rng.random(X.shape) < 0.05] = np.nan
    X[:, 4] = rng.integers(0, 6, 600)
    z = np.nan_to_num(X[:, 0]) + np.isin(X[:, 4], [1, 3]) * 1.0
    y = {"regression": z, "multiclass": np.digitize(z, [0, 1]).astype(float)}.get(kind, (z > 0.3).astype(float))
    params = dict(_LGB[kind], verbose=-1, num_leaves=8, seed=1)
    cats = [4] if kind == "categorical" else "auto"
    bst = lgb.train(params, lgb.Dataset(X, y, categorical_feature=cats), 10)
    bst.save_model(str(tmp_path / "model.txt"))
    ir = load_model(tmp_path / "model.txt")
    assert ir.booster.value_dtype == "float64"
    path = _write(ir, tmp_path / "lgb.pmml")
    Xp = np.concatenate([X, [[0.5, 1, 1, 1, -0.5], [0.5, 1, 1, 1, 2.7], [0.5, 1, 1, 1, 1e10]]])
    rt = runtimes.load(path)
    m_ref = predict_margin(ir, Xp)
    np.testing.assert_array_equal(rt.predict(Xp, output="margin").reshape(len(Xp), -1), m_ref)
    np.testing.assert_array_equal(rt.predict(Xp), predict(ir, Xp))
    try:  # the JVM check, when Java and jpmml_evaluator are present
        jp = request.getfixturevalue("jpmml")
    except pytest.skip.Exception:
        return
    res = jpmml_score(jp, path, [f.name for f in ir.features], Xp)
    cols = ["margin"] if ir.n_outputs == 1 else [f"margin({j})" for j in range(ir.n_outputs)]
    m_jvm = np.stack([res[c].to_numpy(np.float64) for c in cols], axis=1).astype(np.float32)
    np.testing.assert_array_equal(m_jvm, m_ref)


_NONE_3 = """<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
 <Header/>
 <DataDictionary>
  <DataField name="y" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/><Value value="c"/></DataField>
  <DataField name="x" optype="continuous" dataType="double"/>
 </DataDictionary>
 <RegressionModel functionName="classification" normalizationMethod="none">
  <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="x"/></MiningSchema>
  <Output>
   <OutputField name="probability(a)" optype="continuous" dataType="double" feature="probability" value="a"/>
   <OutputField name="probability(b)" optype="continuous" dataType="double" feature="probability" value="b"/>
   <OutputField name="probability(c)" optype="continuous" dataType="double" feature="probability" value="c"/>
  </Output>
  <RegressionTable intercept="0.1" targetCategory="a"><NumericPredictor name="x" coefficient="0.1"/></RegressionTable>
  <RegressionTable intercept="0.3" targetCategory="b"/>
  <RegressionTable intercept="99" targetCategory="c"/>
 </RegressionModel>
</PMML>
"""


def test_normalization_none_makes_the_last_class_the_residual(tmp_path):
    """PMML 4.4: with normalizationMethod="none" the last table's value is replaced by 1 minus
    the sum of the others (a foreign file whose last table is not already the residual)."""
    p = tmp_path / "none3.pmml"
    p.write_text(_NONE_3)
    X = np.array([[0.0], [1.0], [2.5]])
    proba = runtimes.load(p).predict(X, output="probabilities").astype(np.float64)
    a = 0.1 + X[:, 0] * 0.1
    want = np.stack([a, np.full(3, 0.3), 1.0 - (a + 0.3)], axis=1)
    np.testing.assert_array_equal(proba, want.astype(np.float32).astype(np.float64))


def test_normalization_none_agrees_with_jpmml(jpmml, tmp_path):
    p = tmp_path / "none3.pmml"
    p.write_text(_NONE_3)
    X = np.array([[0.0], [1.0], [2.5], [-4.0]])
    ours = runtimes.load(p).predict(X, output="probabilities").astype(np.float64)
    res = jpmml_score(jpmml, p, ["x"], X)
    for k, c in enumerate("abc"):
        np.testing.assert_allclose(ours[:, k], res[f"probability({c})"].to_numpy(np.float64), rtol=0, atol=1e-7)
