"""The ``java`` target: the model as one dependency-free Java 8+ class (a bundle: ``Model.java``).

Entry points (``public final strictfp class Model``, no package: add one if you like)::

    Model.predictMargin(float[] x, float[] margin)   // N_OUTPUTS margins of one row (NaN = missing)
    Model.transform(float[] margin, float[] out)     // N_PREDICTIONS values: the link
    float[] Model.predict(float[] x)                 // both, allocating the result
    String[] Model.featureNames()

``float[]`` is ``double[]`` for models that compare in float64.  Java float arithmetic is
IEEE-754 binary32 with round-to-nearest and no contraction (``strictfp``, the default since
Java 17), so the margins equal the reference evaluator bit for bit.  The 64 KB method limit of
the class-file format: in the ``unrolled`` shape each tree is its own method (a tree too large
for one method switches the model to the ``arrays`` shape) and the tree calls are grouped into
methods of :data:`CALLS_PER_METHOD`; in the ``arrays`` shape the node tables are one base64
string, split into literals below the 65,535-byte constant limit, decoded once by the static
initialiser (the data never becomes bytecode).
"""

from __future__ import annotations

from pathlib import Path

from modelport.converters.targets import BUNDLE, TARGETS, Target, WriteOptions
from modelport.converters.targets.native import _family as F
from modelport.converters.targets.native import _linear64 as L64
from modelport.converters.targets.native import lower as L
from modelport.core.contract import artifact_metadata, write_manifest
from modelport.core.ir.model import Model
from modelport.core.tolerances import ulps
from modelport.core.toolchains import JAVA

__all__ = ["generate_java", "write_java", "MARGIN_TOLERANCE", "LINK_TOLERANCE", "MAX_TREE_NODES", "CALLS_PER_METHOD"]

#: Largest tree written as one method in the unrolled shape (about 12 bytes of bytecode per
#: node: 3,000 nodes stay well below the 64 KB method limit).
MAX_TREE_NODES = 3_000
#: Tree-method calls per grouping method (5 bytes each).
CALLS_PER_METHOD = 2_000
#: Unrolled models keep their float constants below this share of the 65,535-entry constant pool.
MAX_CONSTANTS = 40_000
#: Characters per base64 string literal (a class-file constant holds at most 65,535 bytes).
CHUNK = 60_000

MARGIN_TOLERANCE = ulps("java-margin", 0, "Java float arithmetic is IEEE binary32 without contraction (strictfp); the "
                        "generated code adds the same float32 values in the evaluator's order",
                        "code review of the lowering (native/lower.py); measured 0 ULP on every XGBoost case")
LINK_TOLERANCE = ulps("java-link", 2, "links use XGBoost's float32 formulas with StrictMath.exp (fdlibm, < 1 ULP in "
                      "double) rounded once to float: a 1-ULP double difference from numpy's exp moves the float32 "
                      "rounding only near a half-way point (1 ULP of exp, at most 2 after sigmoid/softmax's division)",
                      "derived; measured 0 ULP on every XGBoost case (tests/test_native_jvm_js_go_rust.py)")


def _t(dtype: str) -> str:
    return "float" if dtype == "float32" else "double"


def _choose(model: Model, shape: str) -> L.Plan:
    plan = L.lower(model, shape=shape)
    if plan.kind == "trees" and plan.shape == "unrolled" and shape == "auto":
        biggest = max((t.n_nodes for t in plan.trees), default=0)
        if biggest > MAX_TREE_NODES or plan.total_nodes + 3 * len(plan.trees) > MAX_CONSTANTS:
            plan = L.lower(model, shape="arrays")
    if plan.kind == "trees" and plan.shape == "unrolled" and max((t.n_nodes for t in plan.trees), default=0) > MAX_TREE_NODES:
        from modelport.core.errors import UnsupportedModelError

        raise UnsupportedModelError(f"a tree of more than {MAX_TREE_NODES} nodes exceeds Java's 64 KB method limit "
                                    "when unrolled; use the 'arrays' code shape")
    return plan


def generate_java(model: Model, *, shape: str = "auto") -> str:
    """The text of ``Model.java`` for ``model`` in the given code shape."""
    return _generate(model, shape)[0]


