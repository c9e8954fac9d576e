"""The modelport intermediate representation (IR).

Every frontend reads a source model into these frozen dataclasses; every target writes
from them; :mod:`modelport.core.ir.evaluate` defines what they mean.  Every numeric
behaviour that differs between frameworks is an explicit field here, never an assumption
buried in a target (see docs/parity-traps.md).

Trees are stored as parallel numpy arrays (one entry per node), not node objects, so that
evaluation and writing are vectorised and never recursive.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "IR_VERSION",
    "Task",
    "PostTransform",
    "Comparison",
    "FeatureType",
    "Feature",
    "Provenance",
    "Tree",
    "TreeEnsemble",
    "LinearBooster",
    "Model",
]

#: Version of the IR's JSON form written by :mod:`serialize`; bump on any schema change.
IR_VERSION = 1


class Task(str, enum.Enum):
    """What the model predicts; decides the shape and meaning of ``predict``'s output."""

    REGRESSION = "regression"
    BINARY = "binary"
    MULTICLASS = "multiclass"
    MULTI_TARGET = "multi_target"
    RANKING = "ranking"
    SURVIVAL = "survival"


class PostTransform(str, enum.Enum):
    """The closed set of functions applied to the margin (raw score) to give the prediction.

    ``IDENTITY``: prediction = margin.
    ``SIGMOID``: 1 / (1 + exp(-margin)), one column (binary:logistic, reg:logistic).
    ``SOFTMAX``: per-row softmax over the class columns (multi:softprob).
    ``SOFTMAX_LABEL``: argmax over the class columns, returned as the class index
    (multi:softmax; ties go to the lowest index as in XGBoost's ``std::max_element``).
    ``EXP``: exp(margin) (count:poisson, reg:gamma, reg:tweedie, survival:aft, survival:cox).
    ``HINGE``: 1.0 where margin > 0 else 0.0 (binary:hinge).
    """

    IDENTITY = "identity"
    SIGMOID = "sigmoid"
    SOFTMAX = "softmax"
    SOFTMAX_LABEL = "softmax_label"
    EXP = "exp"
    HINGE = "hinge"


class Comparison(str, enum.Enum):
    """How a numeric split compares the feature value ``x`` with the threshold ``t``.

    The row goes LEFT when the comparison is true.  XGBoost tests ``x < t`` on float32
    values; scikit-learn and LightGBM test ``x <= t``.
    """

    LT = "<"
    LE = "<="


class FeatureType(str, enum.Enum):
    """How a feature's values are interpreted."""

    FLOAT = "float"
    INT = "int"
    INDICATOR = "indicator"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class Feature:
    """One input column."""

    name: str
    """Column name (the source's, or ``f{i}`` when the source had none)."""
    type: FeatureType = FeatureType.FLOAT
    """Interpretation of the column's values."""
    categories: tuple[str, ...] | None = None
    """For categorical features trained from a pandas categorical: the category values
    in code order (code ``i`` means ``categories[i]``).  The model's input is the code."""


@dataclass(frozen=True)
class Provenance:
    """Where the model came from; written into every artifact's metadata."""

    source_format: str
    """Registry name of the frontend that read it, e.g. ``"xgboost-json"``."""
    framework: str
    """The training framework, e.g. ``"xgboost"``."""
    framework_version: str
    """Version of the framework that wrote the file, e.g. ``"3.2.0"`` (``""`` if unknown)."""
    sha256: str
    """Hex SHA-256 of the source file's bytes (``""`` for in-memory sources)."""
    objective: str
    """The source's objective / loss name, verbatim (e.g. ``"binary:logistic"``)."""
    rounds_kept: int | None = None
    """Boosting rounds converted (None when the source has no rounds, e.g. gblinear)."""
    rounds_total: int | None = None
    """Boosting rounds in the source file."""
    truncation: str = ""
    """Why rounds were dropped (``"best_iteration"``, ``"iteration_end=K"``, ...); ``""`` when all were kept."""


