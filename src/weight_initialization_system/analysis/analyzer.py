"""``InitializationAnalyzer``: the seed's analysis class, thin static wrappers over :mod:`.analysis`.

Every method works both on the class and on an instance, as in the seed's README::

    stats = InitializationAnalyzer.analyze_weights(model)
    quality = InitializationAnalyzer().check_initialization_quality(model, target_std=0.1, tolerance=0.5)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._state import read_only
from .dynamics import LossFn, dynamics, gradient_flow, signal_propagation
from .jacobian import jacobian_spectrum
from .quality import check_initialization_quality
from .recommend import Recommendation, recommend
from .statistics import analyze_weights
from .topology import LayerInfo, trace_topology

__all__ = ["InitializationAnalyzer"]


class InitializationAnalyzer:
    """Diagnostics of a model's initialization; every method returns plain data and never prints."""

    @staticmethod
    def analyze_weights(model: nn.Module, *, spectral: bool = True, lanczos_steps: int = 12,
                        seed: int = 0) -> dict[str, dict[str, float]]:
        """Per-parameter statistics; see :func:`~weight_initialization_system.analysis.analyze_weights`."""
        return analyze_weights(model, spectral=spectral, lanczos_steps=lanczos_steps, seed=seed)

    @staticmethod
    def check_initialization_quality(model: nn.Module, target_std: float | None = None, tolerance: float = 1.0,
                                     ) -> dict[str, Any]:
        """Signal-propagation quality score; see :func:`~.check_initialization_quality`."""
        return check_initialization_quality(model, target_std, tolerance)

    @staticmethod
    def signal_propagation(model: nn.Module, inputs: Any) -> dict[str, Any]:
        """Forward statistics per layer and a diagnosis; see :func:`~.signal_propagation`."""
        return signal_propagation(model, inputs)

    @staticmethod
    def gradient_flow(model: nn.Module, inputs: Any, targets: torch.Tensor | None = None,
                      loss_fn: LossFn | None = None) -> dict[str, Any]:
        """The notebook's gradient-flow analysis plus a scale-free score; see :func:`~.gradient_flow`."""
        return gradient_flow(model, inputs, targets, loss_fn)

    @staticmethod
    def dynamics(model: nn.Module, inputs: Any, targets: torch.Tensor | None = None,
                 loss_fn: LossFn | None = None) -> dict[str, Any]:
        """Signal propagation and gradient flow from one forward and backward pass."""
        return dynamics(model, inputs, targets, loss_fn)

    @staticmethod
    def jacobian_spectrum(model: nn.Module, inputs: torch.Tensor, k: int = 16, *, probes: int = 2
                          ) -> dict[str, Any]:
        """Input–output Jacobian singular values and isometry summary; see :func:`~.jacobian_spectrum`."""
        return jacobian_spectrum(model, inputs, k, probes=probes)

    @staticmethod
    def recommend(model: nn.Module, sample: Any | None = None) -> dict[str, Recommendation]:
        """Per layer, the initializer we advise and why; see :func:`~.recommend`."""
        return recommend(model, sample)

    @staticmethod
    @read_only
    def topology(model: nn.Module, sample: Any | None = None) -> dict[str, LayerInfo]:
        """Per weight layer, its input/output nonlinearity, depth and residual position."""
        return trace_topology(model, sample)
