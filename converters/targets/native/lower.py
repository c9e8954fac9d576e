"""The shared lowering of an IR :class:`Model` into a plan that every native-code emitter
(C, Python, Java, JavaScript, Go, Rust) consumes.

Stable API (emitters depend on exactly this)::

    plan = lower(model, shape="auto")        # -> Plan, or UnsupportedModelError
    plan.shape                               # "unrolled" | "arrays"
    for tree in plan.trees:                  # TreePlan, in accumulation order
        for ev in walk(tree):                # iterative nested if/else events (unrolled shape)
            ...                              # ev.kind in {"if", "else", "end", "leaf"}
        tree.left, tree.right, tree.feature  # flat preorder arrays (arrays shape)
    number(x, dtype, lang)                   # lossless literal spelled for a language
    escape_string(s, lang)                   # a quoted string literal, immune to hostile text
    numeric_left_test(plan, tree, i)         # (op, negate): "left iff [not] (x op thr)"

What the plan means (the reference evaluator, ``core/ir/evaluate.py``, is the definition):

* Inputs are ``plan.input_dtype`` (float32 for XGBoost).  A row is first read into a local
  copy in that type; when ``plan.missing`` is not None, a value equal to it is replaced by NaN
  there, so afterwards "missing" is exactly "NaN" everywhere (the sentinel and NaN both follow
  ``default_left``; categorical splits and gblinear treat them alike).
* Numeric split at node ``i``: ``numeric_left_test`` returns ``(op, negate)`` such that the row
  goes left iff ``x op thr`` (``negate`` False) or ``not (x op thr)`` (``negate`` True).  The
  negated form is chosen exactly when the node's missing value goes left, so NaN, whose every
  ordered comparison is false, takes the default side without an explicit NaN test.  Emitters
  must therefore never compile with fast-math / reassociating flags.
* Categorical split: NaN goes ``default_left``; otherwise ``valid = 0 <= x < 2**24`` (tested on
  the value, before truncation), ``code = trunc(x)`` (toward zero), ``in_set = code in
  tree.categories(i)``; left iff ``in_set == plan.categories_in_set_go_left`` when valid, else
  ``plan.invalid_category_goes_left``.
* Accumulation in ``plan.acc_dtype``: when ``plan.wide`` is False the accumulator starts at
  ``base_score`` (rounded to ``acc_dtype``) and each tree in order does ``acc[o] += leaf``
  (``acc[o] += leaf * weight`` when ``plan.apply_tree_weight``: the product rounded to
  ``acc_dtype`` first, then the sum).  When ``plan.wide`` is True it starts at zero, and after
  all trees ``acc[o] = acc[o] / plan.output_counts[o]`` (only if ``plan.average`` and the count
  is > 0), then ``acc[o] += base_score[o]``, then the margin is ``acc`` rounded once to float32.
  ``tree.output == -1`` means a vector leaf: add ``leaf[k]`` to ``acc[k]`` for every k.
* gblinear (``plan.kind == "linear"``): ``acc[o] = float32(base[o] + bias[o])``; then for each
  feature j in column order whose value is not NaN: ``acc[o] += float32(x_j * w[j][o])``.
* Links (``plan.post_transform``) on float32 margins, with ``expf(v)`` meaning "exp of ``v``
  in float64, rounded once to float32": sigmoid ``1f / (1f + expf(-m))``; exp ``expf(m)``;
  hinge ``m > 0 ? 1 : 0``; identity; softmax: ``mx = max(m)``, ``e_k = expf(m_k - mx)`` (the
  subtraction in float32), ``s`` = the float64 sum of the ``e_k`` in class order, ``p_k = e_k /
  float32(s)`` in float32; softmax_label: index of the first maximum (as a float).

* scikit-learn (IR version 2): a float64 linear model lowers to ``plan.kind == "linear64"``
  (float64 row, ``plan.steps``, the float64 dot product and links of ``core/ir/_links64.py``;
  spelled by :mod:`._linear64`); a tree ensemble after preprocessing keeps its tree plan with
  ``plan.steps`` set: the float64 row (``plan.row_width`` wide, ``plan.row_dtype``) runs the
  steps (:class:`._steps.StepPlan`), the result is rounded once to ``input_dtype`` and the trees
  read it (``n_features`` wide).  Preprocessing before gblinear is refused.

Every float in the plan is carried losslessly (``core.numerics.float_literal``).  Feature names
are never identifiers: they appear only in string literals built by :func:`escape_string`.
Trees are walked iteratively (10,000-deep trees exist).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from modelport.converters.targets.native._steps import StepPlan, lower_steps
from modelport.core.errors import UnsupportedModelError
from modelport.core.ir.model import Comparison, LinearBooster, Model, TreeEnsemble, booster_width
from modelport.core.numerics import float_literal

__all__ = [
    "SHAPES",
    "LANGS",
    "MAX_CATEGORY",
    "UNROLLED_MAX_NODES",
    "UNROLLED_MAX_DEPTH",
    "Plan",
    "TreePlan",
    "StepPlan",
    "Event",
    "lower",
    "choose_shape",
    "walk",
    "numeric_left_test",
    "leaf_values",
    "number",
    "numbers",
    "escape_string",
    "identifier",
]

#: Code shapes: nested if/else per tree, or node arrays walked by a small loop.
SHAPES = ("unrolled", "arrays")
#: Languages :func:`number` and :func:`escape_string` know.
LANGS = ("c", "python", "java", "javascript", "go", "rust")
#: Category codes must lie in ``[0, MAX_CATEGORY)`` (XGBoost ``common/categorical.h``).
MAX_CATEGORY = 1 << 24
#: ``shape="auto"`` unrolls when the model has at most this many nodes in total ...
UNROLLED_MAX_NODES = 20_000
#: ... and no tree deeper than this (nested blocks: Python's parser stops at 100 indents,
#: C compilers slow down long before 10,000).
UNROLLED_MAX_DEPTH = 40


@dataclass(frozen=True, eq=False)
class TreePlan:
    """One tree with its nodes renumbered in preorder (root 0, a left child right after its
    parent); unreachable nodes are dropped.  Arrays are numpy, one entry per node."""

    index: int
    """Position of the tree in accumulation order."""
    output: int
    """Margin column the tree adds to; -1: vector leaf, added to every column."""
    weight: float
    """DART weight (only used when ``Plan.apply_tree_weight``), exact in ``Plan.acc_dtype``."""
    left: np.ndarray
    """int32 [n]: left child (preorder index), -1 for a leaf."""
    right: np.ndarray
    """int32 [n]: right child, -1 for a leaf."""
    feature: np.ndarray
    """int32 [n]: split feature (0 for leaves)."""
    threshold: np.ndarray
    """[n] in ``Plan.input_dtype``: numeric threshold (0 for leaves / categorical splits)."""
    default_left: np.ndarray
    """bool [n]: where NaN (and the sentinel) goes."""
    is_categorical: np.ndarray
    """bool [n]: categorical (set membership) split."""
    cat_offsets: np.ndarray
    """int64 [n + 1]: node i's sorted codes are ``cat_values[cat_offsets[i]:cat_offsets[i+1]]``."""
    cat_values: np.ndarray
    """int32 [m]: category codes, sorted within each node."""
    value: np.ndarray
    """[n, leaf_dim] in ``Plan.acc_dtype``: leaf values (rows of splits are 0)."""
    depth: int
    """Number of splits on the longest root-to-leaf path."""

    @property
    def n_nodes(self) -> int:
        """Number of (reachable) nodes."""
        return int(self.left.size)

    def is_leaf(self, i: int) -> bool:
        """True when node ``i`` is a leaf."""
        return bool(self.left[i] < 0)

    def categories(self, i: int) -> tuple[int, ...]:
        """Sorted category codes of node ``i``'s set (empty for numeric splits)."""
        return tuple(int(c) for c in self.cat_values[self.cat_offsets[i]:self.cat_offsets[i + 1]])


