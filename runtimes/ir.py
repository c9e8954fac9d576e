"""The IR runtime: modelport's ``*.ir.json`` run by the reference evaluator (numpy only).

    rt = modelport.runtimes.load("model.ir.json")
    rt.predict(X)            # exactly what the reference evaluator says the model means

The signature is built through the artifact contract (:func:`artifact_metadata` of the IR's
own model), so it reads exactly like every other runtime's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelport.core.contract import artifact_metadata, signature_from_metadata
from modelport.core.ir import evaluate, serialize
from modelport.core.ir.model import Task
from modelport.runtimes._coerce import coerce_input
from modelport.runtimes.base import RUNTIMES, RuntimeSpec, select_output

__all__ = ["IrRuntime", "load_ir"]


class IrRuntime:
    """An IR JSON artifact evaluated by :mod:`modelport.core.ir.evaluate`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.model = serialize.load(self.path)
        self.signature = signature_from_metadata(artifact_metadata(self.model), where=self.path.name,
                                                 input_type=self._input_dtype().name)

    def _input_dtype(self) -> np.dtype:
        return evaluate.input_dtype(self.model)

    def predict(self, X: Any, *, output: str = "prediction") -> np.ndarray:
        """Predict for ``X``; see :mod:`modelport.runtimes.base` for shapes and dtypes."""
        if output not in self.signature.outputs:
            select_output(self.signature, output, margin=None)  # raises the precise error
        data = coerce_input(X, self.signature.features, dtype=self._input_dtype())
        if output == "margin":
            return select_output(self.signature, output, margin=evaluate.predict_margin(self.model, data))
        outs = evaluate.outputs(self.model, data)
        if self.model.task not in (Task.BINARY, Task.MULTICLASS):
            return select_output(self.signature, output, margin=outs["margin"], variable=outs["prediction"])
        return select_output(self.signature, output, margin=outs["margin"], probabilities=outs["probabilities"],
                             label=outs["label"])


def load_ir(path: str | Path, **options: Any) -> IrRuntime:
    """Load an IR JSON artifact (no options)."""
    if options:
        from modelport.core.errors import InputDataError

        raise InputDataError(f"the ir runtime takes no options, got {', '.join(sorted(options))}")
    return IrRuntime(path)


def _sniff(head: bytes, name: str = "") -> bool:
    return serialize.looks_like_ir(head)


RUNTIMES.register(
    "ir",
    RuntimeSpec(name="ir", description="the reference evaluator over modelport's IR JSON (numpy only)",
                sniff=_sniff, load=load_ir),
)
