"""The ``"linear64"`` plan (scikit-learn linear models, with their preprocessing) spelled for
every native language: the steps as straight-line statements on float64 buffers, the float64
dot product in column order, and the float64 links of ``core/ir/_links64.py``.

Semantics (:class:`.lower.StepPlan`, ``core/ir/evaluate.py``): the row is copied into a float64
buffer ``b0``; each step writes its result (a new buffer ``b<k>`` for column routing and
lookups, in place for affine maps and imputation); then ``d[o] = 0``, ``d[o] = d[o] + x_j *
w[j][o]`` for j in column order (the product rounded first: Go's explicit ``float64(...)``
conversion forbids the fused multiply-add its spec otherwise allows, C is compiled with
``-ffp-contract=off``), ``d[o] += bias[o]``, ``d[o] += base[o]``; the margin is ``float32(d)``
and the link runs in double on ``d``: sigmoid ``1 / (1 + exp(-d))``, hinge ``d > 0``, softmax
``exp(d - max) / sum`` (the sum over the classes in order), softmax_label the first maximum
with NaN as -inf, identity ``d``; each output rounded once to float32.

Only numbers reach the generated code: category names are never written (a nominal input is
its category code; :mod:`.lower` keeps only the lookup's numeric keys and table).
"""

from __future__ import annotations

import numpy as np

from modelport.converters.targets.native import lower as L
from modelport.core.errors import UnsupportedModelError

__all__ = ["LINKS", "SUPPORTS", "JAVA_MAX_STATEMENTS", "JAVA_MAX_TABLE", "check_link", "check_java_size", "step_code",
           "n_predictions"]

#: Java's class-file format caps a method at 64 KB of bytecode: the straight-line step code (at
#: most about 20 bytes per statement) of one method stays below this many statements ...
JAVA_MAX_STATEMENTS = 3_000
#: ... and the static initialiser filling the double tables (8 bytes per element) below this
#: many elements.
JAVA_MAX_TABLE = 6_000

#: The IR constructs (``core/ir/model.py`` ``CONSTRUCTS``) every native target expresses:
#: float64 linear models, with any preprocessing; a tree ensemble after preprocessing is
#: refused by :func:`.lower.lower`.
SUPPORTS = frozenset({"linear-float64", "preprocessing:select_columns", "preprocessing:affine",
                      "preprocessing:impute", "preprocessing:lookup", "feature:nominal"})

#: Post-transforms a float64 linear model may carry (``core/ir/_links64.py``).
LINKS = ("identity", "sigmoid", "hinge", "softmax", "softmax_label")


def check_link(plan: L.Plan) -> None:
    """Refuse a float64 linear model whose link ``_links64`` does not define."""
    if plan.post_transform not in LINKS:
        raise UnsupportedModelError(f"a float64 linear model with post-transform {plan.post_transform} "
                                    "cannot be written as native code")
    if plan.post_transform in ("sigmoid", "hinge") and plan.n_outputs != 1:
        raise UnsupportedModelError(f"a float64 linear model with {plan.post_transform} on {plan.n_outputs} outputs")


def check_java_size(plan: L.Plan) -> None:
    """Refuse (one line) step code or tables too large for one Java method (64 KB)."""
    per = {"select": lambda st: st.width_out, "impute": lambda st: int(st.columns.size),
           "affine": lambda st: int(st.columns.size) * (4 if st.clip is not None else 2),
           "lookup": lambda st: int(st.keys.size) + 2 + st.width_out}
    statements = plan.row_width + sum(per[st.kind](st) for st in plan.steps)
    table = sum(int(st.table.size) for st in plan.steps if st.table is not None)
    if plan.kind == "linear64":
        table += int(plan.linear_weights.size)
    if statements > JAVA_MAX_STATEMENTS or table > JAVA_MAX_TABLE:
        raise UnsupportedModelError(f"the preprocessing steps and float64 weights ({statements} statements, {table} "
                                    "table values) exceed Java's 64 KB method limit; use the c, go or rust target")


def n_predictions(plan: L.Plan) -> int:
    """Columns of the prediction: 1 for softmax_label, else n_outputs."""
    return 1 if plan.post_transform == "softmax_label" else plan.n_outputs


