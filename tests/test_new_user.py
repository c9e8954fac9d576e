"""What a new user hit (conflicting options, output paths, exit codes, messages), each pinned
by a test that failed before the fix."""

from __future__ import annotations

import json

import numpy as np
import pytest

import modelport
from test_cli import assert_one_line_error, run


@pytest.fixture(scope="module")
def model_json(tmp_path_factory):
    xgb = pytest.importorskip("xgboost")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "seed": 0}, xgb.DMatrix(X, label=y), 5)
    path = tmp_path_factory.mktemp("nu") / "model.json"
    booster.save_model(str(path))
    return path


def test_iteration_end_zero_is_refused(model_json, tmp_path):
    """Item 3: XGBoost reads iteration_range=(0, 0) as every round; 0 kept no tree here."""
    p = run("convert", model_json, "--to", "ir", "-o", tmp_path / "m.ir.json", "--iteration-end", "0")
    assert_one_line_error(p, 2, "keeps no round")
    assert list(tmp_path.iterdir()) == []


def test_output_path_ending_in_a_separator_is_a_directory(model_json, tmp_path):
    """Item 4: `-o out/` wrote a FILE called out."""
    out = tmp_path / "out"
    p = run("convert", model_json, "--to", "ir", "-o", str(out) + "/")
    assert p.returncode == 0, p.stderr
    assert out.is_dir() and (out / "model.ir.json").is_file()
    # an existing directory receives the artifact too
    p = run("convert", model_json, "--to", "onnx", "-o", out)
    assert p.returncode == 0, p.stderr
    assert (out / "model.onnx").is_file()


def test_existing_output_is_refused_unless_force(model_json, tmp_path):
    """Item 5: model.json and model.ubj both write model.onnx; the second overwrote silently."""
    out = tmp_path / "m.ir.json"
    assert run("convert", model_json, "--to", "ir", "-o", out).returncode == 0
    before = out.read_bytes()
    out.write_bytes(b"user's own file")
    assert_one_line_error(run("convert", model_json, "--to", "ir", "-o", out), 3, "--force")
    assert out.read_bytes() == b"user's own file"
    assert run("convert", model_json, "--to", "ir", "-o", out, "--force").returncode == 0
    assert out.read_bytes() == before


@pytest.mark.parametrize("flags,match", [
    (("--best-iteration", "--iteration-end", "2"), "not allowed with"),
    (("--no-verify", "--data", "rows.csv"), "--data rows are for verification"),
    (("--data", "a.csv", "--data", "b.csv"), "--data given twice"),
    (("--missing", "1", "--missing", "2"), "--missing given twice"),
    (("--best-iteration", "--all-rounds"), "not allowed with"),
])
def test_conflicting_or_repeated_options_are_refused(model_json, tmp_path, flags, match):
    """Item 6: these were accepted silently (the last one won, or one was ignored)."""
    p = run("convert", model_json, "--to", "ir", "-o", tmp_path / "m.ir.json", *flags)
    assert_one_line_error(p, 2, match)


def test_usage_errors_answer_in_json_too(model_json):
    """Item 7: with --json, a usage error printed nothing on stdout."""
    p = run("convert", model_json, "--to", "nope", "--json")
    assert p.returncode == 2
    doc = json.loads(p.stdout)
    assert doc["exit_code"] == 2 and "nope" in doc["error"]


@pytest.mark.parametrize("args", [
    ("convert", "{m}", "--to", "onnx", "--backend", "nope"),
    ("convert", "{m}", "--to", "ir", "--backend", "onnxmltools"),
    ("inspect", "{m}", "--iteration-end", "-3"),
    ("convert", "{m}", "--to", "nope"),
])
def test_usage_errors_exit_2_everywhere(model_json, args):
    """Item 8: an unknown --backend and a negative --iteration-end exited 3."""
    p = run(*[a.format(m=model_json) for a in args])
    assert_one_line_error(p, 2)


def test_csv_with_a_pandas_index_says_so(model_json, tmp_path):
    """Item 10: 'header does not match ... (unknown: )' for a CSV written with its index."""
    csv = tmp_path / "rows.csv"
    csv.write_text(",f0,f1,f2,f3\n0,1,2,3,4\n", encoding="utf-8")
    p = run("verify", model_json, model_json, "--data", csv)  # the data error comes first
    assert_one_line_error(p, 3, "index")


def test_convert_report_names_the_published_artifact(model_json, tmp_path):
    """Item 12: report.artifact pointed at a deleted staging path; LoadOptions was not importable."""
    res = modelport.convert(model_json, to="onnx", out=tmp_path / "m.onnx")
    assert res.report.artifact == str(tmp_path / "m.onnx")
    assert res.report.margin is None or res.report.margin.artifact == str(tmp_path / "m.onnx")
    from modelport import LoadOptions

    assert LoadOptions().missing is None


