"""The public API behind ``modelport.load``, ``modelport.convert`` and ``modelport.verify``.

Everything heavy is imported inside the functions, so ``import modelport`` stays light.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelport.core.errors import ModelFormatError, ModelportError, UnsupportedModelError, UsageError, VerificationError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from modelport._verify import ParityReport, VerifyOptions
    from modelport.converters.frontends import LoadOptions
    from modelport.core.ir.model import Model
    from modelport.converters.targets import Target, WriteOptions

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
    rounds: str = ""
    """Which boosting rounds were converted, in words (``""`` when the source has none)."""

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {"path": str(self.path), "target": self.target, "backend": self.backend, "verified": self.verified,
                "rounds": self.rounds, "report": self.report.to_dict() if self.report else None,
                "seconds": round(self.seconds, 4)}


def describe_rounds(model: Model) -> str:
    """``"kept 12 of 40 boosting rounds (best_iteration ...)"`` or ``"all 40 boosting rounds"``."""
    prov = model.provenance
    if prov is None or prov.rounds_total is None:
        return ""
    if prov.rounds_kept == prov.rounds_total:
        return f"all {prov.rounds_total} boosting rounds"
    return f"kept {prov.rounds_kept} of {prov.rounds_total} boosting rounds ({prov.truncation}; --all-rounds keeps every one)"


def _is_ir_file(path: Path) -> bool:
    if path.name.endswith(".ir.json"):
        return True
    from modelport.core.files import read_head
    from modelport.core.ir.serialize import looks_like_ir
    from modelport.core.registry import HEAD_BYTES

    try:
        return looks_like_ir(read_head(path, HEAD_BYTES))  # never blocks on a FIFO
    except (OSError, ModelFormatError):
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
    from modelport.converters.frontends import all_frontends
    from modelport.converters.frontends._sources import detect_source
    from modelport.core.files import read_head
    from modelport.core.registry import HEAD_BYTES

    try:
        head = read_head(path, HEAD_BYTES)  # never blocks on a FIFO
    except (OSError, ModelFormatError):
        return None
    if not head or _is_ir_file(path) or any(fe.sniff(head, path.name) for _, fe in all_frontends().items()):
        return None
    return detect_source(path)


def _backend_source(path: Path, backend):
    """The framework source a third-party ``backend`` converts from the framework's own object
    (LightGBM, scikit-learn), whether or not an IR frontend also reads the file; None for
    sources the backend converts from the IR's file (XGBoost)."""
    from modelport.converters.frontends._sources import detect_source

    src = detect_source(path)
    if src is None or src.framework == "xgboost" or src.framework not in backend.frameworks:
        return None
    return src


def _with_recorded_reading(artifact: Path, given: LoadOptions | None) -> LoadOptions | None:
    """The reading options an artifact recorded when it was converted (the missing sentinel,
    the rounds kept), applied for verification unless given; a given option that disagrees
    with the recorded one is a UsageError naming both."""
    import dataclasses
    import json
    import math

    from modelport.converters.frontends import LoadOptions

    if not artifact.exists():
        return given
    from modelport import runtimes

    try:
        meta = runtimes.load(artifact).signature.metadata
    except ModelportError:
        return given  # the verification itself reports why it cannot be loaded
    opts = given or LoadOptions()
    try:
        missing = float(meta.get("modelport.missing", "nan"))
        rounds = json.loads(meta["modelport.rounds"]) if meta.get("modelport.rounds") else None
    except (ValueError, TypeError):
        return given
    if not math.isnan(missing):
        if opts.missing is None:
            opts = dataclasses.replace(opts, missing=missing)
        elif opts.missing != missing:
            raise UsageError(f"--missing {opts.missing:g} conflicts with the sentinel {missing:g} recorded in {artifact.name}")
    if rounds and rounds.get("kept") is not None and rounds["kept"] != rounds.get("total"):
        kept = int(rounds["kept"])
        if opts.iteration_end is not None and opts.iteration_end != kept:
            raise UsageError(f"--iteration-end {opts.iteration_end} conflicts with {artifact.name}, which kept {kept} rounds "
                             f"({rounds.get('truncation') or 'truncated'})")
        if opts.use_best_iteration is False:
            raise UsageError(f"--all-rounds conflicts with {artifact.name}, which kept {kept} of {rounds.get('total')} rounds")
        if opts.iteration_end is None:
            opts = dataclasses.replace(opts, iteration_end=kept, use_best_iteration=None)
    elif rounds and rounds.get("kept") is not None and opts.truncates:
        raise UsageError(f"{artifact.name} kept every round ({rounds.get('total')}); the reading options given drop some")
    return opts


