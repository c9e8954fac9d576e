"""Frontends: one per source format, each reading a model FILE into the IR.

Each frontend module registers itself in :data:`FRONTENDS` beside its load function.
:func:`load_model` sniffs the file's content (not only its name) to pick the frontend.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

from modelport.core.registry import Registry
from modelport.core.ir.model import Model
from modelport.core.errors import ModelFormatError

__all__ = ["FRONTENDS", "Frontend", "LoadOptions", "load_model", "detect_frontend", "with_missing"]


@dataclass(frozen=True)
class LoadOptions:
    """Options for reading a source model."""

    trust_pickle: bool = False
    """Allow unpickling a pickled model (e.g. in a SageMaker model.tar.gz).  Unpickling
    runs arbitrary code: only for files you made yourself."""
    use_best_iteration: bool | None = None
    """Whether to keep only the boosting rounds up to the model's recorded ``best_iteration``
    (early stopping).  None (the default) does what the saving API's predict does: a model
    saved by XGBoost's scikit-learn wrapper (``XGBRegressor``/``XGBClassifier``, which record a
    ``scikit_learn`` attribute) predicts with ``best_iteration``, a ``Booster`` with every
    round (docs/parity-traps.md, trap 6).  True truncates, False keeps every round."""
    iteration_end: int | None = None
    """Keep only the first ``iteration_end`` boosting rounds (XGBoost's
    ``iteration_range=(0, iteration_end)``), at least 1; None keeps all."""

    def __post_init__(self) -> None:
        from modelport.core.errors import UsageError

        if self.iteration_end is not None:
            if isinstance(self.iteration_end, bool) or not isinstance(self.iteration_end, int):
                raise UsageError(f"iteration_end must be a whole number, got {self.iteration_end!r}")
            if self.iteration_end < 1:
                raise UsageError(f"iteration_end={self.iteration_end} keeps no round (XGBoost's iteration_range=(0, 0) "
                                 "means every round: leave iteration_end unset to keep them all)")
            if self.use_best_iteration:
                raise UsageError("use_best_iteration and iteration_end both choose the rounds: give one")
    missing: float | None = None
    """An input value that means 'missing' in addition to NaN (XGBoost's DMatrix
    ``missing=-999``).  Model files do not record it, so it must be given; None: NaN only."""

    @property
    def truncates(self) -> bool:
        """True when some boosting rounds are to be dropped."""
        return self.use_best_iteration is True or self.iteration_end is not None

    @property
    def changes_model(self) -> bool:
        """True when the model read differs from the file as saved (truncation or a sentinel)."""
        return self.truncates or self.missing is not None


@dataclass(frozen=True)
class Frontend:
    """A registered source format."""

    name: str
    """Registry key, e.g. ``"xgboost-json"``."""
    framework: str
    """Training framework, e.g. ``"xgboost"``."""
    description: str
    """One line for the docs' support table."""
    extensions: tuple[str, ...]
    """Usual file name endings (a hint; detection is by content)."""
    sniff: Callable[[bytes, str], bool]
    """``sniff(first_bytes, file_name)``: True if the file looks like this format."""
    load: Callable[[Path, LoadOptions], Model]
    """``load(path, options)``: read the file into the IR or raise a ModelportError."""


FRONTENDS: Registry[Frontend] = Registry("frontend")

# Modules that register frontends when imported (kept lazy: importing the registry is cheap).
_FRONTEND_MODULES = (
    "modelport.converters.frontends.xgboost",
    "modelport.converters.frontends.sagemaker",
    "modelport.converters.frontends.lightgbm",
    "modelport.converters.frontends.sklearn",
)


def _load_all() -> None:
    for mod in _FRONTEND_MODULES:
        importlib.import_module(mod)


def all_frontends() -> Registry[Frontend]:
    """The registry with every built-in frontend registered."""
    _load_all()
    return FRONTENDS


def detect_frontend(path: Path) -> Frontend:
    """The frontend whose ``sniff`` accepts the file, or a ModelFormatError."""
    _load_all()
    return FRONTENDS.detect(path, what="model file",
                            unknown=f"not a model format modelport reads (known: {', '.join(FRONTENDS.names())})")


def load_model(path: str | Path, *, frontend: str | None = None, options: LoadOptions | None = None) -> Model:
    """Read a model file into the IR, detecting its format unless ``frontend`` names one."""
    _load_all()
    options = options or LoadOptions()
    fe = FRONTENDS.get(frontend) if frontend else detect_frontend(Path(path))
    model = fe.load(Path(path), options)
    if options.missing is not None:
        model = with_missing(model, options.missing)
    return model


def with_missing(model: Model, missing: float) -> Model:
    """The model with ``missing`` as its missing-value sentinel (NaN means NaN only)."""
    import dataclasses
    import math

    missing = float(missing)
    if math.isinf(missing):
        raise ModelFormatError(f"missing sentinel must be finite or NaN, got {missing}")
    return dataclasses.replace(model, missing=missing)