@dataclass(frozen=True, eq=False)
class Tree:
    """One decision tree as parallel per-node arrays; node 0 is the root.

    A node is a leaf when ``left[i] == -1``.  Equality is by identity (arrays have no
    value equality); compare serialised forms to compare trees.
    """

    left: np.ndarray
    """int32 [n_nodes]: index of the left child, -1 for a leaf."""
    right: np.ndarray
    """int32 [n_nodes]: index of the right child, -1 for a leaf."""
    feature: np.ndarray
    """int32 [n_nodes]: split feature index (0 for leaves)."""
    threshold: np.ndarray
    """[n_nodes] in the model's ``threshold_dtype``: numeric split threshold (0 for leaves
    and categorical splits)."""
    default_left: np.ndarray
    """bool [n_nodes]: where a missing value goes (True: left)."""
    is_categorical: np.ndarray
    """bool [n_nodes]: the node is a categorical (set-membership) split."""
    cat_offsets: np.ndarray
    """int64 [n_nodes + 1]: node i's category set is ``cat_values[cat_offsets[i]:cat_offsets[i+1]]``
    (empty for numeric splits and leaves)."""
    cat_values: np.ndarray
    """int32 [n_cat_values]: sorted category codes, concatenated per node."""
    value: np.ndarray
    """float32 [n_nodes, leaf_dim]: leaf outputs (rows of internal nodes are 0 and unused)."""


@dataclass(frozen=True, eq=False)
class TreeEnsemble:
    """A sum of trees: ``margin[:, tree_output[t]] += tree_weight[t] * leaf(t)``.

    For vector leaves (``leaf_dim == n_outputs``), ``tree_output[t]`` is -1 and the whole
    leaf vector is added to all output columns.
    """

    trees: tuple[Tree, ...]
    """The trees, in the source's accumulation order."""
    tree_output: np.ndarray
    """int32 [n_trees]: which margin column each tree adds to (-1: vector leaf, all columns)."""
    tree_weight: np.ndarray
    """float32 [n_trees]: multiplier of each tree's leaf (DART's weight_drop; 1 otherwise)."""
    comparison: Comparison
    """The numeric split rule; the row goes left when ``x <op> threshold`` holds."""
    threshold_dtype: str
    """``"float32"`` or ``"float64"``: precision of thresholds and of the comparison."""
    categories_in_set_go_left: bool
    """True if a category in the node's set goes left (LightGBM), False if right (XGBoost)."""
    invalid_category_goes_left: bool = True
    """Where a categorical value that is negative or >= 2**24 goes (XGBoost sends it left,
    the side for 'not in the set').  A non-integral value is NOT invalid: it is truncated
    toward zero first (XGBoost's ``static_cast`` in ``common/categorical.h``), so 1.7 tests
    category 1 and -0.5 is negative, hence invalid; measured bit for bit on xgboost 3.2."""
    leaf_dim: int = 1
    """Length of each leaf value vector (1: scalar leaves)."""
    apply_tree_weight: bool = False
    """True when ``tree_weight`` must be multiplied in (DART); False for plain sums, so that
    evaluation skips the float32 multiply exactly as the source does."""
    value_dtype: str = "float32"
    """``"float32"`` or ``"float64"``: precision of leaf values, tree weights, the base score
    and the running sum.  XGBoost sums in float32; LightGBM and scikit-learn in float64.  The
    margin users receive is the sum rounded once to float32 at the end."""
    average: bool = False
    """True when each output's tree sum is divided by the number of trees adding to that
    output before the base score is added (scikit-learn forests, LightGBM ``average_output``);
    the division happens once, in ``value_dtype``, after the whole sum."""


@dataclass(frozen=True, eq=False)
class LinearBooster:
    """A linear model: ``margin = X @ weights + bias`` (XGBoost gblinear)."""

    weights: np.ndarray
    """float32 [n_features, n_outputs]."""
    bias: np.ndarray
    """float32 [n_outputs]."""


@dataclass(frozen=True, eq=False)
class Model:
    """A complete model: booster + everything needed to turn inputs into predictions.

    ``margin = base_score + booster(x)`` (in float32 with XGBoost's accumulation order),
    ``prediction = post_transform(margin)``.
    """

    task: Task
    """What is predicted."""
    features: tuple[Feature, ...]
    """Input columns, in positional order."""
    n_outputs: int
    """Number of margin columns (1 for regression/binary, n_classes for multiclass,
    n_targets for multi-target or multi-quantile)."""
    n_classes: int
    """Number of classes (2 for binary, 0 for non-classifiers)."""
    booster: TreeEnsemble | LinearBooster
    """The learned function producing margins."""
    base_score: np.ndarray
    """float32 [n_outputs]: intercept per output, already in margin space."""
    post_transform: PostTransform
    """Function from margins to predictions."""
    missing: float = float("nan")
    """Input value meaning 'missing' in addition to NaN (NaN itself always means missing)."""
    provenance: Provenance | None = None
    """Source of the model, if known."""
    output_names: tuple[str, ...] = field(default_factory=tuple)
    """Optional names of the output columns (targets, quantiles)."""

    @property
    def n_features(self) -> int:
        """Number of input columns."""
        return len(self.features)
