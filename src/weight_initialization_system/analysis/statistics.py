"""Data-free weight statistics: moments, fans, the variance-preserving std, and a spectral randomness check.

:func:`analyze_weights` returns, for every parameter (keyed exactly as ``model.named_parameters()``) and for
the effective weight of every parametrized module (keyed by the user's name, ``"0.weight"``), a flat dict of
floats:

- moments: ``mean``, ``std`` (Bessel-corrected, as ``Tensor.std``), ``min``, ``max``, ``norm`` (Frobenius),
  ``abs_mean``, ``frac_zeros``, ``kurtosis`` (excess: 0 for a Gaussian, -1.2 for a uniform), ``nan_count``,
  ``inf_count``, ``numel``; NaN/Inf entries are counted and the moments computed over the finite ones.
- fans and scale: ``fan_in``, ``fan_out`` (:func:`compute_fans` with the owning module),
  ``expected_std = gain(φ_in)/√fan_in`` for the weights of a weight layer, where ``φ_in`` is the nonlinearity
  applied to the layer's input (He et al. 2015: ``Var[y_l] = n_l Var[w_l] E[x_l²]``; the first layer, which
  sees raw inputs, has gain 1), and ``std_ratio = std / expected_std``.
- for matrices (≥ 2-D weights, viewed as ``(shape[0], rest)``: a conv kernel as ``out × in·k·k``):
  ``spectral_norm`` (Lanczos on the smaller Gram matrix with full reorthogonalization; ``lanczos_steps``
  matrix-vector product pairs, never a full SVD; a lower bound on ``σ_max``),
  ``stable_rank = ‖W‖_F² / σ_max²``, ``mp_edge = std·(√m + √n)``, the top singular value an i.i.d. ``m × n``
  matrix of that std would have (Marchenko–Pastur), and ``mp_ratio = σ_max / mp_edge``. A random matrix has
  ``mp_ratio ≈ 1`` (slightly below from the finite number of Lanczos steps); low-rank, duplicated, constant
  or otherwise structured matrices stand out far above it.

Keys that do not apply are NaN, so every entry has the same keys (ready for a DataFrame).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch
from torch import nn

from ..errors import WeightInitError
from ..initializers import calculate_gain, compute_fans
from ..initializers._common import check_module
from ..normalization import effective_weights
from ._state import read_only
from .topology import LayerInfo, trace_topology

__all__ = ["STAT_KEYS", "analyze_weights", "spectral_norm", "tensor_stats"]

STAT_KEYS: tuple[str, ...] = (
    "mean", "std", "min", "max", "norm", "abs_mean", "frac_zeros", "kurtosis", "nan_count", "inf_count", "numel",
    "fan_in", "fan_out", "expected_std", "std_ratio", "spectral_norm", "stable_rank", "mp_edge", "mp_ratio",
)

_CHUNK = 1 << 18  # elements per block of the centered pass: small enough to stay in cache
_FUSED_MIN_NUMEL = 1 << 16  # below this, kernel launch overhead dominates and eager is as fast

logger = logging.getLogger("weight_initialization_system")


def _shifted_sums(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Power sums of ``x - shift`` and the other reductions, written so that a compiler fuses them."""
    d = x - shift
    d2 = d * d
    return torch.stack([
        d.sum(), d2.sum(), (d2 * d).sum(), (d2 * d2).sum(), x.abs().sum(), (x == 0).sum().to(x.dtype),
        x.amin(), x.amax(),
    ])


_FUSED: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None] = {}


def _fused_kernel() -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """``torch.compile`` of :func:`_shifted_sums` (one pass over memory), or ``None`` if compiling fails."""
    if "kernel" not in _FUSED:
        try:
            kernel = torch.compile(_shifted_sums, dynamic=True)
            kernel(torch.zeros(_FUSED_MIN_NUMEL), torch.zeros(()))  # compile now, fail here if we cannot
            _FUSED["kernel"] = kernel
        except Exception as exc:  # any compiler/toolchain failure: the eager path gives the same numbers
            logger.warning("analyze_weights(fused=True): torch.compile unavailable (%s); using eager", exc)
            _FUSED["kernel"] = None
    return _FUSED["kernel"]


