"""``modelport.spark``: a Parquet file scored through Spark (local[2]) equals, row for row,
the runtime's own predictions, for the ONNX artifact and every other registered runtime.

The runtimes come from the registries (``modelport.runtimes.all_runtimes()``, each with the
target that writes its artifacts), so a runtime added later gets its Spark cell without an
edit here.  A runtime whose toolchain or package is missing skips with the reason, except under
CI (``CI=true``), where every toolchain is installed and a skip would hide a cell: it fails.

One SparkSession per module (starting one takes 10-30 s), started with the Spark Connect
plugin when the Connect client's packages are present, so the Connect test reuses its JVM.
The Spark tests are slow; the quick tests check the packing, the per-worker runtime cache
and concurrent builds without a JVM.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

if os.environ.get("CI") == "true":  # CI installs them all: a missing one is an error, not a skip
    import pandas as pd
    import pyarrow  # noqa: F401
    import xgboost as xgb
else:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow (pip install 'modelport[batch]')")
    xgb = pytest.importorskip("xgboost", reason="training the test model needs xgboost")

import modelport  # noqa: E402
from modelport import runtimes  # noqa: E402
from modelport.converters.targets import all_targets  # noqa: E402
from modelport.core.errors import MissingDependencyError  # noqa: E402

FEATURES = ["f_a", "f_b", "f_c", "f_d", "f_e"]
IN_CI = os.environ.get("CI") == "true"


def _runtime_targets() -> list[tuple[str, str | None]]:
    """(runtime, the first target writing its artifacts) for every registered runtime."""
    targets = all_targets()
    out = []
    for name in runtimes.all_runtimes().names():
        writers = [t.name for _n, t in targets.items() if t.runtime == name]
        out.append((name, writers[0] if writers else None))
    return out


RUNTIME_TARGETS = _runtime_targets()
BUNDLE_RUNTIMES = [rt for rt, t in RUNTIME_TARGETS if t is not None and all_targets().get(t).is_bundle]


def _missing(reason: str) -> None:
    """Skip for a tool a user may lack; under CI (every toolchain installed) fail instead."""
    if IN_CI:
        pytest.fail(f"missing under CI (CI=true installs every toolchain and package): {reason}")
    pytest.skip(reason)


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
    (d / "rows.parquet").mkdir()  # two files: two partitions, two workers scoring at once
    data.iloc[:1500].to_parquet(d / "rows.parquet" / "part-0.parquet")
    data.iloc[1500:].to_parquet(d / "rows.parquet" / "part-1.parquet")
    return {"dir": d, "model": str(d / "model.json"), "data": data}


def _artifact(trained, target_name: str) -> str:
    """The test model converted (and verified) to ``target_name``, once per module."""
    target = all_targets().get(target_name)
    for tool in target.toolchain:
        if not tool.available():
            _missing(f"the {target_name} runtime needs toolchain {tool.name}: {tool.install}")
    out = trained["dir"] / f"model{target.extension}"
    if not out.exists():
        try:
            modelport.convert(trained["model"], to=target_name, out=str(out))
        except MissingDependencyError as exc:
            _missing(str(exc))
    return str(out)


def _fresh_cache(root) -> str:
    """An empty modelport cache under ``root`` sharing only Go's own build cache with the
    default one (Go's cache is safe across processes; a cold one recompiles the standard
    library, ~30 s, which would test Go rather than modelport)."""
    from modelport.runtimes.native._harness import cache_root

    shared = cache_root() / "go-toolchain"
    shared.mkdir(parents=True, exist_ok=True)
    (root / "modelport").mkdir(parents=True, exist_ok=True)
    (root / "modelport" / "go-toolchain").symlink_to(shared, target_is_directory=True)
    return str(root)


def test_every_registered_runtime_has_a_spark_cell():
    """Each registered runtime has a target writing its artifacts (else its Spark cell below
    cannot build an artifact: teach ``_artifact`` how to make one)."""
    names = [rt for rt, _t in RUNTIME_TARGETS]
    assert names == list(runtimes.all_runtimes().names()) and "onnx" in names
    assert [rt for rt, t in RUNTIME_TARGETS if t is None] == []


def test_pack_and_worker_cache_without_spark(trained, tmp_path, monkeypatch):
    from modelport import spark as mspark

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for target in ("ir", "c"):  # a file and a bundle directory
        packed = mspark.pack(_artifact(trained, target))
        assert packed.bundle == all_targets().get(target).is_bundle
        mspark._RUNTIMES.pop(packed.sha256, None)
        rt = packed.runtime()
        assert packed.runtime() is rt  # loaded once per worker
        assert str(tmp_path / "cache") in str(packed.materialize())
        if target == "c":
            assert rt.threads == 1  # WORKER_OPTIONS: one scoring thread per Spark task
        X = trained["data"][FEATURES].to_numpy()
        np.testing.assert_array_equal(rt.predict(X), runtimes.load(_artifact(trained, target)).predict(X))
        # the scoring function over pandas batches, as mapInPandas calls it
        names, _ = mspark._columns(rt, "prediction")
        fn = mspark._scorer(packed, FEATURES, "prediction", names, ["id"])
        parts = list(fn(iter([trained["data"].iloc[:100], trained["data"].iloc[100:250]])))
        got = pd.concat(parts)
        assert list(got.columns) == ["id", "prediction"] and got["id"].tolist() == list(range(250))
        np.testing.assert_array_equal(got["prediction"].to_numpy(), rt.predict(X[:250]))
    leftovers = [p.name for p in (tmp_path / "cache").rglob(".unpack-*")]
    assert leftovers == []


def test_process_runtimes_get_consecutive_batches_joined():
    """score() gathers Arrow batches into calls of PROCESS_ROWS_PER_CALL rows for runtimes
    that start a process per call, in order, and leaves in-process runtimes one call per batch."""
    from modelport import spark as mspark
    from modelport.runtimes.native._harness import ProcessRuntime

    data = pd.DataFrame({"id": np.arange(280)})
    batches = [data.iloc[:100], data.iloc[100:250], data.iloc[250:]]
    joined = list(mspark._grouped(iter(batches), 200))
    assert [len(b) for b in joined] == [250, 30]
    assert pd.concat(joined)["id"].tolist() == data["id"].tolist()
    assert [len(b) for b in mspark._grouped(iter(batches), 0)] == [100, 150, 30]
    assert mspark._rows_per_call(object.__new__(ProcessRuntime)) == mspark.PROCESS_ROWS_PER_CALL > 10_000
    assert mspark._rows_per_call(object()) == 0


def _worker_load(packed, X, barrier, queue) -> None:  # runs in a forked process, as a Spark worker
    try:
        barrier.wait(timeout=60)
        queue.put(("ok", packed.runtime().predict(X).tobytes()))
    except BaseException as exc:  # reported to the parent, which fails the test
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


@pytest.mark.slow
@pytest.mark.parametrize("runtime_name", BUNDLE_RUNTIMES)
def test_two_workers_unpack_and_build_at_once(trained, tmp_path, monkeypatch, runtime_name):
    """Two worker processes released at the same instant on an empty cache both unpack the
    bundle and build its program; both score correctly and the cache holds one complete copy
    of each, no temporary leftovers."""
    from modelport import spark as mspark

    art = _artifact(trained, dict(RUNTIME_TARGETS)[runtime_name])
    X = trained["data"][FEATURES].to_numpy()[:500]
    want = runtimes.load(art).predict(X)
    monkeypatch.setenv("XDG_CACHE_HOME", _fresh_cache(tmp_path / "cache"))
    packed = mspark.pack(art)
    mspark._RUNTIMES.pop(packed.sha256, None)
    ctx = multiprocessing.get_context("fork")  # Spark's Python daemon forks its workers too
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_worker_load, args=(packed, X, barrier, queue)) for _ in range(2)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    for status, value in results:
        assert status == "ok", value
        np.testing.assert_array_equal(np.frombuffer(value, dtype=want.dtype).reshape(want.shape), want)
    cache = tmp_path / "cache" / "modelport"
    assert [p.name for p in cache.rglob("*") if p.name.startswith((".unpack-", ".build-", ".tmp"))
            and "go-toolchain" not in p.parts] == []
    unpacked = list((cache / "spark" / packed.sha256).iterdir())
    assert [p.name for p in unpacked] == [packed.name]
    runtimes.load(unpacked[0])  # the published copy is complete: every manifest checksum holds


def _connect_client_available() -> bool:
    try:
        import google.rpc  # noqa: F401
        import grpc  # noqa: F401
        import grpc_status  # noqa: F401
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    """A local[2] session; its Python workers use their own cache directory (as executors on
    other machines would), so every artifact really travels and is built by the workers.  With
    the Connect client's packages present, the session also serves Spark Connect."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        _missing("modelport.spark needs PySpark (pip install 'modelport[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        _missing("PySpark needs Java 17+ (java not found; Debian: apt-get install openjdk-17-jre-headless)")
    worker_cache = _fresh_cache(tmp_path_factory.mktemp("worker-cache"))
    saved = {k: os.environ.get(k) for k in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_LOCAL_IP",
                                            "SPARK_CONNECT_AUTHENTICATE_TOKEN")}
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master("local[2]").appName("modelport-tests")
               .config("spark.driver.memory", "1g").config("spark.sql.shuffle.partitions", "2")
               .config("spark.ui.enabled", "false").config("spark.sql.execution.arrow.maxRecordsPerBatch", "1000")
               .config("spark.executorEnv.XDG_CACHE_HOME", str(worker_cache)))
    connect = None
    if _connect_client_available():
        os.environ["SPARK_CONNECT_AUTHENTICATE_TOKEN"] = uuid.uuid4().hex  # read by the server and the client
        builder = (builder.config("spark.plugins", "org.apache.spark.sql.connect.SparkConnectPlugin")
                   .config("spark.connect.grpc.binding.address", "127.0.0.1")
                   .config("spark.connect.grpc.binding.port", "0"))  # any free port, read back below
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    if _connect_client_available():
        service = getattr(getattr(session._jvm, "org.apache.spark.sql.connect.service.SparkConnectService$"), "MODULE$")
        # "localhost": the client sends its token over local channel credentials to that name only
        connect = f"sc://localhost:{service.localPort()}"
    yield {"session": session, "worker_cache": Path(worker_cache), "connect": connect}
    session.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.mark.slow