@dataclass(frozen=True, eq=False)
class Plan:
    """Everything an emitter needs; see the module docstring for the exact semantics."""

    kind: str
    """``"trees"``, ``"linear"`` (XGBoost gblinear) or ``"linear64"`` (scikit-learn)."""
    shape: str
    """``"unrolled"`` or ``"arrays"`` (meaningful for trees only)."""
    n_features: int
    n_outputs: int
    feature_names: tuple[str, ...]
    """Raw names: emit them only through :func:`escape_string`."""
    input_dtype: str
    """``"float32"`` or ``"float64"``: type of the row values and of thresholds."""
    acc_dtype: str
    """``"float32"`` or ``"float64"``: type of leaves, weights and the running sum."""
    wide: bool
    """True: sum from zero, average, then add base, then round to float32 (see module doc)."""
    comparison: str
    """``"<"`` or ``"<="``: numeric split rule (left when true)."""
    missing: float | None
    """The missing-value sentinel in ``input_dtype``, or None when only NaN means missing."""
    base_score: tuple[float, ...]
    """Per output, exact in ``acc_dtype`` (float32 for non-wide plans)."""
    post_transform: str
    """IR ``PostTransform`` value."""
    trees: tuple[TreePlan, ...] = ()
    leaf_dim: int = 1
    apply_tree_weight: bool = False
    average: bool = False
    output_counts: tuple[int, ...] = ()
    """Trees adding to each output (the divisor when ``average``)."""
    categories_in_set_go_left: bool = False
    invalid_category_goes_left: bool = True
    linear_weights: np.ndarray | None = None
    """float32 [n_features, n_outputs] (gblinear)."""
    linear_bias: np.ndarray | None = None
    """float32 [n_outputs] (gblinear); float64 for ``"linear64"``."""
    steps: tuple[StepPlan, ...] = ()
    """The preprocessing steps, in order, on the float64 input row (``"linear64"`` plans, and
    tree plans of pipelines: the trees then read the steps' result rounded to
    ``input_dtype``, whose width is ``n_features``)."""
    booster_width: int = 0
    """``"linear64"`` only: columns after the steps (rows of ``linear_weights``)."""
    n_inputs: int = 0
    """Tree plans with steps: the input row's width (``feature_names`` has this many);
    0 otherwise (the row is ``n_features`` wide)."""

    @property
    def row_width(self) -> int:
        """Values in one input row."""
        return self.n_inputs or self.n_features

    @property
    def row_dtype(self) -> str:
        """The input row's dtype (the artifact's ``input_type``): float64 when steps run."""
        return "float64" if self.steps else self.input_dtype

    @property
    def total_nodes(self) -> int:
        """Nodes over all trees."""
        return sum(t.n_nodes for t in self.trees)

    @property
    def max_depth(self) -> int:
        """Deepest tree's depth (0 without trees)."""
        return max((t.depth for t in self.trees), default=0)

    @property
    def has_categorical(self) -> bool:
        """True when any split is categorical."""
        return any(bool(t.is_categorical.any()) for t in self.trees)


