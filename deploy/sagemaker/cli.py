"""The SageMaker subcommands of ``modelport``: ``package``, ``serve``, ``deploy`` and ``transform``.

:func:`register` adds them to the ``modelport`` command's subparsers; each parser stores its
handler as ``args._handler``, a function ``(args) -> (json data, text)`` in the shape of the
other commands (errors are ModelportError: one line, exit code 3; a missing optional
package is exit code 4).  ``serve`` does not return: it replaces the process with the
server (see :func:`modelport.deploy.sagemaker.serve.exec_serve`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from modelport.core.errors import ModelportError, UsageError

__all__ = ["register", "COMMANDS", "main"]


def _say(msg: str) -> None:
    print(f"modelport: {msg}", file=sys.stderr, flush=True)


def _env(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for p in pairs or []:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise UsageError(f"--env {p!r}: expected KEY=VALUE")
        out[k] = v
    return out


def _capacity(args: argparse.Namespace) -> dict[str, Any]:
    if args.serverless and (args.instance_type or args.count is not None):
        raise UsageError("--serverless takes --memory and --concurrency, not --instance-type or --count")
    if not args.serverless and (args.memory is not None or args.concurrency is not None):
        raise UsageError("--memory and --concurrency apply to --serverless endpoints only")
    return {"instance_type": args.instance_type, "count": args.count, "serverless": args.serverless,
            "memory": args.memory, "concurrency": args.concurrency}


def _cmd_package(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from modelport.deploy.sagemaker.package import package

    man = package(args.artifact, args.out, check=not args.no_check)
    sig = man.get("signature") or {}
    text = (f"wrote {args.out}: {man['artifact']} ({man['kind']}, runtime {man['runtime']}, "
            f"{len(sig.get('features', []))} features, task {sig.get('task', '?')})")
    return {"out": args.out, "manifest": man}, text


def _cmd_serve(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from modelport.deploy.sagemaker.serve import exec_serve

    argv = [args.model] if args.model else []
    argv += ["--host", args.host]
    if args.port is not None:
        argv += ["--port", str(args.port)]
    if args.workers is not None:
        argv += ["--workers", str(args.workers)]
    if args.json:
        argv.append("--json")
    exec_serve(argv)
    raise AssertionError("unreachable: exec_serve replaces the process")  # pragma: no cover


def _deploy_text(res: dict[str, Any]) -> str:
    if res.get("dry_run"):
        import json

        return "dry run; these requests would be sent:\n" + json.dumps(res["requests"], indent=2)
    lines = [f"{k.replace('_', ' ')}: {v}" for k, v in res.items() if not isinstance(v, (list, dict))]
    lines += [f"{k.replace('_', ' ')}: {', '.join(map(str, v))}" for k, v in res.items() if isinstance(v, list)]
    return "\n".join(lines)


def _endpoint_name(args: argparse.Namespace) -> str:
    if args.name:
        return args.name
    import re
    from pathlib import Path

    stem = Path(args.artifact).name.split(".")[0]
    return ("modelport-" + re.sub(r"[^a-zA-Z0-9]+", "-", stem).strip("-"))[:40].rstrip("-") or "modelport"


def _cmd_deploy(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from modelport.deploy.sagemaker import control

    common = {"dry_run": args.dry_run, "say": _say}
    if args.deploy_action == "delete":
        res = control.delete(args.endpoint, keep_models=args.keep_models, **common)
        return res, _deploy_text(res)
    cap = _capacity(args)
    model = {"bucket": args.bucket, "role": args.role, "image": args.image, "prefix": args.prefix, "env": _env(args.env)}
    waiting = {"no_wait": args.no_wait, "wait_poll": args.poll}
    if args.deploy_action == "sagemaker":
        cap["count"] = 1 if cap["count"] is None else cap["count"]
        cap["memory"] = cap["memory"] or 2048
        cap["concurrency"] = cap["concurrency"] or 5
        res = control.deploy(args.artifact, endpoint=_endpoint_name(args), **model, **cap, **common, **waiting)
    else:
        res = control.update(args.artifact, endpoint=args.endpoint, **model, **{k: v for k, v in cap.items() if v},
                             **common, **waiting)
    return res, _deploy_text(res)


def _cmd_transform(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from modelport.deploy.sagemaker import control

    job = args.job_name or control.version_name(args.model_name[:40])
    res = control.transform(model_name=args.model_name, input_uri=args.input, output_uri=args.output, job_name=job,
                            instance_type=args.instance_type, count=args.count, content_type=args.content_type,
                            accept=args.accept, max_payload_mb=args.max_payload, strategy=args.strategy,
                            max_concurrent=args.concurrency, dry_run=args.dry_run, say=_say, no_wait=args.no_wait,
                            wait_poll=args.poll)
    return res, _deploy_text(res)


#: Handlers by command name (the lead may merge these into the ``modelport`` command table).
COMMANDS = {"package": _cmd_package, "serve": _cmd_serve, "deploy": _cmd_deploy, "transform": _cmd_transform}


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")


def _control_flags(p: argparse.ArgumentParser, *, waits: bool = True) -> None:
    p.add_argument("--dry-run", action="store_true", help="print the requests instead of sending them")
    if waits:
        p.add_argument("--no-wait", action="store_true", help="return once the requests are accepted")
        p.add_argument("--poll", type=float, default=15.0, metavar="S", help="seconds between status checks (default 15)")
    _json_flag(p)


def _model_flags(p: argparse.ArgumentParser, *, required: bool) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--bucket", required=True, help="S3 bucket receiving model.tar.gz")
    g.add_argument("--prefix", default="modelport", help="S3 key prefix (default: modelport)")
    g.add_argument("--role", required=True, metavar="ARN", help="execution role ARN SageMaker assumes")
    g.add_argument("--image", required=True, metavar="URI", help="serving image (ECR URI) built from deploy/sagemaker/Dockerfile")
    g.add_argument("--env", action="append", metavar="KEY=VALUE", help="container environment (repeatable; at most 100)")
    c = p.add_argument_group("capacity" + ("" if required else " (default: the endpoint's current variant)"))
    c.add_argument("--instance-type", metavar="TYPE", help="e.g. ml.m5.large (default ml.m5.large)")
    c.add_argument("--count", type=int, metavar="N", help="instance count (default 1)")
    c.add_argument("--serverless", action="store_true", default=None if not required else False,
                   help="serverless endpoint instead of instances")
    c.add_argument("--memory", type=int, metavar="MB", help="serverless memory: 1024..6144 in steps of 1024 (default 2048)")
    c.add_argument("--concurrency", type=int, metavar="N", help="serverless max concurrency 1..200 (default 5)")


def register(subparsers: Any) -> None:
    """Add ``package``, ``serve``, ``deploy`` (sagemaker / update / delete) and ``transform``."""
    s = subparsers.add_parser("package", help="write model.tar.gz for SageMaker from an artifact",
                              description="Write the archive SageMaker extracts to /opt/ml/model: the artifact (file or "
                                          "bundle) and a manifest (format, signature, modelport version, checksums).")
    s.add_argument("artifact", metavar="ARTIFACT", help="a converted artifact: a file (e.g. model.onnx) or a bundle directory")
    s.add_argument("-o", "--out", default="model.tar.gz", metavar="OUT", help="output archive (default: model.tar.gz)")
    s.add_argument("--no-check", action="store_true", help="do not load the artifact with its runtime first")
    _json_flag(s)
    s.set_defaults(_handler=_cmd_package)

    s = subparsers.add_parser("serve", help="serve a model with the SageMaker inference container contract",
                              description="Serve model.tar.gz (or an extracted package, or an artifact) with GET /ping, "
                                          "POST /invocations and GET /execution-parameters on several worker processes. "
                                          "Settings: SAGEMAKER_BIND_TO_PORT, SAGEMAKER_MODEL_SERVER_WORKERS, "
                                          "SAGEMAKER_MODEL_SERVER_TIMEOUT, SAGEMAKER_MAX_PAYLOAD_IN_MB, ... (docs/sagemaker.md).")
    from modelport.deploy.sagemaker.serve import add_arguments

    add_arguments(s)
    s.set_defaults(_handler=_cmd_serve)

    d = subparsers.add_parser("deploy", help="create, update or delete a SageMaker endpoint",
                              description="Deploy to SageMaker with boto3: sagemaker (new endpoint), update (blue/green "
                                          "to a new model version), delete.")
    dsub = d.add_subparsers(dest="deploy_action", metavar="ACTION", parser_class=type(d))
    dsub.required = True
    s = dsub.add_parser("sagemaker", help="upload, create model + endpoint config + endpoint, wait for InService",
                        description="Package ARTIFACT if needed, upload it to S3, create the model, endpoint config and "
                                    "endpoint, and wait until it is InService.")
    s.add_argument("artifact", metavar="ARTIFACT", help="model.tar.gz from 'modelport package', or an artifact to package")
    s.add_argument("--name", metavar="ENDPOINT", help="endpoint name (default: modelport-<artifact name>)")
    _model_flags(s, required=True)
    _control_flags(s)
    s.set_defaults(_handler=_cmd_deploy)
    s = dsub.add_parser("update", help="move an endpoint to a new model version (blue/green)",
                        description="Create a new model and endpoint config for ENDPOINT and switch it with update_endpoint "
                                    "(SageMaker's blue/green deployment); the previous config is printed for rollback.")
    s.add_argument("endpoint", metavar="ENDPOINT", help="existing endpoint name")
    s.add_argument("artifact", metavar="ARTIFACT", help="model.tar.gz or an artifact to package")
    _model_flags(s, required=False)
    _control_flags(s)
    s.set_defaults(_handler=_cmd_deploy)
    s = dsub.add_parser("delete", help="delete an endpoint, its config and its models",
                        description="Delete ENDPOINT, its endpoint config and (unless --keep-models) its models.")
    s.add_argument("endpoint", metavar="ENDPOINT", help="endpoint name")
    s.add_argument("--keep-models", action="store_true", help="keep the models (delete endpoint and config only)")
    _control_flags(s, waits=False)
    s.set_defaults(_handler=_cmd_deploy)

    s = subparsers.add_parser("transform", help="run a SageMaker batch transform job on S3 input",
                              description="Run MODEL_NAME (a SageMaker model, e.g. created by 'deploy sagemaker') over "
                                          "S3 input split by line; the output has one line per input line, in order.")
    s.add_argument("model_name", metavar="MODEL_NAME", help="SageMaker model name")
    s.add_argument("--input", required=True, metavar="S3_URI", help="s3:// prefix of the input files")
    s.add_argument("--output", required=True, metavar="S3_URI", help="s3:// output path")
    s.add_argument("--job-name", help="transform job name (default: MODEL_NAME-<timestamp>)")
    s.add_argument("--instance-type", default="ml.m5.large", metavar="TYPE", help="default ml.m5.large")
    s.add_argument("--count", type=int, default=1, metavar="N", help="instances (default 1)")
    s.add_argument("--content-type", default="text/csv", help="input content type (default text/csv)")
    s.add_argument("--accept", default="text/csv", help="output content type (default text/csv)")
    s.add_argument("--max-payload", type=int, default=6, metavar="MB", help="MaxPayloadInMB, 0..100 (default 6)")
    s.add_argument("--strategy", default="MultiRecord", choices=("MultiRecord", "SingleRecord"), help="BatchStrategy")
    s.add_argument("--concurrency", type=int, metavar="N", help="MaxConcurrentTransforms")
    _control_flags(s)
    s.set_defaults(_handler=_cmd_transform)


class _Parser(argparse.ArgumentParser):
    """One-line usage errors (exit 2), as the ``modelport`` command does."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    """Run these subcommands on their own (``python -m modelport.deploy.sagemaker.cli``), with
    the ``modelport`` command's conventions: JSON with ``--json``, one-line errors, exit codes
    0 ok, 2 usage, 3 bad input or a failed AWS request, 4 missing optional package."""
    import json

    p = _Parser(prog="modelport")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    register(sub)
    args = p.parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    try:
        data, text = args._handler(args)
    except ModelportError as exc:
        msg = " ".join(str(exc).split())
        print(f"modelport: error: {msg}", file=sys.stderr)
        if as_json:
            print(json.dumps({"error": msg, "exit_code": exc.exit_code}))
        return exc.exit_code
    except OSError as exc:
        print(f"modelport: error: {exc.strerror or exc} {getattr(exc, 'filename', '') or ''}".rstrip(), file=sys.stderr)
        return 3
    print(json.dumps(data, indent=2, default=str) if as_json else text, flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
