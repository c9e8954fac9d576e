"""The IR's JSON form round-trips bit for bit and rejects anything malformed in one line."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import ir_samples as samples
from modelport.core.ir import serialize
from modelport.core.ir.model import IR_VERSION
from modelport.core.errors import ModelFormatError


def _bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def _same_tree_arrays(a, b) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype and x.shape == y.shape, f.name
        if x.dtype.kind == "f":
            nan = np.isnan(x)
            assert np.array_equal(nan, np.isnan(y)), f.name
            assert np.array_equal(_bits(x)[~nan], _bits(y)[~nan]), f.name  # bit for bit (incl. -0.0)
        else:
            assert np.array_equal(x, y), f.name


@pytest.mark.parametrize("name", sorted(samples.ALL))
def test_round_trip_is_stable(name):
    model = samples.ALL[name]()
    text = serialize.dumps(model)
    back = serialize.loads(text)
    assert serialize.dumps(back) == text
    assert back.task == model.task and back.features == model.features and back.provenance == model.provenance
    assert _bits(back.base_score).tolist() == _bits(model.base_score).tolist()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_awkward_floats_round_trip_bit_for_bit(dtype):
    """NaN, +-inf, -0.0, subnormals, ULP neighbours and random bit patterns all survive."""
    finfo = np.finfo(dtype)
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 2**32 if dtype == "float32" else 2**63, size=200, dtype=np.uint64)
    random_vals = raw.astype(np.uint32 if dtype == "float32" else np.uint64).view(dtype)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, finfo.smallest_subnormal, -finfo.smallest_subnormal,
                        finfo.tiny, finfo.max, -finfo.max, 0.1, np.nextafter(np.array(0.1, dtype), np.array(1, dtype))],
                       dtype=dtype)
    thr = np.concatenate([special, random_vals]).astype(dtype)
    n_split = thr.size
    n = 2 * n_split + 1  # a chain: every split's threshold is one of the awkward values
    left = np.full(n, -1); right = np.full(n, -1)
    i = np.arange(n_split)
    left[2 * i] = 2 * i + 1; right[2 * i] = 2 * i + 2
    thresholds = np.zeros(n, dtype=dtype); thresholds[2 * i] = thr
    values = np.zeros(n, dtype=np.float32)
    with np.errstate(over="ignore"):
        values[: special.size] = special.astype(np.float32)
    tree = samples.make_tree(left, right, np.zeros(n, dtype=np.int32), thresholds, values, threshold_dtype=dtype)
    base = samples.regression(1)
    model = dataclasses.replace(base, booster=samples.ensemble([tree], threshold_dtype=dtype),
                                base_score=np.array([-0.0], dtype=np.float32), missing=float("-inf"))
    back = serialize.loads(serialize.dumps(model))
    _same_tree_arrays(model.booster.trees[0], back.booster.trees[0])
    assert np.signbit(back.base_score[0]) and back.missing == float("-inf")
    json.loads(serialize.dumps(model), parse_constant=lambda c: pytest.fail(f"bare {c} in output"))  # strict JSON


def test_save_and_load(tmp_path):
    path = serialize.save(samples.categorical(), tmp_path / "m.ir.json")
    assert serialize.load(path).missing == -999.0
    assert serialize.looks_like_ir(path.read_bytes()[:4096])


def _doc(model=None) -> dict:
    return json.loads(serialize.dumps(model or samples.regression()))


def _expect(doc_or_text, match: str) -> None:
    text = doc_or_text if isinstance(doc_or_text, (str, bytes)) else json.dumps(doc_or_text)
    with pytest.raises(ModelFormatError, match=match) as info:
        serialize.loads(text)
    assert "\n" not in str(info.value)


def test_rejects_other_versions():
    doc = _doc(); doc["ir_version"] = IR_VERSION + 1
    _expect(doc, rf"IR version {IR_VERSION + 1} is not supported")
    doc["ir_version"] = "1"
    _expect(doc, "IR version")


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.pop("format"), "not a modelport IR document"),
    (lambda d: d.pop("task"), "missing field 'task'"),
    (lambda d: d.update(task="clustering"), "task 'clustering' is not one of"),
    (lambda d: d.update(n_outputs="1"), "n_outputs must be an integer"),
    (lambda d: d["booster"]["trees"][0].update(threshold=[0.1, "x", 0, 0, 0, 0, 0]), r"threshold must be a list of numbers"),
    (lambda d: d["booster"]["trees"][0].update(left=[1, 3, 5, -1, -1, -1, 99]), "node 6"),
    (lambda d: d["booster"]["trees"][0].update(value=[1, 2]), "value has 2 values, expected 7"),
    (lambda d: d["booster"]["trees"][0].update(left=[1, 3, 5, -1, -1, -1, 2**40]), "out of int32 range"),
    (lambda d: d["booster"].update(tree_weight=[1e300, 1.0]), "not a float32"),
    (lambda d: d["booster"].update(kind="forest"), "booster.kind 'forest'"),
    (lambda d: d.update(base_score=[0.5, 0.5]), "base_score must have shape"),
])
def test_rejects_malformed_documents(mutate, match):
    doc = _doc()
    mutate(doc)
    _expect(doc, match)


@pytest.mark.parametrize("text, match", [
    ("", "malformed"),
    ("{", "malformed"),
    ("[1, 2]", "must be an object"),
    (b"\xff\xfe", "not UTF-8"),
    ('{"format": "modelport-ir", "ir_version": NaN}', "bare NaN"),
])
def test_rejects_malformed_text(text, match):
    _expect(text, match)


def test_truncated_file_is_one_line_error(tmp_path):
    text = serialize.dumps(samples.binary())
    for cut in (1, len(text) // 3, len(text) - 3):
        _expect(text[:cut], "malformed")
    (tmp_path / "empty.ir.json").write_text("")
    with pytest.raises(ModelFormatError, match="empty"):
        serialize.load(tmp_path / "empty.ir.json")
    with pytest.raises(ModelFormatError, match="cannot read"):
        serialize.load(tmp_path / "absent.ir.json")


def test_ir_target_is_registered():
    import modelport.converters.targets.ir  # noqa: F401  (registers itself on import)
    from modelport.converters.targets import TARGETS

    target = TARGETS.get("ir")
    # The reference evaluator is the IR's runtime, held to bit-identity.
    assert target.extension == ".ir.json" and target.runtime == "ir"
    assert target.margin_tolerance.max_ulp == 0 and target.margin_tolerance.name == "exact"


def test_ir_json_loads_as_a_runtime(tmp_path):
    import numpy as np

    from modelport import runtimes
    from modelport.core.ir import evaluate, serialize
    from ir_samples import binary

    model = binary()
    path = serialize.save(model, tmp_path / "m.ir.json")
    rt = runtimes.load(path)
    X = np.random.default_rng(0).normal(size=(50, model.n_features)).astype(np.float32)
    X[::7, 0] = np.nan
    assert np.array_equal(rt.predict(X, output="margin"), evaluate.predict_margin(model, X)[:, 0])
    assert np.array_equal(rt.predict(X), evaluate.predict(model, X))


def test_any_float32_bit_pattern_round_trips():
    """Property: whatever float32 bits a threshold or leaf holds, the JSON gives them back."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=40))
    def check(bit_patterns):
        vals = np.array(bit_patterns, dtype=np.uint32).view(np.float32)
        n = 2 * len(vals) + 1
        left = np.full(n, -1); right = np.full(n, -1)
        i = np.arange(len(vals))
        left[2 * i] = 2 * i + 1; right[2 * i] = 2 * i + 2
        thr = np.zeros(n, np.float32); thr[2 * i] = vals
        leaf = np.zeros(n, np.float32); leaf[2 * i + 1] = vals
        tree = samples.make_tree(left, right, np.zeros(n, np.int32), thr, leaf)
        model = dataclasses.replace(samples.regression(1), booster=samples.ensemble([tree]))
        _same_tree_arrays(tree, serialize.loads(serialize.dumps(model)).booster.trees[0])

    assert hypothesis is not None
    check()
