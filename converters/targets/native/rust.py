"""The ``rust`` target: the model as one Rust file, standard library only (a bundle: ``model.rs``,
a module for ``mod model;``; edition 2018, stable features only).

API::

    model::N_FEATURES, model::N_OUTPUTS, model::N_PREDICTIONS, model::FEATURE_NAMES
    let m = model::Model::new();              // decodes the node tables (arrays shape) once
    m.predict_margin(&x, &mut margin);        // x: &[f32] (NaN = missing)
    model::Model::transform(&margin, &mut out);
    let p: Vec<f32> = m.predict(&x);

(``&[f64]`` input for models that compare in float64.)  ``f32`` arithmetic is IEEE binary32
and rustc never contracts a product and a sum into an FMA, so the margins equal the
reference evaluator bit for bit; ``expf(v)`` is ``(v as f64).exp() as f32``.  In the
``arrays`` shape the node tables are one base64 string decoded by ``Model::new`` (a literal
array of millions of numbers takes rustc about a minute; a string, a second).
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
from modelport.core.toolchains import RUST

__all__ = ["generate_rust", "write_rust", "MARGIN_TOLERANCE", "LINK_TOLERANCE"]

MARGIN_TOLERANCE = ulps("rust-margin", 0, "Rust f32 arithmetic is IEEE binary32 without FMA contraction; same values "
                        "in the evaluator's order",
                        "code review of the lowering (native/lower.py); measured 0 ULP on every XGBoost case")
LINK_TOLERANCE = ulps("rust-link", 2, "links use XGBoost's float32 formulas with f64::exp (the platform libm, < 1 ULP "
                      "in double) rounded once: a 1-ULP double difference from numpy's exp moves the float32 rounding "
                      "only near a half-way point (1 ULP of exp, at most 2 after sigmoid/softmax's division)",
                      "derived; measured 0 ULP on every XGBoost case (tests/test_native_jvm_js_go_rust.py)")

_RS = {"float32": "f32", "float64": "f64", "int32": "i32"}


def generate_rust(model: Model, *, shape: str = "auto") -> str:
    """The text of ``model.rs`` for ``model`` in the given code shape."""
    return _generate(model, shape)[0]


def _generate(model: Model, shape: str) -> tuple[str, L.Plan]:
    plan = L.lower(model, shape=shape)
    it, at = _RS[plan.input_dtype], _RS[plan.acc_dtype]
    names = ", ".join(L.escape_string(n, "rust") for n in plan.feature_names)
    arrays = plan.kind == "trees" and plan.shape == "arrays"
    out = [_HEAD.format(shape=plan.shape if plan.kind == "trees" else "linear", nf=plan.row_width, no=plan.n_outputs,
                        npred=F.n_predictions(plan), names=names)]
    if plan.kind == "linear64":
        return "".join(out) + L64.rust_body(plan), plan
    if plan.steps:  # a pipeline: the steps in float64, then one rounding to the trees' input type
        tables, lines, buf = L64.step_code(plan, "rust", "x", "    ")
        lit = None if plan.missing is None else L.number(plan.missing, plan.input_dtype, "rust")
        keep = "v" if lit is None else f"if v == {lit} {{ {it}::NAN }} else {{ v }}"
        out.append("".join(tables) + f"\nfn row(x: &[f64]) -> Vec<{it}> {{\n    check(x.len());\n" + "\n".join(lines) +
                   f"\n    let mut r = vec![0.0{it}; {plan.n_features}];\n    for j in 0..{plan.n_features} {{\n"
                   f"        let v = {buf}[j] as {it};\n        r[j] = {keep};\n    }}\n    r\n}}\n\n")
    elif plan.missing is None:
        out.append(f"fn row(x: &[{it}]) -> &[{it}] {{\n    check(x.len());\n    x\n}}\n\n")
    else:
        lit = L.number(plan.missing, plan.input_dtype, "rust")
        out.append(f"fn row(x: &[{it}]) -> Vec<{it}> {{\n    check(x.len());\n"
                   f"    x.iter().map(|&v| if v == {lit} {{ {it}::NAN }} else {{ v }}).collect()\n}}\n\n")
    cats = F.cat_sets(plan)
    if plan.kind == "linear":
        out.append(_linear(plan))
    elif arrays:
        out.append(_arrays(plan, cats, it, at))
    else:
        if cats.codes:
            out.append(f"static CAT_OFF: [i32; {len(cats.offsets)}] = [{', '.join(map(str, cats.offsets))}];\n"
                       f"static CAT_CODES: [i32; {len(cats.codes)}] = [{', '.join(map(str, cats.codes))}];\n\n")
            out.append(_cat_code(plan, it, "CAT_OFF", "CAT_CODES", ""))
        out.append(_unrolled(plan, cats, it, at))
    out.append(_model(plan, "f64" if plan.steps else it, at, arrays))
    out.append(_transform(plan))
    return "".join(out), plan


def write_rust(model: Model, out_path: Path, options: WriteOptions, *, shape: str | None = None) -> None:
    """Write the bundle directory ``out_path`` (model.rs, modelport.json)."""
    shape = shape or getattr(options, "code_shape", None) or "auto"
    text, plan = _generate(model, shape)
    out = Path(out_path)
    out.mkdir(parents=True, exist_ok=False)
    (out / "model.rs").write_text(text, encoding="ascii")
    meta = artifact_metadata(model, extra={"input_type": plan.row_dtype, "code_shape": plan.shape})
    write_manifest(out, format="rust", runtime="rust", metadata=meta,
                   entry="model.rs")


_HEAD = """\
// Generated by modelport: a {shape} model in plain Rust (std only, edition 2018).
// Do not edit: regenerate from the model.  Margins are bit-exact with modelport's reference
// evaluator: f32 arithmetic in the evaluator's order (rustc never fuses into an FMA).
#![allow(dead_code, unused_variables, unused_mut, unused_parens, non_snake_case)]

