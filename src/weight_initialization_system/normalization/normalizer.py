"""``WeightNormalizer``: the seed's class, thin static wrappers over the functions of this package."""

from __future__ import annotations

from torch import nn

from ._select import Patterns
from .apply import NormalizationReport, NormKind, apply_normalization
from .parametrizations import orthogonal, remove_normalization, spectral_norm, weight_norm

__all__ = ["WeightNormalizer"]


class WeightNormalizer:
    """Weight normalization techniques (the seed's API). Every method is the function of the same name.

    >>> model = nn.Sequential(nn.Linear(100, 200), nn.ReLU(), nn.Linear(200, 100))
    >>> _ = WeightNormalizer.apply_normalization(model, "weight_norm")
    >>> _ = WeightNormalizer.weight_norm(model[0], "weight")  # idempotent: no second parametrization
    >>> len(model[0].parametrizations.weight)
    1
    """

    @staticmethod
    def weight_norm(module: nn.Module, name: str = "weight", dim: int | None = 0) -> nn.Module:
        """See :func:`~weight_initialization_system.normalization.weight_norm`."""
        return weight_norm(module, name, dim)

    @staticmethod
    def spectral_norm(module: nn.Module, name: str = "weight", n_power_iterations: int = 1) -> nn.Module:
        """See :func:`~weight_initialization_system.normalization.spectral_norm`."""
        return spectral_norm(module, name, n_power_iterations)

    @staticmethod
    def orthogonal(module: nn.Module, name: str = "weight") -> nn.Module:
        """See :func:`~weight_initialization_system.normalization.orthogonal`."""
        return orthogonal(module, name)

    @staticmethod
    def apply_normalization(
        model: nn.Module, kind: NormKind, *, include: Patterns = None, exclude: Patterns = None
    ) -> NormalizationReport:
        """See :func:`~weight_initialization_system.normalization.apply_normalization`."""
        return apply_normalization(model, kind, include=include, exclude=exclude)

    @staticmethod
    def remove_normalization(model: nn.Module) -> list[str]:
        """See :func:`~weight_initialization_system.normalization.remove_normalization`."""
        return remove_normalization(model)