def _generate(model: Model, shape: str) -> tuple[str, L.Plan]:
    plan = _choose(model, shape)
    it, at = _t(plan.input_dtype), _t(plan.acc_dtype)
    no, npred = plan.n_outputs, F.n_predictions(plan)
    names = ", ".join(L.escape_string(n, "java") for n in plan.feature_names)
    out = [_HEAD.format(shape=plan.shape if plan.kind == "trees" else "linear", nf=plan.row_width, no=no, npred=npred,
                        names=names)]
    if plan.kind == "linear64":
        return "".join(out) + L64.java_body(plan), plan
    if plan.steps:  # a pipeline: the steps in float64, then one rounding to the trees' input type
        L64.check_java_size(plan)
        tables, lines, buf = L64.step_code(plan, "java", "x", "        ")
        nan = "Float.NaN" if it == "float" else "Double.NaN"
        miss = ("" if plan.missing is None else
                f"            if (r[j] == {L.number(plan.missing, plan.input_dtype, 'java')}) r[j] = {nan};\n")
        out.append("".join(tables) + f"\n    private static {it}[] row(double[] x) {{\n        check(x);\n" + "\n".join(lines)
                   + f"\n        {it}[] r = new {it}[{plan.n_features}];\n"
                   f"        for (int j = 0; j < {plan.n_features}; j++) {{\n            r[j] = ({it}) {buf}[j];\n" + miss
                   + "        }\n        return r;\n    }\n\n")
    elif plan.missing is None:
        out.append(f"    private static {it}[] row({it}[] x) {{ check(x); return x; }}\n\n")
    else:
        lit = L.number(plan.missing, plan.input_dtype, "java")
        nan = "Float.NaN" if it == "float" else "Double.NaN"
        out.append(f"    private static {it}[] row({it}[] x) {{\n        check(x);\n        {it}[] r = x.clone();\n"
                   f"        for (int j = 0; j < r.length; j++) if (r[j] == {lit}) r[j] = {nan};\n        return r;\n    }}\n\n")
    cats = F.cat_sets(plan)
    if plan.kind == "linear":
        out.append(_linear(plan))
    else:
        if cats.codes or plan.shape == "arrays":
            out.append(_cat_code(plan, cats, it))
        out.append(_arrays(plan, cats, it, at) if plan.shape == "arrays" else _unrolled(plan, cats, it, at))
    out.append(_margin(plan, "double" if plan.steps else it, at))
    out.append(_transform(plan))
    out.append(_TAIL.format(it="double" if plan.steps else it))
    return "".join(out), plan


def write_java(model: Model, out_path: Path, options: WriteOptions, *, shape: str | None = None) -> None:
    """Write the bundle directory ``out_path`` (Model.java, modelport.json)."""
    shape = shape or getattr(options, "code_shape", None) or "auto"
    text, plan = _generate(model, shape)
    out = Path(out_path)
    out.mkdir(parents=True, exist_ok=False)
    (out / "Model.java").write_text(text, encoding="ascii")
    meta = artifact_metadata(model, extra={"input_type": plan.row_dtype, "code_shape": plan.shape})
    write_manifest(out, format="java", runtime="java", metadata=meta,
                   entry="Model.java")


_HEAD = """\
// Generated by modelport: a {shape} model as one dependency-free Java 8+ class.
// Do not edit: regenerate from the model.  Margins are bit-exact with modelport's reference
// evaluator (IEEE float arithmetic, in the evaluator's order).
public final strictfp class Model {{
    public static final int N_FEATURES = {nf};
    public static final int N_OUTPUTS = {no};
    public static final int N_PREDICTIONS = {npred};
    private static final String[] FEATURE_NAMES = {{{names}}};

    private Model() {{
    }}

    /** Feature names in column order. */
    public static String[] featureNames() {{
        return FEATURE_NAMES.clone();
    }}

"""


def _cat_code(plan: L.Plan, cats: F.CatSets, it: str) -> str:
    offs = ", ".join(map(str, cats.offsets))
    codes = ", ".join(map(str, cats.codes))
    inv = "true" if plan.invalid_category_goes_left else "false"
    in_left = "true" if plan.categories_in_set_go_left else "false"
    big = "16777216.0f" if it == "float" else "16777216.0"
    decl = ("" if plan.shape == "arrays" else
            f"    private static final int[] CAT_OFF = {{{offs}}};\n    private static final int[] CAT_CODES = {{{codes}}};\n")
    return (decl +
            "    // Categorical split: NaN -> default side; outside [0, 2**24) -> the invalid side; else the\n"
            "    // value truncated toward zero is looked up in the node's sorted set.\n"
            f"    private static boolean catLeft({it} v, boolean defaultLeft, int set) {{\n"
            "        if (v != v) return defaultLeft;\n"
            f"        if (!(v >= 0) || !(v < {big})) return {inv};\n"
            "        int c = (int) v;\n        int lo = CAT_OFF[set], hi = CAT_OFF[set + 1];\n"
            "        while (lo < hi) {\n            int mid = (lo + hi) >>> 1;\n"
            "            if (CAT_CODES[mid] < c) lo = mid + 1; else hi = mid;\n        }\n"
            f"        return (lo < CAT_OFF[set + 1] && CAT_CODES[lo] == c) == {in_left};\n    }}\n\n")


