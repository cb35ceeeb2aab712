"""weight_norm_data_init: zero-mean, unit-variance pre-activations per unit (Salimans & Kingma 2016)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from weight_initialization_system.data_dependent import weight_norm_data_init
from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.normalization import apply_normalization, weight_norm

# Normalizing by the batch's own statistics is exact up to float32 rounding of the mean and std.
ATOL = 1e-5


def _preactivation_stats(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):

            def hook(m: nn.Module, args: object, out: torch.Tensor, name: str = name) -> None:
                unit = 1 if isinstance(m, nn.modules.conv._ConvNd) else out.dim() - 1
                dims = [d for d in range(out.dim()) if d != unit]
                var, mean = torch.var_mean(out, dim=dims, correction=0)
                stats[name] = (mean, var)

            module.register_forward_hook(hook)
    model.eval()
    with torch.no_grad():
        model(x)
    return stats


def test_mlp_preactivations_have_zero_mean_unit_variance_per_unit() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 50), nn.ReLU(), nn.Linear(50, 30), nn.Tanh(), nn.Linear(30, 5))
    apply_normalization(model, "weight_norm")
    x = torch.randn(500, 20) * 3 + 1
    records = weight_norm_data_init(model, x)
    assert [r.name for r in records] == ["0", "2", "4"]
    for name, (mean, var) in _preactivation_stats(model, x).items():
        torch.testing.assert_close(mean, torch.zeros_like(mean), atol=ATOL, rtol=0, msg=name)
        torch.testing.assert_close(var, torch.ones_like(var), atol=10 * ATOL, rtol=0, msg=name)


def test_conv_and_transposed_conv_are_normalized_per_channel() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.ConvTranspose2d(6, 4, 2, stride=2))
    apply_normalization(model, "weight_norm")
    x = torch.randn(16, 3, 8, 8)
    weight_norm_data_init(model, x)
    for mean, var in _preactivation_stats(model, x).values():
        assert mean.shape == var.shape and mean.numel() in (6, 4)
        torch.testing.assert_close(mean, torch.zeros_like(mean), atol=ATOL, rtol=0)
        torch.testing.assert_close(var, torch.ones_like(var), atol=10 * ATOL, rtol=0)


def test_layer_without_bias_gets_unit_variance_only() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(10, 8, bias=False))
    weight_norm(model[0])
    x = torch.randn(200, 10) + 2.0
    mean0, var0 = _preactivation_stats(model, x)["0"]
    (record,) = weight_norm_data_init(model, x)
    assert record.max_abs_mean != record.max_abs_mean  # nan: no bias to centre with
    mean, var = _preactivation_stats(model, x)["0"]
    torch.testing.assert_close(var, torch.ones_like(var), atol=10 * ATOL, rtol=0)
    # only g changed, so each unit's mean/std ratio is what it was
    torch.testing.assert_close(mean, mean0 / var0.sqrt(), atol=10 * ATOL, rtol=1e-5)


def test_mode_and_buffers_are_restored() -> None:
    model = nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    apply_normalization(model, "weight_norm")
    model.train()
    running = model[1].running_mean.clone()
    weight_norm_data_init(model, torch.randn(64, 6))
    assert model.training and torch.equal(model[1].running_mean, running)


def test_without_weight_norm_raises() -> None:
    with pytest.raises(WeightInitError, match="apply_normalization"):
        weight_norm_data_init(nn.Sequential(nn.Linear(3, 3)), torch.randn(4, 3))


def test_weight_norm_over_another_dim_is_skipped_with_a_warning() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    weight_norm(model[0], dim=None)
    weight_norm(model[1])
    with pytest.warns(UserWarning, match="not per output unit"):
        records = weight_norm_data_init(model, torch.randn(32, 3))
    assert [r.name for r in records] == ["1"]


def test_error_in_forward_restores_g_and_bias() -> None:
    model = nn.Sequential(nn.Linear(4, 5), nn.Linear(6, 2))
    apply_normalization(model, "weight_norm")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightInitError, match="left unchanged"):
        weight_norm_data_init(model, torch.randn(8, 4))
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_empty_batch_raises() -> None:
    model = nn.Sequential(nn.Linear(4, 5))
    apply_normalization(model, "weight_norm")
    with pytest.raises(WeightInitError, match="empty"):
        weight_norm_data_init(model, torch.empty(0, 4))
