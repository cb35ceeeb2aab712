"""Small models for the data-dependent tests: a deep ReLU MLP, a residual CNN with BatchNorm, a transformer."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def relu_mlp(depth: int = 20, width: int = 64, in_features: int = 32) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(in_features if i == 0 else width, width), nn.ReLU()]
    return nn.Sequential(*layers)


class _Block(nn.Module):
    def __init__(self, channels: int, stride: int = 1) -> None:
        super().__init__()
        out = channels * stride
        self.conv1 = nn.Conv2d(channels, out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
            if stride != 1
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.shortcut(x) + self.bn2(self.conv2(y)))


class ResidualCNN(nn.Module):
    def __init__(self, channels: int = 8, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
        self.blocks = nn.Sequential(_Block(channels), _Block(channels, stride=2), _Block(2 * channels))
        self.head = nn.Linear(2 * channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class TinyTransformer(nn.Module):
    def __init__(self, d_model: int = 32, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Linear(12, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead=4, dim_feedforward=64, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Linear(d_model, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.encoder(self.embed(x)))


def measure_output_stds(model: nn.Module, call: object) -> dict[str, float]:
    """Output std of every Linear / Conv / attention layer (first call), measured independently of lsuv_init:
    eval mode, no grad, attention fast path off."""
    stds: dict[str, float] = {}
    handles = []
    out_projs = {id(m.out_proj) for m in model.modules() if isinstance(m, nn.MultiheadAttention)}
    covered = (nn.Linear, nn.modules.conv._ConvNd, nn.MultiheadAttention)
    for name, module in model.named_modules():
        if isinstance(module, covered) and id(module) not in out_projs:

            def hook(m: nn.Module, args: object, output: object, name: str = name) -> None:
                y = output[0] if isinstance(output, tuple) else output
                stds.setdefault(name, float(y.float().std()))  # type: ignore[union-attr]

            handles.append(module.register_forward_hook(hook))
    was_training = model.training
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    model.eval()
    try:
        with torch.no_grad():
            call(model)  # type: ignore[operator]
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return stds
