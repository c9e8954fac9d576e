"""The PFA subset modelport writes and runs: one document skeleton per :class:`Layout`.

A modelport PFA document is a fixed set of expression forms over data cells.  This module
builds those forms (everything but the cells' ``init`` values and the metadata) from a
small :class:`Layout`; the ``pfa`` target fills the cells from the IR, and the ``pfa``
runtime recognises a document by rebuilding the skeleton of each candidate layout and
comparing, naming the first construct that differs.  PFA semantics the forms rely on
(PFA 0.8.1 specification):

* every value is carried as ``double`` (64-bit); float32 rounding is explicit: ``u.f32``
  casts to ``float`` and round-trips it through ``pack``/``unpack`` with the 4-byte
  ``float`` format.  A conforming engine already rounds in ``cast.float``; engines that
  keep floats as doubles (titus2's ``cast.float`` is Python's ``float()``) round in
  ``pack`` (``struct.pack('>f')``, round to nearest even).  A float32 sum or product
  computed in double and rounded once equals the float32 operation (double has more than
  2 * 24 + 2 significand bits, so the double rounding is innocuous);
* trees are flat parallel arrays (all trees' nodes concatenated, ``left == -1`` marks a
  leaf) walked by a ``while`` loop: no nesting, so 10,000-deep trees are fine;
* missing values arrive as ``null`` (input fields are unions with null) or NaN, or equal
  the model's sentinel (cell ``missingValue``); ``u.leaf`` sends them ``defaultLeft``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Layout", "MARGIN_KINDS", "LINKS", "PROBS", "skeleton", "field_name", "ARR_D", "ARR_B"]

#: How the margin is summed: float32 (XGBoost) with or without DART weights, float64 with or
#: without averaging (LightGBM / scikit-learn), a linear booster (XGBoost gblinear), or a
#: float64 linear model (scikit-learn; forms in :mod:`._pfa_forms64`).
MARGIN_KINDS = ("sum32", "dart32", "wide", "wide_avg", "linear", "linear64")
#: The post-transform forms (IR ``PostTransform`` values).
LINKS = ("identity", "sigmoid", "softmax", "softmax_label", "exp", "hinge")
#: What the ``probabilities`` output holds: nothing, [1 - p, p], or the class probabilities
#: (the softmax; with the identity link the margins themselves: scikit-learn forests).
PROBS = ("none", "binary", "multiclass")

ARR_D = {"type": "array", "items": "double"}
ARR_B = {"type": "array", "items": "boolean"}
ARR_I = {"type": "array", "items": "int"}


@dataclass(frozen=True)
class Layout:
    """Everything that decides the shape of a modelport PFA document (not its data)."""

    n_features: int
    in_type: str  # "float" or "double": the input fields' number type
    margin: str  # one of MARGIN_KINDS
    vector: bool  # vector leaves added to every output
    has_cat: bool  # categorical splits present
    cmp: str  # "<" or "<="
    sentinel: bool  # a missing-value sentinel besides NaN/null
    link: str  # one of LINKS
    probs: str  # one of PROBS
    value_type: str = "float"  # leaf values: "float" (float32) or "double"
    steps: tuple[str, ...] = ()  # preprocessing step kinds (linear64 only; see ._pfa_steps)


def field_name(i: int) -> str:
    """The input record's field for column ``i`` (names live in the metadata, never here)."""
    return f"f{i}"


def _c(name: str, *path) -> dict:
    return {"cell": name, "path": list(path)} if path else {"cell": name}


def _a(var: str, *path) -> dict:
    return {"attr": var, "path": list(path)}


def _f32(e) -> dict:
    return {"u.f32": [e]}


def _for(var: str, start, end, body: list) -> dict:
    return {"for": {var: start}, "while": {"<": [var, end]}, "step": {var: {"+": [var, 1]}}, "do": body}


def _replace(arr: str, idx, value) -> dict:
    return {"set": {arr: {"a.replace": [arr, idx, value]}}}


