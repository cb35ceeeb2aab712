"""Variance-scaling initializers: Glorot/Xavier, He/Kaiming and LeCun are presets of one function."""

from __future__ import annotations

import math
from typing import Literal

import torch

from ..errors import WeightInitError
from ._common import check_choice, initializer, positive
from .basic import normal_, trunc_normal_, uniform_
from .fans import compute_fans
from .gains import calculate_gain

__all__ = [
    "TRUNCATED_NORMAL_STD_FACTOR",
    "kaiming_normal_",
    "kaiming_uniform_",
    "lecun_normal_",
    "lecun_uniform_",
    "variance_scaling_",
    "variance_scaling_std",
    "xavier_normal_",
    "xavier_uniform_",
]

FanMode = Literal["fan_in", "fan_out", "fan_avg"]
Distribution = Literal["truncated_normal", "normal", "uniform"]
FanModeKaiming = Literal["fan_in", "fan_out"]

#: std of N(0, 1) truncated to [-2, 2]; dividing by it restores unit variance (as Keras and JAX do).
TRUNCATED_NORMAL_STD_FACTOR = 0.87962566103423978


def variance_scaling_std(fans: tuple[int, int], scale: float = 1.0, mode: FanMode = "fan_in") -> float:
    """The target std :math:`\\sqrt{\\text{scale}/n}` with n = fan_in, fan_out or their mean."""
    check_choice("mode", mode, ("fan_in", "fan_out", "fan_avg"))
    fan_in, fan_out = fans
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    if n <= 0:
        raise WeightInitError(f"variance scaling needs a positive {mode}. Received: fans={fans!r}")
    return math.sqrt(scale / n)


def _fans_of(tensor: torch.Tensor, fans: tuple[int, int] | None) -> tuple[int, int]:
    if fans is None:
        return compute_fans(tensor)
    if len(fans) != 2 or any(not isinstance(f, int) or f <= 0 for f in fans):
        raise WeightInitError(f"Argument `fans` must be two positive integers. Received: fans={fans!r}")
    return fans