def test_data_rows_are_numbered_from_the_users_file(model_json, tmp_path):
    """Item 14: the user's first --data row was reported as 'row 2550'."""
    from modelport._verify import compare
    from modelport.core.ir.model import Task

    rep = compare(np.zeros((5, 1)), np.array([[0], [0], [0], [0], [1.0]]), task=Task.REGRESSION).numbered_from(3)
    assert rep.differing_rows == (4,)
    assert rep.row_label(4) == "data row 2" and rep.row_label(1) == "probe row 1"
    # and through the API: a verify with --data reports where the user's rows start
    csv = tmp_path / "rows.csv"
    csv.write_text("0,0,0,0\n1,1,1,1\n", encoding="utf-8")
    out = tmp_path / "m.onnx"
    modelport.convert(model_json, to="onnx", out=out)
    report = modelport.verify(model_json, out, data=csv)
    assert report.data_start == report.n_rows - 2


@pytest.fixture(scope="module")
def early_stopped_sklearn(tmp_path_factory):
    """An XGBRegressor saved after early stopping: it records best_iteration and a
    scikit_learn attribute; its predict uses best_iteration, Booster.predict every round."""
    xgb = pytest.importorskip("xgboost")
    rng = np.random.default_rng(11)
    X = rng.normal(size=(600, 5))
    y = 10 * X[:, 0] + 5 * np.sin(3 * X[:, 1]) + rng.normal(scale=3.0, size=600)
    Xv = rng.normal(size=(200, 5))
    yv = 10 * Xv[:, 0] + 5 * np.sin(3 * Xv[:, 1]) + rng.normal(scale=3.0, size=200)
    reg = xgb.XGBRegressor(n_estimators=300, max_depth=6, learning_rate=0.3, early_stopping_rounds=5, random_state=0)
    reg.fit(X, y, eval_set=[(Xv, yv)], verbose=False)
    assert reg.best_iteration < 299  # early stopping happened
    path = tmp_path_factory.mktemp("es") / "reg.json"
    reg.save_model(str(path))
    return reg, path, rng.normal(size=(300, 5)).astype(np.float32)


def test_sklearn_wrapper_early_stopping_converts_what_its_predict_does(early_stopped_sklearn, tmp_path):
    """Item 1: every tree was converted by default and reported PASS, while the user's own
    XGBRegressor.predict differed by 27.5."""
    reg, path, X = early_stopped_sklearn
    out = tmp_path / "reg.onnx"
    p = run("convert", path, "--to", "onnx", "-o", out)
    assert p.returncode == 0, p.stderr
    kept = reg.best_iteration + 1
    assert f"kept {kept} of " in p.stdout  # convert says which rounds were kept
    got = modelport.runtimes.load(out).predict(X)
    assert np.array_equal(got, reg.predict(X).astype(np.float32))  # no flag needed
    all_rounds = reg.get_booster().predict(__import__("xgboost").DMatrix(X))
    assert not np.allclose(got, all_rounds)  # the trap is real for this model
    info = json.loads(run("inspect", path, "--json").stdout)
    assert info["rounds_kept"] == kept and "best_iteration" in info["rounds"]
    # explicitly keeping every round gives Booster.predict
    out_all = tmp_path / "all.onnx"
    assert run("convert", path, "--to", "onnx", "-o", out_all, "--all-rounds").returncode == 0
    assert np.array_equal(modelport.runtimes.load(out_all).predict(X), all_rounds.astype(np.float32))


def test_reading_options_are_recorded_and_used_by_verify(model_json, tmp_path):
    """Item 2: an artifact converted with --missing -999 verified without it as PASS although
    rows holding -999 differ; now verify applies the recorded sentinel and refuses a conflict."""
    out = tmp_path / "m.onnx"
    assert run("convert", model_json, "--to", "onnx", "-o", out, "--missing", "-999").returncode == 0
    meta = modelport.runtimes.load(out).signature.metadata
    assert float(meta["modelport.missing"]) == -999.0
    csv = tmp_path / "rows.csv"
    csv.write_text("-999,1,2,3\n0.5,-999,-999,1\n", encoding="utf-8")
    assert run("verify", model_json, out, "--data", csv).returncode == 0
    assert_one_line_error(run("verify", model_json, out, "--missing", "0"), 2, "conflicts")
    report = modelport.verify(model_json, out, data=csv)
    assert report.passed


