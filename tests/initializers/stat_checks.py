"""Statistical assertions with tolerances derived from the sample size.

For n i.i.d. draws with std σ and kurtosis κ = E[(x-μ)⁴]/σ⁴, the sample mean has std σ/√n and the sample std
has std ≈ σ·√((κ-1)/(4n)) (delta method on the sample variance, whose variance is (κ-1)σ⁴/n); κ = 3 gives the
familiar σ/√(2n). Assertions allow ``SIGMAS`` of those standard errors, so a correct sampler fails with
probability < 1e-8 per check while a wrong std (a few percent off at n ≥ 1e5) fails reliably.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from scipy import stats

SIGMAS = 6.0
KURTOSIS_NORMAL = 3.0
KURTOSIS_UNIFORM = 1.8


def assert_mean_std(
    sample: torch.Tensor, mean: float, std: float, *, kurtosis: float = KURTOSIS_NORMAL, what: str = ""
) -> None:
    """Assert the sample mean and std are within ``SIGMAS`` standard errors of ``mean`` and ``std``."""
    x = sample.detach().double().flatten()
    n = x.numel()
    mean_tol = SIGMAS * std / math.sqrt(n)
    std_tol = SIGMAS * std * math.sqrt((kurtosis - 1.0) / (4.0 * n))
    got_mean, got_std = float(x.mean()), float(x.std())
    assert abs(got_mean - mean) <= mean_tol, f"{what}: mean {got_mean:.6g} vs {mean:.6g} (tol {mean_tol:.3g}, n={n})"
    assert abs(got_std - std) <= std_tol, f"{what}: std {got_std:.6g} vs {std:.6g} (tol {std_tol:.3g}, n={n})"


#: KS tests pass when p > this (STYLE.md); with fixed generators the outcome is deterministic.
KS_P_MIN = 1e-4


def representable_values(dtype: torch.dtype, lo: float, hi: float) -> np.ndarray:
    """Every value of ``dtype`` in ``[lo, hi]`` (finite, same sign), ascending, as float64."""
    if lo < 0.0 < hi:
        raise ValueError("representable_values takes a range of one sign")
    flip = hi <= 0.0
    m_lo, m_hi = (-hi, -lo) if flip else (lo, hi)
    first, last = torch.tensor(m_lo, dtype=dtype), torch.tensor(m_hi, dtype=dtype)
    if float(first) < m_lo:
        first = torch.nextafter(first, torch.tensor(math.inf, dtype=dtype))
    if float(last) > m_hi:
        last = torch.nextafter(last, torch.tensor(0.0, dtype=dtype))
    bits = {torch.float64: torch.int64, torch.float32: torch.int32}.get(dtype, torch.int16)
    start, stop = int(first.view(bits)), int(last.view(bits))
    magnitudes = torch.arange(start, stop + 1, dtype=torch.int64).to(bits).view(dtype).double().numpy()
    return -magnitudes[::-1] if flip else magnitudes


def cell_probabilities(values: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Probability that an exact draw rounds to each of the consecutive ``values`` (round to nearest): the CDF
    between the midpoints, the first and last cells open-ended (the sampler's clamp maps its bounds there)."""
    edges = np.concatenate([[-math.inf], (values[:-1] + values[1:]) / 2.0, [math.inf]])
    return np.diff(cdf(edges))


def expected_distinct(probabilities: np.ndarray, n: int) -> float:
    """Expected number of distinct values in ``n`` draws with these per-value probabilities."""
    return float(np.sum(-np.expm1(n * np.log1p(-np.minimum(probabilities, 1.0 - 1e-16)))))


def chi_square_per_value(sample: torch.Tensor, values: np.ndarray, probabilities: np.ndarray) -> float:
    """Pearson chi-square p-value of the counts of each representable value against ``probabilities``.

    Neighbouring values are pooled, in order, until each pool expects at least 5 draws (the usual validity
    condition); a draw that is not one of ``values`` fails the test outright.
    """
    x = sample.detach().double().flatten().numpy()
    index = np.searchsorted(values, x)
    inside = (index < len(values)) & (values[np.minimum(index, len(values) - 1)] == x)
    assert inside.all(), f"draws that are not representable values of the interval: {x[~inside][:5]}"
    observed = np.bincount(index, minlength=len(values)).astype(np.float64)
    expected = probabilities / probabilities.sum() * len(x)
    pools = np.cumsum(expected) // 5.0  # how many times 5 expected draws fit up to this cell
    pools = np.minimum(pools, max(pools[-1] - 1.0, 0.0))  # the short last pool joins the one before
    ids = np.unique(pools, return_inverse=True)[1]
    if ids.max() == 0:  # one pool: nothing to compare beyond every draw being one of the values
        return 1.0
    pooled_obs = np.bincount(ids, weights=observed)
    pooled_exp = np.bincount(ids, weights=expected)
    return float(stats.chisquare(pooled_obs, pooled_exp).pvalue)
