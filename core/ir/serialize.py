"""The IR's versioned JSON form (``*.ir.json``): lossless, strict, validated on read.

Lossless: every float32 (thresholds, leaf values, base scores, tree weights) and float64
(thresholds; leaf values, base scores and tree weights of a ``value_dtype="float64"``
ensemble) is written as the shortest decimal that reads back to the *same float64*; a float32
widened to float64 is exact, so narrowing it back on read is exact too: bit for bit
(trap 12 of docs/parity-traps.md: decimal dumps that round lose threshold bits).  -0.0 keeps its sign.
Non-finite values, which strict JSON lacks, are the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"`` (all NaNs read back as the canonical quiet NaN: a NaN's payload never changes
a comparison or a sum's NaN-ness).

Strict: the document must say ``"format": "modelport-ir"`` and an ``ir_version`` this code
reads; any missing field, wrong type or inconsistency is a one-line ModelFormatError.
See ``docs/ir.md`` for the format.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from modelport.core.ir.model import (
    IR_VERSION,
    READABLE_IR_VERSIONS,
    Affine,
    AffineKind,
    Comparison,
    Feature,
    FeatureType,
    Impute,
    LinearBooster,
    Lookup,
    Model,
    PostTransform,
    Provenance,
    SelectColumns,
    Step,
    Task,
    Tree,
    TreeEnsemble,
    constructs,
)
from modelport.core.ir.validate import validate
from modelport.core.errors import ModelFormatError

__all__ = ["IR_VERSION", "FORMAT_NAME", "dumps", "loads", "save", "load", "looks_like_ir"]

#: Value of the document's ``"format"`` key.
FORMAT_NAME = "modelport-ir"

_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


# --------------------------------------------------------------------------- writing


def _floats(arr: np.ndarray) -> list:
    """Floats as exact JSON numbers; non-finite ones as strings."""
    out = np.asarray(arr, dtype=np.float64).ravel().tolist()
    if not np.isfinite(arr).all():
        out = [v if math.isfinite(v) else ("NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")) for v in out]
    return out


def _float(x: float) -> float | str:
    return _floats(np.array([x], dtype=np.float64))[0]


def _ints(arr: np.ndarray) -> list[int]:
    return np.asarray(arr).ravel().tolist()


def _bools(arr: np.ndarray) -> list[int]:
    """Booleans as 0/1 (compact, and as readable as true/false in a per-node list)."""
    return np.asarray(arr, dtype=np.int8).ravel().tolist()


def _tree_doc(tree: Tree) -> dict[str, Any]:
    return {
        "left": _ints(tree.left),
        "right": _ints(tree.right),
        "feature": _ints(tree.feature),
        "threshold": _floats(tree.threshold),
        "default_left": _bools(tree.default_left),
        "is_categorical": _bools(tree.is_categorical),
        "cat_offsets": _ints(tree.cat_offsets),
        "cat_values": _ints(tree.cat_values),
        "value": _floats(tree.value),
    }


def _booster_doc(booster: TreeEnsemble | LinearBooster) -> dict[str, Any]:
    if isinstance(booster, LinearBooster):
        doc = {
            "kind": "linear",
            "weights": [_floats(row) for row in booster.weights],
            "bias": _floats(booster.bias),
        }
        if booster.value_dtype != "float32":  # IR version 2; absent means float32 (version 1)
            doc["value_dtype"] = booster.value_dtype
        return doc
    return {
        "kind": "tree_ensemble",
        "comparison": booster.comparison.value,
        "threshold_dtype": booster.threshold_dtype,
        "categories_in_set_go_left": booster.categories_in_set_go_left,
        "invalid_category_goes_left": booster.invalid_category_goes_left,
        "leaf_dim": booster.leaf_dim,
        "apply_tree_weight": booster.apply_tree_weight,
        "value_dtype": booster.value_dtype,
        "average": booster.average,
        "tree_output": _ints(booster.tree_output),
        "tree_weight": _floats(booster.tree_weight),
        "trees": [_tree_doc(t) for t in booster.trees],
    }


def _step_doc(step: Step) -> dict[str, Any]:
    if isinstance(step, SelectColumns):
        return {"step": "select_columns", "sources": _ints(step.sources)}
    if isinstance(step, Affine):
        return {"step": "affine", "kind": step.kind.value, "columns": _ints(step.columns),
                "offset": _floats(step.offset), "scale": _floats(step.scale),
                "clip": None if step.clip is None else [_float(step.clip[0]), _float(step.clip[1])]}
    if isinstance(step, Impute):
        return {"step": "impute", "columns": _ints(step.columns), "fill": _floats(step.fill),
                "missing_value": _float(step.missing_value)}
    return {"step": "lookup", "encoder": step.encoder, "column": int(step.column), "keys": _floats(step.keys),
            "table": [_floats(row) for row in step.table]}


def to_document(model: Model) -> dict[str, Any]:
    """The JSON-ready dict of ``model`` (validated first: never write an inconsistent IR).

    A model that uses none of version 2's constructs (preprocessing, float64 linear models,
    nominal features) is written as version 1, exactly as before version 2 existed."""
    validate(model)
    prov = model.provenance
    doc = {
        "format": FORMAT_NAME,
        "ir_version": IR_VERSION if constructs(model) else 1,
        "task": model.task.value,
        "n_outputs": model.n_outputs,
        "n_classes": model.n_classes,
        "post_transform": model.post_transform.value,
        **({"post_constants": _floats(np.array(model.post_constants, dtype=np.float64))} if model.post_constants else {}),
        "base_score": _floats(model.base_score),
        "missing": _float(model.missing),
        "features": [
            {"name": f.name, "type": f.type.value, "categories": list(f.categories) if f.categories is not None else None}
            for f in model.features
        ],
        "output_names": list(model.output_names),
        "provenance": None if prov is None else {
            "source_format": prov.source_format,
            "framework": prov.framework,
            "framework_version": prov.framework_version,
            "sha256": prov.sha256,
            "objective": prov.objective,
            **({} if prov.rounds_total is None else {"rounds_kept": prov.rounds_kept, "rounds_total": prov.rounds_total,
                                                     "truncation": prov.truncation}),
        },
        "booster": _booster_doc(model.booster),
    }
    if model.preprocessing:
        doc["preprocessing"] = [_step_doc(st) for st in model.preprocessing]
    return doc


def dumps(model: Model) -> str:
    """The model as IR JSON text: one header key per line, one tree per line."""
    doc = to_document(model)
    steps = doc.pop("preprocessing", None)
    booster = doc.pop("booster")
    trees = booster.pop("trees", None)
    enc = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    lines = [f"  {enc.encode(k)}: {enc.encode(v)}," for k, v in doc.items()]
    if steps is not None:  # one step per line
        lines.append('  "preprocessing": [\n' + ",\n".join(f"    {enc.encode(st)}" for st in steps) + "\n  ],")
    blines = [f"    {enc.encode(k)}: {enc.encode(v)}" for k, v in booster.items()]
    if trees is not None:
        tree_lines = ",\n".join(f"      {enc.encode(t)}" for t in trees)
        blines.append('    "trees": [\n' + tree_lines + ("\n    ]" if trees else "]"))
    lines.append('  "booster": {\n' + ",\n".join(blines) + "\n  }")
    return "{\n" + "\n".join(lines) + "\n}\n"


def save(model: Model, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``path`` as IR JSON (UTF-8); return the path."""
    path = Path(path)
    path.write_text(dumps(model), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- reading


class _Reader:
    """Typed field access with one-line errors naming the field's path."""

    def __init__(self, doc: Any, where: str) -> None:
        if not isinstance(doc, dict):
            raise ModelFormatError(f"IR JSON: {where or 'document'} must be an object, got {type(doc).__name__}")
        self.doc, self.where = doc, where

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def raw(self, key: str) -> Any:
        if key not in self.doc:
            raise ModelFormatError(f"IR JSON: missing field {self._name(key)!r}")
        return self.doc[key]

    def typed(self, key: str, kinds: type | tuple[type, ...], what: str) -> Any:
        v = self.raw(key)
        if not isinstance(v, kinds) or (isinstance(v, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,))):
            raise ModelFormatError(f"IR JSON: {self._name(key)} must be {what}, got {_show(v)}")
        return v

    def int(self, key: str) -> int:
        return self.typed(key, int, "an integer")

    def bool(self, key: str) -> bool:
        return self.typed(key, bool, "true or false")

    def str(self, key: str) -> str:
        return self.typed(key, str, "a string")

    def enum(self, key: str, cls: type) -> Any:
        v = self.str(key)
        try:
            return cls(v)
        except ValueError:
            known = ", ".join(m.value for m in cls)
            raise ModelFormatError(f"IR JSON: {self._name(key)} {v!r} is not one of: {known}") from None

    def child(self, key: str) -> _Reader:
        return _Reader(self.raw(key), self._name(key))

    def array(self, key: str, dtype: str, *, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """A list of numbers (floats may be "NaN"/"Infinity"/"-Infinity") as a numpy array."""
        v = self.raw(key)
        name = self._name(key)
        if not isinstance(v, list):
            raise ModelFormatError(f"IR JSON: {name} must be a list, got {_show(v)}")
        kind = np.dtype(dtype).kind
        try:
            if kind == "f":
                vals = [_NONFINITE[x] if isinstance(x, str) else x for x in v]
                if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vals):
                    raise TypeError
                arr = np.array(vals, dtype=np.float64)
                with np.errstate(over="ignore"):
                    out = arr.astype(dtype)
                finite = np.isfinite(arr)
                if dtype == "float32" and not np.array_equal(out[finite].astype(np.float64), arr[finite]):
                    raise ModelFormatError(f"IR JSON: {name} holds a value that is not a float32")
            else:
                if not all(isinstance(x, int) for x in v):
                    raise TypeError
                if kind == "b" and not all(x in (0, 1) for x in v):
                    raise TypeError
                out = np.array(v, dtype=np.int64)
                if kind != "b" and out.size and (out.min() < np.iinfo(dtype).min or out.max() > np.iinfo(dtype).max):
                    raise ModelFormatError(f"IR JSON: {name} holds an integer out of {dtype} range")
                out = out.astype(dtype)
        except (TypeError, KeyError, OverflowError):
            raise ModelFormatError(f"IR JSON: {name} must be a list of {'numbers' if kind == 'f' else 'integers'}") from None
        if shape is not None:
            if out.size != math.prod(shape):
                raise ModelFormatError(f"IR JSON: {name} has {out.size} values, expected {math.prod(shape)}")
            out = out.reshape(shape)
        return out


