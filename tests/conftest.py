"""Shared fixtures.  The XGBoost case zoo lives in ``xgb_cases.py``; ``xgb_trained`` gives
tests a factory that trains each case once per session (cached)."""

from __future__ import annotations

import pytest

import xgb_cases


@pytest.fixture(scope="session")
def xgb_trained():
    """``xgb_trained(name) -> TrainedCase`` (trained once per session; see xgb_cases)."""
    pytest.importorskip("xgboost")
    return xgb_cases.trained_case
