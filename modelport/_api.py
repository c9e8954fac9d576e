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

from modelport.core.errors import ModelFormatError, ModelportError, UnsupportedModelError, VerificationError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from modelport._verify import ParityReport, VerifyOptions
    from modelport.converters.frontends import LoadOptions
    from modelport.core.ir.model import Model
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
    from modelport.core.registry import HEAD_BYTES
    from modelport.core.ir.serialize import looks_like_ir

    try:
        with open(path, "rb") as fh:
            return looks_like_ir(fh.read(HEAD_BYTES))
    except OSError:
        return False


def load(path: str | os.PathLike[str], *, trust_pickle: bool = False, options: LoadOptions | None = None) -> Model:
    """Read a model file (any registered source format, or modelport's ``*.ir.json``) into
    the validated IR.  ``trust_pickle`` allows unpickling (only for files you made);
    ``options`` (:class:`~modelport.converters.frontends.LoadOptions`) also selects
    truncation to ``best_iteration`` / the first rounds and a missing-value sentinel."""
    import dataclasses

    from modelport.converters.frontends import LoadOptions, load_model, with_missing
    from modelport.core.ir.validate import validate

    options = options or LoadOptions()
    if trust_pickle:
        options = dataclasses.replace(options, trust_pickle=True)

    path = Path(path)
    if not path.is_file():
        why = "no such file" if not path.exists() else "not a regular file"
        raise ModelFormatError(f"cannot read model file {str(path)!r}: {why}")
    if _is_ir_file(path):
        from modelport.core.ir.serialize import load as load_ir

        if options.truncates:
            raise ModelportError(f"{path.name}: an IR file is already truncated as written; "
                                 "truncate when converting from the source model")
        model = load_ir(path)
        return validate(with_missing(model, options.missing)) if options.missing is not None else model
    src = framework_source(path)
    if src is not None:
        raise _no_ir(path, src.framework)
    try:
        model = load_model(path, options=options)
    except OSError as exc:
        raise ModelFormatError(f"cannot read model file {str(path)!r}: {exc.strerror or exc}") from None
    return validate(model)


_FRAMEWORK_LABELS = {"lightgbm": "a LightGBM model", "scikit-learn": "a Python pickle (how scikit-learn models are saved)"}


def framework_source(path: Path):
    """The framework :class:`~modelport.converters.frontends._sources.Source` of a file that no
    IR frontend reads (LightGBM model.txt, pickled scikit-learn), or None."""
    from modelport.core.registry import HEAD_BYTES
    from modelport.converters.frontends import all_frontends
    from modelport.converters.frontends._sources import detect_source

    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return None
    if not head or _is_ir_file(path) or any(fe.sniff(head, path.name) for _, fe in all_frontends().items()):
        return None
    return detect_source(path)


def _no_ir(path: Path, framework: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"{path.name} is {_FRAMEWORK_LABELS.get(framework, framework)}: modelport cannot read "
        "LightGBM/scikit-learn models into its IR yet; use --backend onnxmltools (--to onnx)")


def _check_native_options(path: Path, options: LoadOptions) -> None:
    """Truncation and missing sentinels are XGBoost reading options: refuse them rather than
    ignore them for a framework source."""
    if options.changes_model:
        raise ModelportError(f"{path.name}: --best-iteration, --iteration-end and --missing apply to XGBoost models, "
                             "not to LightGBM/scikit-learn files")


def _rows(data, feature_names: tuple[str, ...], dtype) -> np.ndarray | None:
    """Rows given as a CSV path or an array, as ``dtype`` ``[n, len(feature_names)]`` (None
    passes through)."""
    if data is None:
        return None
    import numpy as np

    from modelport.core.errors import InputDataError

    if isinstance(data, (str, os.PathLike)):
        from modelport._csv import read_rows

        return np.asarray(read_rows(data, feature_names=feature_names), dtype=dtype)
    arr = np.asarray(data, dtype=dtype)
    if arr.ndim != 2 or arr.shape[1] != len(feature_names):
        raise InputDataError(f"data must have shape [n, {len(feature_names)}], got {list(arr.shape)}")
    return arr


def _native_rows(data, native) -> np.ndarray | None:
    """``--data`` rows for a framework source: float64 (the framework's own precision)."""
    import numpy as np

    return _rows(data, tuple(native.feature_names), np.float64)


