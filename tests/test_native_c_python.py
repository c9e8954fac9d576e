"""The ``c`` and ``python`` native-code targets: verified conversion of the XGBoost case zoo
(margins bit for bit, no class flips), hostile feature names, a 10,000-deep tree, both code
shapes giving identical margins, float64 (LightGBM) semantics, tampering, and the docs'
generated examples being current."""

from __future__ import annotations

import ctypes
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ir_samples
import xgb_cases
import modelport
import modelport.converters.frontends
from modelport.converters.targets import WriteOptions
from modelport.converters.targets.native import lower as L
from modelport.converters.targets.native.c import write_c
from modelport.converters.targets.native.python import write_python
from modelport.core.errors import ModelFormatError, UnsupportedModelError
from modelport.core.ir import evaluate, probe
from modelport.core.ir.model import Feature, Model
from modelport.core.toolchains import CC
from modelport.runtimes.native.c import PARALLEL_MIN_ROWS, CRuntime
from modelport.runtimes.native.python import PythonRuntime

ROOT = Path(__file__).resolve().parent.parent
needs_cc = pytest.mark.skipif(not CC.available(), reason="no C compiler (cc/gcc/clang) on PATH")
TARGETS = [pytest.param("c", marks=needs_cc, id="c"), pytest.param("python", id="python")]

#: Cheap cases that cover every construct (links, multiclass, DART weights, gblinear,
#: categorical, NaN, vector leaves, early stopping); the rest of the zoo runs as slow.
FAST = {"binary_logistic", "multi_softmax", "dart_multiclass", "gblinear_multiclass", "categorical",
        "nan_heavy", "multi_target_vector_leaf", "survival_aft", "reg_multi_quantile"}


def _bits_equal(a, b) -> bool:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def _write(target: str, model: Model, out: Path, shape: str = "auto"):
    """Write ``model`` with ``target`` in ``shape`` and load it through its runtime."""
    if target == "c":
        write_c(model, out, WriteOptions(), shape=shape)
        return CRuntime(out, threads=1)
    write_python(model, out, WriteOptions(), shape=shape)
    return PythonRuntime(out)


def _margins(rt, X) -> np.ndarray:
    m = rt.predict(X, output="margin")
    return m.reshape(len(X), -1)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", [pytest.param(c.name, id=c.name, marks=[] if c.name in FAST else [pytest.mark.slow])
                                  for c in xgb_cases.CASES])
def test_zoo_converts_and_verifies_bit_exact(case, target, tmp_path):
    tc = xgb_cases.trained_case(case)
    res = modelport.convert(tc.json_path, to=target, out=tmp_path / f"model.{target}")
    assert res.verified and res.report.passed
    rep = res.report.margin or res.report
    assert rep.max_ulp_diff == 0 and rep.n_differing == 0
    assert res.report.class_flips == 0
    # Independently of verification: the artifact's margins on the case's probe rows.
    rt = modelport.runtimes.load(res.path)
    model = modelport.converters.frontends.load_model(tc.json_path)
    ref = evaluate.predict_margin(model, tc.X_probe)
    assert _bits_equal(_margins(rt, tc.X_probe), ref)
    pred = rt.predict(tc.X_probe)
    assert _bits_equal(pred.reshape(len(ref), -1), evaluate.transform(model.post_transform, ref).reshape(len(ref), -1)) \
        or model.post_transform.value == "softmax_label"


HOSTILE = ['quote"name', "new\nline", "end */ comment", "back\\slash", "${interp}", "`tick`", "é ünï 中文 😀",
           "'single'", "tri??/graph", "%s%n", "\\u0022", "\r\t\0nul"]


def _hostile_model() -> Model:
    m = ir_samples.regression(n_features=len(HOSTILE))
    return dataclasses.replace(m, features=tuple(Feature(n) for n in HOSTILE))


