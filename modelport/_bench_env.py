"""The machine and library versions a benchmark ran with, and the "which format for which
need" recommendations computed from its measurements (used by ``modelport bench`` and its
reports)."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any

__all__ = ["environment", "machine", "versions", "recommend"]

_DISTRIBUTIONS = ("modelport", "numpy", "xgboost", "xgboost-cpu", "lightgbm", "scikit-learn", "onnx", "onnxruntime",
                  "onnxmltools", "skl2onnx", "matplotlib", "defusedxml")
_VERSION_FLAGS = {"java": ["-version"], "go": ["version"]}


def machine() -> dict[str, Any]:
    """CPU model (from /proc/cpuinfo where there is one), core counts, memory, OS, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    return {"cpu": cpu, "cores": os.cpu_count() or 1, "usable_cores": usable, "memory_bytes": mem,
            "os": f"{platform.system()} {platform.release()}", "arch": platform.machine(),
            "python": f"{platform.python_implementation()} {platform.python_version()}"}


def versions(targets: list[Any] = ()) -> dict[str, str]:
    """Installed versions of the libraries involved and of the toolchains the targets use."""
    from importlib import metadata

    out: dict[str, str] = {}
    for dist in _DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    seen: set[str] = set()
    for target in targets:
        for tc in getattr(target, "toolchain", ()):
            paths = tc.find()
            if paths is None or tc.name in seen:
                continue
            seen.add(tc.name)
            for exe in paths:
                name = os.path.basename(exe)
                try:
                    p = subprocess.run([exe, *_VERSION_FLAGS.get(name, ["--version"])], capture_output=True,  # noqa: S603 (a located toolchain)
                                       text=True, timeout=20, check=False)
                except (OSError, subprocess.TimeoutExpired):
                    continue
                first = (p.stdout or p.stderr).strip().splitlines()
                if first:
                    out[name] = first[0][:80]
    return out


def environment(targets: list[Any] = ()) -> dict[str, Any]:
    """``{"machine": ..., "versions": ...}``."""
    return {"machine": machine(), "versions": versions(targets)}


def _best(rows: list[dict], key, *, lowest: bool = True) -> dict | None:
    have = [r for r in rows if key(r) is not None]
    if not have:
        return None
    return (min if lowest else max)(have, key=key)


def recommend(result: dict) -> list[dict[str, str]]:
    """Short "which format for which need" advice from the measurements: among the formats
    that ran and passed parity, the best for each need, with the figure behind it."""
    rows = [r for r in result["formats"] if r.get("status") == "ok" and "latency" in r
            and (r.get("parity") or {}).get("passed", False)]
    if not rows:
        return []
    batches = [str(b) for b in result["settings"]["batches"]]
    big = batches[-1] if batches else None
    out: list[dict[str, str]] = []

    def add(need: str, row: dict | None, why: str) -> None:
        if row is not None:
            out.append({"need": need, "format": row["format"], "why": why.format(**_flat(row, big))})

    add("online serving, one row per request", _best(rows, lambda r: r["latency"]["p50_us"]),
        "lowest single-row p50 latency: {p50:.1f} µs (p99 {p99:.1f} µs)")
    if big:
        add(f"batch scoring ({int(big):,}-row batches)",
            _best(rows, lambda r: r["throughput"][big]["rows_per_s"], lowest=False),
            "highest throughput: {tp:,.0f} rows/s")
    add("cold starts (serverless, autoscaling)", _best(rows, lambda r: r.get("load_seconds", 0) + r.get(
        "first_predict_seconds", 0)), "shortest load + first prediction: {cold:.3f} s")
    add("smallest deployable artifact", _best(rows, lambda r: r.get("artifact_bytes")), "{size:,} bytes on disk")
    add("least memory (in process)", _best([r for r in rows if not (r.get("memory") or {}).get("child_processes")],
                                           lambda r: (r.get("memory") or {}).get("peak_bytes")),
        "smallest peak memory growth while loading and predicting: {mem:,} bytes (formats that predict in a "
        "child process are not ranked: their memory is not this process's)")
    return out


def _flat(row: dict, big: str | None) -> dict[str, Any]:
    return {"p50": row["latency"]["p50_us"], "p99": row["latency"]["p99_us"],
            "tp": row["throughput"][big]["rows_per_s"] if big else 0.0,
            "cold": row.get("load_seconds", 0.0) + row.get("first_predict_seconds", 0.0),
            "size": row.get("artifact_bytes", 0), "mem": (row.get("memory") or {}).get("peak_bytes", 0)}
