"""LSUV speed: ``weight_initialization_system.lsuv_init`` (one forward pass) vs the PyPI ``lsuv`` package
(``LSUVinit``: a full forward per layer and per correction), on the same models, batches and tolerance.

Models (built here, plain torch, no torchvision):

* ``cnnD``: D 3×3 convolutions with 64 channels and ReLU (the first one 3→64), batch 64 of 3×32×32 images,
  D in {10, 20, 40} for the depth scaling;
* ``resnet50``: bottleneck ResNet with blocks [3, 4, 6, 3] (53 convolutions + fc, 25.6 M parameters),
  batch 32 of 3×64×64 images (224×224 would take the peer tens of minutes on a 2-core CPU).

Both start from the same weights, both do their orthogonal pre-init, target std 1.0, tolerance 0.1, at most
10 corrections per layer, eval mode. "Within tol" counts the covered layers whose output std on the
calibration batch is within 0.1 of 1.0 afterwards, measured by this script in one separate forward pass.
Ours is timed ``--repeats`` times (median); the peer, minutes per run, ``--peer-repeats`` times.
ReLUs are not in-place: on CPU the peer keeps a view of the hooked output (``.detach().cpu()`` is a no-op),
which an in-place ReLU would overwrite, so it would calibrate post-activation stds.

Run (needs ``pip install --no-deps lsuv``):  flock /tmp/bench.lock python3 benchmarks/lsuv_speed.py
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from weight_initialization_system.data_dependent import lsuv_init

TARGET, TOL, MAX_ITERS = 1.0, 0.1, 10
RESULTS = Path(__file__).parent / "results" / "lsuv_speed.json"


def plain_cnn(depth: int, width: int = 64) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Conv2d(3 if i == 0 else width, width, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + identity)


class ResNet50(nn.Module):
    def __init__(self, blocks: tuple[int, ...] = (3, 4, 6, 3), classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages: list[nn.Module] = []
        inplanes = 64
        for i, count in enumerate(blocks):
            planes = 64 * 2**i
            stage = []
            for j in range(count):
                stage.append(Bottleneck(inplanes, planes, stride=2 if i > 0 and j == 0 else 1))
                inplanes = planes * Bottleneck.expansion
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(inplanes, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.stages(self.stem(x)), 1), 1))


def output_stds(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Output std of every Linear/Conv layer on ``x`` (eval mode, first call), measured independently."""
    stds: dict[str, float] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):

            def hook(m: nn.Module, args: Any, out: torch.Tensor, name: str = name) -> None:
                stds.setdefault(name, float(out.float().std()))

            handles.append(module.register_forward_hook(hook))
    model.eval()
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return stds


def run_ours(model: nn.Module, x: torch.Tensor) -> None:
    lsuv_init(model, x, target_std=TARGET, tol=TOL, max_iters=MAX_ITERS, orthogonal_preinit=True, seed=0)


def run_peer(model: nn.Module, x: torch.Tensor) -> None:
    from lsuv import lsuv_with_singlebatch

    torch.manual_seed(0)  # the peer's orthogonal pre-init draws from the global generator
    lsuv_with_singlebatch(model, x, needed_std=TARGET, std_tol=TOL, max_attempts=MAX_ITERS, do_orthonorm=True,
                          verbose=False)


def preinit_ours(model: nn.Module) -> None:
    from weight_initialization_system.data_dependent.lsuv import LSUV_LAYERS, _orthogonal_preinit

    for name, module in model.named_modules():
        if isinstance(module, LSUV_LAYERS):
            _orthogonal_preinit(name, module, 0)


def preinit_peer(model: nn.Module) -> None:
    from lsuv.lsuvinit import orthogonal_weights_init

    with torch.no_grad():
        model.apply(orthogonal_weights_init)


