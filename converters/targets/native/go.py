"""The ``go`` target: the model as one Go file, standard library only (a bundle: ``model.go``,
``package model``).

API::

    model.NFeatures, model.NOutputs, model.NPredictions, model.FeatureNames
    model.PredictMargin(x []float32, margin []float32)  // NaN = missing
    model.Transform(margin []float32, out []float32)    // the link
    model.Predict(x []float32) []float32

(``[]float64`` input for models that compare in float64.)  float32 semantics: Go's
``float32`` arithmetic is IEEE binary32, but the Go specification lets a compiler fuse
``x*y + z`` into an FMA (arm64, ppc64, s390x do) unless the product is explicitly converted:
every product here is written ``float32(x * y)``, which the specification says rounds and
prevents fusion.  ``expf(v)`` is ``float32(math.Exp(float64(v)))``.  In the ``arrays`` shape
the node tables are one base64 string constant decoded by ``init`` (a composite literal of
millions of numbers takes the Go compiler minutes; a string, seconds).
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
from modelport.core.toolchains import GO

__all__ = ["generate_go", "write_go", "MARGIN_TOLERANCE", "LINK_TOLERANCE"]

MARGIN_TOLERANCE = ulps("go-margin", 0, "Go float32 arithmetic is IEEE binary32 and every product is explicitly "
                        "converted (no FMA fusion); same values in the evaluator's order",
                        "code review of the lowering (native/lower.py); measured 0 ULP on every XGBoost case")
LINK_TOLERANCE = ulps("go-link", 2, "links use XGBoost's float32 formulas with Go's math.Exp (< 1 ULP in double) "
                      "rounded once: a 1-ULP double difference from numpy's exp moves the float32 rounding only near "
                      "a half-way point (1 ULP of exp, at most 2 after sigmoid/softmax's division)",
                      "derived; measured 0 ULP on every XGBoost case (tests/test_native_jvm_js_go_rust.py)")

_GO = {"float32": "float32", "float64": "float64", "int32": "int32"}


def generate_go(model: Model, *, shape: str = "auto", package: str = "model") -> str:
    """The text of ``model.go`` (``package`` names the Go package) for ``model``."""
    return _generate(model, shape, package=package)[0]


def _generate(model: Model, shape: str, package: str = "model") -> tuple[str, L.Plan]:
    if not (package.isidentifier() and package.isascii()):
        raise ValueError(f"not a Go package name: {package!r}")
    plan = L.lower(model, shape=shape)
    it, at = _GO[plan.input_dtype], _GO[plan.acc_dtype]
    names = ", ".join(L.escape_string(n, "go") for n in plan.feature_names)
    imports = '\t"math"\n' + ('\t"encoding/base64"\n\t"encoding/binary"\n' if plan.kind == "trees" and plan.shape == "arrays" else "")
    out = [_HEAD.format(shape=plan.shape if plan.kind == "trees" else "linear", pkg=package, imports=imports,
                        nf=plan.row_width, no=plan.n_outputs, npred=F.n_predictions(plan), names=names)]
    if plan.kind == "linear64":
        return "".join(out) + L64.go_body(plan), plan
    if plan.steps:  # a pipeline: the steps in float64, then one rounding to the trees' input type
        tables, lines, buf = L64.step_code(plan, "go", "x", "\t")
        miss = ("" if plan.missing is None else
                f"\t\tif v == {L.number(plan.missing, plan.input_dtype, 'go')} {{\n\t\t\tv = {it}(math.NaN())\n\t\t}}\n")
        out.append("".join(tables) + f"\nfunc row(x []float64) []{it} {{\n\tcheck(len(x))\n" + "\n".join(lines) +
                   f"\n\tr := make([]{it}, {plan.n_features})\n\tfor j := 0; j < {plan.n_features}; j++ {{\n"
                   f"\t\tv := {it}({buf}[j])\n" + miss + "\t\tr[j] = v\n\t}\n\treturn r\n}\n\n")
    elif plan.missing is None:
        out.append(f"func row(x []{it}) []{it} {{\n\tcheck(len(x))\n\treturn x\n}}\n\n")
    else:
        lit = L.number(plan.missing, plan.input_dtype, "go")
        out.append(f"func row(x []{it}) []{it} {{\n\tcheck(len(x))\n\tr := make([]{it}, len(x))\n"
                   f"\tfor j, v := range x {{\n\t\tif v == {lit} {{\n\t\t\tv = {it}(math.NaN())\n\t\t}}\n\t\tr[j] = v\n\t}}\n"
                   "\treturn r\n}\n\n")
    cats = F.cat_sets(plan)
    if plan.kind == "linear":
        out.append(_linear(plan))
    else:
        if plan.shape == "arrays":
            out.append(_arrays(plan, cats, it, at))
        elif cats.codes:
            out.append(f"var catOff = []int32{{{', '.join(map(str, cats.offsets))}}}\n"
                       f"var catCodes = []int32{{{', '.join(map(str, cats.codes))}}}\n\n")
        if cats.codes or plan.shape == "arrays":
            out.append(_cat_code(plan, it))
        if plan.shape == "unrolled":
            out.append(_unrolled(plan, cats, it, at))
    out.append(_margin(plan, "float64" if plan.steps else it, at))
    out.append(_transform(plan, it))
    return "".join(out), plan


def write_go(model: Model, out_path: Path, options: WriteOptions, *, shape: str | None = None) -> None:
    """Write the bundle directory ``out_path`` (model.go, modelport.json)."""
    shape = shape or getattr(options, "code_shape", None) or "auto"
    text, plan = _generate(model, shape)
    out = Path(out_path)
    out.mkdir(parents=True, exist_ok=False)
    (out / "model.go").write_text(text, encoding="ascii")
    meta = artifact_metadata(model, extra={"input_type": plan.row_dtype, "code_shape": plan.shape})
    write_manifest(out, format="go", runtime="go", metadata=meta,
                   entry="model.go")


_HEAD = """\
// Code generated by modelport. DO NOT EDIT.

