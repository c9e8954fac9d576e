"""The ONNX runtime: onnxruntime behind the :class:`~modelport.runtimes.base.Runtime` interface.

onnxruntime is imported only when an artifact is loaded (``pip install 'modelport[onnx]'``).

Session options (chosen for single-row latency and exact float32 accumulation):

* ``graph_optimization_level = ORT_ENABLE_ALL``: constant folding and node fusions, done
  once at load time;
* ``intra_op_num_threads = 1`` (default ``threads=1``): onnxruntime's tree kernel then sums
  the trees of every row in list order (``tree_ensemble_common.h``, ``ComputeAgg`` sections
  A/C), which is XGBoost's order, so margins are bit exact.  With more threads it splits
  the trees among threads and adds partial sums (sections B2/D/D2): faster for large
  batches, but the margin may differ by a few ULP (``multithread_margin_bound`` in the ONNX
  target).  One thread also avoids thread-pool wake-up cost on single rows;
* ``inter_op_num_threads = 1`` and ``ORT_SEQUENTIAL`` execution: the graph is a chain, there
  is nothing to run in parallel.

The signature comes from the model's ``metadata_props`` (``modelport.*`` keys) when present;
foreign ONNX files (e.g. onnxmltools output without modelport metadata) get a signature
inferred from their inputs and outputs, matched by position and element type.
"""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from modelport.core.errors import InputDataError, ModelFormatError, require
from modelport.runtimes._coerce import coerce_chunks
from modelport.runtimes.base import (
    OUTPUTS,
    RUNTIMES,
    FeatureSpec,
    RuntimeSpec,
    Signature,
    describe_prediction,
    select_output,
)

__all__ = ["OnnxRuntime", "sniff_onnx", "load_onnx"]

_PREFIX = "modelport."
_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}


def sniff_onnx(head: bytes, name: str = "") -> bool:
    """True if ``head`` starts like a serialized ``onnx.ModelProto``.

    Walks the first top-level protobuf fields: ModelProto starts with ``ir_version``
    (field 1, varint, a small number), followed by fields numbered 1-8, 14, 20 or 25 with the
    wire types ONNX uses (``onnx/onnx.proto``).  Needs no onnx import.
    """
    pos, seen = 0, 0
    allowed = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2}
    while pos < len(head) and seen < 6:
        key, pos = _varint(head, pos)
        if key is None:
            break
        field_no, wire = key >> 3, key & 7
        if allowed.get(field_no) != wire:
            return False
        if seen == 0 and field_no != 1:
            return False
        value, pos = _varint(head, pos)
        if value is None:
            break
        if seen == 0 and not 1 <= value <= 64:
            return False
        if wire == 2:
            pos += value
        seen += 1
    return seen >= 2 or (seen >= 1 and pos >= len(head))


def _varint(buf: bytes, pos: int) -> tuple[int | None, int]:
    result, shift = 0, 0
    while pos < len(buf) and shift < 64:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
    return None, pos


