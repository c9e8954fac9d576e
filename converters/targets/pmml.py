"""The PMML target: an IR :class:`Model` as PMML 4.4 (``model.pmml``).

Document (validated against the PMML 4.4 schema that jpmml-model ships, in the tests)::

    PMML version="4.4"
      Header   Extension extender="modelport" name=<metadata key> value=<value>, one per key
               of modelport.core.contract.artifact_metadata (the runtime's Signature)
      DataDictionary  one float DataField per feature (double for float64-threshold models),
               <Value property="missing"> for a non-NaN missing sentinel; the target field
      TransformationDictionary  floor(x) of each categorical feature (XGBoost truncates)
      MiningModel modelChain
        Segment per margin column: MiningModel "sum" of [base score, tree 0, tree 1, ...]
                 (x-mathContext="float": float32 sums in XGBoost's order, base first) with
                 OutputField "margin(j)"; gblinear: a RegressionModel per column instead
        Segment "link": RegressionModel on the margins (classification: logit / softmax;
                 regression: logit / exp) when there is a link
      Output   prediction or label + probability(class), and the margins

float64 linear models (scikit-learn) and their preprocessing steps: a double RegressionModel
per margin column (intercept 0, the bias last, :mod:`._pmml_linear64`) after DerivedFields for
the steps (:mod:`._pmml_steps`), double links and outputs (docs/pmml.md, "float64 linear
models and preprocessing").

Exactness: thresholds, leaves, base scores and weights are written with
:func:`~modelport.core.numerics.float_literal` (parses back to the identical float32);
``x-mathContext="float"`` (jpmml-evaluator's float arithmetic, schema-declared in its
PMML 4.4 XSD) makes the sums float32 in segment order; the base score is the first segment
so the running sum is XGBoost's (``cpu_predictor.cc`` starts from the base margin).  What
PMML cannot say exactly is refused with a one-line :class:`UnsupportedModelError`.  See
docs/pmml.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from modelport.converters.targets import TARGETS, Target, WriteOptions
from modelport.converters.targets._pmml_linear64 import emit_linear64_model, emit_one_field
from modelport.converters.targets._pmml_steps import emit_steps
from modelport.converters.targets._pmml_trees import emit_constant_model, emit_linear_model, emit_tree_model, literal
from modelport.converters.targets._pmml_xml import Emitter, check_xml_text
from modelport.core.contract import artifact_metadata
from modelport.core.errors import UnsupportedModelError
from modelport.core.ir.model import FeatureType, LinearBooster, Model, PostTransform, Task, TreeEnsemble
from modelport.core.tolerances import ulps

__all__ = ["build_pmml", "write_pmml", "PMML_NAMESPACE", "MARGIN_TOLERANCE", "LINK_TOLERANCE"]

PMML_NAMESPACE = "http://www.dmg.org/PMML-4_4"

#: modelport's PMML runtime adds the segments in document order in float32 (or float64, then
#: one rounding), exactly the reference evaluator's order: bit for bit.
MARGIN_TOLERANCE = ulps("pmml-margin", 0,
                        "the pmml runtime sums the segments in document order in the declared x-mathContext, "
                        "the base score first: the reference evaluator's order",
                        "measured 0 ULP on every case of tests/xgb_cases.py (tests/test_pmml.py)")
#: Links (logit, softmax, exp) in float context are the reference evaluator's float32 formulas.
LINK_TOLERANCE = ulps("pmml-link", 0,
                      "the pmml runtime computes logit/softmax/exp with the reference evaluator's float32 formulas",
                      "measured 0 ULP on every case of tests/xgb_cases.py (tests/test_pmml.py)")

_LINKS = {PostTransform.SIGMOID: "logit", PostTransform.EXP: "exp",
          PostTransform.SOFTMAX: "softmax", PostTransform.SOFTMAX_LABEL: "softmax"}


#: The extra category of a multiclass identity model (class names are "0".."k-1").
_RESIDUAL_CLASS = "residual"


class _Names:
    """Field names: the features' own, and generated ones that never collide with them."""

    def __init__(self, features: list[str]) -> None:
        self.used = set(features)

    def fresh(self, base: str) -> str:
        name = base
        while name in self.used:
            name += "_"
        self.used.add(name)
        return name


