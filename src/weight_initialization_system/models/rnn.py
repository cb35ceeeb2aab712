"""``CustomRNNModel``: an LSTM stack (exposed as ``recurrent``) and a linear head on the last step."""

from __future__ import annotations

import torch
from torch import nn

from ._layers import positive_int

__all__ = ["CustomRNNModel"]


class CustomRNNModel(nn.Module):
    """LSTM sequence model: ``head(recurrent(x)[:, -1])``.

    The LSTM is the attribute ``recurrent``, so its weights are ``recurrent.weight_ih_l0``,
    ``recurrent.weight_hh_l0``, ... (the seed filters on ``'recurrent' in name``).

    Args:
        input_size: features per time step.
        hidden_size: LSTM hidden units.
        num_layers: stacked LSTM layers.
        output_size: outputs of the head.
        dropout: dropout between LSTM layers.
        bidirectional: run the LSTM in both directions.

    >>> model = CustomRNNModel(input_size=8, hidden_size=16)
    >>> model(torch.randn(4, 5, 8)).shape
    torch.Size([4, 10])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 2,
        output_size: int = 10,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        for argument, value in (("input_size", input_size), ("hidden_size", hidden_size),
                                ("num_layers", num_layers), ("output_size", output_size)):
            positive_int(argument, value)
        self.recurrent = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True,
                                 dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(batch, output_size)`` for sequences ``(batch, length, input_size)``."""
        out, _ = self.recurrent(x)
        result: torch.Tensor = self.head(out[:, -1])
        return result
