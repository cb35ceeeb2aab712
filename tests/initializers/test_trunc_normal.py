"""trunc_normal_ is exact in the far tail in every dtype: KS and per-value chi-square against scipy, distinct counts.

The intervals are the issue's: [-7.5, -7.49] and [-2.5, -2.4999] (narrow, where 2Φ(x) - 1 rounded to a handful of
values) and [7.45, ∞) (where float16/bfloat16 had a hard cut at 8.29σ). Sample size N and fixed generators make
every outcome deterministic; the tolerances follow from N.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats
from stat_checks import (
    KS_P_MIN,
    SIGMAS,
    cell_probabilities,
    chi_square_per_value,
    expected_distinct,
    representable_values,
)

from weight_initialization_system import WeightInitError
from weight_initialization_system.initializers import trunc_normal_
from weight_initialization_system.initializers._truncated_normal import _TAIL_G

N = 100_000
ISSUE_INTERVALS = [(-7.5, -7.49), (-2.5, -2.4999), (7.45, math.inf)]
HALF_DTYPES = [torch.float16, torch.bfloat16]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def draw(dtype: torch.dtype, a: float, b: float, seed: int = 0, n: int = N) -> torch.Tensor:
    return trunc_normal_(torch.empty(n, dtype=dtype), 0.0, 1.0, a, b, generator=gen(seed))


@functools.cache
def cells(dtype: torch.dtype, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """The dtype's values that draws from [a, b] can round to, and each one's probability. An infinite bound is
    cut where less than 1e-6 of the mass lies beyond; the last cell, open-ended, holds that remainder."""
    exact = stats.truncnorm(a, b)
    lo = float(torch.tensor(a, dtype=dtype)) if math.isfinite(a) else float(exact.ppf(1e-6))
    hi = float(torch.tensor(b, dtype=dtype)) if math.isfinite(b) else float(exact.isf(1e-6))
    values = representable_values(dtype, lo, hi)
    return values, cell_probabilities(values, exact.cdf)


@pytest.mark.parametrize(("a", "b"), ISSUE_INTERVALS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_far_tail_draws_pass_a_ks_test_against_scipy_truncnorm(dtype: torch.dtype, a: float, b: float) -> None:
    x = draw(dtype, a, b, seed=1)
    assert torch.isfinite(x).all()
    assert x.min() >= a and x.max() <= b
    assert stats.kstest(x.double().numpy(), stats.truncnorm(a, b).cdf).pvalue > KS_P_MIN


@pytest.mark.parametrize(("a", "b"), ISSUE_INTERVALS)
def test_float64_far_tail_draws_are_all_distinct(a: float, b: float) -> None:
    # A 53-bit grid on the interval's mass: two equal draws among N have probability N²/2^54 < 1e-6.
    assert len(np.unique(draw(torch.float64, a, b, seed=2).numpy())) == N


@pytest.mark.parametrize(("a", "b"), ISSUE_INTERVALS)
def test_float32_far_tail_distinct_count_matches_the_representable_values(a: float, b: float) -> None:
    # [-2.5, -2.4999] holds only 420 float32 values and [-7.5, -7.49] about 21 000: the count to expect is set
    # by them, E = Σ 1 - (1 - π_v)^N, and its standard deviation is below √E.
    values, probabilities = cells(torch.float32, a, b)
    expected = expected_distinct(probabilities, N)
    distinct = len(np.unique(draw(torch.float32, a, b, seed=3).numpy()))
    assert abs(distinct - expected) <= SIGMAS * math.sqrt(expected), (distinct, expected, len(values))


@pytest.mark.parametrize(("a", "b"), ISSUE_INTERVALS)
@pytest.mark.parametrize("dtype", [torch.float32, *HALF_DTYPES])
def test_draws_pass_a_chi_square_test_per_representable_value(dtype: torch.dtype, a: float, b: float) -> None:
    # Exactly rounded draws hit each value v of the dtype with the truncated normal's mass between v's
    # neighbouring midpoints; a sampler that rounds through a coarser grid (or cuts the tail) fails this.
    values, probabilities = cells(dtype, a, b)
    x = draw(dtype, a, b, seed=4)
    assert x.dtype == dtype and torch.isfinite(x).all()
    assert chi_square_per_value(x, values, probabilities) > KS_P_MIN


def test_float16_reaches_past_the_old_hard_cut_at_8_29_sigma() -> None:
    # P(X > 8.29 | X > 7.45) = 1.1e-3: about 110 of N draws, where the erfinv(2Φ - 1) sampler had none (and put
    # 0.24% of its draws on 8.29 itself).
    x = draw(torch.float16, 7.45, math.inf, seed=5).double()
    beyond = int((x > 8.3).sum())
    expected = N * stats.truncnorm(7.45, math.inf).sf(8.3)
    assert abs(beyond - expected) <= SIGMAS * math.sqrt(expected)
    assert float((x == x.max()).double().mean()) < 1e-3


# One interval per method of the sampler (see _truncated_normal's docstring), absolute bounds with a mean and std.
PATHS = [
    ("float32 erfinv, one-sided at 0", 0.0, 1.0, 0.0, math.inf),
    ("float64 erfinv from a float32 draw, one-sided at 2σ", 0.0, 1.0, 2.0, math.inf),
    ("float64 erfinv, narrow and off-centre", 0.0, 1.0, 0.5, 0.5001),
    ("float64 erfinv, lower side", 0.0, 1.0, -3.0, -0.5),
    ("tail polynomial, with mean and std", 1.0, 0.1, 1.745, math.inf),
    ("tail polynomial, lower side", 0.0, 1.0, -9.0, -8.0),
    ("float64 ndtri beyond 12.9σ", 0.0, 1.0, 13.0, 14.0),
    ("rejection beyond 36σ", 0.0, 1.0, 40.0, 41.0),
    ("rejection beyond 36σ, lower side", -2.0, 0.5, -math.inf, -22.5),
]


@pytest.mark.parametrize(("label", "mean", "std", "a", "b"), PATHS, ids=[p[0] for p in PATHS])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_every_method_is_exact_against_scipy(
    dtype: torch.dtype, label: str, mean: float, std: float, a: float, b: float
) -> None:
    exact = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    x = trunc_normal_(torch.empty(N, dtype=dtype), mean, std, a, b, generator=gen(6))
    assert torch.isfinite(x).all()
    assert x.min() >= a and x.max() <= b
    assert stats.kstest(x.double().numpy(), exact.cdf).pvalue > KS_P_MIN


def test_tail_polynomial_is_within_a_twentieth_of_a_float32_ulp_of_ndtri() -> None:
    w = np.linspace(3.9, 9.4, 100_000)
    x = special.ndtri(np.exp(-w * w))
    approx = np.polyval(np.asarray(_TAIL_G)[::-1], 1.0 / w) - math.sqrt(2.0) * w
    ulp = np.spacing(np.abs(x).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(approx - x) / ulp) < 0.05


def test_non_contiguous_tensor_gets_the_values_of_a_contiguous_one() -> None:
    contiguous = trunc_normal_(torch.empty(300, 200), 0.0, 1.0, 2.0, math.inf, generator=gen(7))
    transposed = trunc_normal_(torch.empty(200, 300).T, 0.0, 1.0, 2.0, math.inf, generator=gen(7))
    assert torch.equal(contiguous, transposed)


def test_chunked_drawing_is_deterministic_and_returns_the_tensor() -> None:
    t = torch.empty(3 * (1 << 16) + 5)  # several chunks and a short last one
    assert trunc_normal_(t, 0.0, 1.0, 7.45, math.inf, generator=gen(8)) is t
    again = trunc_normal_(torch.empty_like(t), 0.0, 1.0, 7.45, math.inf, generator=gen(8))
    assert torch.equal(t, again)


def test_values_do_not_depend_on_the_number_of_threads() -> None:
    # 40 chunks: drawn on a thread pool with two threads, one after the other with one
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        pooled = trunc_normal_(torch.empty(40 << 15), 0.0, 1.0, -2.0, 2.0, generator=gen(9))
        torch.set_num_threads(1)
        inline = trunc_normal_(torch.empty(40 << 15), 0.0, 1.0, -2.0, 2.0, generator=gen(9))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(pooled, inline)


def test_a_large_parameter_is_filled_in_place_without_grad() -> None:
    # the worker threads do not inherit the caller's no_grad: each sets its own
    weight = torch.nn.Parameter(torch.empty(1024, 1024))
    assert trunc_normal_(weight, 0.0, 0.02, -0.04, 0.04, generator=gen(10)) is weight
    assert weight.requires_grad and weight.grad_fn is None
    w = weight.detach()
    assert float(w.abs().max()) <= 0.04 and 0.01 < float(w.std()) < 0.02


def test_meta_tensor_is_untouched_and_empty_tensor_warns() -> None:
    meta = torch.empty(4, 4, device="meta")
    assert trunc_normal_(meta, a=7.45, b=math.inf) is meta
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trunc_normal_(torch.empty(0), a=7.45, b=math.inf)
    assert any("zero-element" in str(w.message) for w in caught)


FLOAT_DTYPES = st.sampled_from([torch.float64, torch.float32, torch.float16, torch.bfloat16])
BOUND = st.floats(-40.0, 40.0) | st.sampled_from([-math.inf, math.inf])


@settings(max_examples=60, deadline=None)
@given(
    a=BOUND, b=BOUND, mean=st.floats(-3.0, 3.0), std=st.floats(0.01, 10.0), dtype=FLOAT_DTYPES,
    shape=st.lists(st.integers(1, 7), min_size=1, max_size=3).map(tuple), transpose=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_any_bounds_give_finite_draws_inside_them(
    a: float, b: float, mean: float, std: float, dtype: torch.dtype, shape: tuple[int, ...], transpose: bool,
    seed: int,
) -> None:
    if not a < b:
        a, b = b, a
    if not a < b:
        return
    t = torch.empty(shape, dtype=dtype)
    if transpose and t.dim() >= 2:
        t = t.transpose(0, 1)
    x = trunc_normal_(t, mean, std, a, b, generator=gen(seed))
    assert torch.isfinite(x).all()
    # the 16-bit dtypes round the bounds themselves: allow their nearest values
    lo, hi = float(torch.tensor(a, dtype=dtype)), float(torch.tensor(b, dtype=dtype))
    assert float(x.min()) >= min(a, lo) and float(x.max()) <= max(b, hi)


BAD_ARGUMENTS = [
    ("complex tensor", {"tensor": torch.empty(3, dtype=torch.complex64)}, r"real floating-point `tensor`"),
    ("a > b", {"a": 1.0, "b": -1.0}, r"`b` must be greater than `a`\. Received: a=1\.0, b=-1\.0"),
    ("a == b", {"a": 0.5, "b": 0.5}, r"`b` must be greater than `a`\. Received: a=0\.5, b=0\.5"),
    ("empty infinite interval", {"a": math.inf, "b": math.inf}, r"`b` must be greater than `a`"),
    ("nan a", {"a": math.nan}, r"`a` must be a number \(±inf allowed\)\. Received: a=nan"),
    ("nan b", {"b": math.nan}, r"`b` must be a number \(±inf allowed\)\. Received: b=nan"),
    ("string a", {"a": "-2"}, r"`a` must be a number .*Received: a='-2'"),
    ("bool b", {"b": True}, r"`b` must be a number .*Received: b=True"),
    ("infinite mean", {"mean": math.inf}, r"`mean` must be a finite number\. Received: mean=inf"),
    ("nan mean", {"mean": math.nan}, r"`mean` must be a finite number\. Received: mean=nan"),
    ("zero std", {"std": 0.0}, r"`std` must be a positive number\. Received: std=0\.0"),
]


@pytest.mark.parametrize(("label", "kwargs", "message"), BAD_ARGUMENTS, ids=[c[0] for c in BAD_ARGUMENTS])
def test_bad_arguments_raise_weight_init_error_naming_the_argument(
    label: str, kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"tensor": torch.empty(3), **kwargs}
    with pytest.raises(WeightInitError, match=message):
        trunc_normal_(**arguments)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(a=st.floats(allow_nan=False), b=st.floats(allow_nan=False))
def test_any_empty_interval_is_rejected_with_both_bounds(a: float, b: float) -> None:
    if a < b:
        a, b = b, a
    with pytest.raises(WeightInitError, match=r"`b` must be greater than `a`\. Received: a="):
        trunc_normal_(torch.empty(3), 0.0, 1.0, a, b)
