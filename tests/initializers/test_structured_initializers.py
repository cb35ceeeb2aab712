"""orthogonal_, delta_orthogonal_, sparse_, random_orthogonal: exact structure and distributions vs torch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from stat_checks import KS_P_MIN, assert_mean_std

from weight_initialization_system.initializers import delta_orthogonal_, orthogonal_, random_orthogonal, sparse_


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(32, 32), (16, 48), (48, 16), (8, 4, 3, 3), (40, 2, 3), (4, 2, 2, 2, 2)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_gram_is_gain_squared_identity(shape: tuple[int, ...], gain: float) -> None:
    w = orthogonal_(torch.empty(shape, dtype=torch.float64), gain=gain, generator=gen(1)).reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    assert torch.allclose(gram, gain**2 * torch.eye(min(rows, cols), dtype=torch.float64), atol=1e-12)


def test_orthogonal_float32_gram_within_float32_precision() -> None:
    w = orthogonal_(torch.empty(64, 128), gain=1.0, generator=gen(2))
    assert torch.allclose(w @ w.T, torch.eye(64), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(24, 24), (12, 36), (36, 12)])
def test_orthogonal_entries_match_torch_by_ks(shape: tuple[int, int]) -> None:
    # Haar-distributed Q: the entries of many independent matrices have the same law as torch's.
    ours = torch.cat([orthogonal_(torch.empty(shape), generator=gen(100 + i)).flatten() for i in range(40)])
    theirs = torch.cat([torch.nn.init.orthogonal_(torch.empty(shape), generator=gen(500 + i)).flatten()
                        for i in range(40)])
    assert stats.ks_2samp(ours.numpy(), theirs.numpy()).pvalue > KS_P_MIN


@pytest.mark.slow
def test_random_orthogonal_has_no_sign_bias() -> None:
    # Without folding sign(diag R) into Q the diagonal of Q would be biased (QR returns R with a fixed-sign
    # diagonal convention). Haar: each diagonal entry has mean 0 and variance 1/n.
    n, reps = 8, 4000
    g = gen(3)
    diag = torch.stack([torch.diagonal(random_orthogonal(n, n, dtype=torch.float64, generator=g))
                        for _ in range(reps)])
    assert_mean_std(diag.flatten(), 0.0, 1 / math.sqrt(n), kurtosis=3.0, what="Haar diagonal")


def test_random_orthogonal_half_precision_returns_the_requested_dtype() -> None:
    q = random_orthogonal(16, 8, dtype=torch.bfloat16, generator=gen(4))
    assert q.dtype == torch.bfloat16
    assert torch.allclose(q.float().T @ q.float(), torch.eye(8), atol=3e-2)


@pytest.mark.parametrize(("out_ch", "in_ch", "kernel"), [(16, 8, (3, 3)), (8, 8, (5,)), (12, 4, (3, 3, 3)),
                                                         (4, 8, (3, 3))])
def test_delta_orthogonal_has_an_orthogonal_centre_and_zeros_elsewhere(
    out_ch: int, in_ch: int, kernel: tuple[int, ...]
) -> None:
    w = delta_orthogonal_(torch.empty(out_ch, in_ch, *kernel, dtype=torch.float64), gain=1.5, generator=gen(5))
    centre = (slice(None), slice(None), *[k // 2 for k in kernel])
    q = w[centre]
    gram = q.T @ q if out_ch >= in_ch else q @ q.T
    assert torch.allclose(gram, 1.5**2 * torch.eye(min(out_ch, in_ch), dtype=torch.float64), atol=1e-12)
    rest = w.clone()
    rest[centre] = 0
    assert torch.count_nonzero(rest) == 0


@pytest.mark.parametrize(("out_ch", "in_ch"), [(8, 8), (16, 8)])
def test_delta_orthogonal_conv_preserves_the_norm_of_the_input(out_ch: int, in_ch: int) -> None:
    w = delta_orthogonal_(torch.empty(out_ch, in_ch, 3, 3, dtype=torch.float64), generator=gen(6))
    x = torch.randn(4, in_ch, 10, 10, dtype=torch.float64, generator=gen(7))
    y = F.conv2d(x, w, padding=1)
    assert torch.allclose(y.norm(), x.norm(), rtol=1e-12)
    # ... and at every spatial position, not just in total
    assert torch.allclose(y.norm(dim=1), x.norm(dim=1), rtol=1e-12)


@pytest.mark.parametrize(("rows", "cols", "sparsity"), [(100, 30, 0.1), (10, 7, 0.3), (64, 20, 0.9), (5, 4, 0.0),
                                                        (5, 4, 1.0), (7, 3, 0.5)])
def test_sparse_zero_count_per_column_is_exact(rows: int, cols: int, sparsity: float) -> None:
    w = sparse_(torch.empty(rows, cols), sparsity, std=0.5, generator=gen(8))
    expected = math.ceil(sparsity * rows)
    assert ((w == 0).sum(0) == expected).all()
    theirs = torch.nn.init.sparse_(torch.empty(rows, cols), sparsity, std=0.5, generator=gen(9))
    assert ((theirs == 0).sum(0) == expected).all()


def test_sparse_conv_kernel_counts_per_flattened_column() -> None:
    w = sparse_(torch.empty(20, 3, 2, 2), 0.25, generator=gen(10))
    assert ((w.reshape(20, -1) == 0).sum(0) == 5).all()


def test_sparse_nonzeros_match_torch_and_the_normal_law() -> None:
    ours = sparse_(torch.empty(400, 400), 0.2, std=0.05, generator=gen(11))
    theirs = torch.nn.init.sparse_(torch.empty(400, 400), 0.2, std=0.05, generator=gen(12))
    a, b = ours[ours != 0], theirs[theirs != 0]
    assert_mean_std(a, 0.0, 0.05, what="sparse_ nonzeros")
    assert stats.ks_2samp(a.numpy(), b.numpy()).pvalue > KS_P_MIN


def test_sparse_zero_positions_are_uniform_over_rows() -> None:
    # each row is zeroed in a column with probability zeros/rows; count zeros per row over many columns
    rows, cols, sparsity = 10, 20_000, 0.3
    w = sparse_(torch.empty(rows, cols), sparsity, generator=gen(13))
    p = math.ceil(sparsity * rows) / rows
    per_row = (w == 0).sum(1).double()
    assert ((per_row - p * cols).abs() <= 6 * math.sqrt(cols * p * (1 - p))).all()


def test_sparse_non_contiguous_tensor_is_written_back() -> None:
    base = torch.empty(6, 10)
    view = base.T  # (10, 6), not contiguous
    sparse_(view, 0.5, generator=gen(14))
    assert ((base.T == 0).sum(0) == 5).all()


@pytest.mark.parametrize("fn", [orthogonal_, delta_orthogonal_])
def test_structured_are_deterministic_given_a_generator(fn) -> None:  # type: ignore[no-untyped-def]
    a = fn(torch.empty(8, 4, 3, 3), generator=gen(15))
    assert torch.equal(a, fn(torch.empty(8, 4, 3, 3), generator=gen(15)))
    assert not torch.equal(a, fn(torch.empty(8, 4, 3, 3), generator=gen(16)))
    s = sparse_(torch.empty(8, 4), 0.5, generator=gen(15))
    assert torch.equal(s, sparse_(torch.empty(8, 4), 0.5, generator=gen(15)))
