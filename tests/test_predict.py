"""``modelport predict``: files in, one prediction per row out, equal to the runtime's own.

The quick tests call the command in this process (one worker); the million-row tests run it
in a subprocess with every core and read its peak memory through RUSAGE_CHILDREN.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("onnxruntime", reason="the ONNX runtime needs onnxruntime (pip install 'modelport[onnx]')")
xgb = pytest.importorskip("xgboost", reason="training the test model needs xgboost")

from modelport import runtimes  # noqa: E402
from modelport._predict import main  # noqa: E402

FEATURES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import modelport

    d = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(7)
    X = rng.normal(size=(3000, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    b = xgb.train({"objective": "binary:logistic", "max_depth": 4, "seed": 1},
                  xgb.DMatrix(X, y, feature_names=FEATURES), 25)
    b.save_model(str(d / "model.json"))
    onnx = modelport.convert(str(d / "model.json"), to="onnx", out=str(d / "model.onnx")).path
    return {"dir": d, "json": str(d / "model.json"), "onnx": str(onnx), "rt": runtimes.load(onnx)}


def _frame(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 4)).round(6), columns=FEATURES)
    df.loc[df.index % 17 == 3, "b"] = np.nan  # missing values follow the trees' default direction
    df.insert(0, "id", [f"r{i:07d}" for i in range(n)])
    return df


def _run(*argv) -> int:
    return main([str(a) for a in argv])


def test_csv_with_header_keeps_columns_and_matches_runtime(models, tmp_path, capsys):
    df = _frame(5000)
    src = tmp_path / "in.csv"
    df[["id", "d", "c", "b", "a"]].to_csv(src, index=False)  # header order differs from the model's
    out = tmp_path / "out.csv"
    assert _run(models["onnx"], src, "-o", out, "--keep", "id", "--json", "--chunk-rows", "700") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 5000 and summary["errors"] == 0 and summary["rows_per_second"] > 0
    got = pd.read_csv(out, dtype={"id": str})
    assert list(got.columns) == ["id", "prediction"]
    assert (got["id"] == df["id"]).all()
    want = models["rt"].predict(df[FEATURES].to_numpy())
    np.testing.assert_array_equal(got["prediction"].to_numpy(np.float32), want)


def test_headerless_csv_parquet_jsonl_and_outputs(models, tmp_path):
    df = _frame(1200, seed=1)
    X = df[FEATURES].to_numpy()
    rt = models["rt"]
    df[FEATURES].to_csv(tmp_path / "nh.csv", index=False, header=False)
    df.to_parquet(tmp_path / "in.parquet")
    df.to_json(tmp_path / "in.jsonl", orient="records", lines=True)
    assert _run(models["onnx"], tmp_path / "nh.csv", "-o", tmp_path / "a.parquet", "--output", "label") == 0
    np.testing.assert_array_equal(pd.read_parquet(tmp_path / "a.parquet")["label"], rt.predict(X, output="label"))
    assert _run(models["onnx"], tmp_path / "in.parquet", "-o", tmp_path / "b.jsonl", "--output", "probabilities",
                "--keep", "id", "--chunk-rows", "500") == 0
    got = pd.read_json(tmp_path / "b.jsonl", lines=True, dtype={"id": str})
    assert list(got.columns) == ["id", "probabilities_0", "probabilities_1"]
    np.testing.assert_array_equal(got[["probabilities_0", "probabilities_1"]].to_numpy(np.float32),
                                  rt.predict(X, output="probabilities"))
    assert _run(models["onnx"], tmp_path / "in.jsonl", "-o", tmp_path / "c.csv", "--output", "margin") == 0
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "c.csv")["margin"].to_numpy(np.float32),
                                  rt.predict(X, output="margin"))


def test_directory_glob_and_stdin_keep_order(models, tmp_path):
    df = _frame(900, seed=2)
    d = tmp_path / "parts"
    d.mkdir()
    for k in range(3):
        df.iloc[k * 300:(k + 1) * 300].to_csv(d / f"part-{k}.csv", index=False)
    want = models["rt"].predict(df[FEATURES].to_numpy())
    for spec in (d, str(d / "part-*.csv")):
        assert _run(models["onnx"], spec, "-o", tmp_path / "o.csv", "--keep", "id") == 0
        got = pd.read_csv(tmp_path / "o.csv", dtype={"id": str})
        assert (got["id"] == df["id"]).all()
        np.testing.assert_array_equal(got["prediction"].to_numpy(np.float32), want)
    res = subprocess.run([sys.executable, "-m", "modelport._predict", models["onnx"], "-", "-o", str(tmp_path / "s.csv")],
                         input=(d / "part-1.csv").read_bytes(), capture_output=True, check=True)
    assert not res.stderr.strip() or b"error" not in res.stderr
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "s.csv")["prediction"].to_numpy(np.float32), want[300:600])


def test_bad_rows_fail_with_file_and_line_or_go_to_rejects(models, tmp_path, capsys):
    src = tmp_path / "bad.csv"
    src.write_text("id,a,b,c,d\n1,0.5,1,2,3\n2,0.5,oops,2,3\n3,0.5,1,2\n4,1,,2,3\n")
    out = tmp_path / "out.csv"
    assert _run(models["onnx"], src, "-o", out, "--keep", "id") == 3
    err = capsys.readouterr().err.strip()
    assert err == f"modelport: error: {src}, line 3: b: 'oops' is not a number"
    assert not out.exists()  # nothing half-written
    assert _run(models["onnx"], src, "-o", out, "--keep", "id", "--on-error", "skip", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 2 and summary["errors"] == 2
    assert pd.read_csv(out)["id"].tolist() == [1, 4]
    rejects = pd.read_csv(str(out) + ".rejects.csv")
    assert rejects["line"].tolist() == [3, 4]
    assert rejects["error"].tolist() == ["b: 'oops' is not a number", "4 fields, expected 5"]


def test_bad_jsonl_and_missing_header_column(models, tmp_path, capsys):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"a": 1, "b": 2, "c": 3, "d": 4}\n{"a": 1, "b": 2, "c": 3}\n')
    assert _run(models["onnx"], src, "-o", tmp_path / "o.csv") == 3
    assert capsys.readouterr().err.strip().endswith("bad.jsonl, line 2: no key 'd'")
    (tmp_path / "h.csv").write_text("a,b,c\n1,2,3\n")
    assert _run(models["onnx"], tmp_path / "h.csv", "-o", tmp_path / "o.csv") == 3
    assert "lacks feature column(s) 'd'" in capsys.readouterr().err
    assert _run(models["onnx"], tmp_path / "h.csv", "-o", tmp_path / "o.txt") == 2


def test_a_model_file_is_converted_and_verified_first(models, tmp_path):
    df = _frame(400, seed=3)
    df.to_csv(tmp_path / "in.csv", index=False)
    assert _run(models["json"], tmp_path / "in.csv", "-o", tmp_path / "o.csv") == 0
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "o.csv")["prediction"].to_numpy(np.float32),
                                  models["rt"].predict(df[FEATURES].to_numpy()))


def test_worker_processes_keep_the_input_order(models, tmp_path):
    df = _frame(6000, seed=4)
    df.to_parquet(tmp_path / "in.parquet", row_group_size=700)  # workers read the row groups themselves
    subprocess.run([sys.executable, "-m", "modelport._predict", models["onnx"], str(tmp_path / "in.parquet"), "-o",
                    str(tmp_path / "o.parquet"), "--workers", "2", "--chunk-rows", "500", "--keep", "id"], check=True)
    got = pd.read_parquet(tmp_path / "o.parquet")
    assert (got["id"] == df["id"]).all()
    np.testing.assert_array_equal(got["prediction"].to_numpy(), models["rt"].predict(df[FEATURES].to_numpy()))


# --------------------------------------------------------------------------- a million rows

_MEASURE = textwrap.dedent("""
    import json, resource, subprocess, sys
    res = subprocess.run([sys.executable, "-m", "modelport._predict", *sys.argv[1:], "--json"], check=True,
                         capture_output=True, text=True)
    workers = json.loads(res.stdout)["peak_worker_rss_mb"] * 1024  # forkserver workers are not our children
    print(max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, workers))
