"""The exceptions modelport raises on bad input; each carries a one-line message that
names the problem.  The CLI maps them to exit codes (see :data:`EXIT_CODES`)."""

from __future__ import annotations

__all__ = [
    "ModelportError",
    "UsageError",
    "ModelFormatError",
    "UnsupportedModelError",
    "InputDataError",
    "MissingDependencyError",
    "VerificationError",
    "EXIT_CODES",
]


class ModelportError(Exception):
    """Base class: a problem the user can act on (never a bug in modelport)."""

    exit_code = 3


class UsageError(ModelportError):
    """The command or call itself is wrong: an unknown choice, conflicting or repeated options."""

    exit_code = 2


class ModelFormatError(ModelportError):
    """The model file is malformed: truncated, corrupted, not a model, inconsistent."""


class UnsupportedModelError(ModelportError):
    """The model is well formed but uses something modelport cannot convert exactly."""


class InputDataError(ModelportError, ValueError):
    """Rows given for prediction do not fit the model's signature."""


class MissingDependencyError(ModelportError, ImportError):
    """An optional package is needed for this operation; the message says how to install it."""

    exit_code = 4


class VerificationError(ModelportError):
    """An artifact's predictions differ from the reference beyond tolerance."""

    exit_code = 1


#: Process exit codes of the ``modelport`` command.
EXIT_CODES = {
    "ok": 0,
    "parity_failure": VerificationError.exit_code,
    "usage": UsageError.exit_code,
    "bad_input": ModelportError.exit_code,
    "missing_dependency": MissingDependencyError.exit_code,
}


def require(module: str, *, extra: str, purpose: str):
    """Import an optional module or raise :class:`MissingDependencyError` saying how to get it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the '{module.split('.')[0]}' package: pip install 'modelport[{extra}]' ({exc})"
        ) from None
