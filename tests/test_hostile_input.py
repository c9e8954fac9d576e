"""Hostile model files and predict inputs (issue 13): one test per kind, numbered as in the
issue.  Anything that could crash, hang or exhaust the machine on a regression runs in a
child process with a timeout, so a regression fails the test instead of killing pytest."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import tarfile
import io
import gzip
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

from modelport.core.errors import InputDataError, ModelFormatError, UnsupportedModelError

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- helpers


def _tree(left, right, feat, cond, *, default_left=None) -> dict:
    n = len(left)
    return {
        "tree_param": {"num_nodes": str(n), "size_leaf_vector": "1", "num_feature": "2", "num_deleted": "0"},
        "id": 0, "left_children": left, "right_children": right, "parents": [2147483647] * n,
        "split_indices": feat, "split_conditions": cond, "split_type": [0] * n,
        "default_left": default_left or [0] * n, "categories": [], "categories_nodes": [],
        "categories_segments": [], "categories_sizes": [], "base_weights": [0.0] * n,
        "loss_changes": [0.0] * n, "sum_hessian": [1.0] * n,
    }


def _doc(trees=None, *, objective="reg:squarederror", booster="gbtree", num_feature="2", num_class="0",
         base_score="5E-1", weights=None, attributes=None) -> dict:
    """A hand-written XGBoost 3.x JSON model (two features unless told)."""
    trees = trees if trees is not None else [_tree([1, -1, -1], [2, -1, -1], [0, 0, 0], [0.5, -1.0, 1.0])]
    if booster == "gblinear":
        gb = {"name": "gblinear", "model": {"weights": weights, "boosted_rounds": 1}}
    else:
        gb = {"name": "gbtree", "model": {
            "gbtree_model_param": {"num_trees": str(len(trees)), "num_parallel_tree": "1"},
            "trees": trees, "tree_info": [0] * len(trees), "iteration_indptr": list(range(len(trees) + 1))}}
    return {"version": [3, 2, 0], "learner": {
        "attributes": attributes or {}, "feature_names": [], "feature_types": [],
        "gradient_booster": gb,
        "learner_model_param": {"base_score": base_score, "boost_from_average": "1", "num_class": num_class,
                                "num_feature": num_feature, "num_target": "1"},
        "objective": {"name": objective}}}


def _write(tmp_path: Path, name: str, doc) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


def _child(code: str, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a crash there is a failed assertion here)."""
    return subprocess.run([PY, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=str(ROOT))


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "modelport", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=str(ROOT))


def _load(path: Path, **opts):
    from modelport.converters.frontends import LoadOptions, load_model
    from modelport.core.ir.validate import validate

    return validate(load_model(path, options=LoadOptions(**opts)))


def _chain_doc(depth: int) -> dict:
    """One tree, ``depth`` splits deep: node 2i splits, its right child 2i+1 is a leaf."""
    n = 2 * depth + 1
    left, right = [-1] * n, [-1] * n
    for i in range(depth):
        left[2 * i], right[2 * i] = 2 * i + 2, 2 * i + 1
    cond = [float(i) if i % 2 == 0 and i < 2 * depth else float(i % 7) for i in range(n)]
    t = _tree(left, right, [0] * n, cond)
    t["tree_param"]["num_feature"] = "1"
    return _doc([t], num_feature="1")


# ----------------------------------------------------------------------------- 1: deep trees


def test_01_onnx_encoder_refuses_trees_deeper_than_the_limit(monkeypatch):
    """Fast form of the depth rule: with the limit lowered to 10, a 10-deep tree is written
    and an 11-deep one is refused before any graph exists."""
    pytest.importorskip("onnx", reason="the onnx package (modelport[onnx]) builds the graph")
    from modelport.converters.frontends.xgboost import model_from_document
    from modelport.converters.targets import _onnx_depth
    from modelport.converters.targets.onnx import build_onnx

    monkeypatch.setattr(_onnx_depth, "ONNX_MAX_TREE_DEPTH", 10)
    build_onnx(model_from_document(_chain_doc(10), source_format="t"))
    with pytest.raises(UnsupportedModelError, match="a tree is 11 levels deep in ONNX; the onnx target writes at most 10"):
        build_onnx(model_from_document(_chain_doc(11), source_format="t"))


