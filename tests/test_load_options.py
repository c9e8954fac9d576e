"""Reading options a model file cannot carry: truncation after early stopping
(trap 6 of docs/parity-traps.md) and a missing sentinel other than NaN (trap 4 of docs/parity-traps.md).  Each is checked
against xgboost's own predict, through the API and through the CLI into ONNX."""

from __future__ import annotations

import json

import numpy as np
import pytest

import modelport
from modelport import runtimes
from modelport.converters.frontends import LoadOptions
from modelport.core.ir.evaluate import predict_margin
from modelport.core.errors import UsageError
from test_cli import assert_one_line_error, run

SENTINEL = -999.0


def _bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def test_best_iteration_matches_sklearn_predict_rule(xgb_trained):
    tc = xgb_trained("early_stopped")
    best = int(tc.booster.attr("best_iteration"))
    assert 0 < best + 1 < tc.case.rounds, "the case must actually stop early"
    full = modelport.load(tc.json_path)
    cut = modelport.load(tc.json_path, options=LoadOptions(use_best_iteration=True))
    assert len(cut.booster.trees) == best + 1 < len(full.booster.trees)
    ref = tc.booster.predict(tc.dmatrix(tc.X_probe), output_margin=True, iteration_range=(0, best + 1))
    assert np.array_equal(_bits(predict_margin(cut, tc.X_probe)[:, 0]), _bits(ref))


@pytest.mark.parametrize("name,k", [("early_stopped", 3), ("multi_softprob_parallel", 2)])
def test_iteration_end_matches_iteration_range(xgb_trained, name, k):
    tc = xgb_trained(name)
    cut = modelport.load(tc.json_path, options=LoadOptions(iteration_end=k))
    ref = tc.booster.predict(tc.dmatrix(tc.X_probe), output_margin=True, iteration_range=(0, k))
    ours = predict_margin(cut, tc.X_probe).reshape(np.shape(ref))
    assert np.array_equal(_bits(ours), _bits(ref))


def _with_sentinel(X: np.ndarray) -> np.ndarray:
    """The probe rows with every NaN written as the sentinel instead, plus rows that hold
    the sentinel in each feature in turn."""
    X = np.where(np.isnan(X), SENTINEL, X)
    extra = np.repeat(X[:1], X.shape[1], axis=0)
    extra[np.arange(X.shape[1]), np.arange(X.shape[1])] = SENTINEL
    return np.vstack([X, extra])


def test_missing_sentinel_matches_dmatrix_missing(xgb_trained):
    tc = xgb_trained("nan_heavy")
    X = _with_sentinel(tc.X_probe)
    m = modelport.load(tc.json_path, options=LoadOptions(missing=SENTINEL))
    assert m.missing == SENTINEL
    ref = tc.booster.predict(tc.dmatrix(X, missing=SENTINEL), output_margin=True)
    assert np.array_equal(_bits(predict_margin(m, X)[:, 0]), _bits(ref))
    # and without the option the sentinel is an ordinary value, so predictions differ
    plain = predict_margin(modelport.load(tc.json_path), X)[:, 0]
    assert not np.array_equal(_bits(plain), _bits(ref))


def test_cli_convert_with_sentinel_and_best_iteration_to_onnx(xgb_trained, tmp_path):
    tc = xgb_trained("early_stopped")
    best = int(tc.booster.attr("best_iteration"))
    out = tmp_path / "m.onnx"
    p = run("convert", tc.json_path, "--to", "onnx", "-o", out, "--missing", SENTINEL, "--best-iteration", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["verified"] is True
    X = _with_sentinel(tc.X_probe)
    ref = tc.booster.predict(tc.dmatrix(X, missing=SENTINEL), iteration_range=(0, best + 1))
    got = runtimes.load(out).predict(X)
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref)) <= 1e-6  # the probability tolerance of docs/parity-traps.md
    # verify with the same options passes; without them it applies the ones the artifact
    # recorded (and passes); a conflicting one is refused, naming both
    assert run("verify", tc.json_path, out, "--missing", SENTINEL, "--best-iteration").returncode == 0
    assert run("verify", tc.json_path, out).returncode == 0
    assert_one_line_error(run("verify", tc.json_path, out, "--missing", "-1"), 2, "conflicts with the sentinel")


def test_bad_reading_options_are_one_line_errors(xgb_trained, tmp_path):
    tc = xgb_trained("binary_logistic")
    # A wrong option is a usage error (exit 2) everywhere.
    assert_one_line_error(run("inspect", tc.json_path, "--iteration-end", "-1"), 2, "iteration-end")
    assert_one_line_error(run("inspect", tc.json_path, "--missing", "inf"), 3, "missing")
    assert_one_line_error(run("inspect", tc.json_path, "--missing", "abc"), 2, "missing")
    with pytest.raises(UsageError, match="keeps no round"):
        modelport.load(tc.json_path, options=LoadOptions(iteration_end=-2))


@pytest.mark.parametrize("flag", [("--best-iteration",), ("--iteration-end", "2"), ("--missing", "-999")])
def test_third_party_backend_refuses_options_it_cannot_apply(xgb_trained, tmp_path, flag):
    """onnxmltools converts the saved file: it would keep every tree and NaN-only missing, so
    the combination is refused up front, in one line, leaving nothing behind."""
    tc = xgb_trained("early_stopped")
    p = run("convert", tc.json_path, "--to", "onnx", "--backend", "onnxmltools", "-o", tmp_path / "m.onnx", *flag)
    assert_one_line_error(p, 3, "cannot apply --best-iteration, --iteration-end or --missing")
    assert list(tmp_path.iterdir()) == []