@pytest.mark.parametrize("shape", ["unrolled", "arrays"])
@pytest.mark.parametrize("target", TARGETS)
def test_hostile_feature_names_compile_run_and_round_trip(target, shape, tmp_path):
    m = _hostile_model()
    rt = _write(target, m, tmp_path / f"m.{target}", shape)
    X = probe.probe_set(m, n_random=50, seed=3)
    assert _bits_equal(_margins(rt, X), evaluate.predict_margin(m, X))
    assert rt.signature.feature_names == HOSTILE
    if target == "python":
        assert list(rt.module.FEATURE_NAMES) == HOSTILE
    else:
        lib = ctypes.CDLL(str(rt.library))
        names = (ctypes.c_char_p * (len(HOSTILE) + 1)).in_dll(lib, "modelport_feature_names")
        # C strings end at NUL: the embedded "\0" name is cut there, everything before is exact.
        assert [n.decode("utf-8") for n in names[:-1]] == [h.split("\0")[0] for h in HOSTILE]
        assert names[len(HOSTILE)] is None


@pytest.mark.parametrize("lang", L.LANGS)
def test_escape_string_is_plain_ascii_without_terminators(lang):
    for name in HOSTILE:
        lit = L.escape_string(name.replace("\ud800", ""), lang)
        body = lit[1:-1]
        assert lit.isascii() and lit[0] == lit[-1] == '"'
        assert not any(c in body for c in '"\n\r`$/*?'), (lang, lit)


@pytest.mark.parametrize("target", TARGETS)
def test_ten_thousand_deep_tree_in_arrays_shape(target, tmp_path):
    m = ir_samples.deep_chain(10_000)
    rt = _write(target, m, tmp_path / f"deep.{target}", "arrays")
    # Thresholds are 0..9999 on feature 0: rows that stop early, deep, at and around the
    # last thresholds, past the end, and missing (the full probe set has ~30,000 rows: too
    # slow through 10,000 levels of pure Python).
    edge = [-1.0, 0.0, 4999.5, 9998.0, 9999.0, np.nextafter(np.float32(9999), np.float32(0)), 1e9, np.nan]
    X = np.concatenate([np.random.default_rng(1).uniform(-1, 10_001, 40), edge]).reshape(-1, 1)
    assert _bits_equal(_margins(rt, X), evaluate.predict_margin(m, X))
    with pytest.raises(UnsupportedModelError, match="arrays"):
        L.lower(m, shape="unrolled")
    assert L.lower(m).shape == "arrays"  # auto never unrolls it


def _default_right() -> Model:
    """Every split sends missing values right, feature 0 included (a dense-layout regression:
    feature 0 with default right once read the default-left copy of the row)."""
    m = ir_samples.regression()
    trees = tuple(dataclasses.replace(t, default_left=np.zeros_like(t.default_left)) for t in m.booster.trees)
    return dataclasses.replace(m, booster=dataclasses.replace(m.booster, trees=trees))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(ir_samples.ALL) + ["default_right", "early_stopped", "categorical", "dart_binary"])
def test_unrolled_and_arrays_give_identical_margins(name, target, tmp_path):
    if name == "default_right":
        m = _default_right()
    elif name in ir_samples.ALL:
        m = ir_samples.ALL[name]()
    else:
        m = modelport.converters.frontends.load_model(xgb_cases.trained_case(name).json_path)
    X = probe.probe_set(m, n_random=300, seed=5)
    a = _margins(_write(target, m, tmp_path / f"u.{target}", "unrolled"), X)
    b = _margins(_write(target, m, tmp_path / f"a.{target}", "arrays"), X)
    assert _bits_equal(a, b) and _bits_equal(a, evaluate.predict_margin(m, X))


def _wide(model: Model, **changes) -> Model:
    ens = model.booster
    trees = tuple(dataclasses.replace(t, threshold=t.threshold.astype(np.float64)) for t in ens.trees)
    return dataclasses.replace(model, booster=dataclasses.replace(ens, trees=trees, **changes))