class OnnxRuntime:
    """An ONNX artifact loaded into an onnxruntime ``InferenceSession``."""

    def __init__(self, path: str | Path, *, threads: int = 1, optimize: bool = True) -> None:
        ort = require("onnxruntime", extra="onnx", purpose="Running ONNX artifacts")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        )
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Errors only: onnxruntime's warnings (e.g. the coloured VerifyOutputSizes) must not
        # reach the user's stderr; failures still surface as exceptions.
        opts.log_severity_level = 3
        self.path = Path(path)
        self._run_options = ort.RunOptions()
        self._run_options.log_severity_level = 3
        try:
            self._session = _new_session(ort, str(self.path), opts)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelFormatError(f"{self.path.name}: onnxruntime cannot load it: {' '.join(str(exc).split())[:300]}") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelFormatError(f"{self.path.name}: expected one input tensor, found {len(inputs)}")
        self._input = inputs[0]
        self._input_dtype = _ORT_TYPES.get(self._input.type)
        if self._input_dtype is None:
            raise ModelFormatError(f"{self.path.name}: input type {self._input.type} is not float/double")
        meta = dict(self._session.get_modelmeta().custom_metadata_map)
        self._roles = self._map_outputs(self._session.get_outputs())
        self.signature = self._signature(meta)
        # XGBoost refuses +-inf input rows ("Input data contains inf", src/data/data.cc) and
        # gblinear has no in-place predict that would take them: a linear model refuses them
        # too instead of returning inf/NaN (docs/hostile-input.md).  Trees route inf as
        # XGBoost's in-place predict does.
        self._allow_inf = not _is_linear(meta, self.path)

    # -- outputs -----------------------------------------------------------------------
    @staticmethod
    def _map_outputs(outputs) -> dict[str, str]:
        """Role ("label", "probabilities", "variable", "margin") → output name.

        Exact names win; otherwise (foreign converters) the first int64 output is the label
        and the first float output is probabilities (with a label) or the variable.
        """
        roles: dict[str, str] = {}
        names = [o.name for o in outputs]
        for role in ("label", "probabilities", "variable", "margin"):
            if role in names:
                roles[role] = role
        taken = set(roles.values())
        for o in outputs:
            if o.name in taken:
                continue
            if "int64" in o.type and "label" not in roles:
                roles["label"] = o.name
            elif ("float" in o.type or "double" in o.type or o.type.startswith("seq(map")) and not (
                "probabilities" in roles or "variable" in roles
            ):
                roles["_float"] = o.name
        if "_float" in roles:
            roles["probabilities" if "label" in roles else "variable"] = roles.pop("_float")
        return roles

    def _signature(self, meta: dict[str, str]) -> Signature:
        shape = self._input.shape
        n_features = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
        if _PREFIX + "features" in meta:
            feats = tuple(
                FeatureSpec(f["name"], f.get("type", "float"), tuple(f["categories"]) if f.get("categories") else None)
                for f in json.loads(meta[_PREFIX + "features"])
            )
        elif n_features is not None:
            feats = tuple(FeatureSpec(f"f{i}") for i in range(n_features))
        else:
            raise ModelFormatError(f"{self.path.name}: input has no fixed column count and no feature metadata")
        if n_features is not None and n_features != len(feats):
            raise ModelFormatError(f"{self.path.name}: {len(feats)} features in metadata, {n_features} in the input")
        classifier = "label" in self._roles
        task = meta.get(_PREFIX + "task") or ("binary" if classifier else "regression")
        n_classes = int(meta.get(_PREFIX + "n_classes", 0) or 0)
        if classifier and not n_classes:
            n_classes = self._probability_columns() or 2
            if n_classes > 2 and _PREFIX + "task" not in meta:
                task = "multiclass"
        n_outputs = int(meta.get(_PREFIX + "n_outputs", 0) or 0) or (
            1 if task == "binary" else n_classes if task == "multiclass" else 1
        )
        post = meta.get(_PREFIX + "post_transform") or _guess_post_transform(task, meta.get(_PREFIX + "objective", ""))
        available = ["prediction"]
        if "margin" in self._roles:
            available.append("margin")
        if classifier:
            available += ["probabilities", "label"]
        return Signature(
            input_name=self._input.name,
            input_type=np.dtype(self._input_dtype).name,
            features=feats,
            task=task,
            objective=meta.get(_PREFIX + "objective", ""),
            post_transform=post,
            n_outputs=n_outputs,
            n_classes=n_classes if classifier else 0,
            outputs=tuple(o for o in OUTPUTS if o in available),
            prediction=describe_prediction(task, post, n_outputs),
            metadata=meta,
        )

    def _probability_columns(self) -> int | None:
        name = self._roles.get("probabilities")
        for o in self._session.get_outputs():
            if o.name == name and len(o.shape) == 2 and isinstance(o.shape[1], int):
                return o.shape[1]
        return None

    # -- prediction --------------------------------------------------------------------
    def predict(self, X: Any, *, output: str = "prediction") -> np.ndarray:
        """Predict for ``X``; see :mod:`modelport.runtimes.base` for shapes and dtypes."""
        if output not in self.signature.outputs:
            select_output(self.signature, output, margin=None)  # raises the precise error
        wanted = {"margin": ["margin"], "label": ["label"], "probabilities": ["probabilities"]}.get(output)
        if wanted is None:  # prediction
            wanted = ["probabilities", "label"] if "label" in self._roles else ["variable"]
        names = [self._roles[r] for r in wanted]
        parts: dict[str, list[np.ndarray]] = {r: [] for r in wanted}
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy / onnxruntime warnings never reach stderr
            # Sparse input is densified and scored in row blocks (bounded memory); anything
            # else is one block.
            # Rows are rounded once, to the graph's own input type: float64 graphs (LightGBM,
            # float64 thresholds) see the caller's float64 values, never a float32 rounding.
            for data in coerce_chunks(X, self.signature.features, dtype=self._input_dtype, allow_inf=self._allow_inf):
                try:
                    results = self._session.run(names, {self._input.name: data}, self._run_options)
                except Exception as exc:
                    raise InputDataError(f"onnxruntime rejected the input: {' '.join(str(exc).split())[:300]}") from None
                for r, v in zip(wanted, results, strict=True):
                    parts[r].append(_dense(v))
        raw = {r: v[0] if len(v) == 1 else np.concatenate(v, axis=0) for r, v in parts.items()}
        return select_output(self.signature, output, **{"margin": None, **raw})


