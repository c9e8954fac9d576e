"""``--backend onnxmltools`` for ``--to onnx``: onnxmltools (XGBoost, LightGBM) and skl2onnx
(scikit-learn), the ecosystem's own ONNX converters, as a second opinion.

XGBoost files are loaded with xgboost and converted with ``onnxmltools.convert_xgboost``
(:mod:`._onnxmltools_xgboost`); LightGBM and scikit-learn models are opened with their own
framework and converted with ``convert_lightgbm`` / ``skl2onnx`` (:mod:`._onnxmltools_frameworks`).
docs/onnx.md lists what each gets wrong, measured.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelport.converters.backends import BACKENDS, Backend, BackendSource
from modelport.core.errors import ModelportError, UnsupportedModelError, UsageError, require

__all__ = ["write_onnxmltools", "run_bounded", "converter_timeout", "CONVERTER_TIMEOUT_S"]


#: Seconds a third-party converter may run before it is stopped (environment variable
#: ``MODELPORT_CONVERTER_TIMEOUT`` overrides): skl2onnx has looped forever on a model
#: (``find_switch_point`` on an infinite threshold), so no converter runs unbounded.
CONVERTER_TIMEOUT_S = 600.0


def converter_timeout() -> float:
    """The time limit of one third-party conversion, in seconds."""
    raw = os.environ.get("MODELPORT_CONVERTER_TIMEOUT", "")
    try:
        value = float(raw) if raw else CONVERTER_TIMEOUT_S
    except ValueError:
        raise UsageError(f"MODELPORT_CONVERTER_TIMEOUT={raw[:20]!r} is not a number of seconds") from None
    if not value > 0:
        raise UsageError(f"MODELPORT_CONVERTER_TIMEOUT must be positive, got {raw[:20]!r}")
    return value


def _child(conn, func: Callable[..., Any], args: tuple) -> None:
    """Run ``func(*args)`` in the child: the converter's own chatter (warnings, prints, C++
    logs) goes to /dev/null; the answer, or the error's first line, goes through ``conn``."""
    import warnings

    warnings.simplefilter("ignore")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        conn.send((True, func(*args).SerializeToString()))
    except ModelportError as exc:
        conn.send((False, (type(exc).__name__, str(exc))))
    except BaseException as exc:  # noqa: BLE001 - everything a converter raises becomes one line
        text = str(exc).strip()
        conn.send((False, ("UnsupportedModelError",
                           f"the converter failed: {type(exc).__name__}: {text.splitlines()[0] if text else ''}")))
    finally:
        conn.close()


def run_bounded(func: Callable[..., Any], args: tuple = (), *, what: str, seconds: float | None = None):
    """``func(*args)`` (a module-level function returning an ``onnx.ModelProto``; arguments
    picklable) in a fresh child process (``spawn``: a forked copy of a process running
    onnxruntime's threads can deadlock on a lock no thread will release), stopped after
    ``seconds``: a converter that never returns becomes a one-line UnsupportedModelError."""
    import multiprocessing

    import onnx

    seconds = converter_timeout() if seconds is None else seconds
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, func, args), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(seconds):
            raise UnsupportedModelError(f"{what} did not finish within {seconds:g} s and was stopped "
                                        "(MODELPORT_CONVERTER_TIMEOUT sets the limit)")
        try:
            ok, payload = parent.recv()
        except EOFError:
            raise UnsupportedModelError(f"{what} died without an answer (exit code {proc.exitcode})") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        parent.close()
    if ok:
        return onnx.load_from_string(payload)
    kind, message = payload
    import modelport.core.errors as errors

    cls = getattr(errors, kind, None)
    try:
        exc = cls(message) if isinstance(cls, type) and issubclass(cls, ModelportError) else None
    except TypeError:  # an error class with other constructor arguments
        exc = None
    raise exc or UnsupportedModelError(message)


def _build_xgboost(model, path: Path):
    from modelport.converters.backends._onnxmltools_xgboost import build_with_onnxmltools

    return build_with_onnxmltools(model, path)


def _build_framework(fm):
    from modelport.converters.backends._onnxmltools_frameworks import build_framework_onnx

    return build_framework_onnx(fm, source_format=fm.source)


def write_onnxmltools(source: BackendSource, out_path: Path) -> None:
    """Convert ``source`` with onnxmltools / skl2onnx (in a time-bounded child process) and
    write the checked ONNX file."""
    onnx = require("onnx", extra="onnx", purpose="Writing ONNX")
    if source.framework == "xgboost":
        if source.model is None:
            raise UnsupportedModelError("--backend onnxmltools converts XGBoost files that modelport can read")
        proto = run_bounded(_build_xgboost, (source.model, Path(source.path)), what="onnxmltools")
    elif source.framework_model is not None:
        import dataclasses

        from modelport.converters.backends._onnxmltools_frameworks import refuse_infinite_thresholds

        fm = source.framework_model
        if fm.framework == "scikit-learn":
            refuse_infinite_thresholds(fm.framework_object)  # before anything runs
        # The child needs the framework object and its facts, not the predict closures.
        bare = dataclasses.replace(fm, predict=None, predict_label=None)
        proto = run_bounded(_build_framework, (bare,), what="skl2onnx" if fm.framework == "scikit-learn" else "onnxmltools")
    else:
        raise UnsupportedModelError(f"--backend onnxmltools needs the {source.framework} model opened with its framework")
    from modelport.converters.targets._onnx_depth import check_onnx_depth

    check_onnx_depth(proto)  # refuse what onnxruntime cannot load before anything is written
    onnx.checker.check_model(proto, full_check=True)
    Path(out_path).write_bytes(proto.SerializeToString())


BACKENDS.register(
    "onnx:onnxmltools",
    Backend(name="onnxmltools", target="onnx", frameworks=("xgboost", "lightgbm", "scikit-learn"),
            description="onnxmltools.convert_xgboost / convert_lightgbm and skl2onnx, converting the original model",
            write=write_onnxmltools, extra="onnxmltools"),
)
