"""The ONNX target: write an IR :class:`Model` as an ONNX graph that onnxruntime executes.

Graph (every node in the default or ``ai.onnx.ml`` domain, checked with
``onnx.checker.check_model(full_check=True)``)::

    input float32 [N, F]
      └─ Where(Equal(x, missing), NaN, x)          only when Model.missing is not NaN
      └─ Concat(x, Floor(Gather(x, cat_features))) only when there are categorical splits
      └─ TreeEnsembleRegressor (ai.onnx.ml v3)     trees → "margin" float32 [N, n_outputs]
         or Split/Mul/Add chain                    gblinear → "margin"
      └─ post-transform with plain ops, XGBoost's float32 formulas (``src/common/math.h``)
         with exp computed in float64 and rounded once (see :func:`_post_transform`)
    outputs: classifiers "label" int64 [N], "probabilities" float32 [N, n_classes], "margin"
             regressors  "variable" float32 [N, n_outputs], "margin"

The tree operator's own ``post_transform`` and the ``TreeEnsembleClassifier`` are avoided on
purpose: the classifier applies its own binary conventions (onnxruntime#1007, #27533), and
plain ops leave the margin available as an output.  Tree encoding and its exactness
argument: :mod:`._onnx_trees`; linear boosters: :mod:`._onnx_linear`; scikit-learn's
IsolationForest (leaf ids, then its score in double): :mod:`._onnx_isolation`.

Exactness contract (measured by ``tests/test_onnx_parity.py``): with a single-threaded
onnxruntime session (what :mod:`modelport.runtimes.onnx` uses by default) the margin equals
XGBoost's float32 margin bit for bit; see :func:`multithread_margin_bound` otherwise.  The
transformed outputs (sigmoid, softmax, exp) then equal the reference evaluator's bit for bit
and XGBoost's within 2 ULP (XGBoost's own float32 ``expf``): ``docs/onnx.md``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from modelport.core.ir.evaluate import input_dtype
from modelport.core.ir.model import CONSTRUCTS, LinearBooster, Model, PostTransform, Task, TreeEnsemble, booster_width
from modelport.converters.targets import TARGETS, Target, WriteOptions
from modelport.core.contract import METADATA_PREFIX, artifact_metadata
from modelport.core.errors import UnsupportedModelError, require
from modelport.core.numerics import FLOAT32_UNIT_ROUNDOFF
from modelport.core.tolerances import ulps

__all__ = [
    "build_onnx",
    "write_onnx",
    "OPSET",
    "ML_OPSET",
    "IR_VERSION",
    "MARGIN_ULPS_SINGLE_THREAD",
    "TRANSFORM_ULPS_SINGLE_THREAD",
    "FLOAT32_UNIT_ROUNDOFF",
    "multithread_margin_bound",
    "METADATA_PREFIX",
]

#: Default-domain opset (18: Split's ``num_outputs``; every op used exists unchanged since).
OPSET = 18
#: ``ai.onnx.ml`` opset: TreeEnsembleRegressor v3 (float thresholds, missing tracking).
ML_OPSET = 3
#: ONNX IR version 8 (opset 18's), readable by onnxruntime >= 1.14.
IR_VERSION = 8

#: Margin difference allowed vs XGBoost / the reference evaluator when onnxruntime runs the
#: tree ensemble on ONE thread: none.  onnxruntime's ``TreeEnsembleCommon::ComputeAgg``
#: (sections A, C) adds trees in list order in float32, and the intercept is the first
#: "tree" (see ``_onnx_trees``), which is XGBoost's order (``cpu_predictor.cc``).
MARGIN_ULPS_SINGLE_THREAD = 0

#: Transformed outputs (sigmoid, softmax, exp) allowed vs the reference evaluator for files
#: this target writes itself (backend "modelport"): none.  The graph computes XGBoost's
#: float32 formulas with exp in float64 rounded once, exactly as ``core/ir/evaluate.py``
#: (measured: 0 ULP over the whole case zoo, tests/test_onnx_parity.py).  Third-party
#: backends get the generic probability tolerance of ``modelport._verify``.
TRANSFORM_ULPS_SINGLE_THREAD = 0

#: The margin tolerance this target declares (verification reads it from the registry).
MARGIN_TOLERANCE = ulps("onnx-margin", MARGIN_ULPS_SINGLE_THREAD,
                        "single-threaded onnxruntime adds the trees in XGBoost's order, the intercept first",
                        "TreeEnsembleCommon::ComputeAgg sections A/C; measured 0 ULP on every parity case")
#: The link tolerance this target declares for files it wrote itself.
LINK_TOLERANCE = ulps("onnx-link", TRANSFORM_ULPS_SINGLE_THREAD,
                      "the graph computes the evaluator's float32 link formulas with exp in float64 rounded once",
                      "measured 0 ULP on every parity case")


def multithread_margin_bound(model: Model) -> float:
    """Largest margin difference vs XGBoost when onnxruntime runs the trees on >1 thread.

    With several intra-op threads onnxruntime splits the trees among threads and adds the
    per-thread partial sums afterwards (``ComputeAgg`` sections B2/D/D2): another float32
    summation order.  Any order of summing n terms has an error of at most
    ``(n - 1) * u * sum|terms|`` (Higham, *Accuracy and Stability of Numerical Algorithms*,
    recursive summation bound), so two orders differ by at most twice that; ``sum|terms|`` is
    bounded by ``|base| + sum over trees of max |leaf|``.  Not fitted to data: measured drift
    on the XGBoost case zoo is far below it (e.g. 6.7e-6 = 7 ULP of the leaf-sum scale on 150
    trees with 8 threads, where this bound gives 2.8e-4).  0 for linear boosters (no trees).
    """
    booster = model.booster
    if not isinstance(booster, TreeEnsemble) or not booster.trees:
        return 0.0
    scale = float(np.max(np.abs(np.asarray(model.base_score, dtype=np.float64))))
    for tree, w in zip(booster.trees, np.asarray(booster.tree_weight, dtype=np.float64), strict=True):
        leaf = float(np.max(np.abs(np.asarray(tree.value, dtype=np.float64))))
        scale += leaf * (abs(w) if booster.apply_tree_weight else 1.0)
    n_terms = len(booster.trees) + 1
    return 2.0 * (n_terms - 1) * FLOAT32_UNIT_ROUNDOFF * scale


_CLASSIFIER_TASKS = (Task.BINARY, Task.MULTICLASS)


def _require_onnx():
    onnx = require("onnx", extra="onnx", purpose="Writing ONNX")
    return onnx


def build_onnx(model: Model, *, producer_version: str = "") -> object:
    """Build the ``onnx.ModelProto`` for ``model`` (not written, not checked)."""
    onnx = _require_onnx()
    from onnx import TensorProto, helper

    nodes: list = []
    inits: list = []
    n_features = model.n_features
    n_out = int(model.n_outputs)
    if n_features < 1 or n_out < 1:
        raise UnsupportedModelError("the model needs at least one feature and one output")

    def const(name: str, array) -> str:
        inits.append(onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    x = "input"
    booster = model.booster
    # A float64-threshold model (LightGBM), a float64 linear model or preprocessing
    # (scikit-learn) computes on float64 inputs: the graph takes double.
    in_dtype = input_dtype(model).type
    if model.preprocessing:
        from modelport.converters.targets._onnx_steps import preprocess_nodes

        x = preprocess_nodes(model, x, nodes, const, helper, TensorProto)
        if _booster_reads_float32(booster):  # the booster rounds its input to float32, as the evaluator
            nodes.append(helper.make_node("Cast", [x], ["x_booster"], to=TensorProto.FLOAT))
            x = "x_booster"
            in_dtype = np.float32
    n_features = booster_width(model)
    missing = float(model.missing)
    if not math.isnan(missing):
        # XGBoost compares each float32 value with float32(missing) when building the
        # DMatrix (data/adapter.h IsValidFunctor) and drops equal entries as missing.
        const("missing_value", np.array(missing, dtype=in_dtype))
        const("nan", np.array(np.nan, dtype=in_dtype))
        nodes.append(helper.make_node("Equal", [x, "missing_value"], ["is_missing"]))
        nodes.append(helper.make_node("Where", ["is_missing", "nan", x], ["x_missing"]))
        x = "x_missing"

    if model.post_transform is PostTransform.ISOLATION:
        from modelport.converters.targets._onnx_isolation import isolation_nodes

        outputs = isolation_nodes(model, x, nodes, const, helper, TensorProto, _tree_margin)
    elif isinstance(booster, TreeEnsemble):
        _tree_margin(model, booster, x, nodes, const, helper, TensorProto)
    elif isinstance(booster, LinearBooster) and booster.value_dtype == "float64":
        from modelport.converters.targets._onnx_steps import linear64_margin

        linear64_margin(model, booster, x, n_features, nodes, const, helper, TensorProto)
    elif isinstance(booster, LinearBooster):
        from modelport.converters.targets._onnx_linear import linear_margin

        linear_margin(model, booster, x, nodes, const, helper, n_features)
    else:
        raise UnsupportedModelError(f"booster type {type(booster).__name__} has no ONNX encoding")

    if model.post_transform is PostTransform.ISOLATION:
        pass  # isolation_nodes wrote the outputs
    elif isinstance(booster, LinearBooster) and booster.value_dtype == "float64":
        from modelport.converters.targets._onnx_steps import linear64_outputs

        outputs = linear64_outputs(model, nodes, const, helper, TensorProto)
    else:
        outputs = _post_transform(model, nodes, const, helper, TensorProto)
    graph = helper.make_graph(
        nodes,
        "modelport",
        [helper.make_tensor_value_info("input", TensorProto.DOUBLE if input_dtype(model) == np.float64
                                       else TensorProto.FLOAT, ["N", model.n_features])],
        outputs,
        initializer=inits,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="modelport",
        producer_version=producer_version,
        ir_version=IR_VERSION,
    )
    helper.set_model_props(proto, metadata(model, backend="modelport"))
    return proto


def _booster_reads_float32(booster) -> bool:
    if isinstance(booster, TreeEnsemble):
        return booster.threshold_dtype == "float32"
    return booster.value_dtype == "float32"


def _tree_margin(model: Model, ens: TreeEnsemble, x: str, nodes, const, helper, TensorProto) -> None:
    from modelport.converters.targets._onnx_trees import (
        categorical_features,
        encode_ensemble,
        is_wide,
        split_by_output,
    )

    cats = categorical_features(ens)
    cat_column: dict[int, int] = {}
    if cats:
        # XGBoost truncates the category value to int (floor for the valid, non-negative
        # values); the floored copies are extra columns so numeric splits keep the raw value.
        const("cat_features", np.array(cats, dtype=np.int64))
        nodes.append(helper.make_node("Gather", [x, "cat_features"], ["cat_raw"], axis=1))
        nodes.append(helper.make_node("Floor", ["cat_raw"], ["cat_floor"]))
        nodes.append(helper.make_node("Concat", [x, "cat_floor"], ["x_cat"], axis=1))
        cat_column = {f: booster_width(model) + j for j, f in enumerate(cats)}
        x = "x_cat"
    if is_wide(ens) and ens.threshold_dtype == "float32":
        # float32 comparisons, double sums (scikit-learn): float32 input widened exactly.
        nodes.append(helper.make_node("Cast", [x], ["x_double"], to=TensorProto.DOUBLE))
        x = "x_double"
    parts = split_by_output(ens, model.n_outputs)
    if len(parts) == 1:
        enc = encode_ensemble(ens, base_score=model.base_score, n_outputs=model.n_outputs, cat_column=cat_column)
        nodes.append(
            helper.make_node("TreeEnsembleRegressor", [x], ["margin"], domain="ai.onnx.ml", **enc.attributes())
        )
        return
    for sub, k in parts:  # averaged outputs: one node each (AVERAGE divides by all of a node's trees)
        enc = encode_ensemble(sub, base_score=np.asarray(model.base_score)[k:k + 1], n_outputs=1,
                              cat_column=cat_column)
        nodes.append(helper.make_node("TreeEnsembleRegressor", [x], [f"margin_{k}"], domain="ai.onnx.ml",
                                      **enc.attributes()))
    nodes.append(helper.make_node("Concat", [f"margin_{k}" for _, k in parts], ["margin"], axis=1))


def _exp_f32(src: str, dst: str, nodes, helper, TensorProto) -> None:
    """``dst = float32(exp(float64(src)))``: a correctly rounded float32 exp in practice.

    onnxruntime's float32 ``Exp`` is off by 1 ULP (vs the correctly rounded value) on about 6% of
    inputs; its ``double`` ``Exp`` rounded once to float32 matched ``numpy.exp`` in float64
    rounded to float32 (the reference evaluator's ``_expf``) on all of 10 million inputs over
    [-110, 90], overflow, underflow to subnormals, inf and NaN included.
    """
    nodes.append(helper.make_node("Cast", [src], [f"{dst}_arg_f64"], to=TensorProto.DOUBLE))
    nodes.append(helper.make_node("Exp", [f"{dst}_arg_f64"], [f"{dst}_f64"]))
    nodes.append(helper.make_node("Cast", [f"{dst}_f64"], [dst], to=TensorProto.FLOAT))


def _post_transform(model: Model, nodes, const, helper, TensorProto) -> list:
    """Append the post-transform nodes; returns the graph outputs.

    Each link is XGBoost's float32 sequence (``src/common/math.h``) written with plain ops, not
    onnxruntime's ``Sigmoid``/``Softmax`` kernels: MLAS approximates those (measured over the
    case zoo: ``Sigmoid`` up to 47,542 ULP off XGBoost on small probabilities, 1.2e-7
    absolute; ``Softmax`` up to 3 ULP).  The only float32 operation that is not exactly
    rounded is exp, done by :func:`_exp_f32`.  onnxruntime (1.32, ``ORT_ENABLE_ALL``) fuses
    none of these nodes back (checked on the session's optimized model,
    ``tests/test_onnx_target.py``).

    * sigmoid: ``1.0f / (1.0f + expf(-x))``;
    * exp (poisson, gamma, tweedie, survival): ``expf(x)``;
    * softmax: ``e_k = expf(x_k - max(x))`` in float32, summed in double (XGBoost's ``double
      wsum``), the sum rounded to float32, each ``e_k`` divided by it in float32.
    """
    pt = model.post_transform
    n_out = int(model.n_outputs)
    margin_info = helper.make_tensor_value_info("margin", TensorProto.FLOAT, ["N", n_out])
    if pt is PostTransform.SIGMOID or model.task is Task.BINARY:
        const("one", np.array(1.0, dtype=np.float32))
    if pt is PostTransform.IDENTITY:
        pred = "margin"
    elif pt is PostTransform.SIGMOID:
        nodes.append(helper.make_node("Neg", ["margin"], ["neg_margin"]))
        _exp_f32("neg_margin", "exp_neg_margin", nodes, helper, TensorProto)
        nodes.append(helper.make_node("Add", ["one", "exp_neg_margin"], ["sigmoid_denominator"]))
        nodes.append(helper.make_node("Div", ["one", "sigmoid_denominator"], ["pred"]))
        pred = "pred"
    elif pt is PostTransform.EXP:
        _exp_f32("margin", "pred", nodes, helper, TensorProto)
        pred = "pred"
    elif pt is PostTransform.HINGE:
        # XGBoost binary:hinge: 1.0 where margin > 0 else 0.0 (regression_obj.cu HingeObj).
        const("zero", np.array(0.0, dtype=np.float32))
        nodes.append(helper.make_node("Greater", ["margin", "zero"], ["hinge_bool"]))
        nodes.append(helper.make_node("Cast", ["hinge_bool"], ["pred"], to=TensorProto.FLOAT))
        pred = "pred"
    elif pt in (PostTransform.SOFTMAX, PostTransform.SOFTMAX_LABEL):
        if model.task is not Task.MULTICLASS:
            raise UnsupportedModelError(f"post-transform {pt.value} needs a multiclass task")
        const("class_axis", np.array([1], dtype=np.int64))
        nodes.append(helper.make_node("ReduceMax", ["margin", "class_axis"], ["margin_max"], keepdims=1))
        nodes.append(helper.make_node("Sub", ["margin", "margin_max"], ["margin_shifted"]))
        _exp_f32("margin_shifted", "softmax_exp", nodes, helper, TensorProto)
        nodes.append(helper.make_node("Cast", ["softmax_exp"], ["softmax_exp_as_f64"], to=TensorProto.DOUBLE))
        nodes.append(helper.make_node("ReduceSum", ["softmax_exp_as_f64", "class_axis"], ["softmax_sum_f64"],
                                      keepdims=1))
        nodes.append(helper.make_node("Cast", ["softmax_sum_f64"], ["softmax_sum"], to=TensorProto.FLOAT))
        nodes.append(helper.make_node("Div", ["softmax_exp", "softmax_sum"], ["softmax"]))
        pred = "softmax"
    else:
        raise UnsupportedModelError(f"post-transform {pt!r} has no ONNX encoding")

    if model.task not in _CLASSIFIER_TASKS:
        if pt in (PostTransform.SOFTMAX, PostTransform.SOFTMAX_LABEL):
            raise UnsupportedModelError(f"post-transform {pt.value} on a {model.task.value} task")
        nodes.append(helper.make_node("Identity", [pred], ["variable"]))
        return [helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", n_out]), margin_info]

    if model.task is Task.BINARY:
        if n_out != 1:
            raise UnsupportedModelError(f"a binary model must have one margin column, not {n_out}")
        # predict_proba = [1 - p, p] and label = p > 0.5 (xgboost/sklearn.py XGBClassifier).
        const("half", np.array(0.5, dtype=np.float32))
        const("flat", np.array([-1], dtype=np.int64))
        nodes.append(helper.make_node("Sub", ["one", pred], ["p0"]))
        nodes.append(helper.make_node("Concat", ["p0", pred], ["probabilities"], axis=1))
        nodes.append(helper.make_node("Greater", [pred, "half"], ["label_bool"]))
        nodes.append(helper.make_node("Cast", ["label_bool"], ["label_col"], to=TensorProto.INT64))
        nodes.append(helper.make_node("Reshape", ["label_col", "flat"], ["label"]))
        n_classes = 2
    else:
        if pt not in (PostTransform.SOFTMAX, PostTransform.SOFTMAX_LABEL, PostTransform.SIGMOID,
                      PostTransform.IDENTITY):
            raise UnsupportedModelError(f"multiclass with post-transform {pt.value} is not supported")
        if model.n_classes != n_out:
            raise UnsupportedModelError(f"multiclass model with {model.n_classes} classes but {n_out} margin columns")
        # LightGBM multiclassova: the per-class sigmoids, unnormalised, and their first argmax.
        # Identity (scikit-learn trees and forests): the averaged class proportions, rounded
        # once to float32 by the tree node, ARE the probabilities; the label is their first
        # argmax (numpy.argmax in ForestClassifier.predict).
        probs = pred if pt in (PostTransform.SIGMOID, PostTransform.IDENTITY) else "softmax"
        nodes.append(helper.make_node("Identity", [probs], ["probabilities"]))
        # multi:softmax takes the first maximum of the margins (std::max_element);
        # XGBClassifier.predict for softprob takes np.argmax of the probabilities.
        src = "margin" if pt is PostTransform.SOFTMAX_LABEL else probs
        nodes.append(helper.make_node("ArgMax", [src], ["label"], axis=1, keepdims=0, select_last_index=0))
        n_classes = n_out
    return [
        helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_classes]),
        margin_info,
    ]


def metadata(model: Model, *, backend: str) -> dict[str, str]:
    """The ``metadata_props`` modelport writes: the artifact contract's metadata."""
    return artifact_metadata(model, backend=backend)


def write_onnx(model: Model, out_path: Path, options: WriteOptions) -> None:
    """Write ``model`` to ``out_path`` as modelport's ONNX graph (checked with
    ``onnx.checker`` before it is written)."""
    onnx = _require_onnx()
    from modelport.core.version import __version__

    proto = build_onnx(model, producer_version=__version__)
    onnx.checker.check_model(proto, full_check=True)
    Path(out_path).write_bytes(proto.SerializeToString())


TARGETS.register(
    "onnx",
    Target(
        name="onnx",
        extension=".onnx",
        description="ONNX (ai.onnx.ml TreeEnsembleRegressor + plain ops) for onnxruntime",
        write=write_onnx,
        runtime="onnx",
        margin_tolerance=MARGIN_TOLERANCE,
        link_tolerance=LINK_TOLERANCE,
        supports=frozenset(CONSTRUCTS),
    ),
)