@pytest.mark.slow
def test_01_onnx_depth_limit_is_checked_on_the_encoded_graph():
    """The ONNX encoder refuses a 20,000-deep tree in one line naming both numbers; 10,000
    (the limit) is written, and the graph check measures it the same way."""
    pytest.importorskip("onnx", reason="the onnx package (modelport[onnx]) builds the graph")
    from modelport.converters.frontends.xgboost import model_from_document
    from modelport.converters.targets._onnx_depth import ONNX_MAX_TREE_DEPTH, check_onnx_depth, max_tree_depth
    from modelport.converters.targets.onnx import build_onnx

    proto = build_onnx(model_from_document(_chain_doc(ONNX_MAX_TREE_DEPTH), source_format="t"))
    check_onnx_depth(proto)
    assert [max_tree_depth(n) for n in proto.graph.node if n.op_type == "TreeEnsembleRegressor"] == [10_000]
    with pytest.raises(UnsupportedModelError) as err:
        check_onnx_depth(proto, limit=9_999)
    with pytest.raises(UnsupportedModelError) as err:
        build_onnx(model_from_document(_chain_doc(20_000), source_format="t"))
    msg = str(err.value)
    assert "20000 levels" in msg and str(ONNX_MAX_TREE_DEPTH) in msg and "\n" not in msg


@pytest.mark.slow
def test_01_convert_refuses_a_20000_deep_tree_before_writing(tmp_path):
    """`convert` (child process: a segfault is a failure, not a dead pytest) exits 3 with one
    line naming the depth and the limit, and writes nothing."""
    pytest.importorskip("onnxruntime", reason="modelport[onnx] is needed to convert to ONNX")
    src = _write(tmp_path, "deep.json", _chain_doc(20_000))
    out = tmp_path / "deep.onnx"
    r = _cli("convert", str(src), "--to", "onnx", "-o", str(out))
    assert r.returncode == 3, (r.returncode, r.stderr[-500:])
    lines = r.stderr.strip().splitlines()  # progress lines, then the one error line
    assert all(line.startswith("modelport: ") for line in lines) and "Traceback" not in r.stderr
    errors = [line for line in lines if line.startswith("modelport: error: ")]
    assert len(errors) == 1 and "20000" in errors[0] and "10000" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.json"]


@pytest.mark.slow
def test_01_onnx_runtime_loads_a_deep_tree_without_overflowing_the_stack(tmp_path, monkeypatch):
    """The runtime builds sessions on a large-stack thread: a 20,000-deep graph (a foreign
    file: written here without the target's check) loads and predicts like the evaluator,
    in a child process."""
    pytest.importorskip("onnxruntime", reason="modelport[onnx] runs ONNX artifacts")
    from modelport.converters.frontends.xgboost import model_from_document
    from modelport.converters.targets import _onnx_trees

    monkeypatch.setattr(_onnx_trees, "check_depth", lambda depth: None)
    from modelport.converters.targets.onnx import build_onnx
    from modelport.core.ir.evaluate import predict

    model = model_from_document(_chain_doc(20_000), source_format="t")
    path = tmp_path / "deep.onnx"
    path.write_bytes(build_onnx(model).SerializeToString())
    X = np.array([[-1.0], [3.5], [1e9], [np.nan]], dtype=np.float32)
    code = ("import sys, json, numpy as np; from modelport.runtimes.onnx import load_onnx; "
            "m = load_onnx(sys.argv[1]); X = np.array(json.loads(sys.argv[2]), dtype=np.float32); "
            "print(json.dumps(m.predict(X).astype(float).tolist()))")
    r = _child(code, str(path), json.dumps([[-1.0], [3.5], [1e9], [None]]).replace("null", "NaN"))
    assert r.returncode == 0, (r.returncode, r.stderr[-300:])
    got = np.array(json.loads(r.stdout), dtype=np.float32).ravel()
    np.testing.assert_array_equal(got, np.asarray(predict(model, X), dtype=np.float32).ravel())


# ----------------------------------------------------------------------------- 2, 5: LightGBM


