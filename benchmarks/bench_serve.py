"""Load benchmark of ``modelport serve`` (not a test, and not a ``modelport bench`` suite: it
starts servers and needs wrk).

Measures requests/s and p50/p99 latency with wrk (``apt-get install wrk``) for single-row
and 1,000-row CSV requests at 1, 16 and 64 connections, in the same run, for:

* ``modelport serve``: the SageMaker container (granian workers, the full contract: content
  negotiation, limits, errors, the CSV fast path);
* ``bare``: the HTTP floor, a WSGI app of a few lines around the same runtime on the same
  server and worker count (``np.loadtxt`` for the body, no checks).

Both answer the same body with the same bytes (checked before timing).  Run::

    python -m modelport.benchmarks.bench_serve [--artifact model.onnx] [--duration 10] [--json]

Without ``--artifact`` it trains a seeded 100-tree, depth-6 XGBoost model on 20 features and
converts it to ONNX (needs xgboost and the onnx extra).  Read ratios: the machine is shared.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "bare_app", "measure"]

N_FEATURES = 20


def bare_app():
    """The HTTP floor: a few lines of WSGI around the runtime (factory for granian)."""
    from modelport import runtimes

    rt = runtimes.load(os.environ["BENCH_ARTIFACT"])

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/ping":
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        X = np.loadtxt(io.BytesIO(body), delimiter=",", dtype=np.float32, ndmin=2)
        out = ("\n".join(map(repr, rt.predict(X).tolist())) + "\n").encode()
        start_response("200 OK", [("Content-Type", "text/csv"), ("Content-Length", str(len(out)))])
        return [out]

    return app


# The SageMaker inference toolkit on multi-model-server, around onnxruntime with the same
# session options as modelport's runtime: the toolkit's own decoder/encoder, the handler
# pattern of aws/sagemaker-xgboost-container.  Run with --mms-python (a virtualenv holding
# multi-model-server, sagemaker-inference, onnxruntime and numpy; Java on PATH).
_MMS_HANDLER = """
import os
import numpy as np
import onnxruntime as ort
from sagemaker_inference import decoder, default_inference_handler, encoder
from sagemaker_inference.default_handler_service import DefaultHandlerService
from sagemaker_inference.transformer import Transformer


class Handler(default_inference_handler.DefaultInferenceHandler):
    def default_model_fn(self, model_dir, context=None):
        name = next(f for f in os.listdir(model_dir) if f.endswith(".onnx"))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        return ort.InferenceSession(os.path.join(model_dir, name), opts, providers=["CPUExecutionProvider"])

    def default_input_fn(self, input_data, content_type, context=None):
        return np.asarray(decoder.decode(input_data, content_type), dtype=np.float32).reshape(-1, N_FEATURES)

    def default_predict_fn(self, data, model, context=None):
        return model.run(["probabilities"], {model.get_inputs()[0].name: data})[0][:, 1]

    def default_output_fn(self, prediction, accept, context=None):
        return encoder.encode(prediction, accept)


_service = DefaultHandlerService(transformer=Transformer(default_inference_handler=Handler()))
_ready = []


def handle(data, context):
    if not _ready:
        _service.initialize(context)
        _ready.append(True)
    if data is None:
        return None
    return _service.handle(data, context)
