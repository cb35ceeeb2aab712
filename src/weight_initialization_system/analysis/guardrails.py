"""Detect the silent failure of torch's own random init on CPU-mesh DTensors.

In torch 2.13, ``normal_``/``uniform_``/``trunc_normal_`` on a sharded DTensor whose mesh is on the CPU (gloo)
draw every rank's shard from that rank's default generator, which every rank seeded alike: all shards hold
the SAME values, the full tensor is one block tiled world-size times, and torch only emits a UserWarning
("DTensor random operators may not have complete support on cpu device mesh"). Training then starts from a
matrix of rank ``size / world_size`` at best.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch
from torch import nn

from ..initializers._common import check_module, is_dtensor

if TYPE_CHECKING:
    from torch.distributed.tensor import DTensor

__all__ = ["detect_tiled_shards"]

#: A block counts as random-looking (and can be flagged) when it has at least this many distinct values, or
#: half its elements when it is smaller: constants and periodic patterns (gate biases) legitimately repeat.
_MIN_DISTINCT = 64
_MAX_WORLD = 8


def _random_looking(block: torch.Tensor) -> bool:
    distinct = int(torch.unique(block.detach().reshape(-1)).numel())
    return distinct >= min(_MIN_DISTINCT, max(2, block.numel() // 2))


def _digest(local: torch.Tensor) -> torch.Tensor:
    """``[numel, Σx, Σ w·x, random-looking]`` in float64: equal for equal tensors, different otherwise (a.s.)."""
    flat = local.detach().reshape(-1).to(torch.float64)
    weights = torch.arange(flat.numel(), device=flat.device, dtype=torch.int64) * 2654435761 % 1000003 + 1
    head = torch.tensor([float(flat.numel())], dtype=torch.float64, device=flat.device)
    tail = torch.tensor([float(flat.numel() > 1 and _random_looking(flat))], dtype=torch.float64,
                        device=flat.device)
    return torch.cat([head, flat.sum().reshape(1), (flat * weights.to(torch.float64)).sum().reshape(1), tail])


def _tiled_plain(tensor: torch.Tensor) -> bool:
    """Whether the first two of ``k`` ``torch.chunk`` blocks along dim 0 or 1 are equal and random-looking."""
    data = tensor.detach()
    for dim in range(min(2, data.dim())):
        size = data.size(dim)
        for k in range(2, _MAX_WORLD + 1):
            chunk = -(-size // k)
            if size < 2 * chunk:
                continue
            first, second = data.narrow(dim, 0, chunk), data.narrow(dim, chunk, chunk)
            if torch.equal(first, second) and _random_looking(first):
                return True
    return False


def detect_tiled_shards(model: nn.Module) -> list[str]:
    """Names of parameters whose full tensor consists of identical shard blocks.

    - DTensor parameters: for every mesh dimension a parameter is sharded on, the local shards of the ranks
      along it are compared through one ``all_gather`` of a 4-number digest per parameter, so this is a
      COLLECTIVE: call it on every rank with the same model. A parameter is flagged when two ranks hold
      equal shards (uneven sharding included).
    - Plain parameters (e.g. a gathered checkpoint loaded into an unsharded model): flagged when, for some
      world size k ≤ 8, the first two ``torch.chunk(k)`` blocks along dim 0 or dim 1 are equal.

    Only random-looking blocks count (at least 64 distinct values, or half their elements when smaller):
    constants and periodic patterns legitimately repeat, random draws never do.

    >>> detect_tiled_shards(nn.Linear(4, 8))
    []
    """
    check_module("model", model)
    flagged: list[str] = []
    groups: dict[tuple[int, int], list[tuple[str, DTensor]]] = {}
    for name, param in model.named_parameters():
        if is_dtensor(param):  # only then is torch.distributed.tensor loaded
            from torch.distributed.tensor import Shard

            sharded = cast("DTensor", param)
            for mesh_dim, placement in enumerate(sharded.placements):
                if isinstance(placement, Shard) and sharded.device_mesh.size(mesh_dim) > 1:
                    groups.setdefault((id(sharded.device_mesh), mesh_dim), []).append((name, sharded))
        elif _tiled_plain(param):
            flagged.append(name)
    for (_, mesh_dim), members in groups.items():
        mesh = members[0][1].device_mesh
        digests = torch.stack([_digest(p.to_local()) for _, p in members])
        gathered = [torch.empty_like(digests) for _ in range(mesh.size(mesh_dim))]
        torch.distributed.all_gather(gathered, digests, group=mesh.get_group(mesh_dim))
        stacked = torch.stack(gathered)  # (ranks, params, 4)
        equal = (stacked[:, None] == stacked[None, :]).all(dim=-1)  # (ranks, ranks, params)
        equal &= ~torch.eye(len(gathered), dtype=torch.bool, device=stacked.device)[:, :, None]
        equal &= (stacked[:, None, :, 3] > 0)
        hits = equal.any(dim=1).any(dim=0)
        flagged += [name for (name, _), hit in zip(members, hits.tolist(), strict=True)
                    if hit and name not in flagged]
    return flagged
