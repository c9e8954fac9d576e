"""``modelport demo``: the main job end to end on a sample model.

Trains a small seeded XGBoost classifier (needs ``xgboost``, in the ``dev`` extra), converts it
to every registered target with verification, times each artifact's runtime against the
reference evaluator and XGBoost itself, and writes ``report.md`` plus ``throughput.png`` under
``<out_dir>/demo/``.  Returns a JSON-ready summary whose ``report`` is the Markdown path.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np

from modelport.benchmarks import best_time
from modelport.core.errors import ModelportError, require

__all__ = ["run_demo", "DemoOptions"]


@dataclass(frozen=True)
class DemoOptions:
    """Size of the sample model and of the benchmark."""

    n_train: int = 2_000
    n_features: int = 8
    n_rounds: int = 100
    max_depth: int = 6
    seed: int = 0


def _train(path: Path, opts: DemoOptions) -> np.ndarray:
    """Train and save a binary classifier with missing values; return held-out rows."""
    xgb = require("xgboost", extra="xgboost", purpose="the demo's sample model")
    rng = np.random.default_rng(opts.seed)
    X = rng.normal(size=(opts.n_train * 2, opts.n_features)).astype(np.float32)
    y = ((X[:, 0] + 0.5 * X[:, 1] * X[:, 2] - X[:, 3] ** 2 + rng.normal(scale=0.5, size=len(X))) > -0.5).astype(int)
    X[rng.random(X.shape) < 0.05] = np.nan
    booster = xgb.train({"objective": "binary:logistic", "max_depth": opts.max_depth, "eta": 0.1, "seed": opts.seed,
                         "nthread": 1}, xgb.DMatrix(X[: opts.n_train], label=y[: opts.n_train]), opts.n_rounds)
    booster.save_model(str(path))
    return X[opts.n_train:]


def _bench(name: str, short: str, predict: Callable[[np.ndarray], Any], X: np.ndarray) -> dict[str, Any]:
    batch = best_time(lambda: predict(X), repeats=3)
    one = X[:1]
    n_single = 200
    single = best_time(lambda: [predict(one) for _ in range(n_single)], repeats=1) / n_single
    return {"name": name, "short": short, "batch_rows": int(X.shape[0]), "batch_seconds": batch,
            "rows_per_second": X.shape[0] / batch if batch > 0 else float("inf"), "single_row_us": single * 1e6}


def _plot(results: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [r["short"] for r in results]
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.2 + 0.7 * len(results)))
    panels = ((axes[0], "rows_per_second", f"rows / second, batch of {results[0]['batch_rows']} (higher is better)",
               "#3b7dd8", "{:,.0f}"),
              (axes[1], "single_row_us", "µs per single-row call (lower is better)", "#d8823b", "{:,.1f}"))
    for ax, key, label, colour, fmt in panels:
        values = [r[key] for r in results]
        bars = ax.barh(names, values, color=colour)
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=3, fontsize=8)
        ax.set_xlabel(label)
        ax.set_xlim(0, max(values) * 1.3)
        ax.invert_yaxis()
    fig.suptitle("modelport demo: same model, same rows, one thread")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def run_demo(*, out_dir: str | Path = "reports", n_rows: int = 10_000, options: DemoOptions | None = None,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train, convert to every target, verify, benchmark; write the report; return a summary."""
    import modelport.runtimes as runtimes
    from modelport._api import convert, load
    from modelport.core.ir import evaluate
    from modelport.converters.targets import all_targets

    opts = options or DemoOptions()
    say = progress or (lambda msg: None)
    work = Path(out_dir) / "demo"
    work.mkdir(parents=True, exist_ok=True)
    model_path = work / "model.json"
    say(f"training a sample XGBoost model ({opts.n_rounds} trees, depth {opts.max_depth}) -> {model_path}")
    held_out = _train(model_path, opts)
    model = load(model_path)
    X = np.resize(held_out, (n_rows, held_out.shape[1])).astype(np.float32)

    conversions: list[dict[str, Any]] = []
    benches: list[dict[str, Any]] = []
    import xgboost as xgb

    booster = xgb.Booster(model_file=str(model_path))
    booster.set_param({"nthread": 1})
    say(f"benchmarking xgboost and the reference evaluator on {n_rows} rows")
    benches.append(_bench("xgboost (Booster.inplace_predict, 1 thread)", "xgboost", lambda a: booster.inplace_predict(a), X))
    benches.append(_bench("modelport reference evaluator (numpy)", "reference\nevaluator", lambda a: evaluate.predict(model, a), X))
    for name, target in all_targets().items():
        say(f"converting to {name}")
        row: dict[str, Any] = {"target": name, "artifact": "", "verified": False, "status": "", "seconds": 0.0}
        try:
            res = convert(model_path, to=name, out=work, data=held_out[:500])
        except ModelportError as exc:
            row["status"] = f"failed: {exc}"
            conversions.append(row)
            continue
        row.update(artifact=res.path.name, verified=res.verified, seconds=res.seconds, status="ok",
                   summary=res.report.summary() if res.report else "no runtime to verify with")
        conversions.append(row)
        if target.runtime is not None:
            say(f"benchmarking {name} ({target.runtime} runtime)")
            rt = runtimes.load(res.path)
            benches.append(_bench(f"{name} artifact ({target.runtime} runtime)", name, lambda a, rt=rt: rt.predict(a), X))

    suites = _benchmark_suites(say)
    png = work / "throughput.png"
    has_plot = _plot(benches, png)
    report = work / "report.md"
    report.write_text(_markdown(model_path, model, conversions, benches, has_plot, png.name, suites), encoding="utf-8")
    return {"report": str(report.resolve()), "plot": str(png.resolve()) if has_plot else None, "conversions": conversions,
            "benchmarks": benches, "benchmark_suites": suites}