def _written_by_third_party(artifact: Path) -> bool:
    """True when the artifact's metadata names a backend other than modelport's own."""
    if not artifact.exists():
        return False
    from modelport import runtimes

    try:
        backend = runtimes.load(artifact).signature.backend
    except ModelportError:
        return False  # the verification itself reports why it cannot be loaded
    return backend not in ("", "modelport")


def _no_ir(path: Path, framework: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"{path.name} is {_FRAMEWORK_LABELS.get(framework, framework)}: modelport cannot read "
        "scikit-learn models into its IR yet; use --backend onnxmltools (--to onnx)")


def _check_framework_options(path: Path, options: LoadOptions, framework: str) -> None:
    """Truncation and missing sentinels change the model as read: a framework object opened
    for a third-party converter cannot carry them, so they are refused rather than ignored."""
    if not options.changes_model:
        return
    if framework == "scikit-learn":
        raise ModelportError(f"{path.name}: --best-iteration, --iteration-end and --missing apply to XGBoost and "
                             "LightGBM models, not to scikit-learn files")
    raise ModelportError(f"{path.name}: a third-party backend converts the model file as saved and cannot apply "
                         "--best-iteration, --iteration-end or --missing; use the default backend for those")


def _rows(data, feature_names: tuple[str, ...], dtype) -> np.ndarray | None:
    """Rows given as a CSV path or an array, as ``dtype`` ``[n, len(feature_names)]`` (None
    passes through)."""
    if data is None:
        return None
    import numpy as np

    from modelport.core.errors import InputDataError

    if isinstance(data, (str, os.PathLike)):
        from modelport._csv import read_rows

        return read_rows(data, feature_names=feature_names, dtype=dtype)
    arr = np.asarray(data, dtype=dtype)
    if arr.ndim != 2 or arr.shape[1] != len(feature_names):
        raise InputDataError(f"data must have shape [n, {len(feature_names)}], got {list(arr.shape)}")
    return arr


def _framework_rows(data, fm) -> np.ndarray | None:
    """``--data`` rows for a framework source: float64 (the framework's own precision)."""
    import numpy as np

    return _rows(data, tuple(fm.feature_names), np.float64)


def read_data(data: str | os.PathLike[str] | np.ndarray | None, model: Model) -> np.ndarray | None:
    """Rows given as a CSV path or an array, ``[n, n_features]`` in the precision the model
    compares in (float32, or float64 for float64 thresholds, float64 linear models and
    preprocessing: :func:`~modelport.core.ir.evaluate.input_dtype`), None passing through."""
    from modelport.core.ir.evaluate import input_dtype

    return _rows(data, tuple(f.name for f in model.features), input_dtype(model).type)


def _target(name: str) -> Target:
    from modelport.converters.targets import all_targets

    targets = all_targets()
    if name not in targets:
        raise UsageError(f"unknown format {name!r} (known: {', '.join(targets.names())})")
    return targets.get(name)


def default_output(model_path: Path, target: Target, out: str | os.PathLike[str] | None) -> Path:
    """Where the artifact goes: beside the model with the target's extension
    (``model.json`` → ``model.onnx``, a bundle ``model.c/``) when ``out`` is None; inside
    ``out`` when it is an existing directory that is not itself a bundle, or a path ending in
    a separator (created if absent); else ``out`` itself."""
    from modelport.core.contract import is_bundle

    name = model_path.name
    stem = next((name[: -len(s)] for s in _MULTI_SUFFIXES if name.endswith(s)), None) or model_path.stem
    if out is None:
        return model_path.with_name(stem + target.extension)
    text = os.fspath(out)
    out = Path(out)
    into = text.endswith(("/", os.sep)) or (out.is_dir() and not is_bundle(out))
    if into and not out.exists():
        if not out.parent.is_dir():
            raise ModelportError(f"output directory {str(out.parent)!r} does not exist")
        out.mkdir()
    return out / (stem + target.extension) if into else out


