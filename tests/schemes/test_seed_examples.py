"""The seed README's architecture examples, as written (the analyzer lines belong to the analysis tests)."""

from __future__ import annotations

import math

import pytest
import torch

from custom_model_architectures import CNNTransformerHybrid, CustomCNNModel, CustomRNNModel, CustomTransformerModel
from weight_initialization_system import CustomInitializationSchemes
from weight_initialization_system.schemes import initialize_model


def _std_within_6_sigma(weight: torch.Tensor, expected: float) -> bool:
    # the sample std of n draws has a std of about σ/√(2n): allow 6 of those.
    return abs(float(weight.detach().std()) - expected) < 6 * expected / math.sqrt(2 * weight.numel())


@pytest.mark.slow
def test_readme_architecture_specific_and_hybrid_examples_run() -> None:
    torch.manual_seed(0)
    transformer_model = CustomTransformerModel(vocab_size=1000, d_model=128)
    CustomInitializationSchemes.transformer_initialization(transformer_model, d_model=128)
    # projections reading the model width: σ = d_model^-1/2.
    assert _std_within_6_sigma(transformer_model.blocks[0].attention.query.weight, 128**-0.5)

    cnn_model = CustomCNNModel(input_channels=3, num_classes=10)
    CustomInitializationSchemes.cnn_initialization(cnn_model)
    # Kaiming normal, fan_out, ReLU gain: σ = √(2 / (out_channels · k²)) (He et al. 2015).
    conv = cnn_model.stages[0][0].conv1.weight
    assert _std_within_6_sigma(conv, math.sqrt(2 / (conv.shape[0] * conv[0, 0].numel())))

    rnn_model = CustomRNNModel(input_size=100, hidden_size=128)
    CustomInitializationSchemes.rnn_initialization(rnn_model, num_layers=2)
    # recurrent weights: each of the 4 LSTM gate blocks is orthogonal (Saxe et al. 2014).
    for layer in range(2):
        for block in getattr(rnn_model.recurrent, f"weight_hh_l{layer}").detach().chunk(4):
            torch.testing.assert_close(block @ block.T, torch.eye(128), atol=1e-4, rtol=0)

    hybrid_model = CNNTransformerHybrid(input_channels=3, d_model=128)
    CustomInitializationSchemes.cnn_initialization(hybrid_model)
    CustomInitializationSchemes.transformer_initialization(hybrid_model, d_model=128)
    result = initialize_model(hybrid_model, "xavier_uniform")
    assert "encoder.0.attention.query.weight" in result and "conv_stem.0.weight" in result
    # the last call wins: Xavier uniform on U(-a, a), a = √(6 / (fan_in + fan_out)) (Glorot & Bengio 2010).
    stem = hybrid_model.conv_stem[0].weight.detach()
    receptive = stem[0, 0].numel()
    bound = math.sqrt(6 / ((stem.shape[1] + stem.shape[0]) * receptive))
    assert float(stem.abs().max()) <= bound
    assert _std_within_6_sigma(stem, bound / math.sqrt(3))  # uniform: sample std varies less than normal


def test_readme_name_filters_find_the_right_weights() -> None:
    rnn = CustomRNNModel(input_size=100, hidden_size=128, num_layers=3)
    CustomInitializationSchemes.rnn_initialization(rnn, num_layers=3)
    recurrent = {n: p for n, p in rnn.named_parameters() if "weight" in n and "recurrent" in n.lower()}
    assert len(recurrent) == 6
    assert all(p.dim() == 2 for p in recurrent.values())
    torch.manual_seed(0)
    cnn = CustomCNNModel(input_channels=3, num_classes=5)
    CustomInitializationSchemes.cnn_initialization(cnn)
    conv = {n: p for n, p in cnn.named_parameters() if "conv" in n.lower()}
    # the filter finds exactly the convolution kernels, each Kaiming fan_out: σ = √(2 / (out_channels · k²)).
    assert set(conv) == {f"{n}.weight" for n, m in cnn.named_modules() if isinstance(m, torch.nn.Conv2d)}
    for p in conv.values():
        assert _std_within_6_sigma(p, math.sqrt(2 / (p.shape[0] * p[0, 0].numel())))


def test_readme_custom_attention_init_loop_runs_on_the_transformer() -> None:
    def custom_attention_init(tensor: torch.Tensor, num_heads: int) -> None:
        fan_in, fan_out = tensor.shape
        std = math.sqrt(2.0 / (fan_in + fan_out)) / math.sqrt(num_heads)
        with torch.no_grad():
            tensor.normal_(0, std)

    model = CustomTransformerModel(vocab_size=100, d_model=64)
    touched = 0
    for name, param in model.named_parameters():
        if "attention" in name:
            custom_attention_init(param, num_heads=8)
            touched += 1
    assert touched == 8