def _lit(x: float, lang: str) -> str:
    s = L.number(float(x), "float64", lang)
    return f"({s})" if s.startswith("-") else s


def _table_name(lang: str, k: int, what: str) -> str:
    base = f"mp_{what}{k}" if lang in ("c", "go") else f"_{what.upper()}{k}" if lang == "python" else f"{what.upper()}{k}"
    return base


def _table(lang: str, name: str, values) -> str:
    vals = L.numbers(np.asarray(values, np.float64).reshape(-1), "float64", lang) or ["0"]
    n = len(vals)
    body = ", ".join(vals)
    if lang == "c":
        return f"static const double {name}[{n}] = {{{body}}};\n"
    if lang == "java":
        return f"    private static final double[] {name} = {{{body}}};\n"
    if lang == "javascript":
        return f"const {name} = [{body}];\n"
    if lang == "go":
        return f"var {name} = [{n}]float64{{{body}}}\n"
    if lang == "rust":
        return f"static {name}: [f64; {n}] = [{body}];\n"
    return f"{name} = ({body},)\n"


def _if(lang: str, branches: list[tuple[str, str]], pad: str) -> list[str]:
    """An if / else-if chain (no final else) of one-statement branches."""
    if lang == "python":
        out = []
        for k, (cond, stmt) in enumerate(branches):
            out.append(f"{pad}{'if' if k == 0 else 'elif'} {cond}:")
            out.append(f"{pad}    {stmt}")
        return out
    paren = lang in ("c", "java", "javascript")
    parts = [f"if ({c}) {{ {s}; }}" if paren else f"if {c} {{ {s}; }}" for c, s in branches]
    return [pad + " else ".join(parts)]


def _buf(lang: str, name: str, n: int) -> str:
    n = max(1, n)
    return {"c": f"double {name}[{n}];", "java": f"double[] {name} = new double[{n}];",
            "javascript": f"const {name} = new Float64Array({n});", "go": f"var {name} [{n}]float64",
            "rust": f"let mut {name} = [0.0f64; {n}];", "python": f"{name} = [0.0] * {n}"}[lang]


def _int(lang: str, name: str, value: int) -> str:
    return {"c": f"int {name} = {value};", "java": f"int {name} = {value};", "javascript": f"let {name} = {value};",
            "go": f"{name} := {value}", "rust": f"let mut {name}: usize = {value};",
            "python": f"{name} = {value}"}[lang]


def step_code(plan: L.Plan, lang: str, row: str, pad: str) -> tuple[list[str], list[str], str]:
    """``(tables, lines, buffer)``: module-level table declarations, the statements that copy
    ``row`` (``plan.row_width`` doubles) into ``b0`` and apply every step, and the name of
    the buffer holding the ``plan.booster_width`` preprocessed columns."""
    end = "" if lang == "python" else ";"
    tables: list[str] = []
    lines = [pad + _buf(lang, "b0", plan.row_width)]
    lines += [f"{pad}b0[{j}] = {row}[{j}]{end}" for j in range(plan.row_width)]
    cur = "b0"
    for k, st in enumerate(plan.steps, start=1):
        cols = st.columns.tolist()
        if st.kind == "select":
            nb = f"b{k}"
            lines.append(pad + _buf(lang, nb, st.width_out))
            lines += [f"{pad}{nb}[{i}] = {cur}[{s}]{end}" for i, s in enumerate(cols)]
            cur = nb
        elif st.kind == "affine":
            for c, off, sc in zip(cols, st.offset.tolist(), st.scale.tolist(), strict=True):
                v = f"{cur}[{c}]"
                if st.affine_kind == "subtract_divide":
                    lines.append(f"{pad}{v} = {v} - {_lit(off, lang)}{end}")
                    lines.append(f"{pad}{v} = {v} / {_lit(sc, lang)}{end}")
                else:
                    prod = f"{v} * {_lit(sc, lang)}"
                    lines.append(f"{pad}{v} = {'float64(' + prod + ')' if lang == 'go' else prod}{end}")
                    lines.append(f"{pad}{v} = {v} + {_lit(off, lang)}{end}")
                if st.clip is not None:
                    lo, hi = _lit(st.clip[0], lang), _lit(st.clip[1], lang)
                    lines += _if(lang, [(f"{v} < {lo}", f"{v} = {lo}")], pad)
                    lines += _if(lang, [(f"{v} > {hi}", f"{v} = {hi}")], pad)
        elif st.kind == "impute":
            for c, fill in zip(cols, st.fill.tolist(), strict=True):
                v = f"{cur}[{c}]"
                cond = f"{v} != {v}" if st.missing_value is None else f"{v} == {_lit(st.missing_value, lang)}"
                lines += _if(lang, [(cond, f"{v} = {_lit(fill, lang)}")], pad)
        elif st.kind == "lookup":
            c = cols[0]
            nb, r, tab = f"b{k}", f"r{k}", _table_name(lang, k, "tab")
            n_keys, n_new = int(st.keys.size), int(st.table.shape[1])
            tables.append(_table(lang, tab, st.table))
            v = f"{cur}[{c}]"
            lines.append(pad + _buf(lang, nb, st.width_out))
            lines.append(pad + _int(lang, r, n_keys))
            branches = [(f"{v} != {v}", f"{r} = {n_keys + 1}")]
            branches += [(f"{v} == {_lit(key, lang)}", f"{r} = {i}") for i, key in enumerate(st.keys.tolist())]
            lines += _if(lang, branches, pad)
            lines += [f"{pad}{nb}[{j}] = {cur}[{j}]{end}" for j in range(c)]
            lines += [f"{pad}{nb}[{c + j}] = {tab}[{r} * {n_new} + {j}]{end}" for j in range(n_new)]
            lines += [f"{pad}{nb}[{j + n_new - 1}] = {cur}[{j}]{end}" for j in range(c + 1, st.width_in)]
            cur = nb
        else:  # pragma: no cover - lower() builds only these kinds
            raise UnsupportedModelError(f"unknown preprocessing step {st.kind!r}")
    return tables, lines, cur


