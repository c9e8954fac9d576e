"""scikit-learn's float64 linear models (IR ``linear-float64``) in PFA: modelport's engine and
titus2, the independent Python PFA engine, both bit for bit with the reference evaluator
(``core/ir/_links64.py``): margins, predictions, probabilities and labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _titus_shim import TITUS_MISSING, import_titus
from modelport import runtimes
from modelport.converters.targets import WriteOptions
from modelport.converters.targets.pfa import build_pfa, write_pfa
from modelport.core.errors import UnsupportedModelError
from modelport.core.ir import evaluate
from modelport.core.ir.model import Feature, LinearBooster, Model, PostTransform, Task
from modelport.runtimes.pfa import PfaRuntime

F32 = np.float32
_OUTS = ("margin", "prediction", "probabilities")


def _model(task: Task, post: PostTransform, k: int, n_features: int = 5, seed: int = 0) -> Model:
    rng = np.random.default_rng(seed)
    # weights with long mantissas: a float32 or reordered sum would show in the last bits
    w = rng.normal(size=(n_features, k)) * np.array([1e-3, 1.0, 37.0, 1e4, 0.3])[:n_features, None]
    return Model(task=task, features=tuple(Feature(f"x{i}") for i in range(n_features)), n_outputs=k,
                 n_classes={Task.BINARY: 2, Task.MULTICLASS: k}.get(task, 0),
                 booster=LinearBooster(weights=w, bias=rng.normal(size=k) / 3, value_dtype="float64"),
                 base_score=np.zeros(k, dtype=F32), post_transform=post)


MODELS = {
    "regression": lambda: _model(Task.REGRESSION, PostTransform.IDENTITY, 1),
    "multi_target": lambda: _model(Task.REGRESSION, PostTransform.IDENTITY, 3),
    "logistic": lambda: _model(Task.BINARY, PostTransform.SIGMOID, 1),
    "hinge": lambda: _model(Task.BINARY, PostTransform.HINGE, 1),
    "softmax": lambda: _model(Task.MULTICLASS, PostTransform.SOFTMAX, 4),
    "softmax_label": lambda: _model(Task.MULTICLASS, PostTransform.SOFTMAX_LABEL, 3),
}


def _rows(n_features: int, n: int = 80) -> np.ndarray:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, n_features)) * rng.choice([1e-6, 1.0, 3.3, 1e3], size=(n, n_features))
    X[:4] = 0.0
    X[1, 0] = -0.0  # the sum starts from +0.0: its sign must survive
    X[5, 2] = np.nan  # NaN propagates to every output
    X[6] = np.nan
    return X


def _bits(a, b, what):
    a, b = np.asarray(a, F32), np.asarray(b, F32)
    assert a.shape == b.shape, what
    bad = ~((a.view(np.int32) == b.view(np.int32)) | (np.isnan(a) & np.isnan(b)))
    assert not bad.any(), f"{what}: {bad.sum()} values differ, first {a[bad][:3]} vs {b[bad][:3]}"


def _reference(model: Model, X) -> dict:
    return evaluate.outputs(model, X)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_engine_bit_exact(name, tmp_path):
    model = MODELS[name]()
    path = tmp_path / "m.pfa.json"
    write_pfa(model, path, WriteOptions())
    rt = runtimes.load(path)
    assert isinstance(rt, PfaRuntime) and rt.program.lay.margin == "linear64" and rt.kernel == "numpy"
    X = _rows(model.n_features)
    want = _reference(model, X)
    _bits(rt.predict(X, output="margin").reshape(want["margin"].shape), want["margin"], "margin")
    _bits(rt.predict(X).reshape(-1), evaluate.predict(model, X).reshape(-1), "prediction")
    if model.task is not Task.REGRESSION:
        _bits(rt.predict(X, output="probabilities"), want["probabilities"], "probabilities")
        np.testing.assert_array_equal(rt.predict(X, output="label"), want["label"])
    for i in (0, 1, 6, 17):  # one row at a time
        _bits(rt.predict(X[i:i + 1], output="margin").reshape(1, -1), want["margin"][i:i + 1], "row margin")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_titus_bit_exact(name, tmp_path):
    engine_cls = import_titus()
    if engine_cls is None:
        pytest.skip(TITUS_MISSING)
    model = MODELS[name]()
    text = build_pfa(model)
    engine, = engine_cls.fromJson(json.loads(text))
    X = _rows(model.n_features, n=80)
    X[8:48] /= 1e4
    # titus2 computes m.exp with Python's math.exp, which raises OverflowError past 709.78
    # (PFA's m.exp gives infinity): keep rows whose margins stay inside it
    d = evaluate.outputs(model, X)["margin"].astype(np.float64)
    X = X[np.all(np.isnan(d) | (np.abs(d) < 700), axis=1)]
    assert len(X) >= 30
    outs = [engine.action({f"f{j}": None if np.isnan(v) else float(v) for j, v in enumerate(row)}) for row in X]
    want = _reference(model, X)
    _bits(np.array([o["margin"] for o in outs]), want["margin"], "titus margin")
    pred = want["prediction"] if model.task is not Task.BINARY else want["prediction"].reshape(-1, 1)
    _bits(np.array([o["prediction"] for o in outs]), pred, "titus prediction")
    if model.task is not Task.REGRESSION:
        _bits(np.array([o["probabilities"] for o in outs]), want["probabilities"], "titus probabilities")
        np.testing.assert_array_equal(np.array([o["label"] for o in outs]), want["label"])


def test_document_sums_in_column_order(tmp_path):
    """No library dot product (its summation order is unspecified): an explicit loop."""
    doc = json.loads(build_pfa(MODELS["logistic"]()))
    text = json.dumps(doc["fcns"])
    assert "la.dot" not in text and "model.reg" not in text and "m.link" not in text
    assert doc["input"]["fields"][0]["type"] == ["null", "double"]


def test_refuses_links_it_does_not_define():
    model = _model(Task.REGRESSION, PostTransform.EXP, 1)
    with pytest.raises(UnsupportedModelError, match="post-transform exp"):
        build_pfa(model)


# -- preprocessing steps and nominal inputs ------------------------------------------------

def _stepped() -> Model:
    """Every step kind: impute (NaN and a value), both affine kinds (one clipped), a lookup
    with an unknown row and a raising (NaN) missing row, then column routing."""
    from modelport.core.ir.model import Affine, AffineKind, FeatureType, Impute, Lookup, SelectColumns

    steps = (
        Impute(columns=np.array([0], np.int32), fill=np.array([0.1234567891234])),
        Impute(columns=np.array([1], np.int32), fill=np.array([7.5]), missing_value=-1.0),
        Affine(columns=np.array([0, 1], np.int32), offset=np.array([0.3, -1.7]), scale=np.array([3.1, 0.77]),
               kind=AffineKind.SUBTRACT_DIVIDE),
        Affine(columns=np.array([2], np.int32), offset=np.array([-0.25]), scale=np.array([1 / 3]),
               kind=AffineKind.MULTIPLY_ADD, clip=(0.0, 1.0)),
        Lookup(column=3, keys=np.array([0.0, 1.0, 2.0]),
               table=np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [np.nan] * 3], dtype=np.float64),
               encoder="OneHotEncoder"),
        SelectColumns(sources=np.array([5, 0, 1, 2, 3, 4, 0], np.int32)),
    )
    rng = np.random.default_rng(3)
    feats = (Feature("a"), Feature("b"), Feature("c"), Feature("d", FeatureType.NOMINAL, ("x", "y", "z")))
    return Model(task=Task.BINARY, features=feats, n_outputs=1, n_classes=2,
                 booster=LinearBooster(weights=rng.normal(size=(7, 1)), bias=np.array([0.2]), value_dtype="float64"),
                 base_score=np.zeros(1, F32), post_transform=PostTransform.SIGMOID, preprocessing=steps)


def _stepped_rows() -> np.ndarray:
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.normal(size=60), rng.choice([-1.0, 0.5, 2.0, np.nan], 60), rng.normal(size=60) * 3,
                         rng.choice([0.0, 1.0, 2.0, 3.0, 7.0], 60)])
    X[::7, 0] = np.nan
    X[3, 3] = np.nan  # missing code: the lookup's NaN row
    X[4, 2] = -0.0
    return X


def test_steps_engine_and_titus_bit_exact(tmp_path):
    model = _stepped()
    path = tmp_path / "s.pfa.json"
    write_pfa(model, path, WriteOptions())
    rt = runtimes.load(path)
    assert rt.program.lay.steps == ("impnan", "impval", "affsd", "affmac", "lookup", "select")
    X = _stepped_rows()
    want = _reference(model, X)
    got = rt.run(X)
    for k in ("margin", "probabilities"):
        _bits(got[k], want[k], k)
    np.testing.assert_array_equal(got["label"], want["label"])
    engine_cls = import_titus()
    if engine_cls is None:
        pytest.skip(TITUS_MISSING)
    engine, = engine_cls.fromJson(json.loads(path.read_text()))
    outs = [engine.action({f"f{j}": None if np.isnan(v) else float(v) for j, v in enumerate(row)}) for row in X]
    for k in ("margin", "probabilities"):
        _bits(np.array([o[k] for o in outs]), want[k], "titus " + k)
    np.testing.assert_array_equal(np.array([o["label"] for o in outs]), want["label"])


@pytest.mark.parametrize("case", ["sklearn/pipe_column_transformer_logreg", "sklearn/pipe_onehot_drop_ridge"])
def test_pipeline_cases_titus_agrees(case, tmp_path):
    """scikit-learn pipelines (ColumnTransformer, scalers, encoders, nominal columns): titus2
    gives our engine's outputs bit for bit (the matrix holds our engine to the evaluator)."""
    import modelport
    from cases import all_cases
    from modelport.runtimes._coerce import coerce_input

    engine_cls = import_titus()
    if engine_cls is None:
        pytest.skip(TITUS_MISSING)
    c = all_cases().get(case)
    rows = c.rows()
    res = modelport.convert(c.model_file(), to="pfa", out=tmp_path / "m.pfa.json", data=rows)
    rt = runtimes.load(res.path)
    assert rt.program.lay.steps
    X = coerce_input(rows, rt.signature.features, dtype=np.float64)[:60]
    assert len(X) >= 10
    mine = rt.run(X)
    engine, = engine_cls.fromJson(json.loads(res.path.read_text()))
    outs = [engine.action({f"f{j}": None if np.isnan(v) else float(v) for j, v in enumerate(row)}) for row in X]
    for k in _OUTS:
        _bits(np.array([o[k] for o in outs]).reshape(mine[k].shape), mine[k], "titus " + k)
    if "label" in mine:
        np.testing.assert_array_equal(np.array([o["label"] for o in outs]), mine["label"])


