"""The dense (complete-tree) node layout of the C target's ``arrays`` shape.

Each tree is padded to a complete binary tree of its group's depth (``GROUP`` consecutive
trees share one depth) and stored level by level: the children of heap node ``i`` are
``2i + 1`` and ``2i + 2``, so a step needs no child pointers; a leaf above the bottom level
becomes a pass-through node whose two subtrees both end in copies of the leaf (whatever the
test, the row reaches the same value).  A step is then one node load, one feature load, the
comparison and ``i = 2i + 2 - left``, branch free.  Used when the padding stays small
(:func:`dense_ok`); otherwise the C target keeps explicit child indices.
"""

from __future__ import annotations

import numpy as np

from modelport.converters.targets.native import _c_blob
from modelport.converters.targets.native import lower as L

__all__ = ["dense_ok", "dense_code", "MAX_DENSE_DEPTH"]

#: Deepest group a dense layout is built for (2**depth leaves per tree).
MAX_DENSE_DEPTH = 12


def _group_depths(plan: L.Plan, group: int) -> list[int]:
    d = [t.depth for t in plan.trees]
    return [max(d[k:k + group]) for k in range(0, len(d), group)]


def dense_ok(plan: L.Plan, group: int) -> bool:
    """True when padding every tree to its group's depth costs at most 4x the real nodes."""
    if not plan.trees:
        return False
    gd = _group_depths(plan, group)
    if max(gd) > MAX_DENSE_DEPTH:
        return False
    padded = sum(2 ** (gd[k // group] + 1) for k in range(len(plan.trees)))
    return padded <= 4 * plan.total_nodes + 1024


def _heap(t: L.TreePlan, depth: int, set_ids: dict[int, int], plan: L.Plan):
    """(thr, info) of the 2**depth - 1 internal heap nodes and the 2**depth leaf rows."""
    cur = np.zeros(1, dtype=np.int64)
    thr, info = [], []
    cat_id = np.full(t.n_nodes, -1, dtype=np.int64)
    for i, k in set_ids.items():
        cat_id[i] = k
    for _ in range(depth):
        leaf = t.left[cur] < 0
        is_cat = t.is_categorical[cur] & ~leaf
        th = np.where(leaf, 0, t.threshold[cur]).astype(plan.input_dtype)
        th = np.where(is_cat, cat_id[cur], th).astype(plan.input_dtype)
        inf = np.where(leaf, 0, (t.feature[cur].astype(np.int64) << 2) | (is_cat.astype(np.int64) << 1)
                       | t.default_left[cur].astype(np.int64))
        thr.append(th)
        info.append(inf)
        lft = np.where(leaf, cur, t.left[cur])
        rgt = np.where(leaf, cur, t.right[cur])
        cur = np.stack([lft, rgt], axis=1).ravel()
    thr_a = np.concatenate(thr) if thr else np.zeros(0, plan.input_dtype)
    info_a = np.concatenate(info) if info else np.zeros(0, np.int64)
    return thr_a, info_a, L.leaf_values(plan, t)[cur]


_SPLIT = """\
/* The row twice per feature: [2j] with NaN -> -inf (default-left nodes read it), [2j + 1]
 * with NaN -> +inf (default-right nodes). */
static void mp_split(const mp_in_t *src, mp_in_t *dst) {
  int j;
  for (j = 0; j < NF; j++) {
    mp_in_t v = src[j];
    dst[2 * j] = v != v ? -(mp_in_t)INFINITY : v;
    dst[2 * j + 1] = v != v ? (mp_in_t)INFINITY : v;
  }
}
#define MP_SPLIT(dst, src) mp_in_t dst##_2[2 * NFA]; const mp_in_t *dst = (mp_split((src), dst##_2), dst##_2)

"""


def _tables(plan: L.Plan, nodes: list, values: list, nb: int) -> str:
    """``mp_h`` (struct {thr, info}) and ``mp_hv`` (leaf values), readable or as blobs."""
    thr = np.concatenate([t for t, _ in nodes]) if nodes else np.zeros(0, plan.input_dtype)
    info = np.concatenate([i for _, i in nodes]) if nodes else np.zeros(0, np.int64)
    vals = np.concatenate([v.reshape(-1) for v in values]) if values else np.zeros(0, plan.acc_dtype)
    idt = np.dtype(plan.input_dtype).newbyteorder("<")

    def image() -> np.ndarray:
        rec = np.zeros(thr.size, dtype=np.dtype([("thr", idt), ("info", "<i4")], align=True))
        rec["thr"], rec["info"] = thr, info
        return rec

    def items() -> list[str]:
        lits = L.numbers(thr, plan.input_dtype, "c")
        return [f"{{{a},{b}}}" for a, b in zip(lits, info.tolist(), strict=True)]

    return (_c_blob.table("mp_h", "mp_hnode", nb, items, image, empty="{0,0}")
            + _c_blob.table("mp_hv", "mp_acc_t", vals.size, lambda: L.numbers(vals, plan.acc_dtype, "c"),
                            lambda: vals.astype(np.dtype(plan.acc_dtype).newbyteorder("<"))))


def _decl(name: str, n: int) -> str:
    return ", ".join(f"{name}{k}" for k in range(n))


def _row_walkers(gd: list[int], nt: int, group: int) -> str:
    """``mp_walk_D`` for each depth D of a full group, and ``mp_walk_group`` dispatching on the
    depth.  A full group's trees are contiguous complete trees of 2**D - 1 nodes, so lane g's
    nodes start at the constant offset g * (2**D - 1): one register per lane (its node index),
    no per-lane pointers, and ``group`` independent load chains hide each other's latency."""
    depths = sorted({gd[k] for k in range(nt // group)})
    out = []
    for dep in depths:
        size = (1 << dep) - 1
        out.append(f"static void mp_walk_{dep}(const mp_hnode *h, const mp_in_t *x, int32_t *leaf) {{\n"
                   f"  size_t {', '.join(f'i{g} = 0' for g in range(group))}; int d;\n"
                   f"  for (d = 0; d < {dep}; d++) {{\n"
                   + "".join(f"    MP_STEP(h + {g * size}, i{g}, x);\n" for g in range(group)) + "  }\n"
                   + "".join(f"  leaf[{g}] = (int32_t)i{g} - {size};\n" for g in range(group)) + "}\n\n")
    cases = "".join(f"    case {dep}: mp_walk_{dep}(h, x, leaf); break;\n" for dep in depths)
    out.append("/* The leaf reached in each of GROUP consecutive trees of one depth (offsets from the\n"
               " * first leaf of each tree). */\n"
               "static void mp_walk_group(int32_t depth, const mp_hnode *h, const mp_in_t *x, int32_t *leaf) {\n"
               f"  switch (depth) {{\n{cases}    default: (void)h; (void)x; (void)leaf; break;\n  }}\n}}\n\n")
    return "".join(out)


def dense_code(plan: L.Plan, set_ids: list[dict[int, int]], *, group: int, lanes: int) -> str:
    """C defining ``mp_acc_row`` (one row, ``group`` trees in lock step) and ``mp_acc_lanes``
    (``lanes`` rows in lock step per tree) over the dense layout."""
    gd = _group_depths(plan, group)
    nodes, values, hbase, vbase, outs = [], [], [], [], []
    nb = vb = 0
    ld = plan.leaf_dim
    fast = not plan.has_categorical and all(bool(np.isfinite(t.threshold).all()) for t in plan.trees)
    for k, (t, ids) in enumerate(zip(plan.trees, set_ids, strict=True)):
        thr, info, vals = _heap(t, gd[k // group], ids, plan)
        if fast:  # feature << 2 | dl  ->  2 * feature + (1 - dl); pass-through nodes read anything
            info = 2 * (info >> 2) + 1 - (info & 1)
        nodes.append((thr, info))
        values.append(vals)
        hbase.append(nb)
        vbase.append(vb)
        outs.append(t.output)
        nb += thr.size
        vb += vals.shape[0] * ld
    nt = len(plan.trees)
    cmp = plan.comparison
    if fast:
        # NaN was replaced by -inf in the default-left copy and +inf in the default-right
        # copy of the row: with finite thresholds, one comparison decides, NaN included.
        step = f"(i) = 2 * (i) + 1 + ((x)[n_->info] {'>=' if cmp == '<' else '>'} n_->thr);"
    elif plan.has_categorical:
        test = (f"(n->info & 2) ? mp_cat_left(v, n->info & 1, (int32_t)n->thr)"
                f" : ((v {cmp} n->thr) | ((n->info & 1) & (v != v)))")
    else:
        test = f"(v {cmp} n->thr) | ((n->info & 1) & (v != v))"
    if not fast:
        step = f"mp_in_t v = (x)[n_->info >> 2]; int l = {test.replace('n->', 'n_->')}; (i) = 2 * (i) + 2 - l;"
    if ld == 1:
        add_g = "acc[mp_tree_out[t + g]] += mp_hv[mp_vbase[t + g] + leaf];"
        add_k = "accs[k * NO + mp_tree_out[t]] += mp_hv[mp_vbase[t] + leaf];"
    else:
        add_g = f"for (o = 0; o < NO; o++) acc[o] += mp_hv[mp_vbase[t + g] + leaf * {ld} + o];"
        add_k = f"for (o = 0; o < NO; o++) accs[k * NO + o] += mp_hv[mp_vbase[t] + leaf * {ld} + o];"
    arr = lambda xs: ", ".join(map(str, xs)) or "0"  # noqa: E731
    return (
        "typedef struct { mp_in_t thr; uint32_t info; } mp_hnode;\n"
        "/* Complete trees, level order (children of i: 2i+1, 2i+2); info = feature << 2 |\n"
        " * categorical << 1 | default_left; categorical nodes keep their set id in thr. */\n"
        + _tables(plan, nodes, values, nb) +
        f"static const int32_t mp_hbase[{max(1, nt)}] = {{{arr(hbase)}}};\n"
        f"static const int32_t mp_vbase[{max(1, nt)}] = {{{arr(vbase)}}};\n"
        + (f"static const int32_t mp_tree_out[{max(1, nt)}] = {{{arr(outs)}}};\n" if ld == 1 else "") +
        f"static const int32_t mp_gdepth[{max(1, len(gd))}] = {{{arr(gd)}}};\n"
        f"#define NT {nt}\n#define GROUP {group}\n\n"
        f"#define MP_STEP(h, i, x) do {{ const mp_hnode *n_ = (h) + (i); {step} }} while (0)\n\n"
        + (_SPLIT if fast else "#define MP_SPLIT(dst, src) const mp_in_t *dst = (src)\n\n")
        + _row_walkers(gd, len(plan.trees), group) +
        "/* One row: each full group's GROUP trees in lock step (mp_walk_group), then the\n"
        " * last, partial group with per-tree node pointers (its missing lanes repeat its last\n"
        " * tree); only the walks interleave: leaves are added one by one in tree order. */\n"
        "static void mp_acc_row(const mp_in_t *x_in, mp_acc_t *acc) {\n"
        "  MP_SPLIT(x, x_in);\n"
        f"  int32_t t, leaf, {_decl('i', group)}; int g, m, d, depth, o; const mp_hnode {_decl('*h', group)}; (void)o;\n"
        "  int32_t idx[GROUP];\n"
        "  for (t = 0; t + GROUP <= NT; t += GROUP) {\n"
        "    depth = mp_gdepth[t / GROUP];\n"
        "    mp_walk_group(depth, mp_h + mp_hbase[t], x, idx);\n"
        f"    for (g = 0; g < GROUP; g++) {{ leaf = idx[g]; {add_g} }}\n  }}\n"
        "  if (t < NT) {\n"
        "    m = NT - t;\n    depth = mp_gdepth[t / GROUP];\n"
        + "".join(f"    h{g} = mp_h + mp_hbase[t + ({g} < m ? {g} : m - 1)]; i{g} = 0;\n" for g in range(group)) +
        "    for (d = 0; d < depth; d++) {\n"
        + "".join(f"      MP_STEP(h{g}, i{g}, x);\n" for g in range(group)) + "    }\n"
        + "".join(f"    idx[{g}] = i{g};\n" for g in range(group)) +
        f"    for (g = 0; g < m; g++) {{ leaf = idx[g] - ((1 << depth) - 1); {add_g} }}\n  }}\n}}\n\n"
        "/* LANES rows walk each tree in lock step (callers pad the rows to LANES). */\n"
        "static void mp_acc_lanes(const mp_in_t *const *xs, int m, mp_acc_t *accs) {\n"
        f"  int32_t t, leaf; size_t {_decl('i', lanes)}; int k, d, depth, o; const mp_hnode *h; (void)o;\n"
        + "".join(f"  MP_SPLIT(x{k}, xs[{k}]);\n" for k in range(lanes)) +
        "  for (t = 0; t < NT; t++) {\n"
        "    int32_t idx[LANES];\n"
        "    depth = mp_gdepth[t / GROUP]; h = mp_h + mp_hbase[t];\n"
        + "".join(f"    i{k} = 0;\n" for k in range(lanes)) +
        "    for (d = 0; d < depth; d++) {\n"
        + "".join(f"      MP_STEP(h, i{k}, x{k});\n" for k in range(lanes)) + "    }\n"
        + "".join(f"    idx[{k}] = (int32_t)i{k};\n" for k in range(lanes)) +
        f"    for (k = 0; k < m; k++) {{ leaf = idx[k] - ((1 << depth) - 1); {add_k} }}\n  }}\n}}\n\n"
        "#define MP_HAVE_LANES 1\n#define MP_PAD_LANES 1\n\n")
