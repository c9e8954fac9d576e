"""The Java, JavaScript, Go and Rust targets and runtimes (docs/native.md).

Every language must reproduce the reference evaluator's margins BIT FOR BIT (float32 sums in
the evaluator's order) and its links within the target's declared ``link_tolerance``, for
both code shapes, hostile feature names, the missing sentinel, categorical sets, vector
leaves, DART weights, gblinear and float64/averaged ensembles; a compiler failure is one line
naming the first compiler error; a 2,000-tree depth-10 model generates, compiles and loads.
A test skips only when the language's toolchain is absent, and says which.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import time

import numpy as np
import pytest

import ir_samples
import xgb_cases
import modelport
from modelport import runtimes
from modelport.converters.targets import WriteOptions, all_targets
from modelport.core.contract import MANIFEST_NAME, artifact_metadata, write_manifest
from modelport.core.errors import ModelportError
from modelport.core.ir.evaluate import predict, predict_margin
from modelport.core.ir.model import Feature, PostTransform
from modelport.core.ir.probe import probe_set
from modelport.core.numerics import ulp_distance
from modelport.core.toolchains import GO, JAVA, NODE, RUST

LANGS = {"java": JAVA, "javascript": NODE, "go": GO, "rust": RUST}
ENTRY = {"java": "Model.java", "javascript": "model.mjs", "go": "model.go", "rust": "model.rs"}
#: Feature names that break naive code generators in at least one of the four languages.
HOSTILE = ('q"uote', "new\nline\r", "*/ /* //", "back\\slash\\u0022", "${x}`tick`", "\u00fcn\u00ef \U0001F389",
           "\u2028sep\u2029", "'; }\") //")


def _lang(lang: str, *, slow: bool = False):
    tool = LANGS[lang]
    missing = "/".join(sorted({e for alts in tool.executables for e in alts}))
    marks = [pytest.mark.skipif(not tool.available(), reason=f"the {lang} toolchain ({missing}) is not installed")]
    return pytest.param(lang, id=lang, marks=marks + ([pytest.mark.slow] if slow else []))


FAST = [_lang(lang) for lang in LANGS]
#: javac alone takes 3-7 s per compile on a shared machine: Java's two-compile tests are slow.
FAST_BUT_JAVA = [_lang(lang, slow=lang == "java") for lang in LANGS]
SLOW = [_lang(lang, slow=True) for lang in LANGS]


def _write(model, lang: str, path, shape: str | None = None):
    mod = importlib.import_module(f"modelport.converters.targets.native.{lang}")
    getattr(mod, f"write_{lang}")(model, path, WriteOptions(), **({"shape": shape} if shape else {}))
    return path


def _check(model, lang: str, bundle, X=None) -> dict[str, int]:
    """Margins bit for bit, predictions within the target's link tolerance; returns the
    measured ULP distances."""
    X = probe_set(model, n_random=200, seed=3) if X is None else X
    rt = runtimes.load(bundle)
    margin = rt.predict(X, output="margin")
    ref = predict_margin(model, X).reshape(margin.shape)
    d_margin = ulp_distance(ref, margin)
    assert np.array_equal(np.isnan(ref), np.isnan(margin))
    assert int(d_margin.max(initial=0)) == 0, f"{lang}: margins differ by {d_margin.max()} ULP"
    pred = rt.predict(X)
    want = predict(model, X).reshape(pred.shape)
    d_pred = ulp_distance(want, pred)
    tol = all_targets().get(lang).link_tolerance
    exact = model.post_transform in (PostTransform.IDENTITY, PostTransform.HINGE, PostTransform.SOFTMAX_LABEL)
    assert int(d_pred.max(initial=0)) <= (0 if exact else tol.max_ulp), f"{lang}: predictions differ by {d_pred.max()} ULP"
    return {"margin": int(d_margin.max(initial=0)), "prediction": int(d_pred.max(initial=0))}


def _hostile_model():
    base = ir_samples.regression(n_features=len(HOSTILE))
    feats = tuple(Feature(name) for name in HOSTILE)
    return dataclasses.replace(base, features=feats, missing=-999.0)


# -- fast: one compile or two per language ---------------------------------------------


@pytest.mark.parametrize("lang", FAST)
def test_hostile_feature_names_compile_run_and_round_trip(lang, tmp_path):
    model = _hostile_model()
    bundle = _write(model, lang, tmp_path / "m")
    source = (bundle / ENTRY[lang]).read_text(encoding="ascii")  # ASCII only: every name is escaped
    for name in HOSTILE:
        assert name not in source
    X = probe_set(model, n_random=50, seed=1)
    X[:5, 0] = -999.0  # the sentinel means missing
    _check(model, lang, bundle, X)
    rt = runtimes.load(bundle)
    assert rt.program_feature_names() == list(HOSTILE)
    assert rt.signature.feature_names == list(HOSTILE)


@pytest.mark.parametrize("lang", FAST_BUT_JAVA)
def test_categorical_and_sentinel_in_both_shapes(lang, tmp_path):
    model = ir_samples.categorical()  # codes {1, 3, 7} go right; missing = -999
    X = np.array([[0, 1], [0, 3], [0, 7], [0, 2], [0, 1.7], [0, 3.9], [0, -0.5], [0, -1], [0, 16777216],
                  [0, np.nan], [0, -999], [3, 1], [3, 2], [np.nan, 7], [-999, 7], [0, 7.99]], dtype=np.float32)
    for shape in ("unrolled", "arrays"):
        bundle = _write(model, lang, tmp_path / shape, shape)
        assert ("DATA" in (bundle / ENTRY[lang]).read_text() or "data" in (bundle / ENTRY[lang]).read_text()) == (shape == "arrays")
        _check(model, lang, bundle, X)


@pytest.mark.parametrize("lang", FAST_BUT_JAVA)
def test_convert_verifies_an_xgboost_model(lang, xgb_trained, tmp_path):
    tc = xgb_trained("binary_logistic")
    result = modelport.convert(tc.json_path, to=lang, out=tmp_path / "m")
    assert result.verified
    model = modelport.load(tc.json_path)
    _check(model, lang, result.path, tc.X_probe)


@pytest.mark.parametrize("lang", FAST)
def test_compiler_failure_is_one_line_naming_the_first_error(lang, tmp_path):
    bundle = _write(ir_samples.regression(), lang, tmp_path / "m")
    entry = bundle / ENTRY[lang]
    entry.write_text(entry.read_text().replace("acc[0]", "acc[0] @@ broken", 1), encoding="ascii")
    (bundle / MANIFEST_NAME).unlink()
    write_manifest(bundle, format=lang, runtime=lang, metadata=artifact_metadata(ir_samples.regression()),
                   entry=ENTRY[lang])
    with pytest.raises(ModelportError) as err:
        runtimes.load(bundle)
    msg = str(err.value)
    assert "\n" not in msg and "failed" in msg and ("error" in msg.lower() or "Unexpected" in msg), msg


# -- slow: every IR sample and every XGBoost case, both shapes --------------------------


def _dart(model):
    ens = model.booster
    w = np.array([0.7, 1.3], dtype=np.float32)
    return dataclasses.replace(model, booster=dataclasses.replace(ens, tree_weight=w, apply_tree_weight=True))


def _wide(model, *, average: bool):
    """float64 thresholds, leaves and sum (LightGBM / scikit-learn semantics)."""
    ens = model.booster
    trees = tuple(dataclasses.replace(t, threshold=(t.threshold.astype(np.float64) + 1e-9) * (t.left >= 0))
                  for t in ens.trees)
    return dataclasses.replace(model, booster=dataclasses.replace(ens, trees=trees, threshold_dtype="float64",
                                                                  value_dtype="float64", average=average))


SAMPLES = {
    "binary": ir_samples.binary, "multiclass": ir_samples.multiclass, "vector_leaf": ir_samples.vector_leaf,
    "linear": ir_samples.linear, "dart": lambda: _dart(ir_samples.regression()),
    "wide": lambda: _wide(ir_samples.regression(), average=False),
    "wide_average": lambda: _wide(ir_samples.binary(), average=True),
    "softmax_label": lambda: dataclasses.replace(ir_samples.multiclass(), post_transform=PostTransform.SOFTMAX_LABEL),
}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
@pytest.mark.parametrize("lang", SLOW)
def test_ir_samples_in_both_shapes(lang, sample, tmp_path):
    model = SAMPLES[sample]()
    shapes = ("arrays",) if sample == "linear" else ("unrolled", "arrays")
    for shape in shapes:
        _check(model, lang, _write(model, lang, tmp_path / shape, shape))


@pytest.mark.parametrize("case", xgb_cases.case_params(lambda c: c.name != "binary_logistic"))
@pytest.mark.parametrize("lang", SLOW)
def test_every_xgboost_case_converts_and_verifies(lang, case, xgb_trained, tmp_path):
    tc = xgb_trained(case)
    result = modelport.convert(tc.json_path, to=lang, out=tmp_path / "m")
    assert result.verified
    model = modelport.load(tc.json_path)
    _check(model, lang, tmp_path / "m", tc.X_probe)
    _check(model, lang, _write(model, lang, tmp_path / "arrays", "arrays"), tc.X_probe)


# -- slow: a 2,000-tree depth-10 model --------------------------------------------------


def synthetic_xgboost_json(path, *, n_trees: int = 2000, depth: int = 10, n_features: int = 10, seed: int = 0):
    """An XGBoost 3.x JSON model (binary:logistic) of ``n_trees`` random trees, each exactly
    ``depth`` splits deep (about 300 nodes: every node above the last level splits with
    probability 0.8, the leftmost path always), written directly: training one takes minutes."""
    rng = np.random.default_rng(seed)
    trees = [_random_tree(rng, tid, depth, n_features) for tid in range(n_trees)]
    doc = {"learner": {
        "attributes": {}, "feature_names": [], "feature_types": [],
        "gradient_booster": {"model": {"cats": {"enc": [], "feature_segments": [], "sorted_idx": []},
                                       "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": str(n_trees)},
                                       "iteration_indptr": list(range(n_trees + 1)), "tree_info": [0] * n_trees,
                                       "trees": trees}, "name": "gbtree"},
        "learner_model_param": {"base_score": "[5E-1]", "boost_from_average": "1", "num_class": "0",
                                "num_feature": str(n_features), "num_target": "1"},
        "objective": {"name": "binary:logistic", "reg_loss_param": {"scale_pos_weight": "1"}}},
        "version": [3, 2, 0]}
    path.write_text(json.dumps(doc))
    return path


def _random_tree(rng, tid: int, depth: int, n_features: int) -> dict:
    """One XGBoost JSON tree, grown breadth first (see :func:`synthetic_xgboost_json`)."""
    cap = 2 ** (depth + 1)
    u, feats, dl = rng.random(cap), rng.integers(n_features, size=cap), rng.integers(2, size=cap)
    thr, leaf = rng.normal(size=cap).astype(np.float32), rng.normal(scale=0.05, size=cap).astype(np.float32)
    left, right, parents, feat, cond, depths = [], [], [], [], [], []
    queue = [(2147483647, 0, True, None)]  # (parent, depth, on the leftmost path, side)
    while queue:
        parent, d, leftmost, side = queue.pop(0)
        node = len(left)
        left.append(-1)
        right.append(-1)
        parents.append(parent)
        feat.append(0)
        cond.append(float(leaf[node]))
        depths.append(d)
        if side == "l":
            left[parent] = node
        elif side == "r":
            right[parent] = node
        if d < depth and (leftmost or u[node] < 0.8):
            feat[node] = int(feats[node])
            cond[node] = float(thr[node])
            queue += [(node, d + 1, leftmost, "l"), (node, d + 1, False, "r")]
    n = len(left)
    return {"base_weights": cond, "categories": [], "categories_nodes": [], "categories_segments": [],
            "categories_sizes": [], "default_left": dl[:len(left)].tolist(), "id": tid, "left_children": left,
            "loss_changes": [1.0] * n, "parents": parents, "right_children": right, "split_conditions": cond,
            "split_indices": feat, "split_type": [0] * n, "sum_hessian": [float(n - i) for i in range(n)],
            "tree_param": {"num_deleted": "0", "num_feature": str(n_features), "num_nodes": str(n),
                           "size_leaf_vector": "1"}}


@pytest.fixture(scope="module")
def big_model_file(tmp_path_factory):
    return synthetic_xgboost_json(tmp_path_factory.mktemp("big") / "big.json")


@pytest.mark.parametrize("lang", SLOW)
def test_2000_trees_depth_10_generate_compile_and_load(lang, big_model_file, tmp_path, record_property):
    model = modelport.load(big_model_file)
    assert len(model.booster.trees) == 2000 and max(ir_depth(t) for t in model.booster.trees) == 10
    t0 = time.perf_counter()
    bundle = _write(model, lang, tmp_path / "m")
    t1 = time.perf_counter()
    rt = runtimes.load(bundle)  # compiles (or, for node, imports) once
    t2 = time.perf_counter()
    X = np.random.default_rng(5).normal(size=(2000, 10)).astype(np.float32)
    X[::7, 3] = np.nan
    _check(model, lang, bundle, X)
    record_property("generate_s", round(t1 - t0, 2))
    record_property("compile_s", round(t2 - t1, 2))
    assert rt.signature.n_features == 10


def ir_depth(tree) -> int:
    """Depth of a tree (iterative)."""
    best, stack = 0, [(0, 0)]
    while stack:
        i, d = stack.pop()
        if tree.left[i] >= 0:
            stack += [(int(tree.left[i]), d + 1), (int(tree.right[i]), d + 1)]
            best = max(best, d + 1)
    return best


@pytest.mark.parametrize("lang", FAST)
def test_timeouts_and_unknown_options_are_one_line_errors(lang, tmp_path):
    bundle = _write(ir_samples.regression(), lang, tmp_path / "m")
    with pytest.raises(ModelportError, match="takes compile_timeout"):
        runtimes.load(bundle, threads=2)
    rt = runtimes.load(bundle, run_timeout=1e-6)
    with pytest.raises(ModelportError) as err:
        rt.predict(np.zeros((3, 3), dtype=np.float32))
    assert "timed out" in str(err.value) and "\n" not in str(err.value)