def _sums(plan: L.Plan, lang: str, pad: str, end: str) -> list[str]:
    """``d[o] = d[o] + bias[o]`` then ``+ base[o]``, one statement each."""
    out = [f"{pad}d[{o}] = d[{o}] + {_lit(v, lang)}{end}" for o, v in enumerate(plan.linear_bias.tolist())]
    return out + [f"{pad}d[{o}] = d[{o}] + {_lit(v, lang)}{end}" for o, v in enumerate(plan.base_score)]


_JAVA_LINK = {
    "identity": "        for (int k = 0; k < N_OUTPUTS; k++) out[k] = (float) d[k];\n",
    "sigmoid": "        out[0] = (float) (1.0 / (1.0 + StrictMath.exp(-d[0])));\n",
    "hinge": "        out[0] = d[0] > 0.0 ? 1.0f : 0.0f;\n",
    "softmax": ("        double mx = d[0], s = 0.0;\n        double[] e = new double[N_OUTPUTS];\n"
                "        for (int k = 1; k < N_OUTPUTS; k++) if (d[k] > mx || d[k] != d[k]) mx = d[k];\n"
                "        for (int k = 0; k < N_OUTPUTS; k++) { e[k] = StrictMath.exp(d[k] - mx); s = s + e[k]; }\n"
                "        for (int k = 0; k < N_OUTPUTS; k++) out[k] = (float) (e[k] / s);\n"),
    "softmax_label": ("        int best = 0;\n        double bv = d[0] != d[0] ? Double.NEGATIVE_INFINITY : d[0];\n"
                      "        for (int k = 1; k < N_OUTPUTS; k++) {\n"
                      "            double v = d[k] != d[k] ? Double.NEGATIVE_INFINITY : d[k];\n"
                      "            if (v > bv) { best = k; bv = v; }\n        }\n        out[0] = (float) best;\n"),
}


