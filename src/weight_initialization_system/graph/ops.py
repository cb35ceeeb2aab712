"""What one torch call computes, as the recorder sees it: the vocabulary of the traced graph.

Every call that touches the signal becomes a node of one *kind*:

============  ==========================================================================================
kind          calls
============  ==========================================================================================
weight        a parameter applied as a linear map: ``linear``, ``conv*``, ``conv_transpose*``,
              ``embedding``, ``addmm`` (HF ``Conv1D``), ``matmul``/``bmm``/``einsum`` with a parameter
              operand (expert banks), ``multi_head_attention_forward``, ``lstm``/``gru``/``rnn_*``
act           an elementwise nonlinearity (``relu``, ``gelu``, ``silu``, ``tanh``, ...)
norm          ``layer_norm``, ``rms_norm``, ``group_norm``, ``batch_norm``, ``instance_norm``
add           a sum of two or more signal tensors (residual additions, rotary embeddings)
mul           a product of two signal tensors (gates: ``silu(gate) * up``)
shift         the signal plus a constant, a scalar or a parameter (a bias added by hand, a mask)
scale         the signal times a constant, a scalar or a parameter (layer scale, ``* self.scaling``)
matmul        a product of two signal tensors by ``matmul`` (attention scores, ``probs @ v``)
softmax       ``softmax``/``log_softmax``
sdpa          ``scaled_dot_product_attention``
merge         ``cat``/``stack``/``index_add`` (pieces of the signal put together: MoE outputs)
transparent   reshapes, dropout, pooling, padding, dtype casts, indexing
other         anything else
============  ==========================================================================================
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["ACTIVATION_FUNCTIONS", "NORM_FUNCTIONS", "call_kind", "method_name"]

_ActFn = Callable[[tuple[Any, ...], dict[str, Any]], tuple[str, float | None]]


def _kw(args: tuple[Any, ...], kwargs: dict[str, Any], pos: int, key: str) -> Any:
    if key in kwargs:
        return kwargs[key]
    return args[pos] if len(args) > pos else None


def _leaky(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, float | None]:
    slope = _kw(args, kwargs, 1, "negative_slope")
    return "leaky_relu", 0.01 if slope is None else float(slope)


def _gelu(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, float | None]:
    return "gelu", 1.0 if kwargs.get("approximate") == "tanh" else None


def _alpha(name: str) -> _ActFn:
    def get(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, float | None]:
        alpha = _kw(args, kwargs, 1, "beta" if name == "softplus" else "alpha")
        return name, None if alpha is None or isinstance(alpha, torch.Tensor) else float(alpha)

    return get


def _plain(name: str) -> _ActFn:
    return lambda args, kwargs: (name, None)


#: Functional activations (and tensor methods of the same name) with the ``(name, param)`` they compute; a
#: name from :data:`~weight_initialization_system.initializers.GAINS`.
ACTIVATION_FUNCTIONS: dict[Any, _ActFn] = {
    F.relu: _plain("relu"), F.relu_: _plain("relu"), torch.relu: _plain("relu"), torch.relu_: _plain("relu"),
    F.relu6: _plain("relu"), F.leaky_relu: _leaky, F.leaky_relu_: _leaky, F.prelu: _plain("leaky_relu"),
    torch.tanh: _plain("tanh"), F.tanh: _plain("tanh"), torch.sigmoid: _plain("sigmoid"),
    F.sigmoid: _plain("sigmoid"), F.gelu: _gelu, F.silu: _plain("silu"), F.mish: _plain("mish"),
    F.elu: _alpha("elu"), F.celu: _alpha("celu"), F.selu: _plain("selu"), torch.selu: _plain("selu"),
    F.softplus: _alpha("softplus"), F.hardswish: _plain("hardswish"), F.hardtanh: _plain("hardtanh"),
    F.softsign: _plain("softsign"), F.hardsigmoid: _plain("hardsigmoid"),
    torch.Tensor.relu: _plain("relu"), torch.Tensor.relu_: _plain("relu"), torch.Tensor.tanh: _plain("tanh"),
    torch.Tensor.tanh_: _plain("tanh"), torch.Tensor.sigmoid: _plain("sigmoid"),
    torch.Tensor.sigmoid_: _plain("sigmoid"),
}

NORM_FUNCTIONS: dict[Any, tuple[int, int]] = {
    # function -> positions of (weight, bias) in its arguments
    F.layer_norm: (2, 3), F.rms_norm: (2, -1), F.group_norm: (2, 3), F.batch_norm: (3, 4),
    F.instance_norm: (3, 4), torch.layer_norm: (2, 3), torch.group_norm: (2, 3), torch.batch_norm: (1, 2),
    torch.instance_norm: (1, 2), torch.rms_norm: (2, -1),
}

_WEIGHT_FUNCTIONS: dict[Any, str] = {
    F.linear: "linear", F.bilinear: "linear", torch.addmm: "linear_t", torch.Tensor.addmm: "linear_t",
    F.conv1d: "conv", F.conv2d: "conv", F.conv3d: "conv", torch.conv1d: "conv", torch.conv2d: "conv",
    torch.conv3d: "conv", F.conv_transpose1d: "conv_transpose", F.conv_transpose2d: "conv_transpose",
    F.conv_transpose3d: "conv_transpose", torch.conv_transpose1d: "conv_transpose",
    torch.conv_transpose2d: "conv_transpose", torch.conv_transpose3d: "conv_transpose",
    F.embedding: "embedding", torch.embedding: "embedding", F.embedding_bag: "embedding",
    F.multi_head_attention_forward: "attention",
}

_MATMUL_FUNCTIONS: set[Any] = {
    torch.matmul, torch.Tensor.matmul, torch.mm, torch.Tensor.mm, torch.bmm, torch.Tensor.bmm, torch.einsum,
    torch.baddbmm, torch.Tensor.__matmul__, torch.Tensor.__rmatmul__, operator.matmul,
}

_BANK_NAMES = {"_grouped_mm", "grouped_mm"}

_RECURRENT_NAMES = {"lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell",
                    "rnn_relu_cell"}

_ADD_FUNCTIONS: set[Any] = {torch.add, torch.Tensor.add, torch.Tensor.add_, torch.Tensor.__add__,
                            torch.Tensor.__iadd__, torch.Tensor.__radd__, operator.add, torch.sub,
                            torch.Tensor.sub, torch.Tensor.sub_, torch.Tensor.__sub__, torch.Tensor.__isub__,
                            torch.Tensor.__rsub__}
_MUL_FUNCTIONS: set[Any] = {torch.mul, torch.Tensor.mul, torch.Tensor.mul_, torch.Tensor.__mul__,
                            torch.Tensor.__rmul__, torch.Tensor.__imul__, torch.div, torch.Tensor.div,
                            torch.Tensor.div_, torch.Tensor.__truediv__, torch.Tensor.__itruediv__,
                            operator.mul, operator.truediv}
_SOFTMAX_FUNCTIONS: set[Any] = {F.softmax, torch.softmax, torch.Tensor.softmax, F.log_softmax,
                                torch.log_softmax, torch.Tensor.log_softmax}
_MERGE_FUNCTIONS: set[Any] = {torch.cat, torch.stack, torch.concat, torch.concatenate, torch.Tensor.index_add_,
                               torch.Tensor.index_add, torch.index_add, torch.Tensor.scatter_add_,
                               torch.Tensor.scatter_add, torch.scatter_add, torch.Tensor.index_copy_}

_TRANSPARENT_NAMES: set[str] = {
    "view", "reshape", "flatten", "permute", "transpose", "contiguous", "squeeze", "unsqueeze", "chunk",
    "split", "expand", "expand_as", "view_as", "clone", "to", "float", "half", "bfloat16", "double",
    "type_as", "__getitem__", "unflatten", "repeat", "narrow", "t", "movedim", "swapaxes", "unbind",
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "max_pool1d",
    "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "adaptive_max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices", "pad", "interpolate",
    "pixel_shuffle", "pixel_unshuffle", "roll", "repeat_interleave", "tensor_split", "contiguous_",
    "index_select", "gather", "masked_fill", "masked_fill_", "flip", "__neg__", "neg", "type", "detach",
    "mean", "sum", "zero_pad2d", "channel_shuffle", "native_channel_shuffle",
}


def method_name(func: Any) -> str:
    """The function's (or tensor method's) ``__name__``, without leading/trailing underscores of in-place ops."""
    return str(getattr(func, "__name__", ""))


def call_kind(func: Any, n_signal: int, has_weight: bool) -> tuple[str, str]:
    """``(kind, detail)`` of one call with ``n_signal`` signal operands and a parameter operand of ≥ 2 dims.

    ``detail`` is the weight operation (``linear``, ``conv``, ``embedding``, ...), the normalization or the
    function's name.
    """
    name = method_name(func)
    if func in _WEIGHT_FUNCTIONS:
        return "weight", _WEIGHT_FUNCTIONS[func]
    if name in _RECURRENT_NAMES:
        return "weight", "recurrent"
    if name in _BANK_NAMES:
        return ("weight", "bank") if has_weight else ("matmul", name)
    if func in _MATMUL_FUNCTIONS:
        if has_weight:
            return "weight", "matmul"
        return ("matmul", name) if n_signal >= 2 else ("other", name)
    if func in ACTIVATION_FUNCTIONS:
        return "act", name
    if func in NORM_FUNCTIONS:
        return "norm", name
    if func in _ADD_FUNCTIONS:
        return ("add", name) if n_signal >= 2 else ("shift", name)
    if func in _MUL_FUNCTIONS:
        return ("mul", name) if n_signal >= 2 else ("scale", name)
    if func in _SOFTMAX_FUNCTIONS:
        return "softmax", name
    if func is F.scaled_dot_product_attention:
        return "sdpa", name
    if func in _MERGE_FUNCTIONS:
        return "merge", name
    if name.rstrip("_") in _TRANSPARENT_NAMES or name in _TRANSPARENT_NAMES:
        return "transparent", name
    return "other", name
