"""The ``linear64`` forms of :mod:`._pfa_forms`: scikit-learn's float64 linear models in PFA.

The IR's meaning (``core/ir/model.py`` ``LinearBooster.value_dtype="float64"``,
``core/ir/_links64.py``): float64 inputs, ``d = 0``, ``d += x_j * w_jk`` in column order
(NaN propagates: a null field is NaN, written ``0.0 / 0.0``), ``d += bias``, ``d += base``;
the links run in double on the unrounded ``d`` and each output is rounded once to float32
(``u.f32``):

* sigmoid ``1 / (1 + exp(-d))``, written out (``m.link.logit`` is not used: the PFA 0.8.1
  specification defines its result, not its operation order);
* softmax ``exp(d - max) / s`` with ``s`` summed in class order from 0.0;
* hinge ``d > 0``; labels ``d > 0`` (binary) or the first maximum of ``d`` with NaN below
  everything (multiclass), never the rounded probabilities.  PFA's comparisons order NaN
  above every double (titus2 does too), so every comparison tests ``impute.isnan`` first;
* ``a.max`` (softmax) with a NaN is NaN in PFA as in numpy: every class is then NaN.

PFA arithmetic on ``double`` is IEEE double (no fused multiply-add: ``+`` of ``*`` rounds
twice), so the document computes exactly what the evaluator does.  The output record gains
an ``int`` field ``label`` for classifiers.  Preprocessing steps (:mod:`._pfa_steps`) run
first, in ``u.prep``, on the float64 input row.
"""

from __future__ import annotations

from modelport.runtimes._pfa_forms import ARR_D
from modelport.runtimes._pfa_forms import _a as a_
from modelport.runtimes._pfa_forms import _c as c_
from modelport.runtimes._pfa_forms import _f32 as f32_
from modelport.runtimes._pfa_forms import _fcn as fcn_
from modelport.runtimes._pfa_forms import _for as for_
from modelport.runtimes._pfa_forms import _replace as replace_
from modelport.runtimes._pfa_steps import prep_fcn

__all__ = ["cells64", "fcns64", "action64", "output_fields64"]

_ONE = [{"v": "double"}]


def cells64() -> dict[str, object]:
    """Cell name -> Avro type: float64 base, bias and weights ``[n_features][n_outputs]``."""
    return {"base": ARR_D, "bias": ARR_D, "weights": {"type": "array", "items": ARR_D}}


def _positive(v) -> dict:
    """``v > 0`` with NaN false (PFA's ``>`` orders NaN above every double: NaN > 0 is true)."""
    return {"&&": [{"!": {"impute.isnan": v}}, {">": [v, 0.0]}]}


def _label_fcn(lay) -> dict:
    params = [{"d": ARR_D}]
    if lay.probs == "binary":
        return fcn_(params, "int", [{"if": _positive(a_("d", 0)), "then": 1, "else": 0}])
    # the first maximum, NaN below every number (numpy's nan_to_num(nan=-inf) then argmax);
    # PFA orders NaN above every double, so NaN is tested first
    beats = {"&&": [{"!": {"impute.isnan": a_("d", "k")}},
                    {"||": [{"impute.isnan": a_("d", "best")}, {">": [a_("d", "k"), a_("d", "best")]}]}]}
    return fcn_(params, "int", [
        {"let": {"best": 0}},
        for_("k", 1, {"a.len": "d"}, [{"if": beats, "then": [{"set": {"best": "k"}}]}]),
        "best",
    ])