def java_body(plan: L.Plan) -> str:
    """The members of the Java class (after its head): raw margin, link and entry points."""
    check_link(plan)
    check_java_size(plan)
    tables, lines, buf = step_code(plan, "java", "x", "        ")
    return ("".join(tables) + _table("java", "W64", plan.linear_weights) + "\n"
            "    // float64 linear model: the steps in float64, then x_j * w_j summed in column order from zero,\n"
            "    // + bias, + base (Java double arithmetic, no contraction).\n"
            "    private static double[] raw(double[] x) {\n        check(x);\n" + "\n".join(lines) + "\n"
            "        double[] d = new double[N_OUTPUTS];\n"
            f"        for (int j = 0; j < {plan.booster_width}; j++)\n"
            "            for (int o = 0; o < N_OUTPUTS; o++) d[o] = d[o] + " + buf + "[j] * W64[j * N_OUTPUTS + o];\n"
            + "\n".join(_sums(plan, "java", "        ", ";")) + "\n        return d;\n    }\n\n"
            "    // The link in double on the unrounded margin (StrictMath.exp: fdlibm), rounded once.\n"
            "    private static void link(double[] d, float[] out) {\n" + _JAVA_LINK[plan.post_transform] + "    }\n\n"
            "    /** The margins of one row (double[N_FEATURES], NaN = missing) into margin[N_OUTPUTS]. */\n"
            "    public static void predictMargin(double[] x, float[] margin) {\n        double[] d = raw(x);\n"
            "        for (int o = 0; o < N_OUTPUTS; o++) margin[o] = (float) d[o];\n    }\n\n"
            "    /** The margins and the prediction (N_PREDICTIONS values) of one row. */\n"
            "    public static void predictInto(double[] x, float[] margin, float[] out) {\n        double[] d = raw(x);\n"
            "        for (int o = 0; o < N_OUTPUTS; o++) margin[o] = (float) d[o];\n        link(d, out);\n    }\n\n"
            "    /** What the model predicts for one row (N_PREDICTIONS values). */\n"
            "    public static float[] predict(double[] x) {\n        float[] out = new float[N_PREDICTIONS];\n"
            "        link(raw(x), out);\n        return out;\n    }\n\n"
            "    private static void check(double[] x) {\n        if (x.length != N_FEATURES) {\n"
            "            throw new IllegalArgumentException(\"expected \" + N_FEATURES + \" features, got \" + x.length);\n"
            "        }\n    }\n}\n")


_JS_LINK = {
    "identity": "  for (let k = 0; k < N_OUTPUTS; k++) out[k] = d[k];\n",
    "sigmoid": "  out[0] = 1 / (1 + Math.exp(-d[0]));\n",
    "hinge": "  out[0] = d[0] > 0 ? 1 : 0;\n",
    "softmax": ("  let mx = d[0], s = 0;\n  const e = new Float64Array(N_OUTPUTS);\n"
                "  for (let k = 1; k < N_OUTPUTS; k++) if (d[k] > mx || d[k] !== d[k]) mx = d[k];\n"
                "  for (let k = 0; k < N_OUTPUTS; k++) { e[k] = Math.exp(d[k] - mx); s = s + e[k]; }\n"
                "  for (let k = 0; k < N_OUTPUTS; k++) out[k] = e[k] / s;\n"),
    "softmax_label": ("  let best = 0, bv = d[0] !== d[0] ? -Infinity : d[0];\n"
                      "  for (let k = 1; k < N_OUTPUTS; k++) {\n    const v = d[k] !== d[k] ? -Infinity : d[k];\n"
                      "    if (v > bv) { best = k; bv = v; }\n  }\n  out[0] = best;\n"),
}


def javascript_body(plan: L.Plan) -> str:
    """The module body after the head: raw margin, link and the exported entry points (a
    Float32Array output rounds each double once)."""
    check_link(plan)
    tables, lines, buf = step_code(plan, "javascript", "x", "  ")
    return ("".join(tables) + _table("javascript", "W64", plan.linear_weights) + "\n"
            "// float64 linear model: the steps in float64, then x_j * w_j summed in column order from zero,\n"
            "// + bias, + base (JavaScript numbers are IEEE doubles).\n"
            "function raw(x) {\n  if (x.length !== N_FEATURES) throw new RangeError(\"expected \" + N_FEATURES + "
            "\" features, got \" + x.length);\n" + "\n".join(lines) + "\n  const d = new Float64Array(N_OUTPUTS);\n"
            f"  for (let j = 0; j < {plan.booster_width}; j++)\n"
            "    for (let o = 0; o < N_OUTPUTS; o++) d[o] = d[o] + " + buf + "[j] * W64[j * N_OUTPUTS + o];\n"
            + "\n".join(_sums(plan, "javascript", "  ", ";")) + "\n  return d;\n}\n\n"
            "// The link in double on the unrounded margin; out is a Float32Array (one rounding).\n"
            "function link(d, out) {\n" + _JS_LINK[plan.post_transform] + "  return out;\n}\n\n"
            "/** The margins of one row (N_FEATURES numbers, NaN = missing) into out (a Float32Array). */\n"
            "export function predictMargin(x, out = new Float32Array(N_OUTPUTS)) {\n  out.set(raw(x));\n  return out;\n}\n\n"
            "/** The margins and the prediction of one row. */\n"
            "export function predictInto(x, margin, out) {\n  const d = raw(x);\n  margin.set(d);\n  return link(d, out);\n}\n\n"
            "/** What the model predicts for one row (a Float32Array of N_PREDICTIONS). */\n"
            "export function predict(x) {\n  return link(raw(x), new Float32Array(N_PREDICTIONS));\n}\n")


