"""Reference models: forward passes on a batch, greppable parameter names, argument errors, a training step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.models import (
    ACTIVATIONS,
    CNNTransformerHybrid,
    CustomCNNModel,
    CustomRNNModel,
    CustomTransformerModel,
    deep_mlp,
    make_activation,
    mlp,
)


def _train_step(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> None:
    before = [p.detach().clone() for p in model.parameters()]
    loss = nn.functional.cross_entropy(model(x).reshape(-1, model(x).size(-1)), target.reshape(-1))
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


def test_transformer_forward_shape_and_attention_names() -> None:
    torch.manual_seed(0)
    model = CustomTransformerModel(vocab_size=50, d_model=32, nhead=4, num_layers=2)
    tokens = torch.randint(0, 50, (3, 7))
    assert model(tokens).shape == (3, 7, 50)
    names = [n for n, _ in model.named_parameters()]
    attention = [n for n in names if "attention" in n]
    assert len(attention) == 2 * 4  # q, k, v, out weights per block, no biases
    assert all(p.dim() == 2 for n, p in model.named_parameters() if "attention" in n)
    _train_step(model, tokens, torch.randint(0, 50, (3, 7)))


def test_transformer_is_causal() -> None:
    torch.manual_seed(0)
    model = CustomTransformerModel(vocab_size=20, d_model=16, nhead=2).eval()
    tokens = torch.randint(0, 20, (1, 6))
    changed = tokens.clone()
    changed[0, -1] = (changed[0, -1] + 1) % 20
    assert torch.allclose(model(tokens)[0, :-1], model(changed)[0, :-1], atol=1e-6)


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
@pytest.mark.parametrize("norm_first", [True, False])
def test_transformer_variants_run(positional: str, norm_first: bool) -> None:
    model = CustomTransformerModel(vocab_size=30, d_model=16, nhead=2, num_layers=1, positional=positional,  # type: ignore[arg-type]
                                   norm_first=norm_first, residual_gate=True)
    tokens = torch.randint(0, 30, (2, 5))
    logits = model(tokens)
    assert logits.shape == (2, 5, 30) and torch.isfinite(logits).all()
    # causal: changing the last token leaves the logits of the earlier positions unchanged.
    changed = tokens.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 30
    model.eval()
    torch.testing.assert_close(model(tokens)[:, :-1], model(changed)[:, :-1])


def test_transformer_tied_weights_share_storage() -> None:
    model = CustomTransformerModel(vocab_size=30, d_model=16, nhead=2, tie_weights=True)
    assert model.lm_head.weight is model.token_embedding.weight


def test_transformer_rejects_bad_arguments() -> None:
    with pytest.raises(WeightInitError, match="divisible"):
        CustomTransformerModel(vocab_size=10, d_model=30, nhead=4)
    with pytest.raises(WeightInitError, match="max_seq_len"):
        CustomTransformerModel(vocab_size=10, d_model=8, nhead=2, max_seq_len=4)(torch.zeros(1, 5, dtype=torch.long))


def test_cnn_forward_and_conv_names() -> None:
    torch.manual_seed(0)
    model = CustomCNNModel(input_channels=3, num_classes=5)
    x = torch.randn(4, 3, 16, 16)
    assert model(x).shape == (4, 5)
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert convs and all("conv" in n.lower() for n in convs)
    _train_step(model, x, torch.randint(0, 5, (4,)))


def test_cnn_without_norm_has_conv_biases_and_no_batchnorm() -> None:
    model = CustomCNNModel(input_channels=1, num_classes=2, channels=(8, 8), norm=False, residual_gate=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(m.bias is not None for m in model.modules() if isinstance(m, nn.Conv2d))
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 2)


def test_rnn_forward_and_recurrent_names() -> None:
    torch.manual_seed(0)
    model = CustomRNNModel(input_size=6, hidden_size=12, num_layers=3, output_size=4)
    x = torch.randn(5, 9, 6)
    assert model(x).shape == (5, 4)
    recurrent = [n for n, _ in model.named_parameters() if "weight" in n and "recurrent" in n.lower()]
    assert len(recurrent) == 6  # weight_ih and weight_hh per layer
    _train_step(model, x, torch.randint(0, 4, (5,)))


def test_hybrid_forward_has_convs_and_attention() -> None:
    torch.manual_seed(0)
    model = CNNTransformerHybrid(input_channels=3, d_model=32, num_classes=7, image_size=16)
    x = torch.randn(2, 3, 16, 16)
    assert model(x).shape == (2, 7)
    names = [n for n, _ in model.named_parameters()]
    assert any("attention" in n for n in names) and any("conv" in n for n in names)
    _train_step(model, x, torch.randint(0, 7, (2,)))
    with pytest.raises(WeightInitError, match="16x16"):
        model(torch.randn(1, 3, 8, 8))


def test_notebook_mlp_layout() -> None:
    model = mlp(784, [128, 64, 32, 16], 10, activation="relu")
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 128), (128, 64), (64, 32), (32, 16), (16, 10)]
    assert sum(isinstance(m, nn.ReLU) for m in model) == 4
    assert model(torch.randn(3, 784)).shape == (3, 10)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_deep_mlp_has_depth_layers_for_every_activation(activation: str) -> None:
    model = deep_mlp(5, 8, activation)
    assert sum(isinstance(m, nn.Linear) for m in model) == 5
    assert model(torch.randn(2, 8)).shape == (2, 8)


def test_activation_factory_and_errors() -> None:
    leaky = make_activation(lambda: nn.LeakyReLU(0.2))
    assert isinstance(leaky, nn.LeakyReLU) and leaky.negative_slope == 0.2
    with pytest.raises(WeightInitError, match="'relu'"):
        make_activation("rleu")
    with pytest.raises(WeightInitError, match="hidden_dims"):
        mlp(4, [0], 2)
    with pytest.raises(WeightInitError, match="depth"):
        deep_mlp(0, 4)
