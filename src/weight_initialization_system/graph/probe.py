"""Say what a leaf module computes by calling it, not by reading its class name.

A leaf module whose forward is a few lines of arithmetic (``LlamaRMSNorm``, ``T5LayerNorm``,
``NewGELUActivation``, a user's ``Swish``) is classified by its behaviour on probe inputs, on the CPU with
stand-in values for its parameters (so a model on the meta device can be probed too):

- an **activation** when its output equals ``φ(x)`` elementwise for a known ``φ`` (to 1e-4 relative);
- a **normalization** when it is scale-invariant, ``f(c·x) = f(x)`` for ``c`` ∈ {0.25, 4}, and not the
  identity. Each 1-D parameter ``p`` then acts as ``f(x) = n(x)·(a + b·p) (+ shift)``: setting all parameters
  to 0 and one to 1 gives its effect ``Δ``; a parameter whose ``Δ`` varies with ``x`` is a scale, whose
  *neutral value* (the value at which the norm adds no scaling) is ``1 − a/b`` with ``a/b = ⟨f₀, Δ⟩/⟨Δ, Δ⟩``:
  1 for ``x̂·w``, 0 for Gemma's ``x̂·(1 + w)``; one whose ``Δ`` is constant is a shift (neutral 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["KNOWN_ACTIVATIONS", "NormProbe", "probe_activation", "probe_norm"]

#: ``(name, param)`` → ``φ``: the nonlinearities a module is compared with (names as in ``GAINS``).
KNOWN_ACTIVATIONS: dict[tuple[str, float | None], Callable[[torch.Tensor], torch.Tensor]] = {
    ("relu", None): F.relu,
    ("leaky_relu", 0.01): lambda x: F.leaky_relu(x, 0.01),
    ("leaky_relu", 0.1): lambda x: F.leaky_relu(x, 0.1),
    ("leaky_relu", 0.2): lambda x: F.leaky_relu(x, 0.2),
    ("gelu", None): F.gelu,
    ("gelu", 1.0): lambda x: F.gelu(x, approximate="tanh"),
    ("quick_gelu", None): lambda x: x * torch.sigmoid(1.702 * x),
    ("silu", None): F.silu,
    ("mish", None): F.mish,
    ("tanh", None): torch.tanh,
    ("sigmoid", None): torch.sigmoid,
    ("elu", None): F.elu,
    ("selu", None): F.selu,
    ("softplus", None): F.softplus,
    ("hardswish", None): F.hardswish,
    ("hardtanh", None): F.hardtanh,
    ("hardsigmoid", None): F.hardsigmoid,
    ("softsign", None): F.softsign,
    ("relu6", None): F.relu6,
}

_PROBE_SEED = 1234


def _probe_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The recorded input shape made small: batch 2, every dimension but the channel (1) and feature (-1)
    ones at most 4 -- what an elementwise map or a norm over channels or features needs, at a fraction of
    the cost of the real batch."""
    if len(shape) <= 1:
        return shape
    small = [min(d, 4) for d in shape]
    small[0] = min(shape[0], 2)
    if len(shape) > 2:
        small[1] = shape[1]
    small[-1] = shape[-1]
    return tuple(small)


def _probe_input(shape: tuple[int, ...], spread: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(_PROBE_SEED)
    return torch.randn(_probe_shape(shape), generator=g) * spread + 0.3


def _run(module: nn.Module, x: torch.Tensor, values: dict[str, torch.Tensor]) -> torch.Tensor | None:
    try:
        with torch.no_grad():
            out = torch.func.functional_call(module, values, (x,), strict=False)
    except Exception:  # a module that cannot run alone on a probe: not classified
        return None
    return out.float() if isinstance(out, torch.Tensor) and out.shape == x.shape else None


def _stand_ins(module: nn.Module, fill: dict[str, float] | None = None) -> dict[str, torch.Tensor]:
    values: dict[str, torch.Tensor] = {}
    for name, p in module.named_parameters():
        value = 1.0 if fill is None else fill.get(name, 0.0)
        values[name] = torch.full(p.shape, value, dtype=torch.float32)
    for name, b in module.named_buffers():
        if b.is_floating_point():
            values[name] = torch.zeros(b.shape) if b.is_meta else b.detach().to("cpu", torch.float32)
    return values


def probe_activation(module: nn.Module, shape: tuple[int, ...]) -> tuple[str, float | None] | None:
    """``(name, param)`` of the elementwise nonlinearity ``module`` computes, or ``None``."""
    if any(True for _ in module.parameters()):
        return None
    x = _probe_input(shape)
    y = _run(module, x, _stand_ins(module))
    if y is None:
        return None
    for key, phi in KNOWN_ACTIVATIONS.items():
        if torch.allclose(y, phi(x), rtol=1e-4, atol=1e-4):
            return key
    return None


class NormProbe:
    """What a normalization module does with each of its 1-D parameters.

    Attributes:
        scales: parameter local name → neutral value (``1.0`` for ``x̂·w``, ``0.0`` for ``x̂·(1 + w)``).
        shifts: parameter local names that add to the normalized signal (neutral value 0).
    """

    def __init__(self, scales: dict[str, float], shifts: tuple[str, ...]) -> None:
        self.scales = scales
        self.shifts = shifts


def probe_norm(module: nn.Module, shape: tuple[int, ...]) -> NormProbe | None:
    """A :class:`NormProbe` when ``module`` is scale-invariant in its input, else ``None``."""
    params = dict(module.named_parameters())
    if any(p.dim() != 1 for p in params.values()):
        return None
    x = _probe_input(shape)
    base = _run(module, x, _stand_ins(module))
    if base is None or torch.allclose(base, x.float(), rtol=1e-3, atol=1e-3):
        return None
    for c in (0.25, 4.0):
        other = _run(module, x * c, _stand_ins(module))
        if other is None or not torch.allclose(other, base, rtol=1e-3, atol=1e-3 * (1 + float(base.abs().max()))):
            return None
    zero = _run(module, x, _stand_ins(module, {}))
    if zero is None:
        return None
    scales: dict[str, float] = {}
    shifts: list[str] = []
    for name in params:
        one = _run(module, x, _stand_ins(module, {name: 1.0}))
        if one is None:
            return None
        delta = (one - zero).double()
        flat = delta.reshape(-1, x.shape[-1]) if x.dim() > 1 else delta.reshape(1, -1)
        if float(flat.std(dim=0).abs().max()) < 1e-6 * (1 + float(flat.abs().max())):
            shifts.append(name)
            continue
        ratio = float((zero.double() * delta).sum() / (delta * delta).sum())
        neutral = 1.0 - ratio
        scales[name] = round(neutral, 6) if math.isfinite(neutral) else 1.0
    return NormProbe(scales, tuple(shifts))
