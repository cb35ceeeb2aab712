"""Elementary distributions and constants: uniform, normal, truncated normal, constant, identity, Dirac."""

from __future__ import annotations

import math

import torch

from ..errors import WeightInitError
from ._common import initializer, needs_ndim, positive

__all__ = ["constant_", "dirac_", "eye_", "normal_", "ones_", "trunc_normal_", "uniform_", "zeros_"]

_SQRT2 = math.sqrt(2.0)
# Below this standardized bound an interval counts as lying in a far tail: float32 erfinv loses precision
# there, so the inverse CDF is evaluated in float64 (up to |x| = 7.5) or by exponential rejection beyond.
_TAIL_FLOAT64 = 2.5
_TAIL_REJECTION = 7.5
# When less than this much mass lies outside each bound (bounds beyond ±4.75σ, e.g. std=0.02 with a=-2, b=2),
# plain normal draws with a redraw of the rare out-of-bound elements are exact and as fast as normal_.
_WIDE_MASS_OUTSIDE = 1e-6


@initializer
def uniform_(
    tensor: torch.Tensor, a: float = 0.0, b: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Fill ``tensor`` with values drawn from U(a, b).

    >>> w = uniform_(torch.empty(3, 5), -0.1, 0.1)
    """
    if not a <= b:
        raise WeightInitError(f"uniform_ needs a <= b. Received: a={a!r}, b={b!r}")
    return tensor.uniform_(a, b, generator=generator)


@initializer
def normal_(
    tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Fill ``tensor`` with values drawn from N(mean, std²).

    >>> w = normal_(torch.empty(3, 5), std=0.02)
    """
    positive("std", std, allow_zero=True)
    return tensor.normal_(mean, std, generator=generator)


def _phi(x: float) -> float:
    """Standard normal CDF."""
    return 0.5 * math.erfc(-x / _SQRT2)


def _upper_tail_(out: torch.Tensor, lo: float, hi: float, generator: torch.Generator | None) -> None:
    """Exact draws from N(0,1) restricted to ``[lo, hi]`` with ``lo >= _TAIL_REJECTION`` (Robert 1995).

    Proposal ``lo + Exp(λ)``, λ = (lo + sqrt(lo² + 4))/2, accepted with probability exp(-(x - λ)²/2); only the
    rejected elements are drawn again. Acceptance is above 98% this far out, so two or three rounds suffice.
    """
    lam = (lo + math.sqrt(lo * lo + 4.0)) / 2.0
    flat = out.view(-1)
    pending = torch.arange(flat.numel(), device=out.device)
    while pending.numel():
        n = pending.numel()
        x = torch.empty(n, dtype=torch.float64, device=out.device).exponential_(lam, generator=generator)
        x.add_(lo)
        u = torch.empty(n, dtype=torch.float64, device=out.device).uniform_(0.0, 1.0, generator=generator)
        ok = (u <= torch.exp(-0.5 * (x - lam) ** 2)) & (x <= hi)
        flat[pending[ok]] = x[ok].to(flat.dtype)
        pending = pending[~ok]


def _normal_with_redraws_(
    tensor: torch.Tensor, mean: float, std: float, a: float, b: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Exact truncated normal when almost all mass is inside ``[a, b]``: draw N(mean, std²), then redraw only
    the elements outside (expected count < 2e-6·n), checked first with one min/max reduction."""
    tensor.normal_(mean, std, generator=generator)
    flat = tensor.view(-1) if tensor.is_contiguous() else None
    while True:
        low, high = torch.aminmax(tensor)
        if float(low) >= a and float(high) <= b:
            return tensor
        if flat is None:  # non-contiguous: redraw through a contiguous copy
            work = tensor.contiguous()
            _normal_with_redraws_(work, mean, std, a, b, generator)
            return tensor.copy_(work)
        bad = ((flat < a) | (flat > b)).nonzero().squeeze(1)
        flat[bad] = torch.empty(bad.numel(), dtype=flat.dtype, device=flat.device).normal_(
            mean, std, generator=generator
        )


@initializer
def trunc_normal_(
    tensor: torch.Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill ``tensor`` with exact draws from N(mean, std²) truncated to ``[a, b]``.

    Inverse-CDF sampling: with :math:`\\alpha = (a - \\mu)/\\sigma`, :math:`\\beta = (b - \\mu)/\\sigma`,

    .. math::
        u \\sim \\mathcal{U}\\big(2\\Phi(\\alpha) - 1,\\ 2\\Phi(\\beta) - 1\\big),\\qquad
        x = \\mu + \\sigma\\sqrt{2}\\,\\operatorname{erf}^{-1}(u)

    One uniform draw and one ``erfinv`` per element, whatever the bounds: no rejection rounds (torch's own
    ``trunc_normal_`` redraws the whole tensor per round, which costs 6-27x ``normal_`` at ±2-3σ). When the
    interval lies in a far tail the inverse CDF is evaluated in float64, and beyond 7.5σ by exponential
    rejection (Robert 1995), resampling only the rejected elements. When both bounds are beyond ±4.75σ (less
    than 1e-6 of the mass outside each, e.g. ``std=0.02`` with the default ``a=-2, b=2``), plain normal draws
    are taken and only the out-of-bound elements redrawn, which is exact and costs one ``normal_``.
    ``a`` and ``b`` are absolute bounds, as in torch; the result is clamped to them against rounding.

    Args:
        tensor: the tensor to fill in place.
        mean: the mean of the untruncated normal.
        std: its standard deviation (> 0).
        a: the lower bound (absolute, not in units of std).
        b: the upper bound.
        generator: the random generator to sample from.

    >>> w = trunc_normal_(torch.empty(768, 768), std=0.02, a=-0.04, b=0.04)
    """
    positive("std", std)
    if not a < b:
        raise WeightInitError(f"trunc_normal_ needs a < b. Received: a={a!r}, b={b!r}")
    alpha, beta = (a - mean) / std, (b - mean) / std
    if _phi(alpha) < _WIDE_MASS_OUTSIDE and _phi(-beta) < _WIDE_MASS_OUTSIDE:
        return _normal_with_redraws_(tensor, mean, std, a, b, generator)
    mirrored = alpha > 0  # sample the lower tail and negate: the code below only handles beta <= 0 tails
    if mirrored:
        alpha, beta = -beta, -alpha
    far_tail = beta < -_TAIL_FLOAT64
    if beta < -_TAIL_REJECTION:
        work = torch.empty(tensor.shape, dtype=torch.float64, device=tensor.device)
        _upper_tail_(work, -beta, -alpha, generator)
        work.neg_()
        scale = std
    else:
        # float32 erfinv is exact enough near the centre; a far-tail interval needs float64 resolution in u.
        native = tensor.dtype in (torch.float32, torch.float64) and not far_tail
        work = tensor if native else torch.empty(
            tensor.shape, dtype=torch.float64 if far_tail else torch.float32, device=tensor.device
        )
        u_lo, u_hi = 2.0 * _phi(alpha) - 1.0, 2.0 * _phi(beta) - 1.0
        work.uniform_(u_lo, u_hi, generator=generator)
        # A one-sided interval puts u's bound at ±1 in the working precision, where erfinv is ±inf. Keep u
        # strictly inside (-1, 1): the inverse CDF then ends at the dtype's last representable quantile.
        u_max = 1.0 - torch.finfo(work.dtype).eps / 2
        if u_lo < -u_max or u_hi > u_max:
            work.clamp_(-u_max, u_max)
        work.erfinv_()
        scale = _SQRT2 * std
    # One fused pass for x = mean ± scale·z (the sign undoes the mirroring), then the bounds against rounding.
    work.mul_(-scale if mirrored else scale)
    if mean:
        work.add_(mean)
    work.clamp_(a, b)
    if work is not tensor:
        tensor.copy_(work)
    return tensor


@initializer
def constant_(tensor: torch.Tensor, val: float) -> torch.Tensor:
    """Fill ``tensor`` with the value ``val``."""
    return tensor.fill_(val)


@initializer
def zeros_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill ``tensor`` with 0."""
    return tensor.zero_()


@initializer
def ones_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill ``tensor`` with 1."""
    return tensor.fill_(1.0)


@initializer
def eye_(tensor: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Fill a 2-D ``tensor`` with ``gain`` times the identity (identity map for Linear layers).

    >>> eye_(torch.empty(2, 3)).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    needs_ndim(tensor, "eye_", 2, 2)
    tensor.zero_()
    tensor.diagonal().fill_(gain)
    return tensor


@initializer
def dirac_(tensor: torch.Tensor, groups: int = 1, gain: float = 1.0) -> torch.Tensor:
    """Fill a 3-5-D conv kernel with the Dirac delta: each output channel copies one input channel.

    ``W[g·m + d, d, centre] = gain`` for ``d < min(m, in)``, ``m = out/groups``, zeros elsewhere, so a
    convolution with ``'same'`` padding is the identity on as many channels as possible.
    """
    needs_ndim(tensor, "dirac_", 3, 5)
    if not isinstance(groups, int) or groups < 1 or tensor.size(0) % groups:
        raise WeightInitError(
            f"Argument `groups` must divide the output channels ({tensor.size(0)}). Received: groups={groups!r}"
        )
    per_group = tensor.size(0) // groups
    n = min(per_group, tensor.size(1))
    centre = [k // 2 for k in tensor.shape[2:]]
    tensor.zero_()
    d = torch.arange(n, device=tensor.device)
    for g in range(groups):
        index: tuple[torch.Tensor | int, ...] = (g * per_group + d, d, *centre)
        tensor[index] = gain
    return tensor
