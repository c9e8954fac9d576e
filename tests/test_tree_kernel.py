"""The compiled tree kernel of the PMML and PFA runtimes (runtimes/_tree_kernel.py): with
kernel="c" and kernel="numpy" forced, margins and predictions are bit-identical to each other
and to the reference evaluator on the hard cases (NaN, categorical, sentinel, multiclass, DART,
vector leaves, float64 sums, averages, a 10,000-deep tree), and whatever the kernel cannot
express stays on numpy with the reason given."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

import ir_samples
from modelport import runtimes
from modelport.converters.frontends import load_model
from modelport.converters.targets import WriteOptions
from modelport.converters.targets.pfa import write_pfa
from modelport.converters.targets.pmml import build_pmml
from modelport.core.errors import InputDataError, MissingDependencyError
from modelport.core.ir.evaluate import predict, predict_margin
from modelport.core.ir.model import Model
from modelport.core.ir.probe import probe_set
from modelport.core.toolchains import CC

pytest.importorskip("defusedxml")
if not CC.available():  # pragma: no cover - depends on the machine
    pytest.skip("no C compiler (cc/gcc/clang) for the compiled kernel", allow_module_level=True)

HARD = ("binary_logistic", "nan_heavy", "categorical", "categorical_onehot", "multi_softprob_parallel", "multi_softmax",
        "dart_binary", "dart_multiclass", "multi_target_vector_leaf", "multi_class_vector_leaf", "reg_multi_quantile",
        "random_forest")


def _bits(a, b) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), f"{np.sum(a != b)} values differ"


def _write(model: Model, tmp_path, fmt: str):
    if fmt == "pmml":
        path = tmp_path / "m.pmml"
        path.write_text(build_pmml(model), encoding="utf-8")
    else:
        path = tmp_path / "m.pfa.json"
        write_pfa(model, path, WriteOptions())
    return path


def _compare(model: Model, path, X: np.ndarray, *, want_kernel: str = "c") -> None:
    """kernel="c" vs kernel="numpy" vs the reference evaluator, bit for bit, every output."""
    rc = runtimes.load(path, kernel="c")
    rn = runtimes.load(path, kernel="numpy")
    assert rn.kernel == "numpy"
    assert rc.kernel == want_kernel, getattr(rc, "kernel_reasons", getattr(rc, "kernel_reason", None))
    n = X.shape[0]
    ref = predict_margin(model, X)
    for out in rc.signature.outputs:
        _bits(rc.predict(X, output=out), rn.predict(X, output=out))
    _bits(rc.predict(X, output="margin").reshape(n, -1), ref)
    _bits(np.asarray(rc.predict(X), np.float32), np.asarray(predict(model, X), np.float32).reshape(rc.predict(X).shape))
    for i in (0, n // 2, n - 1):  # one row at a time
        _bits(rc.predict(X[i:i + 1], output="margin").reshape(1, -1), ref[i:i + 1])


@pytest.mark.parametrize("fmt", ["pmml", "pfa"])
@pytest.mark.parametrize("name", HARD)
def test_zoo_cases_bit_identical(xgb_trained, name, fmt, tmp_path):
    tc = xgb_trained(name)
    ir = load_model(tc.json_path)
    X = np.concatenate([tc.X_probe, probe_set(ir, n_random=64, seed=3)])
    _compare(ir, _write(ir, tmp_path, fmt), X)


@pytest.mark.parametrize("fmt", ["pmml", "pfa"])
def test_missing_sentinel(xgb_trained, fmt, tmp_path):
    tc = xgb_trained("nan_heavy")
    ir = dataclasses.replace(load_model(tc.json_path), missing=0.0)
    X = np.concatenate([tc.X_probe, probe_set(ir, n_random=32, seed=5)])
    X[::3, 0] = 0.0
    X[1::4, 2] = 0.0
    _compare(ir, _write(ir, tmp_path, fmt), X)


@pytest.mark.parametrize("fmt", ["pmml", "pfa"])
@pytest.mark.parametrize("sample", ["categorical", "vector_leaf", "multiclass", "binary", "regression"])
def test_hand_built_samples(sample, fmt, tmp_path):
    ir = getattr(ir_samples, sample)()
    _compare(ir, _write(ir, tmp_path, fmt), probe_set(ir, n_random=200, seed=1))


@pytest.mark.parametrize("fmt", ["pmml", "pfa"])
def test_ten_thousand_deep_tree_takes_the_general_walk(fmt, tmp_path):
    ir = ir_samples.deep_chain(10_000)
    col = np.array([-1.0, 0.0, 0.5, 1.0, 17.0, 4999.5, 9998.0, 9999.0, 9999.5, 20000.0, np.nan, np.inf, -np.inf])
    X = np.concatenate([col[:, None], np.random.default_rng(2).uniform(-5, 10_005, size=(20, 1))])
    X = np.pad(X, ((0, 0), (0, len(ir.features) - 1)))
    _compare(ir, _write(ir, tmp_path, fmt), X)


_LGB = {"regression": {"objective": "regression"}, "multiclass": {"objective": "multiclass", "num_class": 3},
        "rf_average": {"objective": "binary", "boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.7},
        "categorical": {"objective": "binary"}}


@pytest.mark.parametrize("fmt", ["pmml", "pfa"])
@pytest.mark.parametrize("kind", sorted(_LGB))
def test_lightgbm_float64_sums(kind, fmt, tmp_path):
    """Double contexts, averages (random forest), LightGBM's in-set-goes-left categories."""
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    X[rng.random(X.shape) < 0.05] = np.nan
    X[:, 4] = rng.integers(0, 6, 400)
    z = np.nan_to_num(X[:, 0]) + np.isin(X[:, 4], [1, 3]) * 1.0
    y = np.digitize(z, [0, 1]).astype(float) if kind == "multiclass" else z if kind == "regression" else (z > 0.3).astype(float)
    bst = lgb.train(dict(_LGB[kind], verbose=-1, num_leaves=8, seed=1),
                    lgb.Dataset(X, y, categorical_feature=[4] if kind == "categorical" else "auto"), 10)
    bst.save_model(str(tmp_path / "model.txt"))
    ir = load_model(tmp_path / "model.txt")
    Xp = np.concatenate([X, [[0.5, 1, 1, 1, -0.5], [0.5, 1, 1, 1, 2.7], [0.5, 1, 1, 1, 1e10]], probe_set(ir, n_random=32, seed=4)])
    _compare(ir, _write(ir, tmp_path, fmt), Xp)