def _lgb_model(tmp_path: Path) -> Path:
    lgb = pytest.importorskip("lightgbm", reason="lightgbm (modelport[dev]) writes the seed model")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    b = lgb.train({"objective": "binary", "num_leaves": 5, "verbose": -1},
                  lgb.Dataset(X, label=(X[:, 0] > 0).astype(int)), 3)
    p = tmp_path / "model.txt"
    b.save_model(str(p))
    return p


_OPEN_LGB = ("import sys; from pathlib import Path; "
             "from modelport.converters.frontends._lightgbm_source import open_lightgbm_text; "
             "from modelport.core.errors import ModelportError\n"
             "try:\n    open_lightgbm_text(Path(sys.argv[1])); print('OK')\n"
             "except ModelportError as e:\n    print('ERR', type(e).__name__, e)")


@pytest.mark.slow
def test_02_05_lightgbm_text_that_aborts_lightgbm_is_a_one_line_error(tmp_path):
    """`shrinkage=nan` aborts LightGBM's parser (SIGABRT inside OpenMP) or breaks its JSON
    dump: the trial parse in a limited child turns it into a ModelFormatError, and the
    calling process survives (checked from a child of our own)."""
    src = _lgb_model(tmp_path)
    text = src.read_text()
    bad = tmp_path / "nan.txt"
    bad.write_text(text.replace("shrinkage=1", "shrinkage=nan", 1).replace("shrinkage=0.1", "shrinkage=nan", 1))
    assert "shrinkage=nan" in bad.read_text()
    r = _child(_OPEN_LGB, str(bad), timeout=300)
    assert r.returncode == 0, (r.returncode, r.stderr[-300:])
    assert r.stdout.startswith("ERR ModelFormatError") and len(r.stdout.strip().splitlines()) == 1
    ok = _child(_OPEN_LGB, str(src), timeout=300)
    assert ok.stdout.strip() == "OK", ok.stdout + ok.stderr[-300:]


