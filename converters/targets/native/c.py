"""The ``c`` target: the model as dependency-free C99 (a bundle: ``model.h`` + ``model.c``).

The generated code needs libc and ``math.h`` only.  Entry points (``model.h``)::

    int modelport_predict_margin(const mp_input_t *row, float *margin);   /* n_outputs floats */
    int modelport_predict(const mp_input_t *row, float *out);             /* N_PREDICTIONS floats */
    int modelport_predict_margin_batch(const mp_input_t *rows, size_t n, float *margins);
    int modelport_predict_batch(const mp_input_t *rows, size_t n, float *out);

``mp_input_t`` is ``float`` (``double`` for models that compare in float64).  Margins equal the
reference evaluator (``core/ir/evaluate.py``) bit for bit provided the code is compiled without
floating-point contraction or fast-math: ``cc -std=c99 -O2 -ffp-contract=off`` (docs/native.md).
Float semantics and code shapes: :mod:`.lower`.  The batch entries interleave
:data:`LANES` rows per tree in the ``arrays`` shape, which hides the latency of the node loads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelport.converters.targets import BUNDLE, TARGETS, Target, WriteOptions
from modelport.converters.targets.native import _c_blob, _c_dense, _c_linear64
from modelport.converters.targets.native import _linear64 as L64
from modelport.converters.targets.native import lower as L
from modelport.core.contract import artifact_metadata, write_manifest
from modelport.core.ir.model import Model, TreeEnsemble
from modelport.core.tolerances import ulps
from modelport.core.toolchains import CC
from modelport.runtimes.native.c import CFLAGS  # the flags the runtime verifies with

__all__ = ["generate_c", "write_c", "input_dtype", "CFLAGS", "LANES", "MARGIN_TOLERANCE", "LINK_TOLERANCE"]

#: Rows walked together per tree by the batch entry points (arrays shape): 12 independent
#: walks, each one register (measured on a 100-tree depth-6 model, C alone: 8 rows 0.74 us per
#: row, 12 rows 0.56 us).
LANES = 12
#: Stack bytes the batch walk may spend on its rows' copies (the row, its sentinel-free copy and
#: the NaN-split copy, per lane; worker threads have 8 MiB stacks by default): models with tens
#: of thousands of features walk fewer rows at a time.
LANE_STACK_BYTES = 1 << 20
#: Trees walked together for one row (arrays shape): independent load chains hide each other's
#: latency; 10 node indices still fit in x86-64's registers (measured on a 100-tree depth-6
#: model, C alone: 8 trees with per-tree pointers 1.15 us per row, 10 at constant offsets 0.90).
GROUP = 10
#: ``shape="auto"`` unrolls only models this small: the branch-free arrays walk is faster as
#: soon as branches stop being predictable (measured on a 100-tree depth-6 model: unrolled
#: 1.9 us per row and 0.6x XGBoost's batch speed, arrays 1.2 us and 2x).
UNROLLED_MAX_NODES = 2_000

MARGIN_TOLERANCE = ulps("c-margin", 0, "the generated C adds the same float32 values in the evaluator's order "
                        "and compiles without FMA contraction or fast-math",
                        "code review of the lowering (native/lower.py); measured 0 ULP on every XGBoost case")
LINK_TOLERANCE = ulps("c-link", 0, "links use XGBoost's float32 formulas with exp in double rounded once, "
                      "as the evaluator (glibc exp and numpy's agree to the double; a 1-ULP double difference "
                      "moves the float32 rounding only at a half-way point)",
                      "measured 0 ULP on every XGBoost case (tests/test_native_c_python.py)")


def _lanes(plan: L.Plan) -> int:
    per_row = 3 * max(1, plan.n_features) * (8 if plan.input_dtype == "float64" else 4)
    return max(1, min(LANES, LANE_STACK_BYTES // per_row))


def _ctype(dtype: str) -> str:
    return "float" if dtype == "float32" else "double"


def generate_c(model: Model, *, shape: str = "auto") -> dict[str, str]:
    """``{"model.h": ..., "model.c": ...}`` for ``model`` in the given code shape."""
    return _generate(L.lower(model, shape=shape, max_unrolled_nodes=UNROLLED_MAX_NODES))


def _generate(plan: L.Plan) -> dict[str, str]:
    n_pred = 1 if plan.post_transform == "softmax_label" else plan.n_outputs
    if plan.kind == "linear64":
        return _c_linear64.generate(plan, _HEADER.format(nf=plan.row_width, no=plan.n_outputs, npred=n_pred,
                                                         intype="double"))
    header = _HEADER.format(nf=plan.row_width, no=plan.n_outputs, npred=n_pred, intype=_ctype(plan.row_dtype))
    src = [_PRELUDE.format(intype=_ctype(plan.input_dtype), acc=_ctype(plan.acc_dtype),
                           nf=plan.n_features, no=plan.n_outputs, nfa=max(1, plan.n_features), lanes=_lanes(plan))]
    names = "".join(L.escape_string(n, "c") + ",\n  " for n in plan.feature_names)
    src.append(f"const char *const modelport_feature_names[MODELPORT_N_FEATURES + 1] = {{\n  {names}0\n}};\n")
    src.append(_missing_code(plan))
    if plan.kind == "linear":
        src.append(_linear_code(plan))
    else:
        if plan.has_categorical:
            src.append(_cat_code(plan))
        src.append(_arrays_code(plan) if plan.shape == "arrays" else _unrolled_code(plan))
    src.append(_finish_code(plan))
    src.append(_transform_code(plan))
    if plan.steps:  # a pipeline: the entries above become internal, the public ones preprocess first
        src.append(_ENTRIES.replace("mp_input_t", "mp_in_t").replace("int modelport_", "static int mp_inner_")
                   .replace("modelport_predict_margin_batch(", "mp_inner_predict_margin_batch("))
        src.append(_c_linear64.prep_entries(plan))
    else:
        src.append(_ENTRIES)
    return {"model.h": header, "model.c": "".join(src)}


def write_c(model: Model, out_path: Path, options: WriteOptions, *, shape: str | None = None) -> None:
    """Write the bundle directory ``out_path`` (model.h, model.c, modelport.json).  ``shape``
    (or ``options.code_shape`` when present) picks ``"unrolled"``/``"arrays"``; default auto."""
    shape = shape or getattr(options, "code_shape", None) or "auto"
    plan = L.lower(model, shape=shape, max_unrolled_nodes=UNROLLED_MAX_NODES)
    files = _generate(plan)
    out = Path(out_path)
    out.mkdir(parents=True, exist_ok=False)
    for name, text in files.items():
        (out / name).write_text(text, encoding="ascii")
    write_manifest(out, format="c", runtime="c", entry="model.c",
                   metadata=artifact_metadata(model, extra={"input_type": plan.row_dtype, "code_shape": plan.shape}))


def input_dtype(model: Model) -> str:
    """``"float32"``, or ``"float64"`` for ensembles that compare in float64 and for float64
    linear models (``mp_input_t``)."""
    b = model.booster
    if model.preprocessing:
        return "float64"
    if isinstance(b, TreeEnsemble):
        return "float64" if b.threshold_dtype == "float64" else "float32"
    return "float64" if getattr(b, "value_dtype", "float32") == "float64" else "float32"


_HEADER = """\
/* Generated by modelport: a tree-ensemble model as plain C99 (libc + math.h only).
 * Compile without floating-point contraction or fast-math so that margins are bit-exact:
 *   cc -std=c99 -O2 -ffp-contract=off -c model.c
 * All functions return 0. */
