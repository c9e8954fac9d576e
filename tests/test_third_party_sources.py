"""LightGBM model.txt and pickled scikit-learn models through ``--backend onnxmltools``:
converted by onnxmltools / skl2onnx, verified against the framework's OWN predict, and every
mismatch reported (exit 1, ``<name>.unverified``), never hidden.

Models are trained here (small, seeded).  Measured with lightgbm 4.7, scikit-learn 1.9.1,
onnxmltools 1.16, skl2onnx 1.20, onnxruntime 1.32 (the figures are asserted below and
recorded in docs/onnx.md, "Other sources through --backend onnxmltools"):

* LightGBM (regression, binary, multiclass, categorical): onnxmltools writes each float64
  threshold rounded to nearest float32 with ``BRANCH_LEQ``.  Where the rounding goes UP
  (about half the thresholds), a float32 input equal to it is ``> t`` for LightGBM (float64
  ``x <= t``) and ``<= float32(t)`` for onnxruntime: the other child (trap 2 of docs/parity-traps.md).  Every
  model fails verification on threshold rows only; random rows and NaN rows agree within
  tolerance.  A fix would round thresholds DOWN to float32 (largest float32 <= t); rows one
  float64 ULP above a threshold would still differ, since the artifact's input is float32.
* RandomForestClassifier: float64 input (chosen) has no tie flips on the probe rows; the
  float32 graph flips classes on 0.5/0.5-like ties (trap 16 of docs/parity-traps.md).  NaN rows fail: since
  scikit-learn 1.4 a forest trained without NaN sends NaN to the child with more samples,
  skl2onnx's graph does not (sklearn-onnx#1253 class of bug, trap 3 of docs/parity-traps.md).
* GradientBoostingRegressor: float32 graph (skl2onnx's float64 tree regressor is rejected by
  onnxruntime), within the derived float32-tree-sum tolerance: verified.
* Pipeline(StandardScaler, LogisticRegression): float64 graph, within 1e-15: verified.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from test_cli import assert_one_line_error, run

import modelport
from modelport._verify import VerifyOptions
from modelport._verify_framework import framework_probe_rows, framework_tolerance
from modelport.converters.frontends import LoadOptions
from modelport.converters.frontends._lightgbm_source import sniff_lightgbm_text
from modelport.converters.frontends._sklearn_source import sniff_pickle
from modelport.converters.frontends._sources import open_source
from modelport.core.errors import VerificationError

lgb = pytest.importorskip("lightgbm")
pytest.importorskip("sklearn")
pytest.importorskip("onnxmltools")
pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

pytestmark = [pytest.mark.onnx, pytest.mark.onnxmltools]

ALL_ROWS = VerifyOptions(max_listed=100_000)


def _data(n: int = 400, nf: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, nf))
    y = 3 * X[:, 0] + 10 * np.sin(X[:, 1]) + rng.normal(size=n)
    return X, y


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("third_party")
    X, y = _data()
    out: dict[str, Path] = {}
    labels = {"regression": y, "binary": (y > 0).astype(int), "multiclass": np.digitize(y, [-3, 3])}
    for obj, target in labels.items():
        params = {"objective": obj, "verbose": -1, "num_leaves": 15, "seed": 1, "deterministic": True}
        if obj == "multiclass":
            params["num_class"] = 3
        booster = lgb.train(params, lgb.Dataset(X, target), num_boost_round=20)
        out[f"lgb_{obj}"] = d / f"lgb_{obj}.txt"
        booster.save_model(str(out[f"lgb_{obj}"]))
    Xc = X.copy()
    Xc[:, 2] = np.random.default_rng(1).integers(0, 6, size=len(X))
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_leaves": 8, "seed": 1, "min_data_per_group": 5,
                         "cat_smooth": 1.0}, lgb.Dataset(Xc, y + 5 * (Xc[:, 2] % 2), categorical_feature=[2]), 20)
    out["lgb_categorical"] = d / "lgb_categorical.txt"
    booster.save_model(str(out["lgb_categorical"]))
    (d / "lgb_dump.json").write_text(json.dumps(booster.dump_model()))
    out["lgb_dump"] = d / "lgb_dump.json"

    from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sk = {
        "rf": RandomForestClassifier(n_estimators=40, random_state=0).fit(X, labels["binary"]),
        "gbr": GradientBoostingRegressor(n_estimators=50, random_state=0).fit(X, y),
        "gbr_other": GradientBoostingRegressor(n_estimators=50, random_state=1).fit(X, -y),
        "pipe": make_pipeline(StandardScaler(), LogisticRegression()).fit(X, labels["binary"]),
    }
    for name, est in sk.items():
        out[name] = d / f"{name}.pkl"
        out[name].write_bytes(pickle.dumps(est))
    return out


def _convert(model: Path, tmp_path: Path, *extra: str):
    out = tmp_path / (model.stem + ".onnx")
    p = run("convert", model, "--to", "onnx", "--backend", "onnxmltools", "-o", out, "--json", *extra)
    return p, out


def _failed_rows(model: Path, artifact: Path, **kw) -> tuple[np.ndarray, np.ndarray, object]:
    """(probe rows, indices of every differing row, report) of a native verification."""
    report = modelport.verify(model, artifact, options=ALL_ROWS, **kw)
    fm = open_source(model, LoadOptions(trust_pickle=True))
    X = framework_probe_rows(fm, n_random=ALL_ROWS.n_random, seed=ALL_ROWS.seed)
    bad = set(report.differing_rows) | (set(report.labels.differing_rows) if report.labels else set())
    return X, np.array(sorted(bad), dtype=np.int64), report


# --------------------------------------------------------------------------- LightGBM

def _near_threshold(row: np.ndarray, thresholds) -> bool:
    """True when some feature of ``row`` lies within one float32 ULP of one of its thresholds."""
    for v, t in zip(row, thresholds, strict=True):
        if t.size and np.any(np.abs(t - v) <= np.abs(np.spacing(t.astype(np.float32))).astype(np.float64)):
            return True
    return False


@pytest.mark.parametrize("name", ["lgb_regression", "lgb_binary", "lgb_multiclass", "lgb_categorical"])
def test_lightgbm_threshold_rounding_is_caught(models, tmp_path, name):
    p, out = _convert(models[name], tmp_path)
    assert_one_line_error(p, 1, "differs from the reference")
    assert not out.exists() and out.with_name(out.name + ".unverified").exists()
    report = json.loads(p.stdout)["report"]
    assert report["passed"] is False and report["n_differing"] > 0

    X, bad, rep = _failed_rows(models[name], out.with_name(out.name + ".unverified"))
    # Random rows and NaN rows all agree: only threshold rows differ.  Measured (lightgbm 4.7,
    # onnxmltools 1.16): regression 87 of 988 probe rows (max |diff| 1.56), binary 53 of 855
    # (0.48), multiclass 174 of 1,722 (0.27), categorical 52 of 598 (1.95).
    n_random = ALL_ROWS.n_random
    nan_rows = np.flatnonzero(np.isnan(X).any(axis=1))
    assert bad.min() >= n_random and not np.isin(bad, nan_rows).any(), bad[:20]
    fm = open_source(models[name])
    assert all(_near_threshold(X[i], fm.thresholds) for i in bad)
    print(name, "differing rows", bad.size, "of", X.shape[0], "max abs diff", rep.max_abs_diff)


def test_lightgbm_random_and_nan_rows_within_tolerance(models, tmp_path):
    """Away from thresholds onnxmltools matches LightGBM within the derived tolerance."""
    import modelport.runtimes as runtimes

    for name in ("lgb_regression", "lgb_binary", "lgb_multiclass"):
        _, out = _convert(models[name], tmp_path)
        rt = runtimes.load(out.with_name(out.name + ".unverified"))
        fm = open_source(models[name])
        X = np.random.default_rng(7).normal(size=(2000, fm.n_features)).astype(np.float32).astype(np.float64)
        X[::50, 1] = np.nan
        diff = np.abs(rt.predict(X).astype(np.float64) - fm.predict(X))
        tol = framework_tolerance(fm)
        assert diff.max() <= tol.atol + tol.rtol, (name, diff.max(), tol)


def test_lightgbm_categorical_codes_agree(models, tmp_path):
    """Categorical splits (set membership) convert right: only the numeric-threshold trap differs."""
    import modelport.runtimes as runtimes

    _, out = _convert(models["lgb_categorical"], tmp_path)
    rt = runtimes.load(out.with_name(out.name + ".unverified"))
    fm = open_source(models["lgb_categorical"])
    X = np.repeat(np.random.default_rng(3).normal(size=(50, 5)).astype(np.float32).astype(np.float64), 9, axis=0)
    X[:, 2] = np.tile([0, 1, 2, 3, 4, 5, 6, 7, np.nan], 50)
    assert np.abs(rt.predict(X) - fm.predict(X)).max() <= framework_tolerance(fm).atol


# --------------------------------------------------------------------------- scikit-learn


def test_pickle_needs_trust(models, tmp_path):
    p, out = _convert(models["gbr"], tmp_path)
    assert_one_line_error(p, 3, "--trust-pickle")
    assert list(tmp_path.iterdir()) == []


def test_lightgbm_default_path_verifies_where_onnxmltools_fails(models, tmp_path):
    """LightGBM text is read into the IR: the default path converts it exactly, where
    onnxmltools' converter (float64 thresholds rounded to float32) fails verification."""
    ok = run("convert", models["lgb_regression"], "--to", "onnx", "-o", tmp_path / "ours.onnx", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["verified"] is True
    bad = run("convert", models["lgb_regression"], "--to", "onnx", "--backend", "onnxmltools", "-o", tmp_path / "omt.onnx")
    assert_one_line_error(bad, 1, "differs from the reference")


def test_default_path_reads_a_trusted_pickle_into_the_ir(models, tmp_path):
    """A scikit-learn pickle converts through modelport's own frontend by default (verified
    against the IR), not through skl2onnx; the framework source stays only as --backend."""
    out = tmp_path / "m.onnx"
    p = run("convert", models["gbr"], "--to", "onnx", "-o", out, "--trust-pickle", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["verified"] is True and out.exists()
    import modelport.runtimes as runtimes

    meta = runtimes.load(out).signature.metadata
    assert meta["modelport.framework"] == "scikit-learn" and meta.get("modelport.backend", "modelport") == "modelport"
    assert modelport.load(models["gbr"], trust_pickle=True).provenance.framework == "scikit-learn"


def test_gradient_boosting_regressor_verified(models, tmp_path):
    p, out = _convert(models["gbr"], tmp_path, "--trust-pickle")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["verified"] and out.exists()
    rep = res["report"]
    # measured: max abs diff 3.8e-6 against a derived bound of 6.5e-5 (51 terms, S ~ 19.7)
    assert rep["tolerance"]["name"] == "float32-tree-sum" and 0 < rep["max_abs_diff"] < rep["tolerance"]["atol"]
    import modelport.runtimes as runtimes

    meta = runtimes.load(out).signature.metadata
    assert meta["modelport.input_precision"] == "float32" and "tensor(double)" in meta["modelport.input_precision_reason"]
    assert meta["modelport.backend"] == "onnxmltools" and meta["modelport.framework"] == "scikit-learn"


def test_pipeline_verified_in_float64(models, tmp_path):
    p, out = _convert(models["pipe"], tmp_path, "--trust-pickle")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)["report"]
    assert rep["passed"] and rep["max_abs_diff"] < 1e-15  # measured 9e-17
    assert rep["labels"]["passed"] and rep["labels"]["n_rows"] == rep["n_rows"]


def test_random_forest_nan_routing_and_label_ties_are_caught(models, tmp_path):
    p, out = _convert(models["rf"], tmp_path, "--trust-pickle")
    assert_one_line_error(p, 1, "differs from the reference")
    unverified = out.with_name(out.name + ".unverified")
    assert not out.exists() and unverified.exists()
    X, bad, rep = _failed_rows(models["rf"], unverified, trust_pickle=True)
    nan_rows = np.flatnonzero(np.isnan(X).any(axis=1))
    # Probabilities: only NaN rows differ (measured 5 of the 6 NaN rows, max |diff| 0.78, 1 class
    # flip); threshold and random rows agree within 6e-8 (float64 graph).
    assert rep.n_differing >= 1 and np.isin(rep.differing_rows, nan_rows).all(), rep.differing_rows
    assert rep.max_abs_diff > 0.1
    # Labels: skl2onnx's label output breaks exact 0.5/0.5 ties towards class 1, scikit-learn's
    # predict towards class 0 (trap 16 of docs/parity-traps.md, even in float64): measured 16 tie rows of 2,455.
    fm = open_source(models["rf"], LoadOptions(trust_pickle=True))
    ties = [i for i in rep.labels.differing_rows if i not in set(nan_rows)]
    assert ties and all(fm.predict(X[i:i + 1])[0] == 0.5 for i in ties)
    print("random forest: NaN rows differing", rep.n_differing, "label ties", len(ties), "of", X.shape[0])
    import modelport.runtimes as runtimes

    rt = runtimes.load(unverified)
    assert rt.signature.metadata["modelport.input_precision"] == "float64"
    finite = ~np.isin(np.arange(X.shape[0]), nan_rows)
    assert np.abs(rt.predict(X[finite]) - fm.predict(X[finite])).max() <= 1e-7


def test_random_forest_float32_ties_vs_float64(models):
    """trap 16 of docs/parity-traps.md measured: why the scikit-learn input is float64."""
    import onnxruntime as ort
    import skl2onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    est = pickle.loads(models["rf"].read_bytes())  # noqa: S301 - the test's own file
    X = (np.random.default_rng(1).normal(size=(4000, 5)) * 1.5).astype(np.float32).astype(np.float64)
    ref = est.predict_proba(X)
    flips = {}
    for name, tensor, dtype in (("float32", FloatTensorType, np.float32), ("float64", DoubleTensorType, np.float64)):
        proto = skl2onnx.to_onnx(est, initial_types=[("input", tensor([None, 5]))], options={id(est): {"zipmap": False}})
        sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        proba = sess.run(None, {"input": X.astype(dtype)})[1]
        flips[name] = int((np.argmax(proba, axis=1) != np.argmax(ref, axis=1)).sum())
    assert flips["float64"] == 0 and flips["float32"] > 0, flips  # measured: 7 of 4,000 in float32


def test_tampered_artifact_fails_verify(models, tmp_path):
    p, out = _convert(models["gbr"], tmp_path, "--trust-pickle")
    assert p.returncode == 0, p.stderr
    assert run("verify", models["gbr"], out, "--trust-pickle").returncode == 0
    other = tmp_path / "other.onnx"
    assert _convert(models["gbr_other"], tmp_path, "--trust-pickle", "-o", other)[0].returncode == 0
    p = run("verify", models["gbr"], other, "--trust-pickle", "--json")
    assert p.returncode == 1, p.stderr
    assert json.loads(p.stdout)["passed"] is False


def test_data_rows_are_verified_and_xgboost_options_refused(models, tmp_path):
    csv = tmp_path / "rows.csv"
    X, _ = _data(n=30, seed=5)
    csv.write_text("\n".join(",".join(repr(float(v)) for v in row) for row in X) + "\n")
    p, out = _convert(models["gbr"], tmp_path, "--trust-pickle")
    base_rows = json.loads(p.stdout)["report"]["n_rows"]
    out.unlink()
    p, out = _convert(models["gbr"], tmp_path, "--trust-pickle", "--data", csv)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["report"]["n_rows"] == base_rows + 30
    p, _ = _convert(models["lgb_regression"], tmp_path, "--missing", "-999")
    assert_one_line_error(p, 3, "cannot apply --best-iteration, --iteration-end or --missing")


def test_api_convert_raises_with_report(models, tmp_path):
    with pytest.raises(VerificationError) as info:
        modelport.convert(models["lgb_binary"], to="onnx", backend="onnxmltools", out=tmp_path / "b.onnx")
    assert info.value.report.n_differing > 0 and (tmp_path / "b.onnx.unverified").exists()


# --------------------------------------------------------------------------- inspect, sniffing


def test_inspect(models):
    p = run("inspect", models["lgb_multiclass"], "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["framework"] == "lightgbm" and info["task"] == "multiclass" and info["n_classes"] == 3
    assert info["n_trees"] == 60 and info["n_features"] == 5 and info["format"] == "lightgbm-text"
    p = run("inspect", models["pipe"], "--trust-pickle", "--json")
    info = json.loads(p.stdout)
    assert info["objective"] == "Pipeline(StandardScaler, LogisticRegression)" and info["task"] == "binary"
    assert_one_line_error(run("inspect", models["pipe"]), 3, "--trust-pickle")


def test_lightgbm_json_dump_is_not_a_model(models):
    assert not sniff_lightgbm_text(models["lgb_dump"].read_bytes()[:4096])
    p = run("convert", models["lgb_dump"], "--to", "onnx", "--backend", "onnxmltools")
    assert p.returncode == 3 and "Traceback" not in p.stderr


def test_sniffers():
    assert sniff_lightgbm_text(b"tree\nversion=v4\nnum_class=1\n")
    assert sniff_lightgbm_text(b"tree\r\nversion=v3\r\n")
    assert not sniff_lightgbm_text(b"tree\nsomething else\n") and not sniff_lightgbm_text(b'{"version": "v4"}')
    assert sniff_pickle(pickle.dumps([1], protocol=4)) and not sniff_pickle(b"\x80\x09") and not sniff_pickle(b"{}")


@pytest.mark.parametrize("n_classes", [2, 3])
def test_string_class_labels_verified_and_returned_as_names(tmp_path, n_classes):
    """A classifier trained on class NAMES: the runtime's label output is those names (as
    scikit-learn's predict gives them), and verification compares labels, not skips them."""
    from sklearn.ensemble import GradientBoostingClassifier

    from modelport import runtimes

    X, _ = _data()
    names = np.array(["cat", "dog", "eel"][:n_classes])
    y = names[np.digitize(X[:, 0], [-0.4, 0.4][: n_classes - 1])]
    est = GradientBoostingClassifier(n_estimators=15, max_depth=2, random_state=0).fit(X, y)
    path = tmp_path / "named.pkl"
    path.write_bytes(pickle.dumps(est))
    p, out = _convert(path, tmp_path, "--trust-pickle")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)["report"]
    assert report["labels"] is not None and report["labels"]["passed"] and report["labels"]["n_rows"] > 0
    rt = runtimes.load(out)
    got = rt.predict(X, output="label")
    assert got.dtype.kind == "U" and np.array_equal(got, est.predict(X))