def read_data(data: str | os.PathLike[str] | np.ndarray | None, model: Model) -> np.ndarray | None:
    """Rows given as a CSV path or an array, as float32 ``[n, n_features]`` (None passes through)."""
    import numpy as np

    return _rows(data, tuple(f.name for f in model.features), np.float32)


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
    import dataclasses

    from modelport.converters.frontends import LoadOptions

    say = progress or (lambda msg: None)
    start = time.perf_counter()
    model_path = Path(model_path)
    target = _target(to)
    if backend not in target.backends:
        raise ModelportError(f"format {to!r} has no backend {backend!r} (available: {', '.join(target.backends)})")
    load_options = load_options or LoadOptions()
    if trust_pickle:
        load_options = dataclasses.replace(load_options, trust_pickle=True)
    src = framework_source(model_path)
    if src is not None:
        return _convert_native(model_path, src, target=target, out=out, backend=backend, data=data, verify=verify,
                               options=options, load_options=load_options, say=say, start=start)
    if backend != "modelport" and load_options.changes_model:
        # A third-party backend converts the FILE, which records none of these: its artifact
        # would predict with every tree and NaN-only missing, and fail verification.
        raise ModelportError(f"--backend {backend} converts the model file as saved and cannot apply "
                             "--best-iteration, --iteration-end or --missing; use the default backend for those")
    say(f"loading {model_path}")
    model = load(model_path, options=load_options)
    rows = read_data(data, model)
    final = _final_path(model_path, target, out)
    from modelport.converters.targets import WriteOptions

    def write(staged: Path) -> None:
        say(f"writing {to} ({backend})")
        target.write(model, staged, WriteOptions(backend=backend, source_path=model_path))

    def check(staged: Path) -> ParityReport | None:
        if not (verify and target.runtime is not None):
            return None
        from modelport._verify import VerifyOptions, verify_model

        say("verifying against the reference evaluator")
        return verify_model(model, staged, rows=rows, options=options or VerifyOptions(), target=target)

    return _write_verified(final, target, backend, write, check, start)


def _final_path(model_path: Path, target: Target, out) -> Path:
    final = default_output(model_path, target, out)
    if final.resolve() == model_path.resolve():
        raise ModelportError(f"refusing to overwrite the input model {str(model_path)!r}: pass -o/--out")
    if not final.parent.is_dir():
        raise ModelportError(f"output directory {str(final.parent)!r} does not exist")
    return final


def _write_verified(final: Path, target: Target, backend: str, write, check, start: float) -> ConvertResult:
    """Write to a temporary name beside ``final`` (``write(staged)``), verify it
    (``check(staged)`` → report or None), then atomically rename; on a parity failure keep
    only ``<final>.unverified`` and raise; on any other error leave nothing behind."""
    tmpdir = Path(tempfile.mkdtemp(prefix=".modelport-", dir=final.parent))
    try:
        staged = tmpdir / final.name
        write(staged)
        if not staged.exists():
            raise ModelportError(f"the {target.name} writer produced no file")
        report = check(staged)
        if report is not None and not report.passed:
            unverified = final.with_name(final.name + ".unverified")
            _replace(staged, unverified)
            err = VerificationError(f"{final.name} differs from the reference: {report.summary()}; "
                                    f"kept as {unverified.name}")
            err.report = report  # type: ignore[attr-defined]
            raise err
        _replace(staged, final)
        return ConvertResult(path=final, target=target.name, backend=backend, verified=report is not None,
                             report=report, seconds=time.perf_counter() - start)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _convert_native(model_path: Path, src, *, target: Target, out, backend: str, data, verify: bool,
                    options: VerifyOptions | None, load_options: LoadOptions, say, start: float) -> ConvertResult:
    """convert() for a framework source: only a third-party backend writes it, and the
    artifact is verified against the framework's own predict."""
    if backend == "modelport":
        raise _no_ir(model_path, src.framework)
    if backend != "onnxmltools" or target.runtime is None:
        raise ModelportError(f"{model_path.name}: {src.framework} models convert only to onnx with --backend onnxmltools")
    _check_native_options(model_path, load_options)
    say(f"opening {model_path} with {src.framework}")
    native = src.open(model_path, load_options)
    rows = _native_rows(data, native)
    final = _final_path(model_path, target, out)

    def write(staged: Path) -> None:
        from modelport.converters.targets._onnx_native import write_native_onnx

        say(f"writing {target.name} ({backend})")
        write_native_onnx(native, staged)

    def check(staged: Path) -> ParityReport | None:
        if not verify:
            return None
        from modelport._verify import VerifyOptions
        from modelport._verify_native import verify_native

        say(f"verifying against {src.framework}'s own predict")
        return verify_native(native, staged, rows=rows, options=options or VerifyOptions())

    return _write_verified(final, target, backend, write, check, start)


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
    import dataclasses

    from modelport._verify import VerifyOptions, verify_model
    from modelport.converters.frontends import LoadOptions

    artifact = Path(artifact_path)
    src = framework_source(Path(model_path))
    if src is not None:  # LightGBM / scikit-learn: the reference is the framework's own predict
        from modelport._verify_native import verify_native

        load_options = load_options or LoadOptions()
        if trust_pickle:
            load_options = dataclasses.replace(load_options, trust_pickle=True)
        _check_native_options(Path(model_path), load_options)
        native = src.open(Path(model_path), load_options)
        rows = _native_rows(data, native)
        if not artifact.exists():
            raise ModelFormatError(f"cannot read artifact {str(artifact)!r}: no such file")
        return verify_native(native, artifact, rows=rows, options=options or VerifyOptions())
    model = load(model_path, trust_pickle=trust_pickle, options=load_options)
    rows = read_data(data, model)
    if not artifact.exists():
        raise ModelFormatError(f"cannot read artifact {str(artifact)!r}: no such file")
    return verify_model(model, artifact, rows=rows, options=options or VerifyOptions())