#ifndef MODELPORT_MODEL_H
#define MODELPORT_MODEL_H
#include <stddef.h>

#define MODELPORT_N_FEATURES {nf}
#define MODELPORT_N_OUTPUTS {no}
#define MODELPORT_N_PREDICTIONS {npred}
typedef {intype} mp_input_t;

/* Feature names in column order, NULL-terminated. */
extern const char *const modelport_feature_names[MODELPORT_N_FEATURES + 1];

/* One row of MODELPORT_N_FEATURES values (NaN = missing) -> MODELPORT_N_OUTPUTS margins. */
int modelport_predict_margin(const mp_input_t *row, float *margin);
/* One row -> MODELPORT_N_PREDICTIONS values: the model's link applied to the margins. */
int modelport_predict(const mp_input_t *row, float *out);
/* n rows, row-major -> n * MODELPORT_N_OUTPUTS margins / n * MODELPORT_N_PREDICTIONS values. */
int modelport_predict_margin_batch(const mp_input_t *rows, size_t n, float *margins);
int modelport_predict_batch(const mp_input_t *rows, size_t n, float *out);

#endif
"""

_PRELUDE = """\
/* Generated by modelport.  Do not edit: regenerate from the model.
 * Exactness needs: -std=c99 -ffp-contract=off, no -ffast-math (see model.h). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "model.h"

typedef {intype} mp_in_t;
typedef {acc} mp_acc_t;
#define NF {nf}
#define NO {no}
#define NFA {nfa}
#define LANES {lanes}
""" + _c_blob.ENDIAN_GUARD.replace("{", "{{").replace("}", "}}") + """
"""


def _missing_code(plan: L.Plan) -> str:
    """``mp_row``: the row as the trees see it (the sentinel replaced by NaN)."""
    if plan.missing is None:
        return "#define MP_ROW(dst, src) const mp_in_t *dst = (src)\n\n"
    lit = L.number(plan.missing, plan.input_dtype, "c")
    return (f"static const mp_in_t *mp_row(const mp_in_t *src, mp_in_t *buf) {{\n"
            f"  int j;\n  for (j = 0; j < NF; j++) buf[j] = (src[j] == {lit}) ? (mp_in_t)NAN : src[j];\n"
            f"  return buf;\n}}\n"
            f"#define MP_ROW(dst, src) mp_in_t dst##_buf[NFA]; const mp_in_t *dst = mp_row((src), dst##_buf)\n\n")


def _cat_code(plan: L.Plan) -> str:
    sets, offs = [], [0]
    for t in plan.trees:
        for i in np.flatnonzero(t.is_categorical).tolist():
            sets.extend(t.categories(i))
            offs.append(len(sets))
    codes = ", ".join(map(str, sets)) or "0"
    return (f"static const int32_t mp_cat_off[] = {{{', '.join(map(str, offs))}}};\n"
            f"static const int32_t mp_cat_codes[] = {{{codes}}};\n"
            "/* Categorical split: NaN -> default; outside [0, 2**24) -> invalid side; else the value\n"
            " * truncated toward zero is looked up in the node's sorted set. */\n"
            "static int mp_cat_left(mp_in_t v, int default_left, int32_t set) {\n"
            "  int32_t lo, hi, c;\n"
            "  if (v != v) return default_left;\n"
            f"  if (!(v >= 0) || !(v < (mp_in_t)16777216)) return {int(plan.invalid_category_goes_left)};\n"
            "  c = (int32_t)v;\n  lo = mp_cat_off[set]; hi = mp_cat_off[set + 1];\n"
            "  while (lo < hi) { int32_t mid = lo + (hi - lo) / 2;\n"
            "    if (mp_cat_codes[mid] < c) lo = mid + 1; else hi = mid; }\n"
            f"  return (lo < mp_cat_off[set + 1] && mp_cat_codes[lo] == c) == {int(plan.categories_in_set_go_left)};\n"
            "}\n\n")