def test_pfa_linear_booster_stays_on_numpy_with_the_reason(tmp_path, caplog):
    ir = ir_samples.linear()
    path = _write(ir, tmp_path, "pfa")
    with caplog.at_level(logging.INFO, logger="modelport.runtimes"):
        rt = runtimes.load(path, kernel="c")
    assert rt.kernel == "numpy" and "linear" in rt.kernel_reason and "linear" in caplog.text
    X = probe_set(ir, n_random=20, seed=0)
    _bits(rt.predict(X, output="margin").reshape(len(X), -1), predict_margin(ir, X))


def test_pmml_linear_booster(tmp_path):
    """gblinear's PMML is a RegressionModel (numpy) next to the base-score tree (kernel)."""
    ir = ir_samples.linear()
    _compare(ir, _write(ir, tmp_path, "pmml"), probe_set(ir, n_random=20, seed=0))


def test_pmml_multiway_tree_stays_on_numpy_with_the_reason(tmp_path, caplog):
    """A foreign TreeModel outside the binary-split form (three children, a compound predicate)."""
    doc = """<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><DataDictionary>
<DataField name="a" optype="continuous" dataType="double"/><DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary><TreeModel functionName="regression" missingValueStrategy="nullPrediction"><MiningSchema>
<MiningField name="a"/><MiningField name="y" usageType="target"/></MiningSchema>
<Node score="0"><True/>
<Node score="1"><SimplePredicate field="a" operator="lessThan" value="0"/></Node>
<Node score="2"><CompoundPredicate booleanOperator="and"><SimplePredicate field="a" operator="greaterOrEqual" value="0"/>
<SimplePredicate field="a" operator="lessThan" value="1"/></CompoundPredicate></Node>
<Node score="3"><True/></Node></Node></TreeModel></PMML>"""
    path = tmp_path / "multi.pmml"
    path.write_text(doc, encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="modelport.runtimes"):
        rt = runtimes.load(path, kernel="c")
    assert rt.kernel == "numpy" and "binary-split" in rt.kernel_reasons[0] and "binary-split" in caplog.text
    X = np.array([[-1.0], [0.5], [2.0], [np.nan]])
    got = rt.predict(X)
    np.testing.assert_array_equal(got[:3], [1.0, 2.0, 3.0])
    assert np.isnan(got[3])


