"""Small reference models shared by the analysis tests."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


def deep_net(act: type[nn.Module], init: Callable[[torch.Tensor], object], depth: int = 20, width: int = 64,
             seed: int = 0) -> nn.Sequential:
    """A plain ``depth``-layer square MLP (input = width), every weight drawn by ``init``, zero biases."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(width, width)]
    for _ in range(depth - 1):
        layers += [act(), nn.Linear(width, width)]
    net = nn.Sequential(*layers)
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                init(m.weight)
                m.bias.zero_()
    return net


class TinyGPT(nn.Module):
    """Token + position embeddings, a torch TransformerEncoder, a final LayerNorm and a linear head."""

    def __init__(self, vocab: int = 50, d: int = 32, layers: int = 3, context: int = 8, norm_first: bool = True):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(context, d)
        block = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        self.layers = layers

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        return self.head(self.ln(self.encoder(self.tok(idx) + self.pos(pos))))


def gpt2_init(model: TinyGPT, seed: int = 0) -> TinyGPT:
    """GPT-2's scheme (Radford et al. 2019): N(0, 0.02), residual projections N(0, 0.02/√(2L)), norms 1/0."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                residual = name.endswith(("out_proj.weight", "linear2.weight"))
                p.normal_(0.0, 0.02 / math.sqrt(2 * model.layers) if residual else 0.02, generator=gen)
            elif "norm" in name or name.startswith("ln."):
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            else:
                p.zero_()
    return model