def _tamper(tmp_path, edit):
    doc = json.loads(build_pfa(_stepped()))
    edit(doc)
    path = tmp_path / "t.pfa.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d["cells"]["p5_select_src"].update(init=[9, 0, 1, 2, 3, 4, 0]), "p5_select_src"),
    (lambda d: d["cells"]["p4_lookup_col"].update(init=4), "p4_lookup_col"),
    (lambda d: d["cells"]["p4_lookup_table"].update(init=[[0.0, 0.0, 0.0]]), "p4_lookup_table"),
    (lambda d: d["cells"]["p2_affsd_scale"].update(init=[1.0]), "p2_affsd_scale"),
    (lambda d: d["cells"].update(p7_select_src=d["cells"].pop("p5_select_src")), "outside the subset"),
    (lambda d: d["fcns"]["prep"]["do"].pop(1), "outside the subset"),
])
def test_engine_refuses_bad_step_cells(edit, match, tmp_path):
    from modelport.core.errors import ModelFormatError

    with pytest.raises(ModelFormatError, match=match):
        runtimes.load(_tamper(tmp_path, edit))


def test_trees_after_preprocessing_are_refused():
    import dataclasses

    import ir_samples
    from modelport.core.ir.model import Impute

    step = Impute(columns=np.array([0], np.int32), fill=np.array([0.5]))
    for m in (ir_samples.regression(), ir_samples.linear()):  # a tree ensemble, XGBoost gblinear
        with pytest.raises(UnsupportedModelError, match="float64 linear model only"):
            build_pfa(dataclasses.replace(m, preprocessing=(step,)))
