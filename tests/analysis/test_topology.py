"""trace_topology: activations around each weight layer, depth, residual branches, in all three strategies."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from weight_initialization_system.analysis.topology import LayerInfo, trace_topology
from weight_initialization_system.graph import probe_activation


def _mlp(act: type[nn.Module], depth: int = 4, width: int = 8) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(3, width)]
    for _ in range(depth - 1):
        layers += [act(), nn.Linear(width, width)]
    return nn.Sequential(*layers)


def test_plain_mlp_input_and_output_activations_and_flags() -> None:
    info = trace_topology(_mlp(nn.Tanh))
    assert list(info) == ["0", "2", "4", "6"]
    first, *middle, last = info.values()
    assert first.input_activation is None and first.output_activation == "tanh" and first.is_first
    assert all(m.input_activation == "tanh" and m.output_activation == "tanh" for m in middle)
    assert last.input_activation == "tanh" and last.output_activation is None and last.is_last
    assert [i.depth for i in info.values()] == [0, 1, 2, 3]
    assert not any(i.residual_branch for i in info.values())
    assert first.fans == (3, 8) and first.weight_names == ("0.weight",)


def test_norm_dropout_and_pooling_are_transparent_and_leaky_slope_is_read() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.1), nn.LeakyReLU(0.2), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3), nn.Flatten(), nn.Linear(4, 2),
    )
    info = trace_topology(net)
    assert info["0"].output_activation == "leaky_relu" and info["0"].output_activation_param == 0.2
    assert info["5"].input_activation == "leaky_relu" and info["5"].input_activation_param == 0.2
    assert info["7"].input_activation is None


class _Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c, self.d, self.e = (nn.Linear(4, 4) for _ in range(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.a(x))
        x = torch.tanh(self.b(x))
        x = self.c(x).sigmoid()
        x = F.leaky_relu(self.d(x), negative_slope=0.3)
        return self.e(F.gelu(x, approximate="tanh"))


def test_functional_activations_are_found_by_fx() -> None:
    info = trace_topology(_Functional())
    got = [(i.input_activation, i.input_activation_param) for i in info.values()]
    assert got == [(None, None), ("relu", None), ("tanh", None), ("sigmoid", None), ("gelu", 1.0)]
    assert info["d"].output_activation == "leaky_relu" and info["d"].output_activation_param == 0.3
    assert info["e"].output_activation is None


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.down(x))


class _ResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.layer1 = _Block(8, 8, 1)
        self.layer2 = _Block(8, 16, 2)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.stem(x)))
        return self.head(x.mean(dim=(2, 3)))


def test_residual_cnn_marks_last_conv_of_each_branch_but_not_the_projection_shortcut() -> None:
    info = trace_topology(_ResNet())
    residual = {n for n, i in info.items() if i.residual_branch}
    assert residual == {"layer1.conv2", "layer2.conv2"}
    assert info["layer1.conv1"].input_activation == "relu"
    assert info["layer2.down.0"].input_activation == "relu"
    assert info["layer1.conv2"].output_activation == "relu"  # relu(bn(conv2(.)) + x)
    assert info["head"].input_activation == "relu" and info["head"].is_last
    assert info["stem.0"].is_first and not info["layer1.conv1"].is_first


def _encoder(norm_first: bool) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=norm_first)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)


def _check_encoder(info: dict[str, LayerInfo]) -> None:
    assert list(info) == [f"layers.{i}.{n}" for i in range(2)
                          for n in ("self_attn", "self_attn.out_proj", "linear1", "linear2")]
    assert info["layers.0.self_attn"].weight_names == ("layers.0.self_attn.in_proj_weight",)
    for i in range(2):
        assert info[f"layers.{i}.linear1"].output_activation == "gelu"
        assert info[f"layers.{i}.linear2"].input_activation == "gelu"
        assert info[f"layers.{i}.linear2"].residual_branch
        assert info[f"layers.{i}.self_attn.out_proj"].residual_branch
        assert not info[f"layers.{i}.linear1"].residual_branch
        assert not info[f"layers.{i}.self_attn"].residual_branch


def test_transformer_encoder_without_sample_uses_known_block_wiring() -> None:
    for norm_first in (False, True):
        _check_encoder(trace_topology(_encoder(norm_first)))


def test_transformer_encoder_with_sample_uses_hooks_and_leaves_model_unchanged() -> None:
    torch.manual_seed(0)
    model = _encoder(False).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sample = torch.randn(2, 5, 16)
    rng = torch.get_rng_state()
    _check_encoder(trace_topology(model, sample))
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())


class _Untraceable(nn.Module):
    """Data-dependent control flow: fx cannot trace it; only a forward on a sample can."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(4)
        self.inp, self.mid, self.out = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.inp(self.bn(x)))
        if h.sum() > -1e9:  # always true, but depends on data
            h = h + F.elu(self.mid(h), alpha=0.5)
        return self.out(h)


