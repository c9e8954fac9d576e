"""Compile a parsed PMML document into evaluable models, and evaluate them over column arrays.

Subset (anything else: one-line UnsupportedModelError naming the element):

* DataDictionary: numeric DataFields (float, double, integer), ``Value property="missing"``;
  TransformationDictionary / LocalTransformations DerivedFields over the expressions below;
* MiningModel with Segmentation ``sum``, ``average``, ``weightedSum``, ``weightedAverage``,
  ``modelChain``; segments with ``<True/>``;
* TreeModel (regression): see :mod:`._pmml_trees`;
* RegressionModel: NumericPredictors (exponent 1); regression normalisation none / exp /
  logit; classification softmax / logit / none / simplemax;
* Targets with one Target: ``rescaleFactor`` / ``rescaleConstant`` on a regression result;
* MiningSchema ``missingValueReplacement``; OutputField ``predictedValue``,
  ``probability`` (with ``value``), ``transformedValue`` (expression);
* expressions: Constant, FieldRef, Apply of floor, ceil, abs, exp, min, max, +, -, *, /,
  threshold, if, isMissing, isNotMissing.

Arithmetic follows ``x-mathContext``: ``"float"`` rounds every operation to float32 (sums in
segment order, ``1f / (1f + expf(-y))`` for logit, the reference evaluator's softmax), where
``expf`` is float64 ``exp`` rounded once, as :mod:`modelport.core.ir.evaluate` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from modelport.core.errors import ModelFormatError
from modelport.runtimes._pmml_load import local
from modelport.runtimes._pmml_trees import (
    BOOL_OPS, K_COMPOUND, K_FALSE, K_SET, K_SIMPLE, K_TRUE, MISSING_STRATEGIES, NO_TRUE_CHILD, OPS,
    TreeBatch, check_compound_depth, unsupported,
)

__all__ = ["Document", "Model", "compile_document", "FUNCTION_NAMES"]

#: Apply functions the evaluator implements (runtimes/_pmml_eval.py).
FUNCTION_NAMES = frozenset({"floor", "ceil", "abs", "exp", "min", "max", "+", "-", "*", "/", "threshold", "if",
                            "isMissing", "isNotMissing", "equal"})

_MODELS = ("MiningModel", "TreeModel", "RegressionModel")
_PREDICATES = ("True", "False", "SimplePredicate", "SimpleSetPredicate", "CompoundPredicate")
_MAX_MODEL_NESTING = 32
_MAX_EXPR_DEPTH = 32


@dataclass
class Model:
    """One compiled model element."""

    kind: str
    function: str
    math: str
    where: str
    replacements: dict[str, float] = field(default_factory=dict)
    outputs: list = field(default_factory=list)
    derived: list = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    method: str = ""
    parts: list = field(default_factory=list)  # ("trees", TreeBatch) | ("model", Model, weight)
    weights: list[float] = field(default_factory=list)
    normalization: str = "none"
    tables: list = field(default_factory=list)
    rescale: tuple[float, float] | None = None
    """``Targets/Target`` ``(rescaleFactor, rescaleConstant)``: the value becomes
    ``value * factor + constant`` in the model's x-mathContext (regression models only)."""


@dataclass
class Document:
    """A compiled PMML file."""

    fields: dict[str, str]
    missing_values: dict[str, list[float]]
    data_fields: list[str]
    active: list[str]
    derived: list
    model: Model
    meta: dict[str, str]
    target_categories: list[str]


def _num(text: str | None, dtype: str, where: str) -> float:
    if text is None:
        raise ModelFormatError(f"{where}: a required number is absent")
    try:
        v = float(text) if dtype != "float" else float(np.float32(text.strip()))
    except ValueError:
        raise ModelFormatError(f"{where}: {text[:40]!r} is not a number") from None
    return v


