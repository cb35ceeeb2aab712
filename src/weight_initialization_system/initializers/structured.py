"""Structured random matrices: orthogonal (Saxe et al. 2014), delta-orthogonal (Xiao et al. 2018), sparse
(Martens 2010)."""

from __future__ import annotations

import math

import torch

from ..errors import WeightInitError
from ._common import initializer, needs_ndim, positive

__all__ = ["delta_orthogonal_", "orthogonal_", "random_orthogonal", "sparse_"]


def random_orthogonal(
    rows: int,
    cols: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A Haar-distributed ``rows × cols`` matrix with orthonormal rows (rows <= cols) or columns (rows > cols).

    QR of a Gaussian matrix, with the signs of R's diagonal folded into Q (Mezzadri 2007), so that the
    result is uniform on the Stiefel manifold rather than biased by the QR convention.
    """
    work_dtype = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    tall = rows >= cols
    g = torch.empty((rows, cols) if tall else (cols, rows), dtype=work_dtype, device=device)
    g.normal_(0.0, 1.0, generator=generator)
    q, r = torch.linalg.qr(g)
    q.mul_(torch.sgn(torch.diagonal(r)).where(torch.diagonal(r) != 0, 1.0))
    result: torch.Tensor = (q if tall else q.T).to(dtype)
    return result


@initializer
def orthogonal_(
    tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Fill ``tensor`` with a (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2014).

    The tensor is viewed as ``(size(0), ∏ size(1:))``. With ``W`` that matrix,
    :math:`W W^\\top = \\text{gain}^2 I` when rows <= cols, else :math:`W^\\top W = \\text{gain}^2 I`.

    >>> w = orthogonal_(torch.empty(64, 32), gain=2.0)
    >>> torch.allclose(w.T @ w, 4 * torch.eye(32), atol=1e-4)
    True
    """
    needs_ndim(tensor, "orthogonal_", 2)
    rows = tensor.size(0)
    cols = tensor.numel() // rows
    q = random_orthogonal(rows, cols, dtype=tensor.dtype, device=tensor.device, generator=generator)
    return tensor.copy_(q.view(tensor.shape)).mul_(gain)


@initializer
def delta_orthogonal_(
    tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Delta-orthogonal kernel (Xiao et al. 2018): an orthogonal ``(out, in)`` matrix at the spatial centre,
    zeros elsewhere.

    .. math::
        W[:, :, c] = \\text{gain}\\cdot Q,\\quad W[:, :, k \\ne c] = 0,\\quad
        Q^\\top Q = I \\ (\\text{out} \\ge \\text{in})

    A convolution with this kernel is an orthogonal map at every position, which gives dynamical isometry in
    very deep (10,000-layer) vanilla CNNs. Needs ``out >= in`` for the map to be norm preserving; with fewer
    outputs the rows are orthonormal instead.
    """
    needs_ndim(tensor, "delta_orthogonal_", 3, 5)
    out_ch, in_ch = tensor.size(0), tensor.size(1)
    q = random_orthogonal(out_ch, in_ch, dtype=tensor.dtype, device=tensor.device, generator=generator)
    tensor.zero_()
    centre = [k // 2 for k in tensor.shape[2:]]
    index: tuple[slice | int, ...] = (slice(None), slice(None), *centre)
    tensor[index] = q.mul_(gain)
    return tensor


@initializer
def sparse_(
    tensor: torch.Tensor, sparsity: float, std: float = 0.01, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Sparse normal matrix (Martens 2010): in every column, ``ceil(sparsity · rows)`` entries are zero and the
    rest are drawn from N(0, std²).

    The tensor is viewed as ``(size(0), ∏ size(1:))``, so conv kernels work too (torch's only takes 2-D).

    >>> w = sparse_(torch.empty(10, 4), sparsity=0.3)
    >>> int((w == 0).sum(0).min())
    3
    """
    needs_ndim(tensor, "sparse_", 2)
    if not isinstance(sparsity, (int, float)) or isinstance(sparsity, bool) or not 0.0 <= sparsity <= 1.0:
        raise WeightInitError(f"Argument `sparsity` must be in [0, 1]. Received: sparsity={sparsity!r}")
    positive("std", std, allow_zero=True)
    rows = tensor.size(0)
    matrix = tensor.reshape(rows, -1)  # a view when contiguous, else a copy written back below
    matrix.normal_(0.0, std, generator=generator)
    zeros = math.ceil(sparsity * rows)
    if zeros:
        keys = torch.rand(matrix.shape, generator=generator, device=tensor.device)
        idx = keys.argsort(dim=0)[:zeros]
        matrix.scatter_(0, idx, 0.0)
    if not tensor.is_contiguous():
        tensor.copy_(matrix.view(tensor.shape))
    return tensor
