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

__all__ = ["LINKS", "SUPPORTS", "check_link", "step_code", "n_predictions"]

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
    ``row`` (``plan.n_features`` doubles) into ``b0`` and apply every step, and the name of
    the buffer holding the ``plan.booster_width`` preprocessed columns."""
    end = "" if lang == "python" else ";"
    tables: list[str] = []
    lines = [pad + _buf(lang, "b0", plan.n_features)]
    lines += [f"{pad}b0[{j}] = {row}[{j}]{end}" for j in range(plan.n_features)]
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
