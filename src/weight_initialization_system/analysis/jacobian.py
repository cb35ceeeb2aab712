"""Input–output Jacobian spectrum from Jacobian-vector products: the dynamical-isometry check.

A network is dynamically isometric when all singular values of its input–output Jacobian ``J`` are close to 1
(Saxe et al. 2014; Pennington, Schoenholz & Ganguli 2017): then gradients neither vanish nor explode in any
direction. Orthogonal weights at the critical gain achieve it in deep tanh networks; Gaussian weights of the same
variance do not, their spectrum widening with depth.

:func:`jacobian_spectrum` never forms ``J``. From one forward pass it runs ``k`` Lanczos steps on ``JᵀJ`` per
probe, each step one JVP (by the double-VJP trick) and one VJP. The Ritz values estimate the extreme singular
values, and stochastic Lanczos quadrature (Golub & Meurant 2009; Ubaru, Chen & Saad 2017) estimates the
moments of the squared singular values ``λ = σ²``.

A ``D_out × D_in`` Jacobian has ``r = min(D_in, D_out)`` singular values; ``JᵀJ`` (``D_in × D_in``) and ``JJᵀ``
(``D_out × D_out``) share their eigenvalues ``σ_i²`` and the larger of the two adds ``|D_in − D_out|`` zeros that
are not singular values of ``J``. The iteration therefore runs on the smaller Gram matrix ``G`` (``JᵀJ`` by
JVP then VJP, or ``JJᵀ`` by VJP then JVP), and the moments are over the ``r`` singular values:

.. math::
    m_p = \\frac{1}{r}\\operatorname{tr}\\big(G^p\\big) = \\frac{1}{r}\\sum_{i=1}^{r} σ_i^{2p} \\approx
    \\operatorname{mean}_{\\text{probes}} \\sum_i τ_i^2 θ_i^p,

with ``θ_i`` the Ritz values and ``τ_i`` the first components of their eigenvectors. A semi-orthogonal
``64 → 10`` map thus has ``m_1 = m_2 = 1`` and spread 0, not the ``10/64`` and 2.3 that averaging over the input
dimension would give. The summary reports
``mean_squared_singular_value = m_1`` (1 is critical), and the ``spread = √(m_2/m_1² − 1)``, the coefficient
of variation of ``σ²`` (0 for an isometry). With a batch, ``J`` is the Jacobian of the batched function, so
its spectrum is the union of the per-example spectra (exactly, unless the model mixes examples, as BatchNorm
in training mode does).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..errors import WeightInitError
from ..graph import call_model
from ..initializers._common import check_module
from ._state import preserved_state, read_only
from .dynamics import _describe, _first_tensor

__all__ = ["jacobian_spectrum"]


@read_only
def jacobian_spectrum(
    model: nn.Module,
    inputs: torch.Tensor,
    k: int = 16,
    *,
    probes: int = 2,
    seed: int = 0,
) -> dict[str, Any]:
    """Estimate the singular values of the input–output Jacobian with ``probes × k`` JVP/VJP pairs.

    Args:
        model: any ``nn.Module`` whose first argument is a floating-point tensor (left exactly as it was).
        inputs: that tensor (a batch).
        k: Lanczos steps per probe (Ritz values returned per probe).
        probes: random start vectors; more tighten the moment estimates.
        seed: seed of the start vectors.

    Returns:
        ``{"singular_values": [...] (Ritz estimates from the first probe, descending), "max_singular_value",
        "min_singular_value" (of those Ritz values, an upper estimate of the true minimum),
        "mean_squared_singular_value" (``m_1``), "second_moment" (``m_2``), "spread", "input_dim",
        "output_dim", "num_singular_values" (``r = min(input_dim, output_dim)``, what the moments average
        over), "products"}``. ``input_dim`` and ``output_dim`` count the whole batch.

    >>> net = nn.Linear(64, 10, bias=False)
    >>> _ = nn.init.orthogonal_(net.weight)  # a semi-orthogonal map: its 10 singular values are all 1
    >>> r = jacobian_spectrum(net, torch.randn(1, 64))
    >>> round(r["min_singular_value"], 4), round(r["mean_squared_singular_value"], 4), r["num_singular_values"]
    (1.0, 1.0, 10)
    """
    check_module("model", model)
    if not isinstance(inputs, torch.Tensor) or not inputs.is_floating_point():
        raise WeightInitError(
            "Argument `inputs` must be a floating-point tensor (the Jacobian is taken with respect to it). "
            f"Received: {type(inputs).__name__}"
            + (f" of dtype {inputs.dtype}" if isinstance(inputs, torch.Tensor) else "")
        )
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in (k, probes)):
        raise WeightInitError(f"Arguments `k` and `probes` must be integers >= 1. Received: k={k!r}, probes={probes!r}")
    gen = torch.Generator(device=inputs.device).manual_seed(seed)
    with preserved_state(model):
        torch.set_grad_enabled(True)
        x = inputs.detach().clone().requires_grad_(True)
        try:
            raw_output = call_model(model, x)
        except Exception as error:
            raise WeightInitError(
                f"The model's forward pass on `inputs` raised {type(error).__name__}: {error}. `inputs` must be a "
                f"tensor the model's forward takes. Received: {_describe(inputs)}"
            ) from error
        out = _first_tensor(raw_output)
        if out is None or not out.is_floating_point():
            raise WeightInitError("The model must return a floating-point tensor to take its Jacobian")
        dummy = torch.zeros_like(out, requires_grad=True)
        (vjp_of_dummy,) = torch.autograd.grad(out, x, dummy, create_graph=True)
        dim = min(x.numel(), out.numel())
        steps = min(k, dim)
        m1 = m2 = 0.0
        ritz_first: list[float] = []
        products = 0

        def jtj(v: torch.Tensor) -> torch.Tensor:
            nonlocal products
            (jv,) = torch.autograd.grad(vjp_of_dummy, dummy, v.view_as(x), retain_graph=True)
            (jtjv,) = torch.autograd.grad(out, x, jv, retain_graph=True)
            products += 1
            return jtjv.reshape(-1).detach().double()

        def jjt(u: torch.Tensor) -> torch.Tensor:
            nonlocal products
            (jtu,) = torch.autograd.grad(out, x, u.view_as(out), retain_graph=True)
            (jjtu,) = torch.autograd.grad(vjp_of_dummy, dummy, jtu, retain_graph=True)
            products += 1
            return jjtu.reshape(-1).detach().double()

        gram = jjt if out.numel() < x.numel() else jtj
        like = out if out.numel() < x.numel() else x
        for probe in range(probes):
            theta, tau2 = _lanczos(gram, dim, steps, gen, like)
            m1 += float((tau2 * theta).sum()) / probes
            m2 += float((tau2 * theta**2).sum()) / probes
            if probe == 0:
                ritz_first = sorted((math.sqrt(max(t, 0.0)) for t in theta.tolist()), reverse=True)
    spread = math.sqrt(max(m2 / (m1 * m1) - 1.0, 0.0)) if m1 > 0 else math.nan
    return {
        "singular_values": ritz_first,
        "max_singular_value": ritz_first[0] if ritz_first else math.nan,
        "min_singular_value": ritz_first[-1] if ritz_first else math.nan,
        "mean_squared_singular_value": m1,
        "second_moment": m2,
        "spread": spread,
        "input_dim": x.numel(),
        "output_dim": out.numel(),
        "num_singular_values": dim,
        "products": products,
    }


def _lanczos(
    matvec: Any, dim: int, steps: int, gen: torch.Generator, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ritz values ``θ`` and quadrature weights ``τ²`` of a symmetric PSD operator from a Gaussian start.

    The basis is kept in float64, so a residual made of the products' rounding noise still yields an orthonormal
    direction (a restart, coupled to the rest by a negligible ``β``); the iteration stops only at an exact
    invariant subspace, ``β ≤ ε·‖A‖`` with ``ε`` of the operator's dtype, judged relative to the operator's scale
    (a vanishing Jacobian with ``‖A‖ = 1e-12`` is not a breakdown).
    """
    v = torch.randn(dim, generator=gen, device=like.device, dtype=torch.float64)
    basis = [v / torch.linalg.vector_norm(v)]
    alphas: list[float] = []
    betas: list[float] = []
    eps = torch.finfo(like.dtype).eps
    scale = 0.0  # max ‖A q‖ seen: a lower bound on ‖A‖
    for j in range(steps):
        w = matvec(basis[j].to(like.dtype))
        scale = max(scale, float(torch.linalg.vector_norm(w)))
        alpha = float(w.dot(basis[j]))
        alphas.append(alpha)
        stack = torch.stack(basis)
        w = w - stack.t().mv(stack.mv(w))
        w = w - stack.t().mv(stack.mv(w))  # full reorthogonalization
        beta = float(torch.linalg.vector_norm(w))
        if j == steps - 1 or beta <= eps * scale:
            break
        betas.append(beta)
        basis.append(w / beta)
    tri = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if len(alphas) > 1:
        off = torch.tensor(betas[: len(alphas) - 1], dtype=torch.float64)
        tri += torch.diag(off, 1) + torch.diag(off, -1)
    theta, vecs = torch.linalg.eigh(tri)
    return theta, vecs[0] ** 2
