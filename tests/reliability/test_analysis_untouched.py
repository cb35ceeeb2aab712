"""Analyses only read: they leave every parameter, buffer (a spectral norm's power-iteration vectors ``_u``/``_v``
included), flag, hook and torch's global RNG state exactly as they were, even in training mode and for a
forward that draws random numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from faults import assert_same_model, model_snapshot
from torch import nn

from weight_initialization_system import InitializationAnalyzer
from weight_initialization_system.analysis import (
    analyze_weights,
    check_initialization_quality,
    dynamics,
    gradient_flow,
    jacobian_spectrum,
    layer_gains,
    recommend,
    signal_propagation,
    trace_topology,
)
from weight_initialization_system.normalization import effective_weights, spectral_norm
from weight_initialization_system.schemes import initialize_model


class Noisy(nn.Module):
    """A spectral-normed layer, BatchNorm, dropout, and a forward that draws from the global RNG itself."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = spectral_norm(nn.Linear(6, 8))
        self.bn = nn.BatchNorm1d(8)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(self.bn(self.fc1(x))))
        return self.fc2(h + 0.01 * torch.randn(8))


def _model() -> nn.Module:
    torch.manual_seed(0)
    return Noisy().train()


def _x() -> torch.Tensor:
    return torch.randn(16, 6, generator=torch.Generator().manual_seed(1))


ANALYSES: dict[str, Callable[[nn.Module], Any]] = {
    "effective_weights": effective_weights,
    "analyze_weights": analyze_weights,
    "check_initialization_quality": check_initialization_quality,
    "layer_gains": layer_gains,
    "recommend": recommend,
    "recommend with a sample": lambda m: recommend(m, _x()),
    "signal_propagation": lambda m: signal_propagation(m, _x()),
    "gradient_flow": lambda m: gradient_flow(m, _x()),
    "dynamics": lambda m: dynamics(m, _x(), seed=0),
    "jacobian_spectrum": lambda m: jacobian_spectrum(m, _x(), k=2, probes=1),
    "InitializationAnalyzer.topology": lambda m: InitializationAnalyzer().topology(m, _x()),
    "trace_topology": trace_topology,
    "initialize_model auto with a seed": lambda m: initialize_model(m, "auto", seed=0),  # RNG only
}


@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_analysis_leaves_model_and_global_rng_untouched(name: str) -> None:
    model = _model()
    before = model_snapshot(model)
    torch.manual_seed(123)
    rng = torch.get_rng_state()
    ANALYSES[name](model)
    assert torch.equal(torch.get_rng_state(), rng), "the global RNG was consumed"
    if not name.startswith("initialize_model"):  # that one writes the weights, seeded: only the RNG is checked
        assert_same_model(before, model)


def test_effective_weight_is_what_the_next_training_forward_uses() -> None:
    model = _model()
    weight = effective_weights(model)["fc1.weight"]
    assert torch.equal(effective_weights(model)["fc1.weight"], weight)  # repeatable: no hidden state advanced
    assert torch.equal(model.fc1.weight, weight)  # the next training-mode read gives the same value


def test_analysis_of_a_spectral_normed_model_is_repeatable() -> None:
    model = _model()
    first = analyze_weights(model)
    assert analyze_weights(model) == first
    assert check_initialization_quality(model) == check_initialization_quality(model)
