"""``modelport.spark``: a Parquet file scored through Spark (local[2]) equals, row for row,
the runtime's own predictions, for the ONNX artifact and every other runtime.

One SparkSession per module (starting one takes 10-30 s); the Spark tests are slow.  The
quick test checks the packing and the per-worker runtime cache without a JVM.
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow", reason="Parquet needs pyarrow (pip install 'modelport[batch]')")
xgb = pytest.importorskip("xgboost", reason="training the test model needs xgboost")

import modelport  # noqa: E402
from modelport import runtimes  # noqa: E402

FEATURES = ["f_a", "f_b", "f_c", "f_d", "f_e"]
# Every runtime that runs in-process and needs no toolchain beyond a C compiler; the
# process-per-batch runtimes (java, javascript, go, rust) work the same way, only slower.
TARGETS = ["onnx", "ir", "c", "python", "pmml", "pfa"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("spark")
    rng = np.random.default_rng(11)
    X = rng.normal(size=(2000, 5)).astype(np.float32)
    y = (X[:, 0] - X[:, 2] * X[:, 3] > 0.1).astype(int)
    b = xgb.train({"objective": "binary:logistic", "max_depth": 4, "seed": 3},
                  xgb.DMatrix(X, y, feature_names=FEATURES), 15)
    b.save_model(str(d / "model.json"))
    data = pd.DataFrame(rng.normal(size=(3000, 5)), columns=FEATURES)
    data.loc[data.index % 13 == 5, "f_c"] = np.nan
    data.insert(0, "id", np.arange(len(data), dtype=np.int64))
    data.to_parquet(d / "rows.parquet")
    return {"dir": d, "model": str(d / "model.json"), "data": data}


def _artifact(trained, target: str) -> str:
    if target == "c" and shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("the C runtime needs a C compiler (cc/gcc)")
    if target == "onnx":
        pytest.importorskip("onnxruntime", reason="the ONNX runtime needs onnxruntime (pip install 'modelport[onnx]')")
    ext = {"onnx": "model.onnx", "ir": "model.ir.json", "pmml": "model.pmml", "pfa": "model.pfa.json"}
    out = trained["dir"] / ext.get(target, f"model_{target}")
    if not out.exists():
        modelport.convert(trained["model"], to=target, out=str(out))
    return str(out)


def test_pack_and_worker_cache_without_spark(trained, tmp_path, monkeypatch):
    from modelport import spark as mspark

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for target in ("ir", "python"):  # a file and a bundle directory
        packed = mspark.pack(_artifact(trained, target))
        mspark._RUNTIMES.pop(packed.sha256, None)
        rt = packed.runtime()
        assert packed.runtime() is rt  # loaded once per worker
        assert str(tmp_path / "cache") in str(packed.materialize())
        X = trained["data"][FEATURES].to_numpy()
        np.testing.assert_array_equal(rt.predict(X), runtimes.load(_artifact(trained, target)).predict(X))
        # the scoring function over pandas batches, as mapInPandas calls it
        names, _ = mspark._columns(rt, "prediction")
        fn = mspark._scorer(packed, FEATURES, "prediction", names, ["id"])
        parts = list(fn(iter([trained["data"].iloc[:100], trained["data"].iloc[100:250]])))
        got = pd.concat(parts)
        assert list(got.columns) == ["id", "prediction"] and got["id"].tolist() == list(range(250))
        np.testing.assert_array_equal(got["prediction"].to_numpy(), rt.predict(X[:250]))


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="modelport.spark needs PySpark (pip install 'modelport[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("PySpark needs Java 17+ (java not found)")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("modelport-tests")
               .config("spark.driver.memory", "1g").config("spark.sql.shuffle.partitions", "2")
               .config("spark.ui.enabled", "false").config("spark.sql.execution.arrow.maxRecordsPerBatch", "1000")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_parquet_through_spark_matches_runtime(spark, trained, target):
    from modelport.spark import score

    art = _artifact(trained, target)
    df = spark.read.parquet(str(trained["dir"] / "rows.parquet"))
    got = score(df, art).toPandas().sort_values("id")
    data = trained["data"]
    assert list(got.columns) == ["id", *FEATURES, "prediction"]
    assert got["id"].tolist() == data["id"].tolist()
    want = runtimes.load(art).predict(data[FEATURES].to_numpy())
    np.testing.assert_array_equal(got["prediction"].to_numpy(np.float32), want)


@pytest.mark.slow
def test_spark_outputs_keep_and_column_udf(spark, trained):
    from modelport.spark import predict_udf, score

    art = _artifact(trained, "onnx")
    rt = runtimes.load(art)
    data = trained["data"]
    X = data[FEATURES].to_numpy()
    shuffled = spark.read.parquet(str(trained["dir"] / "rows.parquet")).select("f_e", "id", "f_c", "f_a", "f_d", "f_b")
    got = score(shuffled, art, output="probabilities", keep=["id"]).toPandas().sort_values("id")
    assert list(got.columns) == ["id", "probabilities_0", "probabilities_1"]
    np.testing.assert_array_equal(got[["probabilities_0", "probabilities_1"]].to_numpy(np.float32),
                                  rt.predict(X, output="probabilities"))
    lab = score(shuffled, art, output="label", keep=["id"]).toPandas().sort_values("id")
    np.testing.assert_array_equal(lab["label"].to_numpy(), rt.predict(X, output="label"))
    col = predict_udf(art)
    got = shuffled.withColumn("p", col()).toPandas().sort_values("id")
    np.testing.assert_array_equal(got["p"].to_numpy(np.float32), rt.predict(X))
    multi = shuffled.withColumn("pr", predict_udf(art, output="probabilities")()).toPandas().sort_values("id")
    np.testing.assert_array_equal(np.stack(multi["pr"].to_numpy()).astype(np.float32),
                                  rt.predict(X, output="probabilities"))


def test_dask_partitions_match_runtime(trained):
    dd = pytest.importorskip("dask.dataframe", reason="modelport.dask needs Dask (pip install 'modelport[dask]')")
    from modelport.dask import score

    art = _artifact(trained, "ir")
    data = trained["data"]
    ddf = dd.read_parquet(str(trained["dir"] / "rows.parquet")).repartition(npartitions=4)
    got = score(ddf, art, keep=["id"]).compute(scheduler="threads")
    assert list(got.columns) == ["id", "prediction"] and got["id"].tolist() == data["id"].tolist()
    np.testing.assert_array_equal(got["prediction"].to_numpy(), runtimes.load(art).predict(data[FEATURES].to_numpy()))
    lab = score(ddf, art, output="probabilities").compute(scheduler="threads")
    np.testing.assert_array_equal(lab[["probabilities_0", "probabilities_1"]].to_numpy(),
                                  runtimes.load(art).predict(data[FEATURES].to_numpy(), output="probabilities"))