@dataclass(frozen=True)
class Event:
    """One step of :func:`walk`: ``"if"`` (open the test of split ``node``; its body is the
    left subtree), ``"else"`` (the right subtree of ``node`` follows), ``"end"`` (close
    ``node``'s if/else), ``"leaf"`` (``node`` is a leaf).  ``depth`` = nesting level."""

    kind: str
    node: int
    depth: int


def choose_shape(*, total_nodes: int, max_depth: int, shape: str = "auto",
                 max_unrolled_nodes: int = UNROLLED_MAX_NODES, max_unrolled_depth: int = UNROLLED_MAX_DEPTH) -> str:
    """The code shape: ``shape`` if it is ``"unrolled"`` or ``"arrays"`` (a tree deeper than
    ``max_unrolled_depth`` cannot be unrolled: UnsupportedModelError), else ``"unrolled"`` for
    small shallow models and ``"arrays"`` otherwise."""
    if shape == "arrays":
        return shape
    if shape == "unrolled":
        if max_depth > max_unrolled_depth:
            raise UnsupportedModelError(f"a tree {max_depth} splits deep cannot be unrolled into nested if/else "
                                        f"(limit {max_unrolled_depth}); use the 'arrays' code shape")
        return shape
    if shape != "auto":
        raise UnsupportedModelError(f"unknown code shape {shape!r}; choose auto, unrolled or arrays")
    return "unrolled" if total_nodes <= max_unrolled_nodes and max_depth <= max_unrolled_depth else "arrays"


