"""Reading a PFA document safely and recognising modelport's subset (numpy only).

:func:`read_document` parses JSON with a size limit, a nesting-depth limit (checked before
parsing, so hostile nesting never reaches the recursive parser) and no NaN/Infinity
tokens.  :func:`recognise` finds the :class:`~modelport.runtimes._pfa_forms.Layout` whose
skeleton the document is, or raises a one-line ModelFormatError naming the first construct
outside the subset.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from modelport.core.errors import ModelFormatError
from modelport.runtimes._pfa_forms import LINKS, PROBS, Layout, field_name, skeleton
from modelport.runtimes._pfa_steps import steps_of_cells

__all__ = ["MAX_BYTES", "MAX_DEPTH", "read_document", "recognise", "TOP_LEVEL"]

#: Largest document read (a 1,000-tree depth-8 model is about 60 MB).
MAX_BYTES = 512 << 20
#: Deepest JSON nesting accepted (modelport's documents nest about 25 levels).
MAX_DEPTH = 64
#: The top-level keys of the subset.
TOP_LEVEL = ("name", "method", "input", "output", "action", "fcns", "cells", "metadata")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _reject_constant(token: str):
    raise ValueError(f"{token} is not JSON")


def read_document(path: Path) -> dict:
    """The document at ``path`` as Python objects, within :data:`MAX_BYTES` / :data:`MAX_DEPTH`."""
    where = path.name
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ModelFormatError(f"{where}: {size} bytes is larger than the {MAX_BYTES}-byte PFA limit")
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelFormatError(f"{where}: cannot read it ({type(exc).__name__})") from None
    skeleton_bytes = np.frombuffer(_STRING.sub(b"", raw), dtype=np.uint8)
    step = (np.isin(skeleton_bytes, (ord("{"), ord("["))).astype(np.int32)
            - np.isin(skeleton_bytes, (ord("}"), ord("]"))).astype(np.int32))
    depth = int(np.cumsum(step).max()) if step.size else 0
    if depth > MAX_DEPTH:
        raise ModelFormatError(f"{where}: JSON nested {depth} deep, more than the PFA limit of {MAX_DEPTH}")
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFormatError(f"{where}: not valid JSON ({type(exc).__name__}: {str(exc)[:80]})") from None
    if not isinstance(doc, dict):
        raise ModelFormatError(f"{where}: a PFA document is a JSON object, found {type(doc).__name__}")
    return doc


Loc = tuple  # a location in the document: keys and list indices from the top


def _first_difference(want, got, path: Loc = ()) -> Loc | None:
    """The location of the first place ``got`` differs from ``want`` (iterative), or None."""
    stack = [(want, got, path)]
    while stack:
        w, g, p = stack.pop()
        if isinstance(w, dict):
            if not isinstance(g, dict):
                return p
            odd = [k for k in g if k not in w] + [k for k in w if k not in g]
            if odd:
                return (*p, odd[0])
            stack.extend((w[k], g[k], (*p, k)) for k in reversed(list(w)))
        elif isinstance(w, list):
            if not isinstance(g, list) or len(g) != len(w):
                return p
            stack.extend((w[i], g[i], (*p, i)) for i in reversed(range(len(w))))
        elif type(w) is not type(g) or w != g or (isinstance(w, float) and str(w) != str(g)):
            return p  # floats compare by their text too: -0.0 is not 0.0 for the sums
    return None


def _render(path: Loc) -> str:
    out = "doc"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += "." + part
        else:
            out += "[" + json.dumps(part) + "]"
    return out


def _construct(doc: dict, path: Loc) -> str:
    """A short rendering of what the document holds at ``path`` (for the error)."""
    node: object = doc
    for part in path:
        try:
            node = node[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return "nothing (expected here)"
    if isinstance(node, dict):
        return "{" + ", ".join(json.dumps(k) for k in list(node)[:3]) + (", ...}" if len(node) > 3 else "}")
    text = json.dumps(node)
    return text if len(text) <= 60 else text[:57] + "..."


def _unsupported(where: str, doc: dict, path: Loc) -> ModelFormatError:
    return ModelFormatError(f"{where}: PFA construct outside the subset modelport runs at {_render(path)}: "
                            f"{_construct(doc, path)}")


def recognise(doc: dict, *, where: str) -> Layout:
    """The layout whose skeleton ``doc`` is (cells' ``init`` and ``metadata`` aside)."""
    for key in doc:
        if key not in TOP_LEVEL:
            raise _unsupported(where, doc, (key,))
    if doc.get("method", "map") != "map":
        raise _unsupported(where, doc, ("method",))
    fields = (doc.get("input") or {}).get("fields") if isinstance(doc.get("input"), dict) else None
    if not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields):
        raise _unsupported(where, doc, ("input",))
    types = [f.get("type") for f in fields]
    in_type = types[0][1] if types and isinstance(types[0], list) and len(types[0]) == 2 else "float"
    if in_type not in ("float", "double"):
        raise _unsupported(where, doc, ("input", "fields", 0, "type"))
    cells = doc.get("cells")
    if not isinstance(cells, dict):
        raise _unsupported(where, doc, ("cells",))
    value_type = _dig(cells, "value", "type", "items", "items")
    if "weights" in cells:
        margin = "linear64" if _dig(cells, "weights", "type", "items", "items") == "double" else "linear"
    elif "treeWeight" in cells:
        margin = "dart32"
    elif "count" in cells:
        margin = "wide_avg"
    else:
        margin = "wide" if value_type == "double" else "sum32"
    base = dict(n_features=len(fields), in_type=in_type, margin=margin, vector="treeOutput" not in cells
                and margin not in ("linear", "linear64"), has_cat="isCat" in cells, sentinel="missingValue" in cells,
                value_type=value_type if value_type in ("float", "double") else "float")
    if margin == "linear64":
        steps = steps_of_cells(cells)
        if steps is None:
            raise _unsupported(where, doc, ("cells",))
        base["steps"] = steps
    got_fcns = doc.get("fcns")
    best: tuple[int, Loc] | None = None
    for cmp in ("<", "<="):
        for link in LINKS:
            for probs in PROBS:
                lay = Layout(cmp=cmp, link=link, probs=probs, **base)
                diff = _first_difference(skeleton(lay)["fcns"], got_fcns, ("fcns",))
                if diff is None:
                    return _check_rest(doc, lay, where)
                score = _progress(skeleton(lay)["fcns"], got_fcns)
                if best is None or score > best[0]:
                    best = (score, diff)
    raise _unsupported(where, doc, best[1] if best else ("fcns",))


