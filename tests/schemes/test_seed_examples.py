"""The seed README's architecture examples, as written (the analyzer lines belong to the analysis tests)."""

from __future__ import annotations

import math

import torch

from custom_model_architectures import CNNTransformerHybrid, CustomCNNModel, CustomRNNModel, CustomTransformerModel
from weight_initialization_system.schemes import CustomInitializationSchemes, initialize_model


def test_readme_architecture_specific_and_hybrid_examples_run() -> None:
    transformer_model = CustomTransformerModel(vocab_size=1000, d_model=128)
    CustomInitializationSchemes.transformer_initialization(transformer_model, d_model=128)
    cnn_model = CustomCNNModel(input_channels=3, num_classes=10)
    CustomInitializationSchemes.cnn_initialization(cnn_model)
    rnn_model = CustomRNNModel(input_size=100, hidden_size=128)
    CustomInitializationSchemes.rnn_initialization(rnn_model, num_layers=2)

    hybrid_model = CNNTransformerHybrid(input_channels=3, d_model=128)
    CustomInitializationSchemes.cnn_initialization(hybrid_model)
    CustomInitializationSchemes.transformer_initialization(hybrid_model, d_model=128)
    result = initialize_model(hybrid_model, "xavier_uniform")
    assert "encoder.0.attention.query.weight" in result and "conv_stem.0.weight" in result


def test_readme_name_filters_find_the_right_weights() -> None:
    rnn = CustomRNNModel(input_size=100, hidden_size=128, num_layers=3)
    CustomInitializationSchemes.rnn_initialization(rnn, num_layers=3)
    recurrent = {n: p for n, p in rnn.named_parameters() if "weight" in n and "recurrent" in n.lower()}
    assert len(recurrent) == 6
    cnn = CustomCNNModel(input_channels=3, num_classes=5)
    CustomInitializationSchemes.cnn_initialization(cnn)
    conv = {n: p for n, p in cnn.named_parameters() if "conv" in n.lower()}
    assert conv and all(p.std() > 0.01 for p in conv.values())


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
