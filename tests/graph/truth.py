"""The ground-truth record of what a model's forward computes, written by hand from each model's source.

A :class:`Truth` names parameters and modules exactly as ``model.named_parameters()`` /
``model.named_modules()`` spell them. Every value is written from reading the model's code (see the comment
above each family in ``families.py``), never from the output of ``weight_initialization_system.graph``: these
tables are what the tracer is tested against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ACTIVATIONS",
    "EMBEDDING_ROLES",
    "NORM_POSITIONS",
    "NormPosition",
    "Truth",
    "expand",
]

#: Activations feeding an MLP's second weight layer. ``gelu`` is the exact (erf) GELU; ``gelu_tanh`` its tanh
#: approximation (HF ``gelu_new``, ``gelu_pytorch_tanh``, ``gelu_fast``); ``quick_gelu`` is ``x·σ(1.702x)``;
#: ``relu_squared`` is ``relu(x)²``; ``gated:φ`` is ``φ(gate)·up`` (SwiGLU/GeGLU).
ACTIVATIONS = frozenset({
    "relu", "gelu", "gelu_tanh", "quick_gelu", "silu", "tanh", "sigmoid", "relu_squared",
    "gated:silu", "gated:gelu", "gated:gelu_tanh",
})

#: Roles of embedding parameters. ``relative_bias`` is a learned per-head additive bias on attention logits
#: (T5 ``relative_attention_bias``, Swin ``relative_position_bias_table``); ``relative_position`` is a table of
#: relative-position *vectors* that are projected by the attention's query/key weights (DeBERTa-v2
#: ``rel_embeddings``). Patch-embedding convolutions are weight layers, not embeddings.
EMBEDDING_ROLES = frozenset({
    "token", "position", "token_type", "relative_bias", "relative_position", "class_token", "mask_token",
})

#: Where a residual block normalizes:
#:
#: - ``"pre"``: every norm of the block sits inside its residual branch(es) -- on the branch input for
#:   transformers (pre-LN), after the first conv for CNN blocks (ResNet BN, ConvNeXt LN) -- so the skip path
#:   carries the un-normalized stream;
#: - ``"post"``: a norm is applied to the sum skip + branch (post-LN: original Transformer, BERT, BART);
#: - ``"none"``: the block has no normalization.
NormPosition = Literal["pre", "post", "none"]
NORM_POSITIONS = frozenset({"pre", "post", "none"})


def expand(count: int, *patterns: str) -> list[str]:
    """``patterns`` with ``{i}`` replaced by every layer index ``0 .. count-1``, layer-major."""
    return [pattern.format(i=i) for i in range(count) for pattern in patterns]


def _frozen(names: Iterable[str]) -> frozenset[str]:
    return frozenset(names)


@dataclass(frozen=True)
class Truth:
    """What one model computes, per parameter/module name.

    Attributes:
        residual_ends: parameter names of the weight of the LAST weight layer of every residual branch: its
            output (possibly after dropout, a bias, a scalar or per-channel multiply, or a norm inside the branch)
            is added to a skip connection. Parallel blocks list both branch ends. Shortcut/projection convs on
            the skip path are not branch ends.
        norm_position: block module name -> :data:`NormPosition`.
        activation_into: weight parameter name of an MLP's second weight layer -> the activation of its input
            (one of :data:`ACTIVATIONS`).
        embeddings: embedding parameter name -> role (one of :data:`EMBEDDING_ROLES`).
        norms: normalization scale parameter name -> its neutral value (1.0 for ``x̂·w``, 0.0 for ``x̂·(1+w)``).
            Norm biases are not listed.
        attention_scale: module name of each module computing ``softmax(q·kᵀ·s)`` -> the effective ``s``
            multiplying ``q·kᵀ`` (whether applied to the logits or folded into ``q`` first).
        readout: name of the weight of the final layer producing the logits, spelled under the readout module
            (``lm_head.weight``) even when tied -- then it is only in ``named_parameters(remove_duplicate=False)``;
            ``None`` when the model has no readout layer.
        tied_to: the embedding parameter sharing storage with ``readout``, spelled as deduplicated
            ``named_parameters()`` lists it; ``None`` when untied.
        expert_banks: stacked (3-D) expert weights and the router weight of mixture-of-experts layers.
        recurrent: hidden-to-hidden recurrent weights (``W_hh``).
        meaningful_biases: parameters whose *value* sets behaviour and must not be zeroed or re-drawn by a generic
            init -> a one-line reason.
        scale_invariant: weights whose output only feeds a normalization (so their overall scale does not change
            the forward in training mode; biases are ignored, as for a conv followed by BatchNorm).
    """

    residual_ends: frozenset[str] = frozenset()
    norm_position: Mapping[str, NormPosition] = field(default_factory=dict)
    activation_into: Mapping[str, str] = field(default_factory=dict)
    embeddings: Mapping[str, str] = field(default_factory=dict)
    norms: Mapping[str, float] = field(default_factory=dict)
    attention_scale: Mapping[str, float] = field(default_factory=dict)
    readout: str | None = None
    tied_to: str | None = None
    expert_banks: frozenset[str] = frozenset()
    recurrent: frozenset[str] = frozenset()
    meaningful_biases: Mapping[str, str] = field(default_factory=dict)
    scale_invariant: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in ("residual_ends", "expert_banks", "recurrent", "scale_invariant"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        checks = (
            ("norm_position", self.norm_position.values(), NORM_POSITIONS),
            ("activation_into", self.activation_into.values(), ACTIVATIONS),
            ("embeddings", self.embeddings.values(), EMBEDDING_ROLES),
        )
        for argument, values, allowed in checks:
            unknown = sorted(set(values) - allowed)
            if unknown:
                raise ValueError(f"Truth.{argument} has unknown values {unknown}. Allowed: {sorted(allowed)}")
        if self.tied_to is not None and self.readout is None:
            raise ValueError(f"Truth.tied_to={self.tied_to!r} needs a readout")

    def parameter_names(self) -> dict[str, set[str]]:
        """Field name -> the parameter names it mentions (for existence checks)."""
        return {
            "residual_ends": set(self.residual_ends),
            "activation_into": set(self.activation_into),
            "embeddings": set(self.embeddings),
            "norms": set(self.norms),
            "expert_banks": set(self.expert_banks),
            "recurrent": set(self.recurrent),
            "meaningful_biases": set(self.meaningful_biases),
            "scale_invariant": set(self.scale_invariant),
        }

    def module_names(self) -> dict[str, set[str]]:
        """Field name -> the module names it mentions (for existence checks)."""
        return {"norm_position": set(self.norm_position), "attention_scale": set(self.attention_scale)}
