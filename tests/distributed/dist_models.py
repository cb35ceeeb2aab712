"""Small models with every kind of tensor ``materialize`` must handle (plain torch)."""

from __future__ import annotations

import torch
from torch import nn


class Rotary(nn.Module):
    """A rotary-embedding cache: a non-persistent buffer recomputed by ``reset_parameters``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("inv_freq", torch.empty(dim // 2), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        steps = torch.arange(0, self.dim, 2, dtype=torch.float32, device=self.inv_freq.device)
        with torch.no_grad():
            self.inv_freq.copy_(1.0 / 10000 ** (steps / self.dim))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 32, padding_idx=0)
        self.rot = Rotary(32)
        self.bn = nn.BatchNorm1d(32)
        self.conv = nn.Conv1d(32, 16, 3)
        self.lstm = nn.LSTM(16, 16, num_layers=2)
        self.attn = nn.MultiheadAttention(16, 2)
        self.ln = nn.LayerNorm(16)
        self.big = nn.Linear(300, 700)
        self.head = nn.Linear(32, 100, bias=False)
        self.head.weight = self.emb.weight


class Scaled(nn.Module):
    """A parameter and a buffer that no initializer or recipe knows about."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.scale = nn.Parameter(torch.ones(4))
        self.register_buffer("mask", torch.ones(4, 4))
