"""Every analysis leaves parameters, buffers, train/eval flags, hooks, .grad and the RNG state as they were."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from weight_initialization_system import InitializationAnalyzer


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(self.bn(self.conv(x))))
        if h.mean() > -1e9:  # data-dependent: forces the hook fallback in trace_topology
            h = h + 0
        return self.fc(h.mean(dim=(2, 3)))


def _snapshot(model: nn.Module) -> dict[str, object]:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "modes": [m.training for m in model.modules()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
                  for m in model.modules()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "rng": torch.get_rng_state(),
    }


def _same(a: dict[str, object], b: dict[str, object]) -> bool:
    sa, sb = a["state"], b["state"]
    assert isinstance(sa, dict) and isinstance(sb, dict)
    grads_a, grads_b = a["grads"], b["grads"]
    assert isinstance(grads_a, list) and isinstance(grads_b, list)
    return (
        all(torch.equal(sa[k], sb[k]) for k in sa)
        and a["modes"] == b["modes"] and a["hooks"] == b["hooks"] and a["requires_grad"] == b["requires_grad"]
        and all((x is None and y is None) or (x is not None and y is not None and torch.equal(x, y))
                for x, y in zip(grads_a, grads_b, strict=True))
        and torch.equal(a["rng"], b["rng"])  # type: ignore[arg-type]
    )


@pytest.mark.slow
@settings(max_examples=6, deadline=None)
@given(training=st.booleans(), with_grad=st.booleans(), with_hook=st.booleans(), seed=st.integers(0, 100))
def test_no_analysis_mutates_the_model(training: bool, with_grad: bool, with_hook: bool, seed: int) -> None:
    torch.manual_seed(seed)
    model = Net().train(training)
    model.bn.eval() if not training else None
    x = torch.randn(4, 3, 8, 8)
    if with_grad:
        model(x).sum().backward()
    if with_hook:
        model.fc.register_forward_hook(lambda m, i, o: None)
    before = _snapshot(model)
    analyzer = InitializationAnalyzer()
    analyzer.analyze_weights(model)
    analyzer.check_initialization_quality(model)
    analyzer.signal_propagation(model, x)
    analyzer.gradient_flow(model, x)
    analyzer.jacobian_spectrum(model, x, k=3, probes=1)
    analyzer.recommend(model, x)
    analyzer.topology(model, x)
    assert _same(before, _snapshot(model))
