"""Weight / spectral / orthogonal parametrizations: idempotent, forward-preserving, removable."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from weight_initialization_system import WeightNormalizer
from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.normalization import (
    effective_weights,
    normalization_of,
    orthogonal,
    remove_normalization,
    spectral_norm,
    weight_norm,
)

# Weight norm recomputes w = g v / ||v|| in float32: a few ulps of the output magnitude.
FLOAT_ATOL = 1e-5


def _seed_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(100, 200), nn.ReLU(), nn.Linear(200, 100))


def test_seed_sequence_apply_then_weight_norm_does_not_stack() -> None:
    model = _seed_model()
    x = torch.randn(16, 100)
    before = model(x)
    WeightNormalizer.apply_normalization(model, "weight_norm")
    WeightNormalizer.weight_norm(model[0], "weight")
    assert len(model[0].parametrizations.weight) == 1
    assert normalization_of(model[0]) == ["weight_norm"]
    assert sum(1 for _ in model.parameters()) == 6  # g, v, bias for each Linear
    torch.testing.assert_close(model(x), before, atol=FLOAT_ATOL, rtol=1e-5)


@settings(max_examples=15, deadline=None)
@given(
    out_ch=st.integers(1, 8),
    in_ch=st.integers(1, 8),
    kernel=st.integers(1, 3),
    transposed=st.booleans(),
)
def test_weight_norm_leaves_conv_output_unchanged(out_ch: int, in_ch: int, kernel: int, transposed: bool) -> None:
    torch.manual_seed(1)
    conv = (nn.ConvTranspose2d if transposed else nn.Conv2d)(in_ch, out_ch, kernel)
    x = torch.randn(2, in_ch, 6, 6)
    before = conv(x)
    weight_norm(conv, dim=1 if transposed else 0)
    torch.testing.assert_close(conv(x), before, atol=FLOAT_ATOL, rtol=1e-5)


def test_weight_norm_g_is_the_norm_per_output_unit() -> None:
    layer = nn.Linear(7, 5)
    w = layer.weight.detach().clone()
    weight_norm(layer)
    g = layer.parametrizations.weight.original0
    torch.testing.assert_close(g.squeeze(1), w.norm(dim=1))


def test_weight_norm_with_other_dim_is_refused() -> None:
    layer = weight_norm(nn.Linear(4, 3), dim=0)
    with pytest.raises(WeightInitError, match="dim=0"):
        weight_norm(layer, dim=1)


def test_stacking_two_kinds_is_refused() -> None:
    layer = weight_norm(nn.Linear(4, 3))
    with pytest.raises(WeightInitError, match="refusing to stack 'spectral_norm'"):
        spectral_norm(layer)
    assert normalization_of(layer) == ["weight_norm"]


def test_spectral_norm_is_idempotent_and_converges_to_unit_sigma() -> None:
    torch.manual_seed(2)
    layer = spectral_norm(nn.Linear(30, 20))
    spectral_norm(layer)
    assert len(layer.parametrizations.weight) == 1
    x = torch.randn(4, 30)
    for _ in range(50):  # each training-mode forward runs one power iteration
        layer(x)
    layer.eval()
    sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2)
    assert abs(float(sigma) - 1.0) < 1e-3


def test_spectral_norm_with_other_iterations_is_refused() -> None:
    layer = spectral_norm(nn.Linear(4, 3), n_power_iterations=1)
    with pytest.raises(WeightInitError, match="n_power_iterations"):
        spectral_norm(layer, n_power_iterations=3)


def test_orthogonal_gives_orthonormal_rows_and_is_idempotent() -> None:
    layer = orthogonal(orthogonal(nn.Linear(12, 5)))
    assert len(layer.parametrizations.weight) == 1
    w = layer.weight.detach()
    torch.testing.assert_close(w @ w.T, torch.eye(5), atol=1e-5, rtol=0)


def test_orthogonal_refuses_conv_kernels() -> None:
    with pytest.raises(WeightInitError, match="2-D weight"):
        orthogonal(nn.Conv2d(3, 4, 3))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: weight_norm(nn.Linear(3, 2), name="kernel"), "no tensor 'kernel'"),
        (lambda: weight_norm(nn.Linear(3, 2), dim=2), "Received: dim=2"),
        (lambda: weight_norm("not a module"), "expects a torch.nn.Module"),  # type: ignore[arg-type]
        (lambda: spectral_norm(nn.Linear(3, 2), n_power_iterations=0), "n_power_iterations=0"),
        (lambda: spectral_norm(nn.Linear(3, 2), eps=-1e-3), r"`eps` must be a positive number.*eps=-0.001"),
        (lambda: spectral_norm(nn.Linear(3, 2), eps=0.0), r"`eps` must be a positive number"),
        (lambda: spectral_norm(nn.Linear(3, 2), name="bias"), "at least 2 dimensions"),
        (lambda: weight_norm(nn.LazyLinear(3)), "lazy"),
    ],
)
def test_bad_arguments_raise_weight_init_error(call: object, match: str) -> None:
    with pytest.raises(WeightInitError, match=match):
        call()  # type: ignore[operator]


def test_remove_normalization_bakes_effective_weights_into_plain_parameters() -> None:
    model = _seed_model()
    weight_norm(model[0])
    orthogonal(model[2])
    x = torch.randn(8, 100)
    before = model(x).detach()
    effective = effective_weights(model)
    baked = remove_normalization(model)
    assert sorted(baked) == ["0.weight", "2.weight"]
    assert all("parametrizations" not in key for key in model.state_dict())
    assert type(model[0]) is nn.Linear
    torch.testing.assert_close(model[0].weight.detach(), effective["0.weight"])
    torch.testing.assert_close(model(x), before)
    assert remove_normalization(model) == []


def test_effective_weights_are_keyed_by_user_names() -> None:
    model = _seed_model()
    weight_norm(model[0])
    weights = effective_weights(model)
    assert list(weights) == ["0.weight"]
    g = model[0].parametrizations.weight.original0.detach()
    v = model[0].parametrizations.weight.original1.detach()
    torch.testing.assert_close(weights["0.weight"], g * v / v.norm(dim=1, keepdim=True))
    assert not weights["0.weight"].requires_grad


def test_effective_weights_cover_old_style_hook_parametrizations() -> None:
    model = _seed_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm is deprecated
        torch.nn.utils.weight_norm(model[0])
        torch.nn.utils.spectral_norm(model[2])
    weights = effective_weights(model)
    assert set(weights) == {"0.weight", "2.weight"}
    g, v = model[0].weight_g.detach(), model[0].weight_v.detach()
    torch.testing.assert_close(weights["0.weight"], g * v / v.norm(dim=1, keepdim=True))
    assert weights["2.weight"].data_ptr() != model[2].weight.data_ptr()  # a copy