def fcns64(lay, f32: dict, inputs: dict) -> dict:
    """The functions of a ``linear64`` document (``f32`` and ``inputs`` from the caller)."""
    out: dict = {"f32": f32, "inputs": inputs}
    if lay.steps:
        out["prep"] = prep_fcn(lay.steps)
    out["margin"] = fcn_([{"x": ARR_D}], ARR_D, [
        {"let": {"d": {"a.map": [c_("base"), {"params": [{"b": "double"}], "ret": "double", "do": [0.0]}]}}},
        for_("j", 0, {"a.len": "x"}, [
            for_("k", 0, {"a.len": "d"}, [
                replace_("d", "k", {"+": [a_("d", "k"), {"*": [a_("x", "j"), c_("weights", "j", "k")]}]})]),
        ]),
        for_("k", 0, {"a.len": "d"}, [replace_("d", "k", {"+": [a_("d", "k"), c_("bias", "k")]})]),
        for_("k", 0, {"a.len": "d"}, [replace_("d", "k", {"+": [a_("d", "k"), c_("base", "k")]})]),
        "d",
    ])
    if lay.probs != "none":
        out["label"] = _label_fcn(lay)
    if lay.link == "sigmoid":
        out["sigmoid"] = fcn_(_ONE, "double", [{"/": [1.0, {"+": [1.0, {"m.exp": {"u-": "v"}}]}]}])
    if lay.probs == "multiclass":
        out["softmax"] = fcn_([{"d": ARR_D}], ARR_D, [
            {"let": {"mx": {"a.max": "d"}}},
            {"let": {"e": {"a.map": ["d", {"params": _ONE, "ret": "double", "do": [{"m.exp": {"-": ["v", "mx"]}}]}]}}},
            {"let": {"s": 0.0}},
            for_("k", 0, {"a.len": "e"}, [{"set": {"s": {"+": ["s", a_("e", "k")]}}}]),
            {"a.map": ["e", {"params": _ONE, "ret": "double", "do": [{"/": ["v", "s"]}]}]},
        ])
    if lay.link == "sigmoid":
        body: list = [{"a.map": ["d", {"fcn": "u.sigmoid"}]}]
    elif lay.link == "hinge":
        body = [{"a.map": ["d", {"params": _ONE, "ret": "double",
                                 "do": [{"if": _positive("v"), "then": 1.0, "else": 0.0}]}]}]
    elif lay.link == "softmax":
        body = [{"u.softmax": ["d"]}]
    elif lay.link == "softmax_label":
        body = [{"new": [{"cast.double": {"u.label": ["d"]}}], "type": ARR_D}]
    else:
        body = ["d"]
    out["link"] = fcn_([{"d": ARR_D}], ARR_D, body)  # unrounded
    if lay.probs == "binary":
        probs: object = {"new": [f32_({"-": [1.0, a_("p", 0)]}), f32_(a_("p", 0))], "type": ARR_D}
    elif lay.probs == "multiclass":
        probs = {"a.map": ["p" if lay.link == "softmax" else {"u.softmax": ["d"]}, {"fcn": "u.f32"}]}
    else:
        probs = {"type": ARR_D, "value": []}
    out["probs"] = fcn_([{"d": ARR_D}, {"p": ARR_D}], ARR_D, [probs])
    return out


def output_fields64(lay) -> list:
    """The output record's fields: the three arrays, plus ``label`` for classifiers."""
    fields = [{"name": n, "type": ARR_D} for n in ("margin", "prediction", "probabilities")]
    if lay.probs != "none":
        fields.append({"name": "label", "type": "int"})
    return fields


def action64(lay) -> list:
    """Inputs (null is NaN), the unrounded float64 margin, its link; every output rounded once."""
    rec = {"margin": {"a.map": ["d", {"fcn": "u.f32"}]}, "prediction": {"a.map": ["p", {"fcn": "u.f32"}]},
           "probabilities": {"u.probs": ["d", "p"]}}
    if lay.probs != "none":
        rec["label"] = {"u.label": ["d"]}
    return [
        {"let": {"x": {"u.prep": [{"u.inputs": ["input"]}]} if lay.steps else {"u.inputs": ["input"]}}},
        {"let": {"d": {"u.margin": ["x"]}}},
        {"let": {"p": {"u.link": ["d"]}}},
        {"new": rec, "type": "Output"},
    ]
