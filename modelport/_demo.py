"""``modelport demo``: the main job end to end on a sample model.

Trains a small seeded XGBoost classifier (needs ``xgboost``, in the ``dev`` extra) and runs
``modelport bench`` on it (:mod:`modelport._bench`): every registered format converted, verified,
and timed against XGBoost's own predict on the held-out rows; the reports (``report.html`` with
plots, ``report.md``, ``report.json``) go under ``<out_dir>/demo/``, so the demo and ``bench``
never disagree.  Returns a JSON-ready summary whose ``report`` is the Markdown path and
``html`` the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np

from modelport.core.errors import require

__all__ = ["run_demo", "DemoOptions"]


@dataclass(frozen=True)
class DemoOptions:
    """Size of the sample model and of the benchmark."""

    n_train: int = 2_000
    n_features: int = 8
    n_rounds: int = 100
    max_depth: int = 6
    seed: int = 0
    budget: float = 0.1
    """Sampling seconds per measurement (the whole demo stays around a minute or two on 2 cores)."""
    cold_caches: bool = False
    """Load from an empty build cache (True: load times include compiling again after verification;
    the demo keeps the cache verification filled, and its report says so)."""


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


def run_demo(*, out_dir: str | Path = "reports", n_rows: int = 10_000, options: DemoOptions | None = None,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train the sample model, then ``modelport bench`` it: convert to every registered format,
    verify, measure on the held-out rows, write ``report.html`` / ``report.md`` /
    ``report.json``; return a JSON-ready summary (``report``: the Markdown, ``html``: the page)."""
    from modelport._bench import BenchOptions, run_bench
    from modelport._report import write_reports

    opts = options or DemoOptions()
    say = progress or (lambda msg: None)
    work = Path(out_dir) / "demo"
    work.mkdir(parents=True, exist_ok=True)
    model_path = work / "model.json"
    say(f"training a sample XGBoost model ({opts.n_rounds} trees, depth {opts.max_depth}) -> {model_path}")
    held_out = _train(model_path, opts)
    X = np.resize(held_out, (max(n_rows, 1), held_out.shape[1])).astype(np.float32)
    batches = tuple(sorted({1, min(100, n_rows), n_rows}))
    say(f"converting to every format, verifying, and timing each on {n_rows} held-out rows (batches "
        f"{', '.join(map(str, batches))}; one thread)")
    result = run_bench(model_path, BenchOptions(batches=batches, budget=opts.budget, data=X, threads=1,
                                                cold_caches=opts.cold_caches, extra={"demo": True}))
    paths = write_reports(result, work)
    conversions = [{"target": r["format"], "verified": bool(r.get("verified")) and (r.get("parity") or {}).get("passed", False),
                    "status": r["status"], "seconds": r.get("convert_seconds"), "parity": r.get("parity")}
                   for r in result["formats"] if r["status"] in ("ok", "no_runtime", "parity_failure")]
    not_run = [{"target": r["format"], "status": r["status"], "reason": r["reason"]}
               for r in result["formats"] if r["status"] not in ("ok", "no_runtime", "parity_failure")]
    for r in not_run:
        say(f"{r['target']}: {r['status']}: {r['reason']}")
    return {"report": str(paths["markdown"]), "html": str(paths["html"]), "json": str(paths["json"]), "plot": None,
            "model": str(model_path.resolve()), "conversions": conversions, "not_run": not_run,
            "recommendations": result["recommendations"]}