/// Number of input columns.
pub const N_FEATURES: usize = {nf};
/// Number of margins.
pub const N_OUTPUTS: usize = {no};
/// Number of values `predict` returns.
pub const N_PREDICTIONS: usize = {npred};
/// Input columns in order.
pub static FEATURE_NAMES: [&str; {nf}] = [{names}];

fn check(n: usize) {{
    if n != N_FEATURES {{
        panic!("model: expected {{}} features, got {{}}", N_FEATURES, n);
    }}
}}

"""


def _cat_code(plan: L.Plan, it: str, off: str, codes: str, self_arg: str) -> str:
    inv = "true" if plan.invalid_category_goes_left else "false"
    in_left = "true" if plan.categories_in_set_go_left else "false"
    return ("// Categorical split: NaN -> default side; outside [0, 2**24) -> the invalid side; else the\n"
            "// value truncated toward zero is looked up in the node's sorted set.\n"
            f"fn cat_left({self_arg}v: {it}, default_left: bool, set: usize) -> bool {{\n"
            "    if v.is_nan() {\n        return default_left;\n    }\n"
            f"    if !(v >= 0.0) || !(v < 16777216.0) {{\n        return {inv};\n    }}\n    let c = v as i32;\n"
            f"    let end = {off}[set + 1] as usize;\n    let mut lo = {off}[set] as usize;\n    let mut hi = end;\n"
            f"    while lo < hi {{\n        let mid = lo + (hi - lo) / 2;\n        if {codes}[mid] < c {{\n"
            "            lo = mid + 1;\n        } else {\n            hi = mid;\n        }\n    }\n"
            f"    (lo < end && {codes}[lo] == c) == {in_left}\n}}\n\n")


def _unrolled(plan: L.Plan, cats: F.CatSets, it: str, at: str) -> str:
    out = []
    for t, ids in zip(plan.trees, cats.ids, strict=True):
        out.append(f"fn tree{t.index}(x: &[{it}], acc: &mut [{at}]) {{\n")
        out.extend(line + "\n" for line in F.unrolled_body(plan, t, "rust", ids, indent="    ", parens=False,
                                                           cat_call="cat_left"))
        out.append("}\n\n")
    out.append(f"fn accumulate(x: &[{it}], acc: &mut [{at}]) {{\n")
    out.extend(f"    tree{t.index}(x, acc);\n" for t in plan.trees)
    out.append("}\n\n")
    return "".join(out)


_B64 = """\
fn base64(s: &str) -> Vec<u8> {
    let mut t = [0u8; 128];
    let a = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (i, &c) in a.iter().enumerate() {
        t[c as usize] = i as u8;
    }
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        acc = ((acc << 6) | t[(c & 127) as usize] as u32) & 0x3fff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn i32s(b: &[u8], off: usize, n: usize) -> Vec<i32> {
    (0..n).map(|i| { let o = off + 4 * i; i32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) }).collect()
}

