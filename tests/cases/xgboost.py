"""XGBoost cases of the parity matrix: every case of ``xgb_cases.CASES``, as the JSON file
``Booster.save_model`` writes, with its trap rows and ``Booster.predict(output_margin=True)``."""

from __future__ import annotations

import numpy as np

import xgb_cases
from cases import CASES, KNOWN_BACKEND_FAILURES, ParityCase
from onnxmltools_known_failures import ONNXMLTOOLS_XFAIL


def _register(case: xgb_cases.XGBCase) -> None:
    def model_file():
        return xgb_cases.trained_case(case.name).json_path

    def rows():
        return xgb_cases.trained_case(case.name).X_probe

    def margin(X: np.ndarray) -> np.ndarray:
        tc = xgb_cases.trained_case(case.name)
        out = np.asarray(tc.booster.predict(tc.dmatrix(X), output_margin=True), dtype=np.float32)
        return out.reshape(out.shape[0], -1)

    name = f"xgboost/{case.name}"
    CASES.register(name, ParityCase(name=name, framework="xgboost", slow=case.slow, model_file=model_file,
                                    rows=rows, framework_margin=margin,
                                    extra={"objective": case.params.get("objective", "")}))


for _case in xgb_cases.CASES:
    _register(_case)
for _name, _reason in ONNXMLTOOLS_XFAIL.items():
    KNOWN_BACKEND_FAILURES[("onnxmltools", f"xgboost/{_name}")] = _reason
