"""check_initialization_quality: ranks the deep-network battery, passes published schemes, names scale errors."""

from __future__ import annotations

import math

import pytest
import torch
from analysis_models import TinyGPT, deep_net, gpt2_init
from torch import nn

from weight_initialization_system import InitializationAnalyzer
from weight_initialization_system.analysis import check_initialization_quality
from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.initializers import kaiming_normal_, orthogonal_, xavier_normal_

HEALTHY = {
    "relu-kaiming": (nn.ReLU, lambda w: kaiming_normal_(w, nonlinearity="relu")),
    "tanh-xavier": (nn.Tanh, xavier_normal_),
    "tanh-orthogonal": (nn.Tanh, orthogonal_),
}
SICK = {
    "relu-N(0,1)": (nn.ReLU, lambda w: nn.init.normal_(w, 0, 1), "exploding"),
    # tanh with N(0, 1): bounded forward, growing Jacobian (the benchmark measures K² ≈ 8e27 with F ≈ 1)
    "tanh-N(0,1)": (nn.Tanh, lambda w: nn.init.normal_(w, 0, 1), "chaotic"),
    "relu-N(0,0.01)": (nn.ReLU, lambda w: nn.init.normal_(w, 0, 0.01), "vanishing"),
    "tanh-N(0,0.01)": (nn.Tanh, lambda w: nn.init.normal_(w, 0, 0.01), "vanishing"),
    "relu-xavier": (nn.ReLU, xavier_normal_, "vanishing"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(HEALTHY))
def test_deep_networks_with_matching_init_are_healthy(case: str) -> None:
    act, init = HEALTHY[case]
    quality = check_initialization_quality(deep_net(act, init, depth=20))
    assert quality["overall_score"] > 0.7
    assert quality["diagnosis"] == "healthy"


@pytest.mark.parametrize("case", list(SICK))
def test_deep_networks_with_wrong_init_are_diagnosed(case: str) -> None:
    act, init, expected = SICK[case]
    quality = check_initialization_quality(deep_net(act, init, depth=20))
    assert quality["diagnosis"] == expected
    assert quality["overall_score"] < 0.5


def test_ranking_on_deep_relu_net() -> None:
    scores = {k: check_initialization_quality(deep_net(nn.ReLU, f, depth=20))["overall_score"]
              for k, f in {"kaiming": lambda w: kaiming_normal_(w, nonlinearity="relu"),
                           "xavier": xavier_normal_, "small": lambda w: nn.init.normal_(w, 0, 0.01),
                           "large": lambda w: nn.init.normal_(w, 0, 1)}.items()}
    assert scores["kaiming"] > scores["xavier"] > max(scores["small"], scores["large"])


def test_gpt2_scheme_on_a_transformer_scores_healthy_like_the_seed_test() -> None:
    for norm_first in (True, False):
        model = gpt2_init(TinyGPT(norm_first=norm_first))
        quality = InitializationAnalyzer.check_initialization_quality(model)
        assert quality["overall_score"] > 0.7
        assert quality["diagnosis"] == "healthy"


@pytest.mark.slow
@pytest.mark.parametrize("factor", [10.0, 0.1])
def test_a_scale_error_on_any_transformer_layer_is_flagged_by_name(factor: float) -> None:
    model = gpt2_init(TinyGPT(layers=3))
    # every hidden weight matrix. Measured on this model (cross-entropy on random tokens, log V + 1 = 4.91):
    # the readout ×10 / ×0.1 gives 4.69 / 3.91 against 3.93, and the token or position embedding ×10 / ×0.1
    # changes the output std by under 5% (pre-LN: every block and the head normalize it), so none is a fault
    weights = [n for n, p in model.named_parameters()
               if p.dim() >= 2 and n not in ("head.weight", "tok.weight", "pos.weight")]
    params = dict(model.named_parameters())
    for name in weights:
        with torch.no_grad():
            params[name].mul_(factor)
        quality = check_initialization_quality(model)
        with torch.no_grad():
            params[name].div_(factor)
        flagged = [n for n, s in quality["parameter_scores"].items() if s["score"] < 0.5 and s["warnings"]]
        assert name in flagged, (name, quality["parameter_scores"][name])
        assert any(name in w for w in quality["parameter_scores"][name]["warnings"])


def test_warning_gives_the_variance_preserving_std_and_the_fix() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 128, 3), nn.ReLU(), nn.Conv2d(128, 128, 3), nn.ReLU(), nn.Conv2d(128, 128, 3),
                        nn.ReLU(), nn.Conv2d(128, 128, 3), nn.ReLU(), nn.Flatten(), nn.Linear(128, 10))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Conv2d):
                kaiming_normal_(m.weight, nonlinearity="relu")
        net[2].weight.normal_(0, 0.01)
    warnings = check_initialization_quality(net)["parameter_scores"]["2.weight"]["warnings"]
    expected = math.sqrt(2 / (128 * 9))
    assert any(f"variance-preserving std for ReLU with fan_in 1152 is {expected:.3g}" in w and "kaiming_normal_" in w
               for w in warnings), warnings