def _read_tree(r: _Reader, *, threshold_dtype: str, leaf_dim: int, value_dtype: str) -> Tree:
    left = r.array("left", "int32")
    n = left.shape[0]
    return Tree(
        left=left,
        right=r.array("right", "int32"),
        feature=r.array("feature", "int32"),
        threshold=r.array("threshold", threshold_dtype),
        default_left=r.array("default_left", "bool"),
        is_categorical=r.array("is_categorical", "bool"),
        cat_offsets=r.array("cat_offsets", "int64"),
        cat_values=r.array("cat_values", "int32"),
        value=r.array("value", value_dtype, shape=(n, leaf_dim)),
    )


def _read_booster(r: _Reader, n_features: int, n_outputs: int) -> TreeEnsemble | LinearBooster:
    kind = r.str("kind")
    if kind == "linear":
        rows = r.raw("weights")
        if not (isinstance(rows, list) and len(rows) == n_features and all(isinstance(x, list) for x in rows)):
            raise ModelFormatError(f"IR JSON: booster.weights must be {n_features} lists (one per feature)")
        flat = _Reader({"weights": [x for row in rows for x in row]}, "booster")
        dt = r.str("value_dtype") if "value_dtype" in r.doc else "float32"
        if dt not in ("float32", "float64"):
            raise ModelFormatError(f"IR JSON: booster.value_dtype must be 'float32' or 'float64', got {dt!r}")
        return LinearBooster(
            weights=flat.array("weights", dt, shape=(n_features, n_outputs)),
            bias=r.array("bias", dt),
            value_dtype=dt,
        )
    if kind != "tree_ensemble":
        raise ModelFormatError(f"IR JSON: booster.kind {kind!r} is not 'tree_ensemble' or 'linear'")
    threshold_dtype = r.str("threshold_dtype")
    if threshold_dtype not in ("float32", "float64"):
        raise ModelFormatError(f"IR JSON: booster.threshold_dtype must be 'float32' or 'float64', got {threshold_dtype!r}")
    leaf_dim = r.int("leaf_dim")
    if leaf_dim < 1:
        raise ModelFormatError(f"IR JSON: booster.leaf_dim must be >= 1, got {leaf_dim}")
    # value_dtype / average arrived after IR files existed: absent means float32 sums, no average.
    value_dtype = r.str("value_dtype") if "value_dtype" in r.doc else "float32"
    if value_dtype not in ("float32", "float64"):
        raise ModelFormatError(f"IR JSON: booster.value_dtype must be 'float32' or 'float64', got {value_dtype!r}")
    average = r.bool("average") if "average" in r.doc else False
    trees_raw = r.raw("trees")
    if not isinstance(trees_raw, list):
        raise ModelFormatError("IR JSON: booster.trees must be a list")
    trees = tuple(
        _read_tree(_Reader(t, f"booster.trees[{i}]"), threshold_dtype=threshold_dtype, leaf_dim=leaf_dim,
                   value_dtype=value_dtype)
        for i, t in enumerate(trees_raw)
    )
    return TreeEnsemble(
        trees=trees,
        tree_output=r.array("tree_output", "int32"),
        tree_weight=r.array("tree_weight", value_dtype),
        comparison=r.enum("comparison", Comparison),
        threshold_dtype=threshold_dtype,
        categories_in_set_go_left=r.bool("categories_in_set_go_left"),
        invalid_category_goes_left=r.bool("invalid_category_goes_left"),
        leaf_dim=leaf_dim,
        apply_tree_weight=r.bool("apply_tree_weight"),
        value_dtype=value_dtype,
        average=average,
    )


