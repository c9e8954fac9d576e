"""The ``javascript`` target: the model as one dependency-free ES module (a bundle: ``model.mjs``)
that runs unchanged in node (14+) and in browsers.

Exports::

    N_FEATURES, N_OUTPUTS, N_PREDICTIONS, FEATURE_NAMES
    predictMargin(x, out?)   // x: array-like of N_FEATURES numbers (NaN = missing) -> Float32Array margins
    transform(margin, out?)  // the link -> Float32Array of N_PREDICTIONS
    predict(x)               // both

float32 semantics: the row is first copied into a ``Float32Array`` (every input rounded to
float32 once, as XGBoost's DMatrix), every float32 operation is wrapped in ``Math.fround``
(an IEEE double operation on two float32 values rounded to float32 equals the float32
operation: the double has more than 2 x 24 + 2 bits), and ``expf(v)`` is
``Math.fround(Math.exp(v))``, the evaluator's "double exp rounded once".  In the ``arrays``
shape the node tables are one base64 string decoded at import by a few lines of plain
JavaScript (no ``atob``/``Buffer``, so browsers and node agree).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelport.converters.targets import BUNDLE, TARGETS, Target, WriteOptions
from modelport.converters.targets.native import _family as F
from modelport.converters.targets.native import _linear64 as L64
from modelport.converters.targets.native import lower as L
from modelport.core.contract import artifact_metadata, write_manifest
from modelport.core.ir.model import Model
from modelport.core.tolerances import ulps
from modelport.core.toolchains import NODE

__all__ = ["generate_javascript", "write_javascript", "MARGIN_TOLERANCE", "LINK_TOLERANCE"]

MARGIN_TOLERANCE = ulps("javascript-margin", 0, "every float32 operation is Math.fround of the double operation, which "
                        "equals the float32 operation; same values in the evaluator's order",
                        "code review of the lowering (native/lower.py); measured 0 ULP on every XGBoost case")
LINK_TOLERANCE = ulps("javascript-link", 2, "links use XGBoost's float32 formulas with Math.exp (V8: fdlibm's exp, < 1 ULP "
                      "in double) rounded once: a 1-ULP double difference from numpy's exp moves the float32 rounding "
                      "only near a half-way point (1 ULP of exp, at most 2 after sigmoid/softmax's division)",
                      "derived; measured 0 ULP on every XGBoost case (tests/test_native_jvm_js_go_rust.py)")

_ARRAY = {"float32": "Float32Array", "float64": "Float64Array", "int32": "Int32Array"}
_GET = {"float32": ("getFloat32", 4), "float64": ("getFloat64", 8), "int32": ("getInt32", 4)}


def generate_javascript(model: Model, *, shape: str = "auto") -> str:
    """The text of ``model.mjs`` for ``model`` in the given code shape."""
    return _generate(model, shape)[0]


def _generate(model: Model, shape: str) -> tuple[str, L.Plan]:
    plan = L.lower(model, shape=shape)
    no, npred = plan.n_outputs, F.n_predictions(plan)
    it, at = _ARRAY[plan.input_dtype], _ARRAY[plan.acc_dtype]
    names = ", ".join(L.escape_string(n, "javascript") for n in plan.feature_names)
    out = [_HEAD.format(shape=plan.shape if plan.kind == "trees" else "linear", nf=plan.row_width, no=no,
                        npred=npred, names=names, it=it, at=at)]
    if plan.kind == "linear64":
        return "".join(out) + L64.javascript_body(plan), plan
    miss = ("" if plan.missing is None else
            f"    if (v === {L.number(plan.missing, plan.input_dtype, 'javascript')}) v = NaN;\n")
    rnd = "fround" if plan.input_dtype == "float32" else "Number"
    if plan.steps:  # a pipeline: the steps in float64, then one rounding to the trees' input type
        tables, lines, buf = L64.step_code(plan, "javascript", "x", "  ")
        out.append("".join(tables) + f"const XB = new {it}({max(1, plan.n_features)});\n\n"
                   "function row(x) {\n  if (x.length !== N_FEATURES) throw new RangeError(\"expected \" + N_FEATURES + "
                   "\" features, got \" + x.length);\n" + "\n".join(lines) +
                   f"\n  for (let j = 0; j < {plan.n_features}; j++) {{\n"
                   f"    let v = {rnd}({buf}[j]);\n{miss}    XB[j] = v;\n  }}\n  return XB;\n}}\n\n")
    else:
        out.append("function row(x) {\n  if (x.length !== N_FEATURES) throw new RangeError(\"expected \" + N_FEATURES + "
                   "\" features, got \" + x.length);\n  for (let j = 0; j < N_FEATURES; j++) {\n"
                   f"    let v = {rnd}(x[j]);\n{miss}    X[j] = v;\n  }}\n  return X;\n}}\n\n")
    cats = F.cat_sets(plan)
    if plan.kind == "linear":
        out.append(_linear(plan))
    else:
        if plan.shape == "arrays":
            out.append(_arrays(plan, cats))
        elif cats.codes:
            out.append(f"const CAT_OFF = new Int32Array([{', '.join(map(str, cats.offsets))}]);\n"
                       f"const CAT_CODES = new Int32Array([{', '.join(map(str, cats.codes))}]);\n\n")
        if cats.codes or plan.shape == "arrays":
            out.append(_cat_code(plan))
        if plan.shape == "unrolled":
            out.append(_unrolled(plan, cats))
    out.append(_margin(plan))
    out.append(_transform(plan))
    return "".join(out), plan


def write_javascript(model: Model, out_path: Path, options: WriteOptions, *, shape: str | None = None) -> None:
    """Write the bundle directory ``out_path`` (model.mjs, modelport.json)."""
    shape = shape or getattr(options, "code_shape", None) or "auto"
    text, plan = _generate(model, shape)
    out = Path(out_path)
    out.mkdir(parents=True, exist_ok=False)
    (out / "model.mjs").write_text(text, encoding="ascii")
    meta = artifact_metadata(model, extra={"input_type": plan.row_dtype, "code_shape": plan.shape})
    write_manifest(out, format="javascript", runtime="javascript",
                   metadata=meta, entry="model.mjs")


_HEAD = """\
// Generated by modelport: a {shape} model as a dependency-free ES module (node and browsers).
// Do not edit: regenerate from the model.  Margins are bit-exact with modelport's reference
// evaluator: float32 arithmetic via Math.fround, in the evaluator's order.
export const N_FEATURES = {nf};
export const N_OUTPUTS = {no};
export const N_PREDICTIONS = {npred};
export const FEATURE_NAMES = Object.freeze([{names}]);