def _check_model(model: Model) -> None:
    b = model.booster
    if isinstance(b, TreeEnsemble):
        if b.threshold_dtype not in ("float32", "float64") or b.value_dtype not in ("float32", "float64"):
            raise UnsupportedModelError(f"threshold/value dtypes {b.threshold_dtype}/{b.value_dtype} have no PMML encoding")
        if b.value_dtype == "float32" and b.average:
            raise UnsupportedModelError("averaging a float32 tree sum has no PMML encoding (only float64 averages)")
        if any(t.is_categorical.any() for t in b.trees) and b.invalid_category_goes_left != (not b.categories_in_set_go_left):
            raise UnsupportedModelError("categorical splits that send invalid categories to the in-set side "
                                        "cannot be written as a SimpleSetPredicate on floor(x)")
        if b.leaf_dim > 1 and b.leaf_dim != model.n_outputs:
            raise UnsupportedModelError(f"vector leaves of length {b.leaf_dim} for {model.n_outputs} outputs")
    elif isinstance(b, LinearBooster):
        if not (np.all(np.isfinite(b.weights)) and np.all(np.isfinite(b.bias))):
            raise UnsupportedModelError("a gblinear weight is not finite: missingValueReplacement=0 would add NaN")
    else:
        raise UnsupportedModelError(f"booster type {type(b).__name__} has no PMML encoding")
    pt = model.post_transform
    if pt is PostTransform.HINGE and model.task is not Task.BINARY:
        raise UnsupportedModelError("hinge outside a binary model")
    if model.task is Task.MULTICLASS and pt not in (PostTransform.SOFTMAX, PostTransform.SOFTMAX_LABEL,
                                                     PostTransform.IDENTITY):
        raise UnsupportedModelError(f"multiclass with post-transform {pt.value} has no PMML encoding")
    if model.n_outputs > 1 and model.task is not Task.MULTICLASS and pt is not PostTransform.IDENTITY:
        raise UnsupportedModelError(f"{model.n_outputs} outputs with post-transform {pt.value} have no PMML encoding")


def _segment_trees(model: Model, ens: TreeEnsemble) -> list[list[tuple[int, int]]]:
    """Per margin column, the (tree, leaf column) pairs adding to it, in model order."""
    cols: list[list[tuple[int, int]]] = [[] for _ in range(model.n_outputs)]
    for t in range(len(ens.trees)):
        if ens.leaf_dim > 1:
            for j in range(model.n_outputs):
                cols[j].append((t, j))
        else:
            cols[int(ens.tree_output[t])].append((t, 0))
    return cols


def _emit_margin_sum(em: Emitter, model: Model, ens: TreeEnsemble, j: int, trees: list[tuple[int, int]], names: list[str],
                     floor_names: dict[int, str], out_field: str) -> None:
    """MiningModel "sum" for margin column ``j``.  float32 sums (XGBoost): base first, then
    the trees; float64 sums: trees (averaged in a nested model when ``average``) then base,
    the reference evaluator's ``_wide_margins`` order, rounded once to float32 by the reader."""
    wide = ens.value_dtype == "float64"
    math = "double" if wide else "float"
    base = literal(model.base_score[j], "float32", f"base score {j}")
    em.open("MiningModel", {"modelName": f"margin({j})", "functionName": "regression", "x-mathContext": math})
    _schema(em, names)
    em.open("Output")
    em.empty("OutputField", {"name": out_field, "optype": "continuous", "dataType": "double" if wide else "float",
                             "feature": "predictedValue", "isFinalResult": "false"})
    em.close("Output")
    em.open("Segmentation", {"multipleModelMethod": "sum"})

    def trees_into(segments_prefix: str) -> None:
        if not trees:  # an output no tree adds to: a zero summand keeps the Segmentation non-empty
            em.open("Segment", {"id": f"{segments_prefix}empty"})
            em.empty("True")
            emit_constant_model(em, names, "0", math=math, model_name="empty")
            em.close("Segment")
        for t, col in trees:
            em.open("Segment", {"id": f"{segments_prefix}{t}"})
            em.empty("True")
            emit_tree_model(em, ens, t, col, names=names, floor_names=floor_names, math=math, model_name=f"tree({t})")
            em.close("Segment")
            em.newline()

    def base_segment() -> None:
        em.open("Segment", {"id": "base"})
        em.empty("True")
        emit_constant_model(em, names, base, math=math, model_name="base_score")
        em.close("Segment")

    if not wide:
        base_segment()
        trees_into("")
    else:
        if ens.average:
            em.open("Segment", {"id": "average"})
            em.empty("True")
            em.open("MiningModel", {"modelName": f"average({j})", "functionName": "regression", "x-mathContext": math})
            _schema(em, names)
            em.open("Segmentation", {"multipleModelMethod": "average"})
            trees_into("")
            em.close("Segmentation")
            em.close("MiningModel")
            em.close("Segment")
        else:
            trees_into("")
        base_segment()
    em.close("Segmentation")
    em.close("MiningModel")