def lower(model: Model, *, shape: str = "auto", max_unrolled_nodes: int = UNROLLED_MAX_NODES,
          max_unrolled_depth: int = UNROLLED_MAX_DEPTH) -> Plan:
    """Lower ``model`` into a :class:`Plan` (see the module docstring).  ``shape`` is
    ``"auto"``, ``"unrolled"`` or ``"arrays"``; an emitter with tighter nesting limits passes
    its own ``max_unrolled_depth``.  Raises UnsupportedModelError naming any construct the
    plan cannot express exactly."""
    b = model.booster
    names = tuple(f.name for f in model.features)
    n_out = int(model.n_outputs)
    missing = None if np.isnan(model.missing) else float(model.missing)
    common = dict(n_features=len(names), n_outputs=n_out, feature_names=names,
                  post_transform=model.post_transform.value)
    if isinstance(b, LinearBooster) and b.value_dtype == "float64":
        return _lower_linear64(model, b, common)
    if model.preprocessing and isinstance(b, LinearBooster):
        raise UnsupportedModelError("preprocessing steps before a float32 (XGBoost gblinear) linear model cannot be "
                                    "written as native code")
    if isinstance(b, LinearBooster):
        w = np.asarray(b.weights, dtype=np.float32).reshape(len(names), n_out)
        return Plan(kind="linear", shape="arrays", input_dtype="float32", acc_dtype="float32", wide=False,
                    comparison="<", missing=_round(missing, "float32"),
                    base_score=tuple(float(v) for v in np.asarray(model.base_score, np.float32).reshape(-1)),
                    linear_weights=w, linear_bias=np.asarray(b.bias, dtype=np.float32).reshape(n_out), **common)
    if not isinstance(b, TreeEnsemble):
        raise UnsupportedModelError(f"booster {type(b).__name__} cannot be written as native code")
    for dt, what in ((b.threshold_dtype, "threshold_dtype"), (b.value_dtype, "value_dtype")):
        if dt not in ("float32", "float64"):
            raise UnsupportedModelError(f"{what} {dt!r} cannot be written as native code")
    if b.leaf_dim > 1 and b.leaf_dim != n_out:
        raise UnsupportedModelError(f"vector leaves of length {b.leaf_dim} for {n_out} outputs")
    idt, adt = b.threshold_dtype, b.value_dtype
    if model.preprocessing:
        width = booster_width(model)
        common.update(n_features=width, steps=lower_steps(model, width), n_inputs=len(names))
    wide = adt != "float32" or bool(b.average)
    trees = tuple(_lower_tree(i, t, b, idt, adt) for i, t in enumerate(b.trees))
    if b.leaf_dim > 1:
        counts = tuple([len(trees)] * n_out)
    else:
        counts = tuple(int(c) for c in np.bincount(np.asarray(b.tree_output, np.int64), minlength=n_out)[:n_out])
    base_dt = adt if wide else "float32"
    total = sum(t.n_nodes for t in trees)
    depth = max((t.depth for t in trees), default=0)
    return Plan(kind="trees", shape=choose_shape(total_nodes=total, max_depth=depth, shape=shape,
                                                 max_unrolled_nodes=max_unrolled_nodes,
                                                 max_unrolled_depth=max_unrolled_depth),
                input_dtype=idt, acc_dtype=adt, wide=wide,
                comparison="<" if b.comparison is Comparison.LT else "<=", missing=_round(missing, idt),
                base_score=tuple(float(v) for v in np.asarray(model.base_score, dtype=base_dt).reshape(-1)),
                trees=trees, leaf_dim=int(b.leaf_dim), apply_tree_weight=bool(b.apply_tree_weight),
                average=bool(b.average), output_counts=counts,
                categories_in_set_go_left=bool(b.categories_in_set_go_left),
                invalid_category_goes_left=bool(b.invalid_category_goes_left), **common)