def _cat_set_ids(plan: L.Plan) -> list[dict[int, int]]:
    out, k = [], 0
    for t in plan.trees:
        ids = {}
        for i in np.flatnonzero(t.is_categorical).tolist():
            ids[i] = k
            k += 1
        out.append(ids)
    return out


def _init_acc(plan: L.Plan, var: str) -> str:
    if plan.wide:
        return f"  for (o = 0; o < NO; o++) {var}[o] = 0;\n"
    return "".join(f"  {var}[{o}] = {L.number(b, 'float32', 'c')};\n" for o, b in enumerate(plan.base_score))


def _unrolled_code(plan: L.Plan) -> str:
    """One function per tree (nested if/else, the leaf adding its literal to ``acc``), called in
    order through a table: each function is compiled alone, so compile time stays linear."""
    out = []
    setids = _cat_set_ids(plan)
    for t, ids in zip(plan.trees, setids, strict=True):
        vals = L.leaf_values(plan, t)
        thr = L.numbers(t.threshold, plan.input_dtype, "c")
        out.append(f"static void mp_tree_{t.index}(const mp_in_t *x, mp_acc_t *acc) {{\n")
        for ev in L.walk(t):
            pad = "  " * (ev.depth + 1)
            i = ev.node
            if ev.kind == "leaf":
                out.append(pad + _leaf_add(plan, t, vals[i], "acc") + "\n")
            elif ev.kind == "if":
                f = int(t.feature[i])
                if t.is_categorical[i]:
                    cond = f"mp_cat_left(x[{f}], {int(t.default_left[i])}, {ids[i]})"
                else:
                    op, neg = L.numeric_left_test(plan, t, i)
                    cond = f"!(x[{f}] {op} {thr[i]})" if neg else f"x[{f}] {op} {thr[i]}"
                out.append(f"{pad}if ({cond}) {{\n")
            elif ev.kind == "else":
                out.append(pad + "} else {\n")
            else:
                out.append(pad + "}\n")
        out.append("}\n\n")
    nt = len(plan.trees)
    table = ", ".join(f"mp_tree_{t.index}" for t in plan.trees) or "0"
    out.append("typedef void (*mp_tree_fn)(const mp_in_t *, mp_acc_t *);\n"
               f"static const mp_tree_fn mp_trees[{max(1, nt)}] = {{{table}}};\n"
               "static void mp_acc_row(const mp_in_t *x, mp_acc_t *acc) {\n"
               f"  int t;\n  for (t = 0; t < {nt}; t++) mp_trees[t](x, acc);\n}}\n\n")
    return "".join(out)


