"""XGBoost tree arrays → IR :class:`Tree`, with structural validation.

Each XGBoost tree in JSON/UBJSON is a set of flat per-node arrays
(``src/tree/tree_model.cc`` ``RegTree::SaveModel``), so nothing here recurses: children are
checked level by level with numpy, which handles a 10,000-deep chain without any recursion.
"""

from __future__ import annotations

import numpy as np

from modelport.core.ir.model import Tree
from modelport.core.errors import ModelFormatError, UnsupportedModelError

__all__ = ["parse_trees", "check_structure", "as_integers"]


def _arr(tree: dict, key: str, dtype, tid: int, n: int | None) -> np.ndarray:
    v = tree.get(key)
    if v is None:
        raise ModelFormatError(f"tree {tid}: missing '{key}'")
    try:
        if np.dtype(dtype).kind in "iu":
            a = as_integers(np.asarray(v), tid, key, dtype)
        else:
            a = np.asarray(v, dtype=dtype).ravel()
    except (TypeError, ValueError, OverflowError):
        raise ModelFormatError(f"tree {tid}: '{key}' is not an array of numbers") from None
    if n is not None and a.size != n:
        raise ModelFormatError(f"tree {tid}: '{key}' has {a.size} entries, expected {n}")
    return a


def as_integers(raw: np.ndarray, tid: int | str, key: str, dtype) -> np.ndarray:
    """``raw`` as integers, refusing fractional values (1.5, 0.9) instead of truncating them:
    XGBoost's JSON reader refuses such a file (``src/common/json.cc`` reads integer arrays
    as integers)."""
    raw = raw.ravel()
    if raw.dtype.kind in "iub":
        return raw.astype(dtype)
    if raw.dtype.kind != "f":
        raise TypeError(key)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(raw) | (raw != np.trunc(raw)) | (np.abs(raw) >= 2.0**62)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ModelFormatError(f"tree {tid}: '{key}' entry {i} is {float(raw[i])!r}, not an integer")
    return raw.astype(dtype)


def check_structure(left: np.ndarray, right: np.ndarray, tid: int) -> None:
    """Raise ModelFormatError unless the arrays form a tree rooted at node 0.

    Every internal node needs both children in range; walking from the root, no node may
    be reached twice (that would be a cycle or a shared subtree).  Iterative, by levels.
    """
    n = left.size
    internal = left != -1
    if np.any(internal & ((left < 0) | (left >= n) | (right < 0) | (right >= n))):
        bad = int(np.flatnonzero(internal & ((left < 0) | (left >= n) | (right < 0) | (right >= n)))[0])
        raise ModelFormatError(
            f"tree {tid}: node {bad} has child index out of range "
            f"(left={int(left[bad])}, right={int(right[bad])}, {n} nodes)"
        )
    seen = np.zeros(n, dtype=bool)
    seen[0] = True
    frontier = np.zeros(1, dtype=np.int64)
    while frontier.size:
        f = frontier[internal[frontier]]
        kids = np.concatenate([left[f], right[f]]).astype(np.int64)
        if kids.size:
            uniq, counts = np.unique(kids, return_counts=True)
            dup = uniq[(counts > 1) | seen[uniq]]
            if dup.size:
                raise ModelFormatError(f"tree {tid}: node {int(dup[0])} is reached twice (cycle or shared child)")
            seen[kids] = True
        frontier = kids


def _count(v) -> int:
    """An integer count from a number or a decimal string (bounded before ``int()``)."""
    if isinstance(v, float) and not v.is_integer():
        raise ValueError(v)
    if isinstance(v, str) and len(v.strip()) > 20:
        raise ValueError(v[:20])
    return int(v)