"""
_MMS_LAUNCH = """
import sys
from sagemaker_inference import model_server
model_server.MMS_CONFIG_FILE = sys.argv[1]  # not /etc
model_server.start_model_server(handler_service="mms_handler")
"""


def _start_mms(python: str, artifact: Path, tmp: Path, port: int, workers: int) -> subprocess.Popen:
    d = tmp / "mms"
    (d / "opt_ml" / "model").mkdir(parents=True)
    shutil.copy(artifact, d / "opt_ml" / "model" / "model.onnx")
    (d / "mms_handler.py").write_text(_MMS_HANDLER.replace("N_FEATURES", str(N_FEATURES)))
    (d / "launch.py").write_text(_MMS_LAUNCH)
    env = {**os.environ, "PATH": f"{Path(python).parent}:{os.environ.get('PATH', '')}", "PYTHONPATH": str(d),
           "SAGEMAKER_BASE_DIR": str(d / "opt_ml"), "SAGEMAKER_BIND_TO_PORT": str(port),
           "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers)}
    with open(tmp / "mms.log", "wb") as fh:
        proc = subprocess.Popen([python, str(d / "launch.py"), str(d / "mms.properties")], cwd=d, env=env,  # noqa: S603
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    body = ",".join(["0.5"] * N_FEATURES).encode()
    for _ in range(600):  # /ping answers before the worker has loaded the model: wait for a prediction
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "text/csv"})
            with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"multi-model-server did not start: {(tmp / 'mms.log').read_text()[-1500:]}")


def _serve_bare(artifact: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    os.environ["BENCH_ARTIFACT"] = artifact
    Granian("modelport.benchmarks.bench_serve:bare_app", factory=True, address="127.0.0.1", port=port,
            interface=Interfaces.WSGI, workers=workers, blocking_threads=2, backlog=2048, log_access=False,
            websockets=False, workers_kill_timeout=10).serve()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _free_port() -> int:
    """A free port below the ephemeral range (multi-model-server refuses ports it reads as
    invalid there, e.g. 57083: 'Invalid port number')."""
    for port in np.random.default_rng().permutation(np.arange(20000, 30000)).tolist():
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port in 20000..29999")


def _train(out_dir: Path) -> Path:
    import xgboost as xgb

    import modelport

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, N_FEATURES)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] + 0.3 * rng.normal(size=len(X)) > 0).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "seed": 0}, xgb.DMatrix(X, label=y), 100)
    booster.save_model(out_dir / "bench.json")
    return Path(modelport.convert(out_dir / "bench.json", to="onnx", out=out_dir / "bench.onnx").path)


def _start(argv: list[str], port: int, log: Path) -> subprocess.Popen:
    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT,  # noqa: S603 - our own interpreter
                                start_new_session=True)
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-1500:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):  # noqa: S310 - loopback
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start: {log.read_text()[-1500:]}")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def measure(url: str, body_file: Path, *, connections: int, duration: float, wrk: str) -> dict[str, Any]:
    """One wrk run: requests/s, p50/p99 in ms, errors (non-2xx and socket errors)."""
    script = body_file.with_suffix(".lua")
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "text/csv"\n'
                      f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n')
    threads = max(1, min(connections, 2))
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "30s", "--latency", "-s", str(script),
           url + "/invocations"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)  # noqa: S603 - wrk with our arguments
    out = res.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sock.group(0) if sock else ""}


def _body(n_rows: int, seed: int = 1) -> bytes:
    X = np.random.default_rng(seed).normal(size=(n_rows, N_FEATURES)).astype(np.float32)
    return ("\n".join(",".join(map(repr, r)) for r in X.astype(np.float64).tolist()) + "\n").encode()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (or JSON)."""
    p = argparse.ArgumentParser(prog="python -m modelport.benchmarks.bench_serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--artifact", help="artifact to serve (default: train a 100-tree model)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes per server")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--connections", default="1,16,64")
    p.add_argument("--rows", default="1,1000")
    p.add_argument("--json", action="store_true")
    p.add_argument("--mms-python", metavar="PYTHON",
                   help="also measure the SageMaker inference toolkit on multi-model-server, run by this Python")
    p.add_argument("--bare-server", nargs=2, metavar=("ARTIFACT", "PORT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.bare_server:
        _serve_bare(args.bare_server[0], int(args.bare_server[1]), args.workers)
        return 0
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    procs = []
    try:
        artifact = Path(args.artifact) if args.artifact else _train(tmp)
        from modelport.deploy.sagemaker.package import package

        package(artifact, tmp / "model.tar.gz")
        ports = {"modelport serve": _free_port(), "bare": _free_port()}
        procs.append(_start([sys.executable, "-m", "modelport.deploy.sagemaker.serve", "serve", str(tmp / "model.tar.gz"),
                             "--host", "127.0.0.1", "--port", str(ports["modelport serve"]), "--workers", str(args.workers)],
                            ports["modelport serve"], tmp / "serve.log"))
        procs.append(_start([sys.executable, "-m", "modelport.benchmarks.bench_serve", "--workers", str(args.workers),
                             "--bare-server", str(artifact), str(ports["bare"])], ports["bare"], tmp / "bare.log"))
        if args.mms_python:
            ports["multi-model-server"] = _free_port()
            procs.append(_start_mms(args.mms_python, artifact, tmp, ports["multi-model-server"], args.workers))
        results: list[dict[str, Any]] = []
        for n_rows in (int(x) for x in args.rows.split(",")):
            body_file = tmp / f"body-{n_rows}.csv"
            body_file.write_bytes(_body(n_rows))
            answers = set()
            for name, port in ports.items():
                if name == "multi-model-server":
                    continue  # its encoder writes other digits; checked to answer 200 by the start probe
                req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body_file.read_bytes(),
                                             headers={"Content-Type": "text/csv"})
                with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - loopback
                    answers.add(r.read())
            if len(answers) != 1:
                raise SystemExit("the two servers answer differently; not benchmarking")
            for conns in (int(x) for x in args.connections.split(",")):
                for name, port in ports.items():
                    m = measure(f"http://127.0.0.1:{port}", body_file, connections=conns, duration=args.duration, wrk=wrk)
                    results.append({"server": name, "rows": n_rows, "connections": conns, **m})
                    if not args.json:
                        print(f"{name:<16} rows {n_rows:>5} conns {conns:>3}: {m['rps']:>9.1f} req/s  p50 {m['p50_ms']:7.2f} ms"
                              f"  p99 {m['p99_ms']:7.2f} ms  non-2xx {m['non_2xx']} {m['socket_errors']}", file=sys.stderr, flush=True)
        summary = []
        for r in results:
            if r["server"] != "modelport serve":
                continue
            same = {b["server"]: b for b in results if b["rows"] == r["rows"] and b["connections"] == r["connections"]}
            row = {"rows": r["rows"], "connections": r["connections"], "rps": r["rps"], "p50_ms": r["p50_ms"],
                   "p99_ms": r["p99_ms"], "bare_rps": same["bare"]["rps"], "bare_p99_ms": same["bare"]["p99_ms"],
                   "ratio_to_bare": r["rps"] / same["bare"]["rps"]}
            if "multi-model-server" in same:
                row["mms_rps"] = same["multi-model-server"]["rps"]
                row["mms_p99_ms"] = same["multi-model-server"]["p99_ms"]
                row["ratio_to_mms"] = r["rps"] / max(row["mms_rps"], 1e-9)
            summary.append(row)
        doc = {"workers": args.workers, "duration_s": args.duration, "cpus": os.cpu_count(), "results": results,
               "summary": summary}
        if args.json:
            print(json.dumps(doc, indent=2))
        else:
            mms = any("mms_rps" in s for s in summary)
            print(f"{'rows':>5} {'conns':>5} {'serve req/s':>12} {'bare req/s':>11} {'x bare':>6} {'p50 ms':>7} {'p99 ms':>7}"
                  f" {'bare p99':>8}" + (f" {'mms req/s':>10} {'x mms':>6} {'mms p99':>8}" if mms else ""))
            for s in summary:
                print(f"{s['rows']:>5} {s['connections']:>5} {s['rps']:>12.1f} {s['bare_rps']:>11.1f} {s['ratio_to_bare']:>6.2f}"
                      f" {s['p50_ms']:>7.2f} {s['p99_ms']:>7.2f} {s['bare_p99_ms']:>8.2f}"
                      + (f" {s['mms_rps']:>10.1f} {s['ratio_to_mms']:>6.1f} {s['mms_p99_ms']:>8.2f}" if mms else ""))
    finally:
        # Every server runs in its own session (a main process and its workers; java for
        # multi-model-server): signal the whole group, so no worker outlives the benchmark.
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