@initializer
def variance_scaling_(
    tensor: torch.Tensor,
    scale: float = 1.0,
    mode: FanMode = "fan_in",
    distribution: Distribution = "truncated_normal",
    *,
    fans: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill ``tensor`` with zero-mean values of variance ``scale / n``.

    .. math::
        \\sigma = \\sqrt{\\frac{\\text{scale}}{n}},\\quad n \\in \\{\\text{fan\\_in},\\ \\text{fan\\_out},\\
        (\\text{fan\\_in} + \\text{fan\\_out})/2\\}

    - ``truncated_normal``: :math:`\\mathcal{N}(0, (\\sigma/0.8796)^2)` truncated to ±2 of its std, whose std
      is then exactly σ (the Keras/JAX convention),
    - ``normal``: :math:`\\mathcal{N}(0, \\sigma^2)`,
    - ``uniform``: :math:`\\mathcal{U}(-\\sqrt{3}\\sigma, \\sqrt{3}\\sigma)`.

    Xavier (Glorot & Bengio 2010) is ``scale=gain², mode="fan_avg"``; Kaiming (He et al. 2015) is
    ``scale=gain², mode="fan_in"``; LeCun (LeCun et al. 1998) is ``scale=1, mode="fan_in"``.

    Args:
        tensor: an n-dimensional tensor, n >= 2 unless ``fans`` is given.
        scale: the variance multiplier (> 0).
        mode: which fan divides the scale.
        distribution: the distribution to draw from.
        fans: ``(fan_in, fan_out)`` to use instead of the shape-based ones (see :func:`compute_fans`).
        generator: the random generator to sample from.

    >>> w = variance_scaling_(torch.empty(256, 128), scale=2.0, mode="fan_in", distribution="normal")
    """
    positive("scale", scale)
    check_choice("distribution", distribution, ("truncated_normal", "normal", "uniform"))
    std = variance_scaling_std(_fans_of(tensor, fans), scale, mode)
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
        return uniform_(tensor, -bound, bound, generator=generator)
    if distribution == "normal":
        return normal_(tensor, 0.0, std, generator=generator)
    std /= TRUNCATED_NORMAL_STD_FACTOR
    return trunc_normal_(tensor, 0.0, std, -2.0 * std, 2.0 * std, generator=generator)


def _kaiming_scale(a: float, nonlinearity: str) -> float:
    # As in torch, ``a`` is leaky_relu's slope only: passed to elu/celu/softplus it would become their alpha or
    # beta (a = 0 default: elu turned into relu, celu and softplus divided by zero).
    return calculate_gain(nonlinearity, a if nonlinearity == "leaky_relu" else None) ** 2


def xavier_uniform_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    *,
    fans: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Glorot & Bengio (2010): draw from U(-b, b) with b = gain·√(6/(fan_in + fan_out)).

    .. math::
        b = \\text{gain}\\sqrt{6/(\\text{fan\\_in} + \\text{fan\\_out})}

    >>> w = xavier_uniform_(torch.empty(3, 5), gain=calculate_gain("tanh"))
    """
    return variance_scaling_(tensor, positive("gain", gain) ** 2, "fan_avg", "uniform", fans=fans,
                             generator=generator)


def xavier_normal_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    *,
    fans: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Glorot & Bengio (2010): draw from N(0, σ²) with σ = gain·√(2/(fan_in + fan_out)).

    .. math::
        \\sigma = \\text{gain}\\sqrt{2/(\\text{fan\\_in} + \\text{fan\\_out})}
    """
    return variance_scaling_(tensor, positive("gain", gain) ** 2, "fan_avg", "normal", fans=fans,
                             generator=generator)


def kaiming_uniform_(
    tensor: torch.Tensor,
    a: float = 0.0,
    mode: FanModeKaiming = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    fans: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """He et al. (2015): draw from U(-b, b) with b = gain·√(3/fan_mode).

    .. math::
        b = \\text{gain}\\sqrt{3/\\text{fan\\_mode}}


    ``gain = calculate_gain(nonlinearity, a)``; ``a`` is the negative slope of leaky_relu (0 gives ReLU's √2).
    ``mode="fan_in"`` preserves the forward variance, ``"fan_out"`` the backward one.
    """
    check_choice("mode", mode, ("fan_in", "fan_out"))
    return variance_scaling_(tensor, _kaiming_scale(a, nonlinearity), mode, "uniform", fans=fans,
                             generator=generator)


def kaiming_normal_(
    tensor: torch.Tensor,
    a: float = 0.0,
    mode: FanModeKaiming = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    fans: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """He et al. (2015): draw from N(0, σ²) with σ = gain/√fan_mode.

    .. math::
        \\sigma = \\text{gain}/\\sqrt{\\text{fan\\_mode}}


    >>> w = kaiming_normal_(torch.empty(256, 128), nonlinearity="relu")
    """
    check_choice("mode", mode, ("fan_in", "fan_out"))
    return variance_scaling_(tensor, _kaiming_scale(a, nonlinearity), mode, "normal", fans=fans,
                             generator=generator)


def lecun_uniform_(
    tensor: torch.Tensor, *, fans: tuple[int, int] | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """LeCun et al. (1998): draw from U(-b, b) with b = √(3/fan_in)."""
    return variance_scaling_(tensor, 1.0, "fan_in", "uniform", fans=fans, generator=generator)


def lecun_normal_(
    tensor: torch.Tensor, *, fans: tuple[int, int] | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """LeCun et al. (1998) as in Keras/JAX: truncated normal (±2σ) with std exactly 1/√fan_in.

    The default for SELU self-normalizing networks (Klambauer et al. 2017).
    """
    return variance_scaling_(tensor, 1.0, "fan_in", "truncated_normal", fans=fans, generator=generator)
