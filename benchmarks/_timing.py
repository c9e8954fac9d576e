"""Honest timing for the benchmarks: warm-up, repetitions until the median is stable,
percentiles, the clock's resolution accounted for, and the thread count stated.

* The clock is :func:`time.perf_counter_ns` (integer nanoseconds: no float rounding).  Its
  *effective* resolution -- the smallest step two consecutive reads can show, which includes
  the cost of reading it -- is measured once per process (:func:`clock_resolution_ns`).
* A sample shorter than :data:`RESOLUTION_FACTOR` x that resolution would be mostly clock
  noise, so :func:`measure` times ``k`` calls per sample (``k`` doubled until a sample is
  long enough) and reports per-call times; ``calls_per_sample`` says when it did, since
  percentiles of k-call means are narrower than percentiles of single calls.
* Warm-up calls (at least :data:`WARMUP_CALLS` and :data:`WARMUP_SECONDS`) run first and are
  discarded: first calls pay for lazy imports, JIT compilation, page faults and caches.  A
  call so slow that the budget cannot hold the usual counts (a process started per call) gets
  two warm-up calls and at least 3 samples, and says so through ``samples``.
* Samples are taken in rounds; timing stops when the median of all samples moved less than
  ``rel_tol`` over the last round (``stable``), or the time budget or sample cap is reached
  (``stable`` False: the result says it is not settled rather than pretending).

Nothing here asserts a time; the figures depend on the machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Timing", "measure", "clock_resolution_ns", "thread_info", "RESOLUTION_FACTOR", "CALIBRATION_TIMINGS"]

#: A timed sample must last at least this many clock resolutions.
RESOLUTION_FACTOR = 100
WARMUP_CALLS = 3
#: Timings per candidate calls-per-sample while calibrating (the least disturbed one decides).
CALIBRATION_TIMINGS = 3
WARMUP_SECONDS = 0.05

_RESOLUTION: int | None = None


def clock_resolution_ns() -> int:
    """The effective resolution of ``perf_counter_ns`` in ns: the median smallest non-zero
    step seen between consecutive reads (at least the advertised resolution, at least 1)."""
    global _RESOLUTION
    if _RESOLUTION is None:
        clock = time.perf_counter_ns
        steps = []
        for _ in range(50):
            t0 = clock()
            t1 = clock()
            while t1 == t0:
                t1 = clock()
            steps.append(t1 - t0)
        advertised = int(round(time.get_clock_info("perf_counter").resolution * 1e9))
        _RESOLUTION = max(1, advertised, int(np.median(steps)))
    return _RESOLUTION


@dataclass(frozen=True)
class Timing:
    """Per-call wall times of one measured function, in seconds."""

    samples: np.ndarray
    """float64 [n]: per-call seconds of each sample (a sample's time / calls_per_sample)."""
    calls_per_sample: int
    """Calls timed together per sample (1 unless one call is near the clock resolution)."""
    warmup_calls: int
    """Calls run and discarded before timing."""
    stable: bool
    """True when the median settled (moved less than ``rel_tol`` over the last round)."""
    resolution_ns: int
    """The clock's effective resolution when measured."""

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.samples.size)

    def percentile(self, q: float) -> float:
        """The q-th percentile of the per-call time, seconds."""
        return float(np.percentile(self.samples, q))

    @property
    def median(self) -> float:
        """Median per-call seconds."""
        return self.percentile(50)

    def summary(self) -> dict:
        """A JSON-ready dict: p50/p95/p99/min/mean in microseconds and how they were taken."""
        us = self.samples * 1e6
        return {"p50_us": float(np.percentile(us, 50)), "p95_us": float(np.percentile(us, 95)),
                "p99_us": float(np.percentile(us, 99)), "min_us": float(us.min()), "mean_us": float(us.mean()),
                "samples": self.n, "calls_per_sample": self.calls_per_sample, "warmup_calls": self.warmup_calls,
                "stable": self.stable}


def _time_once(fn: Callable[[], object], k: int) -> int:
    clock = time.perf_counter_ns
    t0 = clock()
    for _ in range(k):
        fn()
    return clock() - t0


def measure(fn: Callable[[], object], *, budget: float = 1.0, min_samples: int = 7, max_samples: int = 2000,
            round_size: int = 20, rel_tol: float = 0.02) -> Timing:
    """Time ``fn()``: warm up, pick the calls per sample, then sample in rounds of
    ``round_size`` until the median is stable within ``rel_tol`` (and at least
    ``min_samples`` samples), ``max_samples`` samples, or ``budget`` seconds of sampling."""
    resolution = clock_resolution_ns()
    floor_ns = RESOLUTION_FACTOR * resolution
    min_samples = max(1, min(min_samples, max_samples))
    t_start = time.perf_counter()
    fn()
    t_mid = time.perf_counter()
    fn()
    first = min(t_mid - t_start, time.perf_counter() - t_mid)  # the less disturbed of two calls
    warm = 2
    if first * (min_samples + WARMUP_CALLS) > budget:
        # Slow calls (a process per call, a JVM start): two warm-up calls (start-up costs),
        # and at least 3 samples -- fewer than asked, so rarely "stable".
        min_samples = min(min_samples, 3)
        max_samples = max(min_samples, min(max_samples, int(budget / max(first, 1e-9)) + 1))
    while warm < WARMUP_CALLS or time.perf_counter() - t_start < min(WARMUP_SECONDS, budget / 4):
        if first * (min_samples + WARMUP_CALLS) > budget:
            break
        fn()
        warm += 1
    k = 1  # calls per sample: doubled until the least disturbed of a few samples is long enough
    while min(_time_once(fn, k) for _ in range(CALIBRATION_TIMINGS)) < floor_ns and k < 1 << 20:
        k *= 2
    deadline = time.perf_counter() + budget
    samples: list[int] = []
    last_median: float | None = None
    stable = False
    while len(samples) < max_samples:
        for _ in range(min(round_size, max_samples - len(samples))):
            samples.append(_time_once(fn, k))
            if time.perf_counter() > deadline and len(samples) >= min_samples:
                break
        median = float(np.median(samples))
        if len(samples) >= min_samples and last_median is not None and abs(median - last_median) <= rel_tol * median:
            stable = True
            break
        last_median = median
        if time.perf_counter() > deadline and len(samples) >= min_samples:
            break
    per_call = np.asarray(samples, dtype=np.float64) / k / 1e9
    return Timing(samples=per_call, calls_per_sample=k, warmup_calls=warm, stable=stable, resolution_ns=resolution)


def thread_info(threads: int) -> dict:
    """What the run used and what the machine offers: the requested thread count, the CPUs
    this process may run on, and the thread-count environment variables that were set."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        usable = os.cpu_count() or 1
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
           if k in os.environ}
    return {"threads": threads, "usable_cpus": usable, "cpu_count": os.cpu_count() or 1, "env": env}
