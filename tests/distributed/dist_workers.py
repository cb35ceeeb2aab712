"""Multi-process scenarios for the sharded-init tests: each rank runs them all and rank 0 writes a JSON report.

Imported by the spawned processes (``torch.multiprocessing`` passes ``sys.path`` on), so it holds plain
functions and a small transformer. Every scenario gathers the full tensors and compares them, bitwise, with
single-process initialization of the same model with the same seed.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor, Placement, Replicate, Shard, distribute_tensor

from weight_initialization_system.distributed import detect_tiled_shards, materialize
from weight_initialization_system.schemes import initialize_model

SEED = 7
METHODS: tuple[tuple[str, dict[str, Any]], ...] = (("trunc_normal", {"std": 0.02}), ("orthogonal", {}))
VOCAB, DIM, FF = 50, 26, 40  # 50 rows and 26 columns do not split evenly over 4 ranks: uneven shards


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(DIM)
        self.q, self.k, self.v = nn.Linear(DIM, DIM), nn.Linear(DIM, DIM), nn.Linear(DIM, DIM)
        self.o = nn.Linear(DIM, DIM)
        self.norm2 = nn.LayerNorm(DIM)
        self.w1, self.w2 = nn.Linear(DIM, FF), nn.Linear(FF, DIM)


class TinyTransformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB, bias=False)
        # 210,000 elements: 3.2 keyed blocks, so shards start and end inside blocks.
        self.proj = nn.Linear(300, 700)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def reference(method: str, kwargs: dict[str, Any]) -> dict[str, torch.Tensor]:
    model = TinyTransformer()
    initialize_model(model, method, seed=SEED, **kwargs)
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def gathered(model: nn.Module) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return {k: (p.full_tensor() if isinstance(p, DTensor) else p).detach().clone()
                for k, p in model.named_parameters()}


def mismatches(model: nn.Module, ref: dict[str, torch.Tensor]) -> list[str]:
    full = gathered(model)
    return sorted(k for k in ref if k not in full or not torch.equal(full[k], ref[k]))


def tp_placement(name: str, param: torch.Tensor) -> Placement:
    """Megatron-style: q, k, v, w1, head and their biases by rows; o, w2, proj, embed by columns."""
    module = name.rsplit(".", 2)[-2] if "." in name else name
    if param.dim() == 1:
        return Shard(0) if module in ("q", "k", "v", "w1") else Replicate()
    return Shard(0) if module in ("q", "k", "v", "w1", "head") else Shard(1)


def distribute_manually(model: nn.Module, mesh: DeviceMesh,
                        placements: Callable[[str, torch.Tensor], list[Placement]]) -> None:
    for name, param in list(model.named_parameters()):
        owner_name, local = name.rsplit(".", 1) if "." in name else ("", name)
        owner = model.get_submodule(owner_name)
        value = distribute_tensor(param.detach(), mesh, placements(name, param), src_data_rank=None)
        setattr(owner, local, nn.Parameter(value, requires_grad=param.requires_grad))


def fsdp2(model: nn.Module, mesh: DeviceMesh) -> nn.Module:
    for block in model.blocks:  # type: ignore[union-attr]
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def scenarios(mesh: DeviceMesh, world: int) -> dict[str, Any]:
    report: dict[str, Any] = {}
    rows_cols = lambda n, p: [tp_placement(n, p)]  # noqa: E731
    for method, kwargs in METHODS:
        ref = reference(method, kwargs)
        with torch.device("meta"):
            model = fsdp2(TinyTransformer(), mesh)
        materialize(model, method, seed=SEED, **kwargs)
        report[f"fsdp2_materialize_{method}"] = mismatches(model, ref)

        if method == METHODS[0][0]:  # the in-place path, once: it shares the drawing code with materialize
            model = fsdp2(TinyTransformer(), mesh)
            initialize_model(model, method, seed=SEED, **kwargs)
            report[f"fsdp2_initialize_{method}"] = mismatches(model, ref)

            model = TinyTransformer()
            distribute_manually(model, mesh, rows_cols)
            initialize_model(model, method, seed=SEED, **kwargs)
            report[f"tp_initialize_{method}"] = mismatches(model, ref)

        with torch.device("meta"):
            model = TinyTransformer()
        distribute_manually(model, mesh, rows_cols)
        materialize(model, method, seed=SEED, **kwargs)
        report[f"tp_materialize_{method}"] = mismatches(model, ref)
        report[f"tp_guardrail_after_ours_{method}"] = detect_tiled_shards(model)

    if world == 4:  # a 2 x 2 mesh: rows over one mesh dim, columns over the other
        mesh2d = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
        ref = reference(*METHODS[0])
        with torch.device("meta"):
            model = TinyTransformer()
        distribute_manually(model, mesh2d, lambda n, p: [Shard(0), Shard(1) if p.dim() > 1 else Replicate()])
        materialize(model, METHODS[0][0], seed=SEED, **METHODS[0][1])
        report["mesh2d_materialize_trunc_normal"] = mismatches(model, ref)

    # torch's own normal_ on a CPU-mesh DTensor: every rank draws the same values.
    model = TinyTransformer()
    distribute_manually(model, mesh, rows_cols)
    torch.manual_seed(0)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        for param in model.parameters():
            param.normal_()
    report["torch_normal_tiled"] = sorted(detect_tiled_shards(model))
    report["torch_normal_sharded"] = sorted(n for n, p in model.named_parameters()
                                            if any(isinstance(x, Shard) for x in p.placements))
    plain = TinyTransformer()
    with torch.no_grad():
        for name, value in gathered(model).items():
            plain.get_parameter(name).copy_(value)
    report["torch_normal_tiled_gathered"] = sorted(detect_tiled_shards(plain))
    return report


def run(rank: int, world: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    try:
        report = scenarios(init_device_mesh("cpu", (world,)), world)
    except Exception:
        report = {"error": traceback.format_exc()}
        raise
    finally:
        if rank == 0:
            with open(os.path.join(out_dir, f"report_{world}.json"), "w") as f:
                json.dump(report, f)
        dist.destroy_process_group()