def convert(model_path: str | os.PathLike[str], *, to: str, out: str | os.PathLike[str] | None = None,
            backend: str = "modelport", data: str | os.PathLike[str] | np.ndarray | None = None,
            verify: bool = True, trust_pickle: bool = False, options: VerifyOptions | None = None,
            load_options: LoadOptions | None = None, force: bool = False, write_options: WriteOptions | None = None,
            progress=None) -> ConvertResult:
    """Convert a model file to the format ``to`` and (by default) prove the artifact matches.

    Steps: read the model (an IR frontend, or for a third-party ``backend`` possibly the
    framework itself) → write the artifact (a file, or a bundle directory) under a staging
    name in the destination directory → if ``verify`` and the target has a runtime, run the
    probe set (+ ``data`` rows) through the artifact and the reference (the IR evaluator, or
    the framework's own predict for a source no IR frontend reads) → on a pass, publish it
    atomically under its final name.  On a parity failure the artifact is kept only as
    ``<name>.unverified`` and :class:`VerificationError` (with ``.report``) is raised.  On
    any other error no output is left behind.  An existing output is replaced only with
    ``force=True``.  ``load_options`` selects truncation and a missing sentinel (see :func:`load`);
    ``write_options`` the format's choices (e.g. the generated code's shape).
    """
    import dataclasses

    from modelport.converters.backends import BackendSource, get_backend
    from modelport.converters.frontends import LoadOptions

    say = progress or (lambda msg: None)
    start = time.perf_counter()
    model_path = Path(model_path)
    target = _target(to)
    be = None if backend == "modelport" else get_backend(to, backend)
    load_options = load_options or LoadOptions()
    if trust_pickle:
        load_options = dataclasses.replace(load_options, trust_pickle=True)
    src = framework_source(model_path) if be is None else _backend_source(model_path, be)
    if src is not None:
        # No IR frontend reads this file, or a third-party backend converts it from the
        # framework's own object: the reference is the framework's own predict.
        if be is None:
            raise _no_ir(model_path, src.framework)
        get_backend(to, backend, framework=src.framework)
        _check_framework_options(model_path, load_options, src.framework)
        say(f"opening {model_path} with {src.framework}")
        fm = src.open(model_path, load_options)
        rows = _framework_rows(data, fm)
        source = BackendSource(path=model_path, framework=src.framework, framework_model=fm)

        def reference_check(staged: Path) -> ParityReport:
            from modelport._verify_framework import verify_framework

            say(f"verifying against {src.framework}'s own predict")
            return verify_framework(fm, staged, rows=rows, options=options or VerifyOptions())
    else:
        if be is not None and load_options.changes_model:
            # A third-party backend converts the FILE, which records none of these: its artifact
            # would predict with every tree and NaN-only missing, and fail verification.
            raise ModelportError(f"--backend {backend} converts the model file as saved and cannot apply "
                                 "--best-iteration, --iteration-end or --missing; use the default backend for those")
        say(f"loading {model_path}")
        model = load(model_path, options=load_options)
        rows = read_data(data, model)
        framework = model.provenance.framework if model.provenance else ""
        if be is not None:
            get_backend(to, backend, framework=framework)
        source = BackendSource(path=model_path, framework=framework, model=model)

        def reference_check(staged: Path) -> ParityReport:
            from modelport._verify import verify_model

            say("verifying against the reference evaluator")
            return verify_model(model, staged, rows=rows, options=options or VerifyOptions(), target=target)

    from modelport._verify import VerifyOptions
    from modelport.converters.targets import WriteOptions

    final = _final_path(model_path, target, out, force=force)

    def write(staged: Path) -> None:
        say(f"writing {to} ({backend})")
        if be is not None:
            be.write(source, staged)
        else:
            target.write(source.model, staged, write_options or WriteOptions())

    def check(staged: Path) -> ParityReport | None:
        if not (verify and target.runtime is not None):
            return None
        return reference_check(staged)

    result = _write_verified(final, target, backend, write, check, start, force=force)
    return dataclasses.replace(result, rounds=describe_rounds(source.model)) if source.model is not None else result


