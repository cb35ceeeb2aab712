"""calculate_gain: torch parity, variance-preserving numeric gains checked by Monte Carlo and a forward pass."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from weight_initialization_system import WeightInitError
from weight_initialization_system.initializers import GAINS, calculate_gain, kaiming_normal_, second_moment_gain

TORCH_NONLINEARITIES: list[tuple[str, float | None]] = [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose1d", None),
    ("conv_transpose2d", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0.0), ("leaky_relu", 1), ("selu", None),
]
ACTIVATIONS = {
    "gelu": F.gelu,
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),  # CLIP's sigmoid approximation of GELU
    "silu": F.silu,
    "swish": F.silu,
    "mish": F.mish,
    "elu": F.elu,
    "celu": F.celu,
    "softplus": F.softplus,
    "hardswish": F.hardswish,
    "hardtanh": F.hardtanh,
    "softsign": F.softsign,
    "hardsigmoid": F.hardsigmoid,
}


@pytest.mark.parametrize(("name", "param"), TORCH_NONLINEARITIES)
def test_calculate_gain_equals_torch(name: str, param: float | None) -> None:
    assert calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param), rel=1e-15)


def test_every_nonlinearity_torch_knows_is_covered() -> None:
    torch_names = {n for n, _ in TORCH_NONLINEARITIES}
    assert torch_names <= set(GAINS)
    assert set(ACTIVATIONS) == set(GAINS) - torch_names - {"identity"}


def test_relu_numeric_gain_is_sqrt_two() -> None:
    assert second_moment_gain(torch.relu) == pytest.approx(math.sqrt(2.0), rel=1e-12)
    assert second_moment_gain(lambda x: x) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_numeric_gain_is_inverse_root_second_moment_by_monte_carlo(name: str) -> None:
    n = 1_000_000
    z = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sq = ACTIVATIONS[name](z) ** 2
    m, sd_m = float(sq.mean()), float(sq.std()) / math.sqrt(n)
    # delta method: gain = m^(-1/2), d gain = -m^(-3/2)/2 · dm
    tol = 6 * 0.5 * m**-1.5 * sd_m
    assert calculate_gain(name) == pytest.approx(1 / math.sqrt(m), abs=tol)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["relu", "tanh_free", *sorted(ACTIVATIONS)])
def test_gain_preserves_the_forward_second_moment(name: str) -> None:
    # y_b = Σ_i W_bi φ(x_bi) with independent rows: E[y²] = fan_in · gain²/fan_in · E[φ(z)²] = 1.
    phi = torch.relu if name == "relu" else (lambda t: t) if name == "tanh_free" else ACTIVATIONS[name]
    gain_name = "linear" if name == "tanh_free" else name
    rows, fan_in = 20_000, 256
    g = torch.Generator().manual_seed(1)
    w = kaiming_normal_(torch.empty(rows, fan_in, dtype=torch.float64), nonlinearity=gain_name, generator=g)
    x = torch.randn(rows, fan_in, dtype=torch.float64, generator=g)
    y2 = ((w * phi(x)).sum(1)) ** 2
    tol = 6 * float(y2.std()) / math.sqrt(rows)
    assert float(y2.mean()) == pytest.approx(1.0, abs=tol)


def test_parametrized_numeric_gains_use_their_parameter() -> None:
    assert calculate_gain("elu", 0.5) == pytest.approx(second_moment_gain(lambda x: F.elu(x, alpha=0.5)), rel=1e-12)
    assert calculate_gain("softplus", 2.0) == pytest.approx(
        second_moment_gain(lambda x: F.softplus(x, beta=2.0)), rel=1e-12)
    assert calculate_gain("gelu", 1.0) == pytest.approx(
        second_moment_gain(lambda x: F.gelu(x, approximate="tanh")), rel=1e-12)


def test_unknown_nonlinearity_names_the_argument_and_closest_match() -> None:
    with pytest.raises(WeightInitError, match=r"`nonlinearity`.*Received: nonlinearity='rellu'.*Did you mean 'relu'"):
        calculate_gain("rellu")


def test_bad_leaky_relu_param_names_the_argument() -> None:
    with pytest.raises(WeightInitError, match=r"`param`.*Received: param='x'"):
        calculate_gain("leaky_relu", "x")  # type: ignore[arg-type]


def test_second_moment_gain_of_zero_function_is_an_error() -> None:
    with pytest.raises(WeightInitError, match="zero almost everywhere"):
        second_moment_gain(torch.zeros_like)


def test_hardtanh_gain_matches_its_closed_form() -> None:
    # E[hardtanh(z)²] = E[z²; |z| < 1] + P(|z| > 1) = (2Φ(1) - 1) - 2φ(1) + 2(1 - Φ(1)). Regression: Gauss-Hermite
    # quadrature ignores the kinks at ±1 and was 0.3% off.
    from scipy import stats

    second_moment = (2 * stats.norm.cdf(1) - 1) - 2 * stats.norm.pdf(1) + 2 * stats.norm.sf(1)
    assert calculate_gain("hardtanh") == pytest.approx(1 / math.sqrt(second_moment), rel=1e-10)


def test_kaiming_slope_argument_does_not_leak_into_other_nonlinearities() -> None:
    # Regression: a=0 (kaiming's default) was passed as elu's alpha / softplus's beta / celu's alpha.
    for name in ("elu", "celu", "softplus"):
        w = kaiming_normal_(torch.empty(4, 4), nonlinearity=name)
        assert torch.isfinite(w).all()
        assert float(w.std()) > 0
