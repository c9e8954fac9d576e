"""The deepest tree an ONNX artifact may hold, checked on the graph before it is written.

onnxruntime (measured on 1.32) builds each tree of a ``TreeEnsembleRegressor`` /
``TreeEnsembleClassifier`` recursively when a session is created, using about 780 bytes of
stack per tree level: a 10,800-deep tree overflows the default 8 MiB main-thread stack and the
process dies with SIGSEGV (a 4 MiB stack: 5,500).  modelport's own ONNX runtime creates its
sessions on a thread with a large stack, but an artifact is for every process that loads it,
so the ONNX target refuses a tree deeper than :data:`ONNX_MAX_TREE_DEPTH` before writing
(``docs/hostile-input.md``).  Depth is measured on the ENCODED graph: a categorical split is
a chain of ``BRANCH_EQ`` nodes (:mod:`._onnx_trees`), which adds to the depth.
"""

from __future__ import annotations

import numpy as np

from modelport.core.errors import UnsupportedModelError

__all__ = ["ONNX_MAX_TREE_DEPTH", "check_depth", "check_onnx_depth", "max_depth", "max_tree_depth"]

#: Deepest tree (edges from the root to its deepest leaf) an ONNX artifact may hold: 10,000
#: loads in a process with the default 8 MiB stack (measured), 8% below where it breaks.
ONNX_MAX_TREE_DEPTH = 10_000

_TREE_OPS = ("TreeEnsembleRegressor", "TreeEnsembleClassifier")


def _ints(node, name: str) -> np.ndarray:
    for attr in node.attribute:
        if attr.name == name:
            return np.asarray(attr.ints, dtype=np.int64)
    return np.zeros(0, dtype=np.int64)


def _modes(node) -> np.ndarray:
    for attr in node.attribute:
        if attr.name == "nodes_modes":
            return np.asarray([m == b"LEAF" for m in attr.strings], dtype=bool)
    return np.zeros(0, dtype=bool)


def max_tree_depth(node) -> int:
    """Depth of the deepest tree of one tree-ensemble ``NodeProto`` (0 for a lone leaf)."""
    return max_depth(_ints(node, "nodes_treeids"), _ints(node, "nodes_nodeids"), _ints(node, "nodes_truenodeids"),
                     _ints(node, "nodes_falsenodeids"), _modes(node))


def max_depth(tids, nids, true_ids, false_ids, leaf) -> int:
    """Depth of the deepest tree given a tree ensemble's ``nodes_*`` attributes (``leaf``:
    True where ``nodes_modes`` is ``LEAF``), walked level by level (never recursively)."""
    tids, nids = np.asarray(tids, np.int64), np.asarray(nids, np.int64)
    true_ids, false_ids, leaf = np.asarray(true_ids, np.int64), np.asarray(false_ids, np.int64), np.asarray(leaf, bool)
    if not tids.size or not (tids.size == nids.size == true_ids.size == false_ids.size == leaf.size):
        return 0
    # One global index per (tree, node) pair, children resolved by binary search.
    key = tids * (1 << 32) + nids
    order = np.argsort(key, kind="stable")
    skey = key[order]

    def index(tree: np.ndarray, child: np.ndarray) -> np.ndarray:
        want = tree * (1 << 32) + child
        pos = np.clip(np.searchsorted(skey, want), 0, skey.size - 1)
        return np.where(skey[pos] == want, order[pos], -1)

    inner = ~leaf
    t_child = np.full(key.size, -1, np.int64)
    f_child = np.full(key.size, -1, np.int64)
    t_child[inner] = index(tids[inner], true_ids[inner])
    f_child[inner] = index(tids[inner], false_ids[inner])
    # Roots: nodes nobody points to.
    pointed = np.zeros(key.size, dtype=bool)
    for c in (t_child, f_child):
        pointed[c[c >= 0]] = True
    frontier = np.flatnonzero(~pointed)
    seen = np.zeros(key.size, dtype=bool)
    depth = -1
    while frontier.size:
        frontier = frontier[~seen[frontier]]  # a malformed graph's cycle cannot loop forever
        if not frontier.size:
            break
        seen[frontier] = True
        depth += 1
        kids = np.concatenate([t_child[frontier], f_child[frontier]])
        frontier = np.unique(kids[kids >= 0])
    return max(depth, 0)


def check_depth(depth: int, *, limit: int | None = None) -> None:
    """Raise a one-line :class:`UnsupportedModelError` when ``depth`` exceeds ``limit``
    (default :data:`ONNX_MAX_TREE_DEPTH`)."""
    limit = ONNX_MAX_TREE_DEPTH if limit is None else limit
    if depth > limit:
        raise UnsupportedModelError(
            f"a tree is {depth} levels deep in ONNX; the onnx target writes at most {limit} "
            "(onnxruntime builds trees recursively and overflows the stack of any process "
            "loading a deeper one; docs/hostile-input.md)")


def check_onnx_depth(proto, *, limit: int | None = None) -> None:
    """Raise a one-line :class:`UnsupportedModelError` when a tree of the graph ``proto``
    (``onnx.ModelProto``, e.g. from a third-party converter) is deeper than ``limit``."""
    for node in proto.graph.node:
        if node.op_type in _TREE_OPS:
            check_depth(max_tree_depth(node), limit=limit)
