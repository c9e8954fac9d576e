"""validate() names each inconsistency in one line, and walks deep trees without recursion."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

import ir_samples as samples
from modelport.core.ir.model import Feature, LinearBooster, PostTransform, Task
from modelport.core.ir.validate import tree_depth, validate
from modelport.core.errors import ModelFormatError


def _with_tree(model, **arrays):
    """``model`` with its first tree's arrays replaced."""
    ens = model.booster
    tree = dataclasses.replace(ens.trees[0], **{k: np.asarray(v, dtype=getattr(ens.trees[0], k).dtype)
                                                 for k, v in arrays.items()})
    return dataclasses.replace(model, booster=dataclasses.replace(ens, trees=(tree,) + ens.trees[1:]))


def _with_booster(model, **fields):
    return dataclasses.replace(model, booster=dataclasses.replace(model.booster, **fields))


def _expect(model, match):
    with pytest.raises(ModelFormatError, match=match) as info:
        validate(model)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("invalid IR")


@pytest.mark.parametrize("name", sorted(samples.ALL))
def test_samples_are_valid(name):
    assert validate(samples.ALL[name]()) is not None


R = samples.regression  # tree 0: 7 nodes, 3 splits (0 -> 1, 2; 1 -> 3, 4; 2 -> 5, 6)