""")


def _peak_kb(*argv) -> int:
    """Peak RSS (KiB) of the command (from a fresh parent) and of its largest worker."""
    res = subprocess.run([sys.executable, "-c", _MEASURE, *map(str, argv)], capture_output=True, text=True, check=True)
    return int(float(res.stdout.split()[-1]))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_million_rows_match_runtime_with_bounded_memory(models, tmp_path, fmt):
    big = _frame(1_000_000, seed=5)
    small = big.iloc[:200_000]
    for name, df in (("small", small), ("big", big)):
        if fmt == "csv":
            df.to_csv(tmp_path / f"{name}.csv", index=False)
        else:
            df.to_parquet(tmp_path / f"{name}.parquet", row_group_size=100_000)
    peak = {}
    for name in ("small", "big"):
        peak[name] = _peak_kb(models["onnx"], tmp_path / f"{name}.{fmt}", "-o", tmp_path / f"{name}.out.parquet",
                              "--keep", "id", "--workers", "2")
    got = pd.read_parquet(tmp_path / "big.out.parquet")
    assert len(got) == 1_000_000 and (got["id"] == big["id"]).all()
    np.testing.assert_array_equal(got["prediction"].to_numpy(), models["rt"].predict(big[FEATURES].to_numpy()))
    # 5x the rows, about the same peak: chunks are bounded, nothing accumulates
    assert peak["big"] < peak["small"] * 1.25 + 40_000, peak
    assert peak["big"] < 700_000, peak


# --------------------------------------------------------------------------- workers = one process

def _predict_subprocess(*argv) -> None:
    subprocess.run([sys.executable, "-m", "modelport._predict", *map(str, argv)], check=True, capture_output=True)


@pytest.mark.parametrize("out_ext", ["csv", "jsonl", "parquet"])
def test_two_workers_write_the_same_bytes_as_one(models, tmp_path, out_ext):
    """Chunks that split the input mid-way (500 rows per chunk, row groups of 700, a CSV
    with bad rows on both sides of a chunk boundary): two workers, each parsing and
    formatting its own chunks, write exactly what one process writes, rejects included."""
    df = _frame(3100, seed=6)
    df.to_parquet(tmp_path / "in.parquet", row_group_size=700)
    lines = df.to_csv(index=False, lineterminator="\n").splitlines(keepends=True)
    lines[500] = "bad,1,2\n"  # the last line of the first chunk (line 501)
    lines[501] = "r9,1,x,2,3\n"  # the first line of the second one
    lines[2000] = lines[2000].replace(",", ";", 1)
    (tmp_path / "in.csv").write_text("".join(lines).rstrip("\n"))  # no newline at the end
    want = models["rt"].predict(df[FEATURES].to_numpy())
    for src in ("in.parquet", "in.csv"):
        outs = []
        for workers in (1, 2):
            out = tmp_path / f"{src}.{workers}.{out_ext}"
            argv = (models["onnx"], tmp_path / src, "-o", out, "--workers", workers, "--chunk-rows", 500,
                    "--keep", "id", "--on-error", "skip")
            if workers == 1:
                assert _run(*argv) == 0
            else:
                _predict_subprocess(*argv)  # worker processes: started from a real __main__
            rejects = tmp_path / f"{out.name}.rejects.csv"
            outs.append((out.read_bytes(), rejects.read_text() if rejects.exists() else None))
        assert outs[0] == outs[1], src
        good = np.ones(len(df), dtype=bool)
        if src == "in.csv":
            rej = pd.read_csv(tmp_path / f"{src}.1.{out_ext}.rejects.csv")
            assert rej["line"].tolist() == [501, 502, 2001]
            good[[499, 500, 1999]] = False
        else:
            assert outs[0][1] is None
        got = (pd.read_parquet(tmp_path / f"{src}.1.{out_ext}") if out_ext == "parquet" else
               pd.read_csv(tmp_path / f"{src}.1.{out_ext}", dtype={"id": str}) if out_ext == "csv" else
               pd.read_json(tmp_path / f"{src}.1.{out_ext}", lines=True, dtype={"id": str}))
        assert got["id"].tolist() == df["id"][good].tolist()
        np.testing.assert_array_equal(got["prediction"].to_numpy(np.float32), want[good])


def test_line_blocks_cut_like_iterating_lines():
    """Reading blocks and cutting them at the N-th newline gives the chunks (and line
    counts) that iterating the file line by line gave, for every chunk size and ending."""
    import io
    import itertools

    from modelport._batch_io import _line_blocks

    def by_lines(data: bytes, rows: int) -> list[tuple[bytes, int]]:
        it, out = iter(io.BytesIO(data)), []
        while block := list(itertools.islice(it, rows)):
            block[-1] += b"" if block[-1].endswith(b"\n") else b"\n"
            out.append((b"".join(block), len(block)))
        return out

    rng = np.random.default_rng(3)
    for _ in range(400):
        lines = [bytes(rng.choice(list(b"ab,\r"), size=rng.integers(0, 6))) for _ in range(rng.integers(0, 25))]
        data = b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")
        rows = int(rng.integers(1, 9))
        assert list(_line_blocks(io.BytesIO(data), rows)) == by_lines(data, rows), (data, rows)


def test_large_row_groups_are_shared_between_workers(models, tmp_path):
    """Row groups far larger than a chunk (pyarrow's default is 1Mi rows) are cut into row
    ranges the workers stream themselves; in one process they are streamed in batches:
    the same rows, in order, either way, with small groups mixed in."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from modelport._batch_io import open_layout, parse_chunk, read_chunks

    df = _frame(5000, seed=8)
    path = tmp_path / "big-groups.parquet"
    table = pa.Table.from_pandas(df, preserve_index=False)
    with pq.ParquetWriter(path, table.schema) as w:
        w.write_table(table.slice(0, 3000), row_group_size=3000)  # > 4 x 100 rows: cut into ranges
        w.write_table(table.slice(3000, 250), row_group_size=250)  # small groups: joined
        w.write_table(table.slice(3250, 1750), row_group_size=1750)
    want = df[FEATURES].to_numpy()
    for split in (True, False):
        layout, handle = open_layout(str(path), FEATURES, ["id"])
        chunks = list(read_chunks(layout, handle, rows=100, features=FEATURES, keep=["id"], split=split))
        if split:
            assert [c.row_range for c in chunks[:3]] == [(0, 400), (400, 800), (800, 1200)]
        parsed = [parse_chunk(c, features=FEATURES, keep=["id"], on_error="fail") for c in chunks]
        assert [c.first for c in chunks] == list(np.cumsum([0] + [len(p[0]) for p in parsed[:-1]]) + 1)
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parsed]), want)
        assert np.concatenate([p[1]["id"] for p in parsed]).tolist() == df["id"].tolist()
    out = tmp_path / "o.csv"
    _predict_subprocess(models["onnx"], path, "-o", out, "--workers", 2, "--chunk-rows", 100, "--keep", "id")
    got = pd.read_csv(out, dtype={"id": str})
    assert got["id"].tolist() == df["id"].tolist()
    np.testing.assert_array_equal(got["prediction"].to_numpy(np.float32), models["rt"].predict(want))
