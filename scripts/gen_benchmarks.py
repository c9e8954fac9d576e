"""Regenerate docs/benchmarks.md: ``modelport bench`` on every model of the zoo
(benchmarks/zoo.py), with the anchors (benchmarks/anchors.py) measured on the same rows and
shown side by side.

    python scripts/gen_benchmarks.py                       # small + medium zoo models
    python scripts/gen_benchmarks.py --sizes small,medium,large --budget 1
    python scripts/gen_benchmarks.py --names xgb-small,lgb-small --json-out /tmp/bench.json

Numbers depend on the machine (it is named in the page); the parity columns do not.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _bench_entry(entry, work: Path, args) -> dict:
    from modelport._bench import BenchOptions, _baseline, _open_source, _rows, run_bench
    from modelport.benchmarks.anchors import run_anchors
    from modelport.benchmarks.zoo import build
    from modelport.converters.frontends import LoadOptions
    from modelport.core.errors import ModelportError

    try:
        path = build(entry, work / entry.name)
    except ModelportError as exc:
        return {"zoo": entry.name, "entry": _entry_info(entry), "error": str(exc)}
    load = LoadOptions(trust_pickle=entry.trust_pickle)
    opts = BenchOptions(formats=args.formats, batches=args.batch, threads=args.threads, budget=args.budget,
                        load_options=load, progress=True, extra={"zoo": entry.name, "entry": _entry_info(entry)})
    print(f"gen_benchmarks: {entry.name}: formats", file=sys.stderr, flush=True)
    result = run_bench(path, opts)
    if args.no_anchors:
        return result
    print(f"gen_benchmarks: {entry.name}: anchors", file=sys.stderr, flush=True)
    source = _open_source(path, load)
    X, _how = _rows(source, opts)  # the bench's own rows: seeded, so the same rows
    _name, base, _why = _baseline(source, args.threads, load)
    ref = {"prediction": None if base is None else np.asarray(base(X[:256])), "margin": None}
    if source.model is not None:
        from modelport.core.ir.evaluate import predict_margin

        ref["margin"] = predict_margin(source.model, X[:256])
    result["anchors"] = run_anchors(path, entry.framework, X=X, names=source.feature_names, reference=ref,
                                    threads=args.threads, budget=args.budget, batches=args.batch,
                                    work=work / entry.name / "anchors")
    return result


def _entry_info(entry) -> dict:
    return {"name": entry.name, "framework": entry.framework, "size": entry.size, "description": entry.description}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _row_cells(r: dict, batches: list[str], *, anchor: bool, kind: str = "anchor") -> list[str]:
    from modelport._report import _parity, _size

    if anchor:
        d = r.get("max_abs_diff")
        d = float(d) if isinstance(d, str) else d  # "Infinity"/"NaN" as saved in strict JSON
        check = "-" if d is None else ("exact" if d == 0 else "WRONG: missing (NaN) outputs" if d == float("inf")
                                       else f"max abs diff {d:.2g} ({r.get('output', '')})")
    else:
        verdict, ulp = _parity(r)
        check = verdict + (f", {ulp.split(' ')[0]} ULP" if verdict in ("PASS", "FAIL") else "")
        kind = "modelport" if r.get("backend", "modelport") == "modelport" else f"{r['backend']} backend"
    if "latency" not in r:
        why = r.get("reason") or r["status"]
        return [r["format"], kind, check, f"{r['status'].replace('_', ' ')}: {why}", *[""] * (len(batches) + 4)]
    tp = r["throughput"]
    cold = r.get("load_seconds", 0.0) + r.get("first_predict_seconds", 0.0)
    return [r["format"], kind, check, f"{r['latency']['p50_us']:,.1f}",
            f"{r['latency']['p99_us']:,.1f}",
            *[f"{tp[b]['rows_per_s']:,.0f}" if b in tp else "n/m" for b in batches],
            "-" if anchor else f"{cold * 1e3:,.1f}", _size(r.get("artifact_bytes")),
            f"{r['convert_seconds']:.2f}" if r.get("convert_seconds") is not None else "-"]


def _recommendations(result: dict) -> list[dict]:
    """The bench's recommendations, recomputed with this version's rules; the memory ranking only
    when the results say which formats predict in a child process (older results do not)."""
    from modelport._bench_env import recommend

    recs = recommend(result)
    measured = [x for x in result["formats"] if x.get("memory")]
    if any("child_processes" not in x["memory"] for x in measured):
        recs = [x for x in recs if not x["need"].startswith("least memory")]
    return recs


def render(results: list[dict], argv: list[str]) -> str:
    """docs/benchmarks.md from the results."""
    ok = [r for r in results if "formats" in r]
    env = ok[0]["environment"] if ok else {"machine": {}, "versions": {}}
    m = env["machine"]
    batches = [str(b) for b in (ok[0]["settings"]["batches"] if ok else [])]
    head = ["contender", "kind", "parity / check", "p50 µs (1 row)", "p99 µs", *[f"rows/s @ {int(b):,}" for b in batches],
            "load + 1st ms", "size", "convert s"]
    out = ["# Benchmarks", "",
           "Generated by `python scripts/gen_benchmarks.py" + "".join(f" {a}" for a in argv) + "` on "
           + time.strftime("%Y-%m-%d", time.gmtime()) + ". Every model of the zoo (`benchmarks/zoo.py`) is run through "
           "`modelport bench` (each format converted, **verified**, then timed in one process on the same rows), and "
           "the anchors (`benchmarks/anchors.py`) run the same model on the same rows. Run it on your own model with "
           "`modelport bench MODEL --report DIR`.", "",
           "Timings depend on the machine and its load; the parity columns do not. Timing method: "
           "`time.perf_counter_ns`; warm-up calls discarded; calls shorter than 100 clock resolutions are batched per "
           "sample; samples are taken until the median moves less than 2% (or the per-measurement budget ends). "
           "`n/m`: not measured at that batch size (anchors that score one record per Python call stop at 100 "
           "or 1,000 rows). Ratios and the baseline: the framework's own predict with the same thread count.", "",
           "## On your own model", "",
           "```", "modelport bench MODEL [--formats onnx,c,...] [--batch 1,100,10000] [--data rows.csv] [--threads N] "
           "[--budget SECONDS] [--report DIR] [--json]", "```", "",
           "converts MODEL to every registered format (a third-party backend as `onnx[onnxmltools]`), verifies each "
           "artifact on probe rows plus the first benchmark rows, and measures each runtime in one process on the same "
           "rows: single-row latency p50/p95/p99, throughput per batch size, load time (cold: from an empty build "
           "cache, so compiling is included) plus the first prediction, peak memory growth (Linux: VmHWM after "
           "resetting it through /proc/self/clear_refs; elsewhere the growth of ru_maxrss), artifact size on disk "
           "(bundles: all files) and conversion time (write + verify). The baseline is the framework's own predict "
           "(XGBoost `Booster.inplace_predict`, LightGBM `Booster.predict`, scikit-learn `predict`) with the same "
           "thread count, and every format gets time ratios against it. A format that cannot run here (missing "
           "toolchain or package, a model it cannot express, a parity failure) is listed with the reason. "
           "`--report DIR` writes `report.html` (self-contained: plots as inline SVG, no scripts, nothing fetched), "
           "`report.md` (for a pull request) and `report.json`; both reports carry the machine, library versions, "
           "the parity table and a \"which format for which need\" list computed from the measurements. "
           "`modelport demo` runs the same command on its sample model.", "",
           "## Machine", "",
           f"- CPU: {m.get('cpu', '?')}, {m.get('cores', '?')} cores ({m.get('usable_cores', '?')} usable), "
           f"{(m.get('memory_bytes') or 0) / 2**30:.1f} GiB memory; {m.get('os', '')} {m.get('arch', '')}; "
           f"{m.get('python', '')}",
           f"- Threads: {ok[0]['settings']['threads'] if ok else 1} per runtime and baseline; budget "
           f"{ok[0]['settings']['budget_seconds'] if ok else '?'} s per measurement",
           "- Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()), ""]
    out += ["## Anchors", "", "| anchor | package | installed | what is measured | notes |", "|---|---|---|---|---|"]
    from modelport.benchmarks.anchors import ANCHORS

    for a in ANCHORS:
        reasons = sorted({f"{r['zoo']}: {x['status']}: {x['reason']}" for r in ok for x in r.get("anchors", ())
                          if x["format"] == a.name and x["status"] != "ok" and "does not take" not in x["reason"]})
        ran = sorted({r["zoo"] for r in ok for x in r.get("anchors", ()) if x["format"] == a.name and x["status"] == "ok"})
        wrong = sorted({r["zoo"] for r in ok for x in r.get("anchors", ()) if x["format"] == a.name
                        and x["status"] == "ok" and x.get("max_abs_diff") in (float("inf"), "Infinity")})
        note = (f"measured on {', '.join(ran)}. " if ran else "") + \
            (f"Its outputs were missing (NaN) on {', '.join(wrong)}: the rows it ran are not a result. " if wrong else "") \
            + " ".join(reasons[:3])
        out.append(f"| {a.name} | {a.package} | {_version(a.package) or 'no'} | {_cell(a.description)} | "
                   f"{_cell(note) or '-'} |")
    out += ["", "The ONNX anchor is onnxmltools / skl2onnx, the `onnx[onnxmltools]` rows below (a selectable backend of "
            "modelport, verified like every format).", ""]
    for r in results:
        info = r.get("entry") or {}
        out += [f"## {r.get('zoo', '?')}", "", f"{info.get('framework', '')}: {info.get('description', '')}", ""]
        if "error" in r:
            out += [f"Not run: {r['error']}", ""]
            continue
        base = r["baseline"]
        out.append(f"Baseline: {base['name']}" + ("" if base["status"] == "ok" else f" (not measured: {base['reason']})"))
        out.append("")
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        if base["status"] == "ok":
            out.append("| " + " | ".join(_cell(c) for c in _row_cells({**base, "format": "baseline"}, batches,
                                                                        anchor=True, kind="framework")[:-3]) + " | - | - | - |")
        rows = [(x, False) for x in r["formats"]] + [(x, True) for x in r.get("anchors", ())
                                                     if "does not take" not in x.get("reason", "")]
        rows.sort(key=lambda t: ("latency" not in t[0], t[0].get("latency", {}).get("p50_us", 0)))
        for x, anchor in rows:
            out.append("| " + " | ".join(_cell(c) for c in _row_cells(x, batches, anchor=anchor)) + " |")
        recs = _recommendations(r)
        if recs:
            out += ["", "Which format for which need: " + "; ".join(f"{x['need']}: `{x['format']}`" for x in recs) + "."]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="small,medium", help="zoo sizes to run (default: small,medium)")
    ap.add_argument("--names", help="zoo entries to run (default: every entry of --sizes)")
    ap.add_argument("--formats", help="formats to measure (default: every registered one)")
    ap.add_argument("--batch", default="1,100,10000", help="batch sizes (default: 1,100,10000)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--budget", type=float, default=0.5, help="sampling seconds per measurement (default: 0.5)")
    ap.add_argument("--no-anchors", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--json-out", help="also write the raw results here")
    ap.add_argument("--from-json", metavar="PATH", help="render from results saved with --json-out (no measuring); "
                                                         "the command line shown is the one saved with them")
    args = ap.parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        if isinstance(saved, list):  # raw results without their command line: show this one's other options
            saved = {"results": saved, "argv": [a for a in argv if a not in ("--from-json", args.from_json,
                                                                           "--out", args.out)]}
        Path(args.out).write_text(render(saved["results"], saved["argv"]), encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
        return 0
    args.batch = tuple(int(b) for b in args.batch.split(","))
    args.formats = tuple(args.formats.split(",")) if args.formats else None
    from modelport.benchmarks.zoo import entries

    names = tuple(args.names.split(",")) if args.names else None
    chosen = entries(sizes=("small", "medium", "large") if names else tuple(args.sizes.split(",")), names=names)
    if names:  # in the order given
        chosen.sort(key=lambda e: names.index(e.name))
    if not chosen:
        ap.error("no zoo entry matches --sizes/--names")
    from modelport._verify import jsonable

    shown = [a for a in argv if a not in ("--json-out", args.json_out, "--out", args.out)]
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="modelport-gen-bench-") as tmp:
        for e in chosen:  # the page and the JSON are rewritten after each model: a long run keeps what it measured
            results.append(_bench_entry(e, Path(tmp), args))
            if args.json_out:
                Path(args.json_out).write_text(json.dumps(jsonable({"argv": shown, "results": results}), indent=2,
                                                          default=str), encoding="utf-8")
            Path(args.out).write_text(render(results, shown), encoding="utf-8")
            print(f"wrote {args.out} ({len(results)}/{len(chosen)} models)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
