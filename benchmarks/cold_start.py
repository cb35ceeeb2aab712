"""Cold start: importing the package and the first ``initialize_model`` in a fresh process, against torch alone.

Run it under ``flock /tmp/bench.lock python3 benchmarks/cold_start.py`` (other jobs share the cores).

Every sample is a new interpreter, so nothing is cached in the process (the OS file cache is warm after the
first run, as it is for a user's second run). Inside it, ``time.perf_counter`` brackets each step of:

- ours: ``import torch``; ``import weight_initialization_system``; build a 3-layer MLP (784-128-64-10, ReLU);
  ``initialize_model(mlp, "kaiming_normal")`` (the first call), then the same call again (warm);
- peer: ``import torch``; the same MLP; ``torch.nn.init.kaiming_normal_`` on each weight and ``zeros_`` on each
  bias (what the first call does), then again (warm).

Runs alternate ours and peer so that load from other processes hits both alike. Reported: medians (and minima)
over the runs, the package's import time on top of torch's, the first call against the peer's, and the heavy
modules each process ended with. ``--compare-src DIR`` adds a third column: ours from another checkout's
``src`` (e.g. the commit before a change). A table on stdout and JSON in ``benchmarks/results/cold_start.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "cold_start.json"
SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("torch.distributed.tensor", "sympy", "matplotlib", "scipy", "transformers", "rich", "sklearn", "pydantic",
         "yaml")

_COMMON = """
import json, sys, time
t = [time.perf_counter()]
import torch
from torch import nn
t.append(time.perf_counter())
"""
_MLP = "nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))"
_REPORT = f"""
heavy = [m for m in {HEAVY!r} if m in sys.modules]
print(json.dumps({{"import_torch_s": t[1] - t[0], "import_package_s": t[2] - t[1], "first_call_s": t[4] - t[3],
                  "warm_call_s": t[5] - t[4], "heavy_modules": heavy}}))
"""
OURS = _COMMON + f"""
import weight_initialization_system as wis
t.append(time.perf_counter())
mlp = {_MLP}
t.append(time.perf_counter())
wis.initialize_model(mlp, "kaiming_normal", seed=0)
t.append(time.perf_counter())
wis.initialize_model(mlp, "kaiming_normal", seed=0)
t.append(time.perf_counter())
""" + _REPORT
PEER = _COMMON + f"""
t.append(time.perf_counter())  # nothing to import beyond torch
mlp = {_MLP}
t.append(time.perf_counter())

def init(model):
    for m in model:
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)

init(mlp)
t.append(time.perf_counter())
init(mlp)
t.append(time.perf_counter())
""" + _REPORT


def run_once(code: str, src: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=600, check=True)
    sample: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return sample


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("import_torch_s", "import_package_s", "first_call_s", "warm_call_s")
    out: dict[str, Any] = {}
    for key in keys:
        values = [s[key] for s in samples]
        out[key] = {"median_s": statistics.median(values), "min_s": min(values), "runs": values}
    totals = [s["import_package_s"] + s["first_call_s"] for s in samples]
    out["package_import_plus_first_call_s"] = {"median_s": statistics.median(totals), "min_s": min(totals)}
    out["heavy_modules"] = sorted({m for s in samples for m in s["heavy_modules"]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per variant (default 7)")
    parser.add_argument("--compare-src", type=Path, help="another checkout's src/ to time as a third variant")
    args = parser.parse_args()
    variants: dict[str, tuple[str, Path | None]] = {"ours": (OURS, SRC), "peer (torch only)": (PEER, None)}
    if args.compare_src is not None:
        variants[f"ours from {args.compare_src}"] = (OURS, args.compare_src.resolve())
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for code, src in variants.values():
        run_once(code, src)  # warm the OS file cache
    for _ in range(args.runs):
        for name, (code, src) in variants.items():
            samples[name].append(run_once(code, src))
    results = {name: summarize(s) for name, s in samples.items()}

    machine = platform.processor() or platform.machine()
    print(f"{args.runs} fresh processes per variant, interleaved; python {platform.python_version()} {machine}")
    rows = (("import torch", "import_torch_s"), ("import package (after torch)", "import_package_s"),
            ("first init call", "first_call_s"), ("second init call", "warm_call_s"),
            ("package import + first call", "package_import_plus_first_call_s"))
    names = list(results)
    print(f"\n{'median s (min s)':<30}" + "".join(f"{n:>30}" for n in names))
    for label, key in rows:
        cells = "".join(f"{results[n][key]['median_s']:.4f} ({results[n][key]['min_s']:.4f})".rjust(30) for n in names)
        print(f"{label:<30}{cells}")
    ours, peer = results["ours"], results["peer (torch only)"]
    ratios = {
        "first_call_ours_over_peer": ours["first_call_s"]["median_s"] / peer["first_call_s"]["median_s"],
        "package_import_over_torch_import": ours["import_package_s"]["median_s"]
        / ours["import_torch_s"]["median_s"],
        "cold_total_ours_over_peer": (ours["import_torch_s"]["median_s"]
                                      + ours["package_import_plus_first_call_s"]["median_s"])
        / (peer["import_torch_s"]["median_s"] + peer["package_import_plus_first_call_s"]["median_s"]),
    }
    print("\nfirst call, ours / peer:                  "
          f"{ratios['first_call_ours_over_peer']:.2f}x")
    print("package import / torch import:            "
          f"{ratios['package_import_over_torch_import']:.2f}")
    print("import torch + package + first call, ours / peer: "
          f"{ratios['cold_total_ours_over_peer']:.2f}x")
    for name in names:
        print(f"heavy modules loaded, {name}: {', '.join(results[name]['heavy_modules']) or 'none'}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"runs": args.runs, "python": platform.python_version(), "machine": machine,
                                   "results": results, "ratios": ratios}, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