@pytest.mark.parametrize(("runtime_name", "target_name"), RUNTIME_TARGETS, ids=[rt for rt, _t in RUNTIME_TARGETS])
def test_parquet_through_spark_matches_runtime(spark, trained, runtime_name, target_name):
    from modelport.spark import pack, score

    art = _artifact(trained, target_name)
    assert runtimes.detect_runtime(art).name == runtime_name
    df = spark["session"].read.parquet(str(trained["dir"] / "rows.parquet"))
    assert df.rdd.getNumPartitions() == 2  # two workers score (and build) at once
    got = score(df, art).toPandas().sort_values("id")
    data = trained["data"]
    assert list(got.columns) == ["id", *FEATURES, "prediction"]
    assert got["id"].tolist() == data["id"].tolist()
    want = runtimes.load(art).predict(data[FEATURES].to_numpy())
    np.testing.assert_array_equal(got["prediction"].to_numpy(np.float32), want)
    # the artifact travelled inside the task and the workers unpacked it into their own cache
    assert (spark["worker_cache"] / "modelport" / "spark" / pack(art).sha256 / os.path.basename(art)).exists()
    if all_targets().get(target_name).toolchain:  # and built its program there (c: the library)
        assert any((spark["worker_cache"] / "modelport" / runtime_name).iterdir())


