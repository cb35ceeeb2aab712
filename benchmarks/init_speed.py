"""Initialization speed: functional samplers on 16M elements and a GPT-2-medium-sized model.

Run it under ``flock /tmp/bench.lock python3 benchmarks/init_speed.py`` (other jobs share the cores).

Part 1: ``trunc_normal_`` (bounds ±2σ and ±3σ) and ``normal_`` against ``torch.nn.init`` on 2^24 float32 elements.

Part 2: a GPT-2-medium-shaped stack built from plain ``nn.Linear``/``nn.Embedding``/``nn.LayerNorm`` (24 blocks,
d = 1024, 4x MLP, vocab 50257 with the LM head tied to the token embedding, 1024 positions): ~355M parameters.

- ``torch default init``: what the constructor spends on initialization. The model is built on the meta device,
  materialized once with ``to_empty(device="cpu")`` (allocation, not timed), and each repeat calls
  ``reset_parameters()`` on every module that has one: exactly the init work ``nn.Linear(...)`` etc. do in their
  constructors (Linear: kaiming_uniform(a=√5) + U(±1/√fan_in) bias; Embedding: N(0, 1); LayerNorm: 1/0).
- ``initialize_model`` with ``kaiming_normal`` and with ``trunc_normal`` (std 0.02, bounds ±2σ as in GPT-2/timm
  practice): the whole call, including the walk, fan computation, name-keyed generators, the staging copy
  (all-or-nothing) and the commit.
- ``fill_ floor``: ``p.fill_(0.0)`` for every parameter: one write pass over the memory, the floor any
  initializer must pay.

Medians of several repeats; ratios against torch's; a table on stdout and JSON in
``benchmarks/results/init_speed.json``.
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

from weight_initialization_system.initializers import normal_, trunc_normal_
from weight_initialization_system.schemes import initialize_model

RESULTS = Path(__file__).parent / "results" / "init_speed.json"


class Block(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.fc_proj = nn.Linear(4 * d, d)


class GPT2Medium(nn.Module):
    def __init__(self, layers: int = 24, d: int = 1024, vocab: int = 50257, positions: int = 1024,
                 tied: bool = True) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(positions, d)
        self.blocks = nn.ModuleList(Block(d) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        if tied:
            self.lm_head.weight = self.wte.weight


def build(tied: bool) -> nn.Module:
    with torch.device("meta"):
        model = GPT2Medium(tied=tied)
    model = model.to_empty(device="cpu")
    if tied:  # to_empty gives every parameter its own storage: tie again
        model.lm_head.weight = model.wte.weight  # type: ignore[union-attr]
    return model


def torch_reset(model: nn.Module) -> None:
    with torch.no_grad():
        for module in model.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()


def fill_floor(model: nn.Module) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.0)


def profile(repeats: int) -> dict[str, float]:
    """Where initialize_model's time goes, kaiming_normal on the tied model, each piece timed alone."""
    from weight_initialization_system.initializers import compute_fans, kaiming_normal_
    from weight_initialization_system.schemes import keyed_generator

    model = build(True)
    weights = [(n, m, p) for mn, m in model.named_modules() for n, p in m.named_parameters(recurse=False)
               if p.dim() >= 2]
    fans = {n: compute_fans(p, m, n) for n, m, p in weights}

    def alloc() -> list[torch.Tensor]:
        return [torch.empty_like(p).fill_(0.0) for _, _, p in weights]  # fill: fault the fresh pages in

    def draw_in_place() -> None:
        with torch.no_grad():
            for n, _, p in weights:
                kaiming_normal_(p, fans=fans[n], generator=keyed_generator(0, n))

    staged = alloc()

    def draw_staged() -> None:
        for (n, _, _), s in zip(weights, staged, strict=True):
            kaiming_normal_(s, fans=fans[n], generator=keyed_generator(0, n))

    def copy() -> None:
        with torch.no_grad():
            for (_, _, p), s in zip(weights, staged, strict=True):
                p.copy_(s)

    pieces = {
        "staging alloc + first touch": alloc,
        "keyed normal_ draws in place (serial)": draw_in_place,
        "keyed normal_ draws into warm staging (serial)": draw_staged,
        "copy staged -> params": copy,
        "initialize_model kaiming_normal (total)": lambda: initialize_model(model, "kaiming_normal", seed=0),
    }
    return {name: t["median_s"] for name, t in interleaved(pieces, repeats).items()}