def parse_trees(trees_doc: list, n_features: int, n_outputs: int) -> tuple[list[Tree], int]:
    """Convert the ``trees`` list; returns the IR trees and the leaf dimension."""
    out: list[Tree] = []
    leaf_dims = set()
    for tid, t in enumerate(trees_doc):
        if not isinstance(t, dict):
            raise ModelFormatError(f"tree {tid}: not an object")
        tp = t.get("tree_param")
        if not isinstance(tp, dict):
            raise ModelFormatError(f"tree {tid}: missing or non-object 'tree_param'")
        try:
            n = _count(tp.get("num_nodes"))
            size_leaf = _count(tp.get("size_leaf_vector", 1) or 0)
        except (TypeError, ValueError, OverflowError):
            raise ModelFormatError(f"tree {tid}: tree_param.num_nodes/size_leaf_vector missing or not integers") from None
        if size_leaf < 0:
            raise ModelFormatError(f"tree {tid}: size_leaf_vector is {size_leaf}")
        if size_leaf > 1 and size_leaf != n_outputs:
            # Checked before anything is sized by it: a corrupt count must not allocate.
            raise ModelFormatError(f"tree {tid}: size_leaf_vector is {size_leaf}, the model has {n_outputs} outputs")
        # Before 2.0 scalar-leaf trees say size_leaf_vector "0" (TreeParam's old default), from
        # 2.0 on "1": both mean one value per leaf (real 1.x files: tests/fixtures/xgboost_legacy).
        size_leaf = max(size_leaf, 1)
        if n < 1:
            raise ModelFormatError(f"tree {tid}: num_nodes is {n}")
        left = _arr(t, "left_children", np.int64, tid, n)
        right = _arr(t, "right_children", np.int64, tid, n)
        feat = _arr(t, "split_indices", np.int64, tid, n)
        cond = _arr(t, "split_conditions", np.float32, tid, n)
        dleft = _arr(t, "default_left", np.int64, tid, n).astype(bool)
        stype = _arr(t, "split_type", np.int64, tid, n) if "split_type" in t else np.zeros(n, np.int64)
        if stype.size != n:
            raise ModelFormatError(f"tree {tid}: 'split_type' has {stype.size} entries, expected {n}")
        is_leaf = left == -1
        if size_leaf > 1:
            # Multi-target tree: a leaf's index into leaf_weights sits in right_children.
            lw = _arr(t, "leaf_weights", np.float32, tid, None)
            if lw.size % size_leaf:
                raise ModelFormatError(f"tree {tid}: leaf_weights size {lw.size} is not a multiple of {size_leaf}")
            lw = lw.reshape(-1, size_leaf)
            leaf_idx = right[is_leaf]
            if leaf_idx.size and (leaf_idx.min() < 0 or leaf_idx.max() >= lw.shape[0]):
                raise ModelFormatError(f"tree {tid}: leaf index out of range of leaf_weights ({lw.shape[0]} leaves)")
            value = np.zeros((n, size_leaf), dtype=np.float32)
            value[is_leaf] = lw[leaf_idx]
            right = np.where(is_leaf, -1, right)
        else:
            value = np.where(is_leaf, cond, np.float32(0)).astype(np.float32).reshape(n, 1)
        check_structure(left, right, tid)
        bad = np.flatnonzero(is_leaf & ~np.isfinite(value).all(axis=1))
        if bad.size:  # XGBoost leaves are finite float32 weights; inf/NaN (or 1e39) is corruption
            raise ModelFormatError(f"tree {tid}: leaf {int(bad[0])} has a non-finite value")
        internal = ~is_leaf
        if np.any(internal & ((feat < 0) | (feat >= max(n_features, 1)))):
            bad = int(np.flatnonzero(internal & ((feat < 0) | (feat >= n_features)))[0])
            raise ModelFormatError(f"tree {tid}: node {bad} splits on feature {int(feat[bad])}, the model has {n_features}")
        is_cat = internal & (stype == 1)
        if np.any(internal & (stype > 1)):
            raise UnsupportedModelError(f"tree {tid}: split_type {int(stype.max())} is not supported")
        offsets, values = _categories(t, tid, n, is_cat)
        leaf_dims.add(size_leaf)
        out.append(Tree(
            left=left.astype(np.int32), right=right.astype(np.int32),
            feature=np.where(internal, feat, 0).astype(np.int32),
            threshold=np.where(internal & ~is_cat, cond, np.float32(0)).astype(np.float32),
            default_left=dleft & internal, is_categorical=is_cat,
            cat_offsets=offsets, cat_values=values, value=value,
        ))
    if len(leaf_dims) > 1:
        raise ModelFormatError(f"trees mix leaf sizes {sorted(leaf_dims)}")
    leaf_dim = leaf_dims.pop() if leaf_dims else 1
    if leaf_dim > 1 and leaf_dim != n_outputs:
        raise ModelFormatError(f"leaf vectors have size {leaf_dim}, the model has {n_outputs} outputs")
    return out, leaf_dim


def _categories(t: dict, tid: int, n: int, is_cat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-node category sets from ``categories{,_nodes,_segments,_sizes}`` (CSR by node)."""
    nodes = _arr(t, "categories_nodes", np.int64, tid, None) if "categories_nodes" in t else np.zeros(0, np.int64)
    cats = _arr(t, "categories", np.int64, tid, None) if "categories" in t else np.zeros(0, np.int64)
    segs = _arr(t, "categories_segments", np.int64, tid, nodes.size) if nodes.size else nodes
    sizes = _arr(t, "categories_sizes", np.int64, tid, nodes.size) if nodes.size else nodes
    if nodes.size and (nodes.min() < 0 or nodes.max() >= n or np.any(~is_cat[nodes])):
        raise ModelFormatError(f"tree {tid}: categories_nodes names a node that is not a categorical split")
    if int(is_cat.sum()) != nodes.size:
        raise ModelFormatError(f"tree {tid}: {int(is_cat.sum())} categorical splits but {nodes.size} category sets")
    if nodes.size and (np.any(segs < 0) or np.any(sizes < 0) or np.any(segs + sizes > cats.size)):
        raise ModelFormatError(f"tree {tid}: categories_segments/sizes point outside 'categories' ({cats.size})")
    if cats.size and (cats.min() < 0 or cats.max() >= 1 << 24):
        raise ModelFormatError(f"tree {tid}: category code out of range [0, 2**24)")
    counts = np.zeros(n, dtype=np.int64)
    counts[nodes] = sizes
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    values = np.zeros(int(offsets[-1]), dtype=np.int32)
    for node, seg, size in zip(nodes.tolist(), segs.tolist(), sizes.tolist(), strict=True):
        values[offsets[node]:offsets[node] + size] = np.sort(cats[seg:seg + size])
    return offsets, values