def _lower_linear64(model: Model, b: LinearBooster, common: dict) -> Plan:
    """The ``"linear64"`` plan: float64 input row, the steps, then ``d[o] = 0``, ``d[o] += x_j *
    w[j][o]`` for j in column order, ``d[o] += bias[o]``, ``d[o] += base[o]`` (each rounded to
    double, no fused multiply-add), margin ``float32(d)``; the link in double on ``d``
    (``core/ir/_links64.py``)."""
    n_out = common["n_outputs"]
    width = booster_width(model)
    steps = lower_steps(model, width)
    w = np.asarray(b.weights, dtype=np.float64).reshape(width, n_out)
    return Plan(kind="linear64", shape="arrays", input_dtype="float64", acc_dtype="float64", wide=True,
                comparison="<", missing=None,
                base_score=tuple(float(v) for v in np.asarray(model.base_score, np.float32).astype(np.float64).reshape(-1)),
                linear_weights=w, linear_bias=np.asarray(b.bias, dtype=np.float64).reshape(n_out),
                steps=steps, booster_width=width, **common)


def _round(x: float | None, dtype: str) -> float | None:
    return None if x is None else float(np.dtype(dtype).type(x))


def _lower_tree(index: int, t, ens: TreeEnsemble, idt: str, adt: str) -> TreePlan:
    n = int(t.left.size)
    left, right = np.asarray(t.left, np.int64), np.asarray(t.right, np.int64)
    # Iterative preorder (left first) with depths; a node seen twice means a cycle or a DAG.
    # Plain lists: indexing them is an order of magnitude faster than numpy scalars.
    lft, rgt = left.tolist(), right.tolist()
    order: list[int] = []
    seen = bytearray(n)
    stack = [(0, 0)] if n else []
    max_depth = 0
    while stack:
        i, d = stack.pop()
        if i < 0 or i >= n or seen[i]:
            raise UnsupportedModelError(f"tree {index}: node {i} is out of range or reached twice (not a tree)")
        seen[i] = 1
        order.append(i)
        if lft[i] >= 0:
            if d >= max_depth:
                max_depth = d + 1
            stack.append((rgt[i], d + 1))
            stack.append((lft[i], d + 1))
    old = np.asarray(order, dtype=np.int64)
    new_of = np.full(n, -1, dtype=np.int64)
    new_of[old] = np.arange(old.size)
    leaf = left[old] < 0
    nl = np.where(leaf, -1, new_of[np.where(leaf, 0, left[old])]).astype(np.int32)
    nr = np.where(leaf, -1, new_of[np.where(leaf, 0, right[old])]).astype(np.int32)
    is_cat = np.asarray(t.is_categorical, bool)[old] & ~leaf
    offs = np.asarray(t.cat_offsets, np.int64)
    cvals = np.asarray(t.cat_values, np.int64)
    new_offs = np.zeros(old.size + 1, dtype=np.int64)
    if is_cat.any():
        sets = [np.sort(cvals[offs[i]:offs[i + 1]]) if c else np.zeros(0, np.int64)
                for i, c in zip(old.tolist(), is_cat.tolist(), strict=True)]
        np.cumsum([s.size for s in sets], out=new_offs[1:])
        cat_values = np.concatenate(sets).astype(np.int32)
    else:
        cat_values = np.zeros(0, np.int32)
    if cat_values.size and (cat_values.min() < 0 or cat_values.max() >= MAX_CATEGORY):
        raise UnsupportedModelError(f"tree {index}: a category code outside [0, 2**24)")
    thr = np.where(leaf | is_cat, 0, np.asarray(t.threshold)[old]).astype(idt)
    value = np.asarray(t.value).reshape(n, -1)[old].astype(adt)
    value[~leaf] = 0
    weight = float(np.asarray(ens.tree_weight, dtype=np.float32)[index].astype(adt))
    return TreePlan(index=index, output=int(ens.tree_output[index]), weight=weight, left=nl, right=nr,
                    feature=np.where(leaf, 0, np.asarray(t.feature, np.int64)[old]).astype(np.int32),
                    threshold=thr, default_left=np.asarray(t.default_left, bool)[old].copy(),
                    is_categorical=is_cat, cat_offsets=new_offs, cat_values=cat_values, value=value,
                    depth=max_depth)


