"""The SageMaker control plane (boto3): deploy, update (blue/green), delete, batch transform.

Every operation is first PLANNED as a list of :class:`Call` (service, operation, request);
the plan is validated against the constraints of botocore's own service model (name
patterns, enum values, lengths and numeric ranges, which botocore itself does not check on
the client side) plus the documented limits botocore's model cannot express (at most 100
environment entries, serverless memory in 1 GB steps, MaxPayloadInMB at most 100), and only
then either printed (``dry_run``) or sent.  Waiting polls ``describe_*`` and reports each
status change through ``say``.  boto3 is imported lazily (``pip install 'modelport[sagemaker]'``);
it honours ``AWS_ENDPOINT_URL`` and ``AWS_DEFAULT_REGION`` as usual.
"""

from __future__ import annotations

import functools
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

from modelport.core.errors import ModelportError, require

__all__ = ["Call", "Clients", "validate_call", "plan_deploy", "plan_update", "plan_transform", "execute",
           "deploy", "update", "delete", "transform", "version_name"]

_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TERMINAL_ENDPOINT = {"InService": True, "Failed": False, "OutOfService": False}
_TERMINAL_JOB = {"Completed": True, "Failed": False, "Stopped": False}
Say = Callable[[str], None]


@dataclass
class Call:
    """One API request of a plan."""

    service: str
    operation: str
    params: dict[str, Any]
    body_file: str | None = field(default=None)
    """For ``put_object``: the local file uploaded as ``Body`` (printed, not inlined)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``--dry-run`` prints)."""
        params = dict(self.params)
        if self.body_file is not None:
            params["Body"] = f"<file {self.body_file}>"
        return {"service": self.service, "operation": self.operation, "request": params}


@functools.lru_cache(maxsize=4)
def _service_model(service: str):
    botocore_session = require("botocore.session", extra="sagemaker", purpose="the SageMaker control plane")
    return botocore_session.get_session().get_service_model(service)  # parsing the model JSON takes seconds: once


def _botocore_operation(service: str, operation: str):
    model = _service_model(service)
    api = "".join(p.capitalize() for p in operation.split("_"))
    return model.operation_model(api)


def validate_call(call: Call) -> None:
    """Check ``call.params`` against botocore's input shape: required members, name patterns,
    enums, string lengths, list lengths and numeric ranges.  First violation: ModelportError."""
    op = _botocore_operation(call.service, call.operation)
    _check(call.params, op.input_shape, op.name)
    _extra_limits(call)


