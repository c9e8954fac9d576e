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
  ``x <= t`` → ``BRANCH_LEQ``.  :func:`_float32_threshold` gives the float32 threshold
  with the same decision for every float32 input (scikit-learn's rule);
* float64 ensembles (``value_dtype="float64"``: LightGBM): the op's double form.  For double
  input onnxruntime instantiates ``TreeEnsembleCommon<double, double, float>``
  (``tree_ensemble_regressor.cc``): thresholds (``nodes_values_as_tensor``) and leaf weights
  (``target_weights_as_tensor``) are doubles, compared and summed in double in tree order,
  then ``base_values_as_tensor`` is added (after the division by the tree count for
  ``AVERAGE``) and the score is rounded once to float: exactly the IR's ``_wide_margins``.
  ``AVERAGE`` divides by the node's whole tree count, so an averaged ensemble with several
  outputs is written one node per output (:func:`split_by_output`).  A float64 threshold
  with float32 sums (or float32 averaging) has no such kernel and is refused;
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

import dataclasses
from dataclasses import dataclass

import numpy as np

from modelport.core.ir.model import Comparison, TreeEnsemble
from modelport.converters.targets._onnx_depth import check_depth, max_depth
from modelport.core.errors import UnsupportedModelError

__all__ = ["EncodedEnsemble", "encode_ensemble", "categorical_features", "is_wide", "split_by_output"]

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
    wide: bool = False
    """Double thresholds, leaf weights and base values (the ``*_as_tensor`` attributes)."""
    base_values: list[float] = dataclasses.field(default_factory=list)
    average: bool = False

    def attributes(self) -> dict:
        """Keyword arguments for ``onnx.helper.make_node``."""
        attrs = {k: v for k, v in self.__dict__.items() if k not in ("wide", "base_values", "average")}
        attrs["aggregate_function"] = "AVERAGE" if self.average else "SUM"
        attrs["post_transform"] = "NONE"
        if self.wide:
            from onnx import numpy_helper

            for name in ("nodes_values", "target_weights", "base_values"):
                values = attrs.pop(name, self.base_values)
                attrs[f"{name}_as_tensor"] = numpy_helper.from_array(np.asarray(values, dtype=np.float64))
        return attrs


def is_wide(ens: TreeEnsemble) -> bool:
    """True when the ensemble sums in float64 (written with the op's double form)."""
    return ens.value_dtype == "float64"


def split_by_output(ens: TreeEnsemble, n_outputs: int) -> list[tuple[TreeEnsemble, int]]:
    """An averaged multi-output ensemble as one single-output ensemble per output (with the
    output index), since ``AVERAGE`` divides by ALL of a node's trees and the IR by each
    output's own; other ensembles come back whole (index -1)."""
    if not ens.average or n_outputs == 1 or ens.leaf_dim > 1:
        return [(ens, -1)]
    out = []
    for k in range(n_outputs):
        pick = np.flatnonzero(np.asarray(ens.tree_output) == k)
        out.append((dataclasses.replace(
            ens, trees=tuple(ens.trees[i] for i in pick), tree_output=np.zeros(pick.size, dtype=np.int32),
            tree_weight=np.asarray(ens.tree_weight)[pick]), k))
    return out


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
    wide = is_wide(ens)
    if ens.threshold_dtype != "float32" and not wide:
        # float64 comparisons exist only in the double kernel, which also sums in double.
        raise UnsupportedModelError(
            f"threshold dtype {ens.threshold_dtype!r} with float32 sums: the model compares float64 inputs, "
            "and the ONNX float32 tree kernel takes float32 input"
        )
    if ens.average and not wide:
        raise UnsupportedModelError("averaged float32 tree sums have no ONNX tree kernel (it averages in double)")
    # The EQ-chain encoding sends every value that is not a member (including invalid
    # ones: negative, huge, inf) to the "not in set" side; refuse any other convention.
    if ens.invalid_category_goes_left != (not ens.categories_in_set_go_left):
        raise UnsupportedModelError(
            "invalid categories must go to the 'not in set' side for the ONNX encoding"
        )
    mode = _MODES[ens.comparison]
    vdt = np.float64 if wide else np.float32
    out = EncodedEnsemble(*([] for _ in range(12)), n_targets=n_outputs, wide=wide, average=ens.average)
    weights = np.asarray(ens.tree_weight, dtype=vdt)
    outputs = np.asarray(ens.tree_output)

    base = np.asarray(base_score, dtype=vdt).reshape(-1)
    if base.shape[0] != n_outputs:
        raise UnsupportedModelError(f"base_score has {base.shape[0]} values for {n_outputs} outputs")
    if wide:  # added after the (averaged) sum, as the IR's _wide_margins
        out.base_values = [float(b) for b in base]
        if not ens.trees:  # the op needs a tree: one leaf adding 0.0 (0 / 1 when averaged)
            _append_node(out, 0, 0, 0, "LEAF", 0.0, 0, 0, 0)
            _append_target(out, 0, 0, 0, 0.0)
    else:  # Tree 0: the intercept, one leaf voting base_score[k] for every target k.
        _append_node(out, 0, 0, 0, "LEAF", 0.0, 0, 0, 0)
        for k in range(n_outputs):
            _append_target(out, 0, 0, k, base[k])

    for t, tree in enumerate(ens.trees):
        tid = t if wide else t + 1
        left = np.asarray(tree.left, dtype=np.int64)
        right = np.asarray(tree.right, dtype=np.int64)
        feature = np.asarray(tree.feature, dtype=np.int64)
        thresh = np.asarray(tree.threshold)
        default_left = np.asarray(tree.default_left, dtype=bool)
        is_cat = np.asarray(tree.is_categorical, dtype=bool)
        offsets = np.asarray(tree.cat_offsets, dtype=np.int64)
        cat_values = np.asarray(tree.cat_values, dtype=np.int64)
        value = np.asarray(tree.value, dtype=vdt).reshape(len(left), -1)
        n = len(left)
        next_id = n  # ids for the extra EQ nodes of categorical chains
        chains: list[tuple] = []
        for i in range(n):
            if left[i] == -1:
                _append_node(out, tid, i, 0, "LEAF", 0.0, 0, 0, 0)
                leaf = value[i]
                if ens.apply_tree_weight:
                    leaf = (leaf * weights[t]).astype(vdt)  # product in value_dtype (float32: XGBoost)
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
                _append_node(out, tid, i, int(feature[i]), mode, thresh[i] if wide else np.float32(thresh[i]),
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
    # Before anything is written: onnxruntime overflows the stack on deep trees (issue 13).
    check_depth(max_depth(out.nodes_treeids, out.nodes_nodeids, out.nodes_truenodeids, out.nodes_falsenodeids,
                          [m == "LEAF" for m in out.nodes_modes]))
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
    out.target_weights.append(float(weight) if out.wide else float(np.float32(weight)))
