"""analyze_weights: moments, fans, expected std, spectral checks; every parameter, never crashing."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import parametrizations

from weight_initialization_system import InitializationAnalyzer
from weight_initialization_system.analysis import (
    STAT_KEYS,
    analyze_weights,
    spectral_norm,
    tensor_stats,
)
from weight_initialization_system.errors import WeightInitError


class Conv1D(nn.Module):
    """Hugging Face GPT-2's Conv1D: weight stored as (in, out)."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(*x.shape[:-1], self.nf)


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.norm = nn.LayerNorm(16)
        self.c_fc = Conv1D(64, 16)
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_fc(self.norm(self.attn(x, x, x)[0]))


def test_keys_are_exactly_named_parameters_including_attention_norm_and_hf_conv1d() -> None:
    model = Mixed()
    stats = analyze_weights(model)
    assert list(stats) == [n for n, _ in model.named_parameters()]
    assert "attn.in_proj_weight" in stats and "norm.weight" in stats and "c_fc.weight" in stats
    assert all(set(s) == set(STAT_KEYS) for s in stats.values())
    assert stats["c_fc.weight"]["fan_in"] == 16 and stats["c_fc.weight"]["fan_out"] == 64
    assert stats["attn.in_proj_weight"]["fan_in"] == 16 and stats["attn.in_proj_weight"]["fan_out"] == 16
    assert math.isnan(stats["norm.weight"]["fan_in"])


def test_moments_match_torch() -> None:
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(300, 200, generator=gen) * 0.3 + 0.1
    w[0, :50] = 0.0
    s = tensor_stats(w)
    assert s["mean"] == pytest.approx(float(w.double().mean()), rel=1e-5)
    assert s["std"] == pytest.approx(float(w.double().std()), rel=1e-5)
    assert s["min"] == float(w.min()) and s["max"] == float(w.max())
    assert s["norm"] == pytest.approx(float(torch.linalg.vector_norm(w.double())), rel=1e-5)
    assert s["abs_mean"] == pytest.approx(float(w.double().abs().mean()), rel=1e-5)
    assert s["frac_zeros"] == pytest.approx(50 / w.numel())
    centered = w.double() - w.double().mean()
    kurt = float((centered**4).mean() / (centered**2).mean() ** 2 - 3)
    assert s["kurtosis"] + 3 == pytest.approx(kurt + 3, rel=1e-5)  # float32 accumulation


def test_excess_kurtosis_of_gaussian_and_uniform() -> None:
    gen = torch.Generator().manual_seed(1)
    n = 400_000
    tol = 6 * math.sqrt(24 / n)  # std of the sample excess kurtosis of a Gaussian
    assert abs(tensor_stats(torch.randn(n, generator=gen))["kurtosis"]) < tol
    assert tensor_stats(torch.rand(n, generator=gen))["kurtosis"] == pytest.approx(-1.2, abs=tol)


def test_spectral_norm_matches_svd_and_mp_edge_flags_structure() -> None:
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(256, 128, generator=gen) * 0.05
    true = float(torch.linalg.matrix_norm(w, 2))
    assert spectral_norm(w, 12, torch.Generator().manual_seed(1)) == pytest.approx(true, rel=0.01)
    random_ratio = tensor_stats(w)["mp_ratio"]
    assert 0.9 < random_ratio < 1.05
    low_rank = torch.randn(256, 2, generator=gen) @ torch.randn(2, 128, generator=gen)
    assert tensor_stats(low_rank)["mp_ratio"] > 2.0
    duplicated = torch.randn(1, 128, generator=gen).repeat(256, 1) + 0.01 * torch.randn(256, 128, generator=gen)
    s = tensor_stats(duplicated)
    assert s["mp_ratio"] > 2.0 and s["stable_rank"] < 2.0


def _true_sigma(w: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(w.reshape(w.shape[0], -1).double(), ord=2))