CASES = {
    "length": (lambda: _with_tree(R(), right=[2, 4, 6, -1, -1, -1]), r"tree 0: right must have shape \[7\], got \[6\]"),
    "dtype": (lambda: _with_booster(R(), trees=(dataclasses.replace(
        R().booster.trees[0], threshold=np.zeros(7, np.float64)), R().booster.trees[1])),
        "tree 0: threshold must have dtype float32, got float64"),
    "child out of range": (lambda: _with_tree(R(), left=[1, 3, 7, -1, -1, -1, -1]), r"tree 0 node 2: left child 7 is out of range \[0, 7\)"),
    "negative child": (lambda: _with_tree(R(), right=[2, 4, -2, -1, -1, -1, -1]), "node 2: right child -2 is out of range"),
    "cycle to root": (lambda: _with_tree(R(), left=[1, 0, 5, -1, -1, -1, -1]), r"tree 0 node 1: points back to the root \(cycle\)"),
    "shared child": (lambda: _with_tree(R(), left=[1, 3, 4, -1, -1, -1, -1]), r"node 4: is a child of nodes 1 and 2 \(shared child"),
    "both children same": (lambda: _with_tree(R(), right=[2, 3, 6, -1, -1, -1, -1]), "node 1: has node 3 as both children"),
    "cycle off root": (lambda: _with_tree(R(), left=[1, 3, 5, -1, -1, -1, 6], right=[2, 4, 6, -1, -1, -1, 5]),
                       "node 5: is a child of nodes 2 and 6"),
    "leaf with child": (lambda: _with_tree(R(), right=[2, 4, 6, 1, -1, -1, -1]), r"node 3: has only one child \(left=-1, right=1\)"),
    "feature range": (lambda: _with_tree(R(), feature=[0, 3, 2, 0, 0, 0, 0]), r"tree 0 node 1: feature 3 is out of range \[0, 3\)"),
    "cat offsets end": (lambda: _with_tree(samples.categorical(), cat_offsets=[0, 0, 3, 3, 3, 4]), "cat_offsets must run from 0 to len"),
    "cat offsets order": (lambda: _with_tree(samples.categorical(), cat_offsets=[0, 2, 1, 3, 3, 3]), "node 1: cat_offsets must be non-decreasing"),
    "cat set on numeric": (lambda: _with_tree(samples.categorical(), is_categorical=[0, 0, 0, 0, 0]),
                           "node 1: has a category set but is not a categorical split"),
    "cat unsorted": (lambda: _with_tree(samples.categorical(), cat_values=[3, 1, 7]), "node 1: category codes must be sorted"),
    "cat negative": (lambda: _with_tree(samples.categorical(), cat_values=[-1, 3, 7]), "category code -1 is negative"),
    "leaf categorical": (lambda: _with_tree(samples.categorical(), is_categorical=[0, 1, 1, 0, 0]), "node 2: is a leaf marked categorical"),
    "tree_output range": (lambda: _with_booster(samples.multiclass(), tree_output=np.array([0, 1, 2, 3, 1, 2], dtype=np.int32)),
                          r"tree 3: tree_output 3 must be in \[0, 3\)"),
    "tree_output length": (lambda: _with_booster(R(), tree_output=np.zeros(3, dtype=np.int32)), r"tree_output must have shape \[2\]"),
    "vector tree_output": (lambda: _with_booster(samples.vector_leaf(), tree_output=np.zeros(1, dtype=np.int32)),
                           r"tree_output 0 must be -1 \(vector leaves\)"),
    "leaf_dim": (lambda: dataclasses.replace(samples.vector_leaf(), n_outputs=3, base_score=np.zeros(3, np.float32),
                                             output_names=()), "vector leaves of length 2 must have one value per output"),
    "leaf_dim value": (lambda: _with_booster(R(), leaf_dim=1, trees=(samples.make_tree([-1], [-1], [0], [0], [[1, 2]], leaf_dim=2),) * 2),
                       r"value must have shape \[1, 1\]"),
    "base_score": (lambda: dataclasses.replace(R(), base_score=np.zeros(2, np.float32)), r"base_score must have shape \[2\]|base_score must have shape \[1\]"),
    "base_score dtype": (lambda: dataclasses.replace(R(), base_score=np.zeros(1, np.float64)), "base_score must have dtype float32"),
    "binary classes": (lambda: dataclasses.replace(samples.binary(), n_classes=3), "binary model has 2 classes"),
    "softmax on binary": (lambda: dataclasses.replace(samples.binary(), post_transform=PostTransform.SOFTMAX),
                          "softmax needs a multiclass model"),
    "regression classes": (lambda: dataclasses.replace(R(), n_classes=2), "regression model must have n_classes 0"),
    "multiclass outputs": (lambda: dataclasses.replace(samples.multiclass(), n_classes=4), "one output per class: 3 != 4"),
    "hinge": (lambda: dataclasses.replace(R(), post_transform=PostTransform.HINGE), "hinge needs a binary model"),
    "linear shape": (lambda: dataclasses.replace(samples.linear(), booster=LinearBooster(
        weights=np.zeros((2, 1), np.float32), bias=np.zeros(1, np.float32))), r"weights must have shape \[3, 1\], got \[2, 1\]"),
    "linear bias": (lambda: dataclasses.replace(samples.linear(), booster=LinearBooster(
        weights=np.zeros((3, 1), np.float32), bias=np.zeros(2, np.float32))), r"bias must have shape \[1\]"),
    "duplicate feature": (lambda: dataclasses.replace(R(), features=(Feature("a"), Feature("b"), Feature("a"))),
                          "feature 2: name 'a' repeats feature 0"),
    "no features": (lambda: dataclasses.replace(R(), features=()), "features: must be a non-empty tuple"),
    "output names": (lambda: dataclasses.replace(R(), output_names=("a", "b")), "output_names: has 2 names for 1 outputs"),
    "threshold dtype name": (lambda: _with_booster(R(), threshold_dtype="float16"), "threshold_dtype must be"),
    "task": (lambda: dataclasses.replace(R(), task="regression"), "is not a Task"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_inconsistency_has_its_message(case):
    build, match = CASES[case]
    _expect(build(), match)


def test_unreachable_nodes_are_tolerated():
    """XGBoost keeps deleted nodes in its arrays: unreachable leaves are not an error."""
    validate(_with_tree(R(), left=[1, -1, 5, -1, -1, -1, -1], right=[2, -1, 6, -1, -1, -1, -1]))


def test_unreachable_cycle_is_rejected():
    m = _with_tree(R(), left=[1, -1, -1, 4, -1, -1, -1], right=[2, -1, -1, 5, -1, -1, -1])
    validate(m)
    m = _with_tree(R(), left=[1, -1, -1, 4, 3, -1, -1], right=[2, -1, -1, 5, 6, -1, -1])
    _expect(m, "lies on a cycle")


def test_10000_deep_tree_validates_without_recursion():
    model = samples.deep_chain(10_000)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # any recursive walk would blow up long before depth 10,000
    try:
        validate(model)
        assert tree_depth(model.booster.trees[0]) == 10_000
    finally:
        sys.setrecursionlimit(old)


def test_classifier_task_needs_classes():
    _expect(dataclasses.replace(R(), task=Task.BINARY), "binary model needs n_classes >= 2")
