"""The XGBoost and SageMaker frontends: bad input fails in one line, format drift is read
right, truncation and missing values behave as xgboost does."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import pickle
import tarfile

import numpy as np
import pytest

from modelport.converters.frontends import LoadOptions, detect_frontend, load_model
from modelport.converters.frontends.xgboost import load_xgboost
from modelport.core.ir.evaluate import predict, predict_margin
from modelport.core.ir.model import LinearBooster, Task, TreeEnsemble
from modelport.core.errors import ModelFormatError, UnsupportedModelError
from test_evaluate_parity import assert_bitwise

xgb = pytest.importorskip("xgboost")


def _doc(tc) -> dict:
    return json.loads(tc.json_path.read_text())


def _write(tmp_path, doc, name="model.json"):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def _trees(doc):
    gb = doc["learner"]["gradient_booster"]
    return (gb["model"] if "model" in gb else gb["gbtree"]["model"])["trees"]


def _one_line_error(exc_type, fn, *match):
    with pytest.raises(exc_type) as ei:
        fn()
    msg = str(ei.value)
    assert "\n" not in msg and msg, msg
    for m in match:
        assert m in msg, msg
    return msg


# ---------------------------------------------------------------- malformed input

@pytest.mark.parametrize("fmt", ["json", "ubj"])
@pytest.mark.parametrize("frac", [0.0, 0.1, 0.5, 0.99])
def test_truncated_file(xgb_trained, tmp_path, fmt, frac):
    src = getattr(xgb_trained("binary_logistic"), f"{fmt}_path").read_bytes()
    p = tmp_path / f"model.{fmt}"
    p.write_bytes(src[: max(1, int(len(src) * frac))])
    _one_line_error(ModelFormatError, lambda: load_xgboost(p))


@pytest.mark.parametrize("fmt", ["json", "ubj"])
def test_corrupted_bytes_never_crash(xgb_trained, tmp_path, fmt):
    """Random byte corruption gives a model, or a ModelportError; never another exception."""
    src = bytearray(getattr(xgb_trained("categorical"), f"{fmt}_path").read_bytes())
    rng = np.random.default_rng(0)
    p = tmp_path / f"model.{fmt}"
    for _ in range(60):
        bad = bytearray(src)
        for pos in rng.integers(0, len(bad), 3):
            bad[pos] = int(rng.integers(0, 256))
        p.write_bytes(bytes(bad))
        try:
            m = load_xgboost(p)
            predict_margin(m, np.zeros((2, m.n_features)))
        except (ModelFormatError, UnsupportedModelError) as exc:
            assert "\n" not in str(exc)


@pytest.mark.parametrize("text", ['{"foo": 1}', "[1, 2]", '{"learner": 5}', "not json at all", '{"learner": {}}'])
def test_not_an_xgboost_model(tmp_path, text):
    p = tmp_path / "model.json"
    p.write_text(text)
    _one_line_error(ModelFormatError, lambda: load_xgboost(p))


def test_detect_frontend_by_content(xgb_trained, tmp_path):
    tc = xgb_trained("binary_logistic")
    p = tmp_path / "renamed.bin"
    p.write_bytes(tc.ubj_path.read_bytes())
    assert detect_frontend(p).name == "xgboost-ubj"
    p.write_bytes(tc.json_path.read_bytes())
    assert detect_frontend(p).name == "xgboost-json"
    p.write_text('{"foo": 1}')
    _one_line_error(ModelFormatError, lambda: detect_frontend(p))


@pytest.mark.parametrize("edit, message", [
    (lambda t: t["left_children"].__setitem__(0, 10_000), "out of range"),
    (lambda t: t["right_children"].__setitem__(0, -7), "out of range"),
    (lambda t: t["left_children"].__setitem__(1, 0), "reached twice"),  # cycle back to the root
    (lambda t: t["split_conditions"].pop(), "split_conditions"),
    (lambda t: t["default_left"].append(0), "default_left"),
    (lambda t: t["split_indices"].__setitem__(0, 99), "feature 99"),
    (lambda t: t.__delitem__("left_children"), "left_children"),
])
def test_inconsistent_tree(xgb_trained, tmp_path, edit, message):
    doc = _doc(xgb_trained("binary_logistic"))
    t = _trees(doc)[0]
    assert t["left_children"][1] != -1, "the edit needs an internal node 1"
    edit(t)
    _one_line_error(ModelFormatError, lambda: load_xgboost(_write(tmp_path, doc)), message)


def test_wrong_global_lengths(xgb_trained, tmp_path):
    doc = _doc(xgb_trained("multi_softmax"))
    doc["learner"]["gradient_booster"]["model"]["tree_info"].pop()
    _one_line_error(ModelFormatError, lambda: load_xgboost(_write(tmp_path, doc)), "tree_info")
    doc = _doc(xgb_trained("multi_softmax"))
    doc["learner"]["learner_model_param"]["base_score"] = "[0.1,0.2]"
    _one_line_error(ModelFormatError, lambda: load_xgboost(_write(tmp_path, doc)), "base_score")


@pytest.mark.parametrize("where, value, message", [
    ("objective", "reg:foo", "'reg:foo'"),
    ("booster", "x", "booster 'x'"),
])
def test_unsupported(xgb_trained, tmp_path, where, value, message):
    doc = _doc(xgb_trained("binary_logistic"))
    if where == "objective":
        doc["learner"]["objective"]["name"] = value
    else:
        doc["learner"]["gradient_booster"]["name"] = value
    _one_line_error(UnsupportedModelError, lambda: load_xgboost(_write(tmp_path, doc)), message)


def deep_chain_document(doc: dict, depth: int) -> dict:
    """``doc`` (an XGBoost regression model document) with its trees replaced by one chain
    ``depth`` splits deep: node 2k splits feature 0 at k, x < k goes to leaf 2k+1 (value k)."""
    n = 2 * depth + 1
    # Node 2k (k < depth) splits feature 0 at k: x < k goes to leaf 2k+1 (value k), else on.
    left = [-1] * n
    right = [-1] * n
    cond = [0.0] * n
    for k in range(depth):
        left[2 * k], right[2 * k], cond[2 * k] = 2 * k + 1, 2 * k + 2, float(k)
        cond[2 * k + 1] = float(k)
    cond[n - 1] = -1.0
    tree = {
        "base_weights": [0.0] * n, "categories": [], "categories_nodes": [], "categories_segments": [],
        "categories_sizes": [], "default_left": [1] * n, "id": 0, "left_children": left,
        "loss_changes": [0.0] * n, "parents": [2147483647] + [0] * (n - 1), "right_children": right,
        "split_conditions": cond, "split_indices": [0] * n, "split_type": [0] * n, "sum_hessian": [1.0] * n,
        "tree_param": {"num_deleted": "0", "num_feature": "6", "num_nodes": str(n), "size_leaf_vector": "1"},
    }
    model = doc["learner"]["gradient_booster"]["model"]
    model.update(trees=[tree], tree_info=[0], iteration_indptr=[0, 1])
    model["gbtree_model_param"]["num_trees"] = "1"
    doc["learner"]["learner_model_param"]["base_score"] = "[0E0]"
    return doc


def test_deep_tree_no_recursion(xgb_trained, tmp_path):
    """A hand-built 10,000-deep chain loads, evaluates and matches xgboost, without recursion."""
    p = _write(tmp_path, deep_chain_document(_doc(xgb_trained("reg_squarederror")), 10_000))
    m = load_model(p)
    X = np.zeros((6, 6))
    X[:, 0] = [-5, 0.5, 17.2, 9998.5, 1e9, np.nan]
    want = np.array([0, 1, 18, 9999, -1, 0], dtype=np.float32)
    assert_bitwise(predict_margin(m, X)[:, 0], want, "deep chain")
    b = xgb.Booster(model_file=str(p))
    assert_bitwise(predict_margin(m, X), b.predict(xgb.DMatrix(X), output_margin=True), "deep chain vs xgboost")


# ---------------------------------------------------------------- format drift

@pytest.mark.parametrize("name, scalar", [
    ("binary_logistic", "0.5"), ("binary_logistic", "3.5E-1"), ("count_poisson", "2.5"),
    ("multi_softprob_parallel", "0.5"), ("reg_gamma", "1.5E0"), ("survival_aft", "3"),
    ("binary_hinge", "0.7"), ("binary_logitraw", "0.3"), ("gblinear_multiclass", "0.25"),
])
def test_scalar_base_score_like_1x_2x(xgb_trained, tmp_path, name, scalar):
    """1.x/2.x write ``base_score`` as a scalar string in output space; xgboost 3.2 loading the
    same file is the reference for what it means."""
    tc = xgb_trained(name)
    doc = _doc(tc)
    doc["learner"]["learner_model_param"]["base_score"] = scalar
    doc["version"] = [2, 1, 4]
    p = _write(tmp_path, doc)
    b = xgb.Booster(model_file=str(p))
    ref = b.predict(tc.dmatrix(tc.X_probe), output_margin=True)
    assert_bitwise(predict_margin(load_model(p), tc.X_probe), ref, f"{name} base_score {scalar}")


def test_dart_3_3_shape(xgb_trained, tmp_path):
    """3.3+ writes DART as gbtree + weight_drop (trap 13 of docs/parity-traps.md): same model, same margins."""
    tc = xgb_trained("dart_binary")
    doc = _doc(tc)
    gb = doc["learner"]["gradient_booster"]
    doc["learner"]["gradient_booster"] = {"name": "gbtree", "model": gb["gbtree"]["model"],
                                          "weight_drop": gb["weight_drop"]}
    m = load_model(_write(tmp_path, doc))
    assert m.booster.apply_tree_weight
    ref = tc.booster.predict(tc.dmatrix(tc.X_probe), output_margin=True)
    assert_bitwise(predict_margin(m, tc.X_probe), ref, "dart 3.3 layout")


def test_gblinear_layout(xgb_trained):
    tc = xgb_trained("gblinear_multiclass")
    m = load_model(tc.json_path)
    assert isinstance(m.booster, LinearBooster)
    w = np.asarray(_doc(tc)["learner"]["gradient_booster"]["model"]["weights"], np.float32).reshape(7, 3)
    assert m.booster.weights.shape == (6, 3)
    assert np.array_equal(m.booster.weights, w[:6]) and np.array_equal(m.booster.bias, w[6])


# ---------------------------------------------------------------- truncation, missing, features

def test_best_iteration_truncation(xgb_trained):
    tc = xgb_trained("early_stopped")
    best = int(tc.booster.attributes()["best_iteration"])
    n_rounds = tc.booster.num_boosted_rounds()
    assert best + 1 < n_rounds, "early stopping must have stopped before the last round"
    d = tc.dmatrix(tc.X_probe)
    # Booster.predict ignores best_iteration: the default load keeps every tree.
    full = load_model(tc.json_path)
    assert len(full.booster.trees) == n_rounds
    assert_bitwise(predict_margin(full, tc.X_probe), tc.booster.predict(d, output_margin=True), "all trees")
    cut = load_xgboost(tc.json_path, use_best_iteration=True)
    assert len(cut.booster.trees) == best + 1
    ref = tc.booster.predict(d, output_margin=True, iteration_range=(0, best + 1))
    assert_bitwise(predict_margin(cut, tc.X_probe), ref, "best_iteration")
    # The scikit-learn wrapper's predict uses best_iteration: same as the truncated load.
    clf = xgb.XGBClassifier()
    clf.load_model(str(tc.json_path))
    assert_bitwise(predict_margin(cut, tc.X_probe)[:, 0], clf.predict(tc.X_probe, output_margin=True), "sklearn")
    three = load_xgboost(tc.ubj_path, iteration_end=3)
    ref = tc.booster.predict(d, output_margin=True, iteration_range=(0, 3))
    assert_bitwise(predict_margin(three, tc.X_probe), ref, "iteration_end=3")


def test_truncation_keeps_rounds_together(xgb_trained):
    tc = xgb_trained("multi_softprob_parallel")  # 3 classes x 2 parallel trees per round
    m = load_xgboost(tc.json_path, iteration_end=2)
    assert len(m.booster.trees) == 12
    ref = tc.booster.predict(tc.dmatrix(tc.X_probe), output_margin=True, iteration_range=(0, 2))
    assert_bitwise(predict_margin(m, tc.X_probe), ref, "2 rounds")


@pytest.mark.parametrize("sentinel", [-999.0, 0.0])
def test_missing_sentinel(xgb_trained, sentinel):
    tc = xgb_trained("nan_heavy")
    X = np.where(np.isnan(tc.X_probe), sentinel, tc.X_probe)
    m = dataclasses.replace(load_model(tc.json_path), missing=sentinel)
    ref = tc.booster.predict(tc.dmatrix(X, missing=sentinel), output_margin=True)
    assert_bitwise(predict_margin(m, X), ref, f"missing={sentinel}")


def test_pandas_categories_and_names(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    n = 300
    df = pd.DataFrame({
        "num": rng.normal(size=n),
        "color": pd.Categorical(rng.choice(["red", "green", "blue", "é"], n), categories=["red", "green", "blue", "é"]),
        "size": pd.Categorical(rng.choice([10, 20, 30], n)),
    })
    y = (df["num"] > 0) ^ (df["color"] == "blue")
    clf = xgb.XGBClassifier(n_estimators=5, max_depth=3, enable_categorical=True, tree_method="hist",
                            max_cat_to_onehot=1)
    clf.fit(df, y)
    p = tmp_path / "model.ubj"
    clf.save_model(str(p))
    m = load_model(p)
    assert [f.name for f in m.features] == ["num", "color", "size"]
    assert [f.type.value for f in m.features] == ["float", "categorical", "categorical"]
    # xgboost 3.2 writes string categories one byte per CHARACTER ('é' -> the lone byte 0xC3),
    # so a non-ASCII name cannot be recovered from the file: it reads as U+FFFD.  The model's
    # input is the category code, which is unaffected.
    assert m.features[1].categories == ("red", "green", "blue", "\ufffd")
    assert m.features[2].categories == ("10", "20", "30")
    assert m.task is Task.BINARY and m.n_classes == 2
    ref = clf.get_booster().predict(xgb.DMatrix(df, enable_categorical=True), output_margin=True)
    assert_bitwise(predict_margin(m, df), ref, "pandas categorical")
    assert np.allclose(predict(m, df), clf.predict_proba(df)[:, 1], rtol=0, atol=1e-7)


def test_provenance(xgb_trained):
    tc = xgb_trained("reg_gamma")
    m = load_model(tc.ubj_path)
    assert m.provenance.sha256 == hashlib.sha256(tc.ubj_path.read_bytes()).hexdigest()
    assert m.provenance.framework_version == xgb.__version__
    assert m.provenance.objective == "reg:gamma"
    assert isinstance(m.booster, TreeEnsemble) and m.booster.threshold_dtype == "float32"


# ---------------------------------------------------------------- SageMaker model.tar.gz

def _targz(tmp_path, members, name="model.tar.gz"):
    """members: list of (TarInfo-name, bytes | None, kind) with kind 'file' | 'symlink'."""
    p = tmp_path / name
    with tarfile.open(p, "w:gz") as tf:
        for mname, data, kind in members:
            info = tarfile.TarInfo(mname)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return p


@pytest.mark.parametrize("fmt", ["json", "ubj"])
def test_sagemaker_json_ubj(xgb_trained, tmp_path, fmt):
    tc = xgb_trained("binary_logistic")
    p = _targz(tmp_path, [("xgboost-model", getattr(tc, f"{fmt}_path").read_bytes(), "file")])
    assert detect_frontend(p).name == "sagemaker-xgboost"
    m = load_model(p)
    assert m.provenance.source_format == "sagemaker-xgboost"
    assert_bitwise(predict_margin(m, tc.X_probe), tc.booster.predict(tc.dmatrix(tc.X_probe), output_margin=True), "sm")


def test_sagemaker_legacy_binary(tmp_path):
    # XGBoost's legacy binary: b"binf" then LearnerModelParamLegacy (base_score, num_feature...).
    legacy = b"binf" + np.float32(0.5).tobytes() + np.uint32(6).tobytes() + bytes(128) + b"binary:logistic"
    p = _targz(tmp_path, [("xgboost-model", legacy, "file")])
    msg = _one_line_error(UnsupportedModelError, lambda: load_model(p), "legacy binary")
    assert "save_model('model.json')" in msg


def test_sagemaker_pickle(xgb_trained, tmp_path):
    tc = xgb_trained("multi_softmax")
    p = _targz(tmp_path, [("xgboost-model", pickle.dumps(tc.booster), "file")])
    _one_line_error(UnsupportedModelError, lambda: load_model(p), "pickle", "trust_pickle")
    m = load_model(p, options=LoadOptions(trust_pickle=True))
    assert_bitwise(predict_margin(m, tc.X_probe), tc.booster.predict(tc.dmatrix(tc.X_probe), output_margin=True), "pkl")


@pytest.mark.parametrize("members, message", [
    ([("../xgboost-model", b"{}", "file")], "unsafe member path"),
    ([("/abs/xgboost-model", b"{}", "file")], "unsafe member path"),
    ([("xgboost-model", None, "symlink")], "link"),
    ([("other-file", b"x", "file")], "no 'xgboost-model'"),
])
def test_sagemaker_unsafe_or_missing(tmp_path, members, message):
    p = _targz(tmp_path, members)
    _one_line_error(ModelFormatError, lambda: load_model(p, frontend="sagemaker-xgboost"), message)


def test_sagemaker_corrupt_archive(xgb_trained, tmp_path):
    p = _targz(tmp_path, [("xgboost-model", xgb_trained("binary_logistic").json_path.read_bytes(), "file")])
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    _one_line_error(ModelFormatError, lambda: load_model(p, frontend="sagemaker-xgboost"))


def test_doc_mutation_helpers_do_not_leak(xgb_trained):
    """The cached case files stay untouched by the edits above (they work on copies)."""
    tc = xgb_trained("binary_logistic")
    doc = _doc(tc)
    assert copy.deepcopy(doc) == json.loads(tc.json_path.read_text())
    assert load_model(tc.json_path).provenance.sha256 == hashlib.sha256(tc.json_path.read_bytes()).hexdigest()


def test_dataframe_categories_recoded_by_value(tmp_path):
    """XGBoost 3.1+ re-codes DataFrame categories by value; unseen values are an error."""
    pd = pytest.importorskip("pandas")
    from modelport.core.errors import InputDataError

    rng = np.random.default_rng(5)
    n = 300
    cats = ["x", "y", "z", "w"]
    df = pd.DataFrame({"a": rng.normal(size=n), "c": pd.Categorical(rng.choice(cats, n), categories=cats)})
    y = (df["c"].isin(["y", "w"])).astype(float) + (df["a"] > 0)
    b = xgb.train({"max_cat_to_onehot": 1, "max_depth": 3}, xgb.DMatrix(df, label=y, enable_categorical=True), 4)
    p = tmp_path / "model.json"
    b.save_model(str(p))
    m = load_model(p)
    t = pd.DataFrame({"a": rng.normal(size=8),
                      "c": pd.Categorical(list("yxzwwzxy"), categories=["w", "z", "y", "x", "unused"])})
    ref = b.predict(xgb.DMatrix(t, enable_categorical=True), output_margin=True)
    assert_bitwise(predict_margin(m, t), ref, "re-ordered categories")
    bad = t.assign(c=pd.Categorical(["x"] * 7 + ["new"]))
    _one_line_error(InputDataError, lambda: predict_margin(m, bad), "'new'")


def test_pre_2_0_document(xgb_trained, tmp_path):
    """A 1.x-shaped file: no iteration_indptr, split_type, categories or num_target, boolean
    default_left, scalar base_score.  xgboost 3.2 loading the same file is the reference."""
    tc = xgb_trained("multi_softprob_parallel")
    doc = _doc(tc)
    doc["version"] = [1, 3, 3]
    lmp = doc["learner"]["learner_model_param"]
    lmp["base_score"] = "5E-1"
    lmp.pop("num_target")
    model = doc["learner"]["gradient_booster"]["model"]
    model.pop("iteration_indptr")
    model.pop("cats")
    for t in model["trees"]:
        for k in ("split_type", "categories", "categories_nodes", "categories_segments", "categories_sizes"):
            t.pop(k)
        t["default_left"] = [bool(v) for v in t["default_left"]]
    p = _write(tmp_path, doc)
    ref = xgb.Booster(model_file=str(p)).predict(tc.dmatrix(tc.X_probe), output_margin=True)
    assert_bitwise(predict_margin(load_model(p), tc.X_probe), ref, "1.x document")
    two = load_xgboost(p, iteration_end=2)  # rounds from num_class * num_parallel_tree
    assert len(two.booster.trees) == 12
    ref2 = xgb.Booster(model_file=str(p)).predict(tc.dmatrix(tc.X_probe), output_margin=True, iteration_range=(0, 2))
    assert_bitwise(predict_margin(two, tc.X_probe), ref2, "1.x truncated")
