"""The LightGBM frontend: model.txt read into the IR, checked against lightgbm itself.

Margins: LightGBM sums doubles in tree order (``PredictRaw``), so the IR's float64 sum,
rounded once to float32, equals float32(lightgbm raw score) bit for bit (random forests:
the raw score divided by the iteration count, which ``predict`` does before its link).
Identity objectives therefore match ``predict()`` bit for bit too; links (sigmoid, softmax,
exp) are computed by the IR in float32 from the float32 margin while LightGBM computes them
in float64 from the float64 margin: :data:`LINK` bounds that difference.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import modelport
from modelport.converters.frontends import LoadOptions, detect_frontend
from modelport.converters.frontends.lightgbm import ZERO_THRESHOLD, load_lightgbm
from modelport.core.errors import ModelFormatError, ModelportError, UnsupportedModelError
from modelport.core.ir import evaluate, serialize
from modelport.core.ir.model import PostTransform, Task
from modelport.core.ir.probe import probe_set
from modelport.core.tolerances import Tolerance

lgb = pytest.importorskip("lightgbm")

_U = 2.0**-24  # float32 unit roundoff


def link_tolerance(max_abs_margin: float) -> Tolerance:
    """How far the IR's float32 link of the float32-rounded margin may be from float32 of
    LightGBM's float64 link of the float64 margin, relative to the output.  Rounding a margin
    m to float32 moves it by at most |m| u (u = 2**-24); sigmoid and exp turn an absolute
    margin error e into a relative output error of at most e (|d log f / dm| <= 1), softmax
    into at most 2e (through x_k - max), and softmax's float32 subtraction x_k - max adds
    another 2|m| u.  The float32 link's own steps (exp within 2 ULP: TRANSFORM_ULP, the
    divisions) and the final rounding of LightGBM's double add at most 4 ULP, i.e. 8 u."""
    return Tolerance("lightgbm-float32-link", 0.0, (4.0 * max_abs_margin + 8.0) * _U, 4,
                     "the IR links the float32 margin in float32, LightGBM the float64 margin in float64",
                     "margin rounding and softmax subtraction 4|m|u, plus 4 ULP (8u) of float32 link and rounding")


def _ulp_ok(ref: np.ndarray, got: np.ndarray, tol: Tolerance) -> np.ndarray:
    ref, got = ref.astype(np.float32), got.astype(np.float32)
    ri = ref.view(np.int32).astype(np.int64)
    gi = got.view(np.int32).astype(np.int64)
    ri = np.where(ri < 0, -(ri & 0x7FFFFFFF), ri)
    gi = np.where(gi < 0, -(gi & 0x7FFFFFFF), gi)
    close = np.abs(ref.astype(np.float64) - got.astype(np.float64)) <= tol.atol + tol.rtol * np.abs(ref.astype(np.float64))
    return (np.abs(ri - gi) <= tol.max_ulp) | close | (np.isnan(ref) & np.isnan(got))


