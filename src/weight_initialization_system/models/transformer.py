"""``CustomTransformerModel``: a small GPT-style language model (token + position embeddings, pre-LN blocks)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..errors import WeightInitError
from ._layers import Activation, TransformerBlock, positive_int, sinusoidal_table

__all__ = ["CustomTransformerModel"]


class CustomTransformerModel(nn.Module):
    """A transformer language model: embeddings → ``num_layers`` blocks → final LayerNorm → ``lm_head``.

    Parameter names follow the seed's filters: every attention weight contains ``attention``
    (``blocks.0.attention.query.weight``), the MLP lives in ``blocks.<i>.mlp``.

    Args:
        vocab_size: number of tokens.
        d_model: width of the residual stream.
        nhead: attention heads (must divide ``d_model``).
        num_layers: transformer blocks.
        dim_feedforward: hidden width of the MLP (default ``4 * d_model``).
        max_seq_len: longest sequence accepted.
        dropout: dropout on attention probabilities and residual branches.
        activation: the MLP nonlinearity.
        norm_first: pre-LN (GPT-2) when true, post-LN (original Transformer, BERT) when false.
        causal: causal (language-model) attention mask.
        positional: ``"learned"`` position embeddings (GPT-2) or fixed ``"sinusoidal"`` encodings (Vaswani 2017).
        tie_weights: share ``lm_head.weight`` with ``token_embedding.weight``.
        residual_gate: add scalar ReZero/SkipInit gates on every residual branch.

    >>> model = CustomTransformerModel(vocab_size=100, d_model=32)
    >>> model(torch.randint(0, 100, (2, 10))).shape
    torch.Size([2, 10, 100])
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        nhead: int = 4,
        num_layers: int = 2,
        dim_feedforward: int | None = None,
        max_seq_len: int = 256,
        dropout: float = 0.0,
        *,
        activation: Activation = "gelu",
        norm_first: bool = True,
        causal: bool = True,
        positional: Literal["learned", "sinusoidal"] = "learned",
        tie_weights: bool = False,
        residual_gate: bool = False,
    ) -> None:
        super().__init__()
        positive_int("vocab_size", vocab_size)
        positive_int("num_layers", num_layers)
        positive_int("max_seq_len", max_seq_len)
        if positional not in ("learned", "sinusoidal"):
            raise WeightInitError(
                f"Argument `positional` must be 'learned' or 'sinusoidal'. Received: positional={positional!r}"
            )
        ffn = 4 * d_model if dim_feedforward is None else positive_int("dim_feedforward", dim_feedforward)
        self.d_model, self.max_seq_len = d_model, max_seq_len
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding: nn.Embedding | None = (
            nn.Embedding(max_seq_len, d_model) if positional == "learned" else None)
        self.register_buffer("positional_table", sinusoidal_table(max_seq_len, d_model)
                             if positional == "sinusoidal" else None, persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, nhead, ffn, dropout=dropout, activation=activation, norm_first=norm_first,
                             causal=causal, residual_gate=residual_gate)
            for _ in range(num_layers)
        )
        self.final_norm: nn.Module = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_weights:
            self.lm_head.weight = self.token_embedding.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, length, vocab_size)`` for integer ``tokens`` of shape ``(batch, length)``."""
        length = tokens.size(1)
        if isinstance(length, int) and length > self.max_seq_len:  # not an fx Proxy: checkable
            raise WeightInitError(f"Sequence length {length} exceeds max_seq_len={self.max_seq_len}")
        x = self.token_embedding(tokens)
        if self.position_embedding is not None:
            x = x + self.position_embedding(torch.arange(length, device=tokens.device))
        else:
            table: torch.Tensor = self.positional_table  # type: ignore[assignment]
            x = x + table[:length]
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x)
        logits: torch.Tensor = self.lm_head(self.final_norm(x))
        return logits