def _schema(em: Emitter, fields: list[str], target: str | None = None) -> None:
    em.open("MiningSchema")
    if target is not None:
        em.empty("MiningField", {"name": target, "usageType": "target"})
    for f in fields:
        em.empty("MiningField", {"name": f})
    em.close("MiningSchema")


def build_pmml(model: Model, *, backend: str = "modelport") -> str:
    """The PMML 4.4 document for ``model`` as text (not written); see the module docstring."""
    _check_model(model)
    b = model.booster
    lin64 = isinstance(b, LinearBooster) and b.value_dtype == "float64"
    if not lin64 and (model.preprocessing or any(f.type is FeatureType.NOMINAL for f in model.features)):
        raise UnsupportedModelError("the pmml target expresses preprocessing steps and nominal features "
                                    "before a float64 linear model only")
    names = [check_xml_text(f.name, "feature name") for f in model.features]
    if any(not n for n in names):
        raise UnsupportedModelError("an empty feature name is not a PMML field name")
    fresh = _Names(names).fresh
    n_out = int(model.n_outputs)
    classifier = model.task in (Task.BINARY, Task.MULTICLASS) and model.post_transform in _LINKS
    link = _LINKS.get(model.post_transform)
    if model.task is Task.MULTICLASS and model.post_transform is PostTransform.IDENTITY:
        classifier, link = True, "none"  # the margins are the probabilities (scikit-learn forests)
    wide = (isinstance(b, TreeEnsemble) and b.threshold_dtype == "float64") or lin64
    # float64 linear models: every result field is double (the reader rounds once to float32)
    out_dtype = "double" if lin64 else "float"
    dtype = "double" if wide else "float"
    target = fresh("target")
    margin_fields = [fresh("margin" if n_out == 1 else f"margin({j})") for j in range(n_out)]
    sum_fields = [fresh("sum" if n_out == 1 else f"sum({j})") for j in range(n_out)]
    floor_names: dict[int, str] = {}
    if isinstance(b, TreeEnsemble):
        cat_feats = sorted({int(f) for t in b.trees for f in t.feature[t.is_categorical & (t.left != -1)]})
        floor_names = {f: fresh(f"floor({names[f]})") for f in cat_feats}
        if any(t.cat_values.size and (t.cat_values.min() < 0 or t.cat_values.max() >= 1 << 24) for t in b.trees):
            raise UnsupportedModelError("a category code outside [0, 2**24) cannot be tested (XGBoost treats those as invalid)")
    classes = [str(c) for c in range(2 if model.task is Task.BINARY else model.n_classes)] if classifier else []
    label_field = fresh("label") if classifier else ""
    prob_fields = [fresh(f"probability({c})") for c in classes]
    # normalizationMethod="none" replaces the LAST table's value with 1 - sum(others) (PMML 4.4
    # RegressionModel; jpmml-evaluator RegressionModelUtil.computeMultinomialProbabilities):
    # an extra, never-winning residual category takes that place so every real class keeps
    # its margin exactly.
    residual = [_RESIDUAL_CLASS] if link == "none" else []
    pred_fields = [] if classifier else [fresh("prediction" if n_out == 1 else f"prediction({j})") for j in range(n_out)]
    extra = {"pmml_margin_fields": json.dumps(margin_fields), "pmml_prediction_fields": json.dumps(pred_fields),
             "pmml_probability_fields": json.dumps(prob_fields), "pmml_label_field": label_field}
    one_field = ""
    if lin64:
        # the runtime takes every probability as written and the labels from the double margins
        # (scikit-learn: d > 0, or the first argmax of d), as modelport.core.ir._links64 does
        extra["pmml_linear64"] = "1"
        one_field = fresh("one")
    meta = artifact_metadata(model, backend=backend, extra=extra)

    em = Emitter()
    em.open("PMML", {"xmlns": PMML_NAMESPACE, "version": "4.4"})
    em.newline()
    em.open("Header", {"description": "modelport conversion; float32 semantics via x-mathContext (jpmml)"})
    for k, v in meta.items():
        em.empty("Extension", {"extender": "modelport", "name": k, "value": v})
    em.empty("Application", {"name": "modelport", "version": meta.get("modelport.modelport_version", "")})
    em.close("Header")
    em.newline()
    em.open("DataDictionary")
    missing = float(model.missing)
    for name in names:
        em.open("DataField", {"name": name, "optype": "continuous", "dataType": dtype})
        if not np.isnan(missing) and not lin64:  # a float64 linear model has no sentinel (scikit-learn)
            # XGBoost drops entries equal to float32(missing) (data/adapter.h IsValidFunctor).
            em.empty("Value", {"value": literal(missing, "float64" if wide else "float32", "missing sentinel"),
                               "property": "missing"})
        em.close("DataField")
    if classifier:
        # string classes: jpmml-evaluator matches OutputField probability values to string
        # categories (with dataType="integer" it returned probability 0 for every class)
        em.open("DataField", {"name": target, "optype": "categorical", "dataType": "string"})
        for c in classes + residual:
            em.empty("Value", {"value": c})
        em.close("DataField")
    else:
        em.empty("DataField", {"name": target, "optype": "continuous", "dataType": "float"})
    em.close("DataDictionary")
    em.newline()
    columns = names
    if one_field:
        em.open("TransformationDictionary")
        emit_one_field(em, one_field)
        columns = emit_steps(em, model, names, fresh)  # the columns the linear model reads
        em.close("TransformationDictionary")
        em.newline()
    if floor_names:
        # XGBoost's category is the value truncated toward zero (common/categorical.h); for the
        # valid range [0, 2**24) that is floor, and every invalid value floors outside every set.
        em.open("TransformationDictionary")
        for f, fname in floor_names.items():
            em.open("DerivedField", {"name": fname, "optype": "continuous", "dataType": dtype})
            # if(isNotMissing(x), floor(max(min(x, 2**24), -1))): a missing x stays missing (jpmml
            # refuses floor(missing)), so the split's predicate is UNKNOWN and the node's
            # defaultChild is taken; the clamp keeps floor inside int range (jpmml's floor is an
            # integer) and maps every invalid value (< 0 or >= 2**24) outside every set.
            em.open("Apply", {"function": "if"})
            em.open("Apply", {"function": "isNotMissing"})
            em.empty("FieldRef", {"field": names[f]})
            em.close("Apply")
            em.open("Apply", {"function": "floor"})
            em.open("Apply", {"function": "max"})
            em.open("Apply", {"function": "min"})
            em.empty("FieldRef", {"field": names[f]})
            em.text_element("Constant", {"dataType": dtype}, "16777216")
            em.close("Apply")
            em.text_element("Constant", {"dataType": dtype}, "-1")
            em.close("Apply")
            em.close("Apply")
            em.close("Apply")
            em.close("DerivedField")
        em.close("TransformationDictionary")
        em.newline()

    fn = "classification" if classifier else "regression"
    em.open("MiningModel", {"modelName": "modelport", "functionName": fn, "x-mathContext": "double" if wide else "float"})
    _schema(em, names, target)
    em.open("Output")
    if classifier:
        em.empty("OutputField", {"name": label_field, "optype": "categorical", "dataType": "string", "feature": "predictedValue"})
        for c, pf in zip(classes, prob_fields, strict=True):
            em.empty("OutputField", {"name": pf, "optype": "continuous", "dataType": out_dtype, "feature": "probability",
                                     "value": c})
    elif model.post_transform is PostTransform.HINGE:
        # binary:hinge predicts 1.0 where margin > 0 else 0.0 (PMML's threshold(x, y): x > y).
        em.open("OutputField", {"name": pred_fields[0], "optype": "continuous", "dataType": "float", "feature": "transformedValue"})
        em.open("Apply", {"function": "threshold"})
        em.empty("FieldRef", {"field": sum_fields[0]})
        em.text_element("Constant", {"dataType": "float"}, "0")
        em.close("Apply")
        em.close("OutputField")
    else:
        for j, pf in enumerate(pred_fields):
            src = {"feature": "predictedValue"} if j == n_out - 1 else {"feature": "transformedValue"}
            if j == n_out - 1:
                em.empty("OutputField", {"name": pf, "optype": "continuous", "dataType": out_dtype, **src})
            else:
                em.open("OutputField", {"name": pf, "optype": "continuous", "dataType": out_dtype, **src})
                em.empty("FieldRef", {"field": sum_fields[j]})
                em.close("OutputField")
    for mf, sf in zip(margin_fields, sum_fields, strict=True):
        em.open("OutputField", {"name": mf, "optype": "continuous", "dataType": "double" if wide else "float",
                                "feature": "transformedValue"})
        em.empty("FieldRef", {"field": sf})
        em.close("OutputField")
    em.close("Output")
    em.open("Segmentation", {"multipleModelMethod": "modelChain"})
    for j in range(n_out):
        em.open("Segment", {"id": f"margin({j})"})
        em.empty("True")
        if lin64:
            emit_linear64_model(em, b, j, float(model.base_score[j]), names=names, columns=columns, one=one_field,
                                output_field=sum_fields[j])
        elif isinstance(b, TreeEnsemble):
            _emit_margin_sum(em, model, b, j, _segment_trees(model, b)[j], names, floor_names, sum_fields[j])
        else:
            emit_linear_model(em, b, j, model.base_score[j], names=names, output_field=sum_fields[j])
        em.close("Segment")
        em.newline()
    if link is not None and (link != "none" or classifier):
        _emit_link(em, link, classifier, target, classes, sum_fields, residual, math="double" if lin64 else "float")
    em.close("Segmentation")
    em.close("MiningModel")
    em.newline()
    em.close("PMML")
    em.newline()
    return em.text()