def _fused_moments(flat: torch.Tensor, kernel: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
                   ) -> dict[str, float] | None:
    """Moments from one fused pass; ``None`` when the tensor holds NaN/Inf (the eager path handles those).

    Power sums are taken about a shift ``c`` (mean of a strided sample), and converted exactly to central
    moments with ``δ = mean − c``: ``μ₂ = S₂/n − δ²``, ``μ₄ = S₄/n − 4δS₃/n + 6δ²S₂/n − 3δ⁴``; with ``c`` close to
    the mean there is no cancellation.
    """
    n = flat.numel()
    step = max(1, n // 4096)
    shift = flat[::step].double().mean().to(flat.dtype)
    sums = kernel(flat, shift).double().tolist()
    s1, s2, s3, s4, abs_sum, zeros, lo, hi = sums
    if not all(math.isfinite(v) for v in (s1, s2, s3, s4, lo, hi)):
        return None
    delta = s1 / n
    m2 = max(s2 / n - delta**2, 0.0)
    m4 = max(s4 / n - 4 * delta * s3 / n + 6 * delta**2 * s2 / n - 3 * delta**4, 0.0)
    mean = float(shift) + delta
    out = dict.fromkeys(STAT_KEYS, math.nan)
    out.update({
        "numel": float(n), "nan_count": 0.0, "inf_count": 0.0, "mean": mean,
        "std": math.sqrt(m2 * n / (n - 1)) if n > 1 else 0.0, "min": lo, "max": hi,
        "norm": math.sqrt(max(n * (m2 + mean * mean), 0.0)), "abs_mean": abs_sum / n, "frac_zeros": zeros / n,
        "kurtosis": m4 / (m2 * m2) - 3.0 if m2 > 0 else math.nan,
    })
    return out


def _moments(x: torch.Tensor, fused: bool = False) -> dict[str, float]:
    """Moments of a tensor; non-finite entries are counted and left out of the moments."""
    flat = x.detach().reshape(-1)
    if not flat.is_floating_point():
        flat = flat.float()
    elif flat.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()  # reduced-precision accumulators are not accurate enough for the 4th moment
    if fused and flat.numel() >= _FUSED_MIN_NUMEL and (kernel := _fused_kernel()) is not None:
        found = _fused_moments(flat, kernel)
        if found is not None:
            return found
    out = dict.fromkeys(STAT_KEYS, math.nan)
    out["numel"] = float(flat.numel())
    out["nan_count"] = out["inf_count"] = 0.0
    if flat.numel() == 0:
        return out
    lo, hi = torch.aminmax(flat)
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        nan_mask = torch.isnan(flat)
        inf_mask = torch.isinf(flat)
        out["nan_count"] = float(nan_mask.sum())
        out["inf_count"] = float(inf_mask.sum())
        flat = flat[~(nan_mask | inf_mask)]
        if flat.numel() == 0:
            return out
        lo, hi = torch.aminmax(flat)
    n = flat.numel()
    mean = float(flat.sum(dtype=torch.float64) if n < _CHUNK else flat.sum()) / n
    # Centered second and fourth moments in one blocked pass (exact two-pass algorithm, block in cache).
    m2 = m4 = 0.0
    buf = torch.empty(min(n, _CHUNK), dtype=flat.dtype, device=flat.device)
    for block in torch.split(flat, _CHUNK):
        d = buf[: block.numel()]
        torch.sub(block, mean, out=d)
        d.square_()
        m2 += float(d.sum())
        m4 += float(torch.dot(d, d))
    var_pop = m2 / n
    out["mean"] = mean
    out["std"] = math.sqrt(m2 / (n - 1)) if n > 1 else 0.0
    out["min"], out["max"] = float(lo), float(hi)
    out["norm"] = math.sqrt(m2 + n * mean * mean)
    out["abs_mean"] = float(torch.linalg.vector_norm(flat, 1)) / n
    out["frac_zeros"] = 1.0 - float(torch.count_nonzero(flat)) / n
    out["kurtosis"] = m4 / n / (var_pop * var_pop) - 3.0 if var_pop > 0 else math.nan
    return out


def _batched_moments(tensors: list[torch.Tensor]) -> list[dict[str, float]] | None:
    """Moments of many small tensors from one concatenation and segmented float64 reductions (a dozen ops in
    total instead of a dozen per tensor). ``None`` when any value is NaN/Inf (the per-tensor path counts them)."""
    flats = [t.detach().reshape(-1).to(torch.float64) for t in tensors]
    x = torch.cat(flats)
    if not bool(torch.isfinite(x).all()):
        return None
    lengths = torch.tensor([f.numel() for f in flats], device=x.device)
    seg = torch.repeat_interleave(torch.arange(len(flats), device=x.device), lengths)
    k = len(flats)

    def seg_sum(v: torch.Tensor) -> torch.Tensor:
        return torch.zeros(k, dtype=torch.float64, device=x.device).index_add_(0, seg, v)

    n = lengths.to(torch.float64)
    mean = seg_sum(x) / n
    d2 = (x - mean[seg]) ** 2
    m2, m4 = seg_sum(d2), seg_sum(d2 * d2)
    abs_sum, zeros = seg_sum(x.abs()), seg_sum((x == 0).to(torch.float64))
    lo = torch.segment_reduce(x, "min", lengths=lengths)
    hi = torch.segment_reduce(x, "max", lengths=lengths)
    rows = torch.stack([n, mean, m2, m4, abs_sum, zeros, lo, hi], dim=1).tolist()
    out = []
    for count, mu, c2, c4, a, z, mn, mx in rows:
        var_pop = c2 / count
        entry = dict.fromkeys(STAT_KEYS, math.nan)
        entry.update({
            "numel": count, "nan_count": 0.0, "inf_count": 0.0, "mean": mu,
            "std": math.sqrt(c2 / (count - 1)) if count > 1 else 0.0, "min": mn, "max": mx,
            "norm": math.sqrt(c2 + count * mu * mu), "abs_mean": a / count, "frac_zeros": z / count,
            "kurtosis": c4 / count / (var_pop * var_pop) - 3.0 if var_pop > 0 else math.nan,
        })
        out.append(entry)
    return out


def _check_steps(argument: str, steps: object) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise WeightInitError(f"Argument `{argument}` must be an integer >= 1. Received: {argument}={steps!r}")


def spectral_norm(matrix: torch.Tensor, steps: int = 12, generator: torch.Generator | None = None) -> float:
    """Largest singular value of a 2-D tensor by ``steps`` Lanczos iterations on the smaller Gram matrix.

    Each step costs one product with ``W`` and one with ``Wᵀ``; full reorthogonalization keeps the Krylov basis
    orthogonal in float precision. The iteration stops at an invariant subspace, detected when the residual
    ``β`` falls to the rounding noise of the products, ``β ≤ √ε·‖A‖`` (for ``A = WᵀW`` and ``ε`` the machine
    epsilon of the working dtype): a residual made of rounding noise cannot be orthogonalized, and continuing on
    it builds a degenerate basis whose Ritz values overshoot ``σ_max`` (an orthogonal matrix, whose Gram
    matrix is the identity, reaches this at the first step). The value returned is the Rayleigh quotient of the
    top Ritz vector ``y``, ``‖Wy‖/‖y‖``, so it is a lower bound on ``σ_max`` whatever the rounding; it converges
    fast when ``σ_max`` is separated from the rest of the spectrum (the structured matrices this is used to
    find) and to within about a percent for i.i.d. matrices (Golub & Van Loan, *Matrix Computations*, §10.1).
    """
    if not isinstance(matrix, torch.Tensor):
        raise WeightInitError(f"Argument `matrix` must be a 2-D torch.Tensor. Received: {type(matrix).__name__}")
    if matrix.dim() != 2:
        raise WeightInitError(f"spectral_norm needs a 2-D tensor. Received: shape {tuple(matrix.shape)}")
    _check_steps("steps", steps)
    w = matrix.detach()
    if not w.is_floating_point() or w.dtype in (torch.float16, torch.bfloat16):
        w = w.float()
    if w.numel() == 0:
        return 0.0
    if w.shape[0] < w.shape[1]:
        w = w.t()  # iterate in the smaller dimension
    n = w.shape[1]
    k = max(1, min(steps, n))
    noise = math.sqrt(torch.finfo(w.dtype).eps)
    basis = torch.empty(k, n, dtype=w.dtype, device=w.device)
    v = torch.randn(n, dtype=w.dtype, device=w.device, generator=generator)
    basis[0] = v / torch.linalg.vector_norm(v)
    alphas: list[float] = []
    betas: list[float] = []
    scale = 0.0  # max ‖A q‖ seen so far: a lower bound on ‖A‖, the size of the products' rounding noise
    for j in range(k):
        u = w.t().mv(w.mv(basis[j]))
        scale = max(scale, float(torch.linalg.vector_norm(u)))
        alphas.append(float(u.dot(basis[j])))
        u -= basis[: j + 1].t().mv(basis[: j + 1].mv(u))  # full reorthogonalization (twice is enough)
        u -= basis[: j + 1].t().mv(basis[: j + 1].mv(u))
        beta = float(torch.linalg.vector_norm(u))
        if j == k - 1 or beta <= noise * scale:
            break
        betas.append(beta)
        basis[j + 1] = u / beta
    m = len(alphas)
    tri = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if m > 1:
        off = torch.tensor(betas[: m - 1], dtype=torch.float64)
        tri += torch.diag(off, 1) + torch.diag(off, -1)
    _, vectors = torch.linalg.eigh(tri)
    ritz = vectors[:, -1].to(w.dtype).to(w.device) @ basis[:m]
    length = float(torch.linalg.vector_norm(ritz))
    if not length > 0:
        return 0.0
    return float(torch.linalg.vector_norm(w.mv(ritz))) / length


def tensor_stats(
    tensor: torch.Tensor,
    *,
    spectral: bool = True,
    lanczos_steps: int = 12,
    fans: tuple[int, int] | None = None,
    expected_std: float | None = None,
    generator: torch.Generator | None = None,
    fused: bool = False,
    moments: dict[str, float] | None = None,
) -> dict[str, float]:
    """All statistics of :func:`analyze_weights` for one tensor (see the module docstring for the keys).

    ``moments`` may carry precomputed moment statistics (as :func:`analyze_weights` does for small tensors).
    """
    if not isinstance(tensor, torch.Tensor):
        raise WeightInitError(f"Argument `tensor` must be a torch.Tensor. Received: {type(tensor).__name__}")
    _check_steps("lanczos_steps", lanczos_steps)
    out = dict(moments) if moments is not None else _moments(tensor, fused)
    if fans is not None:
        out["fan_in"], out["fan_out"] = float(fans[0]), float(fans[1])
    if expected_std is not None:
        out["expected_std"] = expected_std
        out["std_ratio"] = out["std"] / expected_std if expected_std > 0 else math.nan
    finite = out["nan_count"] == 0 and out["inf_count"] == 0
    if spectral and tensor.dim() >= 2 and tensor.numel() > 0 and finite:
        matrix = tensor.detach().reshape(tensor.shape[0], -1)
        sigma = spectral_norm(matrix, lanczos_steps, generator)
        m, n = matrix.shape
        out["spectral_norm"] = sigma
        out["stable_rank"] = out["norm"] ** 2 / sigma**2 if sigma > 0 else math.nan
        out["mp_edge"] = out["std"] * (math.sqrt(m) + math.sqrt(n))
        out["mp_ratio"] = sigma / out["mp_edge"] if out["mp_edge"] > 0 else (math.inf if sigma > 0 else math.nan)
    return out


def _expected_std(info: LayerInfo | None, fans: tuple[int, int] | None, is_layer_weight: bool) -> float | None:
    if info is None or fans is None or not is_layer_weight or info.module_type in ("Embedding", "EmbeddingBag"):
        return None
    act = info.input_activation or "linear"
    param = info.input_activation_param
    return calculate_gain(act, param) / math.sqrt(max(fans[0], 1))


@read_only
def analyze_weights(
    model: nn.Module,
    *,
    spectral: bool = True,
    lanczos_steps: int = 12,
    seed: int = 0,
    fused: bool = False,
) -> dict[str, dict[str, float]]:
    """Return ``{parameter name: {statistic: float}}`` for every parameter and parametrized weight.

    Args:
        model: any ``nn.Module``; it is not modified and not copied (each tensor is read in place; half and
            bfloat16 tensors are upcast one at a time).
        spectral: compute the spectral statistics of matrices (``2·lanczos_steps`` matrix-vector products each).
        lanczos_steps: Lanczos iterations per matrix.
        seed: seed of the Lanczos start vectors (results are deterministic for a given seed).
        fused: compute the moments of large tensors (≥ 65,536 elements) with one ``torch.compile``-fused
            pass over memory instead of several eager reductions: about 2× a plain ``.sum()`` instead of
            ~60× on CPU, after a one-off compilation of ~20 s per process (cached on disk by inductor).
            Worth it for large models analyzed repeatedly; falls back to eager if compilation fails.

    >>> stats = analyze_weights(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4)))
    >>> sorted(stats) == ['0.bias', '0.weight', '2.bias', '2.weight']
    True
    >>> round(stats["2.weight"]["expected_std"], 4)  # √2/√32: the input of layer 2 is a ReLU output
    0.25
    """
    check_module("model", model)
    _check_steps("lanczos_steps", lanczos_steps)
    topology = trace_topology(model)
    owner_info: dict[str, LayerInfo] = {}
    for layer in topology.values():
        for name in layer.weight_names:
            owner_info[name] = layer
    modules = dict(model.named_modules())
    generators: dict[torch.device, torch.Generator] = {}  # per device: the global RNG is never consumed
    tensors: dict[str, torch.Tensor] = dict(model.named_parameters())
    tensors.update(effective_weights(model))
    small = [n for n, t in tensors.items() if 0 < t.numel() < _FUSED_MIN_NUMEL]
    by_device: dict[torch.device, list[str]] = {}
    for n in small:
        by_device.setdefault(tensors[n].device, []).append(n)
    precomputed: dict[str, dict[str, float]] = {}
    for names in by_device.values():
        found = _batched_moments([tensors[n] for n in names])
        if found is not None:
            precomputed.update(zip(names, found, strict=True))
    result: dict[str, dict[str, float]] = {}
    for name, tensor in tensors.items():
        prefix, _, local = name.rpartition(".")
        module = modules.get(prefix)
        fans: tuple[int, int] | None = None
        if tensor.dim() >= 2 and module is not None:
            fans = compute_fans(tensor, module, local)
        info = owner_info.get(name)
        if tensor.device not in generators:
            generators[tensor.device] = torch.Generator(device=tensor.device).manual_seed(seed)
        result[name] = tensor_stats(
            tensor, spectral=spectral, lanczos_steps=lanczos_steps, fans=fans,
            expected_std=_expected_std(info, fans, info is not None), generator=generators[tensor.device], fused=fused,
            moments=precomputed.get(name),
        )
    return result
