"""variance_scaling_ and its presets: std against theory, KS against torch's twins, the truncation factor."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from scipy import stats
from stat_checks import KS_P_MIN, KURTOSIS_UNIFORM, assert_mean_std

from weight_initialization_system.initializers import (
    TRUNCATED_NORMAL_STD_FACTOR,
    calculate_gain,
    kaiming_normal_,
    kaiming_uniform_,
    lecun_normal_,
    lecun_uniform_,
    variance_scaling_,
    variance_scaling_std,
    xavier_normal_,
    xavier_uniform_,
)

SHAPE = (384, 512)  # fan_in 512, fan_out 384: 196,608 draws
FAN_IN, FAN_OUT = 512, 384
TRUNC2 = stats.truncnorm(-2.0, 2.0)
KURTOSIS_TRUNC2 = float(TRUNC2.stats(moments="k")) + 3.0


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_truncation_factor_is_the_std_of_the_standard_normal_truncated_at_two() -> None:
    assert float(TRUNC2.std()) == pytest.approx(TRUNCATED_NORMAL_STD_FACTOR, rel=1e-14)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
def test_variance_scaling_std_is_sqrt_scale_over_fan(mode: str, distribution: str) -> None:
    scale = 2.0
    n = {"fan_in": FAN_IN, "fan_out": FAN_OUT, "fan_avg": (FAN_IN + FAN_OUT) / 2}[mode]
    std = math.sqrt(scale / n)
    assert variance_scaling_std((FAN_IN, FAN_OUT), scale, mode) == pytest.approx(std)  # type: ignore[arg-type]
    w = variance_scaling_(torch.empty(SHAPE), scale, mode, distribution, generator=gen(1))  # type: ignore[arg-type]
    kurtosis = {"truncated_normal": KURTOSIS_TRUNC2, "normal": 3.0, "uniform": KURTOSIS_UNIFORM}[distribution]
    assert_mean_std(w, 0.0, std, kurtosis=kurtosis, what=f"{distribution}/{mode}")
    if distribution == "truncated_normal":
        untruncated = std / TRUNCATED_NORMAL_STD_FACTOR
        assert w.abs().max() <= 2 * untruncated
        exact = stats.truncnorm(-2, 2, scale=untruncated)
        assert stats.kstest(w.flatten().double().numpy(), exact.cdf).pvalue > KS_P_MIN
    if distribution == "uniform":
        assert w.abs().max() <= math.sqrt(3) * std


def test_fans_override_replaces_the_shape_fans() -> None:
    w = variance_scaling_(torch.empty(SHAPE), 1.0, "fan_in", "normal", fans=(7, 9), generator=gen(2))
    assert_mean_std(w, 0.0, 1 / math.sqrt(7), what="fans override")


Twin = Callable[..., torch.Tensor]
TWINS: list[tuple[str, Twin, Twin, dict[str, object]]] = [
    ("xavier_uniform", xavier_uniform_, torch.nn.init.xavier_uniform_, {"gain": 1.7}),
    ("xavier_normal", xavier_normal_, torch.nn.init.xavier_normal_, {"gain": 0.5}),
    ("kaiming_uniform", kaiming_uniform_, torch.nn.init.kaiming_uniform_, {"a": math.sqrt(5)}),
    ("kaiming_normal", kaiming_normal_, torch.nn.init.kaiming_normal_, {"nonlinearity": "relu"}),
    ("kaiming_normal_fan_out", kaiming_normal_, torch.nn.init.kaiming_normal_,
     {"mode": "fan_out", "nonlinearity": "leaky_relu", "a": 0.2}),
    ("kaiming_uniform_tanh", kaiming_uniform_, torch.nn.init.kaiming_uniform_, {"nonlinearity": "tanh"}),
]


@pytest.mark.parametrize(("label", "ours", "theirs", "kwargs"), TWINS, ids=[t[0] for t in TWINS])
@pytest.mark.parametrize("shape", [SHAPE, (96, 32, 3, 3)], ids=["linear", "conv"])
def test_presets_match_torch_twin_by_ks(
    label: str, ours: Twin, theirs: Twin, kwargs: dict[str, object], shape: tuple[int, ...]
) -> None:
    a = ours(torch.empty(shape), **kwargs, generator=gen(3))
    b = theirs(torch.empty(shape), **kwargs, generator=gen(4))
    assert stats.ks_2samp(a.flatten().numpy(), b.flatten().numpy()).pvalue > KS_P_MIN, label


def test_kaiming_normal_std_matches_gain_over_sqrt_fan_in() -> None:
    w = kaiming_normal_(torch.empty(SHAPE), nonlinearity="relu", generator=gen(5))
    assert_mean_std(w, 0.0, math.sqrt(2.0) / math.sqrt(FAN_IN), what="kaiming_normal")
    w = kaiming_normal_(torch.empty(SHAPE), mode="fan_out", nonlinearity="tanh", generator=gen(6))
    assert_mean_std(w, 0.0, calculate_gain("tanh") / math.sqrt(FAN_OUT), what="kaiming_normal fan_out")


def test_xavier_uniform_bound_is_gain_sqrt_six_over_fan_sum() -> None:
    w = xavier_uniform_(torch.empty(SHAPE), gain=2.0, generator=gen(7))
    bound = 2.0 * math.sqrt(6.0 / (FAN_IN + FAN_OUT))
    assert w.abs().max() <= bound
    assert_mean_std(w, 0.0, bound / math.sqrt(3), kurtosis=KURTOSIS_UNIFORM, what="xavier_uniform")


def test_lecun_presets() -> None:
    w = lecun_uniform_(torch.empty(SHAPE), generator=gen(8))
    assert w.abs().max() <= math.sqrt(3.0 / FAN_IN)
    assert_mean_std(w, 0.0, 1 / math.sqrt(FAN_IN), kurtosis=KURTOSIS_UNIFORM, what="lecun_uniform")
    w = lecun_normal_(torch.empty(SHAPE), generator=gen(9))
    assert w.abs().max() <= 2 / math.sqrt(FAN_IN) / TRUNCATED_NORMAL_STD_FACTOR
    assert_mean_std(w, 0.0, 1 / math.sqrt(FAN_IN), kurtosis=KURTOSIS_TRUNC2, what="lecun_normal")


@pytest.mark.parametrize(
    "fn", [xavier_uniform_, xavier_normal_, kaiming_uniform_, kaiming_normal_, lecun_uniform_, lecun_normal_]
)
def test_presets_are_deterministic_given_a_generator(fn: Twin) -> None:
    assert torch.equal(fn(torch.empty(32, 16), generator=gen(10)), fn(torch.empty(32, 16), generator=gen(10)))
    assert not torch.equal(fn(torch.empty(32, 16), generator=gen(10)), fn(torch.empty(32, 16), generator=gen(11)))
