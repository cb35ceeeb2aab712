"""weight_initialization_system: initialize, normalize and diagnose the weights of PyTorch models."""

from .errors import WeightInitError
from .initializers import (
    calculate_gain,
    compute_fans,
    get_initializer,
    list_initializers,
)

__version__ = "0.1.0"

__all__ = [
    "WeightInitError",
    "__version__",
    "calculate_gain",
    "compute_fans",
    "get_initializer",
    "list_initializers",
]