def _fcn(params: list, ret, body: list) -> dict:
    return {"params": params, "ret": ret, "do": body}


def _cells(lay: Layout) -> dict[str, object]:
    """Cell name -> Avro type."""
    num = lay.in_type
    vt = lay.value_type
    cells: dict[str, object] = {"base": ARR_D}
    if lay.sentinel:
        cells["missingValue"] = num
    if lay.margin == "linear":
        cells["bias"] = {"type": "array", "items": "float"}
        cells["weights"] = {"type": "array", "items": {"type": "array", "items": "float"}}
        return cells
    cells.update({
        "roots": ARR_I, "left": ARR_I, "right": ARR_I, "feature": ARR_I,
        "threshold": {"type": "array", "items": num}, "defaultLeft": ARR_B,
        "value": {"type": "array", "items": {"type": "array", "items": vt}},
    })
    if not lay.vector:
        cells["treeOutput"] = ARR_I
    if lay.margin == "dart32":
        cells["treeWeight"] = {"type": "array", "items": "float"}
    if lay.margin == "wide_avg":
        cells["count"] = ARR_D
    if lay.has_cat:
        cells.update({"isCat": ARR_B, "catStart": ARR_I, "cats": ARR_D,
                      "catInSetLeft": "boolean", "catInvalidLeft": "boolean"})
    return cells


def _leaf_fcns(lay: Layout) -> dict:
    numeric = {lay.cmp: [_a("x", "f"), _c("threshold", "n")]}
    split = numeric
    out = {}
    if lay.has_cat:
        split = {"if": _c("isCat", "n"), "then": {"u.catLeft": [_a("x", "f"), "n"]}, "else": numeric}
        # XGBoost (src/common/categorical.h): a value outside [0, 2**24) is invalid; a valid
        # value is truncated toward zero (floor, since it is >= 0) and looked up in the set.
        members = {"a.subseq": [_c("cats"), _c("catStart", "n"), _c("catStart", {"+": ["n", 1]})]}
        out["catLeft"] = _fcn([{"v": "double"}, {"n": "int"}], "boolean", [
            {"if": {"||": [{"<": ["v", 0.0]}, {">=": ["v", 16777216.0]}]},
             "then": _c("catInvalidLeft"),
             "else": {"==": [{"a.contains": [members, {"m.floor": "v"}]}, _c("catInSetLeft")]}},
        ])
    go_left = {"if": _a("miss", "f"), "then": _c("defaultLeft", "n"), "else": split}
    out["leaf"] = _fcn([{"x": ARR_D}, {"miss": ARR_B}, {"t": "int"}], "int", [
        {"let": {"n": _c("roots", "t")}},
        {"while": {"!=": [_c("left", "n"), -1]}, "do": [
            {"let": {"f": _c("feature", "n")}},
            {"set": {"n": {"if": go_left, "then": _c("left", "n"), "else": _c("right", "n")}}},
        ]},
        "n",
    ])
    return out