def _dig(obj, *keys):
    """``obj[k1][k2]...`` through dicts only, or None."""
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj


def _progress(want: dict, got: object) -> int:
    """Length of the common prefix of the two canonical JSON texts (to pick the closest layout)."""
    a, b = json.dumps(want, sort_keys=True), json.dumps(got, sort_keys=True, default=str)
    n = min(len(a), len(b))
    diff = np.flatnonzero(np.frombuffer(a[:n].encode("latin-1", "replace"), np.uint8)
                          != np.frombuffer(b[:n].encode("latin-1", "replace"), np.uint8))
    return int(diff[0]) if diff.size else n


def _check_rest(doc: dict, lay: Layout, where: str) -> Layout:
    want = skeleton(lay)
    for key in ("name", "method", "input", "output", "action"):
        if key in doc or key not in ("name", "method"):
            diff = _first_difference(want[key], doc.get(key), (key,))
            if diff is not None:
                raise _unsupported(where, doc, diff)
    got_cells = doc["cells"]
    for name, spec in want["cells"].items():
        cell = got_cells.get(name)
        if not isinstance(cell, dict) or set(cell) - {"type", "init", "shared", "rollback"}:
            raise _unsupported(where, doc, ("cells", name))
        if cell.get("shared") or cell.get("rollback"):
            raise _unsupported(where, doc, ("cells", name, "shared"))
        diff = _first_difference(spec["type"], cell.get("type"), ("cells", name, "type"))
        if diff is not None:
            raise _unsupported(where, doc, diff)
    extra = [n for n in got_cells if n not in want["cells"]]
    if extra:
        raise _unsupported(where, doc, ("cells", extra[0]))
    if [f["name"] for f in doc["input"]["fields"]] != [field_name(i) for i in range(lay.n_features)]:
        raise _unsupported(where, doc, ("input", "fields"))
    return lay
