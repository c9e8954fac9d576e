"""LightGBM decision rules as IR nodes (used by :mod:`.lightgbm`).

A LightGBM split is a function of one float64 value ``x`` (after ``predict``'s near-zero rule)
to left/right.  On the real line it is constant on a few intervals ("segments": at most four
for a numeric split, three for a categorical one) plus a label for NaN.  The IR node is one
``x <= t`` test with a default direction for NaN, so a split becomes the smallest group of IR
nodes that separates its segments; when a label appears in two segments, the child subtree
is emitted once per segment.

What keeps that from exploding: every emitted path carries, per feature, the closed interval
``[lo, hi]`` its value must lie in (and whether it may be NaN).  A split whose segments inside
that interval all carry one label is no node at all, and a group emits only the segments the
interval reaches.  So after the first "zero region goes the other way" split on a feature,
later splits on that feature cost one node again on both copies.
"""

from __future__ import annotations

import math

import numpy as np

from modelport.core.errors import ModelFormatError, UnsupportedModelError
from modelport.core.ir.model import Tree

__all__ = ["ZERO_THRESHOLD", "numeric_split", "categorical_split", "bitset_codes", "check_shape", "expand_tree"]

#: LightGBM's ``kZeroThreshold`` (``include/LightGBM/meta.h``: ``1e-35f``, a float widened to double).
ZERO_THRESHOLD = float(np.float32(1e-35))
_BELOW_NEG_ZERO_THRESHOLD = float(np.nextafter(-ZERO_THRESHOLD, -np.inf))
_LARGEST_NEGATIVE = float(np.nextafter(0.0, -1.0))  # -5e-324: x <= it  <=>  x < 0 (and not -0.0)
_FULL = (-math.inf, math.inf, True)

# A split: (cuts, labels, nan_label, codes).  Segment i is [a_i, b_i] with a_0 = -inf,
# a_i = nextafter(cuts[i-1], +inf), b_i = cuts[i] (+inf for the last); labels[i] is "L", "R"
# or "C" (the categorical set test); adjacent labels differ.


def _merged(cuts: list[float], labels: list[str]) -> tuple[list[float], list[str]]:
    out_cuts, out_labels = [], [labels[0]]
    for c, lab in zip(cuts, labels[1:], strict=True):
        if lab != out_labels[-1]:
            out_cuts.append(c)
            out_labels.append(lab)
    return out_cuts, out_labels


def numeric_split(thr: float, missing_type: int, default_left: bool) -> tuple:
    """LightGBM's ``NumericalDecision`` on ``x`` as ``predict`` sees it (|x| <= kZeroThreshold
    reads as 0.0): NaN is 0.0 unless the missing type (0 None, 1 Zero, 2 NaN) is NaN; a NaN
    (type NaN) or zero (type Zero) follows ``default_left``; else left iff ``x <= thr``."""
    z = ZERO_THRESHOLD
    zero_left = default_left if missing_type == 1 else (0.0 <= thr)
    nan_left = default_left if missing_type in (1, 2) else (0.0 <= thr)

    def left(x: float) -> bool:
        return zero_left if -z <= x <= z else x <= thr

    bounds = sorted({_BELOW_NEG_ZERO_THRESHOLD, z} | ({thr} if not math.isnan(thr) else set()))
    if bounds[-1] == math.inf:
        bounds.pop()  # nothing lies above +inf
    labels = ["L" if left(b) else "R" for b in [*bounds, math.inf]]  # each segment read at its upper end
    cuts, labels = _merged(bounds, labels)
    return cuts, labels, "L" if nan_left else "R", None


def categorical_split(codes: list[int]) -> tuple:
    """LightGBM's ``CategoricalDecision``: NaN right, ``int(x)`` (toward zero) negative right,
    in the set left.  ``int(x)`` is 0 on (-1, 0) too, which the IR's set test calls invalid,
    so that interval is a segment of its own."""
    if not codes:
        return [], ["R"], "R", None
    cuts, labels = _merged([-1.0, _LARGEST_NEGATIVE], ["R", "L" if codes[0] == 0 else "R", "C"])
    return cuts, labels, "R", codes


def bitset_codes(words: list[int]) -> list[int]:
    """The sorted category codes of a LightGBM ``cat_threshold`` bitset (32-bit words)."""
    codes = []
    for w, word in enumerate(words):
        if not 0 <= word < 2**32:
            raise ModelFormatError(f"cat_threshold word {word} is not a 32-bit bitset word")
        while word:
            low = word & -word
            codes.append(32 * w + low.bit_length() - 1)
            word ^= low
    return codes


def check_shape(where: str, kids: tuple[list[int], list[int]], n_int: int, n_leaves: int) -> None:
    """Every child index in range, every node but the root reached exactly once: what the root
    reaches is then a tree, so expanding it terminates."""
    seen_int = [0] * n_int
    seen_leaf = [0] * n_leaves
    for k in kids:
        for i, c in enumerate(k):
            if 0 < c < n_int:
                seen_int[c] += 1
            elif -n_leaves <= c < 0:
                seen_leaf[~c] += 1
            else:
                raise ModelFormatError(f"{where} node {i}: child {c} out of range")
    if n_int and (any(s != 1 for s in seen_int[1:]) or any(s != 1 for s in seen_leaf)):
        raise ModelFormatError(f"{where}: the child lists do not form a tree (a node with zero or several parents)")


