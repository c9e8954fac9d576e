"""`modelport bench MODEL`: a row per registered format with its parity status (or the reason
it cannot run), valid --json, HTML + Markdown reports, honest timing mechanics.  Nothing here
asserts a time: only that the measurements exist and were taken the way they say."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from modelport import _bench_cli
from modelport._bench import BenchOptions, run_bench
from modelport._bench_env import recommend
from modelport.benchmarks._timing import CALIBRATION_TIMINGS, RESOLUTION_FACTOR, clock_resolution_ns, measure

xgb = pytest.importorskip("xgboost")

NAMES = ["price ($)", "größe", "a-b", 'q"uote|pipe', "x\ny"]
FAST = ["--batch", "1,7", "--budget", "0.01"]


@pytest.fixture(scope="module")
def unseen_model(tmp_path_factory):
    """An XGBoost regression the rest of the suite never trains, with feature names that are
    not identifiers (spaces, $, non-ASCII, -, quotes, a pipe, a newline)."""
    d = tmp_path_factory.mktemp("bench")
    rng = np.random.default_rng(11)
    X = rng.normal(size=(300, len(NAMES))).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    y = np.nan_to_num(X[:, 0]) * 3 - np.nan_to_num(X[:, 2]) ** 2 + rng.normal(size=300)
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": 3, "nthread": 1, "seed": 3},
                        xgb.DMatrix(X, label=y, feature_names=NAMES), 12)
    path = d / "unseen model.json"
    booster.save_model(str(path))
    return path


def _run(capsys, *argv):
    code = _bench_cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _all_format_names():
    from modelport._bench import _format_entries

    return [label for label, _b, _t in _format_entries(BenchOptions())]


def _check_result(result, formats, batches):
    assert [r["format"] for r in result["formats"]] == formats
    assert result["baseline"]["status"] == "ok" and result["baseline"]["name"].startswith("xgboost")
    for r in result["formats"]:
        assert r["status"] in ("ok", "unavailable", "unsupported", "failed", "parity_failure", "no_runtime"), r
        # modelport's own formats never differ; a third-party backend's difference (onnxmltools adds
        # the intercept after the trees: a few ULP, docs/onnx.md) is reported with its figures.
        assert r["status"] != "parity_failure" or (r["backend"] != "modelport" and r["parity"]), r
        if r["status"] == "ok":
            assert r["parity"]["passed"] is True and r["parity"]["rows"] > 0
            assert sorted(r["throughput"], key=int) == [str(b) for b in batches]
            assert r["latency"]["p50_us"] > 0 and r["latency"]["p50_us"] <= r["latency"]["p99_us"]
            assert len(r["latency"]["quantiles_us"]) == 51
            assert r["artifact_bytes"] > 0 and r["convert_seconds"] > 0 and r["load_seconds"] >= 0
            assert r["memory"]["method"]
            assert set(r["vs_baseline"]) == {"p50_latency", "p99_latency", *(f"time_{b}" for b in batches)}
            assert r["max_abs_diff_vs_baseline"] < 1e-3  # the same model, the same rows
        else:
            assert r["reason"].strip(), r  # listed with the reason, never silently
    settings = result["settings"]
    assert settings["threads"] == 1 and settings["clock_resolution_ns"] >= 1
    assert result["environment"]["machine"]["cores"] >= 1
    assert result["environment"]["versions"]["numpy"] == np.__version__


@pytest.mark.onnx
def test_bench_json_and_reports_on_an_unseen_model(unseen_model, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("matplotlib")
    report = tmp_path / "rep"
    code, out, err = _run(capsys, unseen_model, "--formats", "ir,onnx", *FAST, "--report", report, "--json")
    assert code == 0, err
    result = json.loads(out)
    _check_result(result, ["ir", "onnx"], (1, 7))
    assert [r["status"] for r in result["formats"]] == ["ok", "ok"]
    assert {r["format"] for r in result["formats"]} >= {rec["format"] for rec in result["recommendations"]}
    assert result["recommendations"]
    assert result["model"]["n_features"] == len(NAMES)

    page = (report / "report.html").read_text(encoding="utf-8")
    for plot in ("latency", "throughput", "size", "load"):
        assert re.search(f'id="plot-{plot}"><img alt="{plot} plot" src="data:image/svg\\+xml;base64,', page), plot
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # self-contained
    assert "PASS" in page and "xgboost" in page and result["environment"]["machine"]["cpu"] in page
    md = (report / "report.md").read_text(encoding="utf-8")
    assert "## Parity" in md and "| ir | PASS |" in md and "| onnx | PASS |" in md
    assert "Which format for which need" in md
    assert json.loads((report / "report.json").read_text(encoding="utf-8"))["formats"][1]["format"] == "onnx"


@pytest.mark.slow
def test_bench_every_registered_format(unseen_model, tmp_path, capsys):
    """The acceptance run: every format in the registries gets a row (measured with PASS, or the
    reason it cannot run here), in --json, the table and both reports."""
    pytest.importorskip("matplotlib")
    code, out, err = _run(capsys, unseen_model, *FAST, "--report", tmp_path, "--json")
    assert code == 0, err
    result = json.loads(out)
    names = _all_format_names()
    _check_result(result, names, (1, 7))
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    for name in names:
        assert f"| {name} |" in md and f"<td>{name}</td>" in page


def test_table_lists_unavailable_formats_with_the_reason(unseen_model, capsys, monkeypatch):
    """A target whose toolchain is missing is listed with the install hint, not dropped."""
    from modelport.converters.targets import TARGETS, Target, all_targets
    from modelport.core.toolchains import Toolchain

    all_targets()
    ir = TARGETS.get("ir")
    absent = Toolchain("nope", (("modelport-no-such-compiler",),), "install the nope compiler (apt-get install nope)")
    monkeypatch.setitem(TARGETS._entries, "needs-nope", Target(
        name="needs-nope", extension=".nope", description="test", write=ir.write, runtime="ir", toolchain=(absent,)))
    code, out, err = _run(capsys, unseen_model, "--formats", "needs-nope,ir", *FAST)
    assert code == 0, err
    assert re.search(r"^needs-nope .* UNAVAILABLE", out, re.M)
    assert "needs-nope: unavailable: the needs-nope runtime needs modelport-no-such-compiler on PATH: install the nope " \
           "compiler (apt-get install nope)" in out
    assert re.search(r"^ir +PASS 0 ULP", out, re.M)
    assert re.search(r"^baseline ", out, re.M)
    assert err == ""  # no progress bar when stderr is not a terminal


def test_data_rows_with_hostile_header(unseen_model, tmp_path, capsys):
    import csv

    rows = tmp_path / "rows.csv"
    with open(rows, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(list(reversed(NAMES)))  # any column order: matched by name
        w.writerows([[0.5, -1, 2, "", 1.25], [1, 2, 3, 4, 5]])
    code, out, err = _run(capsys, unseen_model, "--formats", "ir", *FAST, "--data", rows, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["rows"]["source"].startswith(f"2 rows from {rows}") and "(repeated)" in result["rows"]["source"]
    assert result["formats"][0]["parity"]["passed"]


@pytest.mark.parametrize("argv, message", [
    (["--formats", "no-such-format"], "unknown format 'no-such-format'"),
    (["--batch", "0"], "--batch must be positive integers"),
    (["--batch", "a,b"], "--batch must be comma-separated integers"),
    (["--budget", "0"], "--budget must be positive"),
    (["--threads", "0"], "--threads must be at least 1"),
])
def test_bad_options_are_one_line_errors(unseen_model, capsys, argv, message):
    code, out, err = _run(capsys, unseen_model, *argv)
    assert code == 2  # usage errors, as everywhere in the CLI
    assert err.startswith("modelport: error: ") and message in err and err.count("\n") == 1


def test_missing_model_file(tmp_path, capsys):
    code, _out, err = _run(capsys, tmp_path / "nope.json", "--json")
    assert code == 3 and "no such file" in err


def test_run_bench_api_without_reports(unseen_model):
    result = run_bench(unseen_model, BenchOptions(formats=("ir",), batches=(3,), budget=0.01, progress=False))
    _check_result(result, ["ir"], (3,))


# --------------------------------------------------------------------------- timing


def test_short_calls_are_batched_past_the_clock_resolution():
    calls = []
    t = measure(lambda: calls.append(1), budget=0.2, min_samples=5, max_samples=40)
    assert t.calls_per_sample > 1  # a list append is far below 100 clock resolutions
    assert t.n >= 5 and np.all(t.samples > 0)
    # every call is accounted for: the warm-up, the calibration doublings, the samples
    calibration = CALIBRATION_TIMINGS * sum(2 ** i for i in range(t.calls_per_sample.bit_length()))
    assert len(calls) == t.warmup_calls + calibration + t.n * t.calls_per_sample
    assert t.warmup_calls >= 3
    # a sample lasts about 100 clock resolutions or more (the calibration's least disturbed
    # timing passed the floor; a sample may run a little faster than that one)
    assert np.median(t.samples) * t.calls_per_sample * 1e9 >= RESOLUTION_FACTOR * clock_resolution_ns() * 0.5


def test_slow_calls_are_timed_one_by_one_and_stop_at_the_cap():
    import time

    t = measure(lambda: time.sleep(0.002), budget=10, min_samples=3, max_samples=6, round_size=2)
    assert t.calls_per_sample == 1 and t.n <= 6
    assert set(t.summary()) >= {"p50_us", "p95_us", "p99_us", "samples", "calls_per_sample", "stable"}


@pytest.mark.parametrize("n, b", [(1000, 1), (1000, 100), (1000, 300), (50, 40)])
def test_throughput_batches_differ_call_to_call(n, b):
    """A runtime that remembers its last input (the process-based ones do) gets no cache hits."""
    from modelport._bench import _variants

    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    vs = _variants(X, b)
    assert len(vs) >= 2 and all(v.shape == (b, 3) for v in vs)
    assert len({v.tobytes() for v in vs}) == len(vs)


def test_recommendations_follow_the_measurements():
    def row(name, p50, tp, size, passed=True):
        return {"format": name, "status": "ok", "parity": {"passed": passed}, "latency": {"p50_us": p50, "p99_us": p50 * 2},
                "throughput": {"100": {"rows_per_s": tp}}, "load_seconds": size / 1e6, "first_predict_seconds": 0.0,
                "artifact_bytes": size, "memory": {"peak_bytes": size}}

    child = row("child", 500.0, 1.0, 10_000)
    child["memory"] = {"peak_bytes": 0, "child_processes": True}  # its memory is another process's
    result = {"settings": {"batches": [1, 100]},
              "formats": [row("a", 5.0, 10.0, 900), row("b", 50.0, 1e6, 100), row("fast-but-wrong", 0.1, 1e9, 1, False),
                          child, {"format": "c", "status": "unavailable", "reason": "x"}]}
    got = {r["need"]: r["format"] for r in recommend(result)}
    assert got["least memory (in process)"] == "b"
    assert got["online serving, one row per request"] == "a"
    assert got["batch scoring (100-row batches)"] == "b"
    assert got["smallest deployable artifact"] == "b"
    assert "fast-but-wrong" not in got.values()
