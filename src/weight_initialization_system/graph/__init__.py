"""What a model computes: one traced graph that every feature asks what a layer is.

>>> from torch import nn
>>> from weight_initialization_system.graph import trace
>>> g = trace(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)))
>>> g.role("0.weight"), g.weights["2.weight"].activation.name
('weight', 'tanh')
"""

from .model import (
    Activation,
    AttentionInfo,
    EmbeddingInfo,
    ModelGraph,
    NormInfo,
    ResidualAdd,
    WeightLayer,
    module_roles,
    trace,
)
from .probe import KNOWN_ACTIVATIONS, probe_activation, probe_norm
from .sample import build_sample, call_model

__all__ = [
    "KNOWN_ACTIVATIONS",
    "Activation",
    "AttentionInfo",
    "EmbeddingInfo",
    "ModelGraph",
    "NormInfo",
    "ResidualAdd",
    "WeightLayer",
    "build_sample",
    "call_model",
    "module_roles",
    "probe_activation",
    "probe_norm",
    "trace",
]
