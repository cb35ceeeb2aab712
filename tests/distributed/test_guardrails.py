"""``detect_tiled_shards`` on plain tensors (the multi-rank DTensor path is in test_sharded_init)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from weight_initialization_system.distributed import detect_tiled_shards


def _model_with(weight: torch.Tensor) -> nn.Module:
    model = nn.Linear(weight.size(-1), weight.size(0), bias=False)
    with torch.no_grad():
        model.weight = nn.Parameter(weight)
    return model


@pytest.mark.parametrize(("k", "dim"), [(2, 0), (4, 0), (3, 1), (8, 1)])
def test_a_block_tiled_world_size_times_is_flagged(k: int, dim: int) -> None:
    block = torch.randn(6, 10, generator=torch.Generator().manual_seed(0))
    assert detect_tiled_shards(_model_with(torch.cat([block] * k, dim=dim))) == ["weight"]


def test_uneven_tiling_is_flagged() -> None:
    # 50 rows over 4 ranks: shards of 13, 13, 13 and 11 rows, the first three equal.
    block = torch.randn(13, 26, generator=torch.Generator().manual_seed(1))
    assert detect_tiled_shards(_model_with(torch.cat([block, block, block, block[:11]]))) == ["weight"]


@pytest.mark.parametrize("weight", [
    torch.randn(64, 32, generator=torch.Generator().manual_seed(2)),
    torch.zeros(64, 32),
    torch.eye(64),
    torch.tensor([0.0, 1.0] * 32).repeat(8, 1),  # a periodic pattern repeats legitimately
])
def test_random_constant_identity_and_periodic_tensors_are_not_flagged(weight: torch.Tensor) -> None:
    assert detect_tiled_shards(_model_with(weight)) == []