def _leaf_add(plan: L.Plan, t: L.TreePlan, vals, acc: str) -> str:
    lits = L.numbers(vals, plan.acc_dtype, "c")
    if t.output >= 0:
        return f"{acc}[{t.output}] += {lits[0]};"
    return " ".join(f"{acc}[{k}] += {v};" for k, v in enumerate(lits))


def _arrays_code(plan: L.Plan) -> str:
    """Node arrays and two branch-free walkers: GROUP trees of one row in lock step, and LANES
    rows of one tree in lock step (the batch entry).  Complete-tree (dense) layout when the
    padding is small (:mod:`._c_dense`), else preorder nodes with explicit children (a leaf's
    children are itself, so walking past a leaf stays on it)."""
    if _c_dense.dense_ok(plan, GROUP):
        return _c_dense.dense_code(plan, _cat_set_ids(plan), group=GROUP, lanes=_lanes(plan))
    nodes, values, roots, depths, outs = [], [], [], [], []
    setids = _cat_set_ids(plan)
    base = 0
    for t, ids in zip(plan.trees, setids, strict=True):
        n = t.n_nodes
        own = np.arange(base, base + n)
        leaf = t.left < 0
        lft = np.where(leaf, own, t.left + base)
        rgt = np.where(leaf, own, t.right + base)
        thr_vals = t.threshold.astype(plan.input_dtype).copy()
        for i, k in ids.items():
            thr_vals[i] = k
        info = (t.feature.astype(np.int64) << 2) | t.default_left.astype(np.int64) | (t.is_categorical.astype(np.int64) << 1)
        info = np.where(leaf, 0, info)
        nodes.append((thr_vals, lft, rgt, info))
        values.append(L.leaf_values(plan, t).reshape(-1))
        roots.append(base)
        depths.append(t.depth)
        outs.append(t.output)
        base += n
    nt = len(plan.trees)
    gdepth = ", ".join(str(max(depths[k:k + GROUP])) for k in range(0, nt, GROUP)) or "0"
    cmp = plan.comparison
    if plan.has_categorical:
        step = (f"  int l = (n->info & 2) ? mp_cat_left(v, n->info & 1, (int32_t)n->thr)\n"
                f"        : ((v {cmp} n->thr) | ((n->info & 1) & (v != v)));\n")
    else:
        step = f"  int l = (v {cmp} n->thr) | ((n->info & 1) & (v != v));\n"
    ld = plan.leaf_dim
    if ld == 1:
        add_g = "acc[mp_tree_out[t + g]] += mp_values[i];"
        add_lane = "accs[k * NO + mp_tree_out[t]] += mp_values[idx[k]];"
    else:
        add_g = f"for (o = 0; o < NO; o++) acc[o] += mp_values[i * {ld} + o];"
        add_lane = f"for (o = 0; o < NO; o++) accs[k * NO + o] += mp_values[idx[k] * {ld} + o];"
    return (
        "typedef struct { mp_in_t thr; int32_t left, right, info; } mp_node;\n"
        "/* info = feature << 2 | categorical << 1 | default_left; categorical nodes keep their\n"
        " * category-set id in thr. */\n"
        + _sparse_tables(plan, nodes, values, base) +
        f"static const int32_t mp_roots[{max(1, nt)}] = {{{', '.join(map(str, roots)) or '0'}}};\n"
        f"static const int32_t mp_depth[{max(1, nt)}] = {{{', '.join(map(str, depths)) or '0'}}};\n"
        + (f"static const int32_t mp_tree_out[{max(1, nt)}] = {{{', '.join(map(str, outs)) or '0'}}};\n" if ld == 1 else "") +
        f"static const int32_t mp_group_depth[{max(1, -(-nt // GROUP))}] = {{{gdepth}}};\n"
        f"#define NT {nt}\n#define GROUP {GROUP}\n\n"
        "/* Branch-free step: the child index is selected with a mask, not a jump. */\n"
        "static int32_t mp_next(int32_t i, const mp_in_t *x) {\n"
        "  const mp_node *n = &mp_nodes[i];\n  mp_in_t v = x[n->info >> 2];\n" + step +
        "  return n->right + ((n->left - n->right) & -(int32_t)l);\n}\n\n"
        "/* One row: GROUP trees walk in lock step for their deepest tree's depth, then their\n"
        " * leaves are added in tree order. */\n"
        "static void mp_acc_row(const mp_in_t *x, mp_acc_t *acc) {\n"
        "  int32_t t, idx[GROUP]; int g, m, d, o; (void)o;\n"
        "  for (t = 0; t < NT; t += GROUP) {\n"
        "    m = NT - t < GROUP ? NT - t : GROUP;\n"
        "    for (g = 0; g < m; g++) idx[g] = mp_roots[t + g];\n"
        "    for (d = 0; d < mp_group_depth[t / GROUP]; d++)\n"
        "      for (g = 0; g < m; g++) idx[g] = mp_next(idx[g], x);\n"
        f"    for (g = 0; g < m; g++) {{ int32_t i = idx[g]; {add_g} }}\n  }}\n}}\n\n"
        "/* m <= LANES rows walk each tree in lock step (depth steps; leaves loop onto themselves). */\n"
        "static void mp_acc_lanes(const mp_in_t *const *xs, int m, mp_acc_t *accs) {\n"
        "  int32_t t, idx[LANES]; int k, d, o; (void)o;\n"
        "  for (t = 0; t < NT; t++) {\n"
        "    for (k = 0; k < m; k++) idx[k] = mp_roots[t];\n"
        "    for (d = 0; d < mp_depth[t]; d++)\n"
        "      for (k = 0; k < m; k++) idx[k] = mp_next(idx[k], xs[k]);\n"
        f"    for (k = 0; k < m; k++) {{ {add_lane} }}\n  }}\n}}\n\n"
        "#define MP_HAVE_LANES 1\n\n")


