"""The public home of modelport's exception types (defined in :mod:`modelport.core.errors`)."""

from modelport.core.errors import (  # noqa: F401  (re-exported)
    EXIT_CODES,
    InputDataError,
    MissingDependencyError,
    ModelFormatError,
    ModelportError,
    UnsupportedModelError,
    UsageError,
    VerificationError,
    require,
)
from modelport.core.errors import __all__  # noqa: F401
