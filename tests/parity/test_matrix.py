"""The parity matrix, generated from the registries: every case of ``cases.CASES`` × every
registered target that has a runtime × each of the target's backends.

A case converts through the public API (``modelport.convert``: stage, verify, publish), so
each cell proves both hops at once: verification holds the artifact's runtime to the reference
evaluator under the target's declared tolerances on the trap rows (thresholds ±1 ULP, NaN in
every feature, the sentinel, categories) plus the case's own rows; then the published
artifact's margins are compared with the source framework's own raw scores.  A new target
with a runtime gets its column here without any edit; ``test_matrix_covers_every_target``
fails if one is left out.  A cell may skip only when a toolchain or package is missing (the
reason names it), and under CI (``CI=true``) a skipped parity cell fails the run.
"""

from __future__ import annotations

import numpy as np
import pytest

import modelport
from cases import KNOWN_BACKEND_FAILURES, KNOWN_REFUSALS, all_cases
from modelport.converters.backends import all_backends, backend_names
from modelport.converters.targets import all_targets
from modelport.core.errors import MissingDependencyError, UnsupportedModelError
from modelport.core.numerics import ulp_distance

pytestmark = pytest.mark.parity


def _targets_with_runtime():
    return [t for _n, t in all_targets().items() if t.runtime is not None]


def matrix_cells() -> list[tuple[str, str, str]]:
    """(case, target, backend) for every cell the registries define."""
    cells = []
    backends = all_backends()
    for case_name, case in all_cases().items():
        for target in _targets_with_runtime():
            for backend in backend_names(target.name):
                if backend != "modelport" and case.framework not in backends.get(f"{target.name}:{backend}").frameworks:
                    continue
                cells.append((case_name, target.name, backend))
    return cells


def _params() -> list:
    cases = all_cases()
    out = []
    for case_name, target, backend in matrix_cells():
        marks = [getattr(pytest.mark, target)]
        if cases.get(case_name).slow:
            marks.append(pytest.mark.slow)
        reason = KNOWN_BACKEND_FAILURES.get((backend, case_name))
        if reason:
            marks.append(pytest.mark.xfail(strict=True, reason=reason))
        out.append(pytest.param(case_name, target, backend, id=f"{target}-{backend}-{case_name}", marks=marks))
    return out


def _skip_if_unavailable(target) -> None:
    for tool in target.toolchain:
        if not tool.available():
            pytest.skip(f"toolchain {tool.name} missing: {tool.install}")


@pytest.mark.parametrize(("case_name", "target_name", "backend"), _params())
def test_parity(case_name, target_name, backend, tmp_path):
    case = all_cases().get(case_name)
    target = all_targets().get(target_name)
    _skip_if_unavailable(target)
    rows = case.rows()
    refusal = KNOWN_REFUSALS.get((target_name, case_name)) if backend == "modelport" else None
    if refusal is not None:  # the target cannot express this model exactly: it must say so
        with pytest.raises(UnsupportedModelError, match=refusal):
            modelport.convert(case.model_file(), to=target_name, out=tmp_path / "out/", data=rows)
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
        return
    try:
        res = modelport.convert(case.model_file(), to=target_name, backend=backend, out=tmp_path / "out/", data=rows)
    except MissingDependencyError as exc:
        pytest.skip(f"missing package: {exc}")
    assert res.verified, f"{target_name} has a runtime but the artifact was not verified"
    assert res.report is not None and res.report.passed, res.report.summary()
    if backend != "modelport" or case.framework_margin is None:
        return
    # Second look, straight at the framework: the published artifact's margins against the
    # source's own raw scores on the case's rows, under the target's margin tolerance.
    rt = modelport.runtimes.load(res.path)
    got = np.asarray(rt.predict(rows, output="margin"), dtype=np.float32).reshape(len(rows), -1)
    want = case.framework_margin(rows)
    assert got.shape == want.shape
    ulps = ulp_distance(got, want)
    both_nan = np.isnan(got) & np.isnan(want)
    bad = ~both_nan & ((ulps < 0) | (ulps > target.margin_tolerance.max_ulp))
    assert not bad.any(), (f"{int(bad.sum())} margins differ from {case.framework} beyond "
                           f"{target.margin_tolerance.name}: max {int(ulps.max())} ULP")


def test_matrix_covers_every_target():
    """Every registered target with a runtime, and each of its backends, is a column."""
    cells = matrix_cells()
    columns = {(t, b) for _c, t, b in cells}
    for target in _targets_with_runtime():
        for backend in backend_names(target.name):
            assert (target.name, backend) in columns, f"target {target.name} ({backend}) is missing from the parity matrix"
    assert {c for c, _t, _b in cells} == set(all_cases().names())


def test_known_failures_name_real_cells():
    cells = {(b, c) for c, _t, b in matrix_cells()}
    assert set(KNOWN_BACKEND_FAILURES) <= cells
    assert set(KNOWN_REFUSALS) <= {(t, c) for c, t, _b in matrix_cells()}
