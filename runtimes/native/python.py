"""The ``python`` runtime: a generated ``model.py`` (the ``python`` target) executed in-process.

    rt = modelport.runtimes.load("model.py")
    rt.predict(X)                     # rows run one by one through the generated functions
    rt.module.predict_margin(row)     # the generated module itself

Loading EXECUTES the file.  Before that the runtime checks the SHA-256 on its first line
against the rest of the file and compiles exactly the bytes it checked (never re-reading the
file), so a file changed after writing is refused; a file written by someone else with a
matching checksum is still code you run: load only artifacts you trust.  No numpy is needed by
the module itself; this wrapper uses numpy for the array in and out.
"""

from __future__ import annotations

import hashlib
import types
from pathlib import Path
from typing import Any

import numpy as np

from modelport.core.contract import METADATA_PREFIX, signature_from_metadata
from modelport.core.errors import InputDataError, ModelFormatError
from modelport.runtimes._coerce import coerce_input
from modelport.runtimes.base import RUNTIMES, RuntimeSpec, select_output
from modelport.runtimes.native import classifier_result

__all__ = ["PythonRuntime", "load_python", "MAGIC"]

#: First bytes of a generated module; the hex SHA-256 of everything after the first line follows.
MAGIC = b"# modelport-python-model 1 sha256="
#: Largest module accepted (a generous bound; the arrays shape keeps 10,000 trees far below it).
MAX_BYTES = 1 << 30


def _verified_body(path: Path) -> bytes:
    if path.stat().st_size > MAX_BYTES:
        raise ModelFormatError(f"{path.name}: larger than {MAX_BYTES} bytes")
    data = path.read_bytes()
    head, sep, body = data.partition(b"\n")
    if not head.startswith(MAGIC) or not sep:
        raise ModelFormatError(f"{path.name}: not a modelport-generated Python model")
    digest = head[len(MAGIC):].strip().decode("ascii", "replace")
    if hashlib.sha256(body).hexdigest() != digest:
        raise ModelFormatError(f"{path.name}: does not match its checksum (modified after writing?)")
    return body


class PythonRuntime:
    """A generated Python model module (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        body = _verified_body(self.path)
        self.module = types.ModuleType("modelport_generated_model")
        self.module.__file__ = str(self.path)
        try:
            code = compile(body, str(self.path), "exec")
            exec(code, self.module.__dict__)  # noqa: S102 - checksum-verified code modelport generated
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            raise ModelFormatError(f"{self.path.name}: the generated module does not load ({type(exc).__name__})") from None
        meta = getattr(self.module, "METADATA", None)
        if not isinstance(meta, dict):
            raise ModelFormatError(f"{self.path.name}: the module has no METADATA")
        dtype = meta.get(METADATA_PREFIX + "input_type", "float32")
        if dtype not in ("float32", "float64"):
            raise ModelFormatError(f"{self.path.name}: unknown input type {dtype!r}")
        self.dtype = np.dtype(dtype)
        self.signature = signature_from_metadata(meta, where=self.path.name, input_type=dtype)

    def predict(self, X: Any, *, output: str = "prediction") -> np.ndarray:
        """Predict for ``X``; see :mod:`modelport.runtimes.base` for shapes and dtypes."""
        sig = self.signature
        if output not in sig.outputs:
            select_output(sig, output, margin=None)  # raises the precise error
        rows = coerce_input(X, sig.features, dtype=self.dtype).tolist()
        mod = self.module
        margin = np.array([mod.predict_margin(r) for r in rows], dtype=np.float32).reshape(len(rows), sig.n_outputs)
        if output == "margin":
            return select_output(sig, output, margin=margin)
        if getattr(mod, "PREDICT_FROM_ROW", False):  # float64 linear models: the link on the float64 margin
            pred = np.array([mod.predict(r) for r in rows], dtype=np.float32).reshape(len(rows), -1)
        else:
            pred = np.array([mod._transform(m) for m in margin.tolist()], dtype=np.float32).reshape(len(rows), -1)
        return classifier_result(sig, output, margin, pred)


def load_python(path: str | Path, **options: Any) -> PythonRuntime:
    """Load a generated Python model (no options)."""
    if options:
        raise InputDataError(f"the python runtime takes no options, got {', '.join(sorted(options))}")
    return PythonRuntime(path)


def _sniff(head: bytes, name: str = "") -> bool:
    return head.startswith(MAGIC)


RUNTIMES.register(
    "python",
    RuntimeSpec(name="python", description="a generated pure-Python module, executed after its checksum is verified",
                sniff=_sniff, load=load_python),
)
