"""Command-line side of ``modelport bench MODEL``: options, the text table, and a
standalone entry point (``python -m modelport._bench_cli MODEL ...``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from modelport.core.errors import EXIT_CODES, ModelportError, UsageError

__all__ = ["add_arguments", "command", "run", "main", "format_table", "options_from_args", "Progress"]


class Progress:
    """A progress bar on stderr when it is a terminal (tqdm when installed), else silent."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        self.enabled = enabled and sys.stderr.isatty()
        self.total, self.done, self.label = total, 0, ""
        if self.enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, file=sys.stderr, unit="format", leave=False)
            except ImportError:
                pass

    def step(self, label: str) -> None:
        self.label = label
        self._draw("")

    def tick(self, stage: str) -> None:
        self._draw(stage)

    def advance(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        self._draw("")

    def _draw(self, stage: str) -> None:
        if not self.enabled:
            return
        text = f"{self.label}: {stage}" if stage else self.label
        if self.bar is not None:
            self.bar.set_description_str(text[:40])
            return
        width = 24
        filled = width * self.done // max(1, self.total)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {text[:48]:<48}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            sys.stderr.write("\r" + " " * 90 + "\r")
            sys.stderr.flush()


def _has(parser: argparse.ArgumentParser, flag: str) -> bool:
    return any(flag in a.option_strings for a in parser._actions)


def add_arguments(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    """Add the ``bench MODEL`` options to ``parser`` (``positional=False`` when the parser
    already has the positional, e.g. the suite form's ``SUITE``; options it already has,
    such as ``--json`` or ``--data``, are not added twice)."""
    if positional:
        parser.add_argument("model", metavar="MODEL", help="model file to benchmark in every format")
    add = parser.add_argument
    add("--formats", metavar="F1,F2", help="formats to measure (default: every registered one; "
                                           "a third-party backend as onnx[onnxmltools])")
    add("--batch", default="1,100,10000", metavar="N1,N2", help="batch sizes for throughput (default: 1,100,10000)")
    if not _has(parser, "--data"):
        add("--data", metavar="ROWS.csv", help="rows to benchmark (and verify) on; default: rows drawn from the "
                                               "model's split thresholds")
    add("--threads", type=int, default=1, metavar="N", help="threads for every runtime that takes a thread count and "
                                                            "for the baseline (default: 1)")
    add("--budget", type=float, default=1.0, metavar="SECONDS",
        help="sampling time per measurement; it stops earlier once the median is stable (default: 1)")
    add("--report", metavar="DIR", help="write report.html (self-contained, with plots) and report.md to DIR")
    if not _has(parser, "--json"):
        add("--json", action="store_true", help="print the results as one JSON object")


def _int_list(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise UsageError(f"{what} must be positive integers, got {text!r}")
    return tuple(sorted(set(values)))


def options_from_args(args: argparse.Namespace):
    """:class:`~modelport._bench.BenchOptions` from parsed arguments."""
    from modelport._bench import BenchOptions
    from modelport.converters.frontends import LoadOptions

    if args.budget <= 0:
        raise UsageError(f"--budget must be positive, got {args.budget}")
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip()) if args.formats else None
    load = LoadOptions(trust_pickle=getattr(args, "trust_pickle", False),
                       use_best_iteration=getattr(args, "best_iteration", False),
                       iteration_end=getattr(args, "iteration_end", None), missing=getattr(args, "missing", None))
    return BenchOptions(formats=formats, batches=_int_list(args.batch, "--batch"), threads=args.threads,
                        budget=args.budget, data=args.data, load_options=load, progress=not getattr(args, "json", False))


def command(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """Run the bench for ``args.model``; return (JSON-ready result, text table) as the CLI's
    commands do.  Writes the reports when ``args.report`` is set."""
    from pathlib import Path

    from modelport._bench import run_bench

    if not Path(args.model).is_file():
        raise ModelportError(f"cannot read model file {args.model!r}: no such file")
    result = run_bench(args.model, options_from_args(args))
    # The CLI's exit code: one of modelport's own formats differs from the model.  A third-party
    # backend's measured difference (e.g. onnx[onnxmltools]) is reported in the table, not an error.
    if any(r["status"] == "parity_failure" and "[" not in r["format"] for r in result["formats"]):
        args._exit = EXIT_CODES["parity_failure"]
    text = format_table(result)
    if args.report:
        from modelport._report import write_reports

        paths = write_reports(result, args.report)
        result["report"] = {k: str(v) for k, v in paths.items()}
        text += "\n\nreport: " + str(paths["html"]) + "\nsummary: " + str(paths["markdown"])
    return result, text


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _parity_cell(row: dict) -> str:
    p = row.get("parity")
    if p is None:
        return "not verified" if row["status"] in ("ok", "no_runtime") else "-"
    ulp = p["margin_max_ulp"] if p.get("margin_max_ulp") is not None else p["max_ulp"]
    return f"{'PASS' if p['passed'] else 'FAIL'} {ulp} ULP"


def format_table(result: dict) -> str:
    """The human-readable table: one line per format (and the baseline), then the reasons
    for formats that did not run, then the recommendations."""
    batches = [str(b) for b in result["settings"]["batches"]]
    head = (f"{'format':<20} {'parity':<13} {'conv s':>7} {'size':>9} {'load ms':>8} {'p50 us':>9} {'p99 us':>9}"
            + "".join(f" {'rows/s@' + b:>13}" for b in batches) + f" {'p50 vs base':>11}")
    m = result["model"]
    s = result["settings"]
    lines = [f"{m['path']}: {m['framework']} {m['framework_version']} {m['objective']}, {m['n_trees']} trees, "
             f"{m['n_features']} features; rows: {result['rows']['source']}; {s['threads']} thread(s)", head]
    base = result["baseline"]
    if base["status"] == "ok":
        lines.append(f"{'baseline':<20} {'-':<13} {'-':>7} {'-':>9} {'-':>8} {base['latency']['p50_us']:>9.1f} "
                     f"{base['latency']['p99_us']:>9.1f}"
                     + "".join(f" {base['throughput'][b]['rows_per_s']:>13,.0f}" for b in batches) + f" {'1.00x':>11}")
    notes = [f"baseline: {base['name']}" + (f" (unavailable: {base['reason']})" if base["status"] != "ok" else "")]
    for r in result["formats"]:
        if "latency" in r:
            ratio = r.get("vs_baseline", {}).get("p50_latency")
            lines.append(f"{r['format']:<20} {_parity_cell(r):<13} {r['convert_seconds']:>7.2f} "
                         f"{_size(r['artifact_bytes']):>9} {r['load_seconds'] * 1e3:>8.1f} {r['latency']['p50_us']:>9.1f} "
                         f"{r['latency']['p99_us']:>9.1f}"
                         + "".join(f" {r['throughput'][b]['rows_per_s']:>13,.0f}" for b in batches)
                         + f" {_fmt(ratio, '.2f') + 'x' if ratio else '-':>11}")
        else:
            lines.append(f"{r['format']:<20} {_parity_cell(r):<13} {_fmt(r.get('convert_seconds'), '.2f'):>7} "
                         f"{_size(r.get('artifact_bytes')):>9}  {r['status'].upper().replace('_', ' ')}")
            notes.append(f"{r['format']}: {r['status'].replace('_', ' ')}: {r['reason']}")
    lines += ["", *notes]
    for rec in result.get("recommendations", ()):
        lines.append(f"for {rec['need']}: {rec['format']} ({rec['why']})")
    return "\n".join(lines)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def run(args: argparse.Namespace) -> int:
    """Run the bench from parsed arguments, print the table (or ``--json``); the exit code."""
    from modelport._verify import jsonable

    as_json = bool(getattr(args, "json", False))
    try:
        data, text = command(args)
    except ModelportError as exc:
        msg = " ".join(str(exc).split())
        print(f"modelport: error: {msg}", file=sys.stderr)
        if as_json:
            print(json.dumps({"error": msg, "exit_code": exc.exit_code}))
        return exc.exit_code
    try:
        print(json.dumps(jsonable(data), indent=2, allow_nan=False, default=str) if as_json else text, flush=True)
    except BrokenPipeError:  # e.g. piped into head
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return getattr(args, "_exit", EXIT_CODES["ok"])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m modelport._bench_cli MODEL [options]``."""
    parser = argparse.ArgumentParser(prog="modelport bench", description="Benchmark MODEL in every format.")
    add_arguments(parser)
    parser.add_argument("--trust-pickle", action="store_true", help="allow unpickling (only for files you made)")
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