def walk(tree: TreePlan) -> Iterator[Event]:
    """The tree as nested if/else events, iteratively (no recursion): for a split ``i`` the
    events are ``if i`` ... (left subtree) ... ``else i`` ... (right subtree) ... ``end i``."""
    if tree.n_nodes == 0:
        return
    stack: list[tuple[int, int, int]] = [(0, 0, 0)]  # (node, depth, stage)
    left, right = tree.left, tree.right
    while stack:
        i, d, stage = stack.pop()
        if left[i] < 0:
            yield Event("leaf", i, d)
        elif stage == 0:
            yield Event("if", i, d)
            stack.append((i, d, 1))
            stack.append((int(left[i]), d + 1, 0))
        elif stage == 1:
            yield Event("else", i, d)
            stack.append((i, d, 2))
            stack.append((int(right[i]), d + 1, 0))
        else:
            yield Event("end", i, d)


def numeric_left_test(plan: Plan, tree: TreePlan, i: int) -> tuple[str, bool]:
    """``(op, negate)``: the row goes left iff ``x op thr`` (or ``not (x op thr)`` when
    ``negate``), NaN included: the negated form is used exactly when NaN goes left."""
    if tree.default_left[i]:
        return (">=" if plan.comparison == "<" else ">"), True
    return plan.comparison, False


def leaf_values(plan: Plan, tree: TreePlan) -> np.ndarray:
    """``[n_nodes, leaf_dim]`` in ``plan.acc_dtype``: what each leaf adds to the accumulator,
    the DART weight already applied (``leaf * weight`` rounded to ``acc_dtype``, exactly the
    product the evaluator forms before its sum) so emitters add one literal per leaf."""
    if not plan.apply_tree_weight:
        return tree.value
    dt = np.dtype(plan.acc_dtype).type
    return (tree.value * dt(tree.weight)).astype(plan.acc_dtype)


_NONFINITE = {
    "c": {("float32", "nan"): "NAN", ("float32", "inf"): "INFINITY", ("float32", "-inf"): "(-INFINITY)",
          ("float64", "nan"): "((double)NAN)", ("float64", "inf"): "((double)INFINITY)",
          ("float64", "-inf"): "(-(double)INFINITY)"},
    "python": {"nan": "_NAN", "inf": "_INF", "-inf": "(-_INF)"},
    "java": {("float32", "nan"): "Float.NaN", ("float32", "inf"): "Float.POSITIVE_INFINITY",
             ("float32", "-inf"): "Float.NEGATIVE_INFINITY", ("float64", "nan"): "Double.NaN",
             ("float64", "inf"): "Double.POSITIVE_INFINITY", ("float64", "-inf"): "Double.NEGATIVE_INFINITY"},
    "javascript": {"nan": "NaN", "inf": "Infinity", "-inf": "(-Infinity)"},
    "go": {("float32", "nan"): "float32(math.NaN())", ("float32", "inf"): "float32(math.Inf(1))",
           ("float32", "-inf"): "float32(math.Inf(-1))", ("float64", "nan"): "math.NaN()",
           ("float64", "inf"): "math.Inf(1)", ("float64", "-inf"): "math.Inf(-1)"},
    "rust": {("float32", "nan"): "f32::NAN", ("float32", "inf"): "f32::INFINITY",
             ("float32", "-inf"): "f32::NEG_INFINITY", ("float64", "nan"): "f64::NAN",
             ("float64", "inf"): "f64::INFINITY", ("float64", "-inf"): "f64::NEG_INFINITY"},
}
_SUFFIX = {("c", "float32"): "f", ("java", "float32"): "f", ("java", "float64"): "d",
           ("rust", "float32"): "f32", ("rust", "float64"): "f64"}


