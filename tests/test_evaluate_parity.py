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
from modelport.core.ir.evaluate import TRANSFORM_ULP, predict, predict_margin


def _bits(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


from modelport.core.numerics import ulp_distance  # noqa: E402  (the one definition)


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


def test_chunking_is_invisible(xgb_trained, monkeypatch):
    """Row chunks (bounded memory) must not change a single bit."""
    from modelport.core.ir import evaluate

    tc = xgb_trained("multi_softprob_parallel")
    m = load_model(tc.json_path)
    whole = predict_margin(m, tc.X_probe)
    monkeypatch.setattr(evaluate, "_CHUNK_ELEMENTS", 7 * len(m.booster.trees))  # 7-row chunks
    assert_bitwise(predict_margin(m, tc.X_probe), whole, "chunked")


def test_hypothesis_rows(xgb_trained):
    """Random rows mixing NaN, signed zeros, subnormals, huge float32 values and the model's
    own thresholds (and their float32 neighbours) agree bit for bit."""
    hyp = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")
    from hypothesis.extra.numpy import arrays

    tc = xgb_trained("categorical")
    m = load_model(tc.json_path)
    thr = np.unique(np.concatenate([t.threshold[t.left != -1] for t in m.booster.trees])).astype(np.float32)
    near = np.concatenate([thr, np.nextafter(thr, np.float32(np.inf)), np.nextafter(thr, np.float32(-np.inf))])
    values = st.one_of(
        st.sampled_from([float(v) for v in near] + [np.nan, 0.0, -0.0, 1e-45, -1e-45, 3.4e38, -3.4e38]),
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
        st.integers(-2, 9).map(float),
    )

    @hyp.settings(max_examples=60, deadline=None, derandomize=True)
    @hyp.given(arrays(np.float64, (16, m.n_features), elements=values))
    def check(X):
        ref = tc.booster.predict(tc.dmatrix(X), output_margin=True)
        assert_bitwise(predict_margin(m, X), ref, "hypothesis rows")

    check()


def test_cyclic_ir_is_refused_not_looped():
    """A hand-built IR with a cycle raises instead of looping forever."""
    from modelport.core.ir.model import (Comparison, Feature, Model, PostTransform, Task, Tree,
                                               TreeEnsemble)

    z = np.zeros(3)
    tree = Tree(left=np.array([1, 0, -1], np.int32), right=np.array([2, 2, -1], np.int32),
                feature=np.zeros(3, np.int32), threshold=z.astype(np.float32), default_left=z.astype(bool),
                is_categorical=z.astype(bool), cat_offsets=np.zeros(4, np.int64), cat_values=np.zeros(0, np.int32),
                value=np.zeros((3, 1), np.float32))
    ens = TreeEnsemble(trees=(tree,), tree_output=np.zeros(1, np.int32), tree_weight=np.ones(1, np.float32),
                       comparison=Comparison.LT, threshold_dtype="float32", categories_in_set_go_left=False)
    model = Model(task=Task.REGRESSION, features=(Feature("f0"),), n_outputs=1, n_classes=0, booster=ens,
                  base_score=np.zeros(1, np.float32), post_transform=PostTransform.IDENTITY)
    with pytest.raises(ValueError, match="cycle"):
        predict_margin(model, np.zeros((2, 1)))


@pytest.mark.parametrize("name", case_params())
def test_ir_json_round_trip(xgb_trained, name):
    """Every zoo model survives the IR's JSON form: the text is a fixed point and the
    margins of the read-back IR are bit-identical (trap 12 of docs/parity-traps.md)."""
    from modelport.core.ir.serialize import dumps, loads

    tc = xgb_trained(name)
    model = load_model(tc.json_path)
    text = dumps(model)
    back = loads(text)
    assert dumps(back) == text
    assert back.provenance == model.provenance and back.features == model.features
    assert_bitwise(predict_margin(back, tc.X_probe), predict_margin(model, tc.X_probe), f"{name} IR round trip")