def _sparse_tables(plan: L.Plan, nodes: list, values: list, n: int) -> str:
    """``mp_nodes`` (struct {thr, left, right, info}) and ``mp_values``, readable or as blobs."""
    cols = [np.concatenate([nd[k] for nd in nodes]) if nodes else np.zeros(0) for k in range(4)]
    vals = np.concatenate(values) if values else np.zeros(0, plan.acc_dtype)
    idt = np.dtype(plan.input_dtype).newbyteorder("<")

    def image() -> np.ndarray:
        rec = np.zeros(n, dtype=np.dtype([("thr", idt), ("left", "<i4"), ("right", "<i4"), ("info", "<i4")], align=True))
        for k, name in enumerate(("thr", "left", "right", "info")):
            rec[name] = cols[k]
        return rec

    def items() -> list[str]:
        lits = L.numbers(cols[0], plan.input_dtype, "c")
        return [f"{{{a},{b},{c},{d}}}" for a, b, c, d in zip(lits, *(c.astype(np.int64).tolist() for c in cols[1:]), strict=True)]

    return (_c_blob.table("mp_nodes", "mp_node", n, items, image, empty="{0,0,0,0}")
            + _c_blob.table("mp_values", "mp_acc_t", vals.size, lambda: L.numbers(vals, plan.acc_dtype, "c"),
                            lambda: vals.astype(np.dtype(plan.acc_dtype).newbyteorder("<"))))


