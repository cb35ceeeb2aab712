"""Elementary distributions and constants: uniform, normal, truncated normal, constant, identity, Dirac."""

from __future__ import annotations

import torch

from ..errors import WeightInitError
from ._common import bound, finite, initializer, needs_ndim, positive
from ._truncated_normal import sample_truncated_normal_

__all__ = ["constant_", "dirac_", "eye_", "normal_", "ones_", "trunc_normal_", "uniform_", "zeros_"]


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

    Inverse-CDF sampling on one uniform draw per element: with :math:`\\alpha = (a - \\mu)/\\sigma` and
    :math:`\\beta = (b - \\mu)/\\sigma`,

    .. math::
        p \\sim \\mathcal{U}\\big(\\Phi(\\alpha),\\ \\Phi(\\beta)\\big),\\qquad x = \\mu + \\sigma\\,\\Phi^{-1}(p)

    evaluated where the probability keeps its precision. The interval is mirrored so that its deep end is
    the lower tail, where :math:`p` is small and exact in floating point. Where :math:`v = 2p - 1 =
    \\operatorname{erf}(x/\\sqrt2)` rounds within the uniform's grid (every interval around 0) the draw is made in
    ``v`` and inverted with ``erfinv`` in the working precision; elsewhere float64 arithmetic takes the float32
    draw: ``erfinv`` to 5.3σ, then :math:`\\Phi^{-1}(p) = g(1/w) - \\sqrt2\\,w` with :math:`w = \\sqrt{-\\ln p}`
    and a degree-7 polynomial :math:`g` to 12.9σ, ``torch.special.ndtri`` beyond (and for float64 tensors).
    Past 36σ, where :math:`\\Phi` underflows float64, exponential rejection (Robert 1995, "Simulation of
    truncated normal variables") takes over. The details are in ``initializers/_truncated_normal.py``.

    Every value is the exact quantile of its uniform draw, rounded to the dtype, at any bounds: the draws sit
    on a grid of :math:`2^{-24}` of the interval's mass (:math:`2^{-53}` for float64), as in torch's own
    samplers, and each representable value gets the truncated normal's mass of its rounding cell (tested per
    value with a chi-square). float16 and bfloat16 are computed in float32 and rounded once.

    On the CPU the tensor is drawn in 32K-element chunks from eight streams seeded by one draw of
    ``generator`` and run on ``torch.get_num_threads()`` threads: the values do not depend on the number of
    threads, but they are not torch's for the same generator. Cost on 2^24 float32 elements and two threads
    (``benchmarks/trunc_normal_speed.py``): about ``normal_``'s for bounds around 0 (float32 ``erfinv``), up
    to 1.5x it in the tails, where float64 arithmetic keeps the exactness. torch's own ``trunc_normal_``
    (rejection) takes 2x to 100x ``normal_`` there and refuses an infinite bound on a tail.
    ``a`` and ``b`` are absolute bounds, as in torch, and may be infinite; the result is clamped to them
    against rounding.

    Args:
        tensor: the real floating-point tensor to fill in place.
        mean: the mean of the untruncated normal (finite).
        std: its standard deviation (> 0).
        a: the lower bound (absolute, not in units of std; may be ``-inf``).
        b: the upper bound (``> a``; may be ``inf``).
        generator: the random generator to sample from.

    >>> w = trunc_normal_(torch.empty(768, 768), std=0.02, a=-0.04, b=0.04)
    >>> tail = trunc_normal_(torch.empty(1000), a=7.5, b=float("inf"))  # exact far out, no repeated values
    """
    if tensor.is_complex():
        raise WeightInitError(
            f"trunc_normal_ needs a real floating-point `tensor`. Received: tensor of dtype={tensor.dtype}"
        )
    finite("mean", mean)
    positive("std", std)
    bound("a", a)
    bound("b", b)
    if not a < b:
        raise WeightInitError(
            f"trunc_normal_ needs a < b: argument `b` must be greater than `a`. Received: a={a!r}, b={b!r}"
        )
    return sample_truncated_normal_(tensor, float(mean), float(std), float(a), float(b), generator)


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