@pytest.mark.parametrize("shape", ["unrolled", "arrays"])
@pytest.mark.parametrize("target", TARGETS)
def test_float64_sums_and_averages(target, shape, tmp_path):
    """LightGBM / scikit-learn semantics: float64 thresholds and sums, averaged outputs."""
    for i, m in enumerate((_wide(ir_samples.regression(), threshold_dtype="float64", value_dtype="float64"),
                           _wide(ir_samples.multiclass(), threshold_dtype="float64", value_dtype="float64", average=True),
                           dataclasses.replace(ir_samples.regression(),
                                               booster=dataclasses.replace(ir_samples.regression().booster, average=True)))):
        rt = _write(target, m, tmp_path / f"w{i}.{target}", shape)
        X = probe.probe_set(m, n_random=200, seed=2)
        assert _bits_equal(_margins(rt, X), evaluate.predict_margin(m, X)), i


@pytest.mark.parametrize("target", TARGETS)
def test_lightgbm_models_verify(target, tmp_path):
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = X[:, 0] * 2 + np.nan_to_num(X[:, 1])
    for params, label in (({"objective": "binary"}, (y > 0).astype(int)),
                          ({"objective": "regression", "boosting": "rf", "bagging_fraction": 0.7, "bagging_freq": 1}, y)):
        b = lgb.train({**params, "verbose": -1, "num_leaves": 8, "seed": 1}, lgb.Dataset(X, label), 8)
        src = tmp_path / f"{params['objective']}.txt"
        b.save_model(str(src))
        res = modelport.convert(src, to=target, out=tmp_path / f"{src.stem}.{target}")
        assert res.verified and (res.report.margin or res.report).max_ulp_diff == 0


@needs_cc
def test_c_threads_and_row_function_match(tmp_path):
    m = ir_samples.binary()
    write_c(m, tmp_path / "m.c", WriteOptions(), shape="arrays")
    one, many = CRuntime(tmp_path / "m.c", threads=1), CRuntime(tmp_path / "m.c", threads=3)
    X = np.random.default_rng(0).normal(size=(PARALLEL_MIN_ROWS + 17, 3)).astype(np.float32)
    X[::7, 1] = np.nan
    assert _bits_equal(one.predict(X), many.predict(X))
    x, out, call = one.row_function("prediction")
    x[:] = X[5]
    assert call() == 0
    assert _bits_equal(out, one.predict(X[5:6]))
    many.close()


@pytest.mark.parametrize("target", TARGETS)
def test_tampered_artifact_is_refused(target, tmp_path):
    out = tmp_path / f"m.{target}"
    _write(target, ir_samples.regression(), out)
    victim = out / "model.c" if target == "c" else out
    victim.write_text(victim.read_text().replace("0.5", "0.25", 1))
    with pytest.raises(ModelFormatError):
        modelport.runtimes.load(out)


def test_python_module_needs_only_the_standard_library(tmp_path):
    out = tmp_path / "m.py"
    write_python(ir_samples.binary(), out, WriteOptions())
    code = f"import sys; sys.modules['numpy'] = None; import runpy; g = runpy.run_path({str(out)!r}); print(g['predict']([0.1, 2.0, 3.0]))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    want = evaluate.predict(ir_samples.binary(), np.array([[0.1, 2.0, 3.0]]))
    assert float(res.stdout.strip()[1:-1]) == float(want[0])


def test_docs_examples_are_current():
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_native_examples.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


@needs_cc
@pytest.mark.parametrize("name", ["binary", "categorical", "vector_leaf", "deep", "early_stopped", "float64"])
def test_c_large_tables_as_string_literals(name, tmp_path, monkeypatch):
    """Large models store their node tables as string literals (compiles ~5x faster); forced
    here on small models so that both layouts and both input types are checked bit for bit."""
    from modelport.converters.targets.native import _c_blob

    monkeypatch.setattr(_c_blob, "FORCE", True)
    if name == "deep":
        m = ir_samples.deep_chain(2_000)
    elif name == "early_stopped":
        m = modelport.converters.frontends.load_model(xgb_cases.trained_case(name).json_path)
    elif name == "float64":
        m = _wide(ir_samples.multiclass(), threshold_dtype="float64", value_dtype="float64", average=True)
    else:
        m = ir_samples.ALL[name]()
    write_c(m, tmp_path / "m.c", WriteOptions(), shape="arrays")
    assert "_u = {" in (tmp_path / "m.c" / "model.c").read_text()
    X = probe.probe_set(m, n_random=200, seed=4)
    assert _bits_equal(_margins(CRuntime(tmp_path / "m.c", threads=1), X), evaluate.predict_margin(m, X))


