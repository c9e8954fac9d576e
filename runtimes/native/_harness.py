"""Shared machinery of the process-based native runtimes (Java, JavaScript, Go, Rust).

A generated program is built ONCE into a cache directory outside the bundle (bundles hold
exactly their listed files), keyed by the SHA-256 of the bundle's files, the harness source
and the toolchain's identity; then every ``predict`` call runs ONE process over the whole
batch: rows go in as little-endian float32 ``[n, n_features]`` in a file (float64 for models that
compare in float64, the manifest's ``input_type``), and the harness
writes per row the float32 margins ``[n_outputs]`` followed by the float32 predictions
``[n_pred]`` (``n_pred`` is 1 for multi:softmax, else ``n_outputs``).

Cache: ``$XDG_CACHE_HOME/modelport/<language>/<hash>`` (``~/.cache`` by default, as the C
runtime); each build happens in a private temporary directory that is renamed
into place when complete, so concurrent loads never see half a build.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from modelport.core.contract import METADATA_PREFIX, read_manifest, signature_from_metadata
from modelport.core.errors import ModelFormatError, ModelportError
from modelport.core.toolchains import Toolchain
from modelport.runtimes._coerce import coerce_input
from modelport.runtimes.base import select_output
from modelport.runtimes.native import classifier_result

__all__ = ["ProcessRuntime", "cache_root", "run_tool", "tool_identity"]

#: Seconds a compiler may take (a 2,000-tree model compiles in well under this).
COMPILE_TIMEOUT = 1800.0
#: Seconds one scoring process may take.
RUN_TIMEOUT = 600.0
_DONE = ".complete"


def cache_root() -> Path:
    """Where builds are cached (see the module docstring)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "modelport"