def test_untraceable_model_falls_back_to_hooks_on_a_sample() -> None:
    model = _Untraceable().train()
    stats = model.bn.running_mean.clone(), model.bn.num_batches_tracked.clone()
    info = trace_topology(model, torch.randn(8, 4))
    assert info["mid"].input_activation == "tanh"
    assert info["mid"].output_activation == "elu" and info["mid"].output_activation_param == 0.5
    assert info["mid"].residual_branch
    assert info["out"].input_activation is None  # a sum, not an activation output
    assert torch.equal(model.bn.running_mean, stats[0])
    assert torch.equal(model.bn.num_batches_tracked, stats[1])
    assert model.training


def test_untraceable_model_without_sample_uses_module_order() -> None:
    info = trace_topology(_Untraceable())
    assert list(info) == ["inp", "mid", "out"]
    assert [i.depth for i in info.values()] == [0, 1, 2]
    assert info["inp"].is_first and info["out"].is_last


def test_embedding_rnn_and_attention_with_separate_projections() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(10, 8)
            self.rnn = nn.LSTM(8, 8, num_layers=2)
            self.attn = nn.MultiheadAttention(8, 2, kdim=4, vdim=4)
            self.mem = nn.Linear(8, 4)

        def forward(self, idx: torch.Tensor) -> torch.Tensor:
            h, _ = self.rnn(self.emb(idx))
            m = self.mem(h)
            return self.attn(h, m, m)[0]

    info = trace_topology(Net())
    assert list(info) == ["emb", "rnn", "mem", "attn", "attn.out_proj"]
    assert info["emb"].fans == (1, 8) and info["emb"].is_first
    assert info["rnn"].weight_names == ("rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l1",
                                        "rnn.weight_hh_l1")
    assert info["attn"].weight_names == ("attn.q_proj_weight", "attn.k_proj_weight", "attn.v_proj_weight")
    assert info["attn.out_proj"].is_last


def test_hf_gpt2_activations_and_embeddings_from_a_tiny_config() -> None:
    transformers = pytest.importorskip("transformers", reason="transformers is not installed (extra 'hf')")
    config = transformers.GPT2Config(vocab_size=64, n_positions=16, n_embd=32, n_layer=2, n_head=4,
                                     bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(config)
    infos = trace_topology(model, torch.randint(0, 64, (2, 8)))
    assert infos["transformer.h.0.mlp.c_fc"].output_activation == "gelu"
    assert (infos["transformer.h.1.mlp.c_proj"].input_activation,
            infos["transformer.h.1.mlp.c_proj"].input_activation_param) == ("gelu", 1.0)  # NewGELU: tanh form
    assert infos["transformer.h.1.mlp.c_proj"].residual_branch
    for embedding in ("transformer.wte", "transformer.wpe"):  # inputs, never outputs
        assert infos[embedding].is_first and not infos[embedding].is_last
    assert [n for n, i in infos.items() if i.is_last] == ["lm_head"]


def _module(name: str, fn: Any) -> nn.Module:
    return type(name, (nn.Module,), {"forward": lambda self, x: fn(x)})()


@pytest.mark.parametrize(("name", "fn", "expected"), [
    ("MyTanhGELU", lambda x: 0.5 * x * (1 + torch.tanh(0.7978845608 * (x + 0.044715 * x**3))), ("gelu", 1.0)),
    ("Swish", lambda x: x * torch.sigmoid(x), ("silu", None)),
    ("QuickGELUActivation", lambda x: x * torch.sigmoid(1.702 * x), ("quick_gelu", None)),
    ("Rectifier", lambda x: x.clamp(min=0), ("relu", None)),
])
def test_activation_modules_are_recognised_by_what_they_compute(name: str, fn: Any,
                                                               expected: tuple[str, float | None]) -> None:
    model = nn.Sequential(nn.Linear(4, 8), _module(name, fn), nn.Linear(8, 2))
    info = trace_topology(model)["2"]
    assert (info.input_activation, info.input_activation_param) == expected


def test_a_class_name_alone_makes_no_activation() -> None:
    # named like Hugging Face's GELU but computing the identity: the layer after it sees a linear input
    model = nn.Sequential(nn.Linear(4, 8), _module("GELUActivation", lambda x: x), nn.Linear(8, 2))
    assert trace_topology(model)["2"].input_activation is None


def test_hugging_face_act2fn_modules_are_recognised() -> None:
    activations = pytest.importorskip("transformers.activations", reason="transformers is not installed")
    shape = (2, 8)
    assert probe_activation(activations.ACT2FN["gelu_new"], shape) == ("gelu", 1.0)
    assert probe_activation(activations.ACT2FN["gelu"], shape) == ("gelu", None)
    assert probe_activation(activations.ACT2FN["quick_gelu"], shape) == ("quick_gelu", None)
    assert probe_activation(activations.ACT2FN["silu"], shape) == ("silu", None)
