"""Multiclass models whose margins ARE the class probabilities (post-transform identity:
scikit-learn DecisionTreeClassifier / RandomForestClassifier / ExtraTreesClassifier with 3+
classes) through the onnx, pmml and pfa targets: margins and probabilities bit for bit with
the reference evaluator, labels identical (ties to the first class), and the independent
engines (jpmml-evaluator, titus2) agreeing bit for bit when they are installed."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from ir_samples import PROV, make_tree

from modelport import runtimes
from modelport.converters.targets import WriteOptions, all_targets
from modelport.core.ir.evaluate import classifier_outputs, predict_margin
from modelport.core.ir.model import Comparison, Feature, Model, PostTransform, Task, TreeEnsemble

K = 4


def _tree(feature: int, thr: float, left_leaf, right_leaf, default_left: bool):
    t = make_tree([1, -1, -1], [2, -1, -1], [feature, 0, 0], [thr, 0, 0], [[0.0] * K, left_leaf, right_leaf],
                  default_left=[default_left, True, True], leaf_dim=K)
    # class proportions are float64 in scikit-learn: 0.1, 1/3, ... are not float32 values
    value = np.array([[0.0] * K, left_leaf, right_leaf], dtype=np.float64)
    return dataclasses.replace(t, value=value)


def forest() -> Model:
    """Three vector-leaf trees averaged in float64: some rows tie (classes 0 and 1 at 0.5),
    others need the float64 sum and the division by 3 rounded once."""
    third = 1.0 / 3.0
    trees = [
        _tree(0, 0.5, [0.5, 0.5, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4], True),
        _tree(1, -0.25, [0.5, 0.5, 0.0, 0.0], [third, third, third, 0.0], False),
        _tree(0, 1.5, [0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], True),
    ]
    ens = TreeEnsemble(trees=tuple(trees), tree_output=np.full(3, -1, dtype=np.int32),
                       tree_weight=np.ones(3, dtype=np.float64), comparison=Comparison.LE,
                       threshold_dtype="float32", categories_in_set_go_left=False, leaf_dim=K, value_dtype="float64", average=True)
    return Model(task=Task.MULTICLASS, features=(Feature("a"), Feature("b")), n_outputs=K, n_classes=K,
                 booster=ens, base_score=np.zeros(K, dtype=np.float64), post_transform=PostTransform.IDENTITY,
                 provenance=PROV)


def rows() -> np.ndarray:
    vals = [np.nan, -1.0, -0.25, np.nextafter(np.float32(-0.25), np.float32(1)), 0.0, 0.5,
            np.nextafter(np.float32(0.5), np.float32(1)), 1.0, 1.5, 2.0]
    return np.array([[a, b] for a in vals for b in vals], dtype=np.float32)


def _write(target: str, model: Model, tmp_path):
    t = all_targets().get(target)
    path = tmp_path / f"model{t.extension}"
    t.write(model, path, WriteOptions())
    return path


@pytest.mark.parametrize("target", ["onnx", "pmml", "pfa"])
def test_probabilities_are_the_margins_bit_for_bit(target, tmp_path):
    if target == "onnx":
        pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (the onnx runtime needs it)")
    model, X = forest(), rows()
    m_ref = predict_margin(model, X)
    ref = classifier_outputs(model, m_ref)
    tied = np.sum(ref["probabilities"] == ref["probabilities"].max(axis=1, keepdims=True), axis=1) > 1
    assert tied.any() and (~tied).any()
    rt = runtimes.load(_write(target, model, tmp_path))
    m = rt.predict(X, output="margin")
    np.testing.assert_array_equal(m.view(np.uint32), m_ref.view(np.uint32))
    p = rt.predict(X, output="probabilities")
    np.testing.assert_array_equal(p.view(np.uint32), ref["probabilities"].view(np.uint32))
    np.testing.assert_array_equal(rt.predict(X, output="label"), ref["label"])
    np.testing.assert_array_equal(rt.predict(X), rt.predict(X, output="probabilities"))


def test_jpmml_evaluator_agrees(jpmml, tmp_path):
    import pandas as pd

    jp = jpmml

    model, X = forest(), rows()
    ref = classifier_outputs(model, predict_margin(model, X))
    res = jp.make_evaluator(str(_write("pmml", model, tmp_path))).verify().evaluateAll(
        pd.DataFrame(X.astype(np.float64), columns=["a", "b"]))
    p = np.stack([res[f"probability({c})"].to_numpy(np.float64) for c in range(K)], axis=1)
    assert np.all(p.astype(np.float32) == p), "jpmml probabilities are not float32 values"
    np.testing.assert_array_equal(p.astype(np.float32), ref["probabilities"])
    m = np.stack([res[f"margin({c})"].to_numpy(np.float64) for c in range(K)], axis=1).astype(np.float32)
    np.testing.assert_array_equal(m, ref["probabilities"])
    np.testing.assert_array_equal(res["label"].to_numpy().astype(np.int64), ref["label"])


def test_titus2_agrees(tmp_path):
    from _titus_shim import TITUS_MISSING, import_titus

    engine_cls = import_titus()
    if engine_cls is None:
        pytest.skip(TITUS_MISSING)
    model, X = forest(), rows()
    ref = classifier_outputs(model, predict_margin(model, X))
    engine, = engine_cls.fromJson(json.loads(_write("pfa", model, tmp_path).read_text()))
    outs = [engine.action({f"f{j}": None if np.isnan(v) else float(v) for j, v in enumerate(row)}) for row in X]
    p = np.array([o["probabilities"] for o in outs], dtype=np.float64)
    assert np.all(p.astype(np.float32) == p), "titus probabilities are not float32 values"
    np.testing.assert_array_equal(p.astype(np.float32), ref["probabilities"])
    np.testing.assert_array_equal(np.argmax(p, axis=1), ref["label"])
