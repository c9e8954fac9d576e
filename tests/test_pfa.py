"""The pfa target and modelport's vectorised PFA engine, checked against the reference
evaluator (bit for bit) and independently against titus2, the Python PFA engine."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import ir_samples
from _titus_shim import TITUS_MISSING, import_titus
from modelport import runtimes
from modelport.converters.targets import TARGETS, WriteOptions, all_targets
from modelport.converters.targets.pfa import build_pfa, write_pfa
from modelport.core.errors import ModelFormatError, UnsupportedModelError
from modelport.core.ir import evaluate
from modelport.core.ir.model import Comparison, Feature, Model, PostTransform, Task, TreeEnsemble
from modelport.core.numerics import ulp_distance
from modelport.core.tolerances import PROBABILITY
from modelport.runtimes import _pfa_load
from modelport.runtimes.base import all_runtimes
from modelport.runtimes.pfa import PfaRuntime, sniff_pfa
from xgb_cases import CASES, case_params, trained_case

F32 = np.float32


def _write(model: Model, tmp_path, name="m.pfa.json"):
    path = tmp_path / name
    write_pfa(model, path, WriteOptions())
    return path


def _assert_bits(a, b):
    a, b = np.asarray(a, F32), np.asarray(b, F32)
    assert a.shape == b.shape
    bad = ~((a.view(np.int32) == b.view(np.int32)) | (np.isnan(a) & np.isnan(b)))
    assert not bad.any(), f"{bad.sum()} values differ, first at {np.argwhere(bad)[0]}: {a[bad][:3]} vs {b[bad][:3]}"


def _check_engine(model: Model, X, path) -> PfaRuntime:
    """Engine margins and predictions bit-equal to the reference evaluator."""
    rt = runtimes.load(path)
    assert isinstance(rt, PfaRuntime)
    ref = evaluate.predict_margin(model, X)
    _assert_bits(rt.predict(X, output="margin").reshape(ref.shape), ref)
    X = np.asarray(X, dtype=np.float64)
    for i in np.linspace(0, len(X) - 1, num=min(len(X), 12)).astype(int):  # the single-row path
        _assert_bits(rt.predict(X[i:i + 1], output="margin").reshape(1, -1), ref[i:i + 1])
    _assert_bits(rt.predict(X), evaluate.predict(model, X))
    if model.task in (Task.BINARY, Task.MULTICLASS):
        want = evaluate.classifier_outputs(model, ref)
        _assert_bits(rt.predict(X, output="probabilities"), want["probabilities"])
        np.testing.assert_array_equal(rt.predict(X, output="label"), want["label"])
    return rt


# -- titus2, the independent engine --------------------------------------------------------

def _titus(path):
    engine_cls = import_titus()
    if engine_cls is None:
        pytest.skip(TITUS_MISSING)
    engine, = engine_cls.fromJson(json.loads(path.read_text()))
    return engine


def _titus_outputs(engine, X, in_dtype):
    Xc = np.asarray(X, dtype=in_dtype)
    outs = [engine.action({f"f{j}": None if np.isnan(v) else float(v) for j, v in enumerate(row)}) for row in Xc]
    return {k: np.array([o[k] for o in outs], dtype=np.float64) for k in ("margin", "prediction", "probabilities")}


def _check_titus(model: Model, X, path, rt: PfaRuntime) -> None:
    """titus2 agrees with the reference: margins bit for bit (the document rounds every
    float32 step itself, see docs/pfa.md), predictions within PROBABILITY, 0 class flips."""
    t = _titus_outputs(_titus(path), X, rt.program.in_dtype)
    ref = evaluate.predict_margin(model, X)
    assert np.all(np.asarray(t["margin"], F32) == t["margin"]), "titus margins are not float32 values"
    _assert_bits(t["margin"].reshape(ref.shape), ref)
    pred = evaluate.transform(model.post_transform, ref)
    tp = t["prediction"].astype(F32).reshape(pred.shape)
    if model.post_transform in (PostTransform.SOFTMAX_LABEL, PostTransform.HINGE):
        np.testing.assert_array_equal(tp, pred)
    else:
        close = (ulp_distance(tp, pred) <= PROBABILITY.max_ulp) | (
            np.abs(tp.astype(np.float64) - pred) <= PROBABILITY.atol + PROBABILITY.rtol * np.abs(pred))
        assert close.all(), f"titus predictions off by up to {np.max(np.abs(tp - pred))}"
    if model.task in (Task.BINARY, Task.MULTICLASS):
        want = evaluate.classifier_outputs(model, ref)
        probs = t["probabilities"].astype(F32)
        assert np.max(np.abs(probs - want["probabilities"])) <= 1e-6
        src = ref if model.post_transform is PostTransform.SOFTMAX_LABEL else probs
        labels = (probs[:, 1] > F32(0.5)).astype(np.int64) if model.task is Task.BINARY else np.argmax(src, axis=1)
        assert int(np.sum(labels != want["label"])) == 0, "class flips between titus2 and the reference"


def _case(name, tmp_path):
    from modelport.converters.frontends import load_model

    tc = trained_case(name)
    model = load_model(str(tc.json_path))
    return model, tc.X_probe, _write(model, tmp_path, f"{name}.pfa.json")


# -- registration ----------------------------------------------------------------------------

def test_registered():
    t = all_targets().get("pfa")
    assert (t.extension, t.runtime, t.artifact) == (".pfa.json", "pfa", "file")
    assert "pfa" in all_runtimes().names()
    assert TARGETS.get("pfa") is t


def test_sniff(tmp_path):
    path = _write(ir_samples.regression(), tmp_path)
    head = path.read_bytes()[:4096]
    assert sniff_pfa(head) and runtimes.detect_runtime(path).name == "pfa"
    assert not sniff_pfa(b'{"input": 1, "output": 2}') and not sniff_pfa(b"[1, 2]")
    wide = dataclasses.replace(ir_samples.regression(), features=tuple(Feature(f"c{i}") for i in range(2000)))
    assert sniff_pfa(_write(wide, tmp_path, "wide.pfa.json").read_bytes()[:4096])
    assert not sniff_pfa((tmp_path / "x").write_bytes(b"") or b"")


# -- the zoo: engine bit-exact, titus2 on small row subsets ------------------------------------

@pytest.mark.parametrize("name", case_params())
def test_xgboost_cases_engine_bit_exact(name, tmp_path):
    model, X, path = _case(name, tmp_path)
    _check_engine(model, X, path)


_TITUS_FAST = ("binary_logistic", "multi_softmax", "categorical", "dart_multiclass", "gblinear_multiclass",
               "multi_class_vector_leaf", "survival_aft")


@pytest.mark.parametrize("name", _TITUS_FAST)
def test_titus_agrees_on_probe_rows(name, tmp_path):
    model, X, path = _case(name, tmp_path)
    rt = _check_engine(model, X, path)
    rows = np.concatenate([X[:12], X[np.isnan(X).any(axis=1)][:6], X[-6:]])  # thresholds, NaN, random
    _check_titus(model, rows, path, rt)


@pytest.mark.slow
@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_titus_agrees_on_every_case(name, tmp_path):
    model, X, path = _case(name, tmp_path)
    rt = _check_engine(model, X, path)
    rng = np.random.default_rng(0)
    _check_titus(model, X[np.sort(rng.choice(len(X), size=min(len(X), 120), replace=False))], path, rt)


# -- hand-built IRs: every form ----------------------------------------------------------------

def _rows(n_features, seed=0, n=64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)) * 2
    X[rng.random(X.shape) < 0.15] = np.nan
    return X


@pytest.mark.parametrize("name", sorted(ir_samples.ALL))
def test_ir_samples(name, tmp_path):
    model = ir_samples.ALL[name]()
    X = _rows(model.n_features)
    if name == "categorical":
        X[:, 1] = [v for v in (1, 3, 7, 2, 1.7, -0.5, -1, 2**24, 1e10, 0, np.nan, -999)] * 5 + [3, 4, 5, 6]
    path = _write(model, tmp_path)
    _check_titus(model, X[:20], path, _check_engine(model, X, path))


def test_float32_rounding_is_in_the_document(tmp_path):
    """Ten leaves of 5e-8 (under half a float32 ULP of 1) on a base of 1: float32 sums stay at
    1.0, a double sum rounded at the end gives 1.0000005; titus2 keeps floats as doubles, so only the document's own u.f32 rounding
    makes its margin right."""
    t = ir_samples.make_tree([-1], [-1], [0], [0.0], [5e-8])
    m = dataclasses.replace(ir_samples.regression(1), booster=ir_samples.ensemble([t] * 10),
                            base_score=np.array([1.0], F32))
    path = _write(m, tmp_path)
    rt = _check_engine(m, [[0.0]], path)
    assert rt.predict([[0.0]])[0] == F32(1.0)
    _check_titus(m, np.array([[0.0]]), path, rt)


def _wide(average: bool, comparison=Comparison.LE) -> Model:
    """LightGBM / scikit-learn style: float64 thresholds, `<=`, float64 sum, optional average."""
    trees = [ir_samples.make_tree([1, -1, -1], [2, -1, -1], [i % 2, 0, 0], [0.1 * i + 1 / 3, 0, 0],
                                  [0, 0.1 + i, -1 / 3], threshold_dtype="float64") for i in range(5)]
    trees = [dataclasses.replace(t, value=t.value.astype(np.float64)) for t in trees]
    ens = TreeEnsemble(tuple(trees), np.array([0, 1, 0, 1, 0], np.int32), np.ones(5, F32), comparison, "float64",
                       True, leaf_dim=1, value_dtype="float64", average=average)
    return Model(Task.MULTI_TARGET, (Feature("a"), Feature("b")), 2, 0, ens, np.array([0.25, -1.5], F32),
                 PostTransform.IDENTITY)


@pytest.mark.parametrize("average", [False, True])
def test_float64_sums_and_average(average, tmp_path):
    m = _wide(average)
    X = _rows(2, 3)
    X[:4, 0] = [1 / 3, np.nextafter(1 / 3, 1), np.nextafter(1 / 3, 0), 0.1 + 1 / 3]
    path = _write(m, tmp_path)
    assert '"double"' in path.read_text()[:2000]
    _check_titus(m, X[:16], path, _check_engine(m, X, path))


def test_dart_weights_and_sentinel(tmp_path):
    base = ir_samples.regression()
    ens = dataclasses.replace(base.booster, tree_weight=np.array([0.3, 1.7], F32), apply_tree_weight=True)
    m = dataclasses.replace(base, booster=ens, missing=-999.0)
    X = _rows(3, 5)
    X[::3, 0] = -999.0
    path = _write(m, tmp_path)
    _check_titus(m, X[:16], path, _check_engine(m, X, path))


@pytest.mark.parametrize("post", [PostTransform.EXP, PostTransform.HINGE, PostTransform.SOFTMAX_LABEL])
def test_links(post, tmp_path):
    m = ir_samples.multiclass() if post is PostTransform.SOFTMAX_LABEL else ir_samples.regression()
    task = Task.MULTICLASS if post is PostTransform.SOFTMAX_LABEL else (Task.BINARY if post is PostTransform.HINGE
                                                                        else Task.REGRESSION)
    m = dataclasses.replace(m, post_transform=post, task=task, n_classes=m.n_outputs if task is Task.MULTICLASS
                            else (2 if task is Task.BINARY else 0))
    X = _rows(m.n_features, 9)
    path = _write(m, tmp_path)
    _check_titus(m, X[:16], path, _check_engine(m, X, path))


def test_deep_tree_has_no_nesting(tmp_path):
    m = ir_samples.deep_chain(10_000)
    path = _write(m, tmp_path)
    X = np.array([[-1.0], [0.5], [4999.5], [9999.5], [1e9], [np.nan]])
    _check_engine(m, X, path)


def test_hostile_feature_names_only_in_metadata(tmp_path):
    names = ('a"b', "line\nbreak", "*/ ${x} `y`", "back\\slash", "ünï", "f1")
    m = dataclasses.replace(ir_samples.regression(6), features=tuple(Feature(n) for n in names))
    path = _write(m, tmp_path)
    doc = json.loads(path.read_text())
    assert [f["name"] for f in doc["input"]["fields"]] == [f"f{i}" for i in range(6)]
    rt = _check_engine(m, _rows(6), path)
    assert rt.signature.feature_names == list(names)
    assert rt.predict([dict(zip(names, [0.2, 1, 2, 3, 4, 5], strict=True))]).shape == (1,)
    _titus(path)  # titus2 accepts the document


def test_convert_end_to_end(tmp_path):
    import modelport

    tc = trained_case("binary_logistic")
    res = modelport.convert(tc.json_path, to="pfa", out=tmp_path / "model.pfa.json")
    assert (tmp_path / "model.pfa.json").is_file(), res


# -- refusals (writer) and the subset (engine) -------------------------------------------------

def test_writer_refuses_what_it_cannot_express(tmp_path):
    m = ir_samples.regression()
    t = m.booster.trees[0]
    bad = dataclasses.replace(t, value=np.where(t.left[:, None] == -1, np.inf, 0).astype(F32))
    with pytest.raises(UnsupportedModelError, match="non-finite leaf value"):
        build_pfa(dataclasses.replace(m, booster=dataclasses.replace(m.booster, trees=(bad,),
                                                                     tree_output=np.zeros(1, np.int32),
                                                                     tree_weight=np.ones(1, F32))))
    with pytest.raises(UnsupportedModelError, match="infinite missing-value sentinel"):
        build_pfa(dataclasses.replace(m, missing=float("inf")))
    with pytest.raises(UnsupportedModelError, match="averaging a float32 sum"):
        build_pfa(dataclasses.replace(m, booster=dataclasses.replace(m.booster, average=True)))


def _tampered(tmp_path, edit):
    path = _write(ir_samples.categorical(), tmp_path)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.__setitem__("pools", {}), r"at doc\.pools"),
    (lambda d: d.__setitem__("method", "emit"), r"at doc\.method"),
    (lambda d: d["fcns"]["leaf"]["do"][1].__setitem__("until", True), r"doc\.fcns\.leaf\.do\[1\]"),
    (lambda d: d["fcns"]["leaf"]["do"][1]["do"][1]["set"]["n"]["if"]["else"]["else"].__setitem__(
        ">", d["fcns"]["leaf"]["do"][1]["do"][1]["set"]["n"]["if"]["else"]["else"].pop("<")), r"doc\.fcns\.leaf"),
    (lambda d: d["action"].insert(0, {"log": ["input"]}), r"at doc\.action"),
    (lambda d: d["fcns"]["inputs"]["do"][0]["new"].__setitem__(0, {"m.sqrt": 2}), r'new\[0\]\["m\.sqrt"\]: 2$'),
    (lambda d: d["cells"]["left"]["init"].__setitem__(1, 0), "cycle"),
    (lambda d: d["cells"]["feature"]["init"].__setitem__(0, 7), "must index the 2 input fields"),
    (lambda d: d["cells"]["roots"].__setitem__("init", [99]), "outside the node arrays"),
    (lambda d: d["cells"]["threshold"].__setitem__("init", ["x"] * 5), "array of numbers"),
    (lambda d: d["cells"]["base"].__setitem__("shared", True), r"cells\.base"),
    (lambda d: d["metadata"].pop("modelport.features"), "modelport.features"),
])
def test_engine_refuses_outside_the_subset(edit, match, tmp_path):
    with pytest.raises(ModelFormatError, match=match) as exc:
        runtimes.load(_tampered(tmp_path, edit), runtime="pfa")
    assert "\n" not in str(exc.value)


def test_json_limits(tmp_path, monkeypatch):
    deep = tmp_path / "deep.pfa.json"
    deep.write_text('{"input": 1, "output": 2, "action": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ModelFormatError, match="nested 100001 deep"):
        runtimes.load(deep, runtime="pfa")
    nan = tmp_path / "nan.pfa.json"
    nan.write_text('{"input": NaN}')
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        runtimes.load(nan, runtime="pfa")
    path = _write(ir_samples.regression(), tmp_path)
    monkeypatch.setattr(_pfa_load, "MAX_BYTES", 100)
    with pytest.raises(ModelFormatError, match="larger than the 100-byte PFA limit"):
        runtimes.load(path, runtime="pfa")


def test_float_cells_round_to_float32_on_loading(tmp_path):
    """A PFA "float" holds a float32: a threshold written with extra digits is rounded."""
    m = ir_samples.regression()
    path = _write(m, tmp_path)
    text = path.read_text().replace('"init":[0.10000000149011612,', '"init":[0.1,', 1)
    assert text != path.read_text()
    path.write_text(text)
    _check_engine(m, _rows(3), path)


def test_row_chunks_give_the_same_answer(tmp_path, monkeypatch):
    from modelport.runtimes import _pfa_engine

    model, X, path = _case("multi_softprob_parallel", tmp_path)
    whole = runtimes.load(path).predict(X, output="margin")
    monkeypatch.setattr(_pfa_engine, "_CHUNK_PAIRS", 7)  # a few rows per chunk
    _assert_bits(runtimes.load(path).predict(X, output="margin"), whole)


def test_base_of_a_float32_sum_must_be_a_float32(tmp_path):
    path = _write(ir_samples.regression(), tmp_path)
    doc = json.loads(path.read_text())
    doc["cells"]["base"]["init"] = [0.1]  # a double, not a float32
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFormatError, match="cell 'base' must hold float32 values"):
        runtimes.load(path)
