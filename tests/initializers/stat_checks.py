"""Statistical assertions with tolerances derived from the sample size.

For n i.i.d. draws with std σ and kurtosis κ = E[(x-μ)⁴]/σ⁴, the sample mean has std σ/√n and the sample std
has std ≈ σ·√((κ-1)/(4n)) (delta method on the sample variance, whose variance is (κ-1)σ⁴/n); κ = 3 gives the
familiar σ/√(2n). Assertions allow ``SIGMAS`` of those standard errors, so a correct sampler fails with
probability < 1e-8 per check while a wrong std (a few percent off at n ≥ 1e5) fails reliably.
"""

from __future__ import annotations

import math

import torch

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