_GO_LINK = {
    "identity": "\tfor k := 0; k < NOutputs; k++ {\n\t\tout[k] = float32(d[k])\n\t}\n",
    "sigmoid": "\tout[0] = float32(1 / (1 + math.Exp(-d[0])))\n",
    "hinge": "\tout[0] = 0\n\tif d[0] > 0 {\n\t\tout[0] = 1\n\t}\n",
    "softmax": ("\tmx := d[0]\n\tfor k := 1; k < NOutputs; k++ {\n\t\tif d[k] > mx || d[k] != d[k] {\n\t\t\tmx = d[k]\n\t\t}\n\t}\n"
                "\tvar e [NOutputs]float64\n\ts := 0.0\n\tfor k := 0; k < NOutputs; k++ {\n"
                "\t\te[k] = math.Exp(d[k] - mx)\n\t\ts = s + e[k]\n\t}\n"
                "\tfor k := 0; k < NOutputs; k++ {\n\t\tout[k] = float32(e[k] / s)\n\t}\n"),
    "softmax_label": ("\tbest, bv := 0, d[0]\n\tif bv != bv {\n\t\tbv = math.Inf(-1)\n\t}\n"
                      "\tfor k := 1; k < NOutputs; k++ {\n\t\tv := d[k]\n\t\tif v != v {\n\t\t\tv = math.Inf(-1)\n\t\t}\n"
                      "\t\tif v > bv {\n\t\t\tbest, bv = k, v\n\t\t}\n\t}\n\tout[0] = float32(best)\n"),
}


def go_body(plan: L.Plan) -> str:
    """The file body after the head: raw margin (every product explicitly converted, so no
    FMA fusion), link and the exported entry points."""
    check_link(plan)
    tables, lines, buf = step_code(plan, "go", "x", "\t")
    return ("".join(tables) + _table("go", "mp_w", plan.linear_weights) + "var _ = math.Inf // every link does not need math\n\n"
            "// raw is the float64 margin: the steps in float64, then x_j * w_j summed in column order\n"
            "// from zero, + bias, + base.\n"
            "func raw(x []float64) [NOutputs]float64 {\n\tcheck(len(x))\n" + "\n".join(lines) + "\n"
            f"\tvar d [NOutputs]float64\n\tfor j := 0; j < {plan.booster_width}; j++ {{\n"
            f"\t\tfor o := 0; o < NOutputs; o++ {{\n\t\t\td[o] = d[o] + float64({buf}[j]*mp_w[j*NOutputs+o])\n\t\t}}\n\t}}\n"
            + "\n".join(_sums(plan, "go", "\t", "")) + "\n\treturn d\n}\n\n"
            "func link(d [NOutputs]float64, out []float32) {\n" + _GO_LINK[plan.post_transform] + "}\n\n"
            "// PredictMargin writes the NOutputs margins of one row (NaN = missing) into margin.\n"
            "func PredictMargin(x []float64, margin []float32) {\n\td := raw(x)\n"
            "\tfor o := range d {\n\t\tmargin[o] = float32(d[o])\n\t}\n}\n\n"
            "// PredictInto writes the margins and the prediction (NPredictions values) of one row.\n"
            "func PredictInto(x []float64, margin []float32, out []float32) {\n\td := raw(x)\n"
            "\tfor o := range d {\n\t\tmargin[o] = float32(d[o])\n\t}\n\tlink(d, out)\n}\n\n"
            "// Predict returns what the model predicts for one row (NPredictions values).\n"
            "func Predict(x []float64) []float32 {\n\tout := make([]float32, NPredictions)\n\tlink(raw(x), out)\n"
            "\treturn out\n}\n")


