"""The seed's class names, as pure aliases over the functional core, the schemes, analysis and normalization.

No logic lives here and nothing is re-declared: each attribute is the library function it names, so
``WeightInitializer.xavier_uniform`` *is* :func:`~weight_initialization_system.initializers.xavier_uniform_`
and ``InitializationAnalyzer.check_initialization_quality`` *is*
:func:`~weight_initialization_system.analysis.check_initialization_quality`, with every argument it takes.
Every method works on the class and on an instance, as in the seed's README.
"""

from __future__ import annotations

from .analysis import (
    analyze_weights,
    check_initialization_quality,
    dynamics,
    gradient_flow,
    jacobian_spectrum,
    recommend,
    signal_propagation,
    trace_topology,
)
from .examples import demonstrate_weight_initialization
from .initializers import (
    kaiming_normal_,
    kaiming_uniform_,
    orthogonal_,
    sparse_,
    xavier_normal_,
    xavier_uniform_,
)
from .normalization import apply_normalization, orthogonal, remove_normalization, spectral_norm, weight_norm
from .schemes import (
    cnn_initialization,
    conv_init,
    initialize_model,
    lstm_init,
    rnn_initialization,
    transformer_init,
    transformer_initialization,
)

__all__ = ["CustomInitializationSchemes", "InitializationAnalyzer", "WeightInitializer", "WeightNormalizer"]


class WeightInitializer:
    """Core initialization methods (the seed's ``WeightInitializer``).

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(100, 200), torch.nn.ReLU(), torch.nn.Linear(200, 100))
    >>> result = WeightInitializer.initialize_model(model, "xavier_uniform")
    >>> w = WeightInitializer.kaiming_normal(model[2].weight)
    """

    xavier_uniform = staticmethod(xavier_uniform_)
    xavier_normal = staticmethod(xavier_normal_)
    kaiming_uniform = staticmethod(kaiming_uniform_)
    kaiming_normal = staticmethod(kaiming_normal_)
    orthogonal = staticmethod(orthogonal_)
    sparse = staticmethod(sparse_)
    lstm_init = staticmethod(lstm_init)
    transformer_init = staticmethod(transformer_init)
    conv_init = staticmethod(conv_init)
    initialize_model = staticmethod(initialize_model)
    demonstrate_weight_initialization = staticmethod(demonstrate_weight_initialization)


class InitializationAnalyzer:
    """Diagnostics of a model's initialization (the seed's ``InitializationAnalyzer``); every method returns
    plain data and never prints.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    >>> 0.0 <= InitializationAnalyzer().check_initialization_quality(net)["overall_score"] <= 1.0
    True
    """

    analyze_weights = staticmethod(analyze_weights)
    check_initialization_quality = staticmethod(check_initialization_quality)
    signal_propagation = staticmethod(signal_propagation)
    gradient_flow = staticmethod(gradient_flow)
    dynamics = staticmethod(dynamics)
    jacobian_spectrum = staticmethod(jacobian_spectrum)
    recommend = staticmethod(recommend)
    topology = staticmethod(trace_topology)


class WeightNormalizer:
    """Weight normalization techniques (the seed's ``WeightNormalizer``).

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(100, 200), torch.nn.ReLU(), torch.nn.Linear(200, 100))
    >>> _ = WeightNormalizer.apply_normalization(model, "weight_norm")
    >>> _ = WeightNormalizer.weight_norm(model[0], "weight")  # idempotent: no second parametrization
    >>> len(model[0].parametrizations.weight)
    1
    """

    weight_norm = staticmethod(weight_norm)
    spectral_norm = staticmethod(spectral_norm)
    orthogonal = staticmethod(orthogonal)
    apply_normalization = staticmethod(apply_normalization)
    remove_normalization = staticmethod(remove_normalization)


class CustomInitializationSchemes:
    """The seed's architecture-specific schemes (see the functions for the formulas)."""

    transformer_initialization = staticmethod(transformer_initialization)
    cnn_initialization = staticmethod(cnn_initialization)
    rnn_initialization = staticmethod(rnn_initialization)
