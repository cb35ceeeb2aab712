"""How fast is the analysis? Three claims, each against its floor or peer.

1. ``analyze_weights`` on a ~350M-parameter transformer vs a plain per-parameter ``.sum()`` pass (the floor of
   reading every weight once). Target: ≤ 3× the floor.
2. ``analyze_weights`` vs ``weightwatcher``'s ``analyze()`` on four ``Linear(4096, 4096)`` layers (it runs a full
   SVD per matrix). Target: ≥ 100× faster. weightwatcher runs in its own interpreter (``--ww-python``, a venv
   with ``--system-site-packages`` so that it sees the installed CPU torch) and is skipped if unavailable.
3. ``signal_propagation`` + ``gradient_flow`` vs a plain forward + backward. Target: ≤ 1.5×. Reported both as
   the single-pass ``dynamics`` call and as the two separate calls.

Run under ``flock /tmp/bench.lock`` so that other jobs do not disturb the timings::

    flock /tmp/bench.lock python3 benchmarks/analysis_speed.py --ww-python /tmp/ww-venv/bin/python

Prints a table and writes ``benchmarks/results/analysis_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from weight_initialization_system.analysis import analyze_weights, dynamics, gradient_flow, signal_propagation

RESULTS = Path(__file__).resolve().parent / "results" / "analysis_speed.json"

WW_SCRIPT = """
import json, sys, time, torch
from torch import nn
import weightwatcher as ww
torch.manual_seed(0)
model = nn.Sequential(*[nn.Linear(4096, 4096) for _ in range(4)])
start = time.perf_counter()
details = ww.WeightWatcher(model=model).analyze()
print(json.dumps({"seconds": time.perf_counter() - start, "layers": int(len(details)),
                  "version": ww.__version__}))