class _Compiler:
    def __init__(self, root) -> None:
        self.root = root
        self.dtypes: dict[str, str] = {}

    def dtype(self, name: str) -> str:
        return self.dtypes.get(name, "double")

    # -- expressions -------------------------------------------------------------------
    def expr(self, el, where: str, depth: int = 0):
        if depth > _MAX_EXPR_DEPTH:
            raise ModelFormatError(f"{where}: expression nested deeper than {_MAX_EXPR_DEPTH}")
        tag = local(el.tag)
        if tag == "Constant":
            return ("const", _num(el.text, el.get("dataType", "double"), where))
        if tag == "FieldRef":
            return ("ref", el.get("field", ""))
        if tag == "Apply":
            fn = el.get("function", "")
            if fn not in FUNCTION_NAMES:
                raise unsupported(f"Apply function={fn!r}", where)
            args = [self.expr(c, where, depth + 1) for c in el if local(c.tag) != "Extension"]
            mm = el.get("mapMissingTo")
            return ("apply", fn, args, None if mm is None else float(mm))
        if tag == "MapValues":
            return self.map_values(el, where)
        raise unsupported(tag, where, "expression")

    def map_values(self, el, where: str):
        """MapValues over one numeric field and an InlineTable: ``("map", field, keys,
        values, default, missing)`` (the first row whose key equals the value wins; no match
        gives ``defaultValue``, a missing value ``mapMissingTo``; absent ones are missing)."""
        pairs = [c for c in el if local(c.tag) == "FieldColumnPair"]
        tables = [c for c in el if local(c.tag) == "InlineTable"]
        out_col = el.get("outputColumn", "")
        if len(pairs) != 1 or len(tables) != 1 or not out_col:
            raise unsupported("MapValues", where, "one FieldColumnPair, one InlineTable and an outputColumn")
        fld, in_col = pairs[0].get("field", ""), pairs[0].get("column", "")
        keys, vals = [], []
        for row in (r for r in tables[0] if local(r.tag) == "row"):
            cells = {local(c.tag): c.text for c in row}
            if in_col not in cells or out_col not in cells:
                raise ModelFormatError(f"{where}: an InlineTable row lacks column {in_col!r} or {out_col!r}")
            keys.append(_num(cells[in_col], "double", where))
            vals.append(_num(cells[out_col], "double", where))
        opt = lambda a: None if el.get(a) is None else _num(el.get(a), "double", where)  # noqa: E731
        return ("map", fld, np.array(keys, np.float64), np.array(vals, np.float64), opt("defaultValue"),
                opt("mapMissingTo"))

    def derived_fields(self, parent, where: str) -> list:
        out = []
        for df in parent:
            if local(df.tag) != "DerivedField":
                continue
            name = df.get("name", "")
            self.dtypes[name] = df.get("dataType", "double")
            body = [c for c in df if local(c.tag) not in ("Extension", "Value")]
            if len(body) != 1:
                raise ModelFormatError(f"{where}: DerivedField {name!r} needs one expression")
            out.append((name, self.dtypes[name], self.expr(body[0], f"{where} DerivedField {name!r}")))
        return out

    # -- predicates --------------------------------------------------------------------
    def predicate(self, batch: TreeBatch, el, where: str, depth: int = 0) -> int:
        P = batch.preds
        tag = local(el.tag)
        if tag == "True":
            return P.add(K_TRUE)
        if tag == "False":
            return P.add(K_FALSE)
        if tag == "SimplePredicate":
            f, op = el.get("field", ""), el.get("operator", "")
            if op not in OPS:
                raise unsupported(f"SimplePredicate operator={op!r}", where)
            v = 0.0 if op in ("isMissing", "isNotMissing") else _num(el.get("value"), self.dtype(f), where)
            return P.add(K_SIMPLE, col=P._col(f), op=OPS[op], value=v)
        if tag == "SimpleSetPredicate":
            f, bop = el.get("field", ""), el.get("booleanOperator", "")
            arr = [c for c in el if local(c.tag) == "Array"]
            if bop not in ("isIn", "isNotIn") or len(arr) != 1 or arr[0].get("type") not in ("int", "real"):
                raise unsupported("SimpleSetPredicate", where, "numeric Array with isIn/isNotIn only")
            pid = P.add(K_SET, col=P._col(f), op=0 if bop == "isIn" else 1)
            for tok in (arr[0].text or "").split():
                P.set_members.append((pid, _num(tok, self.dtype(f), where)))
            return pid
        if tag == "CompoundPredicate":
            check_compound_depth(depth, where)
            bop = el.get("booleanOperator", "")
            if bop not in BOOL_OPS:
                raise unsupported(f"CompoundPredicate booleanOperator={bop!r}", where)
            subs = [self.predicate(batch, c, where, depth + 1) for c in el if local(c.tag) != "Extension"]
            return P.add(K_COMPOUND, op=BOOL_OPS[bop], subs=subs)
        raise unsupported(tag, where, "predicate")

    # -- models ------------------------------------------------------------------------
    def schema(self, el, m: Model) -> None:
        ms = [c for c in el if local(c.tag) == "MiningSchema"]
        for mf in (ms[0] if ms else ()):
            rep = mf.get("missingValueReplacement")
            if rep is not None:
                m.replacements[mf.get("name", "")] = _num(rep, self.dtype(mf.get("name", "")), m.where)

    def outputs(self, el, m: Model) -> None:
        for out in (c for c in el if local(c.tag) == "Output"):
            for of in (c for c in out if local(c.tag) == "OutputField"):
                name, feat = of.get("name", ""), of.get("feature", "predictedValue")
                dtype = of.get("dataType", "double")
                self.dtypes[name] = dtype
                where = f"{m.where} OutputField {name!r}"
                if feat == "transformedValue":
                    body = [c for c in of if local(c.tag) not in ("Extension", "Decisions", "Value")]
                    if len(body) != 1:
                        raise unsupported("OutputField transformedValue", where, "one expression")
                    m.outputs.append((name, dtype, "expr", self.expr(body[0], where)))
                elif feat == "predictedValue":
                    m.outputs.append((name, dtype, "predicted", None))
                elif feat == "probability" and of.get("value") is not None:
                    m.outputs.append((name, dtype, "probability", of.get("value")))
                else:
                    raise unsupported(f"OutputField feature={feat!r}", where)

    def model(self, el, where: str, nesting: int = 0) -> Model:
        if nesting > _MAX_MODEL_NESTING:
            raise ModelFormatError(f"{where}: models nested deeper than {_MAX_MODEL_NESTING}")
        tag = local(el.tag)
        if tag not in _MODELS:
            raise unsupported(tag, where, "model")
        if el.get("isScorable", "true") == "false":
            raise ModelFormatError(f"{where}: the {tag} is marked isScorable=false")
        m = Model(kind=tag, function=el.get("functionName", ""), math=el.get("x-mathContext", "double"), where=f"{where}/{tag}")
        for c in el:
            if local(c.tag) == "LocalTransformations":
                m.derived = self.derived_fields(c, m.where)
            elif local(c.tag) == "Targets":
                m.rescale = self.targets(c, m)
        self.schema(el, m)
        self.outputs(el, m)
        if tag == "TreeModel":
            batch = TreeBatch()
            self.tree_into(batch, el, m)
            batch.freeze()
            m.parts = [("trees", batch)]
            m.method = "sum"
        elif tag == "RegressionModel":
            self.regression(el, m)
        else:
            self.mining(el, m, nesting)
        return m

    def targets(self, el, m: Model) -> tuple[float, float]:
        """``(rescaleFactor, rescaleConstant)`` of a Targets element with one Target (what
        JPMML-XGBoost writes for the base score); anything else is refused."""
        kids = [c for c in el if local(c.tag) != "Extension"]
        allowed = {"field", "optype", "rescaleFactor", "rescaleConstant"}
        if (m.function != "regression" or len(kids) != 1 or local(kids[0].tag) != "Target"
                or set(kids[0].keys()) - allowed or any(local(c.tag) != "Extension" for c in kids[0])):
            raise unsupported("Targets", m.where, "one Target with rescaleFactor/rescaleConstant in a regression model only")
        kind = "float" if m.math == "float" else "double"
        t = kids[0]
        return (_num(t.get("rescaleFactor", "1"), kind, m.where), _num(t.get("rescaleConstant", "0"), kind, m.where))

    def tree_into(self, batch: TreeBatch, el, m: Model) -> None:
        if el.get("functionName") != "regression":
            raise unsupported(f"TreeModel functionName={el.get('functionName')!r}", m.where, "regression trees only")
        ms = el.get("missingValueStrategy", "none")
        ntc = el.get("noTrueChildStrategy", "returnNullPrediction")
        if ms not in MISSING_STRATEGIES or ntc not in NO_TRUE_CHILD:
            raise unsupported(f"TreeModel missingValueStrategy={ms!r} noTrueChildStrategy={ntc!r}", m.where)
        if m.replacements:
            raise unsupported("MiningField missingValueReplacement in a TreeModel", m.where)
        math = el.get("x-mathContext", m.math)
        nodes = [c for c in el if local(c.tag) == "Node"]
        if len(nodes) != 1:
            raise ModelFormatError(f"{m.where}: a TreeModel needs one root Node")
        B = batch

        def alloc(k: int) -> int:
            start = len(B.score)
            for lst, dflt in ((B.score, np.nan), (B.pred_of, 0), (B.kid_start, 0), (B.kid_count, 0), (B.default_child, -1),
                              (B.missing_strategy, MISSING_STRATEGIES[ms]), (B.no_true_child, NO_TRUE_CHILD[ntc])):
                lst.extend([dflt] * k)
            return start

        root = alloc(1)
        B.roots.append(root)
        stack = [(nodes[0], root, 0)]
        while stack:
            node, g, d = stack.pop()
            B.depth = max(B.depth, d)
            preds = [c for c in node if local(c.tag) in _PREDICATES]
            others = [local(c.tag) for c in node if local(c.tag) not in _PREDICATES + ("Node", "Extension", "ScoreDistribution")]
            if len(preds) != 1 or others:
                raise unsupported(others[0] if others else "Node without one predicate", m.where)
            B.pred_of[g] = self.predicate(B, preds[0], m.where)
            if node.get("score") is not None:
                B.score[g] = _num(node.get("score"), "float" if math == "float" else "double", m.where)
            kids = [c for c in node if local(c.tag) == "Node"]
            if kids:
                start = alloc(len(kids))
                B.kid_start[g], B.kid_count[g] = start, len(kids)
                dc = node.get("defaultChild")
                for i, k in enumerate(kids):
                    if dc is not None and k.get("id") == dc:
                        B.default_child[g] = start + i
                    stack.append((k, start + i, d + 1))

    def regression(self, el, m: Model) -> None:
        m.normalization = el.get("normalizationMethod", "none")
        ok = {"regression": ("none", "exp", "logit"), "classification": ("none", "softmax", "logit", "simplemax")}
        if m.normalization not in ok.get(m.function, ()):
            raise unsupported(f"RegressionModel functionName={m.function!r} normalizationMethod={m.normalization!r}", m.where)
        for t in (c for c in el if local(c.tag) == "RegressionTable"):
            preds = []
            for p in t:
                tag = local(p.tag)
                if tag == "NumericPredictor" and p.get("exponent", "1") in ("1", "1.0"):
                    name = p.get("name", "")
                    preds.append((name, _num(p.get("coefficient"), "float" if m.math == "float" else "double", m.where)))
                elif tag != "Extension":
                    raise unsupported(tag, m.where, "RegressionTable takes NumericPredictors with exponent 1")
            kind = "float" if m.math == "float" else "double"
            m.tables.append((t.get("targetCategory"), _num(t.get("intercept"), kind, m.where), preds))
        if not m.tables:
            raise ModelFormatError(f"{m.where}: a RegressionModel needs a RegressionTable")
        m.categories = [str(c) for c, _, _ in m.tables] if m.function == "classification" else []

    def mining(self, el, m: Model, nesting: int) -> None:
        segs = [c for c in el if local(c.tag) == "Segmentation"]
        if len(segs) != 1:
            raise ModelFormatError(f"{m.where}: a MiningModel needs one Segmentation")
        m.method = segs[0].get("multipleModelMethod", "")
        if m.method not in ("sum", "average", "weightedSum", "weightedAverage", "modelChain"):
            raise unsupported(f"Segmentation multipleModelMethod={m.method!r}", m.where)
        batch: TreeBatch | None = None
        for s in (c for c in segs[0] if local(c.tag) == "Segment"):
            where = f"{m.where}/Segment[{s.get('id', '')}]"
            kids = [c for c in s if local(c.tag) != "Extension"]
            if len(kids) != 2 or local(kids[0].tag) != "True":
                raise unsupported(f"Segment predicate {local(kids[0].tag) if kids else '(none)'}", where, "segments must be <True/>")
            weight = _num(s.get("weight", "1"), "double", where)
            sub = kids[1]
            plain_tree = (local(sub.tag) == "TreeModel" and m.method != "modelChain"
                          and not any(local(c.tag) in ("Output", "LocalTransformations", "Targets") for c in sub))
            if plain_tree:
                if batch is None:
                    batch = TreeBatch()
                    m.parts.append(("trees", batch))
                tm = Model(kind="TreeModel", function="regression", math=sub.get("x-mathContext", m.math), where=f"{where}/TreeModel")
                self.schema(sub, tm)
                self.tree_into(batch, sub, tm)
                m.weights.append(weight)
            else:
                batch = None
                m.parts.append(("model", self.model(sub, where, nesting + 1), weight))
                m.weights.append(weight)
        for kind, *rest in m.parts:
            if kind == "trees":
                rest[0].freeze()
        if not m.parts:
            raise ModelFormatError(f"{m.where}: a Segmentation needs a Segment")