def _emit_link(em: Emitter, link: str, classifier: bool, target: str, classes: list[str], margins: list[str],
               residual: list[str], *, math: str = "float") -> None:
    """RegressionModel: ``0 + 1 * margin`` per table (exact), normalised by ``link``; a
    ``residual`` category gets a last, intercept-only table (see :func:`build_pmml`)."""
    em.open("Segment", {"id": "link"})
    em.empty("True")
    em.open("RegressionModel", {"modelName": "link", "functionName": "classification" if classifier else "regression",
                                "normalizationMethod": link, "x-mathContext": math})
    _schema(em, margins, target)
    if classifier and link == "logit":
        tables = [("1", margins[0]), ("0", None)]  # binary: p(1) = logit(margin), p(0) = 1 - p(1)
    elif classifier:
        tables = list(zip(classes, margins, strict=True)) + [(c, None) for c in residual]
    else:
        tables = [(None, margins[0])]
    for cat, field in tables:
        em.open("RegressionTable", {"intercept": "0", **({"targetCategory": cat} if cat is not None else {})})
        if field is not None:
            em.empty("NumericPredictor", {"name": field, "coefficient": "1"})
        em.close("RegressionTable")
    em.close("RegressionModel")
    em.close("Segment")


def write_pmml(model: Model, out_path: Path, options: WriteOptions) -> None:
    """Write ``model`` to ``out_path`` as PMML 4.4 (backend ``"modelport"`` only here)."""
    backend = getattr(options, "backend", "modelport")
    if backend != "modelport":
        raise UnsupportedModelError(f"the pmml target has no backend {backend!r} in this module")
    text = build_pmml(model)
    Path(out_path).write_text(text, encoding="utf-8")


TARGETS.register(
    "pmml",
    Target(
        name="pmml",
        extension=".pmml",
        description="PMML 4.4 (MiningModel of TreeModels / RegressionModel, float32 via x-mathContext)",
        write=write_pmml,
        runtime="pmml",
        margin_tolerance=MARGIN_TOLERANCE,
        link_tolerance=LINK_TOLERANCE,
        supports=frozenset({"linear-float64", "preprocessing:select_columns", "preprocessing:affine",
                            "preprocessing:impute", "preprocessing:lookup", "feature:nominal"}),
    ),
)
