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
    "SelectColumns",
    "AffineKind",
    "Affine",
    "Impute",
    "Lookup",
    "Step",
    "READABLE_IR_VERSIONS",
    "CONSTRUCTS",
    "constructs",
    "booster_width",
]

#: Version of the IR's JSON form written by :mod:`serialize`; bump on any schema change.
#: Version 2 added preprocessing steps, float64 linear models and nominal features; a model
#: using none of them is still written as version 1, byte for byte as before.
IR_VERSION = 2
#: Every ``ir_version`` the reader accepts.
READABLE_IR_VERSIONS = (1, 2)


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
    ``ISOLATION``: scikit-learn's IsolationForest ``decision_function`` from the float64 sum
    of path lengths ``d`` (the margin before its rounding), with the model's
    ``post_constants = (c, offset)``: ``-(2 ** -(d / (n_trees * c))) - offset`` in float64
    (``2 ** -1`` when ``n_trees * c == 0``), rounded once to float32 (docs/sklearn.md).
    """

    IDENTITY = "identity"
    SIGMOID = "sigmoid"
    SOFTMAX = "softmax"
    SOFTMAX_LABEL = "softmax_label"
    EXP = "exp"
    HINGE = "hinge"
    ISOLATION = "isolation"


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
    NOMINAL = "nominal"
    """A categorical input read by a preprocessing :class:`Lookup` (scikit-learn's encoders):
    the input is the code ``i`` of ``categories[i]``; NaN is missing, and ANY other value (a
    category name never seen in training, which runtimes map to ``len(categories)``) is
    unknown; the lookup decides what unknown and missing mean.  Unlike ``CATEGORICAL``, an
    unseen name is not an input error."""


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
    """[n_features, n_outputs] in ``value_dtype``."""
    bias: np.ndarray
    """[n_outputs] in ``value_dtype``."""
    value_dtype: str = "float32"
    """``"float32"``: XGBoost gblinear (float32 inputs, ``(bias + base) + x_j * w_j`` in
    column order, missing features skipped).  ``"float64"``: scikit-learn's linear models
    (``X @ coef.T + intercept`` in float64): float64 inputs, the products summed in float64
    in column order from zero, then ``+ bias``, then ``+ base_score``, rounded once to
    float32; NaN is not skipped (it propagates, scikit-learn refuses it)."""


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
    preprocessing: tuple[Step, ...] = field(default_factory=tuple)
    """Steps applied, in order and in float64, to the input columns before the booster
    (scikit-learn Pipeline / ColumnTransformer transformers).  Empty: the booster reads the
    input columns directly.  The booster reads ``booster_width(model)`` columns."""
    post_constants: tuple[float, ...] = field(default_factory=tuple)
    """Constants of the post-transform, empty for all but ``ISOLATION``, whose are
    ``(c, offset)``: ``c`` the average path length of an isolation tree grown on
    ``max_samples`` rows (scikit-learn's ``_average_path_length([max_samples])``), ``offset``
    the model's ``offset_`` (``decision_function = score_samples - offset_``)."""

    @property
    def n_features(self) -> int:
        """Number of input columns."""
        return len(self.features)


class AffineKind(str, enum.Enum):
    """The float64 operation sequence of an :class:`Affine` step (each operation rounds)."""

    SUBTRACT_DIVIDE = "subtract_divide"
    """``(x - offset) / scale``: StandardScaler (``X -= mean_; X /= scale_``), RobustScaler
    (``X -= center_; X /= scale_``), MaxAbsScaler (offset 0: ``x - 0`` is exact)."""
    MULTIPLY_ADD = "multiply_add"
    """``x * scale + offset``: MinMaxScaler (``X *= scale_; X += min_``)."""


@dataclass(frozen=True, eq=False)
class SelectColumns:
    """``x' = x[:, sources]``: reorder, drop or repeat columns (ColumnTransformer routing)."""

    sources: np.ndarray
    """int32 [m]: for each output column, the index of the current column it copies."""


@dataclass(frozen=True, eq=False)
class Affine:
    """Per-column affine map in float64 on the listed columns (others unchanged); NaN stays NaN."""

    columns: np.ndarray
    """int32 [k]: current column indices."""
    offset: np.ndarray
    """float64 [k]."""
    scale: np.ndarray
    """float64 [k]."""
    kind: AffineKind
    """Which operation sequence (and so which rounding) applies."""
    clip: tuple[float, float] | None = None
    """``(low, high)``: clip the result afterwards (MinMaxScaler/MaxAbsScaler ``clip=True``)."""


@dataclass(frozen=True, eq=False)
class Impute:
    """Replace missing cells of the listed columns by a per-column value (SimpleImputer)."""

    columns: np.ndarray
    """int32 [k]: current column indices."""
    fill: np.ndarray
    """float64 [k]: the replacement of each column (finite)."""
    missing_value: float = float("nan")
    """The cell value that means missing: NaN (then NaN cells are filled), or a number (then
    cells equal to it are filled and NaN cells stay NaN)."""


@dataclass(frozen=True, eq=False)
class Lookup:
    """Replace one column by ``table.shape[1]`` columns looked up by its value (OneHotEncoder,
    OrdinalEncoder): a value equal to ``keys[i]`` gives ``table[i]`` (the first such i), NaN
    gives ``table[K + 1]`` (missing), any other value ``table[K]`` (unknown), K = len(keys).
    The new columns take the replaced column's place."""

    column: int
    """Current index of the column replaced."""
    keys: np.ndarray
    """float64 [K]: the known values (category codes of a nominal feature, or the numbers of
    a numeric one), NaN-free."""
    table: np.ndarray
    """float64 [K + 2, n_out]: rows for each key, then unknown, then missing (NaN entries
    mean 'scikit-learn raises here')."""
    encoder: str = ""
    """The source transformer, for messages (e.g. ``"OneHotEncoder"``)."""


#: A preprocessing step.
Step = SelectColumns | Affine | Impute | Lookup

#: The IR constructs a target may lack, by the name its refusal states (see :func:`constructs`).
CONSTRUCTS = {
    "linear-float64": "a float64 linear model (scikit-learn)",
    "preprocessing:select_columns": "column routing (scikit-learn ColumnTransformer)",
    "preprocessing:affine": "an affine scaling step (StandardScaler/MinMaxScaler/MaxAbsScaler/RobustScaler)",
    "preprocessing:impute": "an imputation step (SimpleImputer)",
    "preprocessing:lookup": "a category lookup step (OneHotEncoder/OrdinalEncoder)",
    "feature:nominal": "a nominal (category-name) input column",
    "isolation-forest": "an isolation-forest anomaly score (scikit-learn IsolationForest)",
}

_STEP_CONSTRUCT = {SelectColumns: "preprocessing:select_columns", Affine: "preprocessing:affine",
                   Impute: "preprocessing:impute", Lookup: "preprocessing:lookup"}


def constructs(model: Model) -> set[str]:
    """The optional constructs (keys of :data:`CONSTRUCTS`) that ``model`` uses; a target
    that does not declare one of them in ``Target.supports`` refuses the model."""
    out = {_STEP_CONSTRUCT[type(s)] for s in model.preprocessing}
    if getattr(model.booster, "value_dtype", "float32") == "float64" and isinstance(model.booster, LinearBooster):
        out.add("linear-float64")
    if any(f.type is FeatureType.NOMINAL for f in model.features):
        out.add("feature:nominal")
    if model.post_transform is PostTransform.ISOLATION:
        out.add("isolation-forest")
    return out


def booster_width(model: Model) -> int:
    """How many columns the booster reads: the input columns after every preprocessing step."""
    width = model.n_features
    for step in model.preprocessing:
        if isinstance(step, SelectColumns):
            width = int(np.asarray(step.sources).size)
        elif isinstance(step, Lookup):
            width += int(step.table.shape[1]) - 1
    return width