def _linear_code(plan: L.Plan) -> str:
    w = plan.linear_weights
    lits = L.numbers(w, "float32", "c")
    start = (np.asarray(plan.base_score, np.float32) + plan.linear_bias.astype(np.float32)).astype(np.float32)
    init = "".join(f"  acc[{o}] = {v};\n" for o, v in enumerate(L.numbers(start, "float32", "c")))
    return (f"static const float mp_w[{max(1, w.size)}] = {{\n" + ",\n".join(lits or ["0"]) + "\n};\n\n"
            "/* gblinear: (base + bias) then += x_j * w_j in column order, skipping missing values. */\n"
            "static void mp_acc_row(const mp_in_t *x, mp_acc_t *acc) {\n  int j, o;\n" + init +
            "  for (j = 0; j < NF; j++) {\n    float v = x[j];\n    if (v != v) continue;\n"
            "    for (o = 0; o < NO; o++) { float p = v * mp_w[j * NO + o]; acc[o] = acc[o] + p; }\n  }\n}\n\n")


def _finish_code(plan: L.Plan) -> str:
    """``mp_margin_row``: accumulate, then (wide plans) average, add base, round once."""
    out = ["static void mp_finish(mp_acc_t *acc, float *margin) {\n  int o; (void)o;\n"]
    if plan.wide:
        if plan.average:
            for o, c in enumerate(plan.output_counts):
                if c > 0:
                    out.append(f"  acc[{o}] = acc[{o}] / (mp_acc_t){c};\n")
        for o, b in enumerate(plan.base_score):
            out.append(f"  acc[{o}] += {L.number(b, plan.acc_dtype, 'c')};\n")
    out.append("  for (o = 0; o < NO; o++) margin[o] = (float)acc[o];\n}\n\n")
    init = "" if plan.kind == "linear" else _init_acc(plan, "acc")
    out.append("static void mp_margin_row(const mp_in_t *row, float *margin) {\n"
               "  mp_acc_t acc[NO]; int o; (void)o;\n  MP_ROW(x, row);\n" + init +
               "  mp_acc_row(x, acc);\n  mp_finish(acc, margin);\n}\n\n")
    if plan.kind == "trees" and plan.shape == "arrays":
        lane_init = ("    for (o = 0; o < NO; o++) accs[k * NO + o] = 0;\n" if plan.wide else
                     "".join(f"    accs[k * NO + {o}] = {L.number(b, 'float32', 'c')};\n"
                             for o, b in enumerate(plan.base_score)))
        out.append(
            "static void mp_margin_lanes(const mp_in_t *rows, int m, float *margins) {\n"
            "  mp_acc_t accs[LANES * NO]; const mp_in_t *xs[LANES]; int k, o; (void)o;\n"
            + ("  mp_in_t bufs[LANES][NFA];\n" if plan.missing is not None else "") +
            "  for (k = 0; k < m; k++) {\n"
            + ("    xs[k] = mp_row(rows + (size_t)k * NF, bufs[k]);\n" if plan.missing is not None
               else "    xs[k] = rows + (size_t)k * NF;\n") + lane_init +
            "  }\n  for (k = m; k < LANES; k++) xs[k] = xs[0];  /* padding lanes, never written */\n"
            "  mp_acc_lanes(xs, m, accs);\n"
            "  for (k = 0; k < m; k++) mp_finish(accs + k * NO, margins + (size_t)k * NO);\n}\n\n")
    return "".join(out)


