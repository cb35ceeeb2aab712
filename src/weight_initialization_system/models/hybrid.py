"""``CNNTransformerHybrid``: conv stem → patch tokens → transformer encoder → classifier (ViT-style hybrid)."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import WeightInitError
from ._layers import Activation, TransformerBlock, positive_int

__all__ = ["CNNTransformerHybrid"]


class CNNTransformerHybrid(nn.Module):
    """A hybrid vision model (Dosovitskiy et al. 2021, "hybrid architecture").

    ``conv_stem`` (conv-BN-ReLU ×2) → ``patch_conv`` (a ``patch_size``-strided conv to ``d_model`` channels)
    → tokens + ``pos_embedding`` → ``encoder`` (pre-LN transformer blocks, non-causal) → ``norm`` → mean over
    tokens → ``classifier``.

    Args:
        input_channels: image channels.
        d_model: token width.
        num_classes: classifier outputs.
        nhead: attention heads.
        num_layers: transformer blocks.
        stem_channels: channels of the conv stem.
        patch_size: stride (and kernel) of the patch projection.
        image_size: the (square) input size, which fixes the number of tokens.
        dim_feedforward: MLP width (default ``4 * d_model``).
        dropout: dropout in the encoder.
        activation: MLP nonlinearity.

    >>> model = CNNTransformerHybrid(input_channels=3, d_model=32)
    >>> model(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        input_channels: int,
        d_model: int,
        num_classes: int = 10,
        nhead: int = 4,
        num_layers: int = 2,
        *,
        stem_channels: int = 32,
        patch_size: int = 4,
        image_size: int = 32,
        dim_feedforward: int | None = None,
        dropout: float = 0.0,
        activation: Activation = "gelu",
    ) -> None:
        super().__init__()
        for argument, value in (("input_channels", input_channels), ("num_classes", num_classes),
                                ("stem_channels", stem_channels), ("patch_size", patch_size),
                                ("image_size", image_size), ("num_layers", num_layers)):
            positive_int(argument, value)
        if image_size % patch_size:
            raise WeightInitError(f"Argument `image_size` must be a multiple of `patch_size`. "
                                  f"Received: image_size={image_size}, patch_size={patch_size}")
        self.image_size = image_size
        self.conv_stem = nn.Sequential(
            nn.Conv2d(input_channels, stem_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(stem_channels), nn.ReLU(),
            nn.Conv2d(stem_channels, stem_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(stem_channels), nn.ReLU(),
        )
        self.patch_conv = nn.Conv2d(stem_channels, d_model, patch_size, patch_size)
        tokens = (image_size // patch_size) ** 2
        self.pos_embedding = nn.Parameter(torch.zeros(1, tokens, d_model))
        ffn = 4 * d_model if dim_feedforward is None else dim_feedforward
        self.encoder = nn.ModuleList(
            TransformerBlock(d_model, nhead, ffn, dropout=dropout, activation=activation) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        self.classifier = nn.Linear(d_model, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, num_classes)`` for images ``(batch, input_channels, image_size, image_size)``."""
        size = images.shape[-2:]
        if isinstance(size, torch.Size) and size != (self.image_size, self.image_size):  # not an fx Proxy
            raise WeightInitError(f"Expected {self.image_size}x{self.image_size} images. "
                                  f"Received: shape {tuple(images.shape)}")
        x = self.patch_conv(self.conv_stem(images)).flatten(2).transpose(1, 2) + self.pos_embedding
        for block in self.encoder:
            x = block(x)
        logits: torch.Tensor = self.classifier(self.norm(x).mean(dim=1))
        return logits
