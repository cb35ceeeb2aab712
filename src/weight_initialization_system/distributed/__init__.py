"""Initialization at scale: meta-device materialization, sharded (DTensor/FSDP2) init, streamed checkpoints.

Values come from the shard-addressable keyed streams of :mod:`weight_initialization_system.schemes.seeding`:
element ``i`` of parameter ``P`` depends only on (seed, ``P``'s name, ``i``), so a model initialized on one
process, on a meta device, sharded over any number of ranks, or streamed to a file gets the same tensors.
"""

from ..analysis.guardrails import detect_tiled_shards
from .materialize import Recipe, materialize, plan_materialization
from .streaming import init_to_safetensors

__all__ = ["Recipe", "detect_tiled_shards", "init_to_safetensors", "materialize", "plan_materialization"]
