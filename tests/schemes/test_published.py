"""Published schemes: registry contract, formulas per scheme, fit checks that leave the model untouched."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.models import CustomCNNModel, CustomTransformerModel, deep_mlp
from weight_initialization_system.schemes import InitResult
from weight_initialization_system.schemes.published import apply_scheme, get_scheme, list_schemes, zero_hadamard_

KWARGS = {"mup": {"base_width": 16}}


def _fitting_model(name: str) -> nn.Module:
    if name in ("fixup",):
        return CustomCNNModel(3, 10, channels=(8, 16), norm=False)
    if name == "delta_orthogonal":
        return CustomCNNModel(3, 10, channels=(8, 16))
    if name in ("t_fixup", "deepnet"):
        return CustomTransformerModel(60, 32, num_layers=2, norm_first=False)
    return CustomTransformerModel(60, 32, num_layers=2, norm_first=False, residual_gate=True)


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _sem(n: int, sigma: float) -> float:
    return 6 * sigma / math.sqrt(2 * n)


@pytest.mark.parametrize("name", list_schemes())
def test_every_scheme_returns_init_result_and_is_seed_keyed(name: str) -> None:
    a, b = _fitting_model(name), _fitting_model(name)
    ra = apply_scheme(a, name, seed=7, **KWARGS.get(name, {}))
    apply_scheme(b, name, seed=7, **KWARGS.get(name, {}))
    assert isinstance(ra, InitResult) and len(ra) > 0
    assert all(p.reason for p in ra.initialized.values())
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in ra.initialized)
    assert get_scheme(name).summary


@pytest.mark.parametrize("name", list_schemes())
def test_every_scheme_rejects_a_model_it_does_not_fit_without_touching_it(name: str) -> None:
    misfit: nn.Module = nn.Sequential(nn.Embedding(5, 4), nn.Flatten(), nn.Linear(8, 3))
    if name in ("mup", "zero"):  # these fit any model with linear layers: use a readout-less/weightless model
        misfit = nn.Sequential(nn.ReLU())
    if name == "bert":
        misfit = nn.Sequential(nn.Linear(4, 4))
    before = _state(misfit)
    with pytest.raises(WeightInitError):
        apply_scheme(misfit, name, **KWARGS.get(name, {}))
    assert all(torch.equal(before[k], v) for k, v in misfit.state_dict().items())


def test_unknown_scheme_and_argument_errors() -> None:
    with pytest.raises(WeightInitError, match="Did you mean 'fixup'"):
        apply_scheme(nn.Linear(2, 2), "fixpu")
    with pytest.raises(WeightInitError, match="unexpected argument"):
        apply_scheme(CustomTransformerModel(10, 8, nhead=2), "gpt2", sdt=0.02)
    assert get_scheme("nanogpt").name == "gpt2" and get_scheme("DeepNorm").name == "deepnet"
    assert "skipinit" in list_schemes(aliases=True)


def test_gpt2_residual_projections_scaled() -> None:
    model = CustomTransformerModel(400, 64, num_layers=4)
    result = apply_scheme(model, "gpt2", seed=0)
    w = model.blocks[3].mlp.fc_out.weight
    sigma = 0.02 / math.sqrt(8)
    assert result.method == "gpt2"
    assert abs(w.std().item() - sigma) < _sem(w.numel(), sigma)


def test_bert_truncates_at_two_sigma() -> None:
    model = CustomTransformerModel(400, 64)
    apply_scheme(model, "bert", seed=0)
    for p in (model.token_embedding.weight, model.blocks[0].attention.query.weight):
        assert p.abs().max().item() <= 0.04 + 1e-7
        # std of N(0, σ²) truncated at ±2σ is 0.8796σ
        assert abs(p.std().item() - 0.8796 * 0.02) < _sem(p.numel(), 0.02)


def test_vit_jax_zero_head_xavier_and_tiny_mlp_bias() -> None:
    model = CustomTransformerModel(64, 32, num_layers=1)
    apply_scheme(model, "vit", mode="jax", seed=0)
    assert torch.all(model.lm_head.weight == 0)
    q = model.blocks[0].attention.query.weight
    assert q.abs().max().item() <= math.sqrt(6 / 64)
    fc_bias = model.blocks[0].mlp.fc_in.bias
    assert 0 < fc_bias.abs().max().item() < 1e-4
    with pytest.raises(WeightInitError, match="mode"):
        apply_scheme(model, "vit", mode="flax")


def test_fixup_zero_last_branch_layer_and_classifier_and_scaled_first() -> None:
    model = CustomCNNModel(3, 10, channels=(16, 16), blocks_per_stage=2, norm=False)
    apply_scheme(model, "fixup", seed=0)
    blocks = [b for stage in model.stages for b in stage]
    factor = len(blocks) ** (-1 / 2)  # m = 2 layers per branch: L^(-1/(2m-2)) = L^(-1/2)
    for block in blocks:
        assert torch.all(block.conv2.weight == 0)
        w = block.conv1.weight
        std = math.sqrt(2 / (w.shape[1] * 9)) * factor
        assert abs(w.std().item() - std) < _sem(w.numel(), std)
    assert torch.all(model.classifier.weight == 0) and torch.all(model.classifier.bias == 0)
    x = torch.randn(2, 3, 8, 8)
    assert torch.all(model(x) == 0)
    with pytest.raises(WeightInitError, match="norm layers"):
        apply_scheme(CustomCNNModel(3, 10), "fixup")


def test_t_fixup_and_deepnet_scales_and_alpha() -> None:
    n = 3
    model = CustomTransformerModel(100, 64, num_layers=n, norm_first=False)
    apply_scheme(model, "deepnet", seed=0)
    beta = (8 * n) ** -0.25
    v = model.blocks[0].attention.value.weight
    assert abs(v.std().item() - beta * math.sqrt(2 / 128)) < _sem(v.numel(), beta * math.sqrt(2 / 128))
    q = model.blocks[0].attention.query.weight
    assert abs(q.std().item() - math.sqrt(2 / 128)) < _sem(q.numel(), math.sqrt(2 / 128))
    assert all(b.residual_scale == pytest.approx((2 * n) ** 0.25) for b in model.blocks)
    apply_scheme(model, "t_fixup", seed=0)
    scale = 0.67 * n ** -0.25
    out = model.blocks[1].attention.out_proj.weight
    assert out.abs().max().item() <= scale * math.sqrt(6 / 128) + 1e-7
    with pytest.raises(WeightInitError, match="pre-LN"):
        apply_scheme(CustomTransformerModel(10, 8, nhead=2), "t_fixup")


def test_deepnet_on_torch_encoder_without_residual_scale_errors() -> None:
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    before = _state(model)
    with pytest.raises(WeightInitError, match="residual_scale"):
        apply_scheme(model, "deepnet")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_rezero_zeros_gates_only() -> None:
    model = CustomTransformerModel(30, 16, nhead=2, residual_gate=True)
    query = model.blocks[0].attention.query.weight.detach().clone()
    result = apply_scheme(model, "skipinit", seed=0)
    assert set(result.initialized) == {f"blocks.{i}.{g}" for i in range(2) for g in ("attn_gate", "mlp_gate")}
    assert torch.equal(model.blocks[0].attention.query.weight, query)
    tokens = torch.randint(0, 30, (2, 5))
    h = model.token_embedding(tokens) + model.position_embedding(torch.arange(5))
    assert torch.allclose(model.blocks[1](model.blocks[0](h)), h)


def test_zero_hadamard_identity_and_expansion() -> None:
    square = zero_hadamard_(torch.empty(8, 8))
    assert torch.equal(square, torch.eye(8))
    wide = zero_hadamard_(torch.empty(4, 8))
    assert torch.equal(wide, torch.eye(4, 8))
    tall = zero_hadamard_(torch.empty(8, 3))
    c = 2 ** (-(3 - 1) / 2)
    assert torch.allclose(tall.abs(), torch.full((8, 3), c))
    assert torch.linalg.matrix_rank(tall).item() == 3
    conv = zero_hadamard_(torch.empty(4, 4, 3, 3))
    assert torch.equal(conv[:, :, 1, 1], torch.eye(4)) and conv.abs().sum().item() == 4


def test_zero_scheme_makes_a_plain_mlp_an_identity_on_positive_inputs() -> None:
    model = deep_mlp(6, 16, "relu")
    apply_scheme(model, "zero")
    x = torch.rand(3, 16)
    assert torch.allclose(model(x), x)


def test_delta_orthogonal_centre_tap_is_orthogonal() -> None:
    model = CustomCNNModel(3, 10, channels=(16, 32))
    apply_scheme(model, "delta_orthogonal", nonlinearity="relu", seed=0)
    w = model.stages[0][0].conv1.weight
    centre = w[:, :, 1, 1]
    assert torch.allclose(centre @ centre.T, 2 * torch.eye(16), atol=1e-5)
    assert w.abs().sum().item() == pytest.approx(centre.abs().sum().item())


def test_mup_zero_readout_and_query_and_fan_in_scaling() -> None:
    model = CustomTransformerModel(100, 64, num_layers=1)
    apply_scheme(model, "mup", base_width=32, std=0.02, seed=0)
    assert torch.all(model.lm_head.weight == 0)
    assert torch.all(model.blocks[0].attention.query.weight == 0)
    fc_out = model.blocks[0].mlp.fc_out.weight  # fan_in 256
    sigma = 0.02 * math.sqrt(32 / 256)
    assert abs(fc_out.std().item() - sigma) < _sem(fc_out.numel(), sigma)
    tied = CustomTransformerModel(100, 32, tie_weights=True)
    with pytest.raises(WeightInitError, match="tied"):
        apply_scheme(tied, "mup", base_width=16)
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
    encoder = nn.Sequential(nn.TransformerEncoder(layer, 1, enable_nested_tensor=False), nn.Linear(16, 3))
    apply_scheme(encoder, "mup", base_width=16, seed=0)
    in_proj = encoder[0].layers[0].self_attn.in_proj_weight
    assert torch.all(in_proj[:16] == 0) and in_proj[16:].abs().sum() > 0
