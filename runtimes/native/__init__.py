"""Runtimes for generated native code (``c``: compiled and called with ctypes; ``python``:
the generated module imported).  numpy and the standard library only."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from modelport.core.contract import Signature
from modelport.core.ir.evaluate import classifier_outputs
from modelport.core.ir.model import PostTransform, Task
from modelport.runtimes.base import select_output

__all__ = ["classifier_result"]


def classifier_result(sig: Signature, output: str, margin: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Shape a native runtime's margins ``[n, n_outputs]`` and predictions (the generated
    code's link, ``[n, n_predictions]``) into ``predict(X, output=...)``'s answer; classifier
    probabilities and labels follow :func:`modelport.core.ir.evaluate.classifier_outputs`."""
    if sig.task not in ("binary", "multiclass"):
        return select_output(sig, output, margin=margin, variable=pred)
    model = SimpleNamespace(task=Task(sig.task), post_transform=PostTransform(sig.post_transform))
    p = pred.reshape(pred.shape[0]) if sig.task == "binary" else pred
    outs = classifier_outputs(model, margin, p if sig.task == "binary" else None)
    if sig.task == "multiclass" and sig.post_transform == "softmax":
        outs["probabilities"] = pred  # the generated softmax itself (equal to the evaluator's)
    if sig.post_transform == "softmax_label":
        outs["label"] = pred.reshape(-1).astype(np.int64)
    return select_output(sig, output, margin=margin, **outs)
