"""Load benchmark of ``modelport serve`` (not a test, and not a ``modelport bench`` suite: it
starts servers and needs wrk).

Measures requests/s and p50/p99 latency with wrk (``apt-get install wrk``) for single-row
and 1,000-row CSV requests at 1, 16 and 64 connections, in the same run, for:

* ``modelport serve``: the SageMaker container (granian workers, the full contract: content
  negotiation, limits, errors, the CSV fast path);
* ``bare``: the HTTP floor, a WSGI app of a few lines around the same runtime on the same
  server and worker count (``np.loadtxt`` for the body, no checks);
* ``multi-model-server`` (``--mms-python``): the SageMaker inference toolkit on
  multi-model-server around onnxruntime, the pattern of the SageMaker XGBoost container;
* ``mlserver`` (``--mlserver-python``): MLServer's XGBoost runtime serving the XGBoost model
  the ONNX file was converted from, over its V2 inference protocol (the same rows as a JSON
  ``FP32`` tensor, since MLServer reads no CSV).

modelport and bare answer the same body with the same bytes, and MLServer with the same
float32 values (checked before timing).  Run::

    python -m modelport.benchmarks.bench_serve [--artifact model.onnx --xgboost-model model.json]
        [--mms-python /venv-mms/bin/python] [--mlserver-python /venv-mls/bin/python] [--duration 10] [--json]

Without ``--artifact`` it trains a seeded 100-tree, depth-6 XGBoost model on 20 features and
converts it to ONNX (needs xgboost and the onnx extra).  multi-model-server and MLServer run
from their own virtualenvs: their pins (MLServer 1.7: protobuf<7, uvloop 0.21; MMS: Java)
do not fit modelport's.  Read ratios, not absolutes: the machine is shared, and the load
average before and after is printed with the table.
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


# MLServer (1.7, mlserver-xgboost): one model directory and a server settings file; the
# inference pool gets as many workers as the other servers.
def _start_mlserver(python: str, xgb_model: Path, tmp: Path, port: int, workers: int) -> subprocess.Popen:
    d = tmp / "mlserver"
    (d / "bench").mkdir(parents=True)
    shutil.copy(xgb_model, d / "bench" / "model.json")
    (d / "bench" / "model-settings.json").write_text(json.dumps({
        "name": "bench", "implementation": "mlserver_xgboost.XGBoostModel", "parameters": {"uri": "./model.json"}}))
    (d / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": _free_port(), "metrics_port": _free_port(),
        "parallel_workers": workers, "debug": False}))
    mlserver = str(Path(python).parent / "mlserver")
    with open(tmp / "mlserver.log", "wb") as fh:
        proc = subprocess.Popen([mlserver, "start", str(d)], cwd=d, stdout=fh, stderr=subprocess.STDOUT,  # noqa: S603
                                start_new_session=True)
    body = _v2_body(np.full((1, N_FEATURES), 0.5))
    for _ in range(600):  # ready once a prediction answers (the inference pool loads after the HTTP server)
        if proc.poll() is not None:
            break
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}{_MLSERVER_PATH}", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    _signal_group(proc, signal.SIGKILL)
    raise SystemExit(f"mlserver did not start: {(tmp / 'mlserver.log').read_text()[-1500:]}")


_MLSERVER_PATH = "/v2/models/bench/infer"


def _v2_body(X: np.ndarray) -> bytes:
    """The rows as a V2 inference request (the float32 values, spelled as in the CSV body)."""
    return json.dumps({"inputs": [{"name": "input-0", "shape": list(X.shape), "datatype": "FP32",
                                   "data": X.astype(np.float32).astype(np.float64).reshape(-1).tolist()}]}).encode()


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


def measure(url: str, body_file: Path, *, connections: int, duration: float, wrk: str,
            content_type: str = "text/csv") -> dict[str, Any]:
    """One wrk run (POST ``url`` with the body in ``body_file``): requests/s, p50/p99 in ms,
    errors (non-2xx and socket errors)."""
    script = body_file.with_suffix(".lua")
    script.write_text(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "{content_type}"\n'
                      f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n')
    threads = max(1, min(connections, 2))
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "30s", "--latency", "-s", str(script),
           url]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)  # noqa: S603 - wrk with our arguments
    out = res.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sock.group(0) if sock else ""}


def _rows(n_rows: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n_rows, N_FEATURES)).astype(np.float32)


def _body(n_rows: int, seed: int = 1) -> bytes:
    X = _rows(n_rows, seed)
    return ("\n".join(",".join(map(repr, r)) for r in X.astype(np.float64).tolist()) + "\n").encode()


def _post(url: str, body: bytes, ctype: str) -> bytes:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype})  # noqa: S310 - loopback
    with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - loopback
        return r.read()


def _check_answers(servers: dict[str, dict[str, Any]], n_rows: int, tmp: Path) -> None:
    """Before timing: modelport and bare answer the same bytes; MLServer the same float32
    values up to a few ULPs (xgboost's float32 ``expf`` sigmoid against the float64 ``exp``
    rounded once that the ONNX graph computes: the link tolerance of the conversion);
    multi-model-server answers 200 (its encoder writes other digits)."""
    csv = tmp / f"body-{n_rows}.csv"
    want = _post(servers["modelport serve"]["url"], csv.read_bytes(), "text/csv")
    if _post(servers["bare"]["url"], csv.read_bytes(), "text/csv") != want:
        raise SystemExit("modelport serve and the bare app answer differently; not benchmarking")
    if "mlserver" in servers:
        doc = json.loads(_post(servers["mlserver"]["url"], (tmp / f"body-{n_rows}.json").read_bytes(), "application/json"))
        got = np.asarray(doc["outputs"][0]["data"], dtype=np.float64).astype(np.float32)
        ref = np.array([float(x) for x in want.split()], dtype=np.float64).astype(np.float32)
        if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-6, atol=1e-9):
            diff = np.max(np.abs(got - ref)) if got.shape == ref.shape else f"shape {got.shape}"
            raise SystemExit(f"mlserver answers other values (max |diff| {diff}); not benchmarking")
    if "multi-model-server" in servers:
        _post(servers["multi-model-server"]["url"], csv.read_bytes(), "text/csv")


def _summary(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        if r["server"] != "modelport serve":
            continue
        same = {b["server"]: b for b in results if b["rows"] == r["rows"] and b["connections"] == r["connections"]}
        row = {"rows": r["rows"], "connections": r["connections"]}
        for name, key in (("modelport serve", "serve"), ("bare", "bare"), ("multi-model-server", "mms"), ("mlserver", "mlserver")):
            if name in same:
                row[f"{key}_rps"], row[f"{key}_p50_ms"], row[f"{key}_p99_ms"] = (same[name]["rps"], same[name]["p50_ms"],
                                                                             same[name]["p99_ms"])
                if key != "serve":
                    row[f"x_{key}"] = r["rps"] / max(same[name]["rps"], 1e-9)
        out.append(row)
    return out


def _table(summary: list[dict[str, Any]]) -> str:
    keys = [k for k in ("serve", "bare", "mms", "mlserver") if any(f"{k}_rps" in s for s in summary)]
    head = "| rows | conns | " + " | ".join(f"{k} req/s | {k} p50/p99 ms" for k in keys) + " | " + \
        " | ".join(f"x {k}" for k in keys[1:]) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(keys) + len(keys) - 1)]
    for s in summary:
        cells = [str(s["rows"]), str(s["connections"])]
        for k in keys:
            cells += [f"{s.get(f'{k}_rps', float('nan')):.0f}",
                      f"{s.get(f'{k}_p50_ms', float('nan')):.2f} / {s.get(f'{k}_p99_ms', float('nan')):.2f}"]
        cells += [f"{s.get(f'x_{k}', float('nan')):.2f}" for k in keys[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (or JSON)."""
    p = argparse.ArgumentParser(prog="python -m modelport.benchmarks.bench_serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--artifact", help="artifact to serve (default: train a 100-tree model)")
    p.add_argument("--xgboost-model", help="the XGBoost model the artifact was converted from (for --mlserver-python)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes per server")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--repeat", type=int, default=1,
                   help="measure every cell this many times, interleaved, and keep each one's best requests/s "
                        "(on a shared machine the best run is the least disturbed one)")
    p.add_argument("--connections", default="1,16,64")
    p.add_argument("--rows", default="1,1000")
    p.add_argument("--json", action="store_true")
    p.add_argument("--mms-python", metavar="PYTHON",
                   help="also measure the SageMaker inference toolkit on multi-model-server, run by this Python")
    p.add_argument("--mlserver-python", metavar="PYTHON",
                   help="also measure MLServer's XGBoost runtime (mlserver, mlserver-xgboost, uvloop 0.21 beside this Python)")
    p.add_argument("--bare-server", nargs=2, metavar=("ARTIFACT", "PORT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.bare_server:
        _serve_bare(args.bare_server[0], int(args.bare_server[1]), args.workers)
        return 0
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if args.mlserver_python and args.artifact and not args.xgboost_model:
        raise SystemExit("--mlserver-python with --artifact needs --xgboost-model (the model MLServer serves)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    procs = []
    load_before = os.getloadavg()
    try:
        artifact = Path(args.artifact) if args.artifact else _train(tmp)
        xgb_model = Path(args.xgboost_model) if args.xgboost_model else tmp / "bench.json"
        from modelport.deploy.sagemaker.package import package

        package(artifact, tmp / "model.tar.gz")
        servers: dict[str, dict[str, Any]] = {}
        port = _free_port()
        procs.append(_start([sys.executable, "-m", "modelport.deploy.sagemaker.serve", "serve", str(tmp / "model.tar.gz"),
                             "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)],
                            port, tmp / "serve.log"))
        servers["modelport serve"] = {"url": f"http://127.0.0.1:{port}/invocations", "ctype": "text/csv", "ext": "csv"}
        port = _free_port()
        procs.append(_start([sys.executable, "-m", "modelport.benchmarks.bench_serve", "--workers", str(args.workers),
                             "--bare-server", str(artifact), str(port)], port, tmp / "bare.log"))
        servers["bare"] = {"url": f"http://127.0.0.1:{port}/invocations", "ctype": "text/csv", "ext": "csv"}
        if args.mms_python:
            port = _free_port()
            procs.append(_start_mms(args.mms_python, artifact, tmp, port, args.workers))
            servers["multi-model-server"] = {"url": f"http://127.0.0.1:{port}/invocations", "ctype": "text/csv", "ext": "csv"}
        if args.mlserver_python:
            port = _free_port()
            procs.append(_start_mlserver(args.mlserver_python, xgb_model, tmp, port, args.workers))
            servers["mlserver"] = {"url": f"http://127.0.0.1:{port}{_MLSERVER_PATH}", "ctype": "application/json", "ext": "json"}
        results: list[dict[str, Any]] = []
        for n_rows in (int(x) for x in args.rows.split(",")):
            (tmp / f"body-{n_rows}.csv").write_bytes(_body(n_rows))
            (tmp / f"body-{n_rows}.json").write_bytes(_v2_body(_rows(n_rows)))
            _check_answers(servers, n_rows, tmp)
            for conns in (int(x) for x in args.connections.split(",")):
                best: dict[str, dict[str, Any]] = {}
                for _ in range(max(1, args.repeat)):
                    for name, srv in servers.items():
                        run = measure(srv["url"], tmp / f"body-{n_rows}.{srv['ext']}", connections=conns,
                                      duration=args.duration, wrk=wrk, content_type=srv["ctype"])
                        if name not in best or run["rps"] > best[name]["rps"]:
                            best[name] = run
                for name, m in best.items():
                    results.append({"server": name, "rows": n_rows, "connections": conns, **m})
                    if not args.json:
                        print(f"{name:<18} rows {n_rows:>5} conns {conns:>3}: {m['rps']:>9.1f} req/s  p50 {m['p50_ms']:7.2f} ms"
                              f"  p99 {m['p99_ms']:7.2f} ms  non-2xx {m['non_2xx']} {m['socket_errors']}", file=sys.stderr, flush=True)
        summary = _summary(results)
        doc = {"workers": args.workers, "duration_s": args.duration, "repeat": args.repeat, "cpus": os.cpu_count(),
               "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "results": results, "summary": summary}
        if args.json:
            print(json.dumps(doc, indent=2))
        else:
            print(_table(summary))
            print(f"workers {args.workers}, {os.cpu_count()} CPUs, {args.duration:g} s per cell, best of {args.repeat}; load average "
                  f"{' '.join(f'{x:.2f}' for x in load_before)} before, {' '.join(f'{x:.2f}' for x in doc['loadavg_after'])} after")
    finally:
        # Every server runs in its own session (a main process and its workers; java for
        # multi-model-server, the inference pool for MLServer): signal the whole group, so no
        # worker outlives the benchmark.
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