def part1(repeats: int) -> dict[str, dict[str, float]]:
    n = 1 << 24
    t = torch.empty(n)
    g = torch.Generator().manual_seed(0)
    cases: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "normal_": (lambda: normal_(t, generator=g), lambda: torch.nn.init.normal_(t, generator=g)),
        "trunc_normal_ ±2σ": (lambda: trunc_normal_(t, 0.0, 1.0, -2.0, 2.0, generator=g),
                              lambda: torch.nn.init.trunc_normal_(t, 0.0, 1.0, -2.0, 2.0, generator=g)),
        "trunc_normal_ ±3σ": (lambda: trunc_normal_(t, 0.0, 1.0, -3.0, 3.0, generator=g),
                              lambda: torch.nn.init.trunc_normal_(t, 0.0, 1.0, -3.0, 3.0, generator=g)),
        "trunc_normal_ std .02, a=-2,b=2": (lambda: trunc_normal_(t, 0.0, 0.02, -2.0, 2.0, generator=g),
                                            lambda: torch.nn.init.trunc_normal_(t, 0.0, 0.02, -2.0, 2.0,
                                                                                generator=g)),
    }
    fns: dict[str, Callable[[], object]] = {}
    for name, (ours, theirs) in cases.items():
        fns[f"{name} ours"], fns[f"{name} torch"] = ours, theirs
    timed = interleaved(fns, repeats)
    base = timed["normal_ torch"]["median_s"]
    out: dict[str, dict[str, float]] = {}
    for name in cases:
        ours_t, theirs_t = timed[f"{name} ours"], timed[f"{name} torch"]
        out[name] = {"ours_s": ours_t["median_s"], "torch_s": theirs_t["median_s"], "ours_min_s": ours_t["min_s"],
                     "torch_min_s": theirs_t["min_s"], "ours_over_torch": ours_t["median_s"] / theirs_t["median_s"],
                     "ours_over_torch_normal": ours_t["median_s"] / base}
    return out


def part2(repeats: int, tied: bool) -> dict[str, object]:
    model = build(tied)
    params = sum(p.numel() for p in model.parameters())
    timed = interleaved({
        "torch default init (reset_parameters)": lambda: torch_reset(model),
        "initialize_model kaiming_normal": lambda: initialize_model(model, "kaiming_normal", seed=0),
        "initialize_model trunc_normal std=.02": lambda: initialize_model(
            model, "trunc_normal", std=0.02, a=-0.04, b=0.04, seed=0),
        "fill_ floor": lambda: fill_floor(model),
    }, repeats)
    base = timed["torch default init (reset_parameters)"]["median_s"]
    return {
        "parameters": params,
        "tied": tied,
        "median_s": {k: v["median_s"] for k, v in timed.items()},
        "min_s": {k: v["min_s"] for k, v in timed.items()},
        "over_torch_default": {k: v["median_s"] / base for k, v in timed.items()},
        "gbytes": params * 4 / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--untied", action="store_true", help="also time the model with an untied LM head")
    parser.add_argument("--profile", action="store_true", help="break initialize_model's time down")
    args = parser.parse_args()

    result: dict[str, object] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "repeats": args.repeats,
    }
    p1 = part1(args.repeats)
    result["samplers_16M"] = p1
    print(f"\n16M float32 elements, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}")
    print(f"{'sampler':<34}{'ours ms':>10}{'torch ms':>10}{'ours/torch':>12}{'ours/normal_':>14}")
    for name, row in p1.items():
        print(f"{name:<34}{row['ours_s'] * 1e3:>10.1f}{row['torch_s'] * 1e3:>10.1f}"
              f"{row['ours_over_torch']:>12.2f}{row['ours_over_torch_normal']:>14.2f}")

    models = [part2(args.repeats, tied=True)]
    if args.untied:
        models.append(part2(args.repeats, tied=False))
    result["gpt2_medium"] = models
    for m in models:
        print(f"\nGPT-2-medium stack, {m['parameters'] / 1e6:.1f}M parameters ({m['gbytes']:.2f} GB), "
              f"tied head: {m['tied']}")
        print(f"{'operation':<42}{'median s':>10}{'min s':>8}{'/ torch default':>17}")
        for name, seconds in m["median_s"].items():  # type: ignore[attr-defined]
            print(f"{name:<42}{seconds:>10.3f}{m['min_s'][name]:>8.3f}"  # type: ignore[index]
                  f"{m['over_torch_default'][name]:>17.2f}")  # type: ignore[index]

    if args.profile:
        pieces = profile(args.repeats)
        result["profile_kaiming_normal_tied"] = pieces
        print("\nwhere initialize_model's time goes (tied model, each piece alone)")
        for name, seconds in pieces.items():
            print(f"{name:<50}{seconds:>10.3f}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
