"""Fan-in and fan-out of weight tensors, by layer type.

The fan of a weight is the number of inputs (fan_in) that each output unit sums over, and the number of
outputs (fan_out) that each input unit feeds. Variance-preserving initializers (Glorot & Bengio 2010,
He et al. 2015) scale by them, so getting them right per layer type matters:

================================  ===============================  ==================================
layer (weight shape)              fan_in                           fan_out
================================  ===============================  ==================================
Linear ``(out, in)``              ``in``                           ``out``
Conv ``(out, in/g, *k)``          ``in/g · ∏k``                    ``out/g · ∏k``
ConvTranspose ``(in, out/g, *k)`` ``in/g · ∏(k/s)``                ``out/g · ∏k``
Embedding ``(num, dim)``          ``1`` (one row is looked up)     ``dim``
RNN/LSTM/GRU gate block           ``input_size`` or ``hidden``     ``hidden_size``
MultiheadAttention q/k/v block    ``embed_dim`` (or kdim/vdim)     ``embed_dim``
HF ``Conv1D`` ``(in, out)``       ``in``                           ``out``
================================  ===============================  ==================================

``g`` is the number of groups and ``s`` the stride: in a transposed convolution each output element
receives on average ``∏(k/s)`` kernel taps per input channel. From the shape alone (no module), the torch
convention is used: ``fan_in = size(1)·∏k``, ``fan_out = size(0)·∏k``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import WeightInitError

__all__ = ["compute_fans", "gate_blocks"]


def _shape_fans(shape: torch.Size) -> tuple[int, int]:
    if len(shape) < 2:
        raise WeightInitError(
            "Fan in and fan out cannot be computed for a tensor with fewer than 2 dimensions. "
            f"Received: shape {tuple(shape)}"
        )
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return int(shape[1]) * receptive, int(shape[0]) * receptive


def gate_blocks(module: nn.Module, param_name: str) -> int:
    """How many independent blocks a parameter stacks along dim 0 (LSTM gates, q/k/v of attention)."""
    local = param_name.rsplit(".", 1)[-1]
    if isinstance(module, nn.RNNBase) and (local.startswith("weight_ih") or local.startswith("weight_hh")):
        return {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
    if isinstance(module, nn.RNNBase) and (local.startswith("bias_ih") or local.startswith("bias_hh")):
        return {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
    if isinstance(module, nn.MultiheadAttention) and local in ("in_proj_weight", "in_proj_bias"):
        return 3
    return 1


def _is_hf_conv1d(module: nn.Module) -> bool:
    # Hugging Face's GPT-2 Conv1D stores its weight as (in, out); matched by name to keep transformers optional.
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")


def compute_fans(
    tensor_or_param: torch.Tensor, module: nn.Module | None = None, param_name: str = "weight"
) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight, using the owning ``module`` when given.

    Args:
        tensor_or_param: the weight (a tensor or parameter; meta tensors work, only the shape is read).
        module: the module that owns the weight. Without it the torch shape convention is used, which is
            wrong for grouped and transposed convolutions, embeddings and stacked gate matrices.
        param_name: the parameter's local name inside ``module`` (``weight_hh_l0``, ``in_proj_weight``, ...).

    For stacked parameters (LSTM/GRU gates, attention ``in_proj_weight``) the fans are those of ONE block,
    since each block is a separate linear map.

    >>> compute_fans(torch.empty(20, 10))
    (10, 20)
    >>> compute_fans(nn.Conv2d(8, 16, 3, groups=4).weight, nn.Conv2d(8, 16, 3, groups=4))
    (18, 36)
    """
    shape = tensor_or_param.shape
    local = param_name.rsplit(".", 1)[-1]
    if module is None:
        return _shape_fans(shape)
    if isinstance(module, nn.Embedding | nn.EmbeddingBag):
        return 1, int(shape[1])
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        groups = int(module.groups)
        kernel = [int(k) for k in shape[2:]]
        stride = [int(s) for s in module.stride]
        taps = math.prod(k / s for k, s in zip(kernel, stride, strict=False))
        fan_in = max(1, round(int(shape[0]) // groups * taps))
        return fan_in, int(shape[1]) * math.prod(kernel)
    if isinstance(module, nn.modules.conv._ConvNd):
        groups = int(module.groups)
        receptive = math.prod(int(k) for k in shape[2:])
        return int(shape[1]) * receptive, int(shape[0]) // groups * receptive
    if _is_hf_conv1d(module):
        return int(shape[0]), int(shape[1])
    blocks = gate_blocks(module, local)
    if blocks > 1 and len(shape) == 2:
        return int(shape[1]), int(shape[0]) // blocks
    return _shape_fans(shape)
