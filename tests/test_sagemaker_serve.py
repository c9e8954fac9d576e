"""The SageMaker data plane: the real ``serve`` process (granian workers) on loopback, serving
the very model.tar.gz ``modelport package`` writes, driven by real HTTP clients."""

from __future__ import annotations

import io
import json
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="serving the test model needs onnxruntime")
pytest.importorskip("xgboost", reason="the test model is trained with xgboost")
pytest.importorskip("granian", reason="modelport serve runs on granian (pip install 'modelport[sagemaker]')")
requests = pytest.importorskip("requests", reason="the HTTP client of these tests")

from sagemaker_helpers import N_FEATURES, csv_body, make_rows, start_server, train_onnx  # noqa: E402

from modelport import runtimes  # noqa: E402
from modelport.deploy.sagemaker.package import package  # noqa: E402

CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("sm-serve")
    onnx = train_onnx(d)
    tarball = d / "model.tar.gz"
    package(onnx, tarball)
    return d, onnx, tarball


@pytest.fixture(scope="module")
def server(model):
    d, _, tarball = model
    srv = start_server(tarball, d, workers=2)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def reference(model):
    return runtimes.load(model[1])


def _floats(lines: list[str]) -> np.ndarray:
    return np.array([float(x) for x in lines], dtype=np.float64).astype(np.float32)


def _alive(server, reference):
    X = make_rows(3, seed=99)
    r = requests.post(server.url + "/invocations", data=csv_body(X), headers=CSV, timeout=10)
    assert r.status_code == 200, r.text
    assert np.array_equal(_floats(r.text.splitlines()), reference.predict(X))


def test_ping_and_execution_parameters(server):
    r = requests.get(server.url + "/ping", timeout=5)
    assert r.status_code == 200 and r.content == b""
    params = requests.get(server.url + "/execution-parameters", timeout=5).json()
    assert params == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}