def _unrolled(plan: L.Plan, cats: F.CatSets, it: str, at: str) -> str:
    out = []
    for t, ids in zip(plan.trees, cats.ids, strict=True):
        out.append(f"    private static void tree{t.index}({it}[] x, {at}[] acc) {{\n")
        out.extend(line + "\n" for line in F.unrolled_body(plan, t, "java", ids, indent="    ", parens=True))
        out.append("    }\n\n")
    groups = [plan.trees[k:k + CALLS_PER_METHOD] for k in range(0, len(plan.trees), CALLS_PER_METHOD)]
    for g, trees in enumerate(groups):
        out.append(f"    private static void trees{g}({it}[] x, {at}[] acc) {{\n")
        out.extend(f"        tree{t.index}(x, acc);\n" for t in trees)
        out.append("    }\n\n")
    out.append(f"    private static void accumulate({it}[] x, {at}[] acc) {{\n")
    out.extend(f"        trees{g}(x, acc);\n" for g in range(len(groups)))
    out.append("    }\n\n")
    return "".join(out)


def _arrays(plan: L.Plan, cats: F.CatSets, it: str, at: str) -> str:
    blob, _ = F.node_tables(plan, cats)
    parts = ",\n".join(f'        "{c}"' for c in F.base64_chunks(blob.b64(), CHUNK))
    decl, load = [], []
    java = {"int32": ("int", "asIntBuffer"), "float32": ("float", "asFloatBuffer"), "float64": ("double", "asDoubleBuffer")}
    for name, (off, count, dtype) in blob.sections.items():
        jt, view = java[dtype]
        var = name.upper()
        decl.append(f"    private static final {jt}[] {var} = new {jt}[{count}];\n")
        load.append(f"        b.position({off});\n        b.{view}().get({var});\n")
    cmp = plan.comparison
    ld = plan.leaf_dim
    add = ("acc[OUTS[t]] += VALUES[i];" if ld == 1 else
           f"for (int o = 0; o < N_OUTPUTS; o++) acc[o] += VALUES[i * {ld} + o];")
    if cats.codes:
        step = (f"                boolean l = (inf & 2) != 0 ? catLeft(v, (inf & 1) != 0, (int) THR[i])\n"
                f"                    : (v {cmp} THR[i]) || ((inf & 1) != 0 && v != v);\n")
    else:
        step = f"                boolean l = (v {cmp} THR[i]) || ((inf & 1) != 0 && v != v);\n"
    return ("    // Node tables (see modelport docs/native.md): base64 of little-endian int32/float arrays.\n"
            "    private static final String[] DATA = {\n" + parts + "\n    };\n" + "".join(decl) +
            "\n    static {\n        StringBuilder s = new StringBuilder();\n"
            "        for (String p : DATA) s.append(p);\n"
            "        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(java.util.Base64.getDecoder().decode(s.toString()))\n"
            "            .order(java.nio.ByteOrder.LITTLE_ENDIAN);\n" + "".join(load) + "    }\n\n"
            f"    private static void accumulate({it}[] x, {at}[] acc) {{\n"
            "        for (int t = 0; t < ROOTS.length; t++) {\n            int i = ROOTS[t];\n"
            "            while (LEFT[i] != i) {\n                int inf = INFO[i];\n"
            f"                {it} v = x[inf >>> 2];\n" + step +
            "                i = l ? LEFT[i] : RIGHT[i];\n            }\n"
            f"            {add}\n        }}\n    }}\n\n")


def _linear(plan: L.Plan) -> str:
    import numpy as np

    w = L.numbers(plan.linear_weights, "float32", "java")
    start = (np.asarray(plan.base_score, np.float32) + plan.linear_bias.astype(np.float32)).astype(np.float32)
    init = "".join(f"        acc[{o}] = {v};\n" for o, v in enumerate(L.numbers(start, "float32", "java")))
    return (f"    private static final float[] W = {{{', '.join(w)}}};\n\n"
            "    // gblinear: (base + bias), then += x_j * w_j in column order, skipping missing values.\n"
            "    private static void accumulate(float[] x, float[] acc) {\n" + init +
            "        for (int j = 0; j < N_FEATURES; j++) {\n            float v = x[j];\n            if (v != v) continue;\n"
            "            for (int o = 0; o < N_OUTPUTS; o++) {\n                float p = v * W[j * N_OUTPUTS + o];\n"
            "                acc[o] = acc[o] + p;\n            }\n        }\n    }\n\n")


