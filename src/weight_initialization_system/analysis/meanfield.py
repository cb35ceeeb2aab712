"""Mean-field moments of a nonlinearity: the forward and backward gain of one layer at a given signal scale.

For a pre-activation ``h ~ N(0, q)`` and a layer ``y = W φ(h)`` with i.i.d. weights of second moment ``σ²`` and
fan-in ``n``, mean-field theory (Poole et al. 2016; Schoenholz et al. 2017; Pennington et al. 2017) gives

.. math::
    q_{\\text{out}} = n σ^2 \\, \\mathbb{E}[φ(h)^2], \\qquad
    χ = n σ^2 \\, \\mathbb{E}[φ'(h)^2],

where ``χ`` is the mean squared singular value of the layer's Jacobian ``∂y/∂h``: gradients are multiplied by
``χ`` per layer on average, and ``χ = 1`` is the critical (variance-preserving, "edge of chaos") value.
For ReLU ``E[φ'²] = ½`` and ``χ = 1`` is He et al. (2015); for tanh near ``q = 0`` it is Glorot's
``n σ² = 1``; for saturated tanh (``q`` large) ``E[φ'²] ≈ 1.33/√(2πq)`` and ``χ`` falls well below
``n σ²``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import WeightInitError
from ..initializers.gains import _LINEAR, _NUMERIC

__all__ = ["ACTIVATIONS", "activation_moments"]

_Fn = Callable[[torch.Tensor, float | None], torch.Tensor]

#: ``φ(x, param)`` for every smooth (or saturating) nonlinearity: the table ``calculate_gain`` integrates,
#: plus the ones it has closed-form gains for.
ACTIVATIONS: dict[str, _Fn] = {
    "sigmoid": lambda x, p: torch.sigmoid(x),
    "tanh": lambda x, p: torch.tanh(x),
    "selu": lambda x, p: F.selu(x),
    **_NUMERIC,
}


@functools.lru_cache(maxsize=4096)
def _numeric(name: str, param: float | None, log_q: float) -> tuple[float, float]:
    q = math.exp(log_q)
    s = math.sqrt(q)
    # A fine grid where φ bends (|u| ≤ 60) joined to a grid that spans ±10 standard deviations of h.
    fine = torch.linspace(-60.0, 60.0, 6001, dtype=torch.float64)
    wide = torch.linspace(-10.0 * s, 10.0 * s, 6001, dtype=torch.float64)
    u = torch.unique(torch.cat([fine, wide])).requires_grad_(True)
    phi = ACTIVATIONS[name](u, param)
    (dphi,) = torch.autograd.grad(phi.sum(), u)
    density = torch.exp(-0.5 * u.detach() ** 2 / q) / math.sqrt(2 * math.pi * q)
    grid = u.detach()
    m2 = float(torch.trapezoid(phi.detach() ** 2 * density, grid))
    d2 = float(torch.trapezoid(dphi**2 * density, grid))
    return m2, d2


def activation_moments(name: str | None, param: float | None, q: float) -> tuple[float, float]:
    """Return ``(E[φ(h)²], E[φ'(h)²])`` for ``h ~ N(0, q)``.

    ``name`` is a nonlinearity from :data:`~weight_initialization_system.initializers.GAINS` (``None`` means
    linear). ReLU, leaky ReLU and linear are homogeneous and done in closed form; the others by trapezoidal
    integration on a grid that resolves both the bend of ``φ`` and the spread of ``h`` (cached, ``q`` rounded
    to 0.1 % in log scale).

    >>> activation_moments("relu", None, 4.0)
    (2.0, 0.5)
    """
    if not q >= 0 or math.isnan(q):
        raise WeightInitError(f"Argument `q` must be a non-negative variance. Received: q={q!r}")
    if name is None or name in _LINEAR:
        return q, 1.0
    if name == "relu":
        return q / 2, 0.5
    if name == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return q * (1 + slope**2) / 2, (1 + slope**2) / 2
    if name not in ACTIVATIONS:
        raise WeightInitError(
            f"Argument `name` must be a known nonlinearity. Received: name={name!r}. "
            f"Available: {', '.join(sorted([*ACTIVATIONS, 'relu', 'leaky_relu', 'linear']))}"
        )
    log_q = round(math.log(min(max(q, 1e-12), 1e24)), 3)
    return _numeric(name, param, log_q)
