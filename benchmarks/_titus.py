"""Compatibility shims that let titus2 1.2 (the Python PFA engine) run on NumPy 2 / Python 3.11.

titus2 is used only by the tests and the PFA benchmark (never by a runtime), as an independent PFA engine that
checks the documents modelport writes.  It predates NumPy 2 and Python 3.11:

* ``titus/datatype.py`` lists ``numpy.float_`` among the float types (removed in NumPy 2.0;
  it was an alias of ``numpy.float64``);
* ``titus/util.py`` builds its AST classes with ``inspect.getargspec`` (removed in Python
  3.11; ``getfullargspec`` returns the same ``args``).

:func:`import_titus` restores both names (only when absent) and imports
``titus.genpy.PFAEngine``; it returns None when titus2 is not installed.
"""

from __future__ import annotations

import importlib.util
import inspect
import warnings

import numpy as np

__all__ = ["import_titus", "TITUS_MISSING"]

#: The skip reason when titus2 is absent.
TITUS_MISSING = "titus2 (the reference Python PFA engine) is not installed: pip install titus2"


def _apply() -> None:
    # titus2 calls avro's deprecated ``schema.Parse`` for every type it checks.
    warnings.filterwarnings("ignore", message=".*Parse.* is deprecated", category=DeprecationWarning)
    if "float_" not in np.__dict__:
        np.float_ = np.float64  # type: ignore[attr-defined]
    if not hasattr(inspect, "getargspec"):
        inspect.getargspec = inspect.getfullargspec  # type: ignore[attr-defined]


def import_titus():
    """``titus.genpy.PFAEngine`` with the shims applied, or None if titus2 is not installed."""
    if importlib.util.find_spec("titus") is None:
        return None
    _apply()
    from titus.genpy import PFAEngine

    return PFAEngine