def _read_feature(i: int, doc: Any) -> Feature:
    r = _Reader(doc, f"features[{i}]")
    cats = r.raw("categories") if "categories" in r.doc else None
    if cats is not None and not (isinstance(cats, list) and all(isinstance(c, str) for c in cats)):
        raise ModelFormatError(f"IR JSON: features[{i}].categories must be a list of strings or null")
    return Feature(name=r.str("name"), type=r.enum("type", FeatureType), categories=tuple(cats) if cats is not None else None)


def from_document(doc: Any) -> Model:
    """Build and validate a Model from the parsed JSON document."""
    r = _Reader(doc, "")
    if doc.get("format") != FORMAT_NAME:
        raise ModelFormatError(f"not a modelport IR document (expected \"format\": \"{FORMAT_NAME}\")")
    version = r.raw("ir_version")
    if version not in READABLE_IR_VERSIONS or isinstance(version, bool) or not isinstance(version, int):
        raise ModelFormatError(f"IR version {_show(version, 20)} is not supported (this modelport reads versions "
                               f"{', '.join(map(str, READABLE_IR_VERSIONS))}; the newest is {IR_VERSION})")
    n_outputs = r.int("n_outputs")
    feats_raw = r.raw("features")
    if not isinstance(feats_raw, list):
        raise ModelFormatError("IR JSON: features must be a list")
    features = tuple(_read_feature(i, f) for i, f in enumerate(feats_raw))
    prov = None
    if r.raw("provenance") is not None:
        p = r.child("provenance")
        fields = {k: p.str(k) for k in ("source_format", "framework", "framework_version", "sha256", "objective")}
        if "rounds_total" in p.doc:  # optional: files written before it existed lack it
            fields.update(rounds_kept=p.int("rounds_kept"), rounds_total=p.int("rounds_total"), truncation=p.str("truncation"))
            if not 0 <= fields["rounds_kept"] <= fields["rounds_total"]:
                raise ModelFormatError("IR JSON: provenance.rounds_kept must be between 0 and rounds_total")
        prov = Provenance(**fields)
    names = r.raw("output_names") if "output_names" in doc else []
    if not (isinstance(names, list) and all(isinstance(s, str) for s in names)):
        raise ModelFormatError("IR JSON: output_names must be a list of strings")
    missing = _read_scalar(r, "missing")
    steps = _read_steps(r, version)
    width = len(features)
    for st in steps:  # the booster reads the columns the last step leaves
        width = st.sources.size if isinstance(st, SelectColumns) else (
            width + st.table.shape[1] - 1 if isinstance(st, Lookup) else width)
    booster = _read_booster(r.child("booster"), width, n_outputs)
    model = Model(
        task=r.enum("task", Task),
        features=features,
        n_outputs=n_outputs,
        n_classes=r.int("n_classes"),
        booster=booster,
        base_score=r.array("base_score", getattr(booster, "value_dtype", "float32")),
        post_transform=r.enum("post_transform", PostTransform),
        missing=missing,
        provenance=prov,
        output_names=tuple(names),
        preprocessing=steps,
        post_constants=_read_post_constants(r, version),
    )
    return validate(model)


