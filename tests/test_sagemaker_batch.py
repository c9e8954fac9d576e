"""Batch transform, emulated: the platform's side (split the input file by line into payloads
of at most MaxPayloadInMB, POST each to /invocations, assemble the answers by line) against
the real server started with the batch settings SageMaker passes to a transform container."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="serving the test model needs onnxruntime")
pytest.importorskip("xgboost", reason="the test model is trained with xgboost")
pytest.importorskip("granian", reason="modelport serve runs on granian (pip install 'modelport[sagemaker]')")
requests = pytest.importorskip("requests", reason="the HTTP client of these tests")

from sagemaker_helpers import csv_body, make_rows, start_server, train_onnx  # noqa: E402

from modelport import runtimes  # noqa: E402
from modelport.deploy.sagemaker.package import package  # noqa: E402


def split_by_line(data: bytes, max_bytes: int) -> list[bytes]:
    """SplitType=Line with MULTI_RECORD: as many whole lines per payload as fit in max_bytes."""
    out, start = [], 0
    while start < len(data):
        end = min(start + max_bytes, len(data))
        if end < len(data):
            cut = data.rfind(b"\n", start, end)
            assert cut >= start, "a single record is larger than MaxPayloadInMB"
            end = cut + 1
        out.append(data[start:end])
        start = end
    return out


@pytest.mark.slow
def test_batch_transform_line_for_line(tmp_path):
    onnx = train_onnx(tmp_path, n_trees=30, objective="multi:softprob")
    tarball = tmp_path / "model.tar.gz"
    package(onnx, tarball)
    env = {"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1", "SAGEMAKER_BATCH_STRATEGY": "MULTI_RECORD",
           "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "4"}
    srv = start_server(tarball, tmp_path, workers=2, env=env)
    try:
        params = requests.get(srv.url + "/execution-parameters", timeout=10).json()
        assert params == {"MaxConcurrentTransforms": 4, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1}
        X = make_rows(100_000, seed=11)
        data = csv_body(X)
        payloads = split_by_line(data, params["MaxPayloadInMB"] << 20)
        assert len(payloads) > 4 and all(len(p) <= 1 << 20 for p in payloads)

        def invoke(p):
            r = requests.post(srv.url + "/invocations", data=p, timeout=600,
                              headers={"Content-Type": "text/csv", "Accept": "text/csv"})
            assert r.status_code == 200, r.text
            assert r.text.count("\n") == p.count(b"\n"), "one output line per input line"
            return r.content

        with ThreadPoolExecutor(params["MaxConcurrentTransforms"]) as pool:
            assembled = b"".join(pool.map(invoke, payloads))  # AssembleWith=Line, input order
        lines = assembled.decode().splitlines()
        assert len(lines) == 100_000
        got = np.array([[float(v) for v in line.split(",")] for line in lines]).astype(np.float32)
        want = runtimes.load(onnx).predict(X)
        assert got.shape == want.shape == (100_000, 3)
        assert np.array_equal(got, want), "line-for-line output differs from the runtime"
        # a payload one byte over the configured limit is refused
        over = (b"1," * 7 + b"1\n") * ((1 << 20) // 16 + 1)
        assert requests.post(srv.url + "/invocations", data=over, headers={"Content-Type": "text/csv"},
                             timeout=60).status_code == 413
        # JSON Lines in, JSON Lines out: same line-for-line contract
        rows = [[None if v != v else v for v in r] for r in X[:1000].astype(np.float64).tolist()]
        body = "\n".join(json.dumps(r) for r in rows) + "\n"
        r = requests.post(srv.url + "/invocations", data=body, timeout=60,
                          headers={"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"})
        assert np.array_equal(np.array([json.loads(x) for x in r.text.splitlines()]).astype(np.float32), want[:1000])
        buf = io.BytesIO()
        np.save(buf, X[:10])
        r = requests.post(srv.url + "/invocations", data=buf.getvalue(), timeout=60,
                          headers={"Content-Type": "application/x-npy", "Accept": "application/json"})
        assert np.array_equal(np.array(r.json()["predictions"]).astype(np.float32), want[:10])
    finally:
        assert srv.stop() == 0
