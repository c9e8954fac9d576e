"""What the Java, JavaScript, Go and Rust emitters share on top of :mod:`.lower`: the
unrolled if/else body of a tree spelled for a C-family language, the category sets, and the
``arrays`` shape's node tables packed into ONE little-endian binary blob carried as base64
text (parsing a string literal is cheap for every compiler, where a literal array of millions
of numbers takes javac past the 64 KB limit of a static initialiser and rustc / the Go
compiler over a minute).

Blob layout: named sections, each 8-byte aligned, int32 or float32/float64 little-endian;
:class:`Blob` records each section's byte offset and element count for the emitter.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import numpy as np

from modelport.converters.targets.native import lower as L

__all__ = ["Blob", "CatSets", "cat_sets", "unrolled_body", "node_tables", "base64_chunks", "n_predictions"]


def n_predictions(plan: L.Plan) -> int:
    """Columns of the link's output: 1 for multi:softmax (the class index), else n_outputs."""
    return 1 if plan.post_transform == "softmax_label" else plan.n_outputs


@dataclass(frozen=True)
class CatSets:
    """Every categorical split's sorted code set, concatenated: set ``s`` is
    ``codes[offsets[s]:offsets[s + 1]]``; ``ids[t][node]`` is the set of node ``node`` of tree ``t``."""

    offsets: list[int]
    codes: list[int]
    ids: list[dict[int, int]]


def cat_sets(plan: L.Plan) -> CatSets:
    """The category sets of ``plan`` (empty lists when no split is categorical)."""
    offs, codes, ids = [0], [], []
    for t in plan.trees:
        mine = {}
        for i in np.flatnonzero(t.is_categorical).tolist():
            mine[i] = len(offs) - 1
            codes.extend(t.categories(i))
            offs.append(len(codes))
        ids.append(mine)
    return CatSets(offs, codes, ids)


def unrolled_body(plan: L.Plan, t: L.TreePlan, lang: str, set_ids: dict[int, int], *, indent: str = "    ",
                  parens: bool = True, cat_call: str = "catLeft", leaf=None) -> list[str]:
    """Lines of nested ``if``/``else`` for tree ``t``: a split tests ``x[f]`` (the row with the
    sentinel already replaced by NaN) against its threshold as :func:`.lower.numeric_left_test`
    says, or calls ``cat_call(x[f], default_left, set_id)``; a leaf does ``acc[o] += literal``
    (or ``leaf(o, literal)`` when given).  ``parens``: wrap conditions in parentheses (Java,
    JavaScript) or not (Go, Rust)."""
    if t.n_nodes == 0:
        return []
    vals = L.leaf_values(plan, t)
    thr = L.numbers(t.threshold, plan.input_dtype, lang)
    add = leaf or (lambda o, lit: f"acc[{o}] += {lit};")
    out = []
    for ev in L.walk(t):
        pad = indent * (ev.depth + 1)
        i = ev.node
        if ev.kind == "leaf":
            lits = L.numbers(vals[i], plan.acc_dtype, lang)
            if t.output >= 0:
                out.append(pad + add(t.output, lits[0]))
            else:
                out.append(pad + " ".join(add(k, v) for k, v in enumerate(lits)))
        elif ev.kind == "if":
            f = int(t.feature[i])
            if t.is_categorical[i]:
                cond = f"{cat_call}(x[{f}], {'true' if t.default_left[i] else 'false'}, {set_ids[i]})"
            else:
                op, neg = L.numeric_left_test(plan, t, i)
                cond = f"!(x[{f}] {op} {thr[i]})" if neg else f"x[{f}] {op} {thr[i]}"
            out.append(f"{pad}if ({cond}) {{" if parens else f"{pad}if {cond} {{")
        elif ev.kind == "else":
            out.append(pad + "} else {")
        else:
            out.append(pad + "}")
    return out


@dataclass
class Blob:
    """Sections of little-endian numbers packed into one byte string (8-byte aligned)."""

    data: bytearray = field(default_factory=bytearray)
    sections: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    """name -> (byte offset, element count, dtype: ``"int32"``, ``"float32"`` or ``"float64"``)."""

    def add(self, name: str, values, dtype: str) -> None:
        """Append ``values`` as a section of ``dtype`` (an empty section still gets an entry)."""
        arr = np.ascontiguousarray(np.asarray(values).astype(dtype).ravel(), dtype=np.dtype(dtype).newbyteorder("<"))
        self.sections[name] = (len(self.data), int(arr.size), dtype)
        self.data += arr.tobytes()
        self.data += b"\0" * (-len(self.data) % 8)

    def b64(self) -> str:
        """The blob as standard base64 (``A-Za-z0-9+/=``: nothing that needs escaping in any
        string literal)."""
        return base64.b64encode(bytes(self.data)).decode("ascii")


def base64_chunks(text: str, size: int) -> list[str]:
    """``text`` cut into pieces of at most ``size`` characters, each a multiple of 4 (so every
    piece is valid base64 by itself and the concatenation decodes to the same bytes)."""
    size -= size % 4
    return [text[k:k + size] for k in range(0, len(text), size)] or [""]


def node_tables(plan: L.Plan, cats: CatSets) -> tuple[Blob, int]:
    """The ``arrays`` shape as a :class:`Blob` and the total node count.  Nodes of all trees are
    numbered globally in tree order (preorder within a tree); a leaf's left and right children
    are itself.  Sections: ``thr`` (input dtype; a categorical split holds its set id there),
    ``left``, ``right``, ``info`` (``feature << 2 | categorical << 1 | default_left``), ``values``
    (acc dtype, ``leaf_dim`` per node, DART weight applied), ``roots`` and ``outs`` (per tree),
    ``cat_off`` and ``cat_codes`` (see :class:`CatSets`)."""
    thr, left, right, info, values, roots, outs = [], [], [], [], [], [], []
    base = 0
    for t, ids in zip(plan.trees, cats.ids, strict=True):
        n = t.n_nodes
        own = np.arange(base, base + n, dtype=np.int64)
        leaf = t.left < 0
        left.append(np.where(leaf, own, t.left.astype(np.int64) + base))
        right.append(np.where(leaf, own, t.right.astype(np.int64) + base))
        th = t.threshold.astype(plan.input_dtype).copy()
        for i, k in ids.items():
            th[i] = k
        thr.append(th)
        inf = (t.feature.astype(np.int64) << 2) | (t.is_categorical.astype(np.int64) << 1) | t.default_left.astype(np.int64)
        info.append(np.where(leaf, 0, inf))
        values.append(L.leaf_values(plan, t).reshape(-1))
        roots.append(base)
        outs.append(t.output)
        base += n
    blob = Blob()
    cat = lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt)  # noqa: E731
    blob.add("thr", cat(thr, plan.input_dtype), plan.input_dtype)
    blob.add("left", cat(left, np.int64), "int32")
    blob.add("right", cat(right, np.int64), "int32")
    blob.add("info", cat(info, np.int64), "int32")
    blob.add("values", cat(values, plan.acc_dtype), plan.acc_dtype)
    blob.add("roots", np.asarray(roots, np.int64), "int32")
    blob.add("outs", np.asarray(outs, np.int64), "int32")
    blob.add("cat_off", np.asarray(cats.offsets, np.int64), "int32")
    blob.add("cat_codes", np.asarray(cats.codes, np.int64), "int32")
    if base >= 2**31 // 4 or plan.n_features >= 2**29:
        from modelport.core.errors import UnsupportedModelError

        raise UnsupportedModelError(f"{base} nodes / {plan.n_features} features exceed the 32-bit node tables")
    return blob, base
