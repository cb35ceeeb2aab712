"""Diagnostics of a model's initialization: topology, weight statistics, quality score, signal propagation."""

from .topology import LayerInfo, activation_of_module, is_weight_layer, trace_topology, weight_params

__all__ = ["LayerInfo", "activation_of_module", "is_weight_layer", "trace_topology", "weight_params"]