def _matrix(kind: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    if kind == "gaussian":
        return torch.randn(*shape, generator=gen)
    if kind == "orthogonal":  # semi-orthogonal: orthonormal rows (wide) or columns (tall)
        return nn.init.orthogonal_(torch.empty(*shape), generator=gen)
    if kind == "scaled_orthogonal":
        return 0.37 * nn.init.orthogonal_(torch.empty(*shape), generator=gen)
    assert kind == "rank1"
    return torch.outer(torch.randn(shape[0], generator=gen), torch.randn(math.prod(shape[1:]), generator=gen)).reshape(
        shape
    )


# Wide and tall orthogonal matrices from the issue (the old Lanczos read 1.3-3.5 on some start vectors).
ISSUE_SHAPES = [(10, 64), (64, 256), (256, 64), (128, 128), (3, 1000), (768, 3072), (96, 64, 3, 3), (64, 3, 7, 7)]


@pytest.mark.slow
@pytest.mark.parametrize("shape", ISSUE_SHAPES, ids=str)
def test_spectral_norm_of_semi_orthogonal_matrices_is_one_for_every_start_vector(shape: tuple[int, ...]) -> None:
    w = nn.init.orthogonal_(torch.empty(*shape), generator=torch.Generator().manual_seed(0))
    matrix = w.reshape(shape[0], -1)  # a conv kernel as out × in·k·k
    assert _true_sigma(w) == pytest.approx(1.0, abs=1e-5)
    for seed in range(10):
        assert spectral_norm(matrix, 12, torch.Generator().manual_seed(seed)) == pytest.approx(1.0, abs=1e-5), seed
    s = tensor_stats(w, generator=torch.Generator().manual_seed(0))
    assert s["spectral_norm"] == pytest.approx(1.0, abs=1e-5)
    assert s["stable_rank"] == pytest.approx(min(matrix.shape), rel=1e-4)  # all singular values equal: = rank
    assert s["mp_ratio"] < 2.0  # no "low-rank / duplicated rows" flag after an orthogonal init


@pytest.mark.slow
@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(["gaussian", "orthogonal", "scaled_orthogonal", "rank1"]),
    rows=st.integers(1, 48),
    cols=st.integers(1, 48),
    kernel=st.sampled_from([0, 1, 3]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
)
def test_spectral_norm_matches_matrix_norm_and_stable_rank_is_between_one_and_rank(
    kind: str, rows: int, cols: int, kernel: int, dtype: torch.dtype, seed: int
) -> None:
    shape = (rows, cols) if kernel == 0 else (rows, cols, kernel, kernel)  # conv kernels: out × in·k·k
    gen = torch.Generator().manual_seed(seed)
    w = _matrix(kind, shape, gen).to(dtype)
    matrix = w.reshape(rows, -1)
    true = _true_sigma(w)
    rank = int(torch.linalg.matrix_rank(matrix.double()))
    # Rounding in the products: a few ulps of the dtype, times √(size) for the sums.
    ulp = 50 * torch.finfo(dtype).eps * math.sqrt(matrix.numel())
    full = min(matrix.shape)  # a complete Krylov space: Lanczos is exact up to the √ε breakdown test
    exact = spectral_norm(matrix, full, torch.Generator().manual_seed(seed + 1))
    assert exact <= true * (1 + ulp)  # a Rayleigh quotient: never above σ_max
    assert exact == pytest.approx(true, rel=2 * math.sqrt(torch.finfo(dtype).eps) + ulp)
    default = spectral_norm(matrix, 12, torch.Generator().manual_seed(seed + 2))
    assert default <= true * (1 + ulp)
    if kind != "gaussian":  # one distinct non-zero singular value: found in one or two steps
        assert default == pytest.approx(true, rel=2 * math.sqrt(torch.finfo(dtype).eps) + ulp)
    s = tensor_stats(w, lanczos_steps=full, generator=torch.Generator().manual_seed(seed + 3))
    tol = 2 * math.sqrt(torch.finfo(dtype).eps) + ulp
    assert 1 - tol <= s["stable_rank"] <= rank * (1 + 2 * tol)


def test_expected_std_follows_the_input_nonlinearity() -> None:
    model = nn.Sequential(nn.Linear(50, 40), nn.ReLU(), nn.Linear(40, 30), nn.Tanh(), nn.Linear(30, 2))
    stats = analyze_weights(model)
    assert stats["0.weight"]["expected_std"] == pytest.approx(1 / math.sqrt(50))
    assert stats["2.weight"]["expected_std"] == pytest.approx(math.sqrt(2) / math.sqrt(40))
    assert stats["4.weight"]["expected_std"] == pytest.approx(5 / 3 / math.sqrt(30))
    ratio = stats["2.weight"]["std"] / stats["2.weight"]["expected_std"]
    assert stats["2.weight"]["std_ratio"] == pytest.approx(ratio)


def test_nan_and_inf_are_counted_and_moments_use_finite_values() -> None:
    w = torch.ones(10, 10)
    w[0, 0], w[1, 1], w[2, 2] = math.nan, math.inf, -math.inf
    s = tensor_stats(w)
    assert s["nan_count"] == 1 and s["inf_count"] == 2 and s["mean"] == 1.0 and math.isnan(s["spectral_norm"])
    all_nan = tensor_stats(torch.full((3, 3), math.nan))
    assert all_nan["nan_count"] == 9 and math.isnan(all_nan["mean"])


def test_parametrized_weight_is_reported_under_the_users_name() -> None:
    model = nn.Sequential(nn.Linear(8, 4))
    parametrizations.weight_norm(model[0])
    stats = analyze_weights(model)
    assert "0.weight" in stats and "0.parametrizations.weight.original0" in stats
    assert stats["0.weight"]["std"] == pytest.approx(float(model[0].weight.detach().std()), rel=1e-5)
    assert stats["0.weight"]["fan_in"] == 8


def test_old_style_weight_norm_is_reported_under_the_users_name() -> None:
    model = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm is deprecated
        torch.nn.utils.weight_norm(model[0])
    stats = analyze_weights(model)
    assert {"0.weight", "0.weight_g", "0.weight_v"} <= set(stats)
    assert stats["0.weight"]["norm"] == pytest.approx(float(model[0].weight.detach().norm()), rel=1e-5)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=4),
       dtype=st.sampled_from([torch.float32, torch.float64, torch.float16, torch.bfloat16]))
