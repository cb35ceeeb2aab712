"""Normalization: weight / spectral / orthogonal parametrizations (torch.nn.utils.parametrizations), norm-layer
insertion, and the effective weights of parametrized modules under the names users know."""

from .apply import COVERED_LAYERS, InsertedNorm, NormalizationReport, NormKind, apply_normalization
from .parametrizations import (
    ParamNormKind,
    effective_weights,
    normalization_of,
    orthogonal,
    remove_normalization,
    spectral_norm,
    weight_norm,
    weight_norm_dim,
)

__all__ = [
    "COVERED_LAYERS",
    "InsertedNorm",
    "NormKind",
    "NormalizationReport",
    "ParamNormKind",
    "apply_normalization",
    "effective_weights",
    "normalization_of",
    "orthogonal",
    "remove_normalization",
    "spectral_norm",
    "weight_norm",
    "weight_norm_dim",
]