@pytest.mark.parametrize("ctype", ["text/csv", "text/csv; charset=utf-8", "text/csv;charset=UTF-8"])
def test_csv_equals_runtime(server, reference, ctype):
    X = make_rows(500)
    r = requests.post(server.url + "/invocations", data=csv_body(X), headers={"Content-Type": ctype}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/csv"
    lines = r.text.splitlines()
    assert len(lines) == 500
    got = _floats(lines)
    assert np.array_equal(got, reference.predict(X)), "served predictions differ from the runtime's own"


def _json_rows(X):
    return [[None if v != v else v for v in row] for row in X.astype(np.float64).tolist()]


def test_json_forms_equal_runtime(server, reference):
    X = make_rows(100, seed=3)
    want = reference.predict(X)
    names = reference.signature.feature_names
    bodies = [
        {"instances": _json_rows(X)},
        {"inputs": _json_rows(X)},
        _json_rows(X),
        {"instances": [{"features": r} for r in _json_rows(X)]},
        {"instances": [dict(zip(names, r, strict=True)) for r in _json_rows(X)]},
    ]
    for body in bodies:
        r = requests.post(server.url + "/invocations", data=json.dumps(body), timeout=30,
                          headers={"Content-Type": "application/json", "Accept": "application/json"})
        assert r.status_code == 200, r.text
        got = np.array(r.json()["predictions"], dtype=np.float64).astype(np.float32)
        assert np.array_equal(got, want)
    # one bare row
    r = requests.post(server.url + "/invocations", data=json.dumps(_json_rows(X)[0]), timeout=10,
                      headers={"Content-Type": "application/json", "Accept": "application/json"})
    assert np.float32(r.json()["predictions"][0]) == want[0]


def test_jsonlines_and_npy_equal_runtime(server, reference):
    X = make_rows(200, seed=4)
    want = reference.predict(X)
    body = "\n".join(json.dumps(r) for r in _json_rows(X)) + "\n"
    r = requests.post(server.url + "/invocations", data=body, timeout=30,
                      headers={"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"})
    assert r.status_code == 200, r.text
    lines = r.text.splitlines()
    assert len(lines) == 200
    assert np.array_equal(_floats([json.loads(x) for x in lines]), want)
    buf = io.BytesIO()
    np.save(buf, X)
    r = requests.post(server.url + "/invocations", data=buf.getvalue(), timeout=30,
                      headers={"Content-Type": "application/x-npy", "Accept": "text/csv"})
    assert r.status_code == 200, r.text
    assert np.array_equal(_floats(r.text.splitlines()), want)


def test_libsvm_equals_runtime_with_absent_indices_missing(server, reference):
    """text/libsvm (the SageMaker XGBoost container's format): 0-based indices, an absent index
    is a missing value for this XGBoost model, the label is optional and ignored."""
    X = make_rows(50, seed=6)
    X[X > 1.0] = np.nan  # left out of the line
    lines = []
    for i, row in enumerate(X.astype(np.float64).tolist()):
        pairs = " ".join(f"{j}:{v!r}" for j, v in enumerate(row) if v == v)
        lines.append(pairs if i % 2 else f"{i % 3} {pairs}")
    r = requests.post(server.url + "/invocations", data="\n".join(lines) + "\n", timeout=30,
                      headers={"Content-Type": "text/libsvm"})
    assert r.status_code == 200, r.text
    assert np.array_equal(_floats(r.text.splitlines()), reference.predict(X))


def test_accept_negotiation(server):
    X = csv_body(make_rows(2))
    for accept, want in [(None, "text/csv"), ("*/*", "text/csv"), ("application/json", "application/json"),
                         ("application/jsonlines", "application/jsonlines"),
                         ("text/html, application/json;q=0.9", "application/json")]:
        headers = dict(CSV, **({"Accept": accept} if accept else {}))
        r = requests.post(server.url + "/invocations", data=X, headers=headers, timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"] == want, (accept, r.status_code, r.text)
    r = requests.post(server.url + "/invocations", data=X, headers=dict(CSV, Accept="application/xml"), timeout=10)
    assert r.status_code == 406 and "\n" not in r.text.strip()


def test_custom_attributes_select_output(server, reference):
    X = make_rows(20, seed=5)
    r = requests.post(server.url + "/invocations", data=csv_body(X), timeout=10,
                      headers=dict(CSV, **{"X-Amzn-SageMaker-Custom-Attributes": "output=margin"}))
    assert r.status_code == 200, r.text
    assert np.array_equal(_floats(r.text.splitlines()), reference.predict(X, output="margin"))


_GOOD_ROW = ",".join(["0.5"] * N_FEATURES)
BAD = [
    ("wrong column count", CSV, ",".join(["1"] * (N_FEATURES - 1)), 400, "columns"),
    ("non-numeric cell", CSV, _GOOD_ROW + "\n" + "abc" + ",1" * (N_FEATURES - 1), 400, "row 2, column 1"),
    ("empty body", CSV, "", 400, "empty"),
    ("unknown content type", {"Content-Type": "application/x-protobuf"}, _GOOD_ROW, 415, "content type"),
    ("no content type", {}, _GOOD_ROW, 415, "content type"),
    ("malformed JSON", {"Content-Type": "application/json"}, '{"instances": [[1, 2', 400, "malformed JSON"),
    ("NaN as JSON", {"Content-Type": "application/json"}, "[[NaN" + ", 1" * (N_FEATURES - 1) + "]]", 400, "finite"),
    ("NaN as text", CSV, "nan" + ",1" * (N_FEATURES - 1), 400, "finite"),
    ("inf as text", CSV, "1," * (N_FEATURES - 1) + "-inf", 400, "finite"),
    ("overflow", CSV, "1e999" + ",1" * (N_FEATURES - 1), 400, "finite"),
    ("unknown feature", {"Content-Type": "application/json"}, '[{"nope": 1}]', 400, "unknown feature"),
    ("string cell in JSON", {"Content-Type": "application/json"}, '[["1"' + ", 1" * (N_FEATURES - 1) + "]]", 400, "not a number"),
    ("bad npy", {"Content-Type": "application/x-npy"}, "not an array", 400, ".npy"),
    ("bad charset", {"Content-Type": "text/csv; charset=utf-16"}, _GOOD_ROW, 415, "charset"),
    ("ragged jsonlines", {"Content-Type": "application/jsonlines"}, "[1]\n", 400, "columns"),
    ("libsvm index out of range", {"Content-Type": "text/libsvm"}, f"1 0:1\n1 {N_FEATURES}:2\n", 400, "line 2: index"),
    ("libsvm malformed pair", {"Content-Type": "text/x-libsvm"}, "1 0:1 3=2\n", 400, "not index:value"),
    ("libsvm bad value", {"Content-Type": "text/libsvm"}, "0 2:abc\n", 400, "line 1, index 2: 'abc' is not a number"),
]


@pytest.mark.parametrize("name,headers,body,status,words", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_status_and_server_keeps_serving(server, reference, name, headers, body, status, words):
    r = requests.post(server.url + "/invocations", data=body.encode(), headers=headers, timeout=10)
    assert r.status_code == status, (name, r.status_code, r.text)
    assert len(r.text.strip().splitlines()) == 1 and words in r.text, r.text
    _alive(server, reference)


def test_seven_megabyte_body_is_413(server, reference):
    row = (",".join(["0.123456789"] * N_FEATURES) + "\n").encode()
    body = row * (7 * 2**20 // len(row) + 1)
    r = requests.post(server.url + "/invocations", data=body, headers=CSV, timeout=30)
    assert r.status_code == 413 and "limit" in r.text
    # without Content-Length (chunked transfer) too
    r = requests.post(server.url + "/invocations", data=iter([body[i:i + 2**20] for i in range(0, len(body), 2**20)]),
                      headers=CSV, timeout=30)
    assert r.status_code == 413
    _alive(server, reference)


def test_wrong_method_and_route(server):
    assert requests.get(server.url + "/invocations", timeout=5).status_code == 405
    assert requests.get(server.url + "/nope", timeout=5).status_code == 404


def test_slow_client_does_not_block_others(server, reference):
    body = csv_body(make_rows(2))
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
              + f"Content-Length: {len(body)}\r\n\r\n".encode())
    try:
        for i in range(len(body) // 2):  # trickle half the body while others are served
            s.sendall(body[i:i + 1])
            if i % 10 == 0:
                t0 = time.monotonic()
                _alive(server, reference)
                assert time.monotonic() - t0 < 5
            time.sleep(0.005)
        s.sendall(body[len(body) // 2:])
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 200")
    finally:
        s.close()


def test_connection_dropped_mid_body(server, reference):
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100000\r\n\r\n1,2,3")
        s.close()
    _alive(server, reference)


def test_64_concurrent_clients(server, reference):
    def client(i):
        X = make_rows(1 + i % 7, seed=1000 + i)
        with requests.Session() as sess:
            for _ in range(5):
                r = sess.post(server.url + "/invocations", data=csv_body(X), headers=CSV, timeout=60)
                assert r.status_code == 200, r.text
                assert np.array_equal(_floats(r.text.splitlines()), reference.predict(X))
        return True

    with ThreadPoolExecutor(64) as pool:
        assert all(pool.map(client, range(64)))


def test_serving_process_loads_no_converter(model):
    """The worker's factory, run in a fresh interpreter exactly as granian runs it."""
    _, onnx, _ = model
    code = (
        "import sys, io\n"
        "from modelport.deploy.sagemaker.serve import create_app\n"
        "app = create_app()\n"
        "body = b'" + _GOOD_ROW + "\\n'\n"
        "out = []\n"
        "env = {'REQUEST_METHOD': 'POST', 'PATH_INFO': '/invocations', 'CONTENT_TYPE': 'text/csv',\n"
        "       'CONTENT_LENGTH': str(len(body)), 'wsgi.input': io.BytesIO(body)}\n"
        "resp = b''.join(app(env, lambda status, headers: out.append(status)))\n"
        "assert out == ['200 OK'], (out, resp)\n"
        "bad = [m for m in sys.modules if m.startswith('modelport.converters')]\n"
        "print('CONVERTERS', bad)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "MODELPORT_SERVE_ARTIFACT": str(onnx)})
    assert res.returncode == 0, res.stderr
    assert "CONVERTERS []" in res.stdout


@pytest.mark.parametrize("chunk", [65_536, 2], ids=["one-call", "chunked"])
def test_chunks_and_timeout(model, reference, chunk, monkeypatch):
    from modelport.deploy.sagemaker import serve
    from modelport.deploy.sagemaker.serve import App, Settings

    monkeypatch.setattr(serve, "_CHUNK_ROWS", chunk)
    X = make_rows(5)
    body = csv_body(X)

    def call(app):
        status = []
        resp = b"".join(app({"REQUEST_METHOD": "POST", "PATH_INFO": "/invocations", "CONTENT_TYPE": "text/csv",
                             "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)},
                            lambda s, h: status.append(s)))
        return status[0], resp

    status, resp = call(App(reference, Settings()))
    assert status == "200 OK" and np.array_equal(_floats(resp.decode().splitlines()), reference.predict(X))
    status, resp = call(App(reference, Settings(timeout=1e-9)))
    assert status == "503 Service Unavailable" and b"timeout" in resp


def test_sigterm_drains_in_flight_request(model, reference, tmp_path):
    """SIGTERM while a request is mid-body: the request still gets its answer, then the server exits 0."""
    d, _, tarball = model
    srv = start_server(tarball, tmp_path, workers=1)
    X = make_rows(2000, seed=8)
    body = csv_body(X)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    try:
        s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nConnection: close\r\n"
                  + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:1000])
        time.sleep(0.5)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert srv.proc.poll() is None, "the server exited with a request in flight"
        s.sendall(body[1000:])
        reply = b""
        while chunk := s.recv(1 << 16):
            reply += chunk
    finally:
        s.close()
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert np.array_equal(_floats(payload.decode().splitlines()), reference.predict(X))
    assert srv.stop(timeout=30) == 0, srv.log.read_text()[-1000:]


@pytest.mark.parametrize("framework,absent", [("xgboost", "nan"), ("lightgbm", "0.0"), ("scikit-learn", "0.0")])
def test_libsvm_absent_index_follows_the_source_framework(reference, framework, absent):
    """An index a LIBSVM line leaves out: missing for XGBoost, zero for LightGBM and scikit-learn
    (their sparse inputs mean zero).  The runtime here echoes column 1 of what it is given."""
    import dataclasses
    import types

    from modelport.deploy.sagemaker.serve import App, Settings

    sig = reference.signature
    sig = dataclasses.replace(sig, metadata={**sig.metadata, "modelport.framework": framework})
    echo = types.SimpleNamespace(signature=sig, predict=lambda X, output="prediction": X[:, 1].copy())
    body = b"1 0:2.5\n"
    status = []
    resp = b"".join(App(echo, Settings())({"REQUEST_METHOD": "POST", "PATH_INFO": "/invocations",
                                           "CONTENT_TYPE": "text/libsvm", "CONTENT_LENGTH": str(len(body)),
                                           "wsgi.input": io.BytesIO(body)}, lambda s, h: status.append(s)))
    assert status == ["200 OK"] and resp == f"{absent}\n".encode()