def _check(value: Any, shape: Any, where: str) -> None:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise ModelportError(f"{where}: expected an object")
        for req in shape.required_members:
            if req not in value and not (where.endswith("PutObject") and req == "Body"):
                raise ModelportError(f"{where}: {req} is required")
        for k, v in value.items():
            if k not in shape.members:
                raise ModelportError(f"{where}: unknown parameter {k}")
            _check(v, shape.members[k], f"{where}.{k}")
    elif kind == "list":
        if not isinstance(value, list):
            raise ModelportError(f"{where}: expected a list")
        _bounds(len(value), meta, where, "entries")
        for i, v in enumerate(value):
            _check(v, shape.member, f"{where}[{i}]")
    elif kind == "map":
        if not isinstance(value, dict):
            raise ModelportError(f"{where}: expected a map")
        _bounds(len(value), meta, where, "entries")
        for k, v in value.items():
            _check(k, shape.key, f"{where} key {k!r}")
            _check(v, shape.value, f"{where}[{k!r}]")
    elif kind == "string":
        if not isinstance(value, str):
            raise ModelportError(f"{where}: expected a string")
        enum = meta.get("enum")
        if enum and value not in enum:
            shown = ", ".join(enum[:8]) + (f", ... ({len(enum)} values)" if len(enum) > 8 else "")
            raise ModelportError(f"{where}: {value!r} is not one of {shown}")
        _bounds(len(value.encode()), meta, where, "bytes" if "Environment" in where else "characters")
        pattern = meta.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            raise ModelportError(f"{where}: {value!r} does not match {pattern}")
    elif kind in ("integer", "long", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ModelportError(f"{where}: expected a number")
        _bounds(value, meta, where, "")


def _bounds(n: float, meta: dict[str, Any], where: str, unit: str) -> None:
    lo, hi = meta.get("min"), meta.get("max")
    suffix = f" {unit}" if unit else ""
    if lo is not None and n < lo:
        raise ModelportError(f"{where}: {n}{suffix} is below the minimum {lo}")
    if hi is not None and n > hi:
        raise ModelportError(f"{where}: {n}{suffix} is above the maximum {hi}")


def _extra_limits(call: Call) -> None:
    p = call.params
    where = f"{call.service}.{call.operation}"
    env = (p.get("PrimaryContainer") or {}).get("Environment") or p.get("Environment") or {}
    if len(env) > 100:
        raise ModelportError(f"{where}: {len(env)} environment entries, SageMaker allows at most 100")
    for v in p.get("ProductionVariants", []):
        sc = v.get("ServerlessConfig")
        if sc and sc.get("MemorySizeInMB", 0) % 1024:
            raise ModelportError(f"{where}: serverless memory {sc['MemorySizeInMB']} MB must be 1024, 2048, ... 6144")
        if sc and ("InstanceType" in v or "InitialInstanceCount" in v):
            raise ModelportError(f"{where}: a serverless variant takes no instance type or count")
    if p.get("MaxPayloadInMB", 0) > 100:
        raise ModelportError(f"{where}: MaxPayloadInMB {p['MaxPayloadInMB']} exceeds the limit of 100")
    if call.operation == "put_object" and not _BUCKET.fullmatch(p.get("Bucket", "")):
        raise ModelportError(f"{where}: {p.get('Bucket')!r} is not a valid S3 bucket name")


def check_name(name: str, what: str) -> str:
    """A SageMaker resource name (``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$``) or a one-line error."""
    if not _NAME.fullmatch(name or ""):
        raise ModelportError(f"{what} {name!r} is not a valid SageMaker name: 1-63 letters, digits and hyphens, "
                             "starting and ending with a letter or digit")
    return name


def version_name(base: str, *, now: float | None = None) -> str:
    """``<base>-<UTC timestamp with milliseconds>``, within 63 characters (the model and endpoint
    config names of one version; a deploy and an update in the same second still differ)."""
    t = now if now is not None else time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(t)) + f"-{int(t * 1000) % 1000:03d}"
    return f"{base[:63 - len(stamp) - 1].rstrip('-')}-{stamp}"


# -- plans -----------------------------------------------------------------------------------------


def _model_calls(tarball: Path, *, model_name: str, bucket: str, prefix: str, role: str, image: str,
                 env: dict[str, str]) -> tuple[list[Call], str]:
    key = "/".join(p for p in (prefix.strip("/"), model_name, "model.tar.gz") if p)
    url = f"s3://{bucket}/{key}"
    calls = [
        Call("s3", "put_object", {"Bucket": bucket, "Key": key}, body_file=str(tarball)),
        Call("sagemaker", "create_model", {
            "ModelName": check_name(model_name, "model name"),
            "ExecutionRoleArn": role,
            "PrimaryContainer": {"Image": image, "ModelDataUrl": url, "Environment": dict(env)},
        }),
    ]
    return calls, url


def _variant(model_name: str, *, instance_type: str | None, count: int, serverless: bool, memory: int,
             concurrency: int) -> dict[str, Any]:
    v: dict[str, Any] = {"VariantName": "AllTraffic", "ModelName": model_name, "InitialVariantWeight": 1.0}
    if serverless:
        v["ServerlessConfig"] = {"MemorySizeInMB": memory, "MaxConcurrency": concurrency}
    else:
        v["InstanceType"] = instance_type or "ml.m5.large"
        v["InitialInstanceCount"] = count
    return v


