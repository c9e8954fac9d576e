"""Shared fixtures.  The XGBoost case zoo lives in ``xgb_cases.py``; ``xgb_trained`` gives
tests a factory that trains each case once per session (cached)."""

from __future__ import annotations

import shutil

import pytest

import xgb_cases


@pytest.fixture(scope="module")
def jpmml():
    """``jpmml_evaluator`` with a started JVM (skips when Java or the package is absent)."""
    if shutil.which("java") is None:
        pytest.skip("java is not installed (jpmml-evaluator needs a JVM)")
    jp = pytest.importorskip("jpmml_evaluator", reason="jpmml_evaluator is not installed (pip install jpmml_evaluator)")
    pytest.importorskip("jpype", reason="JPype1 is not installed (jpmml_evaluator's jpype backend)")
    pytest.importorskip("pandas")
    return jp


@pytest.fixture(scope="session")
def xgb_trained():
    """``xgb_trained(name) -> TrainedCase`` (trained once per session; see xgb_cases)."""
    pytest.importorskip("xgboost")
    return xgb_cases.trained_case


def pytest_configure(config):
    """One marker per registered target (``-m "not java"`` deselects a slow toolchain) and
    ``parity`` for the generated matrix."""
    from modelport.converters.targets import all_targets

    config.addinivalue_line("markers", "parity: a cell of the generated parity matrix (never skips in CI)")
    for name in all_targets().names():
        config.addinivalue_line("markers", f"{name}: parity cells of the {name} target")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI (``CI=true``), a skipped parity cell is a failure: CI installs every toolchain
    and package, so a skip there means a cell silently did not run."""
    import os

    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and item.get_closest_marker("parity") is not None \
            and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"parity cell skipped in CI: {report.longrepr}"
