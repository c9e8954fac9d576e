"""titus2 (the Python PFA engine) for the tests, with its NumPy 2 / Python 3.11 shims applied
(the shims live in :mod:`modelport.benchmarks._titus`, shared with ``bench_pfa``)."""

from __future__ import annotations

from modelport.benchmarks._titus import TITUS_MISSING, import_titus

__all__ = ["import_titus", "TITUS_MISSING"]