def test_seed_debugging_example_with_target_std_and_tolerance() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(100, 200), nn.ReLU(), nn.Linear(200, 100))
    with torch.no_grad():
        model[0].weight.normal_(0, 0.1)
        model[2].weight.normal_(0, 0.5)
    analyzer = InitializationAnalyzer()
    quality = analyzer.check_initialization_quality(model, target_std=0.1, tolerance=0.5)
    assert 0.0 <= quality["overall_score"] <= 1.0
    assert quality["parameter_scores"]["0.weight"]["warnings"] == []
    assert quality["parameter_scores"]["0.weight"]["score"] > 0.9
    assert quality["parameter_scores"]["2.weight"]["score"] < 0.5
    assert "target_std 0.1" in quality["parameter_scores"]["2.weight"]["warnings"][0]


def test_nan_zero_and_constant_weights_are_reported_never_crash() -> None:
    net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(),
                        nn.Linear(8, 2))
    with torch.no_grad():
        net[0].weight[0, 0] = math.nan
        net[2].weight.zero_()
        net[4].weight.fill_(0.3)
    quality = check_initialization_quality(net)
    scores = quality["parameter_scores"]
    assert quality["overall_score"] == 0.0 and quality["diagnosis"] == "broken"
    assert "NaN" in scores["0.weight"]["warnings"][0]
    assert "all-zero" in scores["2.weight"]["warnings"][0] and scores["2.weight"]["score"] == 0.0
    assert "constant" in scores["4.weight"]["warnings"][0]


def test_zero_initialized_last_layer_is_not_a_fault() -> None:
    net = deep_net(nn.ReLU, lambda w: kaiming_normal_(w, nonlinearity="relu"), depth=6)
    with torch.no_grad():
        net[-1].weight.zero_()
    assert check_initialization_quality(net)["parameter_scores"]["10.weight"]["warnings"] == []


@pytest.mark.parametrize("bad", [{"tolerance": 0}, {"tolerance": -1.0}, {"target_std": 0.0}, {"target_std": "x"}])
def test_bad_arguments_raise_with_the_value(bad: dict[str, object]) -> None:
    with pytest.raises(WeightInitError, match=next(iter(bad))):
        check_initialization_quality(nn.Linear(2, 2), **bad)  # type: ignore[arg-type]


def test_relu_units_switched_off_by_their_biases_are_diagnosed_dead() -> None:
    # measured: with biases −3 against a pre-activation std ≈ 1.4 (Kaiming), a unit passes ≈ 2% of inputs
    torch.manual_seed(0)
    net = nn.Sequential(*[m for _ in range(4) for m in (nn.Linear(64, 64), nn.ReLU())], nn.Linear(64, 4))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                kaiming_normal_(m.weight, nonlinearity="relu")
                m.bias.fill_(-3.0)
    x = torch.randn(512, 64)
    active = (net[0](x) > 0).double().mean(0)
    assert float((active < 0.05).double().mean()) > 0.5  # the ground truth, measured on a batch
    quality = check_initialization_quality(net)
    assert quality["diagnosis"] == "dead"
    assert any("dead" in w and "'0.weight'" in w for w in quality["warnings"])
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.bias.zero_()
    assert check_initialization_quality(net)["diagnosis"] == "healthy"


@pytest.mark.parametrize(("factor", "expected"), [(1.0, "healthy"), (10.0, "exploding"), (0.01, "vanishing")])
def test_recurrent_weights_far_from_norm_one_are_diagnosed(factor: float, expected: str) -> None:
    # measured: the gradient of the last output with respect to the first time step's input, against the last
    torch.manual_seed(0)
    lstm = nn.LSTM(16, 32, batch_first=True)
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if "weight_hh" in name:
                for block in p.chunk(4):
                    nn.init.orthogonal_(block)
                p.mul_(factor)
    x = torch.randn(4, 16, 16, requires_grad=True)  # 16 steps
    out, _ = lstm(x)
    (grad,) = torch.autograd.grad(out[:, -1].pow(2).sum(), x)
    ratio = float(grad[:, 0].norm() / grad[:, -1].norm())
    measured = "vanishing" if ratio < 1e-3 else "exploding" if ratio > 1e3 or not math.isfinite(ratio) else "ok"
    assert measured == {1.0: "ok", 10.0: "exploding", 0.01: "vanishing"}[factor]  # the truth, by autograd
    quality = check_initialization_quality(nn.Sequential(lstm))
    assert quality["diagnosis"] == expected, quality["warnings"]
    if expected != "healthy":
        assert any("weight_hh_l0" in w and "spectral norm" in w for w in quality["warnings"])


def test_tanh_driven_into_its_tails_is_diagnosed_saturated() -> None:
    # measured: with N(0, 1) weights at fan_in 64 the pre-activations have std ≈ 8, most |tanh'| < 0.05
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 4))  # too shallow to compound into chaos
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.normal_(0.0, 1.0)
                m.bias.zero_()
    h = net[0](torch.randn(512, 64))
    assert float(((1 - torch.tanh(h) ** 2) < 0.05).double().mean()) > 0.5  # the ground truth, measured
    quality = check_initialization_quality(net)
    assert quality["diagnosis"] == "saturated"
    assert any("saturated" in w and "'0.weight'" in w for w in quality["warnings"])