@pytest.mark.slow
def test_spark_outputs_keep_and_column_udf(spark, trained):
    from modelport.spark import predict_udf, score

    art = _artifact(trained, "onnx")
    rt = runtimes.load(art)
    data = trained["data"]
    X = data[FEATURES].to_numpy()
    shuffled = spark["session"].read.parquet(str(trained["dir"] / "rows.parquet")).select("f_e", "id", "f_c", "f_a", "f_d", "f_b")
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


@pytest.mark.slow
def test_parquet_through_spark_connect_matches_onnx_runtime(spark, trained, monkeypatch):
    """The same scoring function through a Spark Connect client (the server is the module's
    session, started with the Connect plugin): only DataFrame APIs, no SparkContext."""
    if spark["connect"] is None:
        _missing("Spark Connect needs its client packages (pip install 'pyspark[connect]': grpcio, "
                 "grpcio-status, googleapis-common-protos, zstandard)")
    # The Connect client's own builder: pyspark.sql.SparkSession refuses a remote session
    # while a regular one runs in the same process (here, the server's).  A client process
    # built with SparkSession.builder.remote() has this variable set, which makes
    # pyspark.sql.functions (col, struct, pandas_udf) build Connect columns.
    monkeypatch.setenv("SPARK_CONNECT_MODE_ENABLED", "1")
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    from modelport.spark import predict_udf, score

    remote = ConnectSession.builder.remote(spark["connect"]).getOrCreate()
    try:
        assert type(remote).__module__.startswith("pyspark.sql.connect")
        art = _artifact(trained, "onnx")
        data = trained["data"]
        X = data[FEATURES].to_numpy()
        rt = runtimes.load(art)
        df = remote.read.parquet(str(trained["dir"] / "rows.parquet"))
        got = score(df, art, keep=["id"]).toPandas().sort_values("id")
        assert list(got.columns) == ["id", "prediction"] and got["id"].tolist() == data["id"].tolist()
        np.testing.assert_array_equal(got["prediction"].to_numpy(np.float32), rt.predict(X))
        col = df.withColumn("p", predict_udf(art)()).toPandas().sort_values("id")
        np.testing.assert_array_equal(col["p"].to_numpy(np.float32), rt.predict(X))
    finally:
        remote.stop()  # closes this client only: the server is the module session


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