#: Stack of the thread that creates an onnxruntime session.  onnxruntime 1.32 builds a tree
#: ensemble recursively, ~780 bytes of stack per tree level (measured: a 10,800-deep tree
#: segfaults the 8 MiB main-thread stack, 5,500 a 4 MiB one); on 256 MiB it loads trees
#: ~300,000 deep.  The memory is only reserved: untouched pages cost nothing.
SESSION_THREAD_STACK_BYTES = 256 << 20
_STACK_LOCK = threading.Lock()


def _new_session(ort: Any, path: str, opts: Any) -> Any:
    """``InferenceSession`` created on a thread with a large stack (see
    :data:`SESSION_THREAD_STACK_BYTES`), so a deep tree is never a stack overflow here."""
    box: dict[str, Any] = {}

    def build() -> None:
        try:
            box["session"] = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
        except BaseException as exc:  # re-raised on the caller's thread
            box["error"] = exc

    with _STACK_LOCK:  # threading.stack_size is process-wide: set, start, restore
        try:
            previous = threading.stack_size(SESSION_THREAD_STACK_BYTES)
        except (ValueError, RuntimeError):  # platform without settable stacks
            previous = None
        try:
            worker = threading.Thread(target=build, name="modelport-onnx-load", daemon=True)
            worker.start()
        except RuntimeError:  # no room for the stack (e.g. a tight RLIMIT_AS): this thread
            worker = None
        finally:
            if previous is not None:
                threading.stack_size(previous)
    if worker is None:
        build()
    else:
        worker.join()
    if "error" in box:
        raise box["error"]
    return box["session"]


def _is_linear(meta: dict[str, str], path: Path) -> bool:
    """True for a modelport artifact of a linear (gblinear) booster: the ``booster`` metadata
    key when the artifact records it, else (artifacts without the key) a modelport graph with
    no tree-ensemble operator.  Foreign graphs: False."""
    kind = meta.get(_PREFIX + "booster")
    if kind is not None:
        return kind == "linear"
    if _PREFIX + "features" not in meta:
        return False
    try:
        return b"TreeEnsemble" not in path.read_bytes()  # op types are stored verbatim
    except OSError:
        return False


def _guess_post_transform(task: str, objective: str) -> str:
    """For graphs without modelport's keys: the post-transform their outputs already carry.

    A foreign classifier's ``probabilities`` are final; only multi:softmax changes what
    ``predict`` means (XGBoost returns the class index, not the probabilities).
    """
    if task == "multiclass":
        return "softmax_label" if objective == "multi:softmax" else "softmax"
    return "sigmoid" if task == "binary" else "identity"


def _dense(value: Any) -> np.ndarray:
    """ZipMap outputs (a list of {class: prob} dicts) → a [N, k] array; tensors unchanged."""
    if isinstance(value, list) and (not value or isinstance(value[0], dict)):
        if not value:
            return np.empty((0, 0), dtype=np.float32)
        keys = sorted(value[0])
        return np.array([[row[k] for k in keys] for row in value], dtype=np.float32)
    return np.asarray(value)


def load_onnx(path: str | Path, **options: Any) -> OnnxRuntime:
    """Load an ONNX artifact (``threads=``, ``optimize=`` are the session options)."""
    return OnnxRuntime(path, **options)


RUNTIMES.register(
    "onnx",
    RuntimeSpec(
        name="onnx",
        description="onnxruntime InferenceSession (CPU, single-threaded by default for exact sums)",
        sniff=sniff_onnx,
        load=load_onnx,
    ),
)
