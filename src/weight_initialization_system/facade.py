"""The seed's class names, as thin static wrappers over the functional core and the schemes.

No logic lives here: each attribute is the library function it names, so ``WeightInitializer.xavier_uniform``
*is* :func:`~weight_initialization_system.initializers.xavier_uniform_`.
"""

from __future__ import annotations

from .initializers import (
    kaiming_normal_,
    kaiming_uniform_,
    orthogonal_,
    sparse_,
    xavier_normal_,
    xavier_uniform_,
)
from .schemes import initialize_model

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
    initialize_model = staticmethod(initialize_model)
