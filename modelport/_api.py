"""The public API behind ``modelport.load``, ``modelport.convert`` and ``modelport.verify``.

Everything heavy is imported inside the functions, so ``import modelport`` stays light.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelport.errors import ModelFormatError, ModelportError, VerificationError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from modelport._verify import ParityReport, VerifyOptions
    from modelport.converters.frontends import LoadOptions
    from modelport.converters.ir.model import Model
    from modelport.converters.targets import Target

__all__ = ["load", "convert", "verify", "ConvertResult", "default_output", "read_data"]

_MULTI_SUFFIXES = (".ir.json", ".tar.gz", ".pfa.json")


@dataclass(frozen=True)
class ConvertResult:
    """What :func:`convert` wrote."""

    path: Path
    """The artifact (final name: only written once verified, unless verification was off)."""
    target: str
    """Registry name of the format written."""
    backend: str
    """The converter that wrote it."""
    verified: bool
    """True when the artifact was run and matched the reference evaluator."""
    report: ParityReport | None
    """The parity report (None when verification was skipped or the target has no runtime)."""
    seconds: float
    """Wall time of the whole conversion."""

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {"path": str(self.path), "target": self.target, "backend": self.backend, "verified": self.verified,
                "report": self.report.to_dict() if self.report else None, "seconds": round(self.seconds, 4)}


def _is_ir_file(path: Path) -> bool:
    if path.name.endswith(".ir.json"):
        return True
    from modelport.converters.ir.serialize import looks_like_ir

    try:
        with open(path, "rb") as fh:
            return looks_like_ir(fh.read(4096))
    except OSError:
        return False


def load(path: str | os.PathLike[str], *, trust_pickle: bool = False, options: LoadOptions | None = None) -> Model:
    """Read a model file (any registered source format, or modelport's ``*.ir.json``) into
    the validated IR.  ``trust_pickle`` allows unpickling (only for files you made);
    ``options`` (:class:`~modelport.converters.frontends.LoadOptions`) also selects
    truncation to ``best_iteration`` / the first rounds and a missing-value sentinel."""
    import dataclasses

    from modelport.converters.frontends import LoadOptions, load_model, with_missing
    from modelport.converters.ir.validate import validate

    options = options or LoadOptions()
    if trust_pickle:
        options = dataclasses.replace(options, trust_pickle=True)

    path = Path(path)
    if not path.is_file():
        why = "no such file" if not path.exists() else "not a regular file"
        raise ModelFormatError(f"cannot read model file {str(path)!r}: {why}")
    if _is_ir_file(path):
        from modelport.converters.ir.serialize import load as load_ir

        if options.use_best_iteration or options.iteration_end is not None:
            raise ModelportError(f"{path.name}: an IR file is already truncated as written; "
                                 "truncate when converting from the source model")
        model = load_ir(path)
        return validate(with_missing(model, options.missing)) if options.missing is not None else model
    try:
        model = load_model(path, options=options)
    except OSError as exc:
        raise ModelFormatError(f"cannot read model file {str(path)!r}: {exc.strerror or exc}") from None
    return validate(model)


def read_data(data: str | os.PathLike[str] | np.ndarray | None, model: Model) -> np.ndarray | None:
    """Rows given as a CSV path or an array, as float32 ``[n, n_features]`` (None passes through)."""
    if data is None:
        return None
    import numpy as np

    from modelport.errors import InputDataError

    if isinstance(data, (str, os.PathLike)):
        from modelport._csv import read_rows

        return read_rows(data, feature_names=tuple(f.name for f in model.features))
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != model.n_features:
        raise InputDataError(f"data must have shape [n, {model.n_features}], got {list(arr.shape)}")
    return arr


def _target(name: str) -> Target:
    from modelport.converters.targets import all_targets

    targets = all_targets()
    if name not in targets:
        raise ModelportError(f"unknown format {name!r} (known: {', '.join(targets.names())})")
    return targets.get(name)


def default_output(model_path: Path, target: Target, out: str | os.PathLike[str] | None) -> Path:
    """Where the artifact goes: ``out`` (a file, or a directory to put it in), else beside
    the model with the target's extension (``model.json`` → ``model.onnx``)."""
    name = model_path.name
    stem = next((name[: -len(s)] for s in _MULTI_SUFFIXES if name.endswith(s)), None) or model_path.stem
    if out is None:
        return model_path.with_name(stem + target.extension)
    out = Path(out)
    return out / (stem + target.extension) if out.is_dir() else out


def convert(model_path: str | os.PathLike[str], *, to: str, out: str | os.PathLike[str] | None = None,
            backend: str = "modelport", data: str | os.PathLike[str] | np.ndarray | None = None,
            verify: bool = True, trust_pickle: bool = False, options: VerifyOptions | None = None,
            load_options: LoadOptions | None = None, progress=None) -> ConvertResult:
    """Convert a model file to the format ``to`` and (by default) prove the artifact matches.

    Steps: load through the frontend → validate the IR → write to a temporary name in the
    destination directory → if ``verify`` and the target has a runtime (or is the IR itself:
    formats with neither are written unverified, ``ConvertResult.verified`` says so),
    run the probe set (+ ``data`` rows) through the artifact and the reference evaluator →
    on a pass, atomically rename to the final name.  On a parity failure the artifact is kept
    only as ``<name>.unverified`` and :class:`VerificationError` (with ``.report``) is raised.
    On any other error no output file is left behind.  ``load_options`` selects truncation
    and a missing sentinel (see :func:`load`).
    """
    say = progress or (lambda msg: None)
    start = time.perf_counter()
    model_path = Path(model_path)
    target = _target(to)
    if backend not in target.backends:
        raise ModelportError(f"format {to!r} has no backend {backend!r} (available: {', '.join(target.backends)})")
    say(f"loading {model_path}")
    model = load(model_path, trust_pickle=trust_pickle, options=load_options)
    rows = read_data(data, model)
    final = default_output(model_path, target, out)
    if final.resolve() == model_path.resolve():
        raise ModelportError(f"refusing to overwrite the input model {str(model_path)!r}: pass -o/--out")
    if not final.parent.is_dir():
        raise ModelportError(f"output directory {str(final.parent)!r} does not exist")
    from modelport.converters.targets import WriteOptions

    tmpdir = Path(tempfile.mkdtemp(prefix=".modelport-", dir=final.parent))
    try:
        staged = tmpdir / final.name
        say(f"writing {to} ({backend})")
        target.write(model, staged, WriteOptions(backend=backend, source_path=model_path))
        if not staged.exists():
            raise ModelportError(f"the {to} writer produced no file")
        report = None
        if verify and (target.runtime is not None or target.name == "ir"):
            from modelport._verify import VerifyOptions, verify_model

            say("verifying against the reference evaluator")
            report = verify_model(model, staged, rows=rows, options=options or VerifyOptions(), target=target)
            if not report.passed:
                unverified = final.with_name(final.name + ".unverified")
                _replace(staged, unverified)
                err = VerificationError(f"{final.name} differs from the reference: {report.summary()}; "
                                        f"kept as {unverified.name}")
                err.report = report  # type: ignore[attr-defined]
                raise err
        _replace(staged, final)
        return ConvertResult(path=final, target=to, backend=backend, verified=report is not None, report=report,
                             seconds=time.perf_counter() - start)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _replace(src: Path, dst: Path) -> None:
    """Atomic rename within one directory; never replaces a directory (loses nothing)."""
    if dst.is_dir():
        raise ModelportError(f"output path {str(dst)!r} is a directory; pass another -o/--out")
    os.replace(src, dst)


def verify(model_path: str | os.PathLike[str], artifact_path: str | os.PathLike[str], *,
           data: str | os.PathLike[str] | np.ndarray | None = None, trust_pickle: bool = False,
           options: VerifyOptions | None = None, load_options: LoadOptions | None = None) -> ParityReport:
    """Compare an existing artifact with the source model's reference predictions.

    Returns the :class:`~modelport._verify.ParityReport` (check ``.passed``); raises only
    when something cannot be read or run.
    """
    from modelport._verify import VerifyOptions, verify_model

    model = load(model_path, trust_pickle=trust_pickle, options=load_options)
    rows = read_data(data, model)
    artifact = Path(artifact_path)
    if not artifact.exists():
        raise ModelFormatError(f"cannot read artifact {str(artifact)!r}: no such file")
    return verify_model(model, artifact, rows=rows, options=options or VerifyOptions())
