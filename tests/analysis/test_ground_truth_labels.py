"""The ground-truth labelling of ``benchmarks/ground_truth.py`` on textbook networks with known answers.

These test the MEASUREMENT that judges our diagnosis, not our diagnosis: every model is plain torch, every answer
comes from a paper. Deep stacks are 256 wide, where finite-width fluctuations of a depth-30 ReLU stack stay
within a factor ~2 (Hanin & Nica 2019), far inside the decade the rules allow.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


gt = _load("ground_truth")
cases = _load("diagnosis_cases")
plain_stack = cases.plain_stack

WIDTH = 256
DEPTH = 30


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """LAPACK's QR (orthogonal_) on two threads of a loaded two-core machine is 50× slower than on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _x(width: int = WIDTH) -> tuple[torch.Tensor]:
    return (torch.randn(64, width, generator=torch.Generator().manual_seed(1)),)


def _label(model: nn.Module, sample: tuple[Any, ...] | None = None, **kwargs: Any) -> tuple[Any, Any]:
    return gt.ground_truth(model, _x() if sample is None else sample, **kwargs)  # type: ignore[no-any-return]


def _normal(std: float) -> Any:
    return lambda w: nn.init.normal_(w, 0.0, std)


def _kaiming(w: torch.Tensor) -> None:
    nn.init.kaiming_normal_(w, nonlinearity="relu")


# ------------------------------------------------------------------------------------- He et al. 2015 ----


@pytest.mark.parametrize("seed", [0, 1])
def test_he_2015_deep_relu_with_kaiming_keeps_the_signal_within_a_decade(seed: int) -> None:
    verdict, m = _label(plain_stack(DEPTH, WIDTH, nn.ReLU, _kaiming, seed=seed)())
    assert verdict.label == "healthy", verdict
    assert 0.2 < m.forward_gain < 5


@pytest.mark.parametrize("seed", [0, 1])
def test_he_2015_deep_relu_with_xavier_vanishes_by_sqrt2_per_layer(seed: int) -> None:
    verdict, m = _label(plain_stack(DEPTH, WIDTH, nn.ReLU, nn.init.xavier_normal_, seed=seed)())
    assert verdict.label == "vanishing"
    # Xavier gives each ReLU layer half the variance Kaiming does: 2^(-L/2) in std, up to the width's drift.
    assert abs(math.log2(m.forward_gain) + DEPTH / 2) < 3


def test_relu_overflow_with_unit_normal_weights_is_exploding() -> None:
    verdict, m = _label(plain_stack(DEPTH, WIDTH, nn.ReLU, _normal(1.0))())
    assert verdict.label == "exploding" and m.forward_gain > 1e20


# ---------------------------------------------------------------------------- Glorot & Bengio 2010 ----


def test_glorot_bengio_2010_tanh_xavier_is_healthy() -> None:
    assert _label(plain_stack(DEPTH, WIDTH, nn.Tanh, nn.init.xavier_normal_)())[0].label == "healthy"


def test_glorot_bengio_2010_standard_uniform_init_vanishes_in_deep_tanh() -> None:
    # U(±1/√n): variance 1/(3n), so n·σ² = 1/3 per layer and tanh ≈ identity near 0: 3^(-L/2) in std.
    bound = WIDTH**-0.5
    verdict, m = _label(plain_stack(DEPTH, WIDTH, nn.Tanh, lambda w: nn.init.uniform_(w, -bound, bound))())
    assert verdict.label == "vanishing"
    assert m.k2 > gt.ORDERED_K2  # near-linear: the direction survives, only the scale dies


def test_sigmoid_with_xavier_collapses_to_one_output_for_every_input() -> None:
    # σ'(0)² = 1/16: χ = 1/16 per layer, while σ keeps the forward signal at 1/2 (Poole et al. 2016).
    verdict, m = _label(plain_stack(20, 64, nn.Sigmoid, nn.init.xavier_normal_)(), _x(64))
    assert verdict.label == "collapsed"
    assert m.k2 < 1e-15 and m.correlation > 0.999


# ------------------------------------------------- Poole et al. 2016; Schoenholz et al. 2017 (mean field) ----


def test_poole_2016_tanh_sigma_w_1_is_critical_and_decays_only_polynomially() -> None:
    verdict, m = _label(plain_stack(DEPTH, WIDTH, nn.Tanh, _normal(WIDTH**-0.5))())
    assert verdict.label == "healthy"
    # q_{l+1} ≈ q_l − 2q_l² gives q_L ≈ 1/(1 + 2L): 0.13 in std at depth 30, and χ → 1.
    assert m.forward_gain == pytest.approx((1 + 2 * DEPTH) ** -0.5, rel=0.25)
    assert 0.3 < m.k2 < 10


@pytest.mark.parametrize("sigma_w", [4.0, math.sqrt(WIDTH)])
def test_poole_2016_tanh_large_sigma_w_is_chaotic_with_a_bounded_forward_signal(sigma_w: float) -> None:
    verdict, m = _label(plain_stack(DEPTH, WIDTH, nn.Tanh, _normal(sigma_w * WIDTH**-0.5))())
    assert verdict.label == "chaotic"
    assert 0.1 < m.forward_gain < 2 and m.k2 > 1e10