def _benchmark_suites(say: Callable[[str], None]) -> dict[str, Any]:
    """Run every benchmark suite (:func:`modelport.benchmarks.suites`) with 3 repeats."""
    from modelport.benchmarks import run_suite, suites

    results: dict[str, Any] = {}
    for mod in suites().values():
        say(f"running benchmark suite {mod.__name__.rsplit('.', 1)[-1]}")
        try:
            results[mod.__name__.rsplit(".", 1)[-1]] = run_suite(mod, repeats=3)
        except ModelportError as exc:  # e.g. a missing optional dependency: reported, not fatal
            results[mod.__name__.rsplit(".", 1)[-1]] = {"error": str(exc)}
    return results


def _markdown(model_path: Path, model: Any, conversions: list[dict], benches: list[dict], has_plot: bool,
              png: str, suites: dict[str, Any]) -> str:
    trees = len(getattr(model.booster, "trees", ()))
    lines = [
        "# modelport demo report", "",
        f"Sample model: `{model_path.name}` — {model.provenance.objective if model.provenance else ''}, "
        f"{trees} trees, {model.n_features} features.  Machine: {platform.machine()}, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}.", "",
        "## Conversions (each artifact verified against the reference evaluator)", "",
        "| target | artifact | verified | seconds | result |", "| --- | --- | --- | --- | --- |",
    ]
    for c in conversions:
        lines.append(f"| {c['target']} | {c['artifact'] or '-'} | {'yes' if c['verified'] else 'no'} | "
                     f"{c['seconds']:.2f} | {c.get('summary', c['status'])} |")
    lines += ["", "## Benchmarks (best of 3, single thread)", "",
              "| runtime | rows | rows/s | µs per single-row call |", "| --- | --- | --- | --- |"]
    for b in benches:
        lines.append(f"| {b['name']} | {b['batch_rows']} | {b['rows_per_second']:,.0f} | {b['single_row_us']:,.1f} |")
    if has_plot:
        lines += ["", f"![throughput]({png})"]
    else:
        lines += ["", "(no plot: matplotlib is not installed; pip install 'modelport[bench]')"]
    for name, result in suites.items():
        lines += ["", f"## Benchmark suite `modelport.benchmarks.{name}`", "", "```json",
                  json.dumps(result, indent=2, default=str), "```"]
    return "\n".join(lines) + "\n"
