"""Keyed, shard-addressable drawing against torch's own samplers, and what a shard costs.

Run it under ``flock /tmp/bench.lock python3 benchmarks/keyed_speed.py`` (other jobs share the cores).

Part 1, whole tensors of 2^24 float32 elements (4096 x 4096): torch's ``Tensor.normal_`` and
``torch.nn.init.trunc_normal_`` against our keyed streams (64K-element blocks, each from its own generator),
drawn on ``torch.get_num_threads()`` threads and, for honesty, on one thread.

Part 2, one rank's shard of the same matrix at world sizes 2, 4 and 8: a ``Shard(0)`` row block (one flat
range: its own blocks only) and a ``Shard(1)`` column block (every block of every row meets it, so it costs
the full drawing), as a fraction of drawing the whole tensor; and a row shard of a 2048 x 2048 orthogonal
matrix, which is drawn whole on every rank (one QR each) and sliced.

Medians (and minima) of interleaved repeats; a table on stdout and JSON in ``benchmarks/results/keyed_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from pathlib import Path

import torch
from _timing import interleaved
from torch import nn

from weight_initialization_system.initializers import get_initializer
from weight_initialization_system.schemes import method_decision, select_sites
from weight_initialization_system.schemes.seeding import Region, keyed_jobs
from weight_initialization_system.schemes.walker import draw_jobs, run_jobs

RESULTS = Path(__file__).parent / "results" / "keyed_speed.json"
SHAPE = (4096, 4096)


def keyed(init_name: str, region: Region, *, parallel: bool, **kwargs: float) -> Callable[[], object]:
    init = get_initializer(init_name, **kwargs)
    out = torch.empty(region.size)

    def run() -> None:
        jobs = keyed_jobs(out, region, 0, "layer.weight", lambda block, g: init(block, generator=g))
        run_jobs(jobs, parallel=parallel)

    return run


def part_whole(repeats: int) -> dict[str, dict[str, float]]:
    x = torch.empty(SHAPE)
    generator = torch.Generator().manual_seed(0)
    whole = Region.whole(SHAPE)
    fns: dict[str, Callable[[], object]] = {
        "torch normal_": lambda: x.normal_(generator=generator),
        "keyed normal (threads)": keyed("normal", whole, parallel=True),
        "keyed normal (1 thread)": keyed("normal", whole, parallel=False),
        "torch trunc_normal_ ±2σ": lambda: nn.init.trunc_normal_(x, std=1.0, a=-2.0, b=2.0, generator=generator),
        "keyed trunc_normal ±2σ (threads)": keyed("trunc_normal", whole, parallel=True, a=-2.0, b=2.0),
    }
    return interleaved(fns, repeats)


def shard_fns() -> dict[str, Callable[[], object]]:
    fns: dict[str, Callable[[], object]] = {"whole": keyed("normal", Region.whole(SHAPE), parallel=True)}
    rows, cols = SHAPE
    for world in (2, 4, 8):
        fns[f"Shard(0) 1/{world}"] = keyed("normal", Region(SHAPE, (0, 0), (rows // world, cols)), parallel=True)
        fns[f"Shard(1) 1/{world}"] = keyed("normal", Region(SHAPE, (0, 0), (rows, cols // world)), parallel=True)
    return fns


def orthogonal_fns() -> dict[str, Callable[[], object]]:
    layer = nn.Linear(2048, 2048)
    site = select_sites(layer)[0][0]
    decision = method_decision(site, get_initializer("orthogonal"), "zeros")
    assert decision is not None

    def draw(region: Region) -> Callable[[], object]:
        out = torch.empty(region.size)
        return lambda: run_jobs(draw_jobs(site, decision, 0, out, region)[0], parallel=False)

    shape = tuple(site.tensor.shape)
    return {"orthogonal whole": draw(Region.whole(shape)),
            "orthogonal Shard(0) 1/4": draw(Region(shape, (0, 0), (shape[0] // 4, shape[1])))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    whole = part_whole(args.repeats)
    shards = interleaved(shard_fns(), args.repeats)
    ortho = interleaved(orthogonal_fns(), max(3, args.repeats // 2))

    machine = platform.processor() or platform.machine()
    print(f"threads: {torch.get_num_threads()}  torch {torch.__version__}  {machine}")
    print(f"\n{'16M float32 (4096x4096)':<36} {'median s':>9} {'min s':>8} {'speed-up vs torch':>18}")
    base = {"normal": whole["torch normal_"], "trunc": whole["torch trunc_normal_ ±2σ"]}
    for name, t in whole.items():
        ref = base["trunc" if "trunc" in name else "normal"]
        print(f"{name:<36} {t['median_s']:>9.4f} {t['min_s']:>8.4f} {ref['median_s'] / t['median_s']:>17.2f}x")
    print(f"\n{'one rank shard (normal)':<36} {'median s':>9} {'min s':>8} {'cost / whole':>18}")
    for name, t in {**shards, **ortho}.items():
        ref = ortho["orthogonal whole"] if name.startswith("orthogonal") else shards["whole"]
        print(f"{name:<36} {t['median_s']:>9.4f} {t['min_s']:>8.4f} {t['median_s'] / ref['median_s']:>18.2f}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "threads": torch.get_num_threads(), "torch": torch.__version__, "repeats": args.repeats,
        "whole_16M": whole, "shards_4096x4096": shards, "orthogonal_2048x2048": ortho,
        "speedup_keyed_normal_vs_torch": base["normal"]["median_s"] / whole["keyed normal (threads)"]["median_s"],
    }, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