_RUST_LINK = {
    "identity": "        for k in 0..N_OUTPUTS {\n            out[k] = d[k] as f32;\n        }\n",
    "sigmoid": "        out[0] = (1.0f64 / (1.0f64 + (-d[0]).exp())) as f32;\n",
    "hinge": "        out[0] = if d[0] > 0.0 { 1.0 } else { 0.0 };\n",
    "softmax": ("        let mut mx = d[0];\n        for k in 1..N_OUTPUTS {\n"
                "            if d[k] > mx || d[k].is_nan() {\n                mx = d[k];\n            }\n        }\n"
                "        let mut e = [0.0f64; N_OUTPUTS];\n        let mut s = 0.0f64;\n"
                "        for k in 0..N_OUTPUTS {\n            e[k] = (d[k] - mx).exp();\n            s = s + e[k];\n        }\n"
                "        for k in 0..N_OUTPUTS {\n            out[k] = (e[k] / s) as f32;\n        }\n"),
    "softmax_label": ("        let mut best = 0usize;\n        let mut bv = if d[0].is_nan() { f64::NEG_INFINITY } else { d[0] };\n"
                      "        for k in 1..N_OUTPUTS {\n"
                      "            let v = if d[k].is_nan() { f64::NEG_INFINITY } else { d[k] };\n"
                      "            if v > bv {\n                best = k;\n                bv = v;\n            }\n        }\n"
                      "        out[0] = best as f32;\n"),
}


def rust_body(plan: L.Plan) -> str:
    """The module body after the head: raw margin, link and ``Model``'s methods."""
    check_link(plan)
    tables, lines, buf = step_code(plan, "rust", "x", "    ")
    return ("".join(tables) + _table("rust", "W64", plan.linear_weights) + "\n"
            "// The float64 margin: the steps in float64, then x_j * w_j summed in column order from zero,\n"
            "// + bias, + base (rustc never contracts into an FMA).\n"
            "fn raw(x: &[f64]) -> [f64; N_OUTPUTS] {\n    check(x.len());\n" + "\n".join(lines) + "\n"
            f"    let mut d = [0.0f64; N_OUTPUTS];\n    for j in 0..{plan.booster_width} {{\n"
            f"        for o in 0..N_OUTPUTS {{\n            d[o] = d[o] + {buf}[j] * W64[j * N_OUTPUTS + o];\n        }}\n    }}\n"
            + "\n".join(_sums(plan, "rust", "    ", ";")) + "\n    d\n}\n\n"
            "fn link(d: &[f64; N_OUTPUTS], out: &mut [f32]) {\n" + _RUST_LINK[plan.post_transform] + "}\n\n"
            "/// The model (nothing to prepare; `Model::new()` for the common API).\n"
            "pub struct Model {}\n\n"
            "impl Model {\n    /// The model.\n    pub fn new() -> Model {\n        Model {}\n    }\n\n"
            "    /// The N_OUTPUTS margins of one row (N_FEATURES values, NaN = missing) into `margin`.\n"
            "    pub fn predict_margin(&self, x: &[f64], margin: &mut [f32]) {\n        let d = raw(x);\n"
            "        for o in 0..N_OUTPUTS {\n            margin[o] = d[o] as f32;\n        }\n    }\n\n"
            "    /// The margins and the prediction (N_PREDICTIONS values) of one row.\n"
            "    pub fn predict_into(&self, x: &[f64], margin: &mut [f32], out: &mut [f32]) {\n        let d = raw(x);\n"
            "        for o in 0..N_OUTPUTS {\n            margin[o] = d[o] as f32;\n        }\n        link(&d, out);\n    }\n\n"
            "    /// What the model predicts for one row (N_PREDICTIONS values).\n"
            "    pub fn predict(&self, x: &[f64]) -> Vec<f32> {\n        let mut out = vec![0.0f32; N_PREDICTIONS];\n"
            "        link(&raw(x), &mut out);\n        out\n    }\n}\n\n"
            "impl Default for Model {\n    fn default() -> Model {\n        Model::new()\n    }\n}\n")
