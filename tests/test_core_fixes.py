"""The fixes the core issue asked for, each pinned by a test that failed before."""

from __future__ import annotations

import types

import numpy as np

from modelport import _api


def test_data_csv_rows_for_framework_sources_keep_float64(tmp_path):
    """--data rows for a framework source (compared in float64) are parsed to float64 once;
    before, they went through float32 first and 0.1 became 0.10000000149."""
    csv = tmp_path / "rows.csv"
    csv.write_text("a,b\n0.1,3.0000001\n", encoding="utf-8")
    fake = types.SimpleNamespace(feature_names=("a", "b"))
    rows = _api._native_rows(csv, fake)
    assert rows.dtype == np.float64
    assert rows[0, 0] == 0.1 and rows[0, 1] == 3.0000001


def test_data_csv_rows_for_ir_models_are_float32(tmp_path):
    csv = tmp_path / "rows.csv"
    csv.write_text("0.1,2\n", encoding="utf-8")
    from modelport._csv import read_rows

    rows = read_rows(csv, feature_names=("a", "b"))
    assert rows.dtype == np.float32 and rows[0, 0] == np.float32(0.1)