def _final_path(model_path: Path, target: Target, out, *, force: bool = False) -> Path:
    final = default_output(model_path, target, out)
    if final.resolve() == model_path.resolve():
        raise ModelportError(f"refusing to overwrite the input model {str(model_path)!r}: pass -o/--out")
    if not final.parent.is_dir():
        raise ModelportError(f"output directory {str(final.parent)!r} does not exist")
    if final.exists() and not force:
        raise ModelportError(f"{str(final)!r} exists: pass --force to replace it, or -o another path")
    return final


def _write_verified(final: Path, target: Target, backend: str, write, check, start: float, *,
                    force: bool = False) -> ConvertResult:
    """Write to a staging name beside ``final`` (``write(staged)``: a file, or a bundle
    directory), verify it (``check(staged)`` → report or None), then publish it atomically;
    on a parity failure keep only ``<final>.unverified`` and raise; on any other error leave
    nothing behind."""
    from modelport._staging import staging_dir

    # The staging directory goes away on exit, on SIGTERM/SIGINT, and (after a crash) at the
    # next conversion into the same directory.
    with staging_dir(final.parent) as tmpdir:
        staged = tmpdir / final.name
        write(staged)
        if not staged.exists():
            raise ModelportError(f"the {target.name} writer produced no {'bundle' if target.is_bundle else 'file'}")
        report = check(staged)
        if report is not None and not report.passed:
            unverified = final.with_name(final.name + ".unverified")
            _publish(staged, unverified, replace=True)
            report = report.at(str(unverified))
            err = VerificationError(f"{final.name} differs from the reference: {report.summary()}; "
                                    f"kept as {unverified.name}")
            err.report = report  # type: ignore[attr-defined]
            raise err
        _publish(staged, final, replace=force)
        if report is not None:
            report = report.at(str(final))  # the report names the published artifact, not the staged one
        return ConvertResult(path=final, target=target.name, backend=backend, verified=report is not None,
                             report=report, seconds=time.perf_counter() - start)


def _publish(staged: Path, dst: Path, *, replace: bool) -> None:
    """Move a staged file or bundle to ``dst`` atomically (one rename within a directory).
    An existing ``dst`` is replaced only with ``replace``: a file by the rename itself; a
    bundle by moving the old one aside first and deleting it after the new one is in place.
    Never replaces a directory that is not a modelport bundle (loses nothing)."""
    from modelport.core.contract import is_bundle

    if dst.is_dir() and not is_bundle(dst):
        raise ModelportError(f"output path {str(dst)!r} is a directory; pass another -o/--out")
    if dst.exists() and not replace:
        raise ModelportError(f"{str(dst)!r} exists: pass --force to replace it")
    if staged.is_dir() or dst.is_dir():
        old = None
        if dst.exists():
            old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
            os.replace(dst, old)
        os.replace(staged, dst)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
        return
    os.replace(staged, dst)


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
    load_options = _with_recorded_reading(artifact, load_options)
    src = framework_source(Path(model_path))
    if src is None and _written_by_third_party(artifact):
        from modelport.converters.backends import all_backends

        for _key, be in all_backends().items():
            src = src or _backend_source(Path(model_path), be)
    if src is not None:  # the framework's own object is the reference (as when it was converted)
        from modelport._verify_framework import verify_framework

        load_options = load_options or LoadOptions()
        if trust_pickle:
            load_options = dataclasses.replace(load_options, trust_pickle=True)
        _check_framework_options(Path(model_path), load_options, src.framework)
        fm = src.open(Path(model_path), load_options)
        rows = _framework_rows(data, fm)
        if not artifact.exists():
            raise ModelFormatError(f"cannot read artifact {str(artifact)!r}: no such file")
        return verify_framework(fm, artifact, rows=rows, options=options or VerifyOptions())
    model = load(model_path, trust_pickle=trust_pickle, options=load_options)
    rows = read_data(data, model)
    if not artifact.exists():
        raise ModelFormatError(f"cannot read artifact {str(artifact)!r}: no such file")
    return verify_model(model, artifact, rows=rows, options=options or VerifyOptions())