def _margin_fcn(lay: Layout) -> dict:
    params = [{"x": ARR_D}, {"miss": ARR_B}]
    if lay.margin == "linear":
        # XGBoost gblinear (src/gbm/gblinear.cc): (base + bias) then += x_j * w_jk in column
        # order over the present features, each product and sum in float32.
        return _fcn(params, ARR_D, [
            {"let": {"m": _c("base")}},
            _for("k", 0, {"a.len": "m"}, [_replace("m", "k", _f32({"+": [_a("m", "k"), _c("bias", "k")]}))]),
            _for("j", 0, {"a.len": "x"}, [
                {"if": {"!": _a("miss", "j")}, "then": [
                    _for("k", 0, {"a.len": "m"}, [_replace("m", "k", _f32(
                        {"+": [_a("m", "k"), _f32({"*": [_a("x", "j"), _c("weights", "j", "k")]})]}))]),
                ]},
            ]),
            "m",
        ])
    wide = lay.margin in ("wide", "wide_avg")

    def add(k, leaf_k):
        v = _c("value", "leaf", leaf_k)
        if lay.margin == "dart32":
            v = _f32({"*": [v, _c("treeWeight", "t")]})
        s = {"+": [_a("m", k), v]}
        return _replace("m", k, s if wide else _f32(s))

    if lay.vector:
        step = _for("j", 0, {"a.len": "m"}, [add("j", "j")])
    else:
        step = add(_c("treeOutput", "t"), 0)
    body = [
        # float32 sums start from the base score (cpu_predictor.cc InitOutPredictions);
        # float64 sums start from zero and add the base score once at the end.
        {"let": {"m": {"a.map": [_c("base"), {"params": [{"b": "double"}], "ret": "double",
                                              "do": [0.0 if wide else "b"]}]}}},
        _for("t", 0, {"a.len": _c("roots")}, [{"let": {"leaf": {"u.leaf": ["x", "miss", "t"]}}}, step]),
    ]
    if wide:
        total = {"/": [_a("m", "k"), _c("count", "k")]} if lay.margin == "wide_avg" else _a("m", "k")
        body.append(_for("k", 0, {"a.len": "m"}, [_replace("m", "k", _f32({"+": [total, _c("base", "k")]}))]))
    body.append("m")
    return _fcn(params, ARR_D, body)


def _link_fcns(lay: Layout) -> dict:
    one = [{"v": "double"}]
    out: dict = {}
    if lay.link == "sigmoid":
        # src/common/math.h: 1.0f / (1.0f + expf(-x)), expf = exp rounded once to float32.
        out["sigmoid"] = _fcn(one, "double", [_f32({"/": [1.0, _f32({"+": [1.0, _f32({"m.exp": {"u-": "v"}})]})]})])
    elif lay.link == "exp":
        out["expf"] = _fcn(one, "double", [_f32({"m.exp": "v"})])
    elif lay.link == "hinge":
        out["hinge"] = _fcn(one, "double", [{"if": {">": ["v", 0.0]}, "then": 1.0, "else": 0.0}])
    if lay.link in ("softmax", "softmax_label") or (lay.probs == "multiclass" and lay.link != "identity"):
        # expf(x - max) per class, summed in double in class order, each divided by
        # float(sum) in float32 (src/common/math.h Softmax).
        out["softmax"] = _fcn([{"m": ARR_D}], ARR_D, [
            {"let": {"mx": {"a.max": "m"}}},
            {"let": {"e": {"a.map": ["m", {"params": one, "ret": "double",
                                           "do": [_f32({"m.exp": _f32({"-": ["v", "mx"]})})]}]}}},
            {"let": {"s": 0.0}},
            _for("k", 0, {"a.len": "e"}, [{"set": {"s": {"+": ["s", _a("e", "k")]}}}]),
            {"let": {"sf": _f32("s")}},
            {"a.map": ["e", {"params": one, "ret": "double", "do": [_f32({"/": ["v", "sf"]})]}]},
        ])
    mapped = {"sigmoid": "u.sigmoid", "exp": "u.expf", "hinge": "u.hinge"}
    if lay.link in mapped:
        body: list = [{"a.map": ["m", {"fcn": mapped[lay.link]}]}]
    elif lay.link == "softmax":
        body = [{"u.softmax": ["m"]}]
    elif lay.link == "softmax_label":
        # The first maximum wins (XGBoost's FindMaxIndex).
        body = [
            {"let": {"best": 0}},
            _for("k", 1, {"a.len": "m"}, [{"if": {">": [_a("m", "k"), _a("m", "best")]},
                                           "then": [{"set": {"best": "k"}}]}]),
            {"new": [{"cast.double": "best"}], "type": ARR_D},
        ]
    else:
        body = ["m"]
    out["link"] = _fcn([{"m": ARR_D}], ARR_D, body)
    if lay.probs == "binary":
        probs: object = {"new": [_f32({"-": [1.0, _a("p", 0)]}), _a("p", 0)], "type": ARR_D}
    elif lay.probs == "multiclass":
        # identity: the averaged class proportions (rounded once) are the probabilities.
        probs = "p" if lay.link in ("softmax", "identity") else {"u.softmax": ["m"]}
    else:
        probs = {"type": ARR_D, "value": []}
    out["probs"] = _fcn([{"m": ARR_D}, {"p": ARR_D}], ARR_D, [probs])
    return out


