"""Every `modelport` command the README and docs/cli.md show runs, and the example output in
docs/cli.md is what the commands print (numbers aside)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from test_cli import run

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    cmds = []
    for block in blocks:
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("modelport "):
                cmds.append(line)
    return cmds


def _cli_examples() -> list[tuple[str, list[str]]]:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    block = text.split("## Examples", 1)[1].split("```\n", 2)[1]
    out: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif line.strip() and out:
            out[-1][1].append(line)
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    xgb = pytest.importorskip("xgboost")
    d = tmp_path_factory.mktemp("docs")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "seed": 0}, xgb.DMatrix(X, label=y), 10)
    booster.save_model(str(d / "model.json"))
    np.savetxt(d / "rows.csv", X[:20], delimiter=",")
    return d


def _shape(line: str) -> str:
    """A line with its numbers replaced: timings and counts vary, words must not."""
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "N", line.rstrip())


def test_cli_examples_print_what_the_docs_show(workdir):
    examples = _cli_examples()
    assert examples, "docs/cli.md has no examples"
    for cmd, shown in examples:
        args = shlex.split(cmd)
        assert args[0] == "modelport"
        p = run(*args[1:], cwd=workdir)
        assert p.returncode == 0, (cmd, p.stderr)
        got = [_shape(x) for x in (p.stderr + p.stdout).splitlines() if x.strip()]
        want = [_shape(x) for x in shown if "..." not in x]
        assert sorted(got) == sorted(want), (cmd, got, want)


def test_every_readme_command_runs(workdir):
    """The README's usage lines, in order, against a sample model (serve is started and
    stopped by the SageMaker tests; here its --help must work)."""
    cmds = _readme_commands()
    assert len(cmds) >= 8
    (workdir / "out").mkdir(exist_ok=True)
    for cmd in cmds:
        args = shlex.split(cmd)[1:]
        if args[0] == "bench":  # every format, timed: kept short here
            args += ["--batch", "1,10", "--budget", "0.05", "--formats", "onnx,ir,python"]
        p = run(*args, "--force", cwd=workdir) if args[0] == "convert" else run(*args, cwd=workdir, timeout=900)
        assert p.returncode == 0, (cmd, p.stderr[-2000:])
