"""The SageMaker control plane against moto's server (started here on a free loopback port),
asserting on what the describe_* calls report; botocore's Stubber covers what moto lacks
(update_endpoint) and the failure paths.  moto reports endpoints InService and jobs
Completed at once, so its statuses are never taken as evidence of anything."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

boto3 = pytest.importorskip("boto3", reason="the control plane needs boto3 (pip install 'modelport[sagemaker]')")
pytest.importorskip("moto", reason="the control-plane tests run moto's server (pip install 'moto[server]')")
from botocore.stub import ANY, Stubber  # noqa: E402
from sagemaker_helpers import free_port  # noqa: E402

from modelport.core.errors import ModelportError  # noqa: E402
from modelport.deploy.sagemaker import control  # noqa: E402
from modelport.deploy.sagemaker.cli import main  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/modelport:1"
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def moto_url():
    exe = shutil.which("moto_server", path=str(__import__("pathlib").Path(sys.executable).parent))
    port = free_port()
    cmd = [exe, "-H", "127.0.0.1", "-p", str(port)] if exe else [sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                                                   "-p", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1)  # noqa: S310 - loopback http
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def aws(moto_url, monkeypatch):
    for k, v in {**AWS, "AWS_ENDPOINT_URL": moto_url}.items():
        monkeypatch.setenv(k, v)
    urllib.request.urlopen(urllib.request.Request(moto_url + "/moto-api/reset", method="POST"))  # noqa: S310
    session = boto3.session.Session()
    session.client("s3").create_bucket(Bucket="models-bucket")
    return session


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="packaging loads the model with onnxruntime")
    pytest.importorskip("xgboost", reason="the test model is trained with xgboost")
    from sagemaker_helpers import train_onnx

    from modelport.deploy.sagemaker.package import package

    d = tmp_path_factory.mktemp("sm-control")
    out = d / "model.tar.gz"
    package(train_onnx(d, n_trees=3), out)
    return out


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if out.strip().startswith("{") else out), err


def test_deploy_creates_model_config_and_endpoint(aws, tarball, capsys):
    rc, res, err = _run(capsys, "deploy", "sagemaker", str(tarball), "--name", "churn", "--bucket", "models-bucket",
                        "--role", ROLE, "--image", IMAGE, "--instance-type", "ml.c5.xlarge", "--count", "2",
                        "--env", "SAGEMAKER_MODEL_SERVER_WORKERS=4", "--poll", "0.01", "--json")
    assert rc == 0, err
    sm, s3 = aws.client("sagemaker"), aws.client("s3")
    ep = sm.describe_endpoint(EndpointName="churn")
    assert ep["EndpointConfigName"] == res["endpoint_config"]
    cfg = sm.describe_endpoint_config(EndpointConfigName=res["endpoint_config"])
    v = cfg["ProductionVariants"][0]
    assert (v["ModelName"], v["InstanceType"], v["InitialInstanceCount"]) == (res["model"], "ml.c5.xlarge", 2)
    model = sm.describe_model(ModelName=res["model"])
    assert model["ExecutionRoleArn"] == ROLE
    pc = model["PrimaryContainer"]
    assert pc["Image"] == IMAGE and pc["ModelDataUrl"] == res["model_data_url"]
    assert pc["Environment"] == {"SAGEMAKER_MODEL_SERVER_WORKERS": "4"}
    key = res["model_data_url"].removeprefix("s3://models-bucket/")
    body = s3.get_object(Bucket="models-bucket", Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert "endpoint churn: InService" in err  # the progress display


def test_deploy_serverless_and_delete(aws, tarball, capsys):
    rc, res, err = _run(capsys, "deploy", "sagemaker", str(tarball), "--name", "svl", "--bucket", "models-bucket",
                        "--role", ROLE, "--image", IMAGE, "--serverless", "--memory", "3072", "--concurrency", "7",
                        "--no-wait", "--json")
    assert rc == 0, err
    sm = aws.client("sagemaker")
    v = sm.describe_endpoint_config(EndpointConfigName=res["endpoint_config"])["ProductionVariants"][0]
    assert v["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 7}
    rc, res2, err = _run(capsys, "deploy", "delete", "svl", "--json")
    assert rc == 0, err
    assert res2["models"] == [res["model"]]
    names = [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    assert "svl" not in names
    assert not sm.list_models()["Models"]
    assert not sm.list_endpoint_configs()["EndpointConfigs"]


def test_transform_job_request(aws, capsys):
    sm = aws.client("sagemaker")
    sm.create_model(ModelName="m1", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    rc, res, err = _run(capsys, "transform", "m1", "--input", "s3://models-bucket/in/", "--output",
                        "s3://models-bucket/out/", "--job-name", "score-1", "--max-payload", "2", "--concurrency", "3",
                        "--instance-type", "ml.m5.xlarge", "--poll", "0.01", "--json")
    assert rc == 0, err
    job = sm.describe_transform_job(TransformJobName="score-1")
    assert job["ModelName"] == "m1" and job["MaxPayloadInMB"] == 2 and job["MaxConcurrentTransforms"] == 3
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://models-bucket/in/"
    assert job["TransformOutput"]["AssembleWith"] == "Line"
    assert job["TransformResources"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1}


def test_dry_run_sends_nothing(aws, tarball, capsys):
    rc, res, err = _run(capsys, "deploy", "sagemaker", str(tarball), "--name", "dry", "--bucket", "models-bucket",
                        "--role", ROLE, "--image", IMAGE, "--dry-run", "--json")
    assert rc == 0 and res["dry_run"]
    ops = [(r["service"], r["operation"]) for r in res["requests"]]
    assert ops == [("s3", "put_object"), ("sagemaker", "create_model"), ("sagemaker", "create_endpoint_config"),
                   ("sagemaker", "create_endpoint")]
    assert not aws.client("sagemaker").list_models()["Models"]
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket="models-bucket")


@pytest.mark.parametrize("argv,words", [
    (["--name", "bad_name!"], "not a valid SageMaker name"),
    (["--instance-type", "ml.m5.huge"], "is not one of"),
    (["--serverless", "--memory", "1500"], "1024, 2048"),
    (["--serverless", "--concurrency", "500"], "above the maximum 200"),
    (["--count", "0"], "below the minimum 1"),
    (["--env", "BAD-KEY=1"], "does not match"),
    (["--env", "K=" + "v" * 1025], "above the maximum 1024"),
    (["--serverless", "--instance-type", "ml.m5.large"], "--serverless takes"),
], ids=["name", "instance", "memory", "concurrency", "count", "env-key", "env-value", "mixed"])
def test_validation_before_sending(aws, tarball, capsys, argv, words):
    rc, res, err = _run(capsys, "deploy", "sagemaker", str(tarball), "--bucket", "models-bucket", "--role", ROLE,
                        "--image", IMAGE, *argv)
    # Options that conflict are a usage error (2); a value AWS would refuse is bad input (3).
    assert rc == (2 if words == "--serverless takes" else 3) and words in err and len(err.strip().splitlines()) == 1, err
    assert not aws.client("sagemaker").list_models()["Models"]


def test_validation_of_role_bucket_and_too_many_env(tarball):
    with pytest.raises(ModelportError, match="ExecutionRoleArn"):
        control.plan_deploy(tarball, endpoint="e", bucket="models-bucket", role="not-an-arn", image=IMAGE)
    with pytest.raises(ModelportError, match="bucket name"):
        control.plan_deploy(tarball, endpoint="e", bucket="Bad_Bucket", role=ROLE, image=IMAGE)
    with pytest.raises(ModelportError, match="Environment: 101 entries is above the maximum 100"):
        control.plan_deploy(tarball, endpoint="e", bucket="models-bucket", role=ROLE, image=IMAGE,
                            env={f"K{i}": "v" for i in range(101)})
    with pytest.raises(ModelportError, match="s3:// URI"):
        control.plan_transform(model_name="m", input_uri="/local", output_uri="s3://b/o", job_name="j")
    with pytest.raises(ModelportError, match="exceeds the limit of 100"):
        control.plan_transform(model_name="m", input_uri="s3://b/i", output_uri="s3://b/o", job_name="j", max_payload_mb=101)


# -- Stubber: what moto lacks ------------------------------------------------------------------


def _stubbed():
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")  # noqa: S106 - a fake key for the Stubber
    sm, s3 = session.client("sagemaker", endpoint_url="https://stub.invalid"), session.client("s3", endpoint_url="https://stub.invalid")
    return control.Clients(sagemaker=sm, s3=s3), Stubber(sm), Stubber(s3)


def test_update_is_blue_green(tarball):
    clients, sm, s3 = _stubbed()
    now = time.time()
    version = control.version_name("churn", now=now)
    old_variant = {"VariantName": "AllTraffic", "ModelName": "churn-old", "InstanceType": "ml.c5.xlarge",
                   "InitialInstanceCount": 3, "InitialVariantWeight": 1.0}
    sm.add_response("describe_endpoint", {"EndpointName": "churn", "EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/churn",
                                          "EndpointConfigName": "churn-old", "EndpointStatus": "InService",
                                          "CreationTime": now, "LastModifiedTime": now}, {"EndpointName": "churn"})
    sm.add_response("describe_endpoint_config", {"EndpointConfigName": "churn-old", "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:1:ec/x",
                                                 "ProductionVariants": [old_variant], "CreationTime": now},
                    {"EndpointConfigName": "churn-old"})
    key = f"modelport/{version}/model.tar.gz"
    s3.add_response("put_object", {}, {"Bucket": "models-bucket", "Key": key, "Body": ANY})
    sm.add_response("create_model", {"ModelArn": "arn:aws:sagemaker:us-east-1:1:model/x"},
                    {"ModelName": version, "ExecutionRoleArn": ROLE,
                     "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": f"s3://models-bucket/{key}", "Environment": {}}})
    sm.add_response("create_endpoint_config", {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:1:ec/y"},
                    {"EndpointConfigName": version, "ProductionVariants": [
                        {"VariantName": "AllTraffic", "ModelName": version, "InitialVariantWeight": 1.0,
                         "InstanceType": "ml.c5.xlarge", "InitialInstanceCount": 3}]})
    sm.add_response("update_endpoint", {"EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/churn"},
                    {"EndpointName": "churn", "EndpointConfigName": version})
    for status in ("Updating", "Updating", "InService"):
        sm.add_response("describe_endpoint", {"EndpointName": "churn", "EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/churn",
                                              "EndpointConfigName": version, "EndpointStatus": status,
                                              "CreationTime": now, "LastModifiedTime": now}, {"EndpointName": "churn"})
    said = []
    import unittest.mock as mock

    with sm, s3, mock.patch.object(control.time, "time", return_value=now), mock.patch.object(control.time, "sleep"):
        res = control.update(tarball, endpoint="churn", bucket="models-bucket", role=ROLE, image=IMAGE,
                             clients=clients, say=said.append, wait_poll=0)
    sm.assert_no_pending_responses()
    assert res["previous_endpoint_config"] == "churn-old" and res["endpoint_config"] == version
    assert res["status"] == "InService"
    assert [m for m in said if m.startswith("endpoint")] == ["endpoint churn: Updating (0s)", "endpoint churn: InService (0s)"]


def test_failure_paths_are_one_line(tarball):
    clients, sm, s3 = _stubbed()
    s3.add_client_error("put_object", service_error_code="AccessDenied", service_message="Access Denied", http_status_code=403)
    with s3, pytest.raises(ModelportError, match=r"^s3.put_object failed: AccessDenied: Access Denied$"):
        control.deploy(tarball, endpoint="e1", bucket="models-bucket", role=ROLE, image=IMAGE, clients=clients,
                       say=lambda m: None)
    clients, sm, s3 = _stubbed()
    now = time.time()
    sm.add_response("describe_endpoint", {"EndpointName": "e1", "EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/e1",
                                          "EndpointConfigName": "c", "EndpointStatus": "Failed", "FailureReason":
                                          "The primary container did not pass the ping health check.",
                                          "CreationTime": now, "LastModifiedTime": now})
    with sm, pytest.raises(ModelportError, match="endpoint e1 is Failed: The primary container did not pass"):
        control.wait(clients, kind="endpoint", name="e1", say=lambda m: None, poll=0)
    clients, sm, s3 = _stubbed()
    sm.add_client_error("describe_endpoint", service_error_code="ValidationException",
                        service_message='Could not find endpoint "nope".', http_status_code=400)
    with sm, pytest.raises(ModelportError, match="ValidationException: Could not find endpoint"):
        control.delete("nope", clients=clients, say=lambda m: None)


def test_cli_help_for_every_subcommand(capsys):
    with pytest.raises(SystemExit) as e:
        main(["deploy", "--help"])
    assert e.value.code == 0 and "sagemaker" in capsys.readouterr().out
    for argv in (["package"], ["serve"], ["deploy", "sagemaker"], ["deploy", "update"], ["deploy", "delete"],
                 ["transform"]):
        with pytest.raises(SystemExit) as e:
            main([*argv, "--help"])
        assert e.value.code == 0
        assert "--json" in capsys.readouterr().out


def test_update_dry_run_reads_the_live_variant(aws, tarball, capsys):
    """The CLI path of `deploy update`: moto serves the reads; the plan keeps the capacity."""
    rc, first, err = _run(capsys, "deploy", "sagemaker", str(tarball), "--name", "blue", "--bucket", "models-bucket",
                          "--role", ROLE, "--image", IMAGE, "--instance-type", "ml.c5.large", "--count", "3",
                          "--no-wait", "--json")
    assert rc == 0, err
    rc, res, err = _run(capsys, "deploy", "update", "blue", str(tarball), "--bucket", "models-bucket", "--role", ROLE,
                        "--image", IMAGE, "--dry-run", "--json")
    assert rc == 0, err
    assert res["previous_endpoint_config"] == first["endpoint_config"]
    ops = [(r["operation"], r["request"]) for r in res["requests"]]
    assert [o for o, _ in ops] == ["put_object", "create_model", "create_endpoint_config", "update_endpoint"]
    variant = ops[2][1]["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c5.large", 3)
    assert ops[3][1] == {"EndpointName": "blue", "EndpointConfigName": res["endpoint_config"]}
    assert len(aws.client("sagemaker").list_models()["Models"]) == 1  # nothing new was created