@needs_cc
@pytest.mark.parametrize("name", ["multiclass", "categorical", "vector_leaf", "early_stopped"])
def test_c_sparse_node_layout(name, tmp_path, monkeypatch):
    """Models whose trees would pad badly keep explicit child indices: forced here."""
    from modelport.converters.targets.native import _c_dense

    monkeypatch.setattr(_c_dense, "dense_ok", lambda plan, group: False)
    if name == "early_stopped":
        m = modelport.converters.frontends.load_model(xgb_cases.trained_case(name).json_path)
    else:
        m = ir_samples.ALL[name]()
    write_c(m, tmp_path / "m.c", WriteOptions(), shape="arrays")
    assert "mp_node;" in (tmp_path / "m.c" / "model.c").read_text()
    X = probe.probe_set(m, n_random=200, seed=6)
    assert _bits_equal(_margins(CRuntime(tmp_path / "m.c", threads=1), X), evaluate.predict_margin(m, X))


def _zoo_model(name: str) -> Model:
    return modelport.converters.frontends.load_model(xgb_cases.trained_case(name).json_path)


@needs_cc
@pytest.mark.parametrize("name", ["binary_logistic", "multi_softmax", "nan_heavy", "float64"])
def test_c_row_predictor_equals_the_evaluator(name, tmp_path):
    """The single-row fast path (extension) gives the reference margins bit for bit for every
    accepted row form, and the link output equals predict()'s."""
    m = _wide(ir_samples.multiclass(), threshold_dtype="float64", value_dtype="float64", average=True) \
        if name == "float64" else _zoo_model(name)
    write_c(m, tmp_path / "m.c", WriteOptions())
    rt = CRuntime(tmp_path / "m.c", threads=1)
    f, g = rt.row_predictor("margin"), rt.row_predictor("prediction")
    assert rt.fast_path == "extension"
    X = probe.probe_set(m, n_random=64, seed=3).astype(rt.dtype)
    want = evaluate.predict_margin(m, X).reshape(len(X), -1)
    links = rt._batch("predict_batch", np.ascontiguousarray(X), rt.n_pred)
    for i, row in enumerate(X):
        for form in (row, row[None, :], row.tolist(), tuple(row.tolist()), row.astype(np.float64)):
            got = f(form)
            assert _bits_equal(np.atleast_1d(np.asarray(got, np.float32)), want[i]), (i, type(form))
        assert _bits_equal(np.atleast_1d(np.asarray(g(row), np.float32)), links[i])
        assert _bits_equal(np.atleast_1d(np.asarray(rt.predict_row(row), np.float32)), want[i])
    assert isinstance(f(X[0]), float if want.shape[1] == 1 else tuple)