def plan_deploy(tarball: Path, *, endpoint: str, bucket: str, role: str, image: str, prefix: str = "modelport",
                instance_type: str | None = None, count: int = 1, serverless: bool = False, memory: int = 2048,
                concurrency: int = 5, env: dict[str, str] | None = None, now: float | None = None) -> list[Call]:
    """The requests that create a new endpoint serving ``tarball``."""
    check_name(endpoint, "endpoint name")
    version = version_name(endpoint, now=now)
    calls, _ = _model_calls(tarball, model_name=version, bucket=bucket, prefix=prefix, role=role, image=image, env=env or {})
    calls.append(Call("sagemaker", "create_endpoint_config", {
        "EndpointConfigName": version,
        "ProductionVariants": [_variant(version, instance_type=instance_type, count=count, serverless=serverless,
                                        memory=memory, concurrency=concurrency)],
    }))
    calls.append(Call("sagemaker", "create_endpoint", {"EndpointName": endpoint, "EndpointConfigName": version}))
    for c in calls:
        validate_call(c)
    return calls


def plan_update(tarball: Path, *, endpoint: str, current_variant: dict[str, Any], bucket: str, role: str, image: str,
                prefix: str = "modelport", env: dict[str, str] | None = None, now: float | None = None,
                **overrides: Any) -> list[Call]:
    """The requests that move ``endpoint`` to a new model version (blue/green): a new model
    and endpoint config (the current variant's capacity unless overridden), then update_endpoint."""
    check_name(endpoint, "endpoint name")
    version = version_name(endpoint, now=now)
    calls, _ = _model_calls(tarball, model_name=version, bucket=bucket, prefix=prefix, role=role, image=image, env=env or {})
    serverless = overrides.get("serverless")
    if serverless is None:
        serverless = "ServerlessConfig" in current_variant
    sc = current_variant.get("ServerlessConfig") or {}
    variant = _variant(version, instance_type=overrides.get("instance_type") or current_variant.get("InstanceType"),
                       count=overrides.get("count") or current_variant.get("InitialInstanceCount") or 1,
                       serverless=serverless, memory=overrides.get("memory") or sc.get("MemorySizeInMB") or 2048,
                       concurrency=overrides.get("concurrency") or sc.get("MaxConcurrency") or 5)
    calls.append(Call("sagemaker", "create_endpoint_config", {"EndpointConfigName": version, "ProductionVariants": [variant]}))
    calls.append(Call("sagemaker", "update_endpoint", {"EndpointName": endpoint, "EndpointConfigName": version}))
    for c in calls:
        validate_call(c)
    return calls


def plan_transform(*, model_name: str, input_uri: str, output_uri: str, job_name: str, instance_type: str = "ml.m5.large",
                   count: int = 1, content_type: str = "text/csv", accept: str = "text/csv", max_payload_mb: int = 6,
                   strategy: str = "MultiRecord", max_concurrent: int | None = None) -> list[Call]:
    """The create_transform_job request: S3 input split by line, output assembled by line."""
    check_name(model_name, "model name")
    check_name(job_name, "transform job name")
    for uri, what in ((input_uri, "input"), (output_uri, "output")):
        if not uri.startswith("s3://") or len(uri) <= 5:
            raise ModelportError(f"{what} {uri!r} is not an s3:// URI")
    params: dict[str, Any] = {
        "TransformJobName": job_name,
        "ModelName": model_name,
        "MaxPayloadInMB": max_payload_mb,
        "BatchStrategy": strategy,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
                           "ContentType": content_type, "SplitType": "Line", "CompressionType": "None"},
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": accept, "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": count},
    }
    if max_concurrent is not None:
        params["MaxConcurrentTransforms"] = max_concurrent
    call = Call("sagemaker", "create_transform_job", params)
    validate_call(call)
    return [call]


# -- execution -------------------------------------------------------------------------------------


class Clients:
    """boto3 clients by service name, created on first use (tests pass their own)."""

    def __init__(self, session: Any = None, **clients: Any) -> None:
        self._session = session
        self._clients = dict(clients)

    def __getitem__(self, service: str) -> Any:
        if service not in self._clients:
            if self._session is None:
                boto3 = require("boto3", extra="sagemaker", purpose="the SageMaker control plane")
                self._session = boto3.session.Session()
            self._clients[service] = self._session.client(service)
        return self._clients[service]


