"""weight_initialization_system: initialize, normalize and diagnose the weights of PyTorch models.

>>> from weight_initialization_system import initialize_model, WeightInitializer
"""

from .errors import WeightInitError
from .facade import WeightInitializer
from .initializers import (
    calculate_gain,
    compute_fans,
    constant_,
    delta_orthogonal_,
    dirac_,
    eye_,
    get_initializer,
    kaiming_normal_,
    kaiming_uniform_,
    lecun_normal_,
    lecun_uniform_,
    list_initializers,
    normal_,
    ones_,
    orthogonal_,
    register_initializer,
    sparse_,
    trunc_normal_,
    uniform_,
    variance_scaling_,
    xavier_normal_,
    xavier_uniform_,
    zeros_,
)
from .schemes import InitResult, ParamInit, initialize_model

__version__ = "0.1.0"

__all__ = [
    "InitResult",
    "ParamInit",
    "WeightInitError",
    "WeightInitializer",
    "__version__",
    "calculate_gain",
    "compute_fans",
    "constant_",
    "delta_orthogonal_",
    "dirac_",
    "eye_",
    "get_initializer",
    "initialize_model",
    "kaiming_normal_",
    "kaiming_uniform_",
    "lecun_normal_",
    "lecun_uniform_",
    "list_initializers",
    "normal_",
    "ones_",
    "orthogonal_",
    "register_initializer",
    "sparse_",
    "trunc_normal_",
    "uniform_",
    "variance_scaling_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]