def _span(cuts: list[float], lo: float, hi: float) -> tuple[int, int]:
    """First and last segment meeting ``[lo, hi]`` (first > last when none does)."""
    n = len(cuts) + 1
    if lo == -math.inf and hi == math.inf:
        return 0, n - 1
    if lo > hi:
        return 1, 0
    i0 = next((i for i in range(n) if i == n - 1 or cuts[i] >= lo), n)
    i1 = next((i for i in range(n - 1, -1, -1) if i == 0 or math.nextafter(cuts[i - 1], math.inf) <= hi), -1)
    return i0, i1


class _Out:
    """The IR tree being written, node by node."""

    def __init__(self, budget: list[int], where: str, growth: int) -> None:
        self.left: list[int] = []
        self.right: list[int] = []
        self.feature: list[int] = []
        self.threshold: list[float] = []
        self.default_left: list[bool] = []
        self.codes: list[list[int]] = []
        self.value: list[float] = []
        self.budget, self.where, self.growth = budget, where, growth

    def node(self, parent: int, side: int, feature: int, threshold: float, default_left: bool,
             codes: list[int] | None = None, value: float = 0.0) -> int:
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise UnsupportedModelError(f"{self.where}: expanding LightGBM's zero/categorical rules would need more "
                                        f"than {self.growth}x the model's nodes")
        me = len(self.left)
        if parent >= 0:
            (self.left if side == 0 else self.right)[parent] = me
        self.left.append(-1)
        self.right.append(-1)
        self.feature.append(feature)
        self.threshold.append(threshold)
        self.default_left.append(default_left)
        self.codes.append(codes or [])
        self.value.append(value)
        return me

    def tree(self) -> Tree:
        n = len(self.left)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum([len(c) for c in self.codes], out=offsets[1:])
        return Tree(
            left=np.array(self.left, dtype=np.int32), right=np.array(self.right, dtype=np.int32),
            feature=np.array(self.feature, dtype=np.int32), threshold=np.array(self.threshold, dtype=np.float64),
            default_left=np.array(self.default_left, dtype=bool),
            is_categorical=np.array([bool(c) for c in self.codes], dtype=bool), cat_offsets=offsets,
            cat_values=np.array([c for cs in self.codes for c in cs], dtype=np.int32),
            value=np.array(self.value, dtype=np.float64).reshape(n, 1),
        )


def _nan_ok(label: str, nan_label: str) -> bool:
    """A segment with ``label`` may also receive NaN (the set test sends NaN right itself)."""
    return label == nan_label or (label == "C" and nan_label == "R")


def _leave(out: _Out, stack: list, ctx: tuple, label: str, lo: float, hi: float, nan: bool,
           parent: int, side: int) -> None:
    """Leave a split's group through ``label`` with the feature known to lie in [lo, hi]."""
    ref, f, codes, known, kids = ctx
    narrowed = known if known.get(f, _FULL) == (lo, hi, nan) else {**known, f: (lo, hi, nan)}
    if label == "C":  # the set test itself: in the set left, NaN and the rest right
        me = out.node(parent, side, f, 0.0, False, codes=codes)
        stack.append(("n", kids[1][ref], me, 1, narrowed))
        stack.append(("n", kids[0][ref], me, 0, {**known, f: (lo, hi, False)}))
    else:
        stack.append(("n", kids[0 if label == "L" else 1][ref], parent, side, narrowed))


def expand_tree(*, where: str, leaf_value: list[float], feature: list[int], kids: tuple[list[int], list[int]],
                splits: list[tuple], budget: list[int], growth: int) -> Tree:
    """The IR tree of one LightGBM tree (``splits[i]`` from :func:`numeric_split` /
    :func:`categorical_split`), walking iteratively; ``budget[0]`` IR nodes may be written."""
    out = _Out(budget, where, growth)
    # ("n", lgb ref, parent, side, known) or ("r", lgb node, i0, i1, lo, hi, nan, parent, side, known);
    # known: feature -> (lo, hi, may_be_nan) on this path.
    stack: list[tuple] = [("n", 0 if feature else -1, -1, 0, {})]
    while stack:
        item = stack.pop()
        if item[0] == "n":
            _, ref, parent, side, known = item
            if ref < 0:
                out.node(parent, side, 0, 0.0, False, value=leaf_value[~ref])
                continue
            lo, hi, nan = known.get(feature[ref], _FULL)
            i0, i1 = _span(splits[ref][0], lo, hi)
        else:
            _, ref, i0, i1, lo, hi, nan, parent, side, known = item
        cuts, labels, nan_label, codes = splits[ref]
        f = feature[ref]

        ctx = (ref, f, codes, known, kids)
        present = set(labels[i0:i1 + 1])
        if len(present) <= 1:
            lab = next(iter(present)) if present else nan_label
            if nan and not _nan_ok(lab, nan_label):  # numbers one way, NaN the other: x <= +inf splits them
                me = out.node(parent, side, f, math.inf, False)
                _leave(out, stack, ctx, nan_label, math.inf, -math.inf, True, me, 1)
                _leave(out, stack, ctx, lab, lo, hi, False, me, 0)
            else:
                _leave(out, stack, ctx, lab, lo, hi, nan, parent, side)
            continue
        mid = (i0 + i1 + 1) // 2
        c = cuts[mid - 1]
        dl = nan and any(_nan_ok(lab, nan_label) for lab in labels[i0:mid])
        me = out.node(parent, side, f, c, dl)
        stack.append(("r", ref, mid, i1, max(lo, math.nextafter(c, math.inf)), hi, nan and not dl, me, 1, known))
        stack.append(("r", ref, i0, mid - 1, lo, min(hi, c), nan and dl, me, 0, known))
    return out.tree()
