"""The /invocations codecs in process: CSV parsing is exact (text -> float64 correctly rounded,
as Python's float) with and without the fastnumbers C path, and every malformed body is a
one-line HttpError with the contract's status."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from modelport.core.contract import FeatureSpec
from modelport.deploy.sagemaker import _codecs
from modelport.deploy.sagemaker._codecs import HttpError, choose_accept, decode, decode_csv, encode

FEATS = tuple(FeatureSpec(f"f{i}") for i in range(3))


def _tricky_cells(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    vals = rng.normal(size=n) * 10.0 ** rng.integers(-320, 300, size=n)
    out = [f"{v:.17g}" for v in vals]
    out += [repr(float(np.float32(v))) for v in rng.normal(size=n)]  # float32 values written as float64
    out += [str(np.float32(v)) for v in rng.normal(size=n)]  # shortest float32 spelling
    out += ["".join(map(str, rng.integers(0, 10, size=25))) + f"e{e}" for e in rng.integers(-340, 280, size=n)]
    out += ["0", "-0", "1e-320", "4.9e-324", "2.2250738585072011e-308", "9007199254740993", "0.1", "+3", " 7 "]
    return out


@pytest.mark.parametrize("fast", [True, False], ids=["fastnumbers", "float"])
def test_csv_is_exactly_float(fast, monkeypatch):
    if fast and _codecs._try_array is None:
        pytest.skip("fastnumbers is not installed (pip install fastnumbers)")
    if not fast:
        monkeypatch.setattr(_codecs, "_try_array", None)
    cells = _tricky_cells(3000)
    cells = cells[: len(cells) // 3 * 3]
    body = "\n".join(",".join(cells[i:i + 3]) for i in range(0, len(cells), 3)).encode()
    got = decode_csv(body, 3)
    want = np.array([float(c) for c in cells]).reshape(-1, 3)
    assert np.array_equal(got.view(np.uint64), want.view(np.uint64))


def test_csv_missing_cells_and_line_endings():
    got = decode(b"1,,3\r\n,2,\r\n", "text/csv", FEATS)
    assert got.shape == (2, 3)
    assert np.isnan(got[0, 1]) and np.isnan(got[1, 0]) and np.isnan(got[1, 2]) and got[0, 2] == 3


@pytest.mark.parametrize("body,ctype,status,words", [
    (b"1,2\n", "text/csv", 400, "row 1 has 2 columns"),
    (b"1,2,3\n1,2\n", "text/csv", 400, "row 2 has 2 columns"),
    (b"1,2,3\n\n4,5,6\n", "text/csv", 400, "row 2 has 1 columns"),
    (b"1,x,3\n", "text/csv", 400, "row 1, column 2: 'x' is not a number"),
    (b"1,2,nan\n", "text/csv", 400, "not a finite number"),
    (b"1,2,1e400\n", "text/csv", 400, "not a finite number"),
    (b'"1",2,3\n', "text/csv", 400, "quoted"),
    (b"", "text/csv", 400, "empty"),
    (b"\n", "text/csv", 400, "empty"),
    (b"[[1, 2, Infinity]]", "application/json", 400, "finite"),
    (b"[[1, 2, 1e400]]", "application/json", 400, "finite"),
    (b"[[1, 2, true]]", "application/json", 400, "not a number"),
    (b'{"instances": 3}', "application/json", 400, "list of rows"),
    (b'{"instances": []}', "application/json", 400, "no rows"),
    (b"[[1, 2]]", "application/json", 400, "has 2 columns"),
    (b'[{"f0": 1, "f1": 2}]', "application/json", 400, "no value for feature 'f2'"),
    (b"[1, 2, 3]\n{", "application/jsonlines", 400, "line 2"),
    (b"1,2,3", "text/plain", 415, "unsupported content type"),
    (b"1,2,3", "text/csv; charset=latin-9", 415, "charset"),
])
def test_bad_bodies(body, ctype, status, words):
    with pytest.raises(HttpError) as e:
        decode(body, ctype, FEATS)
    assert e.value.status == status and words in e.value.message and "\n" not in e.value.message


def test_json_shapes_and_npy():
    rows = [[1.5, None, -2], [0, 1, 2]]
    want = np.array([[1.5, np.nan, -2], [0, 1, 2]])
    for doc in (rows, {"instances": rows}, {"inputs": rows}, {"instances": [{"features": r} for r in rows]},
                [dict(zip(["f0", "f1", "f2"], r, strict=True)) for r in rows]):
        assert np.array_equal(decode(json.dumps(doc).encode(), "application/json", FEATS), want, equal_nan=True)
    big = [[float(i), 1.0, None] for i in range(100)]  # the vectorised path for many rows
    assert decode(json.dumps(big).encode(), "application/json", FEATS).shape == (100, 3)
    buf = io.BytesIO()
    np.save(buf, want.astype(np.float32))
    assert np.array_equal(decode(buf.getvalue(), "application/x-npy", FEATS), want.astype(np.float32), equal_nan=True)
    buf = io.BytesIO()
    np.save(buf, np.array([[1, 2, np.inf]]))
    with pytest.raises(HttpError, match="inf"):
        decode(buf.getvalue(), "application/x-npy", FEATS)
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(HttpError) as e:  # never unpickled
        decode(buf.getvalue(), "application/x-npy", FEATS)
    assert e.value.status == 400


def test_accept_and_encode():
    assert choose_accept(None, "text/csv") == "text/csv"
    assert choose_accept("*/*", "application/json") == "application/json"
    assert choose_accept("application/jsonlines;q=0.5, application/json", "text/csv") == "application/json"
    assert choose_accept("application/x-jsonlines", "text/csv") == "application/jsonlines"
    with pytest.raises(HttpError) as e:
        choose_accept("image/png", "text/csv")
    assert e.value.status == 406
    p = np.array([[0.25, 0.75], [1.0, 0.0]], dtype=np.float32)
    assert encode(p, "text/csv") == b"0.25,0.75\n1.0,0.0\n"
    assert encode(p, "application/jsonlines") == b"[0.25, 0.75]\n[1.0, 0.0]\n"
    assert json.loads(encode(p, "application/json")) == {"predictions": [[0.25, 0.75], [1.0, 0.0]]}
    x = np.float32(0.1)
    assert np.float32(float(encode(np.array([x]), "text/csv"))) == x  # written to round-trip exactly
    assert encode(np.array(["a,b", "c"]), "text/csv") == b'"a,b"\nc\n'


# -- the fast paths: one line, Arrow's reader for long bodies --------------------------------------


def _arrow_cells(n: int) -> list[str]:
    """Cells Arrow's reader takes (no underscores, no hex): the tricky spellings above."""
    return [c for c in _tricky_cells(n) if "_" not in c]


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # 1e300 is inf in float32, as astype says
def test_arrow_path_is_exactly_float(monkeypatch):
    pytest.importorskip("pyarrow", reason="the long-body CSV path needs pyarrow (pip install pyarrow)")
    cells = _arrow_cells(3000)
    cells = cells[: len(cells) // 3 * 3]
    body = "\n".join(",".join(cells[i:i + 3]) for i in range(0, len(cells), 3)).encode()
    want = np.array([float(c) for c in cells]).reshape(-1, 3)
    got = _codecs._arrow_csv(body, 3, len(cells) // 3, np.float64)
    assert got is not None, "Arrow's reader refused a plain numeric body"
    assert np.array_equal(got.view(np.uint64), want.view(np.uint64))
    got32 = _codecs._arrow_csv(body, 3, len(cells) // 3, np.float32)  # rounded once more, like astype
    assert np.array_equal(got32, want.astype(np.float32), equal_nan=True)
    monkeypatch.setattr(_codecs, "ARROW_MIN_BYTES", 0)  # every body through decode_csv's Arrow branch
    assert np.array_equal(decode_csv(body + b"\n", 3, dtype=np.float32), want.astype(np.float32))


@pytest.mark.parametrize("arrow", [True, False], ids=["arrow", "split"])
def test_long_bodies_keep_every_contract_answer(arrow, monkeypatch):
    if arrow:
        pytest.importorskip("pyarrow", reason="the long-body CSV path needs pyarrow (pip install pyarrow)")
    monkeypatch.setattr(_codecs, "ARROW_MIN_BYTES", 0 if arrow else 1 << 60)
    rows = ["1,2,3"] * 50
    ok = "\n".join(rows[:10] + ["4,,6", ",,"] + rows[10:]).encode()
    got = decode(ok, "text/csv", FEATS, dtype=np.float32)
    assert got.dtype == np.float32 and got.shape == (52, 3)
    assert np.isnan(got[10, 1]) and got[10, 2] == 6 and np.isnan(got[11]).all()
    for bad, words in [(rows[:3] + ["1,nan,3"], "row 4, column 2: nan is not a finite"),
                       (rows[:3] + ["1,2,1e400"], "row 4, column 3: inf is not a finite"),
                       (rows[:3] + ["1,NA,3"], "row 4, column 2: 'NA' is not a number"),
                       (rows[:3] + ["1,2"], "row 4 has 2 columns"),
                       (rows[:3] + ["", "1,2,3"], "row 4 has 1 columns")]:
        with pytest.raises(HttpError) as e:
            decode("\n".join(bad).encode(), "text/csv", FEATS)
        assert e.value.status == 400 and words in e.value.message, e.value.message


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
def test_one_line_fast_path_equals_general_path(monkeypatch):
    for line in [b"0.1,-2.5e-3,7\n", b"1,2,3", b" 7 ,+3,-0\n", b"3.4028235677973366e38,1e-320,0.30000000000000004\n"]:
        fast = decode_csv(line, 3, dtype=np.float32)
        assert fast.shape == (1, 3) and fast.dtype == np.float32
        monkeypatch.setattr(_codecs, "_try_array", None)  # the general path
        slow = decode_csv(line, 3).astype(np.float32)
        monkeypatch.undo()
        assert np.array_equal(fast.view(np.uint32), slow.view(np.uint32)), line
    with pytest.raises(HttpError, match="row 1, column 3: nan"):
        decode_csv(b"1,2,nan\n", 3)
    assert np.isnan(decode_csv(b"1,,3\n", 3, dtype=np.float32)[0, 1])


# -- LIBSVM --------------------------------------------------------------------------------------


def test_libsvm_rows():
    body = b"1 0:1.5 2:3\n0:-2 1:0.25\n0 qid:7 1:4 # a comment\n-1\n"
    got = decode(body, "text/libsvm", FEATS)
    want = np.array([[1.5, np.nan, 3], [-2, 0.25, np.nan], [np.nan, 4, np.nan], [np.nan] * 3])
    assert np.array_equal(got, want, equal_nan=True)
    zeros = decode(body.replace(b"\n", b"\r\n"), "text/x-libsvm; charset=utf-8", FEATS, dtype=np.float32, absent=0.0)
    assert zeros.dtype == np.float32 and np.array_equal(zeros, np.nan_to_num(want).astype(np.float32))
    assert decode(b"0:0.1", "text/libsvm", FEATS)[0, 0] == 0.1  # text -> float64, as float()


@pytest.mark.parametrize("body,words", [
    (b"1 0:abc", "line 1, index 0: 'abc' is not a number"),
    (b"1 0:1\n1 3:1", "line 2: index 3 is out of range; the model takes indices 0..2"),
    (b"1 0:1 0:2", "line 1: index 0 appears twice"),
    (b"1 0:nan", "line 1, index 0: 'nan' is not a finite number"),
    (b"1 1:1e999", "not a finite number"),
    (b"1 a:1", "index 'a' is not a non-negative integer"),
    (b"1 -1:1", "index '-1' is not a non-negative integer"),
    (b"x 0:1", "line 1: label 'x' is not a number"),
    (b"1 0:1\n\n0:2", "line 2 is empty"),
    (b"1 0", "line 1: '0' is not index:value"),
    (b"1 0:", "line 1: '0:' is not index:value"),
    (b"\n", "empty request body"),
])
def test_libsvm_malformed_lines(body, words):
    with pytest.raises(HttpError) as e:
        decode(body, "text/libsvm", FEATS)
    assert e.value.status == 400 and words in e.value.message and "\n" not in e.value.message, e.value.message