def test_any_shape_and_float_dtype(shape: list[int], dtype: torch.dtype) -> None:
    t = torch.randn(*shape).to(dtype)
    s = tensor_stats(t)
    assert s["numel"] == t.numel()
    assert s["min"] <= s["mean"] <= s["max"]
    if t.dim() >= 2 and t.numel() > 1 and s["std"] > 0:
        assert s["spectral_norm"] <= s["norm"] * (1 + 1e-4)


def test_seed_readme_calls_work_static_and_on_instance() -> None:
    model = nn.Sequential(nn.Linear(100, 200), nn.ReLU(), nn.Linear(200, 100))
    a = InitializationAnalyzer.analyze_weights(model)
    b = InitializationAnalyzer().analyze_weights(model)
    assert a == b or all(a[k]["std"] == b[k]["std"] for k in a)
    for param_stats in a.values():
        assert {"mean", "std", "min", "max", "norm"} <= set(param_stats)


@pytest.mark.slow
def test_fused_moments_equal_eager_moments() -> None:
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(600, 500, generator=gen) * 0.3 + 0.7  # a large mean: the shifted sums must not cancel
    w[3, :40] = 0.0
    fused, eager = tensor_stats(w, fused=True), tensor_stats(w)
    for key in ("mean", "std", "min", "max", "norm", "abs_mean", "frac_zeros", "spectral_norm"):
        assert fused[key] == pytest.approx(eager[key], rel=1e-5), key
    assert fused["kurtosis"] + 3 == pytest.approx(eager["kurtosis"] + 3, rel=1e-5)
    w[0, 0] = math.nan  # NaN/Inf take the eager path
    assert tensor_stats(w, fused=True)["nan_count"] == 1


def test_batched_small_tensors_give_the_per_tensor_numbers() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(30, 20), nn.LayerNorm(20), nn.Linear(20, 5))
    with torch.no_grad():
        model[1].bias.zero_()
        model[2].bias[0] = math.inf  # one non-finite value sends that group through the per-tensor path
    for stats in (analyze_weights(model), analyze_weights(model.requires_grad_(False)[:2])):
        params = dict(model.named_parameters())
        for name, entry in stats.items():
            single = tensor_stats(params[name])
            for key in ("mean", "std", "min", "max", "norm", "abs_mean", "frac_zeros", "kurtosis", "inf_count"):
                assert entry[key] == pytest.approx(single[key], rel=1e-5, abs=1e-7, nan_ok=True), (name, key)


@pytest.mark.parametrize("steps", [0, -3, 2.5, True])
def test_lanczos_step_counts_below_one_or_not_int_are_rejected_not_clamped(steps: object) -> None:
    with pytest.raises(WeightInitError, match=rf"`steps` must be an integer >= 1.*steps={steps!r}"):
        spectral_norm(torch.eye(4), steps)  # type: ignore[arg-type]
    with pytest.raises(WeightInitError, match=r"`lanczos_steps` must be an integer >= 1"):
        tensor_stats(torch.eye(4), lanczos_steps=steps)  # type: ignore[arg-type]
    with pytest.raises(WeightInitError, match=r"`lanczos_steps` must be an integer >= 1"):
        analyze_weights(nn.Linear(4, 4), lanczos_steps=steps)  # type: ignore[arg-type]


def test_non_tensor_inputs_name_the_argument() -> None:
    with pytest.raises(WeightInitError, match=r"`tensor` must be a torch.Tensor.*list"):
        tensor_stats([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(WeightInitError, match=r"`matrix` must be a 2-D torch.Tensor.*list"):
        spectral_norm([[1.0]])  # type: ignore[arg-type]