def _margin(plan: L.Plan, it: str, at: str) -> str:
    if plan.kind == "linear":
        init = ""
    elif plan.wide:
        init = ""  # Java arrays start at zero
    else:
        init = "".join(f"        acc[{o}] = {L.number(b, 'float32', 'java')};\n" for o, b in enumerate(plan.base_score))
    fin = []
    if plan.wide:
        if plan.average:
            fin += [f"        acc[{o}] = acc[{o}] / {c}.0{'f' if at == 'float' else ''};\n"
                    for o, c in enumerate(plan.output_counts) if c > 0]
        fin += [f"        acc[{o}] += {L.number(b, plan.acc_dtype, 'java')};\n" for o, b in enumerate(plan.base_score)]
    return ("    /** The margins of one row ({it}[N_FEATURES], NaN = missing) into margin[N_OUTPUTS]. */\n"
            f"    public static void predictMargin({it}[] x, float[] margin) {{\n"
            f"        {at}[] acc = new {at}[N_OUTPUTS];\n" + init +
            "        accumulate(row(x), acc);\n" + "".join(fin) +
            "        for (int o = 0; o < N_OUTPUTS; o++) margin[o] = (float) acc[o];\n    }\n\n").replace("{it}", it)


def _transform(plan: L.Plan) -> str:
    body = {
        "identity": "        for (int k = 0; k < N_OUTPUTS; k++) out[k] = m[k];\n",
        "sigmoid": "        for (int k = 0; k < N_OUTPUTS; k++) out[k] = 1.0f / (1.0f + expf(-m[k]));\n",
        "exp": "        for (int k = 0; k < N_OUTPUTS; k++) out[k] = expf(m[k]);\n",
        "hinge": "        for (int k = 0; k < N_OUTPUTS; k++) out[k] = m[k] > 0.0f ? 1.0f : 0.0f;\n",
        "softmax": ("        float mx = m[0];\n        double s = 0.0;\n        float[] e = new float[N_OUTPUTS];\n"
                    "        for (int k = 1; k < N_OUTPUTS; k++) if (m[k] > mx || m[k] != m[k]) mx = m[k];\n"
                    "        for (int k = 0; k < N_OUTPUTS; k++) {\n            float d = m[k] - mx;\n"
                    "            e[k] = expf(d);\n            s += (double) e[k];\n        }\n"
                    "        float fs = (float) s;\n        for (int k = 0; k < N_OUTPUTS; k++) out[k] = e[k] / fs;\n"),
        "softmax_label": ("        int best = 0;\n        for (int k = 1; k < N_OUTPUTS; k++) {\n"
                          "            if (m[best] != m[best]) break;\n"
                          "            if (m[k] > m[best] || m[k] != m[k]) best = k;\n        }\n"
                          "        out[0] = (float) best;\n"),
    }[plan.post_transform]
    return ("    // float32 exp as the evaluator: double exp (fdlibm) rounded once.\n"
            "    private static float expf(float v) {\n        return (float) StrictMath.exp((double) v);\n    }\n\n"
            "    /** The link: margin[N_OUTPUTS] -> out[N_PREDICTIONS]. */\n"
            "    public static void transform(float[] m, float[] out) {\n" + body + "    }\n\n")


_TAIL = """\
    private static void check({it}[] x) {{
        if (x.length != N_FEATURES) {{
            throw new IllegalArgumentException("expected " + N_FEATURES + " features, got " + x.length);
        }}
    }}

    /** The margins of one row, allocated. */
    public static float[] predictMargin({it}[] x) {{
        float[] m = new float[N_OUTPUTS];
        predictMargin(x, m);
        return m;
    }}

    /** The margins and the prediction (N_PREDICTIONS values) of one row. */
    public static void predictInto({it}[] x, float[] margin, float[] out) {{
        predictMargin(x, margin);
        transform(margin, out);
    }}

    /** What the model predicts for one row (N_PREDICTIONS values). */
    public static float[] predict({it}[] x) {{
        float[] out = new float[N_PREDICTIONS];
        transform(predictMargin(x), out);
        return out;
    }}
}}
"""


TARGETS.register(
    "java",
    Target(
        name="java",
        extension=".java",
        description="one dependency-free Java 8+ class (Model.java), run by javac + java",
        write=write_java,
        runtime="java",
        margin_tolerance=MARGIN_TOLERANCE,
        link_tolerance=LINK_TOLERANCE,
        artifact=BUNDLE,
        toolchain=(JAVA,),
        supports=L64.SUPPORTS,
    ),
)