def _data(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.empty((n, 5))
    X[:, 0] = rng.normal(size=n)
    X[rng.random(n) < 0.15, 0] = np.nan              # NaN-missing feature
    X[:, 1] = rng.normal(size=n) * (rng.random(n) < 0.7)  # many exact zeros
    X[:, 2] = rng.integers(0, 8, size=n)             # categorical
    X[:, 3] = rng.uniform(-3, 3, size=n)
    X[:, 4] = rng.normal(size=n) * 1e-3
    return X


def _signal(X: np.ndarray) -> np.ndarray:
    return (np.nan_to_num(X[:, 0]) + 2 * X[:, 1] + np.isin(X[:, 2], [1, 4, 6]) * 1.5
            + np.sin(X[:, 3]) + 300 * X[:, 4])


def _labels(objective: str, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    s = _signal(X) + rng.normal(scale=0.3, size=len(X))
    if objective in ("binary", "cross_entropy"):
        return (s > 0.5).astype(float) if objective == "binary" else 1 / (1 + np.exp(-s))
    if objective in ("multiclass", "multiclassova"):
        return np.digitize(s, [-0.5, 1.0, 2.5]).astype(float)
    if objective in ("poisson", "gamma", "tweedie", "mape"):
        return np.exp(s / 3) + (0.1 if objective in ("gamma", "mape") else 0.0) * (objective != "poisson")
    if objective in ("lambdarank", "rank_xendcg"):
        return np.digitize(s, [-0.5, 0.5, 1.5, 2.5]).astype(float)
    return s


#: name -> (objective, extra params, rounds)
CASES = {
    "regression": ("regression", {}, 20),
    "regression_l1": ("regression_l1", {}, 10),
    "huber": ("huber", {}, 10),
    "fair": ("fair", {}, 10),
    "quantile": ("quantile", {"alpha": 0.3}, 10),
    "mape": ("mape", {}, 10),
    "poisson": ("poisson", {}, 15),
    "gamma": ("gamma", {}, 15),
    "tweedie": ("tweedie", {}, 15),
    "binary": ("binary", {}, 20),
    "cross_entropy": ("cross_entropy", {}, 10),
    "multiclass": ("multiclass", {"num_class": 4}, 10),
    "multiclassova": ("multiclassova", {"num_class": 4}, 10),
    "lambdarank": ("lambdarank", {}, 10),
    "rank_xendcg": ("rank_xendcg", {}, 10),
    "zero_as_missing": ("regression", {"zero_as_missing": True}, 20),
    "no_missing": ("binary", {"use_missing": False}, 15),
    "rf_binary": ("binary", {"boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.7}, 10),
    "rf_multiclass": ("multiclass", {"num_class": 4, "boosting": "rf", "bagging_freq": 1,
                                     "bagging_fraction": 0.7}, 6),
    "many_trees": ("regression", {"num_leaves": 7, "learning_rate": 0.05}, 300),
    "deep_categorical": ("regression", {"num_leaves": 63, "max_cat_to_onehot": 2, "cat_l2": 0.1,
                                        "min_data_per_group": 5, "cat_smooth": 1}, 10),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cache: dict[str, tuple] = {}
    root = tmp_path_factory.mktemp("lgb")

    def get(name: str):
        if name not in cache:
            objective, extra, rounds = CASES[name]
            rng = np.random.default_rng(7)
            X = _data(600)
            y = _labels(objective, X, rng)
            params = {"objective": objective, "num_leaves": 15, "min_data_in_leaf": 5, "verbose": -1,
                      "seed": 1, "deterministic": True, "num_threads": 1, "min_data_per_group": 10,
                      "cat_smooth": 5, **extra}
            ds = lgb.Dataset(X, y, categorical_feature=[2], params={"verbose": -1})
            if objective in ("lambdarank", "rank_xendcg"):
                ds.set_group([30] * 20)
            booster = lgb.train(params, ds, num_boost_round=rounds)
            path = root / f"{name}.txt"
            booster.save_model(str(path))
            cache[name] = (lgb.Booster(model_file=str(path)), path)
        return cache[name]

    return get


def _probe_rows(model) -> np.ndarray:
    z = ZERO_THRESHOLD
    specials = [0.0, -0.0, 1e-36, -1e-36, z, -z, np.nextafter(z, 1), np.nextafter(-z, -1), 5e-300,
                np.nan, np.inf, -np.inf, -0.5, -0.999, -1.0, 0.5, 7.9, 99.0, 3e9, 1e300]
    rows = np.tile(_data(len(specials), seed=3), (model.n_features, 1))
    for f in range(model.n_features):
        rows[f * len(specials):(f + 1) * len(specials), f] = specials
    return np.concatenate([probe_set(model, n_random=200, seed=1), rows, _data(300, seed=11)])


def _reference_margin(booster, X: np.ndarray, rf: bool) -> np.ndarray:
    raw = np.asarray(booster.predict(X, raw_score=True), dtype=np.float64).reshape(len(X), -1)
    if rf:  # predict() divides the raw sum by the iteration count before the link
        raw = raw / booster.current_iteration()
    return raw


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_lightgbm(trained, name):
    booster, path = trained(name)
    model = load_lightgbm(path)
    X = _probe_rows(model)
    assert X.dtype == np.float64
    ref = _reference_margin(booster, X, rf=name.startswith("rf_"))
    margin = evaluate.predict_margin(model, X)
    assert np.array_equal(margin.view(np.int32), ref.astype(np.float32).view(np.int32)), name

    pred = evaluate.predict(model, X)
    want = np.asarray(booster.predict(X), dtype=np.float64).astype(np.float32).reshape(pred.shape)
    if model.post_transform is PostTransform.IDENTITY:
        assert np.array_equal(pred.view(np.int32), want.view(np.int32)), name
    else:
        tol = link_tolerance(float(np.max(np.abs(ref))))
        ok = _ulp_ok(want, pred, tol)
        from modelport.core.numerics import ulp_distance

        assert ok.all(), (name, int(np.max(ulp_distance(want, pred))), float(np.max(np.abs(ref))))
    if model.task in (Task.BINARY, Task.MULTICLASS):
        labels = evaluate.classifier_outputs(model, margin, evaluate.transform(model.post_transform, margin))["label"]
        p = np.asarray(booster.predict(X), dtype=np.float64)
        want_label = (p > 0.5).astype(int) if p.ndim == 1 else np.argmax(p, axis=1)
        assert (labels == want_label).mean() > 0.999  # ties within the link's rounding aside


@pytest.mark.parametrize("name", ["regression", "binary", "multiclassova", "zero_as_missing", "rf_multiclass"])
def test_ir_round_trip_is_bit_exact(trained, name, tmp_path):
    _, path = trained(name)
    model = load_lightgbm(path)
    again = serialize.loads(serialize.dumps(model))
    assert serialize.dumps(again) == serialize.dumps(model)
    for a, b in zip(model.booster.trees, again.booster.trees, strict=True):
        assert a.value.dtype == b.value.dtype == np.float64
        assert np.array_equal(a.value.view(np.int64), b.value.view(np.int64))
        assert np.array_equal(a.threshold.view(np.int64), b.threshold.view(np.int64))
    assert again.booster.average == model.booster.average
    X = _probe_rows(model)
    assert np.array_equal(evaluate.predict_margin(again, X), evaluate.predict_margin(model, X))


def test_old_ir_documents_default_to_float32_sums():
    from ir_samples import binary

    doc = serialize.to_document(binary())
    del doc["booster"]["value_dtype"], doc["booster"]["average"]
    model = serialize.from_document(doc)
    assert model.booster.value_dtype == "float32" and model.booster.average is False


@pytest.mark.parametrize("name", ["regression", "binary", "multiclass", "zero_as_missing", "rf_binary"])
def test_convert_to_ir_verifies(trained, name, tmp_path):
    _, path = trained(name)
    result = modelport.convert(path, to="ir", out=tmp_path / "m.ir.json")
    assert result.verified and result.report.passed


def _onnx_margin(model, X: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    from modelport.converters.targets.onnx import build_onnx

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1  # what modelport.runtimes.onnx uses: trees summed in list order
    session = ort.InferenceSession(build_onnx(model).SerializeToString(), so, providers=["CPUExecutionProvider"])
    return session.run(["margin"], {"input": X})[0]


@pytest.mark.parametrize("name", ["regression", "binary", "multiclass", "multiclassova", "rf_multiclass",
                                  "zero_as_missing", "many_trees", "deep_categorical", "no_missing"])
def test_onnx_graph_is_bit_exact_on_float64_input(trained, name):
    """The double TreeEnsembleRegressor compares and sums like LightGBM: 0 ULP."""
    pytest.importorskip("onnx")
    _, path = trained(name)
    model = load_lightgbm(path)
    X = _probe_rows(model)
    assert np.array_equal(_onnx_margin(model, X).view(np.int32), evaluate.predict_margin(model, X).view(np.int32))


def test_onnx_double_sums_with_float32_thresholds(trained):
    """float32 comparisons with float64 sums (scikit-learn's shape): float32 input, widened."""
    pytest.importorskip("onnx")
    _, path = trained("multiclass")
    model = load_lightgbm(path)
    ens = model.booster
    trees = tuple(dataclasses.replace(t, threshold=t.threshold.astype(np.float32)) for t in ens.trees)
    model = dataclasses.replace(model, booster=dataclasses.replace(ens, trees=trees, threshold_dtype="float32"))
    X = _probe_rows(model).astype(np.float32)
    assert np.array_equal(_onnx_margin(model, X).view(np.int32), evaluate.predict_margin(model, X).view(np.int32))


@pytest.mark.parametrize("name", ["regression", "rf_multiclass"])
def test_convert_to_onnx_verifies(trained, name, tmp_path):
    pytest.importorskip("onnxruntime")
    _, path = trained(name)
    result = modelport.convert(path, to="onnx", out=tmp_path / "m.onnx")
    assert result.verified and result.report.passed


def test_load_routes_lightgbm_text_to_the_frontend(trained):
    _, path = trained("binary")
    assert detect_frontend(path).name == "lightgbm-text"
    model = modelport.load(path)
    assert model.provenance.source_format == "lightgbm-text"
    assert model.booster.threshold_dtype == "float64" and model.booster.value_dtype == "float64"


def test_iteration_end_keeps_the_first_iterations(trained):
    booster, path = trained("multiclass")
    model = load_lightgbm(path, LoadOptions(iteration_end=3))
    assert len(model.booster.trees) == 3 * 4
    X = _data(200, seed=5)
    ref = np.asarray(booster.predict(X, raw_score=True, num_iteration=3)).astype(np.float32)
    assert np.array_equal(evaluate.predict_margin(model, X), ref)
    with pytest.raises(UnsupportedModelError):
        load_lightgbm(path, LoadOptions(use_best_iteration=True))


# ---------------------------------------------------------------- hand-written models

_ONE_SPLIT = """tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=0
objective={objective}
feature_names=a
feature_infos=[-1:1]
tree_sizes=1

Tree=0
num_leaves=2
num_cat={num_cat}
split_feature=0
split_gain=1
threshold={threshold}
decision_type={decision_type}
left_child=-1
right_child=-2
leaf_value=1 2
leaf_weight=1 1
leaf_count=1 1
internal_value=0
internal_weight=0
internal_count=2
{extra}is_linear={linear}
shrinkage=1


end of trees
"""


def _one_split(tmp_path, *, threshold="0.5", decision_type=2, objective="regression", num_cat=0, extra="", linear=0):
    text = _ONE_SPLIT.format(threshold=threshold, decision_type=decision_type, objective=objective,
                             num_cat=num_cat, extra=extra, linear=linear)
    p = tmp_path / "one.txt"
    p.write_text(text)
    return p, text


_EDGE_X = np.array([0.0, -0.0, 1e-36, -1e-36, ZERO_THRESHOLD, -ZERO_THRESHOLD, np.nextafter(ZERO_THRESHOLD, 1),
                    np.nextafter(-ZERO_THRESHOLD, -1), 5e-36, -5e-36, np.nan, -0.5, -0.999, -1.0, -1.0001, 0.5,
                    1.0, 1.5, 31.0, 32.0, 33.7, 1e10, np.inf, -np.inf, 3e9, 2.0**24, -2.0**31])[:, None]


@pytest.mark.parametrize("decision_type", range(0, 12, 2))  # odd types are categorical: below
@pytest.mark.parametrize("threshold", ["5e-36", "-5e-36", "1.0000000180025095e-35", "-1.0000000180025095e-35",
                                       "0", "-0.5", "0.25", "1e300", "-1e-300"])
def test_numeric_missing_types_and_the_zero_threshold(tmp_path, decision_type, threshold):
    path, text = _one_split(tmp_path, threshold=threshold, decision_type=decision_type)
    want = lgb.Booster(model_str=text).predict(_EDGE_X)
    got = evaluate.predict(load_lightgbm(path), _EDGE_X)
    assert np.array_equal(got, want.astype(np.float32)), (decision_type, threshold, got, want)


@pytest.mark.parametrize("words", ["1", "3", "0 1", "4294967295 1", "2147483648", "0 0 1", "6", "0"])
@pytest.mark.parametrize("decision_type", [1, 3, 9, 11])
def test_categorical_bitsets(tmp_path, words, decision_type):
    n = len(words.split())
    extra = f"cat_boundaries=0 {n}\ncat_threshold={words}\n"
    path, text = _one_split(tmp_path, threshold="0", decision_type=decision_type, num_cat=1, extra=extra)
    want = lgb.Booster(model_str=text).predict(_EDGE_X)
    got = evaluate.predict(load_lightgbm(path), _EDGE_X)
    assert np.array_equal(got, want.astype(np.float32)), (words, got, want)


def _one_line(exc_type, fn, *words):
    with pytest.raises(exc_type) as ei:
        fn()
    msg = str(ei.value)
    assert msg and "\n" not in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


@pytest.mark.parametrize("objective,word", [
    ("binary sigmoid:2", "sigmoid:2"), ("cross_entropy_lambda", "cross_entropy_lambda"),
    ("regression sqrt", "reg_sqrt"), ("custom", "custom"), ("", "objective"),
])
def test_unsupported_objectives_are_refused(tmp_path, objective, word):
    path, _ = _one_split(tmp_path, objective=objective)
    _one_line(UnsupportedModelError, lambda: load_lightgbm(path), word)


def test_linear_trees_are_refused(tmp_path):
    path, _ = _one_split(tmp_path, linear=1)
    _one_line(UnsupportedModelError, lambda: load_lightgbm(path), "linear")


@pytest.mark.parametrize("frac", [0.0, 0.05, 0.3, 0.6, 0.9, 0.999])
def test_truncated_files_fail_in_one_line(trained, tmp_path, frac):
    _, path = trained("multiclass")
    data = path.read_bytes()
    end = data.index(b"end of trees")  # what follows (importances, parameters) is not needed
    p = tmp_path / "cut.txt"
    p.write_bytes(data[: int(end * frac)])
    _one_line(ModelportError, lambda: load_lightgbm(p))


@pytest.mark.parametrize("old,new", [
    ("num_leaves=2", "num_leaves=999999999999"),
    ("num_leaves=2", "num_leaves=-3"),
    ("max_feature_idx=0", "max_feature_idx=99999999999999"),
    ("left_child=-1", "left_child=0"),           # the root as its own child: a cycle
    ("right_child=-2", "right_child=-1"),        # a leaf with two parents
    ("right_child=-2", "right_child=-9"),
    ("split_feature=0", "split_feature=5"),
    ("decision_type=2", "decision_type=12"),
    ("threshold=0.5", "threshold=abc"),
    ("leaf_value=1 2", "leaf_value=1"),
    ("Tree=0", "Tree=3"),
    ("num_cat=0", "num_cat=7"),
    ("objective=regression", "objective=multiclass num_class:1000000000000"),
])
def test_malformed_models_fail_in_one_line(tmp_path, old, new):
    _, text = _one_split(tmp_path)
    p = tmp_path / "bad.txt"
    p.write_text(text.replace(old, new, 1))
    _one_line(ModelFormatError, lambda: load_lightgbm(p))


def test_unknown_format_versions_are_refused(tmp_path):
    _, text = _one_split(tmp_path)
    p = tmp_path / "v99.txt"
    p.write_text(text.replace("version=v4", "version=v99"))
    _one_line(UnsupportedModelError, lambda: load_lightgbm(p), "v99")


def _chain(path, *, features: list[int], thresholds: list[float], decision_types: list[int], n_features: int) -> str:
    """A LightGBM text model: one tree, a chain whose node i has leaf i on the left."""
    depth = len(features)
    names = " ".join(f"f{i}" for i in range(n_features))
    left = " ".join(str(~i) for i in range(depth))
    right = " ".join(str(i + 1) for i in range(depth - 1)) + f" {~depth}"
    text = (f"tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n"
            f"max_feature_idx={n_features - 1}\nobjective=regression\nfeature_names={names}\n"
            f"feature_infos={' '.join(['[-1:1]'] * n_features)}\ntree_sizes=1\n\n"
            f"Tree=0\nnum_leaves={depth + 1}\nnum_cat=0\n"
            f"split_feature={' '.join(map(str, features))}\nthreshold={' '.join(map(repr, thresholds))}\n"
            f"decision_type={' '.join(map(str, decision_types))}\nleft_child={left}\nright_child={right}\n"
            f"leaf_value={' '.join(str(i) for i in range(depth + 1))}\nis_linear=0\nshrinkage=1\n\n\nend of trees\n")
    path.write_text(text)
    return text


def test_zero_missing_expansion_is_bounded(tmp_path):
    """A chain of splits on 60 different features that each send the zero region the other
    way doubles per level: refused in one line, not expanded 2**60 times."""
    depth = 60
    p = tmp_path / "deep.txt"
    _chain(p, features=list(range(depth)), thresholds=[1.0] * depth, decision_types=[4] * depth, n_features=depth)
    msg = _one_line(UnsupportedModelError, lambda: load_lightgbm(p), "x the model's nodes")
    assert "zero" in msg


def test_zero_missing_chains_are_exact(tmp_path):
    """Zero-missing splits, default either way, thresholds on both sides of zero, mixed with
    None/NaN splits on 3 features: what each path already knows keeps the expansion small."""
    rng = np.random.default_rng(5)
    depth = 12
    features = [int(f) for f in rng.integers(0, 3, depth)]
    thresholds = [float(t) for t in rng.choice([-1.5, -0.25, -5e-36, 0.0, 5e-36, 0.3, 2.0], depth)]
    types = [int(t) for t in rng.choice([4, 6, 0, 2, 8, 10], depth)]
    p = tmp_path / "chain.txt"
    text = _chain(p, features=features, thresholds=thresholds, decision_types=types, n_features=3)
    model = load_lightgbm(p)
    assert sum(t.left.size for t in model.booster.trees) <= 8 * (2 * depth + 1)
    X = rng.choice(np.concatenate([_EDGE_X[:, 0], np.linspace(-3, 3, 41)]), size=(4000, 3))
    want = lgb.Booster(model_str=text).predict(X)
    assert np.array_equal(evaluate.predict(model, X), want.astype(np.float32))


def test_multiclassova_probabilities_are_unnormalised_sigmoids(trained):
    booster, path = trained("multiclassova")
    model = load_lightgbm(path)
    assert model.post_transform is PostTransform.SIGMOID and model.task is Task.MULTICLASS
    X = _data(50, seed=9)
    out = evaluate.classifier_outputs(model, evaluate.predict_margin(model, X))
    assert out["probabilities"].shape == (50, 4)
    assert not np.allclose(out["probabilities"].sum(axis=1), 1.0)
    assert math.isclose(float(out["probabilities"][0, 0]), float(booster.predict(X[:1])[0, 0]), rel_tol=1e-6)


def test_a_10000_deep_tree_loads_and_predicts(tmp_path):
    depth = 10_000
    lines = _ONE_SPLIT.split("Tree=0")[0]
    left = " ".join(str(~i) for i in range(depth))
    right = " ".join(str(i + 1) for i in range(depth - 1)) + f" {~depth}"
    thr = " ".join(repr(float(v)) for v in np.linspace(-5, 5, depth))
    tree = (f"Tree=0\nnum_leaves={depth + 1}\nnum_cat=0\nsplit_feature={' '.join(['0'] * depth)}\n"
            f"threshold={thr}\ndecision_type={' '.join(['8'] * depth)}\n"
            f"left_child={left}\nright_child={right}\nleaf_value={' '.join(str(i) for i in range(depth + 1))}\n"
            "is_linear=0\nshrinkage=1\n\n\nend of trees\n")
    text = lines.format(objective="regression") + tree
    p = tmp_path / "deep.txt"
    p.write_text(text)
    X = np.concatenate([_EDGE_X, np.linspace(-6, 6, 97)[:, None]])
    want = lgb.Booster(model_str=text).predict(X)
    assert np.array_equal(evaluate.predict(load_lightgbm(p), X), want.astype(np.float32))


def test_single_leaf_trees(tmp_path):
    """A tree that never split (num_leaves=1, empty split lines) is its one leaf value."""
    X = _data(200)
    y = np.full(200, 3.25)
    y[:3] = 3.5  # a few rows too few to split on (min_data_in_leaf)
    booster = lgb.train({"objective": "regression", "min_data_in_leaf": 150, "verbose": -1}, lgb.Dataset(X, y),
                        num_boost_round=3)
    path = tmp_path / "const.txt"
    booster.save_model(str(path))
    assert "num_leaves=1\n" in path.read_text()
    model = load_lightgbm(path)
    X = _probe_rows(model)
    want = np.asarray(booster.predict(X, raw_score=True)).astype(np.float32)
    assert np.array_equal(evaluate.predict_margin(model, X)[:, 0], want)