def _api_error(exc: Exception, call: Call) -> ModelportError:
    resp = getattr(exc, "response", None) or {}
    err = resp.get("Error", {})
    msg = err.get("Message") or str(exc)
    code = err.get("Code") or type(exc).__name__
    return ModelportError(f"{call.service}.{call.operation} failed: {code}: {msg}")


def execute(calls: list[Call], clients: Clients, say: Say) -> list[dict[str, Any]]:
    """Send the planned requests in order; the first failure is a one-line ModelportError."""
    out = []
    for call in calls:
        say(f"{call.service}.{call.operation} {call.params.get('Key') or _resource(call.params)}")
        params = dict(call.params)
        try:
            if call.body_file is not None:
                with open(call.body_file, "rb") as fh:
                    resp = getattr(clients[call.service], call.operation)(Body=fh, **params)
            else:
                resp = getattr(clients[call.service], call.operation)(**params)
        except ModelportError:
            raise
        except Exception as exc:  # botocore ClientError, ParamValidationError, EndpointConnectionError ...
            raise _api_error(exc, call) from None
        out.append({k: v for k, v in (resp or {}).items() if k != "ResponseMetadata"})
    return out


def _resource(params: dict[str, Any]) -> str:
    for k in ("EndpointName", "TransformJobName", "EndpointConfigName", "ModelName"):
        if k in params:
            return str(params[k])
    return ""


def wait(clients: Clients, *, kind: str, name: str, say: Say, poll: float = 15.0, timeout: float = 3600.0,
         sleep: Callable[[float], None] = time.sleep) -> str:
    """Poll an endpoint or transform job until it settles; report each status change; return
    the final status (a failure is a ModelportError with SageMaker's FailureReason)."""
    sm = clients["sagemaker"]
    describe, key, terminal = ((sm.describe_endpoint, "EndpointStatus", _TERMINAL_ENDPOINT) if kind == "endpoint"
                               else (sm.describe_transform_job, "TransformJobStatus", _TERMINAL_JOB))
    arg = {"EndpointName": name} if kind == "endpoint" else {"TransformJobName": name}
    start, last = time.monotonic(), None
    while True:
        try:
            desc = describe(**arg)
        except Exception as exc:  # noqa: BLE001
            raise _api_error(exc, Call("sagemaker", describe.__name__, arg)) from None
        status = desc.get(key, "?")
        if status != last:
            say(f"{kind} {name}: {status} ({time.monotonic() - start:.0f}s)")
            last = status
        if status in terminal:
            if not terminal[status]:
                raise ModelportError(f"{kind} {name} is {status}: {desc.get('FailureReason', 'no reason given')}")
            return status
        if time.monotonic() - start > timeout:
            raise ModelportError(f"{kind} {name} still {status} after {timeout:.0f}s; check the SageMaker console")
        sleep(poll)


def _tarball(artifact: str | Path, workdir: Path, say: Say) -> Path:
    """``artifact`` itself when it is a package (verified by extraction), else a package of it."""
    import tarfile

    from modelport.deploy.sagemaker.package import extract, package

    path = Path(artifact)
    if path.is_file() and tarfile.is_tarfile(path):
        extract(path, workdir / "check")  # refuses anything the server would refuse
        return path
    out = workdir / "model.tar.gz"
    say(f"packaging {path.name}")
    package(path, out)
    return out


def deploy(artifact: str | Path, *, dry_run: bool = False, clients: Clients | None = None, say: Say = print,
           wait_poll: float = 15.0, no_wait: bool = False, **opts: Any) -> dict[str, Any]:
    """Package (if needed), upload, create model + endpoint config + endpoint, wait for InService."""
    with tempfile.TemporaryDirectory(prefix="modelport-deploy-") as tmp:
        tarball = _tarball(artifact, Path(tmp), say)
        calls = plan_deploy(tarball, **opts)
        result = {"endpoint": opts["endpoint"], "model": calls[1].params["ModelName"],
                  "endpoint_config": calls[2].params["EndpointConfigName"],
                  "model_data_url": calls[1].params["PrimaryContainer"]["ModelDataUrl"]}
        if dry_run:
            return {**result, "dry_run": True, "requests": [c.to_dict() for c in calls]}
        clients = clients or Clients()
        execute(calls, clients, say)
    result["status"] = "Creating" if no_wait else wait(clients, kind="endpoint", name=opts["endpoint"], say=say, poll=wait_poll)
    return result


