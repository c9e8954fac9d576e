"""Every registered runtime is served: convert one model to each target that has a runtime,
package it, serve it with the real server, and compare /invocations (CSV, JSON, JSON Lines)
with that runtime's own predictions on the same rows.  Targets whose toolchain is missing
here are skipped, naming it."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("xgboost", reason="the test model is trained with xgboost")
pytest.importorskip("granian", reason="modelport serve runs on granian (pip install 'modelport[sagemaker]')")
requests = pytest.importorskip("requests", reason="the HTTP client of these tests")

from sagemaker_helpers import csv_body, make_rows, start_server, train_xgboost  # noqa: E402

from modelport.converters.targets import all_targets  # noqa: E402
from modelport.core.errors import MissingDependencyError  # noqa: E402

_FAST = {"onnx", "ir"}


def _served_targets():
    out = []
    for name in all_targets().names():
        if not all_targets().get(name).runtime:
            continue
        marks = () if name in _FAST else (pytest.mark.slow,)
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return train_xgboost(tmp_path_factory.mktemp("sm-rt"), n_trees=8)


@pytest.mark.parametrize("target", _served_targets())
def test_served_predictions_equal_the_runtime(target, source, tmp_path):
    import modelport
    from modelport import runtimes
    from modelport.deploy.sagemaker.package import package

    try:
        res = modelport.convert(source, to=target, out=tmp_path / f"artifact-{target}")
        rt = runtimes.load(res.path)
    except MissingDependencyError as exc:
        pytest.skip(f"target {target}: {exc}")
    package(res.path, tmp_path / "model.tar.gz")
    srv = start_server(tmp_path / "model.tar.gz", tmp_path, workers=1)
    try:
        X = make_rows(64, seed=21)
        want = rt.predict(X)
        r = requests.post(srv.url + "/invocations", data=csv_body(X), headers={"Content-Type": "text/csv"}, timeout=120)
        assert r.status_code == 200, r.text
        assert np.array_equal(np.array(r.text.split(), dtype=np.float64).astype(np.float32), want)
        rows = [[None if v != v else v for v in row] for row in X.astype(np.float64).tolist()]
        r = requests.post(srv.url + "/invocations", data=json.dumps({"instances": rows}), timeout=120,
                          headers={"Content-Type": "application/json", "Accept": "application/json"})
        assert np.array_equal(np.array(r.json()["predictions"], dtype=np.float64).astype(np.float32), want)
        r = requests.post(srv.url + "/invocations", data="\n".join(map(json.dumps, rows)), timeout=120,
                          headers={"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"})
        got = np.array([json.loads(x) for x in r.text.splitlines()], dtype=np.float64).astype(np.float32)
        assert np.array_equal(got, want)
    finally:
        assert srv.stop() == 0