def test_schoenholz_2017_ordered_phase_forgets_its_input() -> None:
    # σ_w = 0.5, σ_b = 0.3: deep in the ordered phase, χ ≈ σ_w² = 1/4 per layer.
    verdict, m = _label(plain_stack(DEPTH, WIDTH, nn.Tanh, _normal(0.5 * WIDTH**-0.5), bias_std=0.3)())
    assert verdict.label == "collapsed" and m.k2 < 1e-10


def test_shallow_tanh_with_unit_normal_weights_saturates_without_chaos() -> None:
    verdict, m = _label(plain_stack(3, 64, nn.Tanh, _normal(1.0))(), _x(64))
    assert verdict.label == "saturated" and m.k2 < gt.CHAOS_K2


# ---------------------------------------------------------------------------- Pennington et al. 2017 ----


def test_pennington_2017_orthogonal_tanh_at_sigma_w_1_is_healthy() -> None:
    verdict, m = _label(plain_stack(DEPTH, WIDTH, nn.Tanh, nn.init.orthogonal_)())
    assert verdict.label == "healthy" and 0.5 < m.k2 < 3


def test_a_deep_linear_orthogonal_network_is_an_exact_isometry() -> None:
    verdict, m = _label(plain_stack(DEPTH, WIDTH, nn.Identity, nn.init.orthogonal_)())
    assert verdict.label == "healthy"
    # Its readout (10 × 256) sees the last hidden layer, which is Q x with Q orthogonal.
    assert m.forward_gain == pytest.approx(1.0, rel=1e-4)
    assert m.k2 == pytest.approx(1.0, rel=1e-4)


# ------------------------------------------------------------------------------- the remaining rules ----


def test_a_scaled_layer_is_named_unless_it_feeds_a_norm() -> None:
    def blocks(norm: bool) -> nn.Module:
        torch.manual_seed(0)
        layers: list[nn.Module] = []
        for _ in range(6):
            layers += [nn.Linear(64, 64), nn.LayerNorm(64) if norm else nn.Identity(), nn.ReLU()]
        model = nn.Sequential(*layers, nn.Linear(64, 10))
        with torch.no_grad():
            for layer in model[:-1:3]:
                _kaiming(layer.weight)
            model[6].weight.mul_(10.0)
        return model

    plain, _ = _label(blocks(norm=False), _x(64))
    assert (plain.label, plain.layer) == ("inconsistent", "6")
    normed, m = _label(blocks(norm=True), _x(64))
    assert normed.label == "healthy" and m.absorbed == ["6"]


def test_nan_weight_is_broken_and_a_zero_layer_collapses() -> None:
    model = plain_stack(4, 64, nn.ReLU, _kaiming)()
    with torch.no_grad():
        model[2].weight[0, 0] = math.nan
    assert _label(model, _x(64))[0].label == "broken"
    with torch.no_grad():
        model[2].weight.zero_()
    verdict, m = _label(model, _x(64))
    assert (verdict.label, verdict.layer) == ("collapsed", "2") and m.jacobian_zero


def test_negative_biases_kill_relu_units() -> None:
    verdict, m = _label(plain_stack(8, 64, nn.ReLU, _kaiming, bias=-3.0)(), _x(64))
    assert verdict.label == "dead" and m.dead > 0.5


def test_language_model_logits_must_not_be_confidently_wrong() -> None:
    def lm(readout_std: float) -> nn.Module:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Embedding(128, 64), nn.LayerNorm(64), nn.Linear(64, 128))
        with torch.no_grad():
            model[2].weight.normal_(0.0, readout_std)
        return model

    tokens = (torch.randint(0, 128, (8, 8), generator=torch.Generator().manual_seed(0)),)
    healthy, m = _label(lm(0.02), tokens, vocab=128)
    assert healthy.label == "healthy" and m.lm_loss == pytest.approx(math.log(128), abs=0.05)
    assert _label(lm(1.0), tokens, vocab=128)[0].label == "exploding"


@pytest.mark.parametrize(("scale", "expected"), [(1.0, "healthy"), (0.01, "vanishing")])
def test_lstm_gradient_reaching_the_first_time_step(scale: float, expected: str) -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(8, 32, batch_first=True)
    with torch.no_grad():
        for block in lstm.weight_hh_l0.chunk(4, dim=0):
            nn.init.orthogonal_(block)
        lstm.weight_hh_l0.mul_(scale)

    class Last(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.recurrent, self.head = lstm, nn.Linear(32, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.recurrent(x)[0][:, -1])  # type: ignore[no-any-return]

    sample = (torch.randn(64, 16, 8, generator=torch.Generator().manual_seed(1)),)
    verdict, m = _label(Last(), sample)
    assert verdict.label == expected, (verdict, m.temporal_ratio)


def test_measuring_leaves_the_model_untouched() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 14 * 14, 4))
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _label(model, (torch.randn(4, 3, 16, 16),))
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ------------------------------------------------------------------- the benchmark's constructed cases ----


@pytest.mark.parametrize("case", [c for c in cases.CASES if c.expected is not None and c.source != "hf"],
                         ids=lambda c: c.name)
def test_every_constructed_case_measures_as_constructed(case: Any) -> None:
    """Planted faults land where they were planted (the Hugging Face cases are checked by the benchmark run)."""
    verdict, _ = gt.ground_truth(case.build(), case.sample(), vocab=case.vocab)
    assert verdict.label == case.expected, verdict
    if case.layer is not None and verdict.label != "healthy":
        assert verdict.layer == case.layer
