"""Time of the main job end to end: ``python -m weight_initialization_system report mlp --out report.html``.

Claim: under 60 s on 2 CPU cores. Runs the command as a user would (a fresh interpreter, imports included)
``--repeats`` times, prints a table and writes ``benchmarks/results/report_speed.json``. Run it under
``flock /tmp/bench.lock`` so that other jobs do not disturb the timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="mlp")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "2"}
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.html"
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "weight_initialization_system", "report", args.model, "--out",
                            str(out)], check=True, env=env, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        size = out.stat().st_size
    median = statistics.median(times)
    print(f"{'command':<58} {'median s':>9} {'min s':>7} {'limit s':>8} {'report KiB':>11}")
    print(f"{'report ' + args.model + ' --out report.html':<58} {median:>9.1f} {min(times):>7.1f} {LIMIT_S:>8.0f} "
          f"{size / 1024:>11.0f}")
    result = {"command": f"python -m weight_initialization_system report {args.model} --out report.html",
              "times_s": times, "median_s": median, "limit_s": LIMIT_S, "within_limit": median < LIMIT_S,
              "report_bytes": size, "cpu_count": os.cpu_count()}
    (ROOT / "benchmarks" / "results" / "report_speed.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