def _read_post_constants(r: _Reader, version: int) -> tuple[float, ...]:
    """The post-transform's constants (version 2; IsolationForest's ``(c, offset)``)."""
    if "post_constants" not in r.doc:
        return ()
    if version < 2:
        raise ModelFormatError("IR JSON: post_constants needs ir_version 2")
    raw = r.raw("post_constants")
    if not isinstance(raw, list) or len(raw) > 16:
        raise ModelFormatError("IR JSON: post_constants must be a short list of numbers")
    out = []
    for v in raw:
        if isinstance(v, str) and v in _NONFINITE:
            out.append(_NONFINITE[v])
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(float(v))
        else:
            raise ModelFormatError("IR JSON: post_constants must be numbers")
    return tuple(out)


def _read_steps(r: _Reader, version: int) -> tuple[Step, ...]:
    if "preprocessing" not in r.doc:
        return ()
    if version < 2:
        raise ModelFormatError("IR JSON: preprocessing needs ir_version 2")
    raw = r.raw("preprocessing")
    if not isinstance(raw, list):
        raise ModelFormatError("IR JSON: preprocessing must be a list")
    return tuple(_read_step(_Reader(d, f"preprocessing[{i}]")) for i, d in enumerate(raw))


def _read_step(r: _Reader) -> Step:
    kind = r.str("step")
    if kind == "select_columns":
        return SelectColumns(sources=r.array("sources", "int32"))
    if kind == "affine":
        clip = r.raw("clip")
        if clip is not None:
            if not (isinstance(clip, list) and len(clip) == 2):
                raise ModelFormatError(f"IR JSON: {r.where}.clip must be null or [low, high]")
            lo, hi = (_read_scalar(_Reader({"clip": c}, r.where), "clip") for c in clip)
            clip = (lo, hi)
        return Affine(columns=r.array("columns", "int32"), offset=r.array("offset", "float64"),
                      scale=r.array("scale", "float64"), kind=r.enum("kind", AffineKind), clip=clip)
    if kind == "impute":
        return Impute(columns=r.array("columns", "int32"), fill=r.array("fill", "float64"),
                      missing_value=_read_scalar(r, "missing_value"))
    if kind == "lookup":
        keys = r.array("keys", "float64")
        rows = r.raw("table")
        if not (isinstance(rows, list) and rows and all(isinstance(x, list) for x in rows)
                and len({len(x) for x in rows}) == 1):
            raise ModelFormatError(f"IR JSON: {r.where}.table must be a non-empty list of equal-length lists")
        table = _Reader({"table": [x for row in rows for x in row]}, r.where).array(
            "table", "float64", shape=(len(rows), len(rows[0])))
        return Lookup(column=r.int("column"), keys=keys, table=table, encoder=r.str("encoder"))
    raise ModelFormatError(f"IR JSON: {r.where}.step {_show(kind)} is not one of: select_columns, affine, impute, lookup")