def number(x: float, dtype: str, lang: str) -> str:
    """A literal of ``x`` rounded to ``dtype`` that the language reads back bit for bit
    (:func:`float_literal` plus the language's type suffix and non-finite spelling; Go's
    untyped constants are exact and take their type from context; Python needs ``_NAN`` /
    ``_INF`` defined by the emitted module).  Negative values start with ``-``: emit them
    where a unary minus is allowed (initialisers, arguments, parenthesised)."""
    text = float_literal(x, dtype)
    if text in ("nan", "inf", "-inf"):
        table = _NONFINITE[lang]
        return table.get(text) or table[(dtype, text)]
    return text + _SUFFIX.get((lang, dtype), "")


def numbers(values, dtype: str, lang: str) -> list[str]:
    """:func:`number` for every element of ``values`` (fast: one ``repr`` per value)."""
    arr = np.asarray(values).astype(dtype).astype(np.float64).ravel()
    suffix = _SUFFIX.get((lang, dtype), "")
    out = [repr(v) + suffix for v in arr.tolist()]
    if not np.isfinite(arr).all():
        for k in np.flatnonzero(~np.isfinite(arr)).tolist():
            out[k] = number(float(arr[k]), dtype, lang)
    return out


def escape_string(s: str, lang: str) -> str:
    """``s`` as a double-quoted string literal of ``lang`` whose value is exactly ``s`` and
    whose source text is printable ASCII without any character that could end the literal,
    a comment, a line, or start an interpolation or a trigraph: only ``[A-Za-z0-9 _.-]`` and
    a few safe punctuation pass through, everything else is an escape.

    * C: UTF-8 bytes as 3-digit octal escapes (never greedy like ``\\x``, no trigraphs);
    * Python / JavaScript: ``\\xNN``, ``\\uNNNN`` (JavaScript: UTF-16 code units);
    * Java: octal escapes below 0x80 (a ``\\u0022`` would end the literal: Java decodes
      ``\\u`` before lexing), ``\\uNNNN`` UTF-16 code units above;
    * Go: UTF-8 bytes as ``\\xNN``;  Rust: ``\\u{N}`` per code point.

    Lone surrogates (not valid Unicode text) are refused with UnsupportedModelError except in
    Python, Java and JavaScript, whose strings can hold them."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}")
    out = ['"']
    for ch in s:
        cp = ord(ch)
        if ch in _PLAIN:
            out.append(ch)
        elif lang == "c" or lang == "go":
            data = _utf8(ch, lang)
            out.extend((f"\\{b:03o}" if lang == "c" else f"\\x{b:02x}") for b in data)
        elif lang == "python":
            out.append(f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}")
        elif lang == "java" and cp < 0x80:
            out.append(f"\\{cp:03o}")
        elif lang in ("java", "javascript"):
            units = ch.encode("utf-16-be", "surrogatepass")
            out.extend(f"\\u{units[k]:02x}{units[k + 1]:02x}" for k in range(0, len(units), 2))
        else:  # rust
            if 0xD800 <= cp < 0xE000:
                raise UnsupportedModelError("a feature name holds a lone surrogate, which Rust strings cannot")
            out.append(f"\\u{{{cp:x}}}")
    out.append('"')
    return "".join(out)


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.-:,;=+()[]<>!@^&|~")


def _utf8(ch: str, lang: str) -> bytes:
    try:
        return ch.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsupportedModelError(f"a feature name holds a lone surrogate, which {lang} source cannot carry") from None


def identifier(prefix: str, index: int) -> str:
    """A generated identifier such as ``tree_17``: ``prefix`` must already be a plain ASCII
    identifier chosen by the emitter (never derived from model text)."""
    if not prefix.isidentifier() or not prefix.isascii():
        raise ValueError(f"not a plain identifier prefix: {prefix!r}")
    return f"{prefix}_{int(index)}"
