"""Shared by the SageMaker tests and benchmarks/bench_serve.py: a trained model packaged by
``modelport package``, and the real ``serve`` process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

N_FEATURES = 8


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_onnx(out_dir: Path, *, n_trees: int = 20, objective: str = "binary:logistic", seed: int = 0) -> Path:
    """Train a small seeded XGBoost model and convert it (verified) to ONNX."""
    import modelport

    model = train_xgboost(out_dir, n_trees=n_trees, objective=objective, seed=seed)
    out = model.with_suffix(".onnx")
    modelport.convert(model, to="onnx", out=out)
    return out


def train_xgboost(out_dir: Path, *, n_trees: int = 20, objective: str = "binary:logistic", seed: int = 0) -> Path:
    """Train a small seeded XGBoost model with missing values; return its model.json."""
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(1000, N_FEATURES)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * X[:, 2].clip(-1, 1) > 0).astype(int)
    if objective.startswith("multi:"):
        y = (y + (np.nan_to_num(X[:, 3]) > 0.5)).astype(int)
    params = {"objective": objective, "max_depth": 5, "seed": seed}
    if objective.startswith("multi:"):
        params["num_class"] = 3
    booster = xgb.train(params, xgb.DMatrix(X, label=y), n_trees)
    model = out_dir / f"model-{objective.replace(':', '-')}-{n_trees}.json"
    booster.save_model(model)
    return model


def make_rows(n: int, *, seed: int = 1, missing: float = 0.05) -> np.ndarray:
    """float32 rows with some NaN (missing) cells."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    X[rng.random(X.shape) < missing] = np.nan
    return X


def csv_body(X: np.ndarray) -> bytes:
    """Rows as CSV (float32 values written exactly; NaN as an empty cell)."""
    return ("\n".join(",".join("" if v != v else repr(v) for v in row) for row in X.astype(np.float64).tolist()) + "\n").encode()


@dataclass
class Server:
    """A running ``modelport serve`` process."""

    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the server, wait for it, then make sure no worker of its group is left."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session (start_new_session): only its workers
        except ProcessLookupError:
            pass
        return self.proc.returncode


def start_server(model: Path, tmp: Path, *, workers: int = 2, env: dict[str, str] | None = None,
                 module: str = "modelport.deploy.sagemaker.serve", extra_args: list[str] | None = None,
                 wait: float = 90) -> Server:
    """Start the serving entry point the image runs (``... serve MODEL``) and wait for /ping."""
    port = free_port()
    log = tmp / f"server-{port}.log"
    full_env = {**os.environ, **(env or {})}
    args = [sys.executable, "-m", module, "serve", str(model), "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), *(extra_args or [])]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=full_env, start_new_session=True)
    srv = Server(proc, port, log)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(srv.url + "/ping", timeout=2) as r:  # noqa: S310 - loopback http
                if r.status == 200:
                    return srv
        except OSError:
            time.sleep(0.2)
    srv.stop(signal.SIGKILL)
    raise RuntimeError(f"server did not answer /ping within {wait}s: {log.read_text()[-2000:]}")