def compile_document(root, where: str) -> Document:
    """A :class:`Document` from the parsed root (see the module docstring for the subset)."""
    version = root.get("version", "")
    if not version.startswith("4."):
        raise unsupported(f"PMML version={version!r}", where, "PMML 4.x only")
    c = _Compiler(root)
    meta: dict[str, str] = {}
    fields: dict[str, str] = {}
    missing: dict[str, list[float]] = {}
    data_fields: list[str] = []
    target_cats: dict[str, list[str]] = {}
    model_el = None
    derived: list = []
    for el in root:
        tag = local(el.tag)
        if tag == "Header":
            for ext in (x for x in el if local(x.tag) == "Extension"):
                if ext.get("extender") == "modelport" and ext.get("name"):
                    meta[ext.get("name")] = ext.get("value", "")
        elif tag == "DataDictionary":
            for df in (x for x in el if local(x.tag) == "DataField"):
                name, dt = df.get("name", ""), df.get("dataType", "")
                fields[name] = dt
                c.dtypes[name] = dt
                data_fields.append(name)
                vals = [v for v in df if local(v.tag) == "Value"]
                target_cats[name] = [v.get("value", "") for v in vals if v.get("property", "valid") == "valid"]
                missing[name] = [_num(v.get("value"), dt, where) for v in vals
                                 if v.get("property") == "missing" and dt in ("float", "double", "integer")]
        elif tag == "TransformationDictionary":
            derived = c.derived_fields(el, where)
        elif tag in _MODELS:
            if model_el is None:
                model_el = el
        elif tag != "Extension":
            raise unsupported(tag, where)
    if model_el is None:
        raise ModelFormatError(f"{where}: no model element (MiningModel, TreeModel or RegressionModel)")
    model = c.model(model_el, where)
    active, target = [], None
    for ms in (x for x in model_el if local(x.tag) == "MiningSchema"):
        for mf in (x for x in ms if local(x.tag) == "MiningField"):  # skip Extension (JPMML's importances)
            usage = mf.get("usageType", "active")
            if usage == "active":
                active.append(mf.get("name", ""))
            elif usage in ("target", "predicted"):
                target = mf.get("name", "")
    for name in active:
        if name not in fields:
            raise ModelFormatError(f"{where}: active field {name!r} is not in the DataDictionary")
        if fields[name] not in ("float", "double", "integer"):
            raise unsupported(f"DataField {name!r} dataType={fields[name]!r}", where, "numeric inputs only")
    active = [f for f in data_fields if f in set(active)]
    cats = target_cats.get(target, []) if target else []
    return Document(fields, missing, data_fields, active, derived, model, meta, cats)
