"""The real ``modelport`` console script, run as a subprocess: help, JSON, exit codes, and
one-line errors with no traceback and no output file left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ir_samples as samples
from modelport.core.ir import serialize
from modelport.core.errors import EXIT_CODES

SCRIPT = Path(sys.executable).with_name("modelport")
COMMANDS = ("inspect", "convert", "verify", "formats", "bench", "demo", "predict", "package", "serve", "deploy", "transform")


def run(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    exe = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "modelport"]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(exe + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def assert_one_line_error(p: subprocess.CompletedProcess, code: int, match: str = "") -> None:
    assert p.returncode == code, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr
    errors = [line for line in p.stderr.splitlines() if line.startswith("modelport: error: ")]
    assert len(errors) == 1, p.stderr
    assert match in errors[0], errors[0]


def test_console_script_is_installed():
    assert SCRIPT.exists(), f"the 'modelport' console script is missing beside {sys.executable}"


@pytest.mark.parametrize("command", (None,) + COMMANDS)
def test_help_everywhere(command):
    p = run(*([command] if command else []), "--help")
    grouped = command == "deploy"  # its actions (sagemaker, update, delete) take the options
    assert p.returncode == 0 and "usage: modelport" in p.stdout and "--json" in (p.stdout if command and not grouped else "--json")
    if grouped:
        for action in ("sagemaker", "update", "delete"):
            p = run(command, action, "--help")
            assert p.returncode == 0 and "--json" in p.stdout, action


def test_python_dash_m():
    p = subprocess.run([sys.executable, "-m", "modelport", "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("modelport ")


def test_formats_json_lists_the_registries():
    p = run("formats", "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert {"ir", "onnx"} <= {t["name"] for t in data["targets"]}
    assert "xgboost-json" in {f["name"] for f in data["frontends"]}
    assert data["runtimes"]
    assert "ir" in run("formats").stdout


@pytest.fixture(scope="module")
def model_json(xgb_trained) -> Path:
    return xgb_trained("binary_logistic").json_path


def test_inspect(model_json):
    p = run("inspect", model_json, "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["format"] == "xgboost-json" and info["framework_version"] == "3.2.0"
    assert info["objective"] == "binary:logistic" and info["task"] == "binary" and info["n_classes"] == 2
    assert info["n_trees"] == 8 and info["max_depth"] >= 1 and len(info["feature_names"]) == info["n_features"]
    text = run("inspect", model_json).stdout
    assert "binary:logistic" in text and "trees" in text


def test_convert_to_ir_then_verify(model_json, tmp_path):
    out = tmp_path / "m.ir.json"
    p = run("convert", model_json, "--to", "ir", "-o", out, "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["verified"] and res["report"]["passed"] and Path(res["path"]) == out and out.exists()
    p = run("verify", model_json, out, "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["passed"] is True
    text = run("verify", model_json, out).stdout
    assert "max abs diff" in text and "max ULP diff" in text and "class flips" in text
    # inspect reads the IR itself too
    assert json.loads(run("inspect", out, "--json").stdout)["task"] == "binary"


def test_verify_reports_differing_rows_with_exit_1(model_json, tmp_path):
    out = tmp_path / "m.ir.json"
    assert run("convert", model_json, "--to", "ir", "-o", out).returncode == 0
    doc = json.loads(out.read_text())
    doc["base_score"] = [doc["base_score"][0] + 1.0]
    out.write_text(json.dumps(doc))
    p = run("verify", model_json, out)
    assert p.returncode == EXIT_CODES["parity_failure"] and "FAIL" in p.stdout and "row " in p.stdout
    p = run("verify", model_json, out, "--json")
    assert p.returncode == 1 and json.loads(p.stdout)["differing_rows"]


def test_convert_with_data_and_no_verify(model_json, tmp_path):
    n = json.loads(run("inspect", model_json, "--json").stdout)["n_features"]
    rows = tmp_path / "rows.csv"
    rows.write_text(",".join(f"f{i}" for i in range(n)) + "\n" + ",".join(["0.5"] * n) + "\n" + "," * (n - 1) + "\n")
    p = run("convert", model_json, "--to", "ir", "-o", tmp_path, "--data", rows, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["report"]["n_rows"] > 2
    p = run("convert", model_json, "--to", "ir", "-o", tmp_path / "x.ir.json", "--no-verify", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["verified"] is False


def _bad_inputs(tmp_path: Path, model_json: Path) -> dict[str, Path]:
    good = model_json.read_text()
    files = {
        "truncated.json": good[: len(good) // 2],
        "corrupt.json": good.replace('"learner"', '"learner":[[[', 1),
        "not_a_model.json": json.dumps({"hello": "world"}),
        "empty.json": "",
        "unsupported.json": good.replace('"binary:logistic"', '"reg:nonexistent"'),
        "binary.json": "\x00\x01\x02garbage",
        "bad.ir.json": serialize.dumps(samples.regression()).replace('"ir_version": 1', '"ir_version": 99'),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return {name: tmp_path / name for name in files}


@pytest.mark.parametrize("command", ["inspect", "convert", "verify"])
def test_bad_models_give_one_line_errors_and_no_output(command, model_json, tmp_path):
    for name, path in _bad_inputs(tmp_path, model_json).items():
        before = set(tmp_path.iterdir())
        args = {"inspect": ("inspect", path), "convert": ("convert", path, "--to", "ir", "-o", tmp_path / "out.ir.json"),
                "verify": ("verify", path, model_json)}[command]
        p = run(*args)
        assert_one_line_error(p, EXIT_CODES["bad_input"])
        assert set(tmp_path.iterdir()) == before, (name, set(tmp_path.iterdir()) - before)
        pj = run(*args, "--json")
        assert pj.returncode == EXIT_CODES["bad_input"] and json.loads(pj.stdout)["exit_code"] == 3


def test_missing_and_unreadable_files(tmp_path, model_json):
    assert_one_line_error(run("inspect", tmp_path / "absent.json"), 3, "no such file")
    assert_one_line_error(run("inspect", tmp_path), 3, "not a regular file")
    assert_one_line_error(run("verify", model_json, tmp_path / "absent.onnx"), 3, "absent.onnx")
    assert_one_line_error(run("convert", model_json, "--to", "ir", "-o", tmp_path / "nodir" / "m.ir.json"), 3,
                          "does not exist")


def test_bad_csv_is_one_line(model_json, tmp_path):
    for name, text, match in [("strings.csv", "1,2,3,4,5,6\n1,x,3,4,5,6\n", "line 2 column 2: 'x' is not a number"),
                              ("header.csv", "a,b\n1,2\n", "header does not match"), ("ragged.csv", "1,2\n", "columns"),
                              ("binary.csv", "\udcff", "")]:
        path = tmp_path / name
        if name == "binary.csv":
            path.write_bytes(b"\xff\xfe\x00garbage")
        else:
            path.write_text(text)
        p = run("convert", model_json, "--to", "ir", "-o", tmp_path / "o.ir.json", "--data", path)
        assert_one_line_error(p, 3, match)
        assert not (tmp_path / "o.ir.json").exists()
    assert_one_line_error(run("verify", model_json, model_json, "--data", tmp_path / "absent.csv"), 3, "absent.csv")


def test_usage_errors_exit_2():
    assert_one_line_error(run("convert", "m.json", "--to", "nope"), EXIT_CODES["usage"], "invalid choice")
    assert_one_line_error(run("convert", "m.json"), EXIT_CODES["usage"], "--to")
    assert_one_line_error(run("frobnicate"), EXIT_CODES["usage"])
    assert_one_line_error(run(), EXIT_CODES["usage"])


def test_supported_docs_are_generated_from_the_registries():
    """docs/supported.md must equal what scripts/gen_docs.py renders from the registries now."""
    import importlib.util

    repo = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("gen_docs", repo / "scripts" / "gen_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0, "docs/supported.md is stale: run python scripts/gen_docs.py"
    for name in ("ir", "onnx", "xgboost-json"):
        assert f"`{name}`" in gen.DOC.read_text()


@pytest.mark.slow  # converts, verifies and times every format (compiling C, Java, Go, Rust)
def test_demo_writes_a_report(tmp_path):
    pytest.importorskip("xgboost")
    p = run("demo", "--out", tmp_path / "reports", "--rows", "500", "--json", cwd=tmp_path, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    result = json.loads(p.stdout)
    report = Path(result["report"])
    assert report.exists() and report.suffix == ".md"
    assert Path(result["html"]).exists()
    assert {c["target"] for c in result["conversions"]} >= {"ir", "onnx"}
    # modelport's own targets all verify; a third-party backend's row ("pmml[sklearn2pmml]")
    # may be a measured parity failure, which the report shows instead of hiding it.
    own = [c for c in result["conversions"] if "[" not in c["target"]]
    assert own and all(c["verified"] for c in own), own
    for c in result["conversions"]:
        assert c["verified"] or (c["status"] == "parity_failure" and c["parity"]["rows"] > 0), c
    text = report.read_text()
    assert "| ir |" in text and "rows/s" in text
    if result["plot"]:
        assert Path(result["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_verify_against_another_models_artifact(model_json, xgb_trained, tmp_path):
    other = xgb_trained("multi_softmax").json_path
    art = tmp_path / "other.ir.json"
    assert run("convert", other, "--to", "ir", "-o", art).returncode == 0
    p = run("verify", model_json, art)
    assert_one_line_error(p, EXIT_CODES["parity_failure"], "not a conversion of this model")


def test_convert_parity_failure_exit_1_keeps_only_unverified(tmp_path, capsys):
    """In-process (a broken writer cannot be injected into a subprocess): exit 1, one line,
    JSON error with the report, and only ``<name>.unverified`` on disk."""
    import dataclasses

    import numpy as np

    from modelport import cli
    from modelport.converters.targets import TARGETS, all_targets

    all_targets()
    src = serialize.save(samples.binary(), tmp_path / "src.ir.json")
    good = TARGETS.get("ir")

    def off_by_one(model, out, options):
        serialize.save(dataclasses.replace(model, base_score=model.base_score + np.float32(1)), out)

    TARGETS.register("ir", dataclasses.replace(good, write=off_by_one), replace=True)
    try:
        code = cli.main(["convert", str(src), "--to", "ir", "-o", str(tmp_path / "out.ir.json"), "--json"])
    finally:
        TARGETS.register("ir", good, replace=True)
    out, err = capsys.readouterr()
    assert code == EXIT_CODES["parity_failure"]
    assert [line for line in err.splitlines() if line.startswith("modelport: error:")][0].count("\n") == 0
    payload = json.loads(out)
    assert payload["exit_code"] == 1 and payload["report"]["passed"] is False and payload["report"]["differing_rows"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ir.json.unverified", "src.ir.json"]


@pytest.mark.onnx
def test_convert_to_onnx_then_verify(xgb_trained, tmp_path):
    pytest.importorskip("onnxruntime")
    model = xgb_trained("multi_softprob_parallel").json_path
    p = run("convert", model, "--to", "onnx", "-o", tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    art = Path(json.loads(p.stdout)["path"])
    assert art.name == "model.onnx" and art.exists()
    p = run("verify", model, art, "--json")
    report = json.loads(p.stdout)
    assert p.returncode == 0 and report["passed"] and report["margin"]["max_ulp_diff"] == 0


def test_bench_runs_a_suite_and_reports_ratios_as_json():
    p = run("bench", "evaluator", "--repeats", "1", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)["evaluator"]
    assert r["evaluator_rows_per_s"] > 0 and r["xgboost_rows_per_s"] > 0
    assert r["slowdown_vs_xgboost"] == pytest.approx(r["evaluator_seconds"] / r["xgboost_seconds"])


def test_bench_unknown_suite_is_a_one_line_error():
    assert_one_line_error(run("bench", "nope"), 2, "unknown benchmark suite 'nope'")


def _structurally_broken(tmp_path: Path, model_json: Path) -> dict[str, Path]:
    """Valid JSON/UBJSON whose trees are not trees, and a UBJSON file cut short."""
    doc = json.loads(model_json.read_text())
    trees = doc["learner"]["gradient_booster"]["model"]["trees"]
    out_of_range = json.loads(json.dumps(doc))
    out_of_range["learner"]["gradient_booster"]["model"]["trees"][0]["left_children"][0] = 10_000
    cycle = json.loads(json.dumps(doc))
    t = cycle["learner"]["gradient_booster"]["model"]["trees"][0]
    inner = next(i for i in range(1, len(t["left_children"])) if t["left_children"][i] != -1)
    t["left_children"][inner] = 0  # points back to the root
    assert trees[0]["left_children"][0] != -1, "the fixture's first tree must split"
    files = {"out_of_range.json": json.dumps(out_of_range), "cycle.json": json.dumps(cycle)}
    paths = {name: tmp_path / name for name in files}
    for name, text in files.items():
        paths[name].write_text(text)
    ubj = model_json.with_suffix(".ubj").read_bytes()
    paths["truncated.ubj"] = tmp_path / "truncated.ubj"
    paths["truncated.ubj"].write_bytes(ubj[: len(ubj) * 2 // 3])
    paths["corrupt.ubj"] = tmp_path / "corrupt.ubj"
    paths["corrupt.ubj"].write_bytes(ubj[:40] + b"\xff" * 16 + ubj[56:])
    return paths


@pytest.mark.parametrize("fmt", ["ir", "onnx"])
def test_broken_trees_and_ubjson_give_one_line_errors_and_no_output(model_json, tmp_path, fmt):
    work = tmp_path / "work"
    work.mkdir()
    for name, path in _structurally_broken(work, model_json).items():
        before = set(work.iterdir())
        p = run("convert", path, "--to", fmt, "-o", work / f"out.{fmt}")
        assert_one_line_error(p, EXIT_CODES["bad_input"])
        assert set(work.iterdir()) == before, (name, set(work.iterdir()) - before)


@pytest.mark.slow  # ~16 s: verification walks ~20,000 probe rows down 10,000 levels
def test_ten_thousand_deep_tree_converts_and_verifies(xgb_trained, tmp_path):
    """No recursion anywhere on the way: frontend, validation, IR JSON, ONNX writer and runtime."""
    from test_xgboost_frontend import deep_chain_document

    doc = deep_chain_document(json.loads(xgb_trained("reg_squarederror").json_path.read_text()), 10_000)
    src = tmp_path / "deep.json"
    src.write_text(json.dumps(doc))
    for fmt in ("ir", "onnx"):
        p = run("convert", src, "--to", fmt, "--json")
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert out["verified"] is True and out["report"]["passed"] is True