def test_02_trial_load_reports_a_crash_by_signal(tmp_path, monkeypatch):
    """Whatever kills the child (here: a script that SIGSEGVs itself) is a one-line error."""
    from modelport.converters.frontends import _lightgbm_source as src

    monkeypatch.setattr(src, "_TRIAL", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(ModelFormatError, match="crashed reading it \\(SIGSEGV\\)"):
        src.trial_load(b"tree\n", "m.txt")
    monkeypatch.setattr(src, "_TRIAL", "import time; time.sleep(30)")
    monkeypatch.setattr(src, "TRIAL_TIMEOUT_SECONDS", 1)
    with pytest.raises(ModelFormatError, match="did not finish"):
        src.trial_load(b"tree\n", "m.txt")


# ----------------------------------------------------------------------------- 3, 8: UBJSON


def test_03_ubjson_high_precision_marker_is_a_format_error(tmp_path):
    from modelport.converters.frontends._ubjson import UBJSONError, loads

    with pytest.raises(UBJSONError, match="not a number"):
        loads(b"{U\x01aHU\x03abc}")
    assert loads(b"{U\x01aHU\x031.5}") == {"a": 1.5}
    p = tmp_path / "m.ubj"
    p.write_bytes(b"{U\x07learnerHU\x03xyz}")
    with pytest.raises(ModelFormatError, match="malformed or truncated UBJSON"):
        _load(p)


def test_08_ubjson_zero_width_counts_are_bounded_by_the_file():
    """27 bytes asking for 2**31 nulls (or many small containers of many each) fail at once."""
    from modelport.converters.frontends._ubjson import UBJSONError, loads

    start = time.perf_counter()
    for t in (b"Z", b"T", b"F"):
        with pytest.raises(UBJSONError, match="count"):
            loads(b"[$" + t + b"#l" + struct.pack(">i", 0x7FFFFFFF))
    many = b"[" + b"[$Z#l" + struct.pack(">i", 1000) + b"]" * 0 + b"]"
    with pytest.raises(UBJSONError):
        loads(b"[" + (b"[$Z#I" + struct.pack(">h", 30000)) * 50 + b"]")
    with pytest.raises(UBJSONError):
        loads(many)
    assert time.perf_counter() - start < 2
    assert loads(b"[$Z#U\x03") == [None, None, None]


# ----------------------------------------------------------------------------- 4: huge integers


def _ir_text() -> str:
    from modelport.converters.frontends.xgboost import model_from_document
    from modelport.core.ir.serialize import dumps

    return dumps(model_from_document(_doc(), source_format="t"))


@pytest.mark.parametrize("where", ["ir_version", "child", "feature_name", "n_outputs"])
def test_04_ir_json_with_a_5000_digit_integer_is_a_format_error(where):
    from modelport.core.ir.serialize import loads

    doc = json.loads(_ir_text())
    big = "9" * 5000
    text = json.dumps(doc)
    if where == "ir_version":
        text = text.replace('"ir_version": 1', f'"ir_version": {big}')
    elif where == "child":
        text = text.replace('"left": [1,', f'"left": [{big},').replace('"left": [1, ', f'"left": [{big}, ')
    elif where == "feature_name":
        text = text.replace('"name": "f0"', f'"name": {big}')
    else:
        text = text.replace('"n_outputs": 1', f'"n_outputs": {big}')
    assert big in text
    with pytest.raises(ModelFormatError) as err:
        loads(text)
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


# ----------------------------------------------------------------------------- 6, 9: counts


def test_06_size_leaf_vector_is_checked_before_allocating(tmp_path):
    doc = _doc()
    doc["learner"]["gradient_booster"]["model"]["trees"][0]["tree_param"]["size_leaf_vector"] = "2147483648"
    start = time.perf_counter()
    with pytest.raises(ModelFormatError, match="size_leaf_vector is 2147483648"):
        _load(_write(tmp_path, "m.json", doc))
    assert time.perf_counter() - start < 2


def test_06_num_class_beyond_the_trees_is_refused_at_once(tmp_path):
    trees = [_tree([1, -1, -1], [2, -1, -1], [0, 0, 0], [0.5, -1.0, 1.0]) for _ in range(3)]
    doc = _doc(trees, objective="multi:softprob", num_class="1048576")
    doc["learner"]["gradient_booster"]["model"]["tree_info"] = [0, 1, 2]
    start = time.perf_counter()
    with pytest.raises(ModelFormatError, match="1048576 outputs but holds only 3 trees"):
        _load(_write(tmp_path, "m.json", doc))
    assert time.perf_counter() - start < 2


def test_06_file_size_cap_refuses_before_reading(tmp_path, monkeypatch):
    """A 3 GiB file (sparse: no disk used) is refused by its size, not read into memory."""
    p = tmp_path / "huge.json"
    with open(p, "wb") as fh:
        fh.write(b'{"learner": {')
        fh.truncate(3 << 30)
    from modelport.core.files import MAX_MODEL_BYTES

    tracemalloc.start()
    try:
        with pytest.raises(ModelFormatError, match=f"{3 << 30} bytes, more than the {MAX_MODEL_BYTES}-byte limit"):
            _load(p)
        assert tracemalloc.get_traced_memory()[1] < 16 << 20
    finally:
        tracemalloc.stop()
    monkeypatch.setenv("MODELPORT_MAX_MODEL_BYTES", "100")
    with pytest.raises(ModelFormatError, match="100-byte limit"):
        _load(_write(tmp_path, "m.json", _doc()))


def test_09_num_feature_is_bounded_by_the_file(tmp_path):
    doc = _doc(num_feature="16777216")
    start = time.perf_counter()
    with pytest.raises(ModelFormatError, match="num_feature is 16777216"):
        _load(_write(tmp_path, "m.json", doc))
    assert time.perf_counter() - start < 2
    # Named features are stored, so their count is what the file holds.
    doc = _doc(num_feature="5000")
    doc["learner"]["feature_names"] = [f"c{i}" for i in range(5000)]
    assert _load(_write(tmp_path, "named.json", doc)).n_features == 5000


# ----------------------------------------------------------------------------- 7, 13: values


def test_07_gblinear_infinite_weight_is_bad_input(tmp_path):
    from modelport import load

    text = json.dumps(_doc(booster="gblinear", weights=[0.5, 0.25, 0.1])).replace("0.25", "Infinity")
    with pytest.raises(ModelFormatError, match="weights must be finite"):
        load(_write(tmp_path, "lin.json", text))
    assert ModelFormatError("x").exit_code == 3


def test_13_negative_best_iteration_is_refused(tmp_path):
    trees = [_tree([1, -1, -1], [2, -1, -1], [0, 0, 0], [0.5, -1.0, float(k)]) for k in range(8)]
    doc = _doc(trees, attributes={"best_iteration": "-5"})
    p = _write(tmp_path, "m.json", doc)
    with pytest.raises(ModelFormatError, match="best_iteration is -5"):
        _load(p, use_best_iteration=True)
    assert len(_load(p).booster.trees) == 8  # without truncation the attribute is not used


@pytest.mark.parametrize("key,value", [("left_children", 1.5), ("right_children", 2.5), ("split_indices", 0.9)])
def test_13_fractional_indices_are_refused(tmp_path, key, value):
    doc = _doc()
    doc["learner"]["gradient_booster"]["model"]["trees"][0][key][0] = value
    with pytest.raises(ModelFormatError, match=f"'{key}' entry 0 is {value}, not an integer"):
        _load(_write(tmp_path, "m.json", doc))


@pytest.mark.parametrize("base", ["NaN", "[inf]", "-Infinity", "[nan]"])
def test_13_non_finite_base_score_is_refused(tmp_path, base):
    with pytest.raises(ModelFormatError, match="base_score"):
        _load(_write(tmp_path, "m.json", _doc(base_score=base)))


def test_13_validate_refuses_non_finite_base_score():
    import dataclasses

    from modelport.converters.frontends.xgboost import model_from_document
    from modelport.core.ir.validate import validate

    m = model_from_document(_doc(), source_format="t")
    with pytest.raises(ModelFormatError, match="base_score: must be finite"):
        validate(dataclasses.replace(m, base_score=np.array([np.nan], dtype=np.float32)))


# ----------------------------------------------------------------------------- 10: FIFO


def test_10_a_fifo_is_refused_without_blocking(tmp_path):
    """Every reader refuses a FIFO before opening it for a blocking read (child process with
    a timeout: a regression hangs the child, not pytest)."""
    fifo = tmp_path / "model.json"
    os.mkfifo(fifo)
    code = """
import sys
from pathlib import Path
from modelport.core.errors import ModelFormatError
from modelport.converters.frontends import detect_frontend, load_model
from modelport.converters.frontends.xgboost import load_xgboost
from modelport.converters.frontends.sagemaker import load_sagemaker_xgboost
from modelport.converters.frontends._sources import detect_source, file_sha256
from modelport.core.ir.serialize import load as load_ir
p = Path(sys.argv[1])
for f in (detect_frontend, load_model, load_xgboost, load_sagemaker_xgboost, load_ir, file_sha256):
    try:
        f(p)
        print("NO ERROR", f.__name__)
    except ModelFormatError as e:
        assert "FIFO" in str(e), e
print("none" if detect_source(p) is None else "source")
"""
    r = _child(code, str(fifo), timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "none", (r.stdout, r.stderr[-300:])


# ----------------------------------------------------------------------------- 11: archives


def _targz(path: Path, members: list[tuple[str, int | bytes]]) -> None:
    class Zeros(io.RawIOBase):
        def __init__(self, n: int) -> None:
            self.left = n

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:
            k = min(len(b), self.left)
            b[:k] = bytes(k)
            self.left -= k
            return k

    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", compresslevel=1) as g, \
            tarfile.open(fileobj=g, mode="w|") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = data if isinstance(data, int) else len(data)
            tf.addfile(info, io.BufferedReader(Zeros(data)) if isinstance(data, int) else io.BytesIO(data))


def test_11_archive_decompression_is_bounded(tmp_path, monkeypatch):
    """Zeros before the member are decompressed only up to the budget (limit + 1 MiB)."""
    from modelport.converters.frontends.sagemaker import load_sagemaker_xgboost

    model = json.dumps(_doc()).encode()
    p = tmp_path / "model.tar.gz"
    _targz(p, [("padding", 64 << 20), ("xgboost-model", model)])
    assert load_sagemaker_xgboost(p).n_features == 2
    monkeypatch.setenv("MODELPORT_MAX_MODEL_BYTES", str(1 << 20))
    start = time.perf_counter()
    with pytest.raises(ModelFormatError, match="bytes decompressed before 'xgboost-model'"):
        load_sagemaker_xgboost(p)
    assert time.perf_counter() - start < 1.5


def test_11_huge_pax_header_is_refused_before_it_is_read(tmp_path):
    from modelport.converters.frontends.sagemaker import load_sagemaker_xgboost

    hdr = tarfile.TarInfo("././@PaxHeader")
    hdr.type, hdr.size = tarfile.XHDTYPE, 48 << 20
    raw = hdr.tobuf(format=tarfile.USTAR_FORMAT) + b"9" * (48 << 20) + bytes(1024)
    p = tmp_path / "model.tar.gz"
    p.write_bytes(gzip.compress(raw, 1))
    tracemalloc.start()
    try:
        with pytest.raises(ModelFormatError, match="archive header or block"):
            load_sagemaker_xgboost(p)
        assert tracemalloc.get_traced_memory()[1] < 24 << 20
    finally:
        tracemalloc.stop()


# ----------------------------------------------------------------------------- 12: staging


_STAGE = """
import sys, time
from modelport._staging import staging_dir
with staging_dir(sys.argv[1]) as d:
    (d / "model.onnx").write_bytes(b"x" * 1000)
    print(d, flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_12_signal_during_staging_leaves_nothing(tmp_path, sig):
    proc = subprocess.Popen([PY, "-c", _STAGE, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=str(ROOT))
    staged = Path(proc.stdout.readline().strip())
    assert staged.is_dir() and (staged / "model.onnx").exists()
    proc.send_signal(sig)
    proc.wait(timeout=30)
    if sig == signal.SIGTERM:
        assert proc.returncode == -signal.SIGTERM  # died of the signal: 143 in a shell
    else:
        assert proc.returncode != 0 and "KeyboardInterrupt" in proc.stderr.read()
    assert list(tmp_path.iterdir()) == []


def test_12_sweep_removes_only_dead_owners(tmp_path):
    from modelport._staging import sweep_stale

    proc = subprocess.Popen([PY, "-c", _STAGE, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
    stale = Path(proc.stdout.readline().strip())
    proc.kill()  # SIGKILL: no chance to clean up
    proc.wait(timeout=30)
    assert stale.is_dir()
    live = subprocess.Popen([PY, "-c", _STAGE, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
    try:
        mine = Path(live.stdout.readline().strip())  # staging_dir swept the stale one already
        assert not stale.exists() and mine.is_dir()
        foreign = tmp_path / ".modelport-nomarker"
        foreign.mkdir()
        assert sweep_stale(tmp_path) == [] and mine.is_dir() and foreign.is_dir()
    finally:
        live.terminate()
        live.wait(timeout=30)


# ----------------------------------------------------------------------------- runtime: 14-19


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="modelport[onnx] runs ONNX artifacts")
    from modelport.converters.frontends.xgboost import model_from_document
    from modelport.converters.targets import WriteOptions
    from modelport.converters.targets.onnx import write_onnx
    from modelport.runtimes.onnx import load_onnx

    d = tmp_path_factory.mktemp("onnx")
    out = {}
    for name, doc in (("tree", _doc()), ("linear", _doc(booster="gblinear", weights=[0.5, 0.25, 0.1]))):
        model = model_from_document(doc, source_format="t")
        write_onnx(model, d / f"{name}.onnx", WriteOptions())
        out[name] = (model, load_onnx(d / f"{name}.onnx"))
    return out


def test_14_predict_is_quiet(onnx_models, capfd):
    """No numpy RuntimeWarning and nothing from onnxruntime on stderr (fd level)."""
    _, rt = onnx_models["tree"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rt.predict(np.array([[1e300, -1e300], [0.0, 1.0]]))  # float64 -> float32 overflows to inf
        rt.predict([[1e300, 2.0]])
    assert capfd.readouterr().err == ""


def test_15_huge_python_int_names_row_and_column(onnx_models):
    _, rt = onnx_models["tree"]
    with pytest.raises(InputDataError, match="row 1, column 0: the integer .* too large"):
        rt.predict([[1.0, 2.0], [10**400, 2.0]])
    with pytest.raises(InputDataError, match="row 0, column 'f1'"):
        rt.predict([{"f0": 1.0, "f1": 10**400}])


def test_16_category_column_on_a_numeric_feature_is_refused(onnx_models):
    pd = pytest.importorskip("pandas", reason="pandas DataFrame input")
    _, rt = onnx_models["tree"]
    df = pd.DataFrame({"f0": pd.Categorical([10, 20, 30]), "f1": [1.0, 2.0, 3.0]})
    with pytest.raises(InputDataError, match="'f0' is a pandas category column but the model's feature is numeric"):
        rt.predict(df)
    by_value = rt.predict(df.assign(f0=df["f0"].astype(float)))
    np.testing.assert_array_equal(by_value, rt.predict(np.array([[10, 1], [20, 2], [30, 3]], dtype=np.float32)))


def test_17_gblinear_refuses_infinite_inputs_like_xgboost(onnx_models):
    """XGBoost's DMatrix refuses inf ('Input data contains inf') and gblinear has no in-place
    predict: the linear artifact refuses it too; trees keep routing it (in-place predict)."""
    _, lin = onnx_models["linear"]
    for bad in (np.inf, -np.inf):
        with pytest.raises(InputDataError, match="row 1, column 'f0'.*infinite"):
            lin.predict(np.array([[1.0, 2.0], [bad, 0.0]], dtype=np.float32))
    model, tree = onnx_models["tree"]
    from modelport.core.ir.evaluate import predict

    X = np.array([[np.inf, 0.0], [-np.inf, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(tree.predict(X), np.asarray(predict(model, X)).ravel())


def test_18_complex_numbers_are_refused(onnx_models):
    _, rt = onnx_models["tree"]
    with pytest.raises(InputDataError, match="row 0, column 1: the complex number"):
        rt.predict(np.array([[1.0, np.complex128(1 + 2j)]], dtype=object))
    with pytest.raises(InputDataError, match="complex"):
        rt.predict([[1.0, 3j]])


def test_19_sparse_input_is_scored_in_bounded_memory(onnx_models, tmp_path):
    """400,000 x 64 with one stored value: densified whole it is 100 MB; scored in blocks
    the peak stays under 32 MiB, and the rows predict as their dense form does."""
    sp = pytest.importorskip("scipy.sparse", reason="scipy sparse matrices")
    from modelport.converters.frontends.xgboost import model_from_document
    from modelport.converters.targets import WriteOptions
    from modelport.converters.targets.onnx import write_onnx
    from modelport.core.ir.evaluate import predict
    from modelport.runtimes.onnx import load_onnx

    model = model_from_document(_doc(num_feature="64"), source_format="t")
    write_onnx(model, tmp_path / "wide.onnx", WriteOptions())
    rt = load_onnx(tmp_path / "wide.onnx")
    n = 400_000
    X = sp.csr_matrix((np.array([0.7], dtype=np.float32), (np.array([123_456]), np.array([0]))), shape=(n, 64))
    tracemalloc.start()
    try:
        pred = rt.predict(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert pred.shape == (n,)
    assert peak < 32 << 20, f"peak {peak >> 20} MiB: the matrix was densified whole ({n * 64 * 4 >> 20} MiB)"
    rows = np.full((2, 64), np.nan, dtype=np.float32)
    rows[0, 0] = 0.7
    expect = np.asarray(predict(model, rows)).ravel()
    assert pred[123_456] == expect[0] and pred[0] == expect[1] and pred[-1] == expect[1]


@pytest.mark.parametrize("leaf", [-3.4e39, float("nan"), float("inf")])
def test_13_non_finite_leaf_is_refused(tmp_path, leaf):
    """Found by the fuzz campaign: a leaf beyond float32 (inf) made every softmax NaN."""
    doc = _doc()
    doc["learner"]["gradient_booster"]["model"]["trees"][0]["split_conditions"][1] = leaf
    with pytest.raises(ModelFormatError, match="leaf 1 has a non-finite value"):
        _load(_write(tmp_path, "m.json", json.dumps(doc)))
