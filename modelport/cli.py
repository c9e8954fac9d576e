"""The ``modelport`` command (also ``python -m modelport``).

Commands: ``inspect``, ``convert``, ``verify``, ``formats``, ``demo``.  Every command takes
``--json`` (machine output on stdout) and ``--help``.  Errors are ONE line on stderr
(``modelport: error: <message>``) with the exit codes of :data:`modelport.core.errors.EXIT_CODES`;
a problem with the user's input never prints a traceback.  Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, NoReturn
from collections.abc import Callable, Sequence

from modelport.core.errors import EXIT_CODES, ModelportError, UsageError

__all__ = ["main", "build_parser"]

PROG = "modelport"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) instead of usage + message; with
    ``--json`` anywhere on the line, the error is also printed as JSON on stdout."""

    def error(self, message: str) -> NoReturn:
        message = f"{message} (see '{self.prog} --help')"
        sys.stderr.write(f"{PROG}: error: {message}\n")
        if _JSON_REQUESTED:
            print(json.dumps({"error": message, "exit_code": EXIT_CODES["usage"]}))
        raise SystemExit(EXIT_CODES["usage"])


#: Set by :func:`main` before parsing, so that usage errors can answer in JSON too.
_JSON_REQUESTED = False


class _Once(argparse.Action):
    """An option that may be given once: a repeated one is a usage error, not a silent override."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, f"_seen_{self.dest}", False):
            parser.error(f"{option_string} given twice")
        setattr(namespace, f"_seen_{self.dest}", True)
        setattr(namespace, self.dest, values)


def _round_count(text: str) -> int:
    """``--iteration-end K``: a positive round count (XGBoost's iteration_range=(0, 0) means
    every round, so 0 is refused rather than read as 'no trees')."""
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"{k} keeps no round (XGBoost's iteration_range=(0, 0) means every round: "
                                         "omit --iteration-end to keep them all)")
    return k


def _suite_names() -> list[str]:
    from modelport.benchmarks import suites

    return list(suites())


def _backend_names() -> list[str]:
    from modelport.converters.backends import all_backends

    return ["modelport"] + sorted({b.name for _k, b in all_backends().items()})


def _backend_help() -> str:
    from modelport.converters.backends import all_backends

    return "; ".join(f"{b.name} (--to {b.target}): {b.description}" for _k, b in all_backends().items())


def _target_names() -> list[str]:
    from modelport.converters.targets import all_targets

    return all_targets().names()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (the ``--to`` choices come from the target registry)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    # How a source model is read: shared by every command that reads one.
    reading = argparse.ArgumentParser(add_help=False)
    g = reading.add_argument_group("reading the model")
    g.add_argument("--trust-pickle", action="store_true", help="allow unpickling (only for files you made)")
    rounds = g.add_mutually_exclusive_group()
    rounds.add_argument("--best-iteration", action="store_true",
                        help="keep only the rounds up to the recorded best_iteration (early stopping). Default: what "
                             "the saving API's predict does (the scikit-learn wrapper: best_iteration; Booster: every round)")
    rounds.add_argument("--all-rounds", action="store_true",
                        help="keep every round, even in a model saved by the scikit-learn wrapper after early stopping")
    rounds.add_argument("--iteration-end", type=_round_count, metavar="K", action=_Once,
                        help="keep only the first K boosting rounds (XGBoost's iteration_range=(0, K)); K >= 1")
    g.add_argument("--missing", type=float, metavar="VALUE", action=_Once,
                   help="input value that means missing besides NaN (the DMatrix missing= you trained and "
                        "predict with, e.g. -999); model files do not record it")
    p = _Parser(prog=PROG, description="Convert trained XGBoost/LightGBM/scikit-learn models into other formats, "
                                       "with exact parity checks.",
                epilog=f"exit codes: {', '.join(f'{v} {k}' for k, v in EXIT_CODES.items())}")
    from modelport.core.version import __version__

    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    s = sub.add_parser("inspect", parents=[common, reading], help="describe a model file",
                       description="Describe a model: format, framework version, objective, task, booster, "
                                   "trees, depth, features, classes/outputs.")
    s.add_argument("model", metavar="MODEL", help="model file (XGBoost .json/.ubj, SageMaker model.tar.gz, *.ir.json, "
                                                     "LightGBM model.txt, scikit-learn pickle)")

    s = sub.add_parser("convert", parents=[common, reading], help="convert a model and verify the artifact",
                       description="Write MODEL in another format; by default run the artifact on probe rows and "
                                   "keep it only if it matches the reference evaluator.")
    s.add_argument("model", metavar="MODEL", help="model file")
    s.add_argument("--to", required=True, choices=_target_names(), metavar="FORMAT",
                   help="output format: " + ", ".join(_target_names()))
    s.add_argument("-o", "--out", metavar="OUT", help="output file or directory (default: beside MODEL)")
    s.add_argument("--backend", default="modelport", metavar="B", choices=_backend_names(), action=_Once,
                   help="converter backend (default: modelport); " + _backend_help())
    s.add_argument("--data", metavar="ROWS.csv", action=_Once, help="extra rows to verify on (numeric CSV, header optional)")
    s.add_argument("--no-verify", action="store_true", help="skip the parity check")
    s.add_argument("--force", action="store_true", help="replace an existing output (default: refuse)")
    s.add_argument("--code-shape", choices=("auto", "unrolled", "arrays"), default="auto",
                   help="generated code (c, python, java, ...): unrolled if/else (small models), node arrays with a "
                        "loop (compact, fast to compile), or auto by model size (default)")

    s = sub.add_parser("verify", parents=[common, reading], help="check an artifact against its source model",
                       description="Run ARTIFACT and the reference evaluator of MODEL on probe rows (and --data) "
                                   "and report max abs diff, max ULP diff, class flips and differing rows.")
    s.add_argument("model", metavar="MODEL", help="the source model file")
    s.add_argument("artifact", metavar="ARTIFACT", help="the converted artifact (a file or a bundle directory)")
    s.add_argument("--data", metavar="ROWS.csv", action=_Once, help="extra rows to verify on (numeric CSV, header optional)")

    sub.add_parser("formats", parents=[common], help="list source formats, targets and runtimes",
                   description="List the registered frontends (sources), targets and runtimes.")

    s = sub.add_parser("bench", parents=[common, reading], help="benchmark MODEL in every format (or run suites)",
                       description="modelport bench MODEL: convert MODEL to every registered format, verify each artifact "
                                   "and time it against the framework's own predict on the same rows (--report DIR: HTML + "
                                   "Markdown). modelport bench [SUITE ...]: run the built-in benchmark suites.")
    s.add_argument("suite", nargs="*", metavar="MODEL|SUITE",
                   help="a model file, or suites (default: all): " + ", ".join(_suite_names()))
    s.add_argument("--repeats", type=int, default=None, metavar="N", help="suites: timed repeats per measurement (best is kept)")
    from modelport._bench_cli import add_arguments as bench_model_arguments

    bench_model_arguments(s, positional=False)

    s = sub.add_parser("demo", parents=[common], help="train a sample model, convert to every format, verify, benchmark",
                       description="Train a sample XGBoost model, convert it to every registered target, verify each "
                                   "artifact, benchmark them and write a Markdown + PNG report under reports/.")
    s.add_argument("--out", default="reports", metavar="DIR", help="report directory (default: reports)")
    s.add_argument("--rows", type=int, default=10_000, metavar="N", help="benchmark rows (default: 10000)")

    s = sub.add_parser("predict", parents=[common], help="score CSV/Parquet/JSON Lines files with an artifact",
                       description="Stream files through an artifact (or a model file, converted and verified first): "
                                   "one output row per input row, in order, every core for large inputs.")
    from modelport._predict import add_arguments as predict_arguments
    from modelport._predict import run as predict_run

    predict_arguments(s)
    s.set_defaults(_handler=predict_run)

    from modelport.deploy.sagemaker.cli import register as register_sagemaker

    register_sagemaker(sub)  # package, serve, deploy, transform
    return p


def _load_options(args: argparse.Namespace):
    from modelport.converters.frontends import LoadOptions

    best = True if args.best_iteration else (False if args.all_rounds or args.iteration_end is not None else None)
    return LoadOptions(trust_pickle=args.trust_pickle, use_best_iteration=best,
                       iteration_end=args.iteration_end, missing=args.missing)


def _progress(enabled: bool) -> Callable[[str], None]:
    def say(msg: str) -> None:
        if enabled:
            print(f"{PROG}: {msg}", file=sys.stderr, flush=True)

    return say


# --------------------------------------------------------------------------- commands


def _inspect_framework(args: argparse.Namespace, src: Any) -> tuple[dict[str, Any], str]:
    """``inspect`` for a framework source (LightGBM model.txt, pickled scikit-learn)."""
    from pathlib import Path

    fm = src.open(Path(args.model), _load_options(args))
    info: dict[str, Any] = {
        "file": args.model,
        "format": fm.source,
        "framework": fm.framework,
        "framework_version": fm.framework_version,
        "objective": fm.objective,
        "task": fm.task,
        "n_trees": fm.n_trees or 0,
        "n_features": fm.n_features,
        "feature_names": list(fm.feature_names),
        "n_classes": fm.n_classes,
        "ir": False,
        "sha256": fm.sha256,
        **fm.details,
    }
    names = info["feature_names"]
    shown = ", ".join(names[:12]) + (f", ... ({len(names)} total)" if len(names) > 12 else "")
    lines = [
        f"file:        {info['file']}",
        f"format:      {info['format']} ({fm.framework} {fm.framework_version}"
        + (f", file format {fm.details['format_version']}" if fm.details.get("format_version") else "") + ")",
        f"objective:   {info['objective'] or '-'}",
        f"task:        {info['task']}" + (f", {info['n_classes']} classes" if info["n_classes"] else ""),
        f"trees:       {info['n_trees']}" if fm.n_trees else "trees:       - (not a tree model)",
        f"features:    {info['n_features']}: {shown}",
        "converts:    only with --to onnx --backend onnxmltools (no IR frontend for this format yet)",
    ]
    return info, "\n".join(lines)


def _cmd_inspect(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from pathlib import Path

    from modelport._api import describe_rounds, framework_source, load
    from modelport.core.ir.model import TreeEnsemble
    from modelport.core.ir.validate import tree_depth

    src = framework_source(Path(args.model))
    if src is not None:
        return _inspect_framework(args, src)
    m = load(args.model, options=_load_options(args))
    prov = m.provenance
    b = m.booster
    info: dict[str, Any] = {
        "file": args.model,
        "format": prov.source_format if prov else "modelport-ir",
        "framework": prov.framework if prov else "",
        "framework_version": prov.framework_version if prov else "",
        "objective": prov.objective if prov else "",
        "task": m.task.value,
        "post_transform": m.post_transform.value,
        "booster": "tree_ensemble" if isinstance(b, TreeEnsemble) else "linear",
        "n_trees": len(b.trees) if isinstance(b, TreeEnsemble) else 0,
        "max_depth": max((tree_depth(t) for t in b.trees), default=0) if isinstance(b, TreeEnsemble) else 0,
        "n_nodes": sum(int(t.left.size) for t in b.trees) if isinstance(b, TreeEnsemble) else 0,
        "n_features": m.n_features,
        "feature_names": [f.name for f in m.features],
        "categorical_features": [f.name for f in m.features if f.type.value == "categorical"],
        "n_classes": m.n_classes,
        "n_outputs": m.n_outputs,
        "output_names": list(m.output_names),
        "base_score": [float(x) for x in m.base_score],
        "missing": "NaN" if m.missing != m.missing else m.missing,
        "sha256": prov.sha256 if prov else "",
        "rounds": describe_rounds(m),
        "rounds_kept": prov.rounds_kept if prov else None,
        "rounds_total": prov.rounds_total if prov else None,
    }
    names = info["feature_names"]
    shown = ", ".join(names[:12]) + (f", ... ({len(names)} total)" if len(names) > 12 else "")
    lines = [
        f"file:        {info['file']}",
        f"format:      {info['format']}" + (f" ({info['framework']} {info['framework_version']})" if prov else ""),
        f"objective:   {info['objective'] or '-'}",
        f"task:        {info['task']} (post-transform {info['post_transform']})",
        f"booster:     {info['booster']}" + (f", {info['n_trees']} trees, max depth {info['max_depth']}, "
                                             f"{info['n_nodes']} nodes" if info["booster"] == "tree_ensemble" else ""),
        f"features:    {info['n_features']}: {shown}",
        f"outputs:     {info['n_outputs']}" + (f", {info['n_classes']} classes" if info["n_classes"] else "")
        + (f" ({', '.join(info['output_names'])})" if info["output_names"] else ""),
        f"base score:  {', '.join(repr(x) for x in info['base_score'])} (margin space)",
        "missing:     NaN" + ("" if info["missing"] == "NaN" else f" and {info['missing']!r}"),
    ]
    if info["rounds"]:
        lines.append(f"rounds:      {info['rounds']}")
    if info["categorical_features"]:
        lines.append(f"categorical: {', '.join(info['categorical_features'])}")
    return info, "\n".join(lines)


def _report_text(report: Any) -> str:
    lines = [f"parity: {'PASS' if report.passed else 'FAIL'}"]
    for r in (report, report.margin, getattr(report, "labels", None)):
        if r is None:
            continue
        lines.append(f"  {r.output:<10} rows {r.n_rows}, max abs diff {r.max_abs_diff:.6g}, max ULP diff "
                     f"{r.max_ulp_diff}, class flips {r.class_flips}, differing rows {r.n_differing} "
                     f"(tolerance {r.tolerance.name}: {r.tolerance.reason})")
        for i in r.differing_rows[:10]:
            row = r.rows.get(i, {})
            label = r.row_label(i) if hasattr(r, "row_label") else f"row {i}"
            lines.append(f"    {label}: reference {row.get('reference')} artifact {row.get('candidate')}")
        if r.n_differing > 10:
            lines.append(f"    ... {r.n_differing - 10} more rows differ")
    return "\n".join(lines)


def _cmd_convert(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from modelport._api import convert
    from modelport.converters.targets import WriteOptions

    if args.no_verify and args.data:
        raise UsageError("--data rows are for verification: drop --no-verify, or drop --data")
    res = convert(args.model, to=args.to, out=args.out, backend=args.backend, data=args.data,
                  verify=not args.no_verify, load_options=_load_options(args), force=args.force,
                  write_options=WriteOptions(code_shape=args.code_shape), progress=_progress(True))
    text = f"wrote {res.path} ({res.target}, {'verified' if res.verified else 'NOT verified'}, {res.seconds:.2f}s)"
    if res.rounds:
        text += f"\nrounds: {res.rounds}"
    if res.report is not None:
        text += "\n" + _report_text(res.report)
    return res.to_dict(), text


def _cmd_verify(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from modelport._api import verify

    report = verify(args.model, args.artifact, data=args.data, load_options=_load_options(args))
    out = report.to_dict()
    if not report.passed:
        args._exit = EXIT_CODES["parity_failure"]
    return out, _report_text(report)


def _cmd_formats(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from modelport._formats import registry_tables

    tables = registry_tables()
    lines = []
    for axis, rows in tables.items():
        lines.append(f"{axis}:")
        lines += [f"  {r['name']:<16} {r['description']}" for r in rows]
    return tables, "\n".join(lines)


def _cmd_bench(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from modelport.benchmarks import run_suite, suites

    known = suites()
    if len(args.suite) == 1 and args.suite[0] not in known and _looks_like_a_file(args.suite[0]):
        from modelport._bench_cli import command

        args.model = args.suite[0]
        return command(args)
    unknown = [s for s in args.suite if s not in known]
    if unknown:
        raise UsageError(f"unknown benchmark suite {unknown[0]!r} (known: {', '.join(known)})")
    if args.repeats is not None and args.repeats < 1:
        raise UsageError(f"--repeats must be at least 1, got {args.repeats}")
    say = _progress(True)
    data: dict[str, Any] = {}
    texts = []
    for name in args.suite or list(known):
        say(f"running benchmark suite {name}")
        data[name] = run_suite(known[name], repeats=args.repeats)
        texts.append(f"== {name}\n{known[name].format_text(data[name])}")
    return data, "\n\n".join(texts)


def _looks_like_a_file(name: str) -> bool:
    from pathlib import Path

    return Path(name).exists() or any(c in name for c in "/.\\")


def _cmd_demo(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from modelport._demo import run_demo

    result = run_demo(out_dir=args.out, n_rows=args.rows, progress=_progress(True))
    return result, f"report: {result['html']}\nsummary: {result['report']}"


_COMMANDS = {"inspect": _cmd_inspect, "convert": _cmd_convert, "verify": _cmd_verify, "formats": _cmd_formats,
             "bench": _cmd_bench, "demo": _cmd_demo}


def _jsonable(x: Any) -> Any:
    from modelport._verify import jsonable

    return jsonable(x)


def _error(msg: str, code: int, as_json: bool, report: Any = None) -> int:
    msg = " ".join(str(msg).split())  # one line, always
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    if as_json:
        err: dict[str, Any] = {"error": msg, "exit_code": code}
        if report is not None:
            err["report"] = report.to_dict()
        print(json.dumps(_jsonable(err), allow_nan=False, default=str))
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    global _JSON_REQUESTED
    import warnings

    warnings.simplefilter("ignore")  # third-party warnings are not ours to print: errors are one line
    _JSON_REQUESTED = "--json" in (sys.argv[1:] if argv is None else list(argv))
    args = build_parser().parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    try:
        handler = getattr(args, "_handler", None) or _COMMANDS[args.command]
        data, text = handler(args)
    except ModelportError as exc:
        return _error(str(exc), exc.exit_code, as_json, getattr(exc, "report", None))
    except OSError as exc:  # unreadable/unwritable paths that slipped past the API's checks
        where = f" {exc.filename!r}" if getattr(exc, "filename", None) else ""
        return _error(f"{exc.strerror or exc}{where}", EXIT_CODES["bad_input"], as_json)
    except MemoryError:
        return _error("out of memory: the model needs more than this process may use", EXIT_CODES["bad_input"], as_json)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    try:
        print(json.dumps(_jsonable(data), indent=2, allow_nan=False, default=str) if as_json else text, flush=True)
    except BrokenPipeError:  # e.g. `modelport inspect m.json | head -1`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return getattr(args, "_exit", EXIT_CODES["ok"])


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
