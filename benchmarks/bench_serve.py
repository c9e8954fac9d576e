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


def _serve_bare(artifact: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    os.environ["BENCH_ARTIFACT"] = artifact
    Granian("modelport.benchmarks.bench_serve:bare_app", factory=True, address="127.0.0.1", port=port,
            interface=Interfaces.WSGI, workers=workers, blocking_threads=2, backlog=2048, log_access=False,
            websockets=False).serve()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT)  # noqa: S603 - our own interpreter
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
        results: list[dict[str, Any]] = []
        for n_rows in (int(x) for x in args.rows.split(",")):
            body_file = tmp / f"body-{n_rows}.csv"
            body_file.write_bytes(_body(n_rows))
            answers = set()
            for port in ports.values():
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
            if r["server"] == "modelport serve":
                floor = next(b for b in results if b["server"] == "bare" and b["rows"] == r["rows"]
                             and b["connections"] == r["connections"])
                summary.append({"rows": r["rows"], "connections": r["connections"], "rps": r["rps"],
                                "bare_rps": floor["rps"], "ratio_to_bare": r["rps"] / floor["rps"],
                                "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "bare_p99_ms": floor["p99_ms"]})
        doc = {"workers": args.workers, "duration_s": args.duration, "cpus": os.cpu_count(), "results": results,
               "summary": summary}
        if args.json:
            print(json.dumps(doc, indent=2))
        else:
            print(f"{'rows':>5} {'conns':>5} {'serve req/s':>12} {'bare req/s':>11} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7}"
                  f" {'bare p99':>8}")
            for s in summary:
                print(f"{s['rows']:>5} {s['connections']:>5} {s['rps']:>12.1f} {s['bare_rps']:>11.1f} {s['ratio_to_bare']:>6.2f}"
                      f" {s['p50_ms']:>7.2f} {s['p99_ms']:>7.2f} {s['bare_p99_ms']:>8.2f}")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
