"""The SageMaker inference container: ``modelport serve [model.tar.gz | DIR | ARTIFACT]``.

A WSGI application (:func:`create_app`) served by granian (Rust HTTP, one Python worker process
per core, each with its own loaded runtime).  Endpoints: ``GET /ping``, ``POST /invocations``,
``GET /execution-parameters``.  Settings are the ``SAGEMAKER_*`` variables of the container
contract (docs/sagemaker.md lists each with its default).

The serving process imports the core and the runtimes only, never a converter: the command
re-executes itself as ``python -m modelport.deploy.sagemaker.serve`` (see :func:`exec_serve`)
so nothing the ``modelport`` command imported is inherited by the workers, and
:func:`create_app` refuses to start if a converter module is loaded.

Run directly (what the image's ENTRYPOINT does)::

    python -m modelport.deploy.sagemaker.serve [serve] [MODEL] [--host H] [--port P] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable

import numpy as np

from modelport.core.contract import METADATA_PREFIX
from modelport.core.errors import InputDataError, ModelportError
from modelport.deploy.sagemaker._codecs import HttpError, choose_accept, decode, encode
from modelport.deploy.sagemaker.package import PACKAGE_MANIFEST, artifact_path, extract, read_package

__all__ = ["Settings", "App", "create_app", "resolve_model", "run", "exec_serve", "main", "MB"]

MB = 1 << 20
#: Rows predicted per call; the request deadline is checked between chunks.
_CHUNK_ROWS = 65_536
_ENV_ARTIFACT = "MODELPORT_SERVE_ARTIFACT"


@dataclass(frozen=True)
class Settings:
    """The serving settings, read from the environment (the container contract's names)."""

    port: int = 8080
    workers: int = 1
    timeout: float = 60.0
    max_payload_mb: int = 6
    batch: bool = False
    batch_strategy: str = "MULTI_RECORD"
    max_concurrent_transforms: int = 1
    default_accept: str = "text/csv"
    output: str = "prediction"

    @property
    def max_payload_bytes(self) -> int:
        """The request body limit (``MaxPayloadInMB`` MiB; 6 MB = 6,291,456 bytes by default)."""
        return self.max_payload_mb * MB

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read and validate ``SAGEMAKER_*`` (and ``MODELPORT_OUTPUT``); a bad value is a one-line error."""
        env = dict(os.environ if env is None else env)
        cpus = os.cpu_count() or 1

        def num(name: str, default: float, lo: float, hi: float, kind: Callable[[str], float] = int) -> Any:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                v = kind(raw)
            except ValueError:
                raise ModelportError(f"{name}={raw!r} is not a number") from None
            if not lo <= v <= hi:
                raise ModelportError(f"{name}={raw!r} is outside {lo:g}..{hi:g}")
            return v

        batch = env.get("SAGEMAKER_BATCH", "").strip().lower() in ("1", "true", "yes")
        strategy = env.get("SAGEMAKER_BATCH_STRATEGY", "").strip().upper() or "MULTI_RECORD"
        if strategy not in ("SINGLE_RECORD", "MULTI_RECORD"):
            raise ModelportError(f"SAGEMAKER_BATCH_STRATEGY={strategy!r} must be SINGLE_RECORD or MULTI_RECORD")
        accept = env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "").strip() or "text/csv"
        try:
            accept = choose_accept(accept, "text/csv")
        except HttpError:
            raise ModelportError(f"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT={accept!r} is not text/csv, application/json "
                                 "or application/jsonlines") from None
        workers = num("SAGEMAKER_MODEL_SERVER_WORKERS", cpus, 1, 1024)
        return cls(
            port=num("SAGEMAKER_BIND_TO_PORT", 8080, 1, 65535),
            workers=workers,
            timeout=num("SAGEMAKER_MODEL_SERVER_TIMEOUT", 600.0 if batch else 60.0, 1, 3600, float),
            max_payload_mb=num("SAGEMAKER_MAX_PAYLOAD_IN_MB", 6, 1, 100),
            batch=batch,
            batch_strategy=strategy,
            max_concurrent_transforms=num("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", workers, 1, 1024),
            default_accept=accept,
            output=env.get("MODELPORT_OUTPUT", "").strip() or "prediction",
        )


def _status_lines() -> dict[int, str]:
    from http import HTTPStatus

    return {int(s): f"{int(s)} {s.phrase}" for s in HTTPStatus}


_STATUS = _status_lines()


class App:
    """The WSGI application around one loaded runtime."""

    def __init__(self, runtime: Any, settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        sig = runtime.signature
        self.features = sig.features
        if settings.output not in sig.outputs:
            raise ModelportError(f"MODELPORT_OUTPUT={settings.output!r}: this model serves {', '.join(sig.outputs)}")
        self._dtype = np.float64 if sig.input_type == "float64" else np.float32
        # An index a LIBSVM line leaves out: missing for XGBoost (its sparse entries are
        # missing values), zero for LightGBM and scikit-learn (their sparse entries are zeros).
        framework = sig.metadata.get(METADATA_PREFIX + "framework", "")
        self._absent = np.nan if framework in ("xgboost", "") else 0.0
        # The per-request settings, read once (the hot path does no property or dict lookups).
        self._limit = settings.max_payload_bytes
        self._timeout = settings.timeout
        self._default_accept = settings.default_accept
        self._exec_params = json.dumps({
            "MaxConcurrentTransforms": settings.max_concurrent_transforms,
            "BatchStrategy": settings.batch_strategy,
            "MaxPayloadInMB": settings.max_payload_mb,
        }).encode()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Route one request; every failure is a one-line text/plain body with its status."""
        try:
            if environ.get("PATH_INFO") == "/invocations" and environ.get("REQUEST_METHOD") == "POST":
                status, ctype, body = self.invoke(environ)  # the hot path first
            else:
                status, ctype, body = self._route(environ)
        except HttpError as exc:
            status, ctype, body = exc.status, "text/plain; charset=utf-8", (exc.message + "\n").encode()
        except Exception as exc:  # noqa: BLE001 - a model failure must answer 500, never kill the worker
            msg = " ".join(f"model failure: {type(exc).__name__}: {exc}".split())[:500]
            status, ctype, body = 500, "text/plain; charset=utf-8", (msg + "\n").encode()
        start_response(_STATUS[status], [("Content-Type", ctype), ("Content-Length", str(len(body)))])
        return [body]

    def _route(self, environ: dict[str, Any]) -> tuple[int, str, bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/invocations":
            if method != "POST":
                raise HttpError(405, "use POST /invocations")
            return self.invoke(environ)
        if path == "/ping":
            if method not in ("GET", "HEAD"):
                raise HttpError(405, "use GET /ping")
            return 200, "text/plain", b""
        if path == "/execution-parameters":
            return 200, "application/json", self._exec_params
        raise HttpError(404, f"no route {path[:100]!r}; the server answers /ping, /invocations, /execution-parameters")

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        limit = self._limit
        raw_len = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        if raw_len:
            try:
                n = int(raw_len)
            except ValueError:
                raise HttpError(400, f"bad Content-Length {raw_len[:40]!r}") from None
            if n > limit:
                raise HttpError(413, f"request body of {n} bytes exceeds the {limit}-byte limit "
                                     f"({self.settings.max_payload_mb} MB); split it into smaller requests")
            body = stream.read(n) if n else b""
            if len(body) != n:
                raise HttpError(400, f"request body ended after {len(body)} of {n} bytes")
            return body
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise HttpError(413, f"request body exceeds the {limit}-byte limit ({self.settings.max_payload_mb} MB)")
        return body

    def _output(self, environ: dict[str, Any]) -> str:
        attrs = environ.get("HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES", "")
        for part in attrs.split(","):
            k, _, v = part.partition("=")
            if k.strip() == "output":
                v = v.strip()
                if v not in self.runtime.signature.outputs:
                    raise HttpError(400, f"output={v!r}: this model serves {', '.join(self.runtime.signature.outputs)}")
                return v
        return self.settings.output

    def invoke(self, environ: dict[str, Any]) -> tuple[int, str, bytes]:
        """``POST /invocations``: decode, predict (chunked, under the deadline), encode."""
        start = time.monotonic()
        accept = choose_accept(environ.get("HTTP_ACCEPT"), self._default_accept)
        body = self._read_body(environ)
        X = decode(body, environ.get("CONTENT_TYPE"), self.features, dtype=self._dtype, absent=self._absent)
        output = self._output(environ) if "HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES" in environ else self.settings.output
        if X.shape[0] <= _CHUNK_ROWS:  # one call: the common case, without the chunking
            try:
                pred = self.runtime.predict(X, output=output)
            except InputDataError as exc:
                raise HttpError(400, str(exc)) from None
            if time.monotonic() - start > self._timeout:
                raise HttpError(503, f"prediction exceeded the {self._timeout:g}s timeout "
                                     "(SAGEMAKER_MODEL_SERVER_TIMEOUT); send fewer rows per request")
            if pred.shape[0] != X.shape[0]:
                raise HttpError(500, f"model failure: {pred.shape[0]} predictions for {X.shape[0]} rows")
            return 200, accept, encode(pred, accept)
        parts = []
        for lo in range(0, X.shape[0], _CHUNK_ROWS):
            if time.monotonic() - start > self.settings.timeout:
                raise HttpError(503, f"prediction exceeded the {self.settings.timeout:g}s timeout "
                                     "(SAGEMAKER_MODEL_SERVER_TIMEOUT); send fewer rows per request")
            try:
                parts.append(self.runtime.predict(X[lo:lo + _CHUNK_ROWS], output=output))
            except InputDataError as exc:
                raise HttpError(400, str(exc)) from None
        pred = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if pred.shape[0] != X.shape[0]:
            raise HttpError(500, f"model failure: {pred.shape[0]} predictions for {X.shape[0]} rows")
        return 200, accept, encode(pred, accept)


def resolve_model(model: str | os.PathLike[str] | None, *, base_dir: str | None = None) -> tuple[Path, Path | None]:
    """``(artifact path, temporary directory to delete or None)`` for what ``serve`` was given:
    a ``model.tar.gz`` (extracted safely into a temporary directory), a directory holding an
    extracted package, or an artifact (file or bundle).  Default: ``$SAGEMAKER_BASE_DIR/model``."""
    if model is None:
        base = base_dir or os.environ.get("SAGEMAKER_BASE_DIR") or "/opt/ml"
        model = Path(base) / "model"
    path = Path(model)
    if not path.exists():
        raise ModelportError(f"{path}: no such file or directory")
    if path.is_dir():
        if (path / PACKAGE_MANIFEST).is_file():
            return artifact_path(path, read_package(path)), None
        return path, None
    if tarfile.is_tarfile(path):
        tmp = Path(tempfile.mkdtemp(prefix="modelport-serve-"))
        try:
            pkg = extract(path, tmp / "model")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return artifact_path(tmp / "model", pkg), tmp
    return path, None


def _converters_loaded() -> list[str]:
    return sorted(m for m in sys.modules if m == "modelport.converters" or m.startswith("modelport.converters."))


def create_app() -> App:
    """The WSGI factory each worker calls: load the artifact named by ``MODELPORT_SERVE_ARTIFACT``."""
    from modelport import runtimes

    path = os.environ.get(_ENV_ARTIFACT)
    if not path:
        raise ModelportError(f"{_ENV_ARTIFACT} is not set; start the server with 'modelport serve'")
    app = App(runtimes.load(path), Settings.from_env())
    loaded = _converters_loaded()
    if loaded:
        raise ModelportError(f"the serving process must not load converters, found {loaded[0]}")
    return app


def run(model: str | os.PathLike[str] | None = None, *, host: str = "0.0.0.0", port: int | None = None,  # noqa: S104
        workers: int | None = None, say: Callable[[str], None] | None = None, as_json: bool = False) -> None:
    """Serve until SIGTERM/SIGINT (in-flight requests are drained first)."""
    from modelport import runtimes
    from modelport.core.errors import require

    say = say or (lambda msg: print(f"modelport serve: {msg}", file=sys.stderr, flush=True))
    settings = Settings.from_env()
    granian = require("granian", extra="sagemaker", purpose="modelport serve")
    from granian.constants import Interfaces

    artifact, tmp = resolve_model(model)
    try:
        os.environ[_ENV_ARTIFACT] = str(artifact)
        App(runtimes.load(artifact), settings)  # fail here, in one line, rather than in every worker
        n = workers or settings.workers
        p = port or settings.port
        say(f"serving {artifact.name} on http://{host}:{p} with {n} worker(s) "
            f"(payload limit {settings.max_payload_mb} MB, timeout {settings.timeout:g}s)")
        if as_json:
            print(json.dumps({"artifact": str(artifact), "url": f"http://{host}:{p}", "workers": n,
                              "max_payload_bytes": settings.max_payload_bytes, "timeout": settings.timeout}), flush=True)
        server = granian.Granian(
            "modelport.deploy.sagemaker.serve:create_app", factory=True, address=host, port=p,
            interface=Interfaces.WSGI, workers=n, blocking_threads=2, backlog=2048,
            workers_kill_timeout=max(1, min(int(settings.timeout), 25)), log_access=False,
            respawn_failed_workers=True, websockets=False,
        )
        server.serve()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def exec_serve(argv: list[str]) -> None:
    """Replace this process with a fresh ``python -m modelport.deploy.sagemaker.serve ARGV``:
    the workers then inherit no module the caller imported (the ``modelport`` command loads
    the converter registry to build its parser)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "modelport.deploy.sagemaker.serve", *argv])  # noqa: S606


def build_parser(prog: str = "modelport serve") -> argparse.ArgumentParser:
    """Arguments of ``serve`` (shared by the ``modelport`` subcommand and ``python -m``)."""
    p = argparse.ArgumentParser(prog=prog, description="Serve a packaged model with the SageMaker inference "
                                "container contract (GET /ping, POST /invocations, GET /execution-parameters).")
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add serve's options to ``p``."""
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="model.tar.gz from 'modelport package', an extracted package directory, or an artifact "
                        "(default: $SAGEMAKER_BASE_DIR/model, i.e. /opt/ml/model)")
    p.add_argument("--host", default="0.0.0.0", help="address to bind (default: 0.0.0.0)")  # noqa: S104
    p.add_argument("--port", type=int, help="port (default: $SAGEMAKER_BIND_TO_PORT or 8080)")
    p.add_argument("--workers", type=int, help="worker processes (default: $SAGEMAKER_MODEL_SERVER_WORKERS or one per CPU)")
    p.add_argument("--json", action="store_true", help="print the serving address as one JSON line on stdout at startup")


def main(argv: list[str] | None = None) -> int:
    """``python -m modelport.deploy.sagemaker.serve``: the container entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:  # `docker run IMAGE serve`
        args = args[1:]
    ns = build_parser().parse_args(args)
    try:
        if ns.workers is not None and ns.workers < 1:
            raise ModelportError(f"--workers must be at least 1, got {ns.workers}")
        run(ns.model, host=ns.host, port=ns.port, workers=ns.workers, as_json=ns.json)
    except ModelportError as exc:
        msg = " ".join(str(exc).split())
        print(f"modelport: error: {msg}", file=sys.stderr)
        if ns.json:
            print(json.dumps({"error": msg, "exit_code": exc.exit_code}))
        return exc.exit_code
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
