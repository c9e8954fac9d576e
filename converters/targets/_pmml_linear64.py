"""A float64 linear model (scikit-learn) as a PMML 4.4 RegressionModel, in the reference
evaluator's operation order (:mod:`modelport.core.ir._links64`).

The reference margin is ``((0 + x_0 w_0) + x_1 w_1 + ...) + bias) + base_score`` in float64,
products summed in column order from zero, then the bias, then the base score.  A
RegressionTable's value is ``intercept + sum coef * x`` in predictor order (PMML 4.4
RegressionModel), and jpmml-evaluator adds the intercept before the predictors; so the
table's intercept is 0 and the bias (and a non-zero base score) are the LAST predictors,
``coefficient * 1`` on a constant derived field ``1`` (exact: ``b * 1 == b``).  Whether an
evaluator starts from the intercept 0 or adds it at the end, ``0 + s == s`` (the running sum
starts at +0 in the reference too), so the order is fixed either way.  ``x-mathContext``
is ``double``: every product and sum is a float64 operation, as in the reference.
"""

from __future__ import annotations

import numpy as np

from modelport.converters.targets._pmml_trees import literal
from modelport.converters.targets._pmml_xml import Emitter
from modelport.core.ir.model import LinearBooster

__all__ = ["emit_one_field", "emit_linear64_model"]


def emit_one_field(em: Emitter, name: str) -> None:
    """The DerivedField ``name`` = the double constant 1 (the bias's predictor)."""
    em.open("DerivedField", {"name": name, "optype": "continuous", "dataType": "double"})
    em.text_element("Constant", {"dataType": "double"}, "1")
    em.close("DerivedField")


def emit_linear64_model(em: Emitter, lin: LinearBooster, col: int, base: float, *, names: list[str], columns: list[str],
                        one: str, output_field: str) -> None:
    """Margin column ``col``: a double RegressionModel ``0 + x_0 w_0 + ... + 1 * bias (+ 1 * base)``
    whose predicted value is the OutputField ``output_field`` (double, unrounded); ``names``
    are the input fields (its MiningSchema), ``columns`` the fields it multiplies (the inputs,
    or the preprocessing steps' DerivedFields)."""
    em.open("RegressionModel", {"modelName": f"linear({col})", "functionName": "regression", "x-mathContext": "double"})
    em.open("MiningSchema")
    for f in names:
        em.empty("MiningField", {"name": f})
    em.close("MiningSchema")
    em.open("Output")
    em.empty("OutputField", {"name": output_field, "optype": "continuous", "dataType": "double",
                             "feature": "predictedValue", "isFinalResult": "false"})
    em.close("Output")
    em.open("RegressionTable", {"intercept": "0"})
    w = lin.weights.astype(np.float64)
    for j, name in enumerate(columns):
        em.empty("NumericPredictor", {"name": name, "coefficient": literal(w[j, col], "float64", f"weight {j} of output {col}")})
    em.empty("NumericPredictor", {"name": one, "coefficient": literal(float(lin.bias[col]), "float64", f"bias {col}")})
    if float(base) != 0.0:
        em.empty("NumericPredictor", {"name": one, "coefficient": literal(float(base), "float64", f"base score {col}")})
    em.close("RegressionTable")
    em.close("RegressionModel")
