"""Preprocessing steps (IR version 2: scikit-learn's scalers, imputers, encoders and column
routing) as PFA forms, and their execution with numpy.

Each step ``i`` of kind ``k`` keeps its data in cells named ``p{i}_{k}_...`` (the runtime
reads the step sequence from the cell names) and is one block of statements on the float64
row ``y`` inside ``u.prep``, with the evaluator's operations in its order
(``core/ir/evaluate.py`` ``_apply_step``; PFA ``double`` arithmetic is IEEE double, no fused
multiply-add):

* ``select``: ``y = [y[src[0]], y[src[1]], ...]``;
* ``affsd`` / ``affma`` (``c`` suffix: clipped): for each listed column ``(v - off) / scale``
  or ``v * scale + off``, each operation rounded; then ``if v < lo: v = lo; if v > hi: v =
  hi`` unless NaN (numpy's clip; PFA orders NaN above every double, so NaN is tested first);
* ``impnan`` / ``impval``: a listed column that is NaN (or equals ``mv``) becomes ``fill``;
* ``lookup``: column ``col`` is replaced by the table row ``r``: ``K + 1`` for NaN, else the
  first ``i`` with ``keys[i] == v``, else ``K`` (unknown); rows flagged ``bad`` (scikit-learn
  raises there) are NaN, written ``0.0 / 0.0`` since JSON has no NaN.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["STEP_KINDS", "step_cells", "prep_fcn", "steps_of_cells", "run_steps"]

STEP_KINDS = ("select", "affsd", "affma", "affsdc", "affmac", "impnan", "impval", "lookup")
_ARR_D = {"type": "array", "items": "double"}
_ARR_I = {"type": "array", "items": "int"}
_CELL = re.compile(r"p(\d+)_([a-z]+)_[a-z]+")
_NAN = {"/": [0.0, 0.0]}


def _c(name: str, *path) -> dict:
    return {"cell": name, "path": list(path)} if path else {"cell": name}


def _y(*path) -> dict:
    return {"attr": "y", "path": list(path)}


def _isnan(v) -> dict:
    return {"impute.isnan": v}


def step_cells(i: int, kind: str) -> dict[str, object]:
    """Cell name -> Avro type for step ``i`` of ``kind``."""
    p = f"p{i}_{kind}_"
    if kind == "select":
        return {p + "src": _ARR_I}
    if kind.startswith("aff"):
        out = {p + "col": _ARR_I, p + "off": _ARR_D, p + "scale": _ARR_D}
        if kind.endswith("c"):
            out.update({p + "lo": "double", p + "hi": "double"})
        return out
    if kind.startswith("imp"):
        out = {p + "col": _ARR_I, p + "fill": _ARR_D}
        if kind == "impval":
            out[p + "mv"] = "double"
        return out
    return {p + "col": "int", p + "keys": _ARR_D, p + "table": {"type": "array", "items": _ARR_D},
            p + "bad": {"type": "array", "items": "boolean"}}


def _for(var: str, end, body: list) -> dict:
    return {"for": {var: 0}, "while": {"<": [var, end]}, "step": {var: {"+": [var, 1]}}, "do": body}


def _step_body(i: int, kind: str) -> list:
    p = f"p{i}_{kind}_"
    t, c, v = f"t{i}", f"c{i}", f"v{i}"
    if kind == "select":
        return [{"set": {"y": {"a.map": [_c(p + "src"), {"params": [{f"s{i}": "int"}], "ret": "double",
                                                          "do": [_y(f"s{i}")]}]}}}]
    if kind.startswith("aff"):
        if kind.startswith("affsd"):
            expr = {"/": [{"-": [_y(c), _c(p + "off", t)]}, _c(p + "scale", t)]}
        else:
            expr = {"+": [{"*": [_y(c), _c(p + "scale", t)]}, _c(p + "off", t)]}
        body: list = [{"let": {c: _c(p + "col", t)}}, {"let": {v: expr}}]
        if kind.endswith("c"):
            body.append({"if": {"!": _isnan(v)}, "then": [
                {"if": {"<": [v, _c(p + "lo")]}, "then": [{"set": {v: _c(p + "lo")}}]},
                {"if": {">": [v, _c(p + "hi")]}, "then": [{"set": {v: _c(p + "hi")}}]},
            ]})
        body.append({"set": {"y": {"a.replace": ["y", c, v]}}})
        return [_for(t, {"a.len": _c(p + "col")}, body)]
    if kind.startswith("imp"):
        miss = _isnan(_y(c)) if kind == "impnan" else {"==": [_y(c), _c(p + "mv")]}
        return [_for(t, {"a.len": _c(p + "col")}, [
            {"let": {c: _c(p + "col", t)}},
            {"if": miss, "then": [{"set": {"y": {"a.replace": ["y", c, _c(p + "fill", t)]}}}]},
        ])]
    k, r, col = f"k{i}", f"r{i}", _c(p + "col")
    n_keys = {"a.len": _c(p + "keys")}
    return [
        {"let": {v: _y(col), r: n_keys}},
        {"if": _isnan(v), "then": [{"set": {r: {"+": [n_keys, 1]}}}], "else": [
            _for(k, n_keys, [{"if": {"&&": [{"==": [r, n_keys]}, {"==": [_c(p + "keys", k), v]}]},
                              "then": [{"set": {r: k}}]}]),
        ]},
        {"let": {f"b{i}": {"if": _c(p + "bad", r),
                           "then": {"a.map": [_c(p + "table", r), {"params": [{f"q{i}": "double"}], "ret": "double",
                                                                   "do": [_NAN]}]},
                           "else": _c(p + "table", r)}}},
        {"set": {"y": {"a.concat": [{"a.concat": [{"a.subseq": ["y", 0, col]}, f"b{i}"]},
                                    {"a.subseq": ["y", {"+": [col, 1]}, {"a.len": "y"}]}]}}},
    ]


def prep_fcn(steps: tuple[str, ...]) -> dict:
    """``u.prep(x)``: the row after every step, in order."""
    body: list = [{"let": {"y": "x"}}]
    for i, kind in enumerate(steps):
        body.extend(_step_body(i, kind))
    body.append("y")
    return {"params": [{"x": _ARR_D}], "ret": _ARR_D, "do": body}


def steps_of_cells(cells: dict) -> tuple[str, ...] | None:
    """The step kinds named by a document's ``p{i}_{kind}_`` cells, or None if they are not a
    sequence ``0, 1, ...`` of known kinds."""
    found: dict[int, str] = {}
    for name in cells:
        m = _CELL.fullmatch(name)
        if m is None:
            continue
        i, kind = int(m.group(1)), m.group(2)
        if kind not in STEP_KINDS or found.setdefault(i, kind) != kind:
            return None
    if sorted(found) != list(range(len(found))):
        return None
    return tuple(found[i] for i in range(len(found)))


def run_steps(steps: tuple, X: np.ndarray) -> np.ndarray:
    """The forms of :func:`prep_fcn` over all rows: ``steps`` are ``(kind, data)`` pairs as
    the engine loaded them."""
    y = np.array(X, dtype=np.float64, copy=True)
    with np.errstate(all="ignore"):
        for kind, d in steps:
            if kind == "select":
                y = np.ascontiguousarray(y[:, d["src"]])
            elif kind.startswith("aff"):
                for t, c in enumerate(d["col"].tolist()):
                    v = y[:, c]
                    v = (v - d["off"][t]) / d["scale"][t] if kind.startswith("affsd") else v * d["scale"][t] + d["off"][t]
                    if kind.endswith("c"):
                        v = np.where(v < d["lo"], d["lo"], v)  # NaN < lo is False: NaN stays
                        v = np.where(v > d["hi"], d["hi"], v)
                    y[:, c] = v
            elif kind.startswith("imp"):
                for t, c in enumerate(d["col"].tolist()):
                    miss = np.isnan(y[:, c]) if kind == "impnan" else y[:, c] == d["mv"]
                    y[:, c] = np.where(miss, d["fill"][t], y[:, c])
            else:
                col, keys = d["col"], d["keys"]
                v = y[:, col]
                r = np.full(v.shape, keys.size, dtype=np.int64)
                for k in range(keys.size - 1, -1, -1):  # the first matching key wins
                    r = np.where(v == keys[k], k, r)
                r = np.where(np.isnan(v), keys.size + 1, r)
                block = np.where(d["bad"][r][:, None], np.nan, d["table"][r])
                y = np.ascontiguousarray(np.concatenate([y[:, :col], block, y[:, col + 1:]], axis=1))
    return y