def _current_variant(clients: Clients, endpoint: str) -> tuple[str, dict[str, Any]]:
    sm = clients["sagemaker"]
    try:
        ep = sm.describe_endpoint(EndpointName=endpoint)
        cfg = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
    except Exception as exc:  # noqa: BLE001
        raise _api_error(exc, Call("sagemaker", "describe_endpoint", {"EndpointName": endpoint})) from None
    return ep["EndpointConfigName"], cfg["ProductionVariants"][0]


def update(artifact: str | Path, *, endpoint: str, dry_run: bool = False, clients: Clients | None = None, say: Say = print,
           wait_poll: float = 15.0, no_wait: bool = False, **opts: Any) -> dict[str, Any]:
    """Blue/green update: a new model and config for ``endpoint``, then update_endpoint and wait."""
    check_name(endpoint, "endpoint name")
    clients = clients or Clients()
    old_config, variant = _current_variant(clients, endpoint)
    with tempfile.TemporaryDirectory(prefix="modelport-deploy-") as tmp:
        tarball = _tarball(artifact, Path(tmp), say)
        calls = plan_update(tarball, endpoint=endpoint, current_variant=variant, **opts)
        result = {"endpoint": endpoint, "model": calls[1].params["ModelName"],
                  "endpoint_config": calls[2].params["EndpointConfigName"], "previous_endpoint_config": old_config,
                  "model_data_url": calls[1].params["PrimaryContainer"]["ModelDataUrl"]}
        if dry_run:
            return {**result, "dry_run": True, "requests": [c.to_dict() for c in calls]}
        execute(calls, clients, say)
    result["status"] = "Updating" if no_wait else wait(clients, kind="endpoint", name=endpoint, say=say, poll=wait_poll)
    return result


def delete(endpoint: str, *, keep_models: bool = False, dry_run: bool = False, clients: Clients | None = None,
           say: Say = print) -> dict[str, Any]:
    """Delete an endpoint, its endpoint config and (unless ``keep_models``) the models it serves."""
    check_name(endpoint, "endpoint name")
    clients = clients or Clients()
    config, _ = _current_variant(clients, endpoint)
    try:
        variants = clients["sagemaker"].describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    except Exception as exc:  # noqa: BLE001
        raise _api_error(exc, Call("sagemaker", "describe_endpoint_config", {"EndpointConfigName": config})) from None
    models = sorted({v["ModelName"] for v in variants})
    calls = [Call("sagemaker", "delete_endpoint", {"EndpointName": endpoint}),
             Call("sagemaker", "delete_endpoint_config", {"EndpointConfigName": config})]
    if not keep_models:
        calls += [Call("sagemaker", "delete_model", {"ModelName": m}) for m in models]
    result = {"endpoint": endpoint, "endpoint_config": config, "models": [] if keep_models else models}
    if dry_run:
        return {**result, "dry_run": True, "requests": [c.to_dict() for c in calls]}
    execute(calls, clients, say)
    return {**result, "deleted": True}


def transform(*, dry_run: bool = False, clients: Clients | None = None, say: Say = print, wait_poll: float = 30.0,
              no_wait: bool = False, **opts: Any) -> dict[str, Any]:
    """Start a batch transform job (SplitType=Line, AssembleWith=Line) and wait for it."""
    calls = plan_transform(**opts)
    result = {"transform_job": opts["job_name"], "model": opts["model_name"], "output": opts["output_uri"]}
    if dry_run:
        return {**result, "dry_run": True, "requests": [c.to_dict() for c in calls]}
    clients = clients or Clients()
    execute(calls, clients, say)
    result["status"] = "InProgress" if no_wait else wait(clients, kind="transform", name=opts["job_name"], say=say,
                                                         poll=wait_poll, timeout=48 * 3600)
    return result