def _f32_fcn() -> dict:
    return _fcn([{"d": "double"}], "double", [
        {"unpack": {"pack": [{"float": {"cast.float": "d"}}]}, "format": [{"r": "float"}], "then": "r", "else": 0.0},
    ])


def _fcns(lay: Layout) -> dict:
    out = {"f32": _f32_fcn(), **_input_fcns(lay)}
    if lay.margin != "linear":
        out.update(_leaf_fcns(lay))
    out["margin"] = _margin_fcn(lay)
    out.update(_link_fcns(lay))
    return out


def _input_fcns(lay: Layout) -> dict:
    """``u.inputs(r)``: the fields as doubles (null -> 0.0); ``u.missing(r)``: which are
    missing (null, NaN or the sentinel).  Functions, so the action stays short and the
    head of the file names ``input``, ``output`` and ``action`` (how runtimes sniff it)."""
    xs, miss = [], []
    # float64 linear models: a null field is NaN (0.0 / 0.0), which propagates (core/ir/_links64.py)
    absent = {"/": [0.0, 0.0]} if lay.margin == "linear64" else 0.0
    for i in range(lay.n_features):
        f = "r." + field_name(i)
        xs.append({"ifnotnull": {"v": f}, "then": "v", "else": absent})
        present: dict = {"impute.isnan": "v"}
        if lay.sentinel:
            present = {"||": [present, {"==": ["v", _c("missingValue")]}]}
        miss.append({"ifnotnull": {"v": f}, "then": present, "else": True})
    return {"inputs": _fcn([{"r": "Input"}], ARR_D, [{"new": xs, "type": ARR_D}]),
            "missing": _fcn([{"r": "Input"}], ARR_B, [{"new": miss, "type": ARR_B}])}


def _action(lay: Layout) -> list:
    return [
        {"let": {"x": {"u.inputs": ["input"]}, "miss": {"u.missing": ["input"]}}},
        {"let": {"m": {"u.margin": ["x", "miss"]}}},
        {"let": {"p": {"u.link": ["m"]}}},
        {"new": {"margin": "m", "prediction": "p", "probabilities": {"u.probs": ["m", "p"]}}, "type": "Output"},
    ]


def skeleton(lay: Layout) -> dict:
    """The document for ``lay`` with every cell's ``init`` set to None (filled by the writer)."""
    fields = [{"name": field_name(i), "type": ["null", lay.in_type]} for i in range(lay.n_features)]
    if lay.margin == "linear64":
        from modelport.runtimes import _pfa_forms64 as f64
        from modelport.runtimes._pfa_steps import step_cells

        inputs = _input_fcns(lay)["inputs"]
        cells = f64.cells64()
        for i, kind in enumerate(lay.steps):
            cells.update(step_cells(i, kind))
        return {
            "name": "modelport",
            "method": "map",
            "output": {"type": "record", "name": "Output", "fields": f64.output_fields64(lay)},
            "action": f64.action64(lay),
            "input": {"type": "record", "name": "Input", "fields": fields},
            "fcns": f64.fcns64(lay, _f32_fcn(), inputs),
            "cells": {name: {"type": t, "init": None} for name, t in cells.items()},
        }
    return {  # short keys first: the first 4 KiB name input, output and action (sniffing)
        "name": "modelport",
        "method": "map",
        "output": {"type": "record", "name": "Output",
                   "fields": [{"name": n, "type": ARR_D} for n in ("margin", "prediction", "probabilities")]},
        "action": _action(lay),
        "input": {"type": "record", "name": "Input", "fields": fields},
        "fcns": _fcns(lay),
        "cells": {name: {"type": t, "init": None} for name, t in _cells(lay).items()},
    }
