"""The IR's preprocessing steps (scikit-learn scalers, imputers, encoders, column routing) as
PMML 4.4 DerivedFields in double, in the reference evaluator's operation order
(:func:`modelport.core.ir.evaluate.preprocess`).

Every step maps the current columns (field names) to new ones:

* ``SelectColumns``: no field, the column list is re-indexed (a column may repeat);
* ``Affine``: ``(x - offset) / scale`` or ``x * scale + offset``, each an ``Apply`` on
  double operands (two roundings, as scikit-learn's in-place ``-=`` / ``/=``; no fused
  multiply-add in PMML or Java); ``clip`` is ``if(isNotMissing(v), min(max(v, low), high))``
  (jpmml-evaluator's min/max skip missing arguments); a missing value stays missing (an
  arithmetic ``Apply`` with a missing argument is missing, PMML 4.4 Functions);
* ``Impute``: ``if(isMissing(x), fill, x)`` (NaN marker) or
  ``if(isNotMissing(x), if(equal(x, m), fill, x))`` (a number marker; a missing x stays
  missing, as the reference's NaN does);
* ``Lookup``: one ``MapValues`` per output column over an InlineTable of (key, value) rows,
  the unknown row as ``defaultValue`` and the missing row as ``mapMissingTo``.  The key
  column is first normalised with ``x + 0`` so ``-0.0`` meets the key ``0`` as the
  reference's ``==`` does (an evaluator may compare keys by their Java ``Double``).

A nominal feature's DataField is the double category code (the runtime input is the code).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from modelport.converters.targets._pmml_trees import literal
from modelport.converters.targets._pmml_xml import Emitter
from modelport.core.errors import UnsupportedModelError
from modelport.core.ir.model import Affine, AffineKind, Impute, Lookup, Model, SelectColumns

__all__ = ["emit_steps"]


def _const(em: Emitter, v: float, what: str) -> None:
    em.text_element("Constant", {"dataType": "double"}, literal(float(v), "float64", what))


def _ref(em: Emitter, name: str) -> None:
    em.empty("FieldRef", {"field": name})


def _derived(em: Emitter, name: str) -> None:
    em.open("DerivedField", {"name": name, "optype": "continuous", "dataType": "double"})


def _affine(em: Emitter, src: str, dst: str, step: Affine, i: int, fresh: Callable[[str], str]) -> None:
    off, sc = float(step.offset[i]), float(step.scale[i])
    first, second = (("-", off), ("/", sc)) if step.kind is AffineKind.SUBTRACT_DIVIDE else (("*", sc), ("+", off))
    unclipped = dst if step.clip is None else fresh(f"unclipped({dst})")
    _derived(em, unclipped)
    em.open("Apply", {"function": second[0]})
    em.open("Apply", {"function": first[0]})
    _ref(em, src)
    _const(em, first[1], "a scaling constant")
    em.close("Apply")
    _const(em, second[1], "a scaling constant")
    em.close("Apply")
    em.close("DerivedField")
    if step.clip is None:
        return
    # if(isNotMissing(v), min(max(v, low), high)): jpmml-evaluator's min/max skip a missing
    # argument (max(missing, low) is low), the reference's clip keeps NaN
    _derived(em, dst)
    em.open("Apply", {"function": "if"})
    em.open("Apply", {"function": "isNotMissing"})
    _ref(em, unclipped)
    em.close("Apply")
    em.open("Apply", {"function": "min"})
    em.open("Apply", {"function": "max"})
    _ref(em, unclipped)
    _const(em, step.clip[0], "the clip's low end")
    em.close("Apply")
    _const(em, step.clip[1], "the clip's high end")
    em.close("Apply")
    em.close("Apply")
    em.close("DerivedField")


def _impute(em: Emitter, src: str, dst: str, step: Impute, i: int) -> None:
    _derived(em, dst)
    em.open("Apply", {"function": "if"})
    if np.isnan(step.missing_value):
        em.open("Apply", {"function": "isMissing"})
        _ref(em, src)
    else:
        # if(isNotMissing(x), if(equal(x, m), fill, x)): jpmml-evaluator's equal refuses a
        # missing argument, and the two-argument if leaves a missing x missing
        em.open("Apply", {"function": "isNotMissing"})
        _ref(em, src)
        em.close("Apply")
        em.open("Apply", {"function": "if"})
        em.open("Apply", {"function": "equal"})
        _ref(em, src)
        _const(em, step.missing_value, "the imputer's missing marker")
    em.close("Apply")
    _const(em, step.fill[i], "an imputed value")
    _ref(em, src)
    em.close("Apply")
    if not np.isnan(step.missing_value):
        em.close("Apply")
    em.close("DerivedField")


def _lookup(em: Emitter, src: str, step: Lookup, fresh: Callable[[str], str]) -> list[str]:
    k = step.keys.size
    table = np.asarray(step.table, dtype=np.float64)
    if np.isnan(table[:k]).any():
        raise UnsupportedModelError(f"a {step.encoder or 'lookup'} row of a known category is NaN (scikit-learn raises there)")
    keys = [literal(float(v) + 0.0, "float64", "a category key") for v in step.keys]
    zero = fresh(f"key({src})")
    _derived(em, zero)
    em.open("Apply", {"function": "+"})
    _ref(em, src)
    _const(em, 0.0, "zero")
    em.close("Apply")
    em.close("DerivedField")
    outs = []
    for o in range(table.shape[1]):
        name = fresh(f"lookup({src},{o})")
        attrs = {"outputColumn": "out", "dataType": "double"}
        if not np.isnan(table[k, o]):
            attrs["defaultValue"] = literal(table[k, o], "float64", "an unknown category's value")
        if not np.isnan(table[k + 1, o]):
            attrs["mapMissingTo"] = literal(table[k + 1, o], "float64", "a missing category's value")
        _derived(em, name)
        em.open("MapValues", attrs)
        em.empty("FieldColumnPair", {"field": zero, "column": "in"})
        em.open("InlineTable")
        for r in range(k):
            em.raw(f"<row><in>{keys[r]}</in><out>{literal(table[r, o], 'float64', 'a lookup value')}</out></row>")
        em.close("InlineTable")
        em.close("MapValues")
        em.close("DerivedField")
        outs.append(name)
    return outs


def emit_steps(em: Emitter, model: Model, names: list[str], fresh: Callable[[str], str]) -> list[str]:
    """Write the DerivedFields of ``model.preprocessing`` (inside an open
    TransformationDictionary); returns the field name of each column the booster reads."""
    cols = list(names)
    for s, step in enumerate(model.preprocessing):
        if isinstance(step, SelectColumns):
            cols = [cols[int(j)] for j in step.sources]
        elif isinstance(step, Affine | Impute):
            for i, c in enumerate(int(j) for j in step.columns):
                dst = fresh(f"step{s}({cols[c]})")
                if isinstance(step, Affine):
                    _affine(em, cols[c], dst, step, i, fresh)
                else:
                    _impute(em, cols[c], dst, step, i)
                cols[c] = dst
        elif isinstance(step, Lookup):
            c = int(step.column)
            cols = cols[:c] + _lookup(em, cols[c], step, fresh) + cols[c + 1:]
        else:
            raise UnsupportedModelError(f"preprocessing step {type(step).__name__} has no PMML encoding")
    return cols