const X = new {it}(N_FEATURES);
const ACC = new {at}(N_OUTPUTS);
const fround = Math.fround;

"""


def _cat_code(plan: L.Plan) -> str:
    inv = "true" if plan.invalid_category_goes_left else "false"
    in_left = "true" if plan.categories_in_set_go_left else "false"
    return ("// Categorical split: NaN -> default side; outside [0, 2**24) -> the invalid side; else the\n"
            "// value truncated toward zero is looked up in the node's sorted set.\n"
            "function catLeft(v, defaultLeft, set) {\n  if (v !== v) return defaultLeft;\n"
            f"  if (!(v >= 0) || !(v < 16777216)) return {inv};\n  const c = Math.trunc(v);\n"
            "  let lo = CAT_OFF[set], hi = CAT_OFF[set + 1];\n"
            "  while (lo < hi) {\n    const mid = (lo + hi) >>> 1;\n    if (CAT_CODES[mid] < c) lo = mid + 1; else hi = mid;\n  }\n"
            f"  return (lo < CAT_OFF[set + 1] && CAT_CODES[lo] === c) === {in_left};\n}}\n\n")


def _add(plan: L.Plan):
    if plan.acc_dtype == "float32":
        return lambda o, lit: f"acc[{o}] = fround(acc[{o}] + {lit});"
    return lambda o, lit: f"acc[{o}] += {lit};"


def _unrolled(plan: L.Plan, cats: F.CatSets) -> str:
    out = []
    for t, ids in zip(plan.trees, cats.ids, strict=True):
        out.append(f"function tree{t.index}(x, acc) {{\n")
        out.extend(line + "\n" for line in F.unrolled_body(plan, t, "javascript", ids, indent="  ", parens=True,
                                                           leaf=_add(plan)))
        out.append("}\n\n")
    out.append("function accumulate(x, acc) {\n")
    out.extend(f"  tree{t.index}(x, acc);\n" for t in plan.trees)
    out.append("}\n\n")
    return "".join(out)


def _arrays(plan: L.Plan, cats: F.CatSets) -> str:
    blob, _ = F.node_tables(plan, cats)
    decl = []
    for name, (off, count, dtype) in blob.sections.items():
        get, size = _GET[dtype]
        decl.append(f"const {name.upper()} = new {_ARRAY[dtype]}({count});\n"
                    f"for (let i = 0; i < {count}; i++) {name.upper()}[i] = DV.{get}({off} + {size} * i, true);\n")
    cmp = plan.comparison
    if cats.codes:
        step = (f"      const l = (inf & 2) ? catLeft(v, (inf & 1) !== 0, THR[i])\n"
                f"        : (v {cmp} THR[i]) || ((inf & 1) !== 0 && v !== v);\n")
    else:
        step = f"      const l = (v {cmp} THR[i]) || ((inf & 1) !== 0 && v !== v);\n"
    ld = plan.leaf_dim
    f32 = plan.acc_dtype == "float32"
    one = "acc[o] = fround(acc[o] + VALUES[i]);" if f32 else "acc[o] += VALUES[i];"
    add = (f"{{ const o = OUTS[t]; {one} }}" if ld == 1 else
           f"for (let o = 0; o < N_OUTPUTS; o++) {one.replace('VALUES[i]', f'VALUES[i * {ld} + o]')}")
    return ("// Node tables (modelport docs/native.md): base64 of little-endian int32/float arrays.\n"
            f'const DATA = "{blob.b64()}";\n\n'
            "function base64(s) {\n"
            '  const A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";\n'
            "  const T = new Uint8Array(128);\n  for (let i = 0; i < 64; i++) T[A.charCodeAt(i)] = i;\n"
            "  let n = s.length;\n  while (n > 0 && s.charCodeAt(n - 1) === 61) n--;\n"
            "  const out = new Uint8Array((n * 3) >> 2);\n  let o = 0, bits = 0, acc = 0;\n"
            "  for (let i = 0; i < n; i++) {\n    acc = ((acc << 6) | T[s.charCodeAt(i)]) & 0x3fff;\n    bits += 6;\n"
            "    if (bits >= 8) { bits -= 8; out[o++] = (acc >> bits) & 255; }\n  }\n  return out;\n}\n\n"
            "const BYTES = base64(DATA);\nconst DV = new DataView(BYTES.buffer, BYTES.byteOffset, BYTES.byteLength);\n"
            + "".join(decl) + "\n"
            "function accumulate(x, acc) {\n  for (let t = 0; t < ROOTS.length; t++) {\n    let i = ROOTS[t];\n"
            "    while (LEFT[i] !== i) {\n      const inf = INFO[i];\n      const v = x[inf >>> 2];\n" + step +
            "      i = l ? LEFT[i] : RIGHT[i];\n    }\n"
            f"    {add}\n  }}\n}}\n\n")


def _linear(plan: L.Plan) -> str:
    w = L.numbers(plan.linear_weights, "float32", "javascript")
    start = (np.asarray(plan.base_score, np.float32) + plan.linear_bias.astype(np.float32)).astype(np.float32)
    init = "".join(f"  acc[{o}] = {v};\n" for o, v in enumerate(L.numbers(start, "float32", "javascript")))
    return (f"const W = new Float32Array([{', '.join(w)}]);\n\n"
            "// gblinear: (base + bias), then += x_j * w_j in column order, skipping missing values.\n"
            "function accumulate(x, acc) {\n" + init +
            "  for (let j = 0; j < N_FEATURES; j++) {\n    const v = x[j];\n    if (v !== v) continue;\n"
            "    for (let o = 0; o < N_OUTPUTS; o++) acc[o] = fround(acc[o] + fround(v * W[j * N_OUTPUTS + o]));\n"
            "  }\n}\n\n")


def _margin(plan: L.Plan) -> str:
    if plan.kind == "linear":
        init = ""
    elif plan.wide:
        init = "  acc.fill(0);\n"
    else:
        init = "".join(f"  acc[{o}] = {L.number(b, 'float32', 'javascript')};\n" for o, b in enumerate(plan.base_score))
    fin = []
    if plan.wide:
        f32 = plan.acc_dtype == "float32"
        if plan.average:
            fin += [f"  acc[{o}] = {'fround(' if f32 else '('}acc[{o}] / {c});\n" for o, c in enumerate(plan.output_counts) if c > 0]
        fin += [f"  acc[{o}] = {'fround(' if f32 else '('}acc[{o}] + {L.number(b, plan.acc_dtype, 'javascript')});\n"
                for o, b in enumerate(plan.base_score)]
    return ("/** The margins of one row (N_FEATURES numbers, NaN = missing) into out (a Float32Array). */\n"
            "export function predictMargin(x, out = new Float32Array(N_OUTPUTS)) {\n  const acc = ACC;\n" + init +
            "  accumulate(row(x), acc);\n" + "".join(fin) +
            "  for (let o = 0; o < N_OUTPUTS; o++) out[o] = fround(acc[o]);\n  return out;\n}\n\n")


def _transform(plan: L.Plan) -> str:
    body = {
        "identity": "  for (let k = 0; k < N_OUTPUTS; k++) out[k] = m[k];\n",
        "sigmoid": "  for (let k = 0; k < N_OUTPUTS; k++) out[k] = fround(1 / fround(1 + expf(-m[k])));\n",
        "exp": "  for (let k = 0; k < N_OUTPUTS; k++) out[k] = expf(m[k]);\n",
        "hinge": "  for (let k = 0; k < N_OUTPUTS; k++) out[k] = m[k] > 0 ? 1 : 0;\n",
        "softmax": ("  let mx = fround(m[0]), s = 0;\n  const e = new Float32Array(N_OUTPUTS);\n"
                    "  for (let k = 1; k < N_OUTPUTS; k++) if (m[k] > mx || m[k] !== m[k]) mx = fround(m[k]);\n"
                    "  for (let k = 0; k < N_OUTPUTS; k++) { e[k] = expf(fround(m[k] - mx)); s += e[k]; }\n"
                    "  const fs = fround(s);\n  for (let k = 0; k < N_OUTPUTS; k++) out[k] = fround(e[k] / fs);\n"),
        "softmax_label": ("  let best = 0;\n  for (let k = 1; k < N_OUTPUTS; k++) {\n    if (m[best] !== m[best]) break;\n"
                          "    if (m[k] > m[best] || m[k] !== m[k]) best = k;\n  }\n  out[0] = best;\n"),
    }[plan.post_transform]
    return ("// float32 exp as the evaluator: double exp rounded once.\n"
            "function expf(v) {\n  return fround(Math.exp(v));\n}\n\n"
            "/** The link: margins (N_OUTPUTS) -> out (N_PREDICTIONS values, a Float32Array). */\n"
            "export function transform(m, out = new Float32Array(N_PREDICTIONS)) {\n" + body + "  return out;\n}\n\n"
            "/** The margins and the prediction of one row. */\n"
            "export function predictInto(x, margin, out) {\n  predictMargin(x, margin);\n  return transform(margin, out);\n}\n\n"
            "/** What the model predicts for one row (a Float32Array of N_PREDICTIONS). */\n"
            "export function predict(x) {\n  return transform(predictMargin(x));\n}\n")


TARGETS.register(
    "javascript",
    Target(
        name="javascript",
        extension=".mjs",
        description="one dependency-free ES module (model.mjs) for node and browsers, float32 via Math.fround",
        write=write_javascript,
        runtime="javascript",
        margin_tolerance=MARGIN_TOLERANCE,
        link_tolerance=LINK_TOLERANCE,
        artifact=BUNDLE,
        toolchain=(NODE,),
        supports=L64.SUPPORTS,
    ),
)