"""


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm-up (allocator, thread pool, lazy imports)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def big_transformer(d: int, layers: int, vocab: int) -> nn.Module:
    """GPT-2-medium-sized: 24 × 12.6M block parameters + a 51M-parameter embedding ≈ 355M parameters."""
    block = nn.TransformerEncoderLayer(d, d // 64, 4 * d, batch_first=True)
    model = nn.Sequential(nn.Embedding(vocab, d), nn.TransformerEncoder(block, layers, enable_nested_tensor=False))
    return model.requires_grad_(False)


def claim_floor(repeats: int, quick: bool) -> dict[str, object]:
    torch.manual_seed(0)
    model = big_transformer(256, 4, 5000) if quick else big_transformer(1024, 24, 50257)
    params = list(model.parameters())
    n = sum(p.numel() for p in params)

    def floor() -> None:
        for p in params:
            p.sum()

    t_floor = timed(floor, repeats)
    t_moments = timed(lambda: analyze_weights(model, spectral=False), repeats)
    t_full = timed(lambda: analyze_weights(model), repeats)
    start = time.perf_counter()
    analyze_weights(model, spectral=False, fused=True)  # includes the one-off torch.compile
    first_fused = time.perf_counter() - start
    t_fused = timed(lambda: analyze_weights(model, spectral=False, fused=True), repeats)
    t_fused_full = timed(lambda: analyze_weights(model, fused=True), repeats)
    med = statistics.median
    return {
        "parameters": n,
        "floor_s": med(t_floor),
        "analyze_weights_moments_s": med(t_moments),
        "analyze_weights_full_s": med(t_full),
        "analyze_weights_fused_moments_s": med(t_fused),
        "analyze_weights_fused_full_s": med(t_fused_full),
        "fused_first_call_with_compile_s": first_fused,
        "ratio_moments_vs_floor": med(t_moments) / med(t_floor),
        "ratio_full_vs_floor": med(t_full) / med(t_floor),
        "ratio_fused_moments_vs_floor": med(t_fused) / med(t_floor),
        "ratio_fused_full_vs_floor": med(t_fused_full) / med(t_floor),
        "target_ratio": 3.0,
        "samples": {"floor": t_floor, "moments": t_moments, "full": t_full, "fused_moments": t_fused,
                    "fused_full": t_fused_full},
    }


def claim_weightwatcher(ww_python: str | None, repeats: int) -> dict[str, object]:
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Linear(4096, 4096) for _ in range(4)])
    ours = timed(lambda: analyze_weights(model), repeats)
    result: dict[str, object] = {"ours_s": statistics.median(ours), "ours_samples": ours, "target_speedup": 100.0}
    python = ww_python or sys.executable
    try:
        proc = subprocess.run([python, "-c", WW_SCRIPT], capture_output=True, text=True, timeout=900, check=True)
        peer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError, IndexError) as exc:
        result["weightwatcher"] = f"unavailable: {type(exc).__name__}"
        return result
    result["weightwatcher_s"] = peer["seconds"]
    result["weightwatcher_layers"] = peer["layers"]
    result["weightwatcher_version"] = peer["version"]
    result["speedup"] = peer["seconds"] / statistics.median(ours)
    return result


def claim_dynamics(repeats: int, quick: bool) -> dict[str, object]:
    torch.manual_seed(0)
    width, depth, batch = (256, 8, 128) if quick else (1024, 16, 512)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(width, 10))
    x = torch.randn(batch, width)
    target = torch.rand(batch, 10)
    params = list(model.parameters())

    def plain() -> None:
        loss = F.mse_loss(model(x), target)
        torch.autograd.grad(loss, params)

    t_plain = timed(plain, repeats)
    t_single = timed(lambda: dynamics(model, x, target), repeats)
    t_separate = timed(lambda: (signal_propagation(model, x), gradient_flow(model, x, target)), repeats)
    med = statistics.median
    return {
        "model": f"MLP {depth}×Linear({width},{width})+ReLU, batch {batch}",
        "forward_backward_s": med(t_plain),
        "dynamics_single_pass_s": med(t_single),
        "separate_calls_s": med(t_separate),
        "ratio_single_pass": med(t_single) / med(t_plain),
        "ratio_separate_calls": med(t_separate) / med(t_plain),
        "target_ratio": 1.5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ww-python", default=None, help="interpreter with weightwatcher installed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small models (smoke test, not for the claims)")
    parser.add_argument("--skip-ww", action="store_true")
    parser.add_argument("--only-floor", action="store_true", help="run claim 1 only, merge into existing JSON")
    args = parser.parse_args()

    results: dict[str, object] = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "processor": platform.processor() or platform.machine()},
        "quick": args.quick,
    }
    previous = json.loads(RESULTS.read_text()) if args.only_floor and RESULTS.exists() else {}
    floor = claim_floor(args.repeats, args.quick)
    results["analyze_weights_vs_floor"] = floor
    dyn = previous.get("dynamics_vs_forward_backward") or claim_dynamics(args.repeats, args.quick)
    results["dynamics_vs_forward_backward"] = dyn
    ww = previous.get("analyze_weights_vs_weightwatcher") or (
        {"skipped": True} if args.skip_ww else claim_weightwatcher(args.ww_python, args.repeats))
    results["analyze_weights_vs_weightwatcher"] = ww

    rows = [
        (f"sum() floor, {floor['parameters']} params", floor["floor_s"], "1.00×", "-"),
        ("analyze_weights(spectral=False)", floor["analyze_weights_moments_s"],
         f"{floor['ratio_moments_vs_floor']:.2f}×", "≤ 3×"),
        ("analyze_weights (default, spectral)", floor["analyze_weights_full_s"],
         f"{floor['ratio_full_vs_floor']:.2f}×", "≤ 3×"),
        ("analyze_weights(spectral=False, fused=True)", floor["analyze_weights_fused_moments_s"],
         f"{floor['ratio_fused_moments_vs_floor']:.2f}×", "≤ 3×"),
        ("analyze_weights(fused=True), spectral", floor["analyze_weights_fused_full_s"],
         f"{floor['ratio_fused_full_vs_floor']:.2f}×", "≤ 3×"),
        ("  first fused call (incl. torch.compile)", floor["fused_first_call_with_compile_s"], "-", "-"),
        ("forward+backward", dyn["forward_backward_s"], "1.00×", "-"),
        ("dynamics (single pass)", dyn["dynamics_single_pass_s"], f"{dyn['ratio_single_pass']:.2f}×", "≤ 1.5×"),
        ("signal_propagation + gradient_flow", dyn["separate_calls_s"], f"{dyn['ratio_separate_calls']:.2f}×",
         "≤ 1.5×"),
    ]
    if "weightwatcher_s" in ww:
        rows += [
            ("weightwatcher analyze(), 4×Linear(4096²)", ww["weightwatcher_s"], "1.00×", "-"),
            ("analyze_weights, same model", ww["ours_s"], f"{ww['speedup']:.0f}× faster", "≥ 100× faster"),
        ]
    elif "ours_s" in ww:
        rows.append(("analyze_weights, 4×Linear(4096²) (no peer)", ww["ours_s"], "-", "-"))
    print(f"{'measurement':<48} {'median s':>10} {'ratio':>14} {'target':>14}")
    for name, seconds, ratio, target in rows:
        print(f"{name:<48} {float(seconds):>10.3f} {ratio:>14} {target:>14}")  # type: ignore[arg-type]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