def tool_identity(path: str) -> str:
    """Cheap identity of an executable (resolved path, size, mtime): a toolchain upgrade
    changes the cache key without running the tool."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
        return f"{real}:{st.st_size}:{int(st.st_mtime)}"
    except OSError:
        return real


def _first_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        low = ln.lower()
        if "error" in low or "exception" in low or "panic" in low:
            return ln[:300]
    return lines[0][:300] if lines else "(no output)"


def run_tool(cmd: list[str], *, what: str, cwd: Path | None = None, env: dict[str, str] | None = None,
             timeout: float = COMPILE_TIMEOUT) -> subprocess.CompletedProcess:
    """Run a compiler (or other tool) and return its result, or raise a one-line
    ModelportError naming ``what`` failed with the first error line it printed."""
    try:
        res = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)  # noqa: S603 - fixed argv, no shell
    except subprocess.TimeoutExpired:
        raise ModelportError(f"{what} timed out after {timeout:.0f} s") from None
    except OSError as exc:
        raise ModelportError(f"{what} could not start {cmd[0]!r}: {exc.strerror or exc}") from None
    if res.returncode != 0:
        out = res.stderr.decode("utf-8", "replace") + "\n" + res.stdout.decode("utf-8", "replace")
        raise ModelportError(f"{what} failed (exit {res.returncode}): {_first_error_line(out)}")
    return res


class ProcessRuntime:
    """A bundle of generated source code, built once and scored one process per batch.

    Subclasses set ``name``, ``toolchain`` and implement :meth:`_build` (write the harness
    next to a copy of the generated source in ``workdir`` and compile) and :meth:`_command`.
    """

    name: str = ""
    toolchain: Toolchain
    #: Bumped whenever a subclass's harness or build changes (part of the cache key).
    harness_version: str = "1"

    def __init__(self, path: str | Path, *, compile_timeout: float = COMPILE_TIMEOUT,
                 run_timeout: float = RUN_TIMEOUT) -> None:
        self.path = Path(path)
        self.compile_timeout = float(compile_timeout)
        self.run_timeout = float(run_timeout)
        manifest = read_manifest(self.path)
        if manifest.runtime != self.name:
            raise ModelFormatError(f"{self.path.name}: a {manifest.runtime!r} bundle, not a {self.name!r} one")
        if not manifest.entry:
            raise ModelFormatError(f"{self.path.name}: the manifest names no entry file")
        self.manifest = manifest
        dtype = manifest.metadata.get(METADATA_PREFIX + "input_type", "float32")
        if dtype not in ("float32", "float64"):
            raise ModelFormatError(f"{self.path.name}: unknown input type {dtype!r}")
        self.dtype = np.dtype(dtype)
        self.signature = signature_from_metadata(manifest.metadata, where=self.path.name, input_type=dtype)
        self._n_out = self.signature.n_outputs
        self._n_pred = 1 if self.signature.post_transform == "softmax_label" else self._n_out
        self._tools = self.toolchain.require(f"running a {self.name} artifact")
        self.workdir = self._ensure_built()
        self._last: tuple[bytes, np.ndarray, np.ndarray] | None = None

    # -- building ----------------------------------------------------------------------
    def _key(self) -> str:
        h = hashlib.sha256()
        h.update(f"{self.name}\0{self.harness_version}\0".encode())
        for rel in sorted(self.manifest.files):
            h.update(f"{rel}\0{self.manifest.files[rel]}\0".encode())
        for tool in self._tools:
            h.update(tool_identity(tool).encode() + b"\0")
        return h.hexdigest()[:32]

    def _ensure_built(self) -> Path:
        final = cache_root() / self.name / self._key()
        if (final / _DONE).is_file():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
        try:
            for rel in self.manifest.files:
                dst = tmp / "bundle" / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.path / rel, dst)
            self._build(tmp)
            (tmp / _DONE).write_text("ok\n")
            try:
                os.rename(tmp, final)
            except OSError:  # another process finished the same build first
                if not (final / _DONE).is_file():
                    shutil.rmtree(final, ignore_errors=True)
                    os.rename(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return final

    def _build(self, workdir: Path) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _command(self, workdir: Path, args: list[str]) -> list[str]:  # pragma: no cover - abstract
        """The command running the built harness with ``args`` (input file, output file, rows)."""
        raise NotImplementedError

    def _env(self) -> dict[str, str] | None:
        return None

    def program_feature_names(self) -> list[str]:
        """The feature names compiled into the generated program, as the program itself
        reports them (UTF-8, hex per line): proof that names survive the language's string
        literals exactly."""
        try:
            res = subprocess.run(self._command(self.workdir, ["--names"]), stdin=subprocess.DEVNULL,  # noqa: S603 - fixed argv
                                 capture_output=True, timeout=self.run_timeout, env=self._env())
        except subprocess.TimeoutExpired:
            raise ModelportError(f"{self.path.name}: the {self.name} program timed out listing its features") from None
        if res.returncode != 0:
            raise ModelportError(f"{self.path.name}: the {self.name} program failed: "
                                 f"{_first_error_line(res.stderr.decode('utf-8', 'replace'))}")
        return [bytes.fromhex(line).decode("utf-8") for line in res.stdout.decode("ascii").split("\n")[:-1]]

    # -- scoring -----------------------------------------------------------------------
    def _score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(margins [n, n_outputs], predictions [n, n_pred]) from one process run."""
        data = np.ascontiguousarray(X, dtype=self.dtype.newbyteorder("<"))
        raw = data.tobytes()
        if self._last is not None and self._last[0] == raw:
            return self._last[1], self._last[2]
        n = data.shape[0]
        width = self._n_out + self._n_pred
        if n == 0:
            out = np.zeros((0, width), dtype=np.float32)
        else:
            with tempfile.TemporaryDirectory(prefix="modelport-") as td:
                in_path, out_path = Path(td) / "rows.f32", Path(td) / "out.f32"
                in_path.write_bytes(raw)
                cmd = self._command(self.workdir, [str(in_path), str(out_path), str(n)])
                try:
                    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=self.run_timeout,  # noqa: S603 - fixed argv
                                         env=self._env())
                except subprocess.TimeoutExpired:
                    raise ModelportError(f"{self.path.name}: the {self.name} program timed out after "
                                         f"{self.run_timeout:.0f} s on {n} rows") from None
                if res.returncode != 0:
                    msg = _first_error_line(res.stderr.decode("utf-8", "replace"))
                    raise ModelportError(f"{self.path.name}: the {self.name} program failed (exit {res.returncode}): {msg}")
                got = out_path.read_bytes() if out_path.is_file() else b""
            if len(got) != n * width * 4:
                raise ModelportError(f"{self.path.name}: the {self.name} program wrote {len(got)} bytes for {n} rows, "
                                     f"expected {n * width * 4}")
            out = np.frombuffer(got, dtype="<f4").astype(np.float32).reshape(n, width)
        margin, pred = out[:, :self._n_out].copy(), out[:, self._n_out:].copy()
        self._last = (raw, margin, pred)
        return margin, pred

    def predict(self, X: Any, *, output: str = "prediction") -> np.ndarray:
        """Predict for ``X``; see :mod:`modelport.runtimes.base` for shapes and dtypes."""
        sig = self.signature
        if output not in sig.outputs:
            select_output(sig, output, margin=None)  # raises the precise error
        data = coerce_input(X, sig.features, dtype=self.dtype)
        margin, pred = self._score(data)
        if output == "margin":
            return select_output(sig, output, margin=margin)
        return classifier_result(sig, output, margin, pred)