def test_pfa_row_function_matches_predict(xgb_trained, tmp_path):
    tc = xgb_trained("nan_heavy")
    ir = load_model(tc.json_path)
    rt = runtimes.load(_write(ir, tmp_path, "pfa"), kernel="c")
    x, out, call = rt.row_function()
    ref = predict_margin(ir, tc.X_probe)
    for i in range(0, len(tc.X_probe), 7):
        x[:] = tc.X_probe[i]
        call()
        _bits(out.reshape(1, -1), ref[i:i + 1])
    with pytest.raises(InputDataError, match="compiled kernel"):
        runtimes.load(_write(ir, tmp_path, "pfa"), kernel="numpy").row_function()


@pytest.mark.parametrize("fmt", ["pmml", "pfa"])
def test_missing_compiler(fmt, tmp_path, monkeypatch, caplog):
    """kernel="auto" without a compiler: numpy, logged; kernel="c": the one-line exit-4 error."""
    ir = ir_samples.binary()
    path = _write(ir, tmp_path, fmt)
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("PATH", str(tmp_path))
    from modelport.runtimes import _tree_kernel

    _tree_kernel.compiled_library.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger="modelport.runtimes"):
            rt = runtimes.load(path)
        assert rt.kernel == "numpy" and "compiled kernel unavailable" in caplog.text
        with pytest.raises(MissingDependencyError):
            runtimes.load(path, kernel="c")
    finally:
        _tree_kernel.compiled_library.cache_clear()


@pytest.mark.parametrize("fmt", ["pmml", "pfa"])
def test_bad_kernel_option(fmt, tmp_path):
    path = _write(ir_samples.binary(), tmp_path, fmt)
    with pytest.raises(InputDataError, match="kernel must be one of"):
        runtimes.load(path, kernel="gpu")
    with pytest.raises(InputDataError, match="kernel= and cc="):
        runtimes.load(path, threads=2)


@pytest.mark.parametrize("name", ["nan_heavy", "dart_multiclass", "multi_class_vector_leaf", "categorical", "sentinel"])
def test_every_node_layout_gives_the_same_bits(xgb_trained, name, tmp_path):
    """The complete, packed and plain node layouts of the kernel against the numpy engine."""
    from modelport.runtimes._tree_kernel import compiled_library
    from modelport.runtimes._tree_kernel_lower import lower_pfa, lower_pmml_batch

    tc = xgb_trained("nan_heavy" if name == "sentinel" else name)
    ir = load_model(tc.json_path)
    X = np.concatenate([tc.X_probe, probe_set(ir, n_random=64, seed=7)])
    if name == "sentinel":
        ir = dataclasses.replace(ir, missing=0.0)
        X[::3, 1] = 0.0
    lib = compiled_library()
    pfa = runtimes.load(_write(ir, tmp_path, "pfa"), kernel="numpy")
    want = pfa.program.run(X.astype(pfa.program.in_dtype))["margin"]
    pmml = runtimes.load(_write(ir, tmp_path, "pmml"), kernel="numpy")
    stack, batches = [pmml.document.model], []
    while stack:
        m = stack.pop()
        for part in m.parts:
            stack.append(part[1]) if part[0] == "model" else batches.append((m, part[1]))
    tried, compared = set(), 0
    for layout in ("complete", "packed", "nodes"):
        try:
            k, _ = lower_pfa(pfa.program, lib, layout=layout)
        except InputDataError:  # the layout does not apply (categorical splits)
            continue
        tried.add(layout)
        _bits(k.sums(X.astype(pfa.program.in_dtype)), want)
        names = [f.name for f in ir.features]
        for m, batch in batches:
            if not set(batch.preds.fields) <= set(names):  # derived fields (categorical floor): the runtime's own test above
                continue
            Xb = X.astype(np.float32).astype(np.float64)[:, [names.index(f) for f in batch.preds.fields]] if batch.preds.fields \
                else np.zeros((len(X), 1))
            if name == "sentinel":
                Xb[Xb == 0.0] = np.nan  # the PMML runtime maps the sentinel (a DataField missing Value) to NaN first
            try:
                kb, why = lower_pmml_batch(batch, lib, math=m.math, method=m.method, weights=m.weights, layout=layout)
            except InputDataError:
                continue
            if kb is not None:
                _bits(kb.scores(Xb), batch.evaluate(Xb))
                compared += 1
    assert compared or name == "categorical"
    assert tried == ({"nodes"} if name == "categorical" else {"complete", "packed", "nodes"})


