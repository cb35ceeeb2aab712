"""Diagnostics of a model's initialization: topology, weight statistics, quality score, signal propagation,
gradient flow, Jacobian spectrum and recommendations. Everything returns plain data; nothing prints."""

from .dynamics import dynamics, gradient_flow, notebook_health_score, relative_health_score, signal_propagation
from .guardrails import detect_tiled_shards
from .jacobian import jacobian_spectrum
from .meanfield import activation_moments
from .quality import LayerGain, check_initialization_quality, layer_gains
from .recommend import Recommendation, orthogonal_shape, recommend, recommend_layer
from .statistics import STAT_KEYS, analyze_weights, spectral_norm, tensor_stats
from .topology import ChainLink, LayerInfo, layer_infos, trace_chains, trace_topology

__all__ = [
    "STAT_KEYS",
    "ChainLink",
    "LayerGain",
    "LayerInfo",
    "Recommendation",
    "activation_moments",
    "analyze_weights",
    "check_initialization_quality",
    "detect_tiled_shards",
    "dynamics",
    "gradient_flow",
    "jacobian_spectrum",
    "layer_gains",
    "layer_infos",
    "notebook_health_score",
    "orthogonal_shape",
    "recommend",
    "recommend_layer",
    "relative_health_score",
    "signal_propagation",
    "spectral_norm",
    "tensor_stats",
    "trace_chains",
    "trace_topology",
]