@needs_cc
@pytest.mark.parametrize("fallback", [False, True], ids=["extension", "ctypes"])
def test_c_row_predictor_rejects_bad_rows_in_one_line(fallback, tmp_path, monkeypatch):
    from modelport.core.errors import InputDataError
    from modelport.runtimes.native import _c_ext

    if fallback:
        def unavailable(*a, **k):
            raise _c_ext.ExtensionUnavailable("Python.h not found (test)")
        monkeypatch.setattr(_c_ext, "build_extension", unavailable)
    m = ir_samples.binary()
    write_c(m, tmp_path / "m.c", WriteOptions())
    rt = CRuntime(tmp_path / "m.c", threads=1)
    f = rt.row_predictor("margin")
    assert rt.fast_path == ("ctypes: Python.h not found (test)" if fallback else "extension")
    for bad in ([1.0, 2.0], np.zeros(4, np.float32), "abc", [1.0, "x", 2.0], None, {"a": 1}):
        with pytest.raises(InputDataError) as err:
            f(bad)
        assert "\n" not in str(err.value) and "predict_row" in str(err.value)
    with pytest.raises(InputDataError):
        rt.row_predictor("probabilities")
    row = np.array([0.1, np.nan, 3.0], np.float32)
    assert _bits_equal(np.atleast_1d(np.float32(f(row))), evaluate.predict_margin(m, row[None, :])[0])
    assert f([0.1, None, 3]) == f(row)


@needs_cc
def test_c_thread_counts_give_identical_results(tmp_path):
    """Large batches split over 1, 2 and 3 threads (ranges aligned to CHUNK_ALIGN rows, the
    last one ragged) give the same bits as one call."""
    from modelport.runtimes.native.c import CHUNK_ALIGN

    m = _zoo_model("binary_logistic")
    write_c(m, tmp_path / "m.c", WriteOptions())
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2 * PARALLEL_MIN_ROWS + 37, len(m.features))).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    outs = {}
    for n in (1, 2, 3):
        rt = CRuntime(tmp_path / "m.c", threads=n)
        outs[n] = (rt.predict(X, output="margin"), rt.predict(X))
        rt.close()
    for n in (2, 3):
        assert all(_bits_equal(a, b) for a, b in zip(outs[1], outs[n], strict=True))
    assert _bits_equal(outs[1][0].reshape(-1), evaluate.predict_margin(m, X).reshape(-1))
    assert CHUNK_ALIGN * 4 % 64 == 0  # whole cache lines of float32 outputs per range


@needs_cc
def test_c_wide_models_walk_fewer_batch_rows(tmp_path):
    """A model with 30,000 features walks fewer than LANES rows at a time (the row copies
    stay within LANE_STACK_BYTES of stack) and still gives the reference margins."""
    from modelport.converters.targets.native.c import LANE_STACK_BYTES, LANES

    m = dataclasses.replace(ir_samples.regression(), features=tuple(Feature(f"f{i}") for i in range(30_000)))
    write_c(m, tmp_path / "m.c", WriteOptions(), shape="arrays")
    lanes = int((tmp_path / "m.c" / "model.c").read_text().split("#define LANES ")[1].split()[0])
    assert lanes < LANES and lanes * 3 * 30_000 * 4 <= LANE_STACK_BYTES
    X = np.random.default_rng(2).normal(size=(3 * lanes + 1, 30_000)).astype(np.float32)
    X[::3, 0] = np.nan
    rt = CRuntime(tmp_path / "m.c", threads=1)
    assert _bits_equal(_margins(rt, X), evaluate.predict_margin(m, X))
    f = rt.row_predictor("margin")  # wider than the extension's stack row: the ctypes fallback
    assert rt.fast_path.startswith("ctypes") and _bits_equal(np.float32(f(X[1])), evaluate.predict_margin(m, X[1:2])[0, 0])


@needs_cc
def test_c_row_predictor_reads_strided_and_array_module_rows(tmp_path):
    import array

    m = ir_samples.binary()
    write_c(m, tmp_path / "m.c", WriteOptions())
    f = CRuntime(tmp_path / "m.c", threads=1).row_predictor("margin")
    wide = np.array([[0.1, 9.0, np.nan, 9.0, 3.0, 9.0]], np.float32)
    want = evaluate.predict_margin(m, wide[:, ::2])[0, 0]
    assert _bits_equal(np.float32(f(wide[0, ::2])), want)  # not contiguous: read item by item
    assert _bits_equal(np.float32(f(array.array("f", wide[0, ::2].tolist()))), want)
    assert _bits_equal(np.float32(f(array.array("d", wide[0, ::2].tolist()))), want)
