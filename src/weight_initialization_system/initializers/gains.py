"""Gains of nonlinearities: the factor that keeps the forward signal's second moment constant.

For a layer ``y = W φ(x)`` with ``W_ij ~ N(0, gain²/fan_in)`` and ``x ~ N(0, 1)``, the output variance is
``gain² · E[φ(z)²]``, so the variance-preserving gain is

.. math::
    \\text{gain}(\\varphi) = \\frac{1}{\\sqrt{\\mathbb{E}_{z \\sim \\mathcal{N}(0,1)}[\\varphi(z)^2]}}

For ReLU this gives √2 (He et al. 2015). The gains torch defines (linear, conv, sigmoid, tanh, relu,
leaky_relu, selu) keep torch's values for parity. For gelu, silu/swish, mish, elu, softplus, hardswish,
hardtanh, softsign and hardsigmoid, which have no closed form, the expectation is computed once by a composite
Simpson rule on [-12, 12] with step 10⁻³ and cached. (Gauss-Hermite quadrature assumes a smooth integrand: it
is off by 0.3% for hardtanh, whose kinks at ±1 fall, like those of hardswish and hardsigmoid at ±3, on panel
boundaries of the Simpson grid, where the rule stays O(h⁴)-accurate.)

Note: for GELU/SiLU/Mish, ``E[φ(√q z)²]/q`` grows with the input variance ``q``, so no constant gain has a
stable fixed point; the gain above is exact only at unit variance. Deep plain stacks of them drift, which is
why ``initialize_model(..., method="auto", sample=batch)`` finishes with an LSUV-style correction.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import WeightInitError
from ._common import check_choice

__all__ = ["GAINS", "calculate_gain", "second_moment_gain"]

_LINEAR = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d")

_NUMERIC: dict[str, Callable[[torch.Tensor, float | None], torch.Tensor]] = {
    "gelu": lambda x, p: F.gelu(x, approximate="tanh" if p == 1.0 else "none"),
    "quick_gelu": lambda x, p: x * torch.sigmoid(1.702 * x),
    "silu": lambda x, p: F.silu(x),
    "swish": lambda x, p: F.silu(x),
    "mish": lambda x, p: F.mish(x),
    "elu": lambda x, p: F.elu(x, alpha=1.0 if p is None else p),
    "celu": lambda x, p: F.celu(x, alpha=1.0 if p is None else p),
    "softplus": lambda x, p: F.softplus(x, beta=1.0 if p is None else p),
    "hardswish": lambda x, p: F.hardswish(x),
    "hardtanh": lambda x, p: F.hardtanh(x),
    "softsign": lambda x, p: F.softsign(x),
    "hardsigmoid": lambda x, p: F.hardsigmoid(x),
}

GAINS: tuple[str, ...] = (*_LINEAR, "sigmoid", "tanh", "relu", "leaky_relu", "selu", *_NUMERIC)


_HALF_WIDTH, _STEP = 12.0, 1e-3  # the N(0, 1) mass beyond ±12 is 4e-33


@functools.lru_cache(maxsize=1)
def _simpson_grid() -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights (Simpson weights times the normal density) for E[f(z)], z ~ N(0, 1)."""
    intervals = round(2 * _HALF_WIDTH / _STEP)
    z = torch.linspace(-_HALF_WIDTH, _HALF_WIDTH, intervals + 1, dtype=torch.float64)
    simpson = torch.ones_like(z)
    simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
    return z, simpson * (_STEP / 3.0) * torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _normal_second_moment(fn: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """E[fn(z)²] for z ~ N(0, 1)."""
    z, weights = _simpson_grid()
    return float((fn(z) ** 2 * weights).sum())


@functools.lru_cache(maxsize=128)
def _second_moment_gain(name: str, param: float | None) -> float:
    return 1.0 / math.sqrt(_normal_second_moment(lambda z: _NUMERIC[name](z, param)))


def second_moment_gain(fn: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """Return ``1/sqrt(E[fn(z)²])`` for ``z ~ N(0, 1)``, for any elementwise function (composite Simpson).

    >>> round(second_moment_gain(torch.relu), 6) == round(math.sqrt(2), 6)
    True
    """
    second_moment = _normal_second_moment(fn)
    if not second_moment > 0:
        raise WeightInitError("second_moment_gain: the function is zero almost everywhere under N(0, 1)")
    return 1.0 / math.sqrt(second_moment)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Return the recommended gain for a nonlinearity.

    ===================  =========================================================
    nonlinearity         gain
    ===================  =========================================================
    linear, conv*, id    :math:`1`
    sigmoid              :math:`1` (torch's value)
    tanh                 :math:`5/3` (torch's value)
    relu                 :math:`\\sqrt{2}` (He et al. 2015)
    leaky_relu           :math:`\\sqrt{2 / (1 + a^2)}`, ``a = param`` (default 0.01)
    selu                 :math:`3/4` (torch's value; use 1 for self-normalizing nets, Klambauer et al. 2017)
    gelu, silu, swish,   :math:`1/\\sqrt{E[\\varphi(z)^2]}`, z ~ N(0,1), by quadrature, cached.
    mish, elu, celu,     ``param`` is alpha for elu/celu, beta for softplus, and ``1.0`` selects the tanh
    softplus, hardswish, approximation of gelu.
    hardtanh, softsign,
    hardsigmoid
    ===================  =========================================================

    Args:
        nonlinearity: the name of the nonlinear function (``torch.nn.functional`` name).
        param: optional parameter for the nonlinearity.

    >>> calculate_gain("relu") == math.sqrt(2.0)
    True
    >>> round(calculate_gain("gelu"), 4)
    1.5335
    """
    name = check_choice("nonlinearity", nonlinearity, GAINS)
    if name in _LINEAR or name == "sigmoid":
        return 1.0
    if name == "tanh":
        return 5.0 / 3
    if name == "relu":
        return math.sqrt(2.0)
    if name == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise WeightInitError(f"Argument `param` must be a number for leaky_relu. Received: param={param!r}")
        return math.sqrt(2.0 / (1 + slope**2))
    if name == "selu":
        return 3.0 / 4
    return _second_moment_gain(name, None if param is None else float(param))