def preinit_seconds(fn: Callable[[nn.Module], None], base: nn.Module, repeats: int) -> float:
    """Median time of the orthogonal pre-init alone (QR of every weight): a cost both methods share."""
    times = []
    for _ in range(repeats):
        model = copy.deepcopy(base)
        start = time.perf_counter()
        fn(model)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(
    fn: Callable[[nn.Module, torch.Tensor], None], base: nn.Module, x: torch.Tensor, repeats: int
) -> dict[str, Any]:
    times = []
    within = total = 0
    for _ in range(repeats):
        model = copy.deepcopy(base)
        calls: list[int] = []
        handle = model.register_forward_pre_hook(lambda m, a, calls=calls: calls.append(1))
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(model, x)
        times.append(time.perf_counter() - start)
        handle.remove()
        stds = output_stds(model, x)
        total = len(stds)
        within = sum(abs(s - TARGET) <= TOL for s in stds.values())
    return {"times_s": times, "median_s": statistics.median(times), "within_tol": within, "layers": total,
            "model_forwards": len(calls)}


def bench(name: str, base: nn.Module, x: torch.Tensor, repeats: int, peer_repeats: int) -> dict[str, Any]:
    with torch.no_grad():  # warm-up: allocator and kernels
        copy.deepcopy(base).eval()(x)
    ours = measure(run_ours, base, x, repeats)
    peer = measure(run_peer, base, x, peer_repeats)
    for result, preinit in ((ours, preinit_ours), (peer, preinit_peer)):
        result["preinit_s"] = preinit_seconds(preinit, base, 3)
        result["calibration_s"] = max(result["median_s"] - result["preinit_s"], 0.0)
    row = {
        "model": name,
        "input": list(x.shape),
        "params_M": round(sum(p.numel() for p in base.parameters()) / 1e6, 2),
        "ours": ours,
        "lsuv": peer,
        "speedup": peer["median_s"] / ours["median_s"],
        "calibration_speedup": peer["calibration_s"] / max(ours["calibration_s"], 1e-9),
    }
    print(
        f"{name:<9} {tuple(x.shape)!s:<17} {ours['layers']:>6} {ours['median_s']:>9.3f} {peer['median_s']:>9.2f} "
        f"{row['speedup']:>7.1f}x {ours['preinit_s']:>8.2f} {peer['preinit_s']:>8.2f} "
        f"{row['calibration_speedup']:>7.1f}x {ours['within_tol']:>5}/{ours['layers']:<4} "
        f"{peer['within_tol']:>5}/{peer['layers']:<4} {ours['model_forwards']:>4} {peer['model_forwards']:>5}",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of ours (median)")
    parser.add_argument("--peer-repeats", type=int, default=1, help="timed runs of the lsuv package")
    parser.add_argument("--depths", type=int, nargs="+", default=[10, 20, 40])
    parser.add_argument("--resnet-size", type=int, default=64, help="image side for the ResNet-50 batch")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {args.threads} threads, tol={TOL}, max_iters={MAX_ITERS}")
    print("total = whole call incl. orthogonal pre-init; pre-init = QR of every weight alone (both pay it);")
    print("calib x = speedup of (total - pre-init); ok = layers within tol afterwards;")
    print("fwd = full forward passes of the model (ours, lsuv)")
    print(f"{'model':<9} {'input':<17} {'layers':>6} {'ours [s]':>9} {'lsuv [s]':>9} {'total x':>8} "
          f"{'pre ours':>8} {'pre lsuv':>8} {'calib x':>8} {'ours ok':>10} {'lsuv ok':>10} {'fwd':>4} {'fwd':>5}")
    rows = []
    g = torch.Generator().manual_seed(0)
    for depth in args.depths:
        torch.manual_seed(depth)
        rows.append(bench(f"cnn{depth}", plain_cnn(depth), torch.randn(64, 3, 32, 32, generator=g),
                          args.repeats, args.peer_repeats))
    torch.manual_seed(50)
    side = args.resnet_size
    rows.append(bench("resnet50", ResNet50(), torch.randn(32, 3, side, side, generator=g), args.repeats,
                      args.peer_repeats))

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "threads": args.threads, "machine": platform.machine(),
            "processor": platform.processor(), "tol": TOL, "target_std": TARGET, "max_iters": MAX_ITERS}
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