def _transform_code(plan: L.Plan) -> str:
    """``mp_transform``: the link, XGBoost's float32 formulas with exp in double rounded once."""
    post = plan.post_transform
    body = {
        "identity": "  int k;\n  for (k = 0; k < NO; k++) out[k] = m[k];\n",
        "sigmoid": "  int k;\n  for (k = 0; k < NO; k++) out[k] = 1.0f / (1.0f + mp_expf(-m[k]));\n",
        "exp": "  int k;\n  for (k = 0; k < NO; k++) out[k] = mp_expf(m[k]);\n",
        "hinge": "  int k;\n  for (k = 0; k < NO; k++) out[k] = m[k] > 0.0f ? 1.0f : 0.0f;\n",
        "softmax": ("  int k; float mx = m[0]; double s = 0.0; float e[NO], fs;\n"
                    "  for (k = 1; k < NO; k++) if (m[k] > mx || m[k] != m[k]) mx = m[k];\n"
                    "  for (k = 0; k < NO; k++) { float d = m[k] - mx; e[k] = mp_expf(d); s += (double)e[k]; }\n"
                    "  fs = (float)s;\n  for (k = 0; k < NO; k++) out[k] = e[k] / fs;\n"),
        "softmax_label": ("  int k, best = 0;\n"
                          "  for (k = 1; k < NO; k++) {\n    if (m[best] != m[best]) break;\n"
                          "    if (m[k] > m[best] || m[k] != m[k]) best = k;\n  }\n  out[0] = (float)best;\n"),
    }[post]
    return ("/* float32 exp as the evaluator: double exp rounded once. */\n"
            "static float mp_expf(float v) { return (float)exp((double)v); }\n\n"
            "static void mp_transform(const float *m, float *out) {\n" + body + "  (void)mp_expf;\n}\n\n")


_ENTRIES = """\
int modelport_predict_margin(const mp_input_t *row, float *margin) {
  mp_margin_row(row, margin);
  return 0;
}

int modelport_predict(const mp_input_t *row, float *out) {
  float m[NO];
  mp_margin_row(row, m);
  mp_transform(m, out);
  return 0;
}

int modelport_predict_margin_batch(const mp_input_t *rows, size_t n, float *margins) {
  size_t r = 0;
#ifdef MP_HAVE_LANES
  for (; r + LANES <= n; r += LANES) mp_margin_lanes(rows + r * NF, LANES, margins + r * NO);
  if (r < n) { mp_margin_lanes(rows + r * NF, (int)(n - r), margins + r * NO); r = n; }
#endif
  for (; r < n; r++) mp_margin_row(rows + r * NF, margins + r * NO);
  return 0;
}

int modelport_predict_batch(const mp_input_t *rows, size_t n, float *out) {
  size_t r, done = 0;
  float m[LANES * NO];
  while (done < n) {
    size_t c = n - done < LANES ? n - done : LANES;
    modelport_predict_margin_batch(rows + done * NF, c, m);
    for (r = 0; r < c; r++) mp_transform(m + r * NO, out + (done + r) * MODELPORT_N_PREDICTIONS);
    done += c;
  }
  return 0;
}
"""


TARGETS.register(
    "c",
    Target(
        name="c",
        extension=".c",
        description="C99 source (model.h + model.c, libc and math.h only), run through a compiled shared library",
        write=write_c,
        runtime="c",
        margin_tolerance=MARGIN_TOLERANCE,
        link_tolerance=LINK_TOLERANCE,
        artifact=BUNDLE,
        toolchain=(CC,),
        supports=L64.SUPPORTS,
    ),
)
