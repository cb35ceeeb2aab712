"""Plain multilayer perceptrons: the notebook's ``mlp(784, [128, 64, 32, 16], 10)`` and deep stacks."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..errors import WeightInitError
from ._layers import Activation, make_activation, positive_int

__all__ = ["deep_mlp", "mlp"]


def mlp(
    input_dim: int,
    hidden_dims: Sequence[int],
    output_dim: int,
    activation: Activation = "relu",
    *,
    bias: bool = True,
) -> nn.Sequential:
    """``Linear → φ`` for each hidden width, then a linear output layer (logits: no softmax).

    The notebook's Keras model ``Dense(128, relu) … Dense(16, relu), Dense(10, softmax)`` is
    ``mlp(784, [128, 64, 32, 16], 10, activation="relu")`` with the softmax left to the loss.

    >>> model = mlp(784, [128, 64, 32, 16], 10, activation="tanh")
    >>> [type(m).__name__ for m in model][:3]
    ['Linear', 'Tanh', 'Linear']
    """
    positive_int("input_dim", input_dim)
    positive_int("output_dim", output_dim)
    widths = list(hidden_dims)
    if not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
        raise WeightInitError(f"Argument `hidden_dims` must be positive integers. Received: {hidden_dims!r}")
    layers: list[nn.Module] = []
    previous = input_dim
    for width in widths:
        layers += [nn.Linear(previous, width, bias=bias), make_activation(activation)]
        previous = width
    layers.append(nn.Linear(previous, output_dim, bias=bias))
    return nn.Sequential(*layers)


def deep_mlp(depth: int, width: int, activation: Activation = "relu", *, bias: bool = True) -> nn.Sequential:
    """A plain (non-residual) stack of ``depth`` square ``width × width`` linear layers with ``φ`` between them.

    The setting of signal-propagation studies (Poole et al. 2016, Schoenholz et al. 2017): the activation
    variance after ``depth`` layers is a product of per-layer factors, so only a variance-preserving
    initialization keeps it O(1).

    >>> len([m for m in deep_mlp(30, 64, "tanh") if isinstance(m, nn.Linear)])
    30
    """
    positive_int("depth", depth)
    return mlp(width, [width] * (depth - 1), width, activation, bias=bias)
