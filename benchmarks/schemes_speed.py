"""Cost of model-level initialization on a ResNet-style CNN: torch's constructor init vs our schemes and auto.

Peer: ``module.reset_parameters()`` on every layer (what building the model costs in initialization). Ours:
``cnn_initialization`` (validate, stage, commit, seed-keyed), ``initialize_model(model, "auto")`` (adds an fx
trace of the model) and ``auto`` with a 32-image sample (adds the LSUV pass). Prints a table of medians and
writes benchmarks/results/schemes_speed.json. Run: ``PYTHONPATH=src python3 benchmarks/schemes_speed.py``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from weight_initialization_system.models import CustomCNNModel
from weight_initialization_system.schemes import cnn_initialization, initialize_model

REPEATS = 7


def _median_seconds(fn: Callable[[], object]) -> float:
    fn()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _torch_default(model: nn.Module) -> None:
    for module in model.modules():
        if hasattr(module, "reset_parameters") and module is not model:
            module.reset_parameters()


def main() -> None:
    torch.manual_seed(0)
    model = CustomCNNModel(3, 1000, channels=(64, 128, 256, 512), blocks_per_stage=2)
    params = sum(p.numel() for p in model.parameters())
    sample = torch.randn(32, 3, 32, 32)
    cases: dict[str, Callable[[], object]] = {
        "torch reset_parameters (peer)": lambda: _torch_default(model),
        "cnn_initialization": lambda: cnn_initialization(model, seed=0),
        "initialize_model(auto)": lambda: initialize_model(model, "auto", seed=0),
        "initialize_model(auto, sample)": lambda: initialize_model(model, "auto", seed=0, sample=sample),
    }
    results = {name: _median_seconds(fn) for name, fn in cases.items()}
    peer = results["torch reset_parameters (peer)"]
    print(f"ResNet-style CNN, {params / 1e6:.1f}M parameters, {torch.get_num_threads()} threads, median of {REPEATS}")
    print(f"{'method':<34} {'median ms':>10} {'x peer':>8}")
    for name, seconds in results.items():
        print(f"{name:<34} {seconds * 1e3:>10.1f} {seconds / peer:>8.2f}")
    out = Path(__file__).parent / "results" / "schemes_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"parameters": params, "threads": torch.get_num_threads(), "repeats": REPEATS,
                               "median_seconds": results,
                               "ratio_to_peer": {k: v / peer for k, v in results.items()}}, indent=2))


if __name__ == "__main__":
    main()