// Package {pkg} is a {shape} model in plain Go (standard library only).  Margins are
// bit-exact with modelport's reference evaluator: float32 arithmetic in the evaluator's
// order, every product explicitly rounded (no FMA fusion).
package {pkg}

import (
{imports})

// NFeatures is the number of input columns; NOutputs of margins; NPredictions of Predict's values.
const (
\tNFeatures    = {nf}
\tNOutputs     = {no}
\tNPredictions = {npred}
)

// FeatureNames are the input columns in order.
var FeatureNames = []string{{{names}}}

func check(n int) {{
\tif n != NFeatures {{
\t\tpanic("model: wrong number of features")
\t}}
}}

"""


def _cat_code(plan: L.Plan, it: str) -> str:
    inv = "true" if plan.invalid_category_goes_left else "false"
    in_left = "true" if plan.categories_in_set_go_left else "false"
    return ("// catLeft: NaN -> default side; outside [0, 2**24) -> the invalid side; else the value\n"
            "// truncated toward zero is looked up in the node's sorted set.\n"
            f"func catLeft(v {it}, defaultLeft bool, set int) bool {{\n\tif v != v {{\n\t\treturn defaultLeft\n\t}}\n"
            f"\tif !(v >= 0) || !(v < 16777216) {{\n\t\treturn {inv}\n\t}}\n\tc := int32(v)\n"
            "\tlo, hi := catOff[set], catOff[set+1]\n\tfor lo < hi {\n\t\tmid := lo + (hi-lo)/2\n"
            "\t\tif catCodes[mid] < c {\n\t\t\tlo = mid + 1\n\t\t} else {\n\t\t\thi = mid\n\t\t}\n\t}\n"
            f"\treturn (lo < catOff[set+1] && catCodes[lo] == c) == {in_left}\n}}\n\n")


def _unrolled(plan: L.Plan, cats: F.CatSets, it: str, at: str) -> str:
    out = []
    for t, ids in zip(plan.trees, cats.ids, strict=True):
        out.append(f"func tree{t.index}(x []{it}, acc []{at}) {{\n")
        out.extend(line + "\n" for line in F.unrolled_body(plan, t, "go", ids, indent="\t", parens=False,
                                                           leaf=lambda o, lit: f"acc[{o}] += {lit};"))
        out.append("}\n\n")
    out.append(f"func accumulate(x []{it}, acc []{at}) {{\n")
    out.extend(f"\ttree{t.index}(x, acc)\n" for t in plan.trees)
    out.append("}\n\n")
    return "".join(out)


def _arrays(plan: L.Plan, cats: F.CatSets, it: str, at: str) -> str:
    blob, _ = F.node_tables(plan, cats)
    decl, load = [], []
    conv = {"int32": "int32(binary.LittleEndian.Uint32(b[{o}+4*i:]))",
            "float32": "math.Float32frombits(binary.LittleEndian.Uint32(b[{o}+4*i:]))",
            "float64": "math.Float64frombits(binary.LittleEndian.Uint64(b[{o}+8*i:]))"}
    var = {"thr": "thr", "left": "left", "right": "right", "info": "info", "values": "values", "roots": "roots",
           "outs": "outs", "cat_off": "catOff", "cat_codes": "catCodes"}
    for name, (off, count, dtype) in blob.sections.items():
        v = var[name]
        decl.append(f"\t{v} = make([]{_GO[dtype]}, {count})\n")
        load.append(f"\tfor i := range {v} {{\n\t\t{v}[i] = {conv[dtype].format(o=off)}\n\t}}\n")
    cmp = plan.comparison
    if cats.codes:
        step = (f"\t\t\tvar l bool\n\t\t\tif inf&2 != 0 {{\n\t\t\t\tl = catLeft(v, inf&1 != 0, int(thr[i]))\n"
                f"\t\t\t}} else {{\n\t\t\t\tl = (v {cmp} thr[i]) || (inf&1 != 0 && v != v)\n\t\t\t}}\n")
    else:
        step = f"\t\t\tl := (v {cmp} thr[i]) || (inf&1 != 0 && v != v)\n"
    ld = plan.leaf_dim
    add = ("acc[outs[t]] += values[i]" if ld == 1 else
           f"for o := 0; o < NOutputs; o++ {{\n\t\t\tacc[o] += values[int(i)*{ld}+o]\n\t\t}}")
    return ("// Node tables (modelport docs/native.md): base64 of little-endian int32/float arrays.\n"
            f'const data = "{blob.b64()}"\n\n'
            f"var (\n\tthr      []{it}\n\tleft     []int32\n\tright    []int32\n\tinfo     []int32\n"
            f"\tvalues   []{at}\n\troots    []int32\n\touts     []int32\n\tcatOff   []int32\n\tcatCodes []int32\n)\n\n"
            "func init() {\n\tb, err := base64.StdEncoding.DecodeString(data)\n\tif err != nil {\n"
            "\t\tpanic(\"model: corrupt node tables\")\n\t}\n" + "".join(decl) + "".join(load) + "}\n\n"
            f"func accumulate(x []{it}, acc []{at}) {{\n\tfor t := range roots {{\n\t\ti := roots[t]\n"
            "\t\tfor left[i] != i {\n\t\t\tinf := info[i]\n\t\t\tv := x[inf>>2]\n" + step +
            "\t\t\tif l {\n\t\t\t\ti = left[i]\n\t\t\t} else {\n\t\t\t\ti = right[i]\n\t\t\t}\n\t\t}\n"
            f"\t\t{add}\n\t}}\n}}\n\n")


def _linear(plan: L.Plan) -> str:
    w = L.numbers(plan.linear_weights, "float32", "go")
    start = (np.asarray(plan.base_score, np.float32) + plan.linear_bias.astype(np.float32)).astype(np.float32)
    init = "".join(f"\tacc[{o}] = {v}\n" for o, v in enumerate(L.numbers(start, "float32", "go")))
    return (f"var weights = []float32{{{', '.join(w)}}}\n\n"
            "// accumulate: gblinear, (base + bias) then += x_j * w_j in column order, skipping missing values.\n"
            "func accumulate(x []float32, acc []float32) {\n" + init +
            "\tfor j, v := range x {\n\t\tif v != v {\n\t\t\tcontinue\n\t\t}\n"
            "\t\tfor o := 0; o < NOutputs; o++ {\n\t\t\tacc[o] += float32(v * weights[j*NOutputs+o])\n\t\t}\n\t}\n}\n\n")


def _margin(plan: L.Plan, it: str, at: str) -> str:
    if plan.kind == "linear" or plan.wide:
        init = ""
    else:
        init = "".join(f"\tacc[{o}] = {L.number(b, 'float32', 'go')}\n" for o, b in enumerate(plan.base_score))
    fin = []
    if plan.wide:
        if plan.average:
            fin += [f"\tacc[{o}] = acc[{o}] / {c}\n" for o, c in enumerate(plan.output_counts) if c > 0]
        fin += [f"\tacc[{o}] += {L.number(b, plan.acc_dtype, 'go')}\n" for o, b in enumerate(plan.base_score)]
    return (f"// PredictMargin writes the NOutputs margins of one row (NaN = missing) into margin.\n"
            f"func PredictMargin(x []{it}, margin []float32) {{\n\tvar accBuf [NOutputs]{at}\n\tacc := accBuf[:]\n" + init +
            "\taccumulate(row(x), acc)\n" + "".join(fin) +
            "\tfor o := range acc {\n\t\tmargin[o] = float32(acc[o])\n\t}\n}\n\n"
            "// PredictInto writes the margins and the prediction (NPredictions values) of one row.\n"
            f"func PredictInto(x []{it}, margin []float32, out []float32) {{\n\tPredictMargin(x, margin)\n"
            "\tTransform(margin, out)\n}\n\n"
            f"// Predict returns what the model predicts for one row (NPredictions values).\n"
            f"func Predict(x []{it}) []float32 {{\n\tm := make([]float32, NOutputs)\n\tout := make([]float32, NPredictions)\n"
            "\tPredictMargin(x, m)\n\tTransform(m, out)\n\treturn out\n}\n\n")


def _transform(plan: L.Plan, it: str) -> str:
    body = {
        "identity": "\tcopy(out, m[:NOutputs])\n",
        "sigmoid": "\tfor k := 0; k < NOutputs; k++ {\n\t\tout[k] = 1 / (1 + expf(-m[k]))\n\t}\n",
        "exp": "\tfor k := 0; k < NOutputs; k++ {\n\t\tout[k] = expf(m[k])\n\t}\n",
        "hinge": "\tfor k := 0; k < NOutputs; k++ {\n\t\tout[k] = 0\n\t\tif m[k] > 0 {\n\t\t\tout[k] = 1\n\t\t}\n\t}\n",
        "softmax": ("\tmx := m[0]\n\tfor k := 1; k < NOutputs; k++ {\n"
                    "\t\tif m[k] > mx || m[k] != m[k] {\n\t\t\tmx = m[k]\n\t\t}\n\t}\n"
                    "\tvar e [NOutputs]float32\n\ts := 0.0\n\tfor k := 0; k < NOutputs; k++ {\n\t\td := m[k] - mx\n"
                    "\t\te[k] = expf(d)\n\t\ts += float64(e[k])\n\t}\n\tfs := float32(s)\n"
                    "\tfor k := 0; k < NOutputs; k++ {\n\t\tout[k] = e[k] / fs\n\t}\n"),
        "softmax_label": ("\tbest := 0\n\tfor k := 1; k < NOutputs; k++ {\n\t\tif m[best] != m[best] {\n\t\t\tbreak\n\t\t}\n"
                          "\t\tif m[k] > m[best] || m[k] != m[k] {\n\t\t\tbest = k\n\t\t}\n\t}\n\tout[0] = float32(best)\n"),
    }[plan.post_transform]
    return ("// expf is the evaluator's float32 exp: double exp rounded once.\n"
            "func expf(v float32) float32 {\n\treturn float32(math.Exp(float64(v)))\n}\n\n"
            "// Transform applies the link: NOutputs margins -> NPredictions values.\n"
            "func Transform(m []float32, out []float32) {\n" + body + "}\n")


TARGETS.register(
    "go",
    Target(
        name="go",
        extension=".go",
        description="one Go file (package model, standard library only), built with go build",
        write=write_go,
        runtime="go",
        margin_tolerance=MARGIN_TOLERANCE,
        link_tolerance=LINK_TOLERANCE,
        artifact=BUNDLE,
        toolchain=(GO,),
        supports=L64.SUPPORTS,
    ),
)
