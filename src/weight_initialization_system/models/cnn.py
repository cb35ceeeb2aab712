"""``CustomCNNModel``: a small ResNet (He et al. 2016) of conv-BN-ReLU stages with basic residual blocks."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import WeightInitError
from ._layers import positive_int

__all__ = ["CustomCNNModel", "ResidualBlock"]


def _norm(channels: int, norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if norm else nn.Identity()


class ResidualBlock(nn.Module):
    """Basic residual block: ``relu(shortcut(x) + g·bn2(conv2(relu(bn1(conv1(x))))))``.

    The shortcut is the identity, or a 1×1 ``conv``+BN projection (``shortcut``) when the shape changes. With
    ``norm=False`` the BN layers are identities and the convolutions get biases (the setting Fixup targets).
    ``residual_gate=True`` adds a scalar gate ``g`` (1 at construction; SkipInit sets it to 0).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, *, norm: bool = True,
                 residual_gate: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=not norm)
        self.bn1 = _norm(out_channels, norm)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=not norm)
        self.bn2 = _norm(out_channels, norm)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, 1, stride, bias=not norm), bn=_norm(out_channels, norm)))
        self.residual_gate: nn.Parameter | None = nn.Parameter(torch.ones(1)) if residual_gate else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.residual_gate is not None:
            branch = self.residual_gate * branch
        return torch.relu(self.shortcut(x) + branch)


class CustomCNNModel(nn.Module):
    """Conv stem → residual stages (stride 2 between stages) → global average pool → ``classifier``.

    Every convolution's name contains ``conv`` (``conv1.weight``, ``stages.1.0.conv2.weight``,
    ``stages.1.0.shortcut.conv.weight``), every BatchNorm's ``bn``.

    Args:
        input_channels: channels of the input images.
        num_classes: outputs of the classifier.
        channels: width of each stage.
        blocks_per_stage: residual blocks per stage.
        norm: use BatchNorm (False: no normalization, conv biases instead).
        residual_gate: add a scalar SkipInit gate to every residual block.

    >>> model = CustomCNNModel(input_channels=3, num_classes=10)
    >>> model(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        input_channels: int,
        num_classes: int,
        channels: Sequence[int] = (16, 32, 64),
        blocks_per_stage: int = 1,
        *,
        norm: bool = True,
        residual_gate: bool = False,
    ) -> None:
        super().__init__()
        positive_int("input_channels", input_channels)
        positive_int("num_classes", num_classes)
        positive_int("blocks_per_stage", blocks_per_stage)
        widths = list(channels)
        if not widths or not all(isinstance(c, int) and c > 0 for c in widths):
            raise WeightInitError(f"Argument `channels` must be positive integers. Received: channels={channels!r}")
        self.conv1 = nn.Conv2d(input_channels, widths[0], 3, 1, 1, bias=not norm)
        self.bn1 = _norm(widths[0], norm)
        self.relu = nn.ReLU()
        stages: list[nn.Module] = []
        previous = widths[0]
        for index, width in enumerate(widths):
            blocks = [ResidualBlock(previous if b == 0 else width, width, 2 if (index > 0 and b == 0) else 1,
                                    norm=norm, residual_gate=residual_gate)
                      for b in range(blocks_per_stage)]
            stages.append(nn.Sequential(*blocks))
            previous = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(previous, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, num_classes)`` for images ``(batch, input_channels, H, W)``."""
        x = self.stages(self.relu(self.bn1(self.conv1(x))))
        logits: torch.Tensor = self.classifier(torch.flatten(self.pool(x), 1))
        return logits