fn f32s(b: &[u8], off: usize, n: usize) -> Vec<f32> {
    i32s(b, off, n).into_iter().map(|v| f32::from_bits(v as u32)).collect()
}

fn f64s(b: &[u8], off: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| { let o = off + 8 * i; let mut w = [0u8; 8]; w.copy_from_slice(&b[o..o + 8]); f64::from_le_bytes(w) })
        .collect()
}

"""


def _arrays(plan: L.Plan, cats: F.CatSets, it: str, at: str) -> str:
    blob, _ = F.node_tables(plan, cats)
    fields, load = [], []
    fn = {"int32": "i32s", "float32": "f32s", "float64": "f64s"}
    for name, (off, count, dtype) in blob.sections.items():
        fields.append(f"    {name}: Vec<{_RS[dtype]}>,\n")
        load.append(f"            {name}: {fn[dtype]}(&b, {off}, {count}),\n")
    cmp = plan.comparison
    if cats.codes:
        step = (f"                let l = if inf & 2 != 0 {{ cat_left(t, v, inf & 1 != 0, t.thr[i] as usize) }}\n"
                f"                    else {{ (v {cmp} t.thr[i]) || (inf & 1 != 0 && v.is_nan()) }};\n")
    else:
        step = f"                let l = (v {cmp} t.thr[i]) || (inf & 1 != 0 && v.is_nan());\n"
    ld = plan.leaf_dim
    add = ("acc[t.outs[k] as usize] += t.values[i];" if ld == 1 else
           f"for o in 0..N_OUTPUTS {{ acc[o] += t.values[i * {ld} + o]; }}")
    return ("// Node tables (modelport docs/native.md): base64 of little-endian i32/float arrays.\n"
            f'static DATA: &str = "{blob.b64()}";\n\n' + _B64 +
            "struct Tables {\n" + "".join(fields) + "}\n\n"
            "fn tables() -> Tables {\n    let b = base64(DATA);\n    Tables {\n" + "".join(load) + "    }\n}\n\n"
            + _cat_code(plan, it, "t.cat_off", "t.cat_codes", "t: &Tables, ")
            + "impl Model {\n"
            f"    fn accumulate(&self, x: &[{it}], acc: &mut [{at}]) {{\n        let t = &self.t;\n"
            "        for k in 0..t.roots.len() {\n            let mut i = t.roots[k] as usize;\n"
            "            while t.left[i] as usize != i {\n                let inf = t.info[i];\n"
            "                let v = x[(inf >> 2) as usize];\n" + step +
            "                i = if l { t.left[i] } else { t.right[i] } as usize;\n            }\n"
            f"            {add}\n        }}\n    }}\n}}\n\n")


def _linear(plan: L.Plan) -> str:
    w = L.numbers(plan.linear_weights, "float32", "rust")
    start = (np.asarray(plan.base_score, np.float32) + plan.linear_bias.astype(np.float32)).astype(np.float32)
    init = "".join(f"    acc[{o}] = {v};\n" for o, v in enumerate(L.numbers(start, "float32", "rust")))
    return (f"static W: [f32; {len(w)}] = [{', '.join(w)}];\n\n"
            "// gblinear: (base + bias), then += x_j * w_j in column order, skipping missing values.\n"
            "fn accumulate(x: &[f32], acc: &mut [f32]) {\n" + init +
            "    for j in 0..N_FEATURES {\n        let v = x[j];\n        if v.is_nan() {\n            continue;\n        }\n"
            "        for o in 0..N_OUTPUTS {\n            let p = v * W[j * N_OUTPUTS + o];\n            acc[o] += p;\n"
            "        }\n    }\n}\n\n")


def _model(plan: L.Plan, it: str, at: str, arrays: bool) -> str:
    if plan.kind == "linear" or plan.wide:
        init = ""
    else:
        init = "".join(f"        acc[{o}] = {L.number(b, 'float32', 'rust')};\n" for o, b in enumerate(plan.base_score))
    fin = []
    if plan.wide:
        if plan.average:
            fin += [f"        acc[{o}] = acc[{o}] / {c}.0{at};\n" for o, c in enumerate(plan.output_counts) if c > 0]
        fin += [f"        acc[{o}] += {L.number(b, plan.acc_dtype, 'rust')};\n" for o, b in enumerate(plan.base_score)]
    call = "self.accumulate(&r, &mut acc);" if arrays else "accumulate(&r, &mut acc);"
    return ("/// The model; `Model::new()` prepares it once, then predict any number of rows.\n"
            f"pub struct Model {{\n    {'t: Tables,' if arrays else ''}\n}}\n\n"
            "impl Model {\n    /// Prepare the model (decodes the node tables once).\n"
            f"    pub fn new() -> Model {{\n        Model {{ {'t: tables()' if arrays else ''} }}\n    }}\n\n"
            "    /// The N_OUTPUTS margins of one row (N_FEATURES values, NaN = missing) into `margin`.\n"
            f"    pub fn predict_margin(&self, x: &[{it}], margin: &mut [f32]) {{\n        let r = row(x);\n"
            f"        let mut acc = [0.0{at}; N_OUTPUTS];\n" + init + f"        {call}\n" + "".join(fin) +
            "        for o in 0..N_OUTPUTS {\n            margin[o] = acc[o] as f32;\n        }\n    }\n\n"
            "    /// The margins and the prediction (N_PREDICTIONS values) of one row.\n"
            f"    pub fn predict_into(&self, x: &[{it}], margin: &mut [f32], out: &mut [f32]) {{\n"
            "        self.predict_margin(x, margin);\n        Model::transform(margin, out);\n    }\n\n"
            "    /// What the model predicts for one row (N_PREDICTIONS values).\n"
            f"    pub fn predict(&self, x: &[{it}]) -> Vec<f32> {{\n        let mut m = [0.0f32; N_OUTPUTS];\n"
            "        let mut out = vec![0.0f32; N_PREDICTIONS];\n        self.predict_margin(x, &mut m);\n"
            "        Model::transform(&m, &mut out);\n        out\n    }\n}\n\n"
            "impl Default for Model {\n    fn default() -> Model {\n        Model::new()\n    }\n}\n\n")


def _transform(plan: L.Plan) -> str:
    body = {
        "identity": "        out[..N_OUTPUTS].copy_from_slice(&m[..N_OUTPUTS]);\n",
        "sigmoid": "        for k in 0..N_OUTPUTS {\n            out[k] = 1.0f32 / (1.0f32 + expf(-m[k]));\n        }\n",
        "exp": "        for k in 0..N_OUTPUTS {\n            out[k] = expf(m[k]);\n        }\n",
        "hinge": "        for k in 0..N_OUTPUTS {\n            out[k] = if m[k] > 0.0 { 1.0 } else { 0.0 };\n        }\n",
        "softmax": ("        let mut mx = m[0];\n        for k in 1..N_OUTPUTS {\n"
                    "            if m[k] > mx || m[k].is_nan() {\n                mx = m[k];\n            }\n        }\n"
                    "        let mut e = [0.0f32; N_OUTPUTS];\n        let mut s = 0.0f64;\n"
                    "        for k in 0..N_OUTPUTS {\n            let d = m[k] - mx;\n            e[k] = expf(d);\n"
                    "            s += e[k] as f64;\n        }\n        let fs = s as f32;\n"
                    "        for k in 0..N_OUTPUTS {\n            out[k] = e[k] / fs;\n        }\n"),
        "softmax_label": ("        let mut best = 0usize;\n        for k in 1..N_OUTPUTS {\n"
                          "            if m[best].is_nan() {\n                break;\n            }\n"
                          "            if m[k] > m[best] || m[k].is_nan() {\n                best = k;\n            }\n"
                          "        }\n        out[0] = best as f32;\n"),
    }[plan.post_transform]
    return ("/// The evaluator's float32 exp: double exp rounded once.\n"
            "fn expf(v: f32) -> f32 {\n    (v as f64).exp() as f32\n}\n\n"
            "impl Model {\n    /// The link: N_OUTPUTS margins -> N_PREDICTIONS values.\n"
            "    pub fn transform(m: &[f32], out: &mut [f32]) {\n" + body + "    }\n}\n")


TARGETS.register(
    "rust",
    Target(
        name="rust",
        extension=".rs",
        description="one Rust file (std only, edition 2018), built with rustc -O",
        write=write_rust,
        runtime="rust",
        margin_tolerance=MARGIN_TOLERANCE,
        link_tolerance=LINK_TOLERANCE,
        artifact=BUNDLE,
        toolchain=(RUST,),
        supports=L64.SUPPORTS,
    ),
)
