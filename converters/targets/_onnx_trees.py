"""Encode an IR :class:`TreeEnsemble` as one ``ai.onnx.ml`` ``TreeEnsembleRegressor`` node.

Why the opset-3 ``TreeEnsembleRegressor`` and not the opset-5 ``TreeEnsemble``:

* it carries several ``(target, weight)`` votes per leaf, so XGBoost's vector leaves
  (``multi_strategy="multi_output_tree"``) are one tree, not one copy per target;
* onnxruntime evaluates both with the same kernel (``TreeEnsembleCommon``) and, for float
  input and float ``nodes_values``, compares and accumulates in float32
  (``onnxruntime/core/providers/cpu/ml/tree_ensemble_regressor.cc`` instantiates
  ``TreeEnsembleCommon<float, float, float>``), so opset 5 gains no exactness;
* it is understood by every onnxruntime since 1.x and by other ONNX-ML runtimes.

Exactness, rule by rule (ONNX ``Operators-ml.md`` and onnxruntime ``tree_ensemble_common.h``):

* numeric split ``x < t`` (XGBoost, float32) → ``BRANCH_LT`` with the float32 threshold in the
  float ``nodes_values`` attribute (protobuf ``float``: bit exact, never rounded);
  ``x <= t`` → ``BRANCH_LEQ``.  float64 thresholds are refused for now: the IR evaluates
  them on float64 inputs (LightGBM).  :func:`_float32_threshold` gives the float32 threshold
  with the same decision for every float32 input (scikit-learn's rule), ready for when the
  IR says the input is float32;
* missing values: ``nodes_missing_value_tracks_true[i] = 1`` sends NaN to the true branch;
  otherwise ``NaN < t`` is false and NaN takes the false branch;
* categorical splits: a chain of ``BRANCH_EQ`` nodes, one per category of the set, whose
  true branches all point at the "in set" child (onnxruntime stores children as relative
  offsets, so several parents may share a child).  The compared column is ``floor(x)``
  (added by the caller), because XGBoost truncates a category value to int before the
  bitset lookup (``src/common/categorical.h``: ``AsCat`` = ``static_cast<int32_t>``) and
  negative values are invalid (sent to the "not in set" side, which floor keeps: a negative
  value floors to a negative code that is never in a set);
* accumulation: onnxruntime starts every target's score at 0 and adds trees in list order
  (sections A/C/E of ``ComputeAgg``) when the session runs single-threaded.  XGBoost starts
  from ``base_score`` and adds trees in order (``cpu_predictor.cc``).  So the intercept is
  written as a leading single-leaf tree: ``0 + base`` is ``base`` exactly, and the float32
  sum then follows XGBoost's order addition for addition;
* DART: the leaf is multiplied by the tree weight here, in float32 (numpy), which is the
  same IEEE product XGBoost computes (``gbtree.cc`` Dart: ``out += predts * w``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelport.core.ir.model import Comparison, TreeEnsemble
from modelport.core.errors import UnsupportedModelError

__all__ = ["EncodedEnsemble", "encode_ensemble", "categorical_features"]

_MODES = {Comparison.LT: "BRANCH_LT", Comparison.LE: "BRANCH_LEQ"}


@dataclass
class EncodedEnsemble:
    """The attributes of one ``TreeEnsembleRegressor`` node (lists, ready for ``make_node``)."""

    nodes_treeids: list[int]
    nodes_nodeids: list[int]
    nodes_featureids: list[int]
    nodes_modes: list[str]
    nodes_values: list[float]
    nodes_truenodeids: list[int]
    nodes_falsenodeids: list[int]
    nodes_missing_value_tracks_true: list[int]
    target_treeids: list[int]
    target_nodeids: list[int]
    target_ids: list[int]
    target_weights: list[float]
    n_targets: int

    def attributes(self) -> dict:
        """Keyword arguments for ``onnx.helper.make_node``."""
        attrs = dict(self.__dict__)
        attrs["aggregate_function"] = "SUM"
        attrs["post_transform"] = "NONE"
        return attrs


def categorical_features(ens: TreeEnsemble) -> list[int]:
    """Sorted indices of the features used by at least one categorical split."""
    feats: set[int] = set()
    for tree in ens.trees:
        internal = np.asarray(tree.left) != -1
        mask = internal & np.asarray(tree.is_categorical, dtype=bool)
        feats.update(int(f) for f in np.asarray(tree.feature)[mask])
    return sorted(feats)


def _float32_threshold(t: float, comparison: Comparison) -> np.float32:
    """The float32 ``t32`` with ``x <op> t32 == x <op> t`` for every float32 ``x``.

    ``x < t``  ⇔ ``x < t32`` with ``t32`` the smallest float32 ≥ t;
    ``x <= t`` ⇔ ``x <= t32`` with ``t32`` the largest float32 ≤ t.
    (No float32 lies strictly between the two float32 neighbours of ``t``.)
    """
    t = float(t)
    if np.isnan(t):
        return np.float32("nan")  # every comparison with NaN is false, in any precision
    with np.errstate(over="ignore"):
        t32 = np.float32(t)  # round to nearest; beyond the float32 range: ±inf, fixed below
    if float(t32) == t:
        return t32
    if comparison is Comparison.LT:
        return t32 if float(t32) > t else np.nextafter(t32, np.float32(np.inf))
    return t32 if float(t32) < t else np.nextafter(t32, np.float32(-np.inf))


def encode_ensemble(
    ens: TreeEnsemble,
    *,
    base_score: np.ndarray,
    n_outputs: int,
    cat_column: dict[int, int],
) -> EncodedEnsemble:
    """Encode ``ens`` (with ``base_score`` as a leading constant tree).

    ``cat_column`` maps a categorical feature index to the input column that holds its
    floored value.  Refuses (UnsupportedModelError) what the op cannot express exactly.
    """
    if ens.comparison not in _MODES:
        raise UnsupportedModelError(f"split comparison {ens.comparison!r} has no ONNX node mode")
    if ens.threshold_dtype != "float32":
        # The IR evaluates float64-threshold models on float64 inputs (LightGBM's rule); the
        # ONNX input is float32, so a float64 value between two float32s could split the
        # other way.  _float32_threshold is exact only for float32 inputs (scikit-learn).
        raise UnsupportedModelError(
            f"threshold dtype {ens.threshold_dtype!r}: the model compares float64 inputs, "
            "and the ONNX target takes float32 input"
        )
    # The EQ-chain encoding sends every value that is not a member (including invalid
    # ones: negative, huge, inf) to the "not in set" side; refuse any other convention.
    if ens.invalid_category_goes_left != (not ens.categories_in_set_go_left):
        raise UnsupportedModelError(
            "invalid categories must go to the 'not in set' side for the ONNX encoding"
        )
    mode = _MODES[ens.comparison]
    out = EncodedEnsemble(*([] for _ in range(12)), n_targets=n_outputs)
    weights = np.asarray(ens.tree_weight, dtype=np.float32)
    outputs = np.asarray(ens.tree_output)

    # Tree 0: the intercept, one leaf voting base_score[k] for every target k.
    base = np.asarray(base_score, dtype=np.float32).reshape(-1)
    if base.shape[0] != n_outputs:
        raise UnsupportedModelError(f"base_score has {base.shape[0]} values for {n_outputs} outputs")
    _append_node(out, 0, 0, 0, "LEAF", 0.0, 0, 0, 0)
    for k in range(n_outputs):
        _append_target(out, 0, 0, k, base[k])

    for t, tree in enumerate(ens.trees):
        tid = t + 1
        left = np.asarray(tree.left, dtype=np.int64)
        right = np.asarray(tree.right, dtype=np.int64)
        feature = np.asarray(tree.feature, dtype=np.int64)
        thresh = np.asarray(tree.threshold)
        default_left = np.asarray(tree.default_left, dtype=bool)
        is_cat = np.asarray(tree.is_categorical, dtype=bool)
        offsets = np.asarray(tree.cat_offsets, dtype=np.int64)
        cat_values = np.asarray(tree.cat_values, dtype=np.int64)
        value = np.asarray(tree.value, dtype=np.float32).reshape(len(left), -1)
        n = len(left)
        next_id = n  # ids for the extra EQ nodes of categorical chains
        chains: list[tuple] = []
        for i in range(n):
            if left[i] == -1:
                _append_node(out, tid, i, 0, "LEAF", 0.0, 0, 0, 0)
                leaf = value[i]
                if ens.apply_tree_weight:
                    leaf = (leaf * weights[t]).astype(np.float32)  # float32 product, as XGBoost
                if outputs[t] == -1:
                    if leaf.shape[0] != n_outputs:
                        raise UnsupportedModelError(
                            f"tree {t}: vector leaf of length {leaf.shape[0]} for {n_outputs} outputs"
                        )
                    for k in range(n_outputs):
                        _append_target(out, tid, i, k, leaf[k])
                else:
                    if not 0 <= outputs[t] < n_outputs:
                        raise UnsupportedModelError(f"tree {t}: output {outputs[t]} out of range")
                    _append_target(out, tid, i, int(outputs[t]), leaf[0])
                continue
            if not (0 < left[i] < n and 0 < right[i] < n):
                raise UnsupportedModelError(f"tree {t} node {i}: child index out of range")
            if not is_cat[i]:
                _append_node(out, tid, i, int(feature[i]), mode, np.float32(thresh[i]),
                             int(left[i]), int(right[i]), int(default_left[i]))
                continue
            cats = cat_values[offsets[i]: offsets[i + 1]]
            in_side, out_side = (left[i], right[i]) if ens.categories_in_set_go_left else (right[i], left[i])
            missing_to_in = int(bool(default_left[i]) == bool(ens.categories_in_set_go_left))
            col = cat_column[int(feature[i])]
            if len(cats) == 0:
                # Nothing is a member: x == NaN is always false; NaN follows the default.
                _append_node(out, tid, i, col, "BRANCH_EQ", np.float32(np.nan),
                             int(in_side), int(out_side), missing_to_in)
                continue
            if np.any(cats < 0) or np.any(cats >= 2**24):
                raise UnsupportedModelError(f"tree {t} node {i}: category code outside [0, 2^24)")
            ids = [i] + list(range(next_id, next_id + len(cats) - 1))
            next_id += len(cats) - 1
            for j, c in enumerate(cats):
                false_id = ids[j + 1] if j + 1 < len(ids) else int(out_side)
                link = (ids[j], col, "BRANCH_EQ", np.float32(c), int(in_side), false_id, missing_to_in)
                if j == 0:  # the split node itself stays in place (node 0 must come first)
                    _append_node(out, tid, *link)
                else:  # the extra links go after the tree's own nodes
                    chains.append(link)
        for link in chains:
            _append_node(out, tid, *link)
    return out


def _append_node(out: EncodedEnsemble, tid, nid, feat, mode, val, true_id, false_id, miss) -> None:
    out.nodes_treeids.append(tid)
    out.nodes_nodeids.append(nid)
    out.nodes_featureids.append(feat)
    out.nodes_modes.append(mode)
    out.nodes_values.append(float(val))
    out.nodes_truenodeids.append(true_id)
    out.nodes_falsenodeids.append(false_id)
    out.nodes_missing_value_tracks_true.append(miss)


def _append_target(out: EncodedEnsemble, tid, nid, target, weight) -> None:
    out.target_treeids.append(tid)
    out.target_nodeids.append(nid)
    out.target_ids.append(target)
    out.target_weights.append(float(np.float32(weight)))
