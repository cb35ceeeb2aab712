"""Shard-addressable keyed streams: any box of a tensor is drawn alone and equals that box of the whole."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch import nn

from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.initializers import get_initializer, get_spec, list_initializers
from weight_initialization_system.schemes import initialize_model, method_decision, select_sites
from weight_initialization_system.schemes.seeding import (
    BLOCK_NUMEL,
    ELEMENTWISE_INITIALIZERS,
    Region,
    block_seed,
    keyed_jobs,
)
from weight_initialization_system.schemes.walker import draw_jobs, run_jobs


def _normal(block: torch.Tensor, generator: torch.Generator) -> None:
    block.normal_(generator=generator)


def _draw(region: Region, seed: int = 5, key: str = "w", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    out = torch.empty(region.size, dtype=dtype)
    run_jobs(keyed_jobs(out, region, seed, key, _normal), parallel=False)
    return out


@st.composite
def boxes(draw: st.DrawFn) -> Region:
    ndim = draw(st.integers(1, 4))
    sizes = [1, 3, 7, 64, 257, 700, BLOCK_NUMEL + 5]
    shape = tuple(draw(st.sampled_from(sizes)) for _ in range(ndim))
    while math.prod(shape) > 600_000:
        shape = shape[:-1] if len(shape) > 1 else (BLOCK_NUMEL * 3 + 11,)
    offset = tuple(draw(st.integers(0, s - 1)) for s in shape)
    size = tuple(draw(st.integers(1, s - o)) for s, o in zip(shape, offset, strict=True))
    return Region(shape, offset, size)


@settings(max_examples=40, deadline=None)
@given(boxes())
def test_any_box_drawn_alone_equals_that_box_of_the_whole_tensor(region: Region) -> None:
    whole = _draw(Region.whole(region.shape))
    assert torch.equal(_draw(region), whole[region.index()])


@pytest.mark.parametrize(("shape", "offset", "size", "expected"), [
    ((10, 4), (3, 0), (5, 4), (12, 32)),        # a row block
    ((10, 4), (3, 1), (1, 2), (13, 15)),        # inside one row
    ((10, 4), (0, 1), (10, 2), None),           # a column block
    ((2, 3, 4), (1, 0, 0), (1, 3, 4), (12, 24)),
    ((2, 3, 4), (0, 1, 0), (2, 1, 4), None),
    ((7,), (2,), (3,), (2, 5)),
])
def test_flat_range_is_found_only_for_contiguous_boxes(
    shape: tuple[int, ...], offset: tuple[int, ...], size: tuple[int, ...], expected: tuple[int, int] | None
) -> None:
    assert Region(shape, offset, size).flat_range() == expected


def test_threaded_and_serial_drawing_are_bitwise_equal() -> None:
    region = Region.whole((1024, 1100))
    threaded, serial = torch.empty(region.size), torch.empty(region.size)
    run_jobs(keyed_jobs(threaded, region, 1, "w", _normal), parallel=True)
    run_jobs(keyed_jobs(serial, region, 1, "w", _normal), parallel=False)
    assert torch.equal(threaded, serial)


def test_column_block_of_wide_rows_draws_only_the_blocks_it_meets() -> None:
    calls: list[int] = []

    def counting(block: torch.Tensor, generator: torch.Generator) -> None:
        calls.append(block.numel())
        block.normal_(generator=generator)

    shape = (4, 4 * BLOCK_NUMEL)
    region = Region(shape, (0, BLOCK_NUMEL), (4, BLOCK_NUMEL))  # the second quarter of every row
    out = torch.empty(region.size)
    run_jobs(keyed_jobs(out, region, 0, "w", counting), parallel=False)
    assert len(calls) == 4  # one block per row, out of 16
    assert torch.equal(out, _draw(Region.whole(shape), seed=0)[region.index()])


def test_block_seeds_differ_between_blocks_names_and_seeds() -> None:
    seeds = {block_seed(s, k, b) for s in (0, 1) for k in ("a.weight", "b.weight") for b in range(500)}
    assert len(seeds) == 2 * 2 * 500


def test_keyed_normal_has_standard_normal_mean_and_std() -> None:
    x = _draw(Region.whole((1 << 20,)), seed=3)
    n = x.numel()
    assert abs(x.mean().item()) < 6 / math.sqrt(n)
    assert abs(x.std().item() - 1.0) < 6 / math.sqrt(2 * n)


def test_keyed_trunc_normal_matches_scipy_truncnorm() -> None:
    model = nn.Linear(512, 512)
    initialize_model(model, "trunc_normal", std=1.0, a=-2.0, b=2.0, seed=11)
    result = stats.kstest(model.weight.detach().reshape(-1).numpy(), stats.truncnorm(-2.0, 2.0).cdf)
    assert result.pvalue > 1e-4


def test_neighbouring_blocks_are_uncorrelated() -> None:
    x = _draw(Region.whole((2 * BLOCK_NUMEL,)), seed=9)
    first, second = x[:BLOCK_NUMEL], x[BLOCK_NUMEL:]
    correlation = torch.corrcoef(torch.stack([first, second]))[0, 1].item()
    assert abs(correlation) < 6 / math.sqrt(BLOCK_NUMEL)


def test_element_values_depend_on_name_not_on_other_layers() -> None:
    small = nn.Sequential()
    small.add_module("enc", nn.Linear(300, 400))
    big = nn.Sequential()
    big.add_module("extra", nn.Linear(50, 50))
    big.add_module("enc", nn.Linear(300, 400))
    initialize_model(small, "kaiming_normal", seed=4)
    initialize_model(big, "kaiming_normal", seed=4)
    assert torch.equal(small.enc.weight, big.enc.weight)


RANDOM = [name for name in list_initializers() if get_spec(name).random]
ARGS = {"sparse": {"sparsity": 0.3}}


@pytest.mark.parametrize("name", RANDOM)
def test_every_random_initializer_gives_row_and_column_shards_equal_to_the_whole(name: str) -> None:
    spec = get_spec(name)
    module: nn.Module = nn.Conv2d(40, 300, 3) if spec.min_ndim > 2 else nn.Linear(300, 260)
    site = select_sites(module)[0][0]
    decision = method_decision(site, get_initializer(name, **ARGS.get(name, {})), "zeros")
    assert decision is not None
    shape = tuple(site.tensor.shape)

    def draw(region: Region) -> torch.Tensor:
        out = torch.empty(region.size)
        jobs, final = draw_jobs(site, decision, 21, out, region)
        run_jobs([*jobs, *([final] if final else [])], parallel=False)
        return out

    whole = draw(Region.whole(shape))
    rows = Region(shape, (100, *(0,) * (len(shape) - 1)), (150, *shape[1:]))
    cols = Region(shape, (0, 13, *(0,) * (len(shape) - 2)), (shape[0], 20, *shape[2:]))
    assert torch.equal(draw(rows), whole[rows.index()])
    assert torch.equal(draw(cols), whole[cols.index()])
    if name in ELEMENTWISE_INITIALIZERS:
        assert whole.unique().numel() > whole.numel() // 2  # really random, not a constant


def test_keyed_jobs_refuses_an_output_of_the_wrong_shape() -> None:
    with pytest.raises(WeightInitError, match="contiguous output of shape"):
        keyed_jobs(torch.empty(4, 4).T, Region.whole((4, 4)), 0, "w", _normal)
    with pytest.raises(WeightInitError, match=r"\(3, 4\)"):
        keyed_jobs(torch.empty(4, 4), Region((8, 4), (0, 0), (3, 4)), 0, "w", _normal)


def test_bf16_parameters_are_drawn_per_block_too() -> None:
    region = Region((300, 700), (120, 0), (90, 700))
    whole = _draw(Region.whole(region.shape), dtype=torch.bfloat16)
    assert torch.equal(_draw(region, dtype=torch.bfloat16), whole[region.index()])
