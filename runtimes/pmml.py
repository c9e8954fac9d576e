"""The PMML runtime: a pure-Python (numpy) PMML 4.x evaluator behind the Runtime interface.

    rt = modelport.runtimes.load("model.pmml")
    rt.predict(X)                    # what the source model's predict returns
    rt.predict(X, output="margin")   # modelport-written PMML: the raw scores, bit for bit

Evaluation is vectorised over rows (every row × tree pair advances one tree level per numpy
step; see :mod:`._pmml_trees`), follows ``x-mathContext`` (float32 arithmetic where the file
says ``"float"``), and covers what modelport's PMML target writes plus the tree-ensemble and
linear-model subset sklearn2pmml writes (:mod:`._pmml_models`).  Files are read through
defusedxml after size, token-length and depth checks (:mod:`._pmml_load`).

Tree batches run on the compiled kernel of :mod:`._tree_kernel` when a C compiler is present
(``kernel="auto"``, the default; ``"c"`` requires it; ``"numpy"`` never uses it): the same
results bit for bit, a batch the kernel cannot express stays on numpy with the reason logged
(docs/pmml.md, "Compiled kernel").

The signature comes from modelport's Header Extensions through
:func:`~modelport.core.contract.signature_from_metadata`; for a foreign PMML file the same
function is fed metadata derived from its DataDictionary and MiningSchema.  Imports only
``modelport.core``, ``modelport.runtimes`` and numpy (defusedxml lazily, extra ``pmml``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from modelport.core.contract import METADATA_PREFIX, signature_from_metadata
from modelport.core.errors import InputDataError, ModelFormatError
from modelport.runtimes._coerce import coerce_input
from modelport.runtimes._pmml_load import parse_pmml
from modelport.runtimes._pmml_eval import evaluate_document
from modelport.runtimes._pmml_models import compile_document
from modelport.runtimes._tree_kernel import NO_KERNEL, choose_kernel
from modelport.runtimes._tree_kernel_lower import lower_pmml_batch
from modelport.runtimes.base import RUNTIMES, RuntimeSpec, select_output

__all__ = ["PmmlRuntime", "load_pmml", "sniff_pmml"]

_P = METADATA_PREFIX
_F32 = np.float32


class PmmlRuntime:
    """A PMML file compiled once at load time and evaluated with numpy, its trees walked by
    the compiled kernel (:mod:`._tree_kernel`) when ``kernel`` allows it and a C compiler is
    present.  ``kernel`` reports what runs ("c" or "numpy"), ``kernel_reasons`` why any tree
    batch stays on numpy."""

    def __init__(self, path: str | Path, *, kernel: str = "auto", cc: str | None = None) -> None:
        self.path = Path(path)
        root = parse_pmml(self.path)
        self.document = compile_document(root, self.path.name)
        doc = self.document
        self.kernel, self.kernel_reasons = self._attach_kernels(kernel, cc)
        wide = any(doc.fields[f] != "float" for f in doc.active)
        self._dtype = np.dtype(np.float64 if wide else np.float32)
        meta = doc.meta if _P + "features" in doc.meta else self._foreign_metadata()
        self._modelport = _P + "pmml_margin_fields" in meta
        outputs = None if self._modelport else (("prediction", "probabilities", "label") if self._classifier() else ("prediction",))
        self.signature = signature_from_metadata(meta, where=self.path.name, input_type=self._dtype.name, outputs=outputs)
        names = [f.name for f in self.signature.features]
        self._columns = None
        if self.signature.n_features != len(doc.active) and self._modelport and len(set(names)) == len(names) \
                and set(doc.active) <= set(names):
            # a converter that drops unused inputs (JPMML): the signature's columns, the document's fields by name
            self._columns = np.array([names.index(a) for a in doc.active], dtype=np.int64)
        elif self.signature.n_features != len(doc.active):
            raise ModelFormatError(f"{self.path.name}: {self.signature.n_features} features in metadata, "
                                 f"{len(doc.active)} active fields in the MiningSchema")
        get = lambda k: json.loads(meta.get(_P + k, "[]"))  # noqa: E731
        self._margin_fields, self._pred_fields, self._prob_fields = get("pmml_margin_fields"), get("pmml_prediction_fields"), \
            get("pmml_probability_fields")
        self._linear64 = meta.get(_P + "pmml_linear64") == "1"

    def _attach_kernels(self, kernel: str, cc: str | None) -> tuple[str, list[str]]:
        """Lower every tree batch the kernel can express; the others keep the numpy walk (logged)."""
        lib = choose_kernel(kernel, self.path.name, cc=cc)
        if lib is None:
            return "numpy", ["kernel='numpy'" if kernel == "numpy" else NO_KERNEL]
        used, reasons = 0, []
        stack = [self.document.model]
        while stack:
            m = stack.pop()
            for part in m.parts:
                if part[0] == "model":
                    stack.append(part[1])
                    continue
                k, why = lower_pmml_batch(part[1], lib, math=m.math, method=m.method, weights=m.weights)
                part[1].kernel = k
                if k is None:
                    reasons.append(f"{m.where}: {why}")
                    logging.getLogger("modelport.runtimes").info("%s: numpy tree walk for %s (%s)", self.path.name, m.where, why)
                used += k is not None
        return ("c" if used else "numpy"), reasons

    def _classifier(self) -> bool:
        return self.document.model.function == "classification"

    def _foreign_metadata(self) -> dict[str, str]:
        """Metadata in the contract's form for a PMML file modelport did not write."""
        doc = self.document
        feats = [{"name": f, "type": "float", "categories": None} for f in doc.active]
        k = len(doc.target_categories) or len(doc.model.categories)
        task = ("binary" if k == 2 else "multiclass") if self._classifier() else "regression"
        post = {"binary": "sigmoid", "multiclass": "softmax"}.get(task, "identity")
        return {_P + "features": json.dumps(feats), _P + "task": task, _P + "post_transform": post,
                _P + "n_outputs": str(1 if task != "multiclass" else k), _P + "n_classes": str(k if task != "regression" else 0),
                _P + "backend": "foreign"}

    def predict(self, X: Any, *, output: str = "prediction") -> np.ndarray:
        """Predict for ``X``; see :mod:`modelport.runtimes.base` for shapes and dtypes."""
        sig = self.signature
        if output not in sig.outputs:
            select_output(sig, output, margin=None)  # raises the precise error
        data = coerce_input(X, sig.features, dtype=self._dtype).astype(np.float64)
        if self._columns is not None:
            data = data[:, self._columns]
        res, env = evaluate_document(self.document, data)
        if not self._modelport:
            return self._foreign_output(output, res)
        margin = np.stack([env[f].astype(_F32) for f in self._margin_fields], axis=1)
        if output == "margin":
            return select_output(sig, output, margin=margin)
        if self._linear64:
            return self._linear64_output(output, env, margin)
        if sig.task == "binary":
            p = (env[self._prob_fields[1]] if self._prob_fields else env[self._pred_fields[0]]).astype(_F32)
            probs = np.stack([_F32(1) - p, p], axis=1)
            return select_output(sig, output, margin=margin, probabilities=probs, label=(p > _F32(0.5)).astype(np.int64))
        if sig.task == "multiclass":
            probs = np.stack([env[f].astype(_F32) for f in self._prob_fields], axis=1)
            src = margin if sig.post_transform == "softmax_label" else probs
            label = np.argmax(np.nan_to_num(src, nan=-np.inf), axis=1)
            return select_output(sig, output, margin=margin, probabilities=probs, label=label)
        variable = np.stack([env[f].astype(_F32) for f in self._pred_fields], axis=1)
        return select_output(sig, output, margin=margin, variable=variable)

    def _linear64_output(self, output: str, env: dict[str, np.ndarray], margin: np.ndarray) -> np.ndarray:
        """A float64 linear model (modelport.core.ir._links64): every probability as the file
        computes it in double, rounded once; labels from the unrounded double margins
        (``d > 0``; the first argmax of ``d``), as scikit-learn's ``predict``."""
        sig = self.signature
        d = np.stack([env[f] for f in self._margin_fields], axis=1)
        if sig.task == "binary":
            label = (d[:, 0] > 0).astype(np.int64)
            if self._prob_fields:
                probs = np.stack([env[f].astype(_F32) for f in self._prob_fields], axis=1)
            else:  # hinge: the prediction is the label (scikit-learn's predict), as the reference
                pred = label.astype(_F32)
                probs = np.stack([_F32(1) - pred, pred], axis=1)
            return select_output(sig, output, margin=margin, probabilities=probs, label=label)
        if sig.task == "multiclass":
            probs = np.stack([env[f].astype(_F32) for f in self._prob_fields], axis=1)
            label = np.argmax(np.nan_to_num(d, nan=-np.inf), axis=1)
            return select_output(sig, output, margin=margin, probabilities=probs, label=label)
        variable = np.stack([env[f].astype(_F32) for f in self._pred_fields], axis=1)
        return select_output(sig, output, margin=margin, variable=variable)

    def _foreign_output(self, output: str, res: dict) -> np.ndarray:
        sig = self.signature
        if "value" in res:
            return select_output(sig, output, margin=None, variable=res["value"].astype(_F32)[:, None])
        doc = self.document
        cats = list(res["cats"])
        order = [cats.index(c) for c in doc.target_categories if c in cats] or list(range(len(cats)))
        probs = res["probs"][:, order].astype(_F32)
        label = np.argmax(np.nan_to_num(probs, nan=-np.inf), axis=1)  # first maximum, in class order
        return select_output(sig, output, margin=None, probabilities=probs, label=label)


def load_pmml(path: str | Path, **options: Any) -> PmmlRuntime:
    """Load a PMML file; options: ``kernel`` ("auto": the compiled tree kernel when a C
    compiler is present, else numpy, logged; "c": the kernel, a missing compiler is an error;
    "numpy"), ``cc`` (the compiler)."""
    unknown = set(options) - {"kernel", "cc"}
    if unknown:
        raise InputDataError(f"the pmml runtime takes kernel= and cc=, not {', '.join(sorted(unknown))}")
    return PmmlRuntime(path, **options)


def sniff_pmml(head: bytes, name: str = "") -> bool:
    """True if ``head`` looks like a PMML document (a ``<PMML`` root within the first bytes)."""
    text = head[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"<"):
        return False
    return b"<PMML" in text and (b"dmg.org/PMML-4" in text or b'version="4.' in text)


RUNTIMES.register(
    "pmml",
    RuntimeSpec(name="pmml",
                description="PMML 4.x evaluator (trees, regression, x-mathContext float32): numpy, "
                            "trees on a compiled C kernel when a compiler is present",
                sniff=sniff_pmml, load=load_pmml, extra="pmml"),
)
