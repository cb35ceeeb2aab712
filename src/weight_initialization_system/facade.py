"""The seed's class names, as thin static wrappers over the functional core and the schemes.

No logic lives here: each attribute is the library function it names, so ``WeightInitializer.xavier_uniform``
*is* :func:`~weight_initialization_system.initializers.xavier_uniform_`.
"""

from __future__ import annotations

from .examples import demonstrate_weight_initialization
from .initializers import (
    kaiming_normal_,
    kaiming_uniform_,
    orthogonal_,
    sparse_,
    xavier_normal_,
    xavier_uniform_,
)
from .schemes import conv_init, initialize_model, lstm_init, transformer_init

__all__ = ["WeightInitializer"]


class WeightInitializer:
    """Core initialization methods (the seed's ``WeightInitializer``).

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