def test_onnxmltools_backend_converts_a_model_trained_from_a_dataframe(tmp_path):
    """Item 11: 'feature names should follow pattern f%d' for any model trained from a
    DataFrame; the converter now sees f0.. and the artifact keeps the real names."""
    pytest.importorskip("onnxmltools")
    xgb = pytest.importorskip("xgboost")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(5)
    df = pd.DataFrame(rng.normal(size=(200, 3)), columns=["price", "size m2", "age"])
    reg = xgb.XGBRegressor(n_estimators=5, max_depth=3).fit(df, df["price"] * 2 + df["age"])
    path = tmp_path / "df.json"
    reg.save_model(str(path))
    out = tmp_path / "df.onnx"
    p = run("convert", path, "--to", "onnx", "--backend", "onnxmltools", "-o", out)
    assert "feature names should follow pattern" not in p.stderr
    assert out.exists() or (tmp_path / "df.onnx.unverified").exists(), p.stderr  # converted (a 1-ULP offset may fail verify)
    art = out if out.exists() else tmp_path / "df.onnx.unverified"
    rt = modelport.runtimes.load(art)
    assert rt.signature.feature_names == ["price", "size m2", "age"]


def test_runtime_inputs_a_service_sends(model_json, tmp_path, caplog):
    """Item 13: a pd.Series row was refused, an extra id column was an error, category names
    were 'not a number', and a one-row DataFrame went column by column."""
    pd = pytest.importorskip("pandas")
    out = tmp_path / "m.onnx"
    modelport.convert(model_json, to="onnx", out=out)
    rt = modelport.runtimes.load(out)
    row = np.array([[0.1, -0.2, 0.3, 0.4]], dtype=np.float32)
    want = rt.predict(row)
    names = rt.signature.feature_names
    series = pd.Series(row[0], index=names)
    assert np.array_equal(rt.predict(series), want)
    with_id = pd.DataFrame(row, columns=names).assign(id=[7])
    assert np.array_equal(rt.predict(with_id), want)  # the id column is ignored...
    said = [r.getMessage() for r in caplog.records if "ignoring column" in r.getMessage()]
    assert len(said) == 1 and "'id'" in said[0]  # ...and said once
    assert np.array_equal(rt.predict([{**dict(zip(names, row[0].tolist(), strict=True)), "id": 1}]), want)


def test_category_names_are_accepted_where_the_artifact_knows_them():
    from modelport.core.contract import FeatureSpec
    from modelport.core.errors import InputDataError
    from modelport.runtimes._coerce import coerce_input

    feats = (FeatureSpec("x"), FeatureSpec("c", "categorical", ("low", "vhigh")))
    assert coerce_input([{"x": 1.5, "c": "vhigh"}], feats).tolist() == [[1.5, 1.0]]
    assert coerce_input([[2.0, "low"]], feats).tolist() == [[2.0, 0.0]]
    with pytest.raises(InputDataError, match="category 'medium' was not seen in training"):
        coerce_input([{"x": 1.5, "c": "medium"}], feats)
    with pytest.raises(InputDataError, match="'vhigh' is not a number"):
        coerce_input([{"x": "vhigh", "c": "low"}], feats)  # a numeric feature still refuses text


def test_third_party_output_is_captured(tmp_path):
    """Item 9: onnxruntime's coloured VerifyOutputSizes warnings (LightGBM classifiers through
    onnxmltools), scikit-learn's 'X does not have valid feature names' three times, and a 2 KB
    line with XGBoost's C++ stack trace reached the user's terminal; stderr is modelport's own
    one-line messages only."""
    pytest.importorskip("onnxmltools")
    lgb = pytest.importorskip("lightgbm")
    pd = pytest.importorskip("pandas")
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
    y = (X["a"] + X["b"] > 0).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7}, lgb.Dataset(X, y), 5)
    lgb_path = tmp_path / "lgb.txt"
    booster.save_model(str(lgb_path))
    import pickle

    skl_path = tmp_path / "rf.pkl"
    skl_path.write_bytes(pickle.dumps(RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)))
    for path, extra in ((lgb_path, ()), (skl_path, ("--trust-pickle",))):
        p = run("convert", path, "--to", "onnx", "--backend", "onnxmltools", "-o", tmp_path / f"{path.stem}.onnx", *extra)
        foreign = [line for line in p.stderr.splitlines() if line.strip() and not line.startswith("modelport: ")]
        assert foreign == [], (path.name, foreign)
        assert all(len(line) < 1000 for line in p.stderr.splitlines()), path.name


def test_numeric_dataframes_convert_in_one_block(monkeypatch):
    """Item 13: a one-row DataFrame took 1.8 ms against 36 µs for a numpy row because every
    column went through its own per-series conversion; plain numeric frames now convert as
    one block (the per-column path is kept for categories and object columns)."""
    pd = pytest.importorskip("pandas")
    from modelport.core.contract import FeatureSpec
    from modelport.runtimes import _coerce

    def per_column(*_a, **_k):
        raise AssertionError("a plain numeric frame went column by column")

    monkeypatch.setattr(_coerce, "_series_to_float64", per_column)
    feats = tuple(FeatureSpec(n) for n in ("a", "b", "c"))
    df = pd.DataFrame({"c": [3.0], "a": [1], "b": [np.float32(2.5)]})
    assert _coerce.coerce_input(df, feats).tolist() == [[1.0, 2.5, 3.0]]
