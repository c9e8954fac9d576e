"""Hop 1 of parity: xgboost 3.2 ≈ the IR evaluator, for every case in ``xgb_cases.CASES``.

Margins must be bit-identical (float32 bits, NaN-aware) to
``Booster.predict(DMatrix(X_probe, missing=nan), output_margin=True)`` for both the JSON
and the UBJSON file; transformed outputs within ``evaluate.TRANSFORM_ULP`` float32 ULPs; and
classifiers must never pick another class.
"""

from __future__ import annotations

import numpy as np
import pytest

from xgb_cases import case_params
from modelport.converters.frontends import load_model
from modelport.converters.ir.evaluate import TRANSFORM_ULP, predict, predict_margin


def _bits(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def ulp_distance(a, b) -> np.ndarray:
    """|a - b| in float32 ULPs (ordered-integer trick; both must be finite)."""
    ia = _bits(a).astype(np.int64)
    ib = _bits(b).astype(np.int64)
    ia = np.where(ia & 0x80000000, 0x80000000 - ia, ia)
    ib = np.where(ib & 0x80000000, 0x80000000 - ib, ib)
    return np.abs(ia - ib)


def assert_bitwise(ours, ref, what: str) -> None:
    ours = np.asarray(ours, dtype=np.float32)
    ref = np.asarray(ref, dtype=np.float32).reshape(ours.shape)
    diff = _bits(ours) != _bits(ref)
    if diff.any():
        i = np.argwhere(diff)[0]
        raise AssertionError(
            f"{what}: {int(diff.sum())} of {diff.size} values differ in bits; first at {tuple(i)}: "
            f"ours {ours[tuple(i)]!r} vs xgboost {ref[tuple(i)]!r}"
        )


@pytest.mark.parametrize("fmt", ["json", "ubj"])
@pytest.mark.parametrize("name", case_params())
def test_margin_bitwise(xgb_trained, name, fmt):
    tc = xgb_trained(name)
    model = load_model(tc.json_path if fmt == "json" else tc.ubj_path)
    assert model.provenance.source_format == f"xgboost-{fmt}"
    ref = tc.booster.predict(tc.dmatrix(tc.X_probe), output_margin=True)
    assert_bitwise(predict_margin(model, tc.X_probe), ref, f"{name} ({fmt}) margins")


@pytest.mark.parametrize("name", case_params())
def test_transformed_within_ulp(xgb_trained, name):
    tc = xgb_trained(name)
    model = load_model(tc.json_path)
    ref = np.asarray(tc.booster.predict(tc.dmatrix(tc.X_probe)), dtype=np.float32)
    ours = predict(model, tc.X_probe)
    assert ours.shape == ref.shape, f"predict shape {ours.shape} vs xgboost {ref.shape}"
    assert ours.dtype == np.float32
    finite = np.isfinite(ref)
    assert np.array_equal(finite, np.isfinite(ours))
    worst = int(ulp_distance(ours[finite], ref[finite]).max(initial=0))
    assert worst <= TRANSFORM_ULP, f"{name}: transformed outputs differ by {worst} ULP"
    if tc.case.classifier:
        obj = tc.case.params["objective"]
        if obj == "multi:softprob":
            flips = np.argmax(ours, axis=1) != np.argmax(ref, axis=1)
        elif obj == "multi:softmax" or obj == "binary:hinge":
            flips = ours != ref
        elif obj == "binary:logistic":
            flips = (ours > 0.5) != (ref > 0.5)
        else:  # logitraw: margins are bit-exact, so the sign decision is too
            flips = (ours > 0) != (ref > 0)
        assert int(flips.sum()) == 0, f"{name}: {int(flips.sum())} class flips"


def test_every_objective_and_booster_has_a_case():
    """The zoo covers every objective the frontend maps and every booster kind."""
    from xgb_cases import CASES
    from modelport.converters.frontends.xgboost import OBJECTIVES

    objectives = {c.params.get("objective") for c in CASES}
    assert set(OBJECTIVES) <= objectives, set(OBJECTIVES) - objectives
    boosters = {c.params.get("booster", "gbtree") for c in CASES}
    assert {"gbtree", "dart", "gblinear"} <= boosters
