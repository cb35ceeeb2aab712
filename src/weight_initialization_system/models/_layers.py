"""Small building blocks shared by the reference models: activations by name, attention, MLP, blocks."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightInitError

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "FeedForward",
    "MultiHeadSelfAttention",
    "TransformerBlock",
    "make_activation",
    "positive_int",
    "sinusoidal_table",
]

#: Activation names accepted by the reference models, mapped to their module constructors.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "mish": nn.Mish,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "linear": nn.Identity,
    "identity": nn.Identity,
}

#: An activation name from :data:`ACTIVATIONS`, or a zero-argument factory such as ``lambda: nn.LeakyReLU(0.2)``.
Activation = str | Callable[[], nn.Module]


def make_activation(activation: Activation) -> nn.Module:
    """Build one activation module from a name or a factory."""
    if isinstance(activation, str):
        key = activation.lower()
        if key not in ACTIVATIONS:
            raise WeightInitError(
                f"Argument `activation` must be one of {', '.join(map(repr, ACTIVATIONS))} or a module factory. "
                f"Received: activation={activation!r}"
            )
        return ACTIVATIONS[key]()
    if callable(activation):
        module = activation()
        if not isinstance(module, nn.Module):
            raise WeightInitError(
                f"Argument `activation` must build an nn.Module. Received a factory returning {type(module).__name__}"
            )
        return module
    raise WeightInitError(f"Argument `activation` must be a name or a module factory. Received: {activation!r}")


def positive_int(argument: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise WeightInitError(f"Argument `{argument}` must be a positive integer. Received: {argument}={value!r}")
    return value


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with separate ``query``/``key``/``value`` projections and an ``out_proj``.

    Separate projections (instead of one fused ``qkv``) let schemes treat them differently: μP zero-inits the
    query, DeepNet scales ``value`` and ``out_proj`` but not ``query``/``key``. The projections have no bias
    (as in PaLM and LLaMA), so every parameter whose name contains ``attention`` is a 2-D matrix.

    .. math::
        \\operatorname{Attn}(x) = W_o\\,\\operatorname{softmax}\\!\\big(QK^\\top/\\sqrt{d_h} + M\\big)V
    """

    def __init__(self, d_model: int, nhead: int, *, dropout: float = 0.0, causal: bool = False) -> None:
        super().__init__()
        positive_int("d_model", d_model)
        positive_int("nhead", nhead)
        if d_model % nhead:
            raise WeightInitError(
                f"Argument `d_model` must be divisible by `nhead`. Received: d_model={d_model}, nhead={nhead}"
            )
        self.d_model, self.nhead, self.causal, self.dropout = d_model, nhead, causal, dropout
        self.query = nn.Linear(d_model, d_model, bias=False)
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.value = nn.Linear(d_model, d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.nhead, -1).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            heads(self.query(x)), heads(self.key(x)), heads(self.value(x)),
            dropout_p=self.dropout if self.training else 0.0, is_causal=self.causal,
        )
        result: torch.Tensor = self.out_proj(out.transpose(1, 2).reshape(batch, length, self.d_model))
        return result


class FeedForward(nn.Module):
    """Position-wise MLP ``fc_out(φ(fc_in(x)))``."""

    def __init__(self, d_model: int, dim_feedforward: int, activation: Activation = "gelu") -> None:
        super().__init__()
        self.fc_in = nn.Linear(d_model, dim_feedforward)
        self.activation = make_activation(activation)
        self.fc_out = nn.Linear(dim_feedforward, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.fc_out(self.activation(self.fc_in(x)))
        return result


class TransformerBlock(nn.Module):
    """One transformer encoder block, pre-LN by default.

    - pre-LN (``norm_first=True``, GPT-2/ViT): ``x + g·attention(LN(x))``, then ``x + g·mlp(LN(x))``.
    - post-LN (``norm_first=False``, original Transformer/BERT): ``LN(α·x + g·attention(x))``, then the MLP;
      ``α`` is ``residual_scale`` (1 normally, ``(2N)^{1/4}`` after the DeepNet scheme).

    ``g`` are the optional scalar ``attn_gate``/``mlp_gate`` parameters (``residual_gate=True``), 1 at
    construction, set to 0 by the ReZero/SkipInit scheme.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int,
        *,
        dropout: float = 0.0,
        activation: Activation = "gelu",
        norm_first: bool = True,
        causal: bool = False,
        residual_gate: bool = False,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.residual_scale = 1.0
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = MultiHeadSelfAttention(d_model, nhead, dropout=dropout, causal=causal)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = FeedForward(d_model, dim_feedforward, activation)
        self.dropout = nn.Dropout(dropout)
        self.attn_gate: nn.Parameter | None = nn.Parameter(torch.ones(1)) if residual_gate else None
        self.mlp_gate: nn.Parameter | None = nn.Parameter(torch.ones(1)) if residual_gate else None

    @staticmethod
    def _gated(value: torch.Tensor, gate: nn.Parameter | None) -> torch.Tensor:
        return value if gate is None else gate * value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_first:
            x = x + self._gated(self.dropout(self.attention(self.norm1(x))), self.attn_gate)
            return x + self._gated(self.dropout(self.mlp(self.norm2(x))), self.mlp_gate)
        alpha = self.residual_scale
        x = self.norm1(alpha * x + self._gated(self.dropout(self.attention(x)), self.attn_gate))
        result: torch.Tensor = self.norm2(alpha * x + self._gated(self.dropout(self.mlp(x)), self.mlp_gate))
        return result


def sinusoidal_table(length: int, d_model: int) -> torch.Tensor:
    """The sinusoidal positional encoding of Vaswani et al. (2017): ``PE[p, 2i] = sin(p / 10000^{2i/d})``."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)[:, : d_model // 2]
    return table
