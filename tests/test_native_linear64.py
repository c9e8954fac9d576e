"""Native targets on float64 linear models with every preprocessing step (hand-built IRs):
margins and predictions bit for bit against the reference evaluator on the probe rows, every
link a float64 linear model may carry, hostile feature and category names (category names
never reach the generated code), and the refusal of preprocessing before a tree ensemble."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import ir_samples
from modelport.converters.targets import WriteOptions, all_targets
from modelport.converters.targets.native import lower as L
from modelport.core.errors import UnsupportedModelError
from modelport.core.ir import evaluate
from modelport.core.ir.model import (
    Affine,
    AffineKind,
    Feature,
    FeatureType,
    Impute,
    LinearBooster,
    Lookup,
    Model,
    PostTransform,
    SelectColumns,
    Task,
)
from modelport.core.ir.probe import probe_set
from modelport.core.ir.validate import validate
from modelport.runtimes import load as load_runtime

CATEGORIES = ('cat"one', "*/ evil", "${boom}", "new\nline")
NAMES = ('quote"name', "end */ comment", "nominal `x`", "back\\slash", "\r\t\0nul", "é 中文")


def _model(post: PostTransform, n_out: int) -> Model:
    task = {PostTransform.SIGMOID: Task.BINARY, PostTransform.HINGE: Task.BINARY,
            PostTransform.SOFTMAX: Task.MULTICLASS, PostTransform.SOFTMAX_LABEL: Task.MULTICLASS}.get(post, Task.REGRESSION)
    feats = tuple(Feature(n, FeatureType.NOMINAL, CATEGORIES) if k in (2, 5) else Feature(n) for k, n in enumerate(NAMES))
    one_hot = np.vstack([np.eye(3)[[0, 1, 2, 0]], [0.0, 0.0, 0.0], [np.nan, 0.5, 0.25]])  # unknown, missing rows
    steps = (
        SelectColumns(np.array([0, 1, 2, 3, 4, 5, 0], np.int32)),
        Affine(np.array([0, 1], np.int32), np.array([0.1, -3.5]), np.array([1.7, 0.3]), AffineKind.SUBTRACT_DIVIDE),
        Affine(np.array([3], np.int32), np.array([-0.25]), np.array([0.4]), AffineKind.MULTIPLY_ADD, clip=(-1.0, 1.0)),
        Impute(np.array([4], np.int32), np.array([2.5])),
        Impute(np.array([6], np.int32), np.array([7.0]), missing_value=0.0),
        Lookup(2, np.array([0.0, 1.0, 2.0, 3.0]), one_hot, "OneHotEncoder"),
        Lookup(7, np.array([1.0, 0.0, 3.0]), np.array([[0.0], [1.0], [2.0], [-1.0], [-1.0]]), "OrdinalEncoder"),
    )
    rng = np.random.default_rng(7)
    w = rng.normal(size=(9, n_out)) * np.array([1.0, 1e-3, 10.0, 1.0, 0.3, 1.0, 2.0, 1.0, 0.7])[:, None]
    return Model(task=task, features=feats, n_outputs=n_out, n_classes=2 if task is Task.BINARY else (n_out if task is Task.MULTICLASS else 0),
                 booster=LinearBooster(weights=w, bias=rng.normal(size=n_out), value_dtype="float64"),
                 base_score=np.zeros(n_out, np.float32), post_transform=post, preprocessing=steps)


VARIANTS = [(PostTransform.IDENTITY, 2), (PostTransform.SIGMOID, 1), (PostTransform.HINGE, 1),
            (PostTransform.SOFTMAX, 3), (PostTransform.SOFTMAX_LABEL, 3)]
SLOW_LANGS = ("java", "javascript", "go", "rust")


def _rows(m: Model) -> np.ndarray:
    X = probe_set(m, n_random=60, seed=5)
    extra = np.array([[0.1, -3.5, 3.0, -0.25, np.nan, 4.0], [0.0, 0.0, np.nan, 1e300, 2.5, 1.0],
                      [-0.0, 1e-300, 1.0, -1e300, 0.0, np.nan]])
    return np.vstack([X, extra])


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return a.shape == b.shape and bool(np.all((a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))))


def _check(target: str, m: Model, tmp_path, shape: str = "auto") -> None:
    validate(m)
    t = all_targets().get(target)
    for tool in t.toolchain:
        if not tool.available():
            pytest.skip(f"toolchain {tool.name} missing: {tool.install}")
    out = tmp_path / f"model{t.extension if t.artifact == 'file' else ''}"
    t.write(m, out, WriteOptions(code_shape=shape))
    code = [out] if out.is_file() else [p for p in sorted(out.iterdir()) if p.name != "modelport.json"]  # JSON escapes
    text = "".join(p.read_text("ascii") for p in code)
    for c in CATEGORIES:
        assert c not in text
    for n in NAMES:
        assert n not in text
    rt = load_runtime(out)
    X = _rows(m)
    assert list(rt.signature.feature_names) == list(NAMES)
    assert _same(rt.predict(X, output="margin"), evaluate.predict_margin(m, X))
    assert _same(rt.predict(X), evaluate.predict(m, X))
    if target == "c":  # the single-row fast path reads float64 rows too
        one = rt.row_predictor("prediction")
        got = np.array([one(np.ascontiguousarray(r)) for r in X], dtype=np.float32)
        assert _same(got, evaluate.predict(m, X))


@pytest.mark.parametrize(("post", "n_out"), VARIANTS, ids=[v[0].value for v in VARIANTS])
@pytest.mark.parametrize("target", ["c", "python"])
def test_linear64_with_every_step(target, post, n_out, tmp_path):
    _check(target, _model(post, n_out), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("target", SLOW_LANGS)
def test_linear64_with_every_step_jvm_js_go_rust(target, tmp_path):
    for post, n_out in VARIANTS:
        _check(target, _model(post, n_out), tmp_path / post.value)


def test_category_names_never_reach_the_plan():
    plan = L.lower(_model(PostTransform.SOFTMAX, 3))
    assert plan.kind == "linear64" and plan.booster_width == 9
    assert [s.kind for s in plan.steps] == ["select", "affine", "affine", "impute", "impute", "lookup", "lookup"]


def _tree_pipeline(base: Model) -> Model:
    steps = _model(PostTransform.IDENTITY, 1).preprocessing
    return dataclasses.replace(base, features=_model(PostTransform.IDENTITY, 1).features, preprocessing=steps)


TREE_BASES = {"regression": lambda: ir_samples.regression(n_features=9), "binary": ir_samples.binary,
              "multiclass": ir_samples.multiclass}


@pytest.mark.parametrize("shape", ["unrolled", "arrays"])
@pytest.mark.parametrize("base", sorted(TREE_BASES))
@pytest.mark.parametrize("target", ["c", "python"])
def test_trees_after_every_step(target, base, shape, tmp_path):
    _check(target, _tree_pipeline(TREE_BASES[base]()), tmp_path, shape)


@pytest.mark.slow
@pytest.mark.parametrize("target", SLOW_LANGS)
def test_trees_after_every_step_jvm_js_go_rust(target, tmp_path):
    for name, make in sorted(TREE_BASES.items()):
        for shape in ("unrolled", "arrays"):
            _check(target, _tree_pipeline(make()), tmp_path / f"{name}-{shape}", shape)


def test_preprocessing_before_gblinear_is_refused():
    m = dataclasses.replace(ir_samples.linear(),
                            preprocessing=(Impute(np.array([0], np.int32), np.array([1.0])),))
    with pytest.raises(UnsupportedModelError, match="preprocessing"):
        L.lower(m)


def test_exp_link_is_refused():
    m = _model(PostTransform.IDENTITY, 2)
    m = dataclasses.replace(m, post_transform=PostTransform.EXP)
    with pytest.raises(UnsupportedModelError, match="post-transform exp"):
        all_targets().get("c").write(m, "/nonexistent/never-written", WriteOptions())


def test_java_refuses_step_code_beyond_its_method_limit():
    from modelport.converters.targets.native import java

    n = 2_000  # 6,000 statements: javac says "code too large" (1,500 columns still compile)
    steps = (Affine(np.arange(n, dtype=np.int32), np.full(n, 0.3), np.full(n, 1.7), AffineKind.SUBTRACT_DIVIDE),)
    m = Model(task=Task.REGRESSION, features=tuple(Feature(f"f{i}") for i in range(n)), n_outputs=1, n_classes=0,
              booster=LinearBooster(weights=np.ones((n, 1)), bias=np.zeros(1), value_dtype="float64"),
              base_score=np.zeros(1, np.float32), post_transform=PostTransform.IDENTITY, preprocessing=steps)
    with pytest.raises(UnsupportedModelError, match="64 KB"):
        java.generate_java(m)