def test_kernel_refuses_rows_of_the_wrong_width(tmp_path):
    """The C code indexes columns without bounds checks: the Python side checks the width."""
    rt = runtimes.load(_write(ir_samples.binary(), tmp_path, "pfa"), kernel="c")
    with pytest.raises(InputDataError, match="columns"):
        rt._kernel.sums(np.zeros((2, rt.signature.n_features + 1), np.float32))
    with pytest.raises(InputDataError, match="columns"):
        rt._kernel.sums(np.zeros(rt.signature.n_features, np.float32))


def _random_tables(rng, *, op: int, n_trees: int = 6, n_cols: int = 3, sentinel=None, infinite: bool = True):
    """Random binary trees of depth <= 5 (thresholds including -inf and +inf if ``infinite``)."""
    from modelport.runtimes._tree_kernel import KIND_CMP, KIND_LEAF, TreeTables

    kind, col, thr, nxt, value, roots = [], [], [], [], [], []
    grid = np.array([-np.inf, -1.0, 0.0, 0.5, 1.0, np.inf] if infinite else [-1.0, 0.0, 0.5, 1.0])
    depth = 0
    for _ in range(n_trees):
        roots.append(len(kind))
        stack = [(len(kind), 0)]
        kind.append(0), col.append(0), thr.append(0.0), nxt.extend([0, 0, 0]), value.append(0.0)
        while stack:
            nd, d = stack.pop()
            depth = max(depth, d)
            if d < 5 and rng.random() < 0.75:
                left, right = len(kind), len(kind) + 1
                for _ in range(2):
                    kind.append(0), col.append(0), thr.append(0.0), nxt.extend([0, 0, 0]), value.append(0.0)
                kind[nd], col[nd], thr[nd] = KIND_CMP, int(rng.integers(n_cols)), float(rng.choice(grid))
                nxt[3 * nd: 3 * nd + 3] = [right, left if rng.random() < 0.5 else right, left]
                stack += [(left, d + 1), (right, d + 1)]
            else:
                kind[nd], nxt[3 * nd: 3 * nd + 3] = KIND_LEAF, [nd, nd, nd]
                value[nd] = float(np.float32(rng.normal()))
    return TreeTables(kind=np.array(kind, np.int8), op=np.full(len(kind), op, np.int8), col=np.array(col), thr=np.array(thr),
                      next=np.array(nxt), roots=np.array(roots), value=np.array(value)[:, None], depth=depth, n_cols=n_cols,
                      tree_out=np.zeros(n_trees, np.int32), sentinel=sentinel)


def _python_walk(t, X, init: float) -> np.ndarray:
    out = np.empty(len(X), np.float32)
    for r, row in enumerate(X):
        acc = np.float32(init)
        for root in t.roots:
            nd = int(root)
            for _ in range(t.depth):
                if t.kind[nd] == 0:
                    break
                x = row[t.col[nd]]
                miss = np.isnan(x) or (t.sentinel is not None and x == t.sentinel)
                hit = (x < t.thr[nd]) if t.op[nd] == 2 else (x <= t.thr[nd])
                nd = int(t.next[3 * nd + (1 if miss else 2 * hit)])
            acc = np.float32(acc + np.float32(t.value[nd, 0]))
        out[r] = acc
    return out


@pytest.mark.parametrize("infinite", [True, False])
@pytest.mark.parametrize("op", [2, 3])
@pytest.mark.parametrize("sentinel", [None, 0.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layouts_against_a_python_walk_with_infinite_thresholds(op, sentinel, seed, infinite):
    """Random trees, thresholds +-inf included, rows of NaN / +-inf / the thresholds: every
    layout that applies gives the per-node walk's float32 sums; the complete form is refused
    where -inf/+inf thresholds would send a missing value the wrong way."""
    from modelport.runtimes._tree_kernel import TreeKernel, compiled_library

    rng = np.random.default_rng(seed)
    t = _random_tables(rng, op=op, sentinel=sentinel, infinite=infinite)
    X = rng.choice(np.array([np.nan, -np.inf, np.inf, -1.0, 0.0, 0.25, 0.5, 1.0, 2.0]), size=(300, t.n_cols))
    want = _python_walk(t, X, 0.5)
    got_any = set()
    for layout in ("auto", "complete", "packed", "nodes"):
        try:
            k = TreeKernel(compiled_library(), t, acc_f32=True, init=np.array([0.5]), layout=layout)
        except InputDataError:
            continue
        got_any.add(k.layout)
        for Xc in (X, X.astype(np.float32)):
            _bits(k.sums(Xc)[:, 0], want)
    assert {"packed", "nodes"} <= got_any
    if not infinite:
        assert "complete" in got_any
