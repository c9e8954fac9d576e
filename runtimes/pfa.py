"""The PFA runtime: modelport's ``*.pfa.json`` run by modelport's own vectorised PFA engine.

    rt = modelport.runtimes.load("model.pfa.json")
    rt.predict(X)

The engine (numpy only) runs the subset of PFA that the ``pfa`` target writes
(:mod:`modelport.runtimes._pfa_forms`): the document is read with size and nesting limits,
recognised form by form (anything else is a one-line error naming the construct), its
cells validated, then every row is evaluated at once; tree margins run on the compiled
kernel of :mod:`._tree_kernel` when a C compiler is present (``kernel="auto"``, the default;
``"c"`` requires it; ``"numpy"`` never uses it), bit for bit the same (docs/pfa.md, "Compiled
kernel").  The signature comes from the
document's top-level ``metadata`` map (the artifact contract).  See docs/pfa.md.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from modelport.core.contract import signature_from_metadata
from modelport.core.errors import InputDataError, ModelFormatError
from modelport.runtimes._coerce import coerce_input
from modelport.runtimes._pfa_engine import load_program
from modelport.runtimes._pfa_load import read_document, recognise
from modelport.runtimes._tree_kernel import NO_KERNEL, choose_kernel
from modelport.runtimes._tree_kernel_lower import lower_pfa
from modelport.runtimes.base import RUNTIMES, RuntimeSpec, select_output

__all__ = ["PfaRuntime", "load_pfa", "sniff_pfa"]

_KEY = {k: re.compile(rb'"' + k + rb'"\s*:') for k in (b"input", b"output", b"action")}


def sniff_pfa(head: bytes, name: str = "") -> bool:
    """True if ``head`` starts a JSON object naming PFA's top-level keys ``input``,
    ``output`` and ``action`` (modelport writes them before the cells)."""
    text = head.lstrip()
    return text[:1] == b"{" and all(p.search(text) for p in _KEY.values())


class PfaRuntime:
    """A PFA document executed by modelport's vectorised engine, its trees walked by the
    compiled kernel (:mod:`._tree_kernel`) when ``kernel`` allows it and a C compiler is
    present.  ``kernel`` reports what runs ("c" or "numpy"), ``kernel_reason`` why numpy."""

    def __init__(self, path: str | Path, *, kernel: str = "auto", cc: str | None = None) -> None:
        self.path = Path(path)
        where = self.path.name
        doc = read_document(self.path)
        lay = recognise(doc, where=where)
        self.program = load_program(doc, lay, where=where)
        meta = doc.get("metadata")
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise ModelFormatError(f"{where}: the PFA document's metadata is not a map of strings")
        self.signature = signature_from_metadata(meta, where=where, input_type=self.program.in_dtype.name)
        if self.signature.n_features != lay.n_features or self.signature.n_outputs != self.program.n_outputs:
            raise ModelFormatError(f"{where}: metadata says {self.signature.n_features} features / "
                                   f"{self.signature.n_outputs} outputs, the document has {lay.n_features} / "
                                   f"{self.program.n_outputs}")
        lib = None if lay.margin == "linear64" and kernel != "c" else choose_kernel(kernel, where, cc=cc)
        if lay.margin == "linear64":
            self._kernel, self.kernel_reason = None, "a float64 linear model has no trees"
        elif lib is None:
            self._kernel, self.kernel_reason = None, "kernel='numpy'" if kernel == "numpy" else NO_KERNEL
        else:
            self._kernel, self.kernel_reason = lower_pfa(self.program, lib)
        self.kernel = "numpy" if self._kernel is None else "c"
        if lib is not None and self._kernel is None:
            logging.getLogger("modelport.runtimes").info("%s: numpy engine (%s)", where, self.kernel_reason)

    def run(self, X: Any) -> dict[str, np.ndarray]:
        """The document's raw outputs (``margin``, ``prediction``, ``probabilities``) for ``X``."""
        data = coerce_input(X, self.signature.features, dtype=self.program.in_dtype)
        if self._kernel is not None:
            return self.program.outputs(self._kernel.sums(data))
        return self.program.run(data)

    def row_function(self):
        """The single-row fast path of the compiled kernel: ``(x, out, call)`` where ``x`` is
        a preallocated row of the input dtype, ``call()`` writes its float32 margins into
        ``out`` (no allocation or conversion per call).  Needs ``kernel == "c"``."""
        if self._kernel is None:
            raise InputDataError(f"{self.path.name}: row_function needs the compiled kernel ({self.kernel_reason})")
        return self._kernel.row_function(self.program.in_dtype)

    def predict(self, X: Any, *, output: str = "prediction") -> np.ndarray:
        """Predict for ``X``; see :mod:`modelport.runtimes.base` for shapes and dtypes."""
        if output not in self.signature.outputs:
            select_output(self.signature, output, margin=None)  # raises the precise error
        r = self.run(X)
        sig = self.signature
        if sig.task not in ("binary", "multiclass"):
            return select_output(sig, output, margin=r["margin"], variable=r["prediction"])
        probs = r["probabilities"]
        if output not in ("label", "prediction") or (output == "prediction" and sig.post_transform != "softmax_label"):
            return select_output(sig, output, margin=r["margin"], probabilities=probs)
        if "label" in r:  # float64 linear models: the document's label, from the unrounded margin
            label = r["label"]
        elif sig.task == "binary":
            label = (probs[:, 1] > np.float32(0.5)).astype(np.int64)
        else:
            src = r["margin"] if sig.post_transform == "softmax_label" else probs
            label = np.argmax(np.nan_to_num(src, nan=-np.inf), axis=1)
        return select_output(sig, output, margin=r["margin"], probabilities=probs, label=label)


def load_pfa(path: str | Path, **options: Any) -> PfaRuntime:
    """Load a PFA document written by modelport; options: ``kernel`` ("auto": the compiled
    tree kernel when a C compiler is present, else numpy, logged; "c": the kernel, a missing
    compiler is an error; "numpy"), ``cc`` (the compiler)."""
    unknown = set(options) - {"kernel", "cc"}
    if unknown:
        raise InputDataError(f"the pfa runtime takes kernel= and cc=, not {', '.join(sorted(unknown))}")
    return PfaRuntime(path, **options)


RUNTIMES.register(
    "pfa",
    RuntimeSpec(name="pfa",
                description="modelport's vectorised PFA engine for the PFA subset modelport writes: numpy, "
                            "trees on a compiled C kernel when a compiler is present",
                sniff=sniff_pfa, load=load_pfa),
)
