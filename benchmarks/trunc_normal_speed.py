"""trunc_normal_ against normal_ and torch's trunc_normal_ at every kind of bounds, 2^24 float32 elements.

Run it under ``flock /tmp/bench.lock python3 benchmarks/trunc_normal_speed.py`` (other jobs share the cores).

The claim (issue 16, item 1): ``trunc_normal_`` costs at most 1.3x ``Tensor.normal_`` at any bounds, while
staying exact. Bounds in units of σ (mean 0, std 1): central ±0.5σ to ±3σ (the float32 ``erfinv`` path), one-sided
at 0 and at 2σ, a far one-sided tail [7.45σ, ∞) and a narrow far interval [-7.5σ, -7.49σ] (float64 arithmetic
from a float32 draw), and ``std=0.02`` with torch's default ``a=-2, b=2`` (±100σ). torch's own
``trunc_normal_`` (torch 2.13: normal draws with whole redraws when over 30% of the mass is inside, else a uniform
proposal on [a, b] with rejection) is timed on the same bounds; it cannot take an infinite bound with less mass
than that ("n/a").

All functions are timed round-robin (``_timing.interleaved``) on ``torch.set_num_threads(2)``; medians and minima
of the repeats; ratios of medians to ``normal_``'s and to torch's. Wall time on shared cores depends on the load,
so the CPU time of ours and of ``normal_`` (all threads, least of the repeats) is printed too: it is the work
done, whatever the load. A table on stdout and JSON in ``benchmarks/results/trunc_normal_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _timing import interleaved

from weight_initialization_system.initializers import trunc_normal_

RESULTS = Path(__file__).parent / "results" / "trunc_normal_speed.json"
N = 1 << 24
#: name -> (std, a, b)
BOUNDS: dict[str, tuple[float, float, float]] = {
    "±0.5σ": (1.0, -0.5, 0.5),
    "±1σ": (1.0, -1.0, 1.0),
    "±2σ": (1.0, -2.0, 2.0),
    "±3σ": (1.0, -3.0, 3.0),
    "[0, ∞)": (1.0, 0.0, math.inf),
    "[2σ, ∞)": (1.0, 2.0, math.inf),
    "[7.45σ, ∞)": (1.0, 7.45, math.inf),
    "[-7.5σ, -7.49σ]": (1.0, -7.5, -7.49),
    "std .02, a=-2, b=2": (0.02, -2.0, 2.0),
}


def cpu_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Least process CPU time (all threads) of ``repeats`` calls."""
    best = math.inf
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    t = torch.empty(N)
    g = torch.Generator().manual_seed(0)
    fns: dict[str, Callable[[], object]] = {"normal_": lambda: t.normal_(generator=g)}
    unsupported: dict[str, str] = {}
    for name, (std, a, b) in BOUNDS.items():
        fns[f"{name} ours"] = lambda std=std, a=a, b=b: trunc_normal_(t, 0.0, std, a, b, generator=g)
        try:
            torch.nn.init.trunc_normal_(torch.empty(16), 0.0, std, a, b)
        except RuntimeError as error:
            unsupported[name] = str(error)
            continue
        fns[f"{name} torch"] = lambda std=std, a=a, b=b: torch.nn.init.trunc_normal_(t, 0.0, std, a, b, generator=g)
    timed = interleaved(fns, args.repeats)
    nan = {"median_s": math.nan, "min_s": math.nan}
    cpu = {name: cpu_seconds(fn, args.repeats) for name, fn in fns.items() if not name.endswith(" torch")}

    base = timed["normal_"]["median_s"]
    rows: dict[str, dict[str, float]] = {}
    for name in BOUNDS:
        ours, theirs = timed[f"{name} ours"], timed.get(f"{name} torch", nan)
        rows[name] = {
            "ours_s": ours["median_s"], "ours_min_s": ours["min_s"],
            "torch_s": theirs["median_s"], "torch_min_s": theirs["min_s"],
            "ours_over_normal": ours["median_s"] / base,
            "ours_min_over_normal_min": ours["min_s"] / timed["normal_"]["min_s"],
            "ours_over_torch": ours["median_s"] / theirs["median_s"],
            "ours_cpu_s": cpu[f"{name} ours"], "ours_cpu_over_normal_cpu": cpu[f"{name} ours"] / cpu["normal_"],
        }

    print(f"\n2^24 float32 elements, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median (min) of {args.repeats} interleaved repeats; normal_ {base * 1e3:.1f} ms "
          f"({timed['normal_']['min_s'] * 1e3:.1f}), CPU {cpu['normal_'] * 1e3:.1f} ms")
    print(f"{'bounds':<20}{'ours ms':>16}{'torch ms':>18}{'ours/normal_':>14}{'(min/min)':>11}{'ours/torch':>12}"
          f"{'cpu ms':>9}{'cpu/normal_':>13}")
    for name, row in rows.items():
        torch_ms = "n/a" if name in unsupported else f"{row['torch_s'] * 1e3:.1f} ({row['torch_min_s'] * 1e3:.1f})"
        print(f"{name:<20}{row['ours_s'] * 1e3:>8.1f} ({row['ours_min_s'] * 1e3:>5.1f}){torch_ms:>18}"
              f"{row['ours_over_normal']:>14.2f}{row['ours_min_over_normal_min']:>11.2f}{row['ours_over_torch']:>12.2f}"
              f"{row['ours_cpu_s'] * 1e3:>9.1f}{row['ours_cpu_over_normal_cpu']:>13.2f}")

    result = {
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(), "numel": N, "repeats": args.repeats,
        "normal_s": base, "normal_min_s": timed["normal_"]["min_s"], "normal_cpu_s": cpu["normal_"], "bounds": rows,
        "torch_unsupported": unsupported,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
