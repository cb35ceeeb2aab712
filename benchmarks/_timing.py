"""Shared timing for the benchmark scripts (run them as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, dict[str, float]]:
    """Time every function ``repeats`` times round-robin (after one warm-up call each).

    Round-robin rather than one function after the other, so that load from other processes on shared cores
    hits all of them alike and the ratios stay meaningful; the minimum is reported beside the median because
    it is the least disturbed by such load.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: {"median_s": statistics.median(t), "min_s": min(t)} for name, t in times.items()}
