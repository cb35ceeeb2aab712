"""compute_fans and gate_blocks over every layer type; torch's convention for plain shapes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from weight_initialization_system import WeightInitError
from weight_initialization_system.initializers import compute_fans, gate_blocks


class Conv1D(nn.Module):
    """Hugging Face GPT-2's Conv1D: a linear layer whose weight is stored as (in, out)."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))


# (label, module, parameter name, expected (fan_in, fan_out)) — the expected values are the definitions in
# the compute_fans table worked by hand: Conv (out, in/g, *k): in/g·∏k, out/g·∏k; ConvTranspose
# (in, out/g, *k): in/g·∏(k/s), out/g·∏k; one gate block of RNNs; q/k/v blocks of attention.
FAN_TABLE: list[tuple[str, nn.Module, str, tuple[int, int]]] = [
    ("linear", nn.Linear(10, 20), "weight", (10, 20)),
    ("bilinear", nn.Bilinear(5, 7, 3), "weight", (5 * 7, 3 * 7)),
    ("conv1d", nn.Conv1d(4, 8, 3), "weight", (4 * 3, 8 * 3)),
    ("conv2d_groups", nn.Conv2d(8, 16, 3, groups=4), "weight", (2 * 9, 4 * 9)),
    ("conv2d_depthwise", nn.Conv2d(8, 8, 3, groups=8), "weight", (9, 9)),
    ("conv3d_groups", nn.Conv3d(6, 12, (2, 3, 4), groups=3), "weight", (2 * 24, 4 * 24)),
    ("convT1d", nn.ConvTranspose1d(6, 4, 3), "weight", (6 * 3, 4 * 3)),
    ("convT2d_stride_groups", nn.ConvTranspose2d(8, 16, 4, stride=2, groups=2), "weight", (4 * 2 * 2, 8 * 16)),
    ("convT2d_stride_uneven", nn.ConvTranspose2d(4, 6, 3, stride=2), "weight", (round(4 * 1.5 * 1.5), 6 * 9)),
    ("convT3d", nn.ConvTranspose3d(2, 3, 2, stride=(1, 2, 1)), "weight", (2 * 2 * 1 * 2, 3 * 8)),
    ("embedding", nn.Embedding(100, 16), "weight", (1, 16)),
    ("embedding_bag", nn.EmbeddingBag(50, 8), "weight", (1, 8)),
    ("rnn_ih", nn.RNN(10, 20), "weight_ih_l0", (10, 20)),
    ("rnn_hh", nn.RNN(10, 20), "weight_hh_l0", (20, 20)),
    ("lstm_ih", nn.LSTM(10, 20), "weight_ih_l0", (10, 20)),
    ("lstm_hh", nn.LSTM(10, 20), "weight_hh_l0", (20, 20)),
    ("lstm_bidir_l1", nn.LSTM(10, 20, num_layers=2, bidirectional=True), "weight_ih_l1_reverse", (40, 20)),
    ("lstm_proj_hh", nn.LSTM(10, 20, proj_size=5), "weight_hh_l0", (5, 20)),
    ("lstm_proj_hr", nn.LSTM(10, 20, proj_size=5), "weight_hr_l0", (20, 5)),
    ("gru_ih", nn.GRU(10, 20), "weight_ih_l0", (10, 20)),
    ("gru_hh", nn.GRU(10, 20, num_layers=2), "weight_hh_l1", (20, 20)),
    ("mha_in_proj", nn.MultiheadAttention(16, 4), "in_proj_weight", (16, 16)),
    ("mha_q", nn.MultiheadAttention(16, 4, kdim=8, vdim=12), "q_proj_weight", (16, 16)),
    ("mha_k", nn.MultiheadAttention(16, 4, kdim=8, vdim=12), "k_proj_weight", (8, 16)),
    ("mha_v", nn.MultiheadAttention(16, 4, kdim=8, vdim=12), "v_proj_weight", (12, 16)),
    ("mha_out", nn.MultiheadAttention(16, 4), "out_proj.weight", (16, 16)),
    ("hf_conv1d", Conv1D(nf=20, nx=10), "weight", (10, 20)),
]


@pytest.mark.parametrize(("label", "module", "name", "expected"), FAN_TABLE, ids=[row[0] for row in FAN_TABLE])
def test_fan_table(label: str, module: nn.Module, name: str, expected: tuple[int, int]) -> None:
    owner_name, _, local = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    assert compute_fans(getattr(owner, local), owner, local) == expected


def test_fans_work_on_meta_parameters() -> None:
    conv = nn.Conv2d(8, 16, 3, groups=4, device="meta")
    assert compute_fans(conv.weight, conv) == (18, 36)


@pytest.mark.parametrize(
    ("module", "name", "blocks"),
    [(nn.LSTM(4, 8), "weight_ih_l0", 4), (nn.LSTM(4, 8), "bias_hh_l0", 4), (nn.GRU(4, 8), "weight_hh_l0", 3),
     (nn.RNN(4, 8), "weight_ih_l0", 1), (nn.LSTM(4, 8, proj_size=2), "weight_hr_l0", 1),
     (nn.MultiheadAttention(8, 2), "in_proj_weight", 3), (nn.MultiheadAttention(8, 2), "in_proj_bias", 3),
     (nn.Linear(4, 8), "weight", 1)],
)
def test_gate_blocks(module: nn.Module, name: str, blocks: int) -> None:
    assert gate_blocks(module, name) == blocks


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 7), min_size=2, max_size=5))
def test_shape_fans_equal_torch_convention(shape: list[int]) -> None:
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert compute_fans(torch.empty(shape)) == expected


def test_plain_module_fans_agree_with_torch_where_torch_is_right() -> None:
    for module in (nn.Linear(7, 3), nn.Conv2d(4, 6, 3), nn.Conv3d(2, 5, (1, 2, 3))):
        assert compute_fans(module.weight, module) == torch.nn.init._calculate_fan_in_and_fan_out(module.weight)


@pytest.mark.parametrize("shape", [(), (5,)])
def test_fewer_than_two_dims_is_an_error_that_echoes_the_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(WeightInitError, match=r"fewer than 2 dimensions.*shape"):
        compute_fans(torch.empty(shape))
