"""Model-level public entry points given something that is not a module: a WeightInitError naming `model`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from weight_initialization_system.analysis import detect_tiled_shards, jacobian_spectrum, recommend, trace_topology
from weight_initialization_system.config import architectures_in
from weight_initialization_system.errors import WeightInitError
from weight_initialization_system.schemes import (
    auto_initialize,
    cnn_initialization,
    rnn_initialization,
    transformer_initialization,
)

ENTRY_POINTS: list[Callable[[Any], object]] = [
    transformer_initialization,
    cnn_initialization,
    rnn_initialization,
    auto_initialize,
    recommend,
    trace_topology,
    detect_tiled_shards,
    architectures_in,
    lambda model: jacobian_spectrum(model, torch.randn(2, 3)),
]


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_a_non_module_model_names_the_argument(entry_point: Callable[[Any], object]) -> None:
    with pytest.raises(WeightInitError, match=r"`model` must be a torch.nn.Module. Received: str"):
        entry_point("not a model")