def _read_scalar(r: _Reader, key: str) -> float:
    v = r.raw(key)
    if isinstance(v, str) and v in _NONFINITE:
        return _NONFINITE[v]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    raise ModelFormatError(f"IR JSON: {key} must be a number or \"NaN\"/\"Infinity\"/\"-Infinity\"")


def _show(v: Any, width: int = 40) -> str:
    """A short JSON-ish rendering of a value for an error message (bounded work: never
    stringifies a huge number or container in full)."""
    if isinstance(v, (dict, list)):
        return f"a{'n object' if isinstance(v, dict) else ' list'} of {len(v)} item(s)"
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 128:
        return "an integer of more than 38 digits"
    if isinstance(v, str) and len(v) > width:
        v = v[:width]
    return json.dumps(v)[:width]


#: Longest integer literal the reader accepts (int64 needs 20 characters with the sign).
_MAX_INT_DIGITS = 40


def _parse_int(text: str) -> int:
    # Bounded before int(): Python's int-string limit (4300 digits) raises a bare ValueError,
    # and anything past 40 digits is no IR integer anyway.
    if len(text) > _MAX_INT_DIGITS:
        raise ModelFormatError(f"IR JSON: an integer literal of {len(text)} digits (at most {_MAX_INT_DIGITS})")
    return int(text)


def _reject_constant(name: str) -> float:
    raise ModelFormatError(f"IR JSON: bare {name} is not JSON; write the string \"{name}\"")


def loads(text: str | bytes) -> Model:
    """Parse IR JSON text into a validated Model (ModelFormatError on anything malformed)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelFormatError(f"IR JSON is not UTF-8 text (byte {exc.start})") from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise ModelFormatError(f"IR JSON is malformed: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # e.g. a number json cannot convert; never a traceback
        raise ModelFormatError(f"IR JSON is malformed: {' '.join(str(exc).split())[:120]}") from None
    except RecursionError:
        raise ModelFormatError("IR JSON is nested too deeply") from None
    return from_document(doc)


def load(path: str | os.PathLike[str]) -> Model:
    """Read an ``*.ir.json`` file into a validated Model."""
    from modelport.core.files import read_model_bytes

    path = Path(path)
    data = read_model_bytes(path, what="IR file")  # regular files only, size-capped
    if not data.strip():
        raise ModelFormatError(f"{path.name}: the file is empty")
    return loads(data)


def looks_like_ir(head: bytes) -> bool:
    """True if the first bytes of a file look like an IR JSON document."""
    return head.lstrip()[:1] == b"{" and b'"format"' in head and FORMAT_NAME.encode() in head
