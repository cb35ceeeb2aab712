"""Functional initializers in the style of :mod:`torch.nn.init`: in place, ``name_(tensor, ..., generator=None)``.

Every function runs under ``torch.no_grad()``, returns the tensor it was given, leaves meta tensors untouched
and warns on zero-element tensors. :func:`get_initializer` maps names (and aliases such as ``glorot_uniform``
or ``he_normal``) to them.
"""

from .basic import constant_, dirac_, eye_, normal_, ones_, trunc_normal_, uniform_, zeros_
from .fans import compute_fans, gate_blocks
from .gains import GAINS, calculate_gain, second_moment_gain
from .registry import (
    BoundInitializer,
    InitFn,
    InitializerSpec,
    get_initializer,
    get_spec,
    list_initializers,
    register_initializer,
    resolve_name,
)
from .structured import delta_orthogonal_, orthogonal_, random_orthogonal, sparse_
from .variance import (
    TRUNCATED_NORMAL_STD_FACTOR,
    kaiming_normal_,
    kaiming_uniform_,
    lecun_normal_,
    lecun_uniform_,
    variance_scaling_,
    variance_scaling_std,
    xavier_normal_,
    xavier_uniform_,
)

__all__ = [
    "GAINS",
    "TRUNCATED_NORMAL_STD_FACTOR",
    "BoundInitializer",
    "InitFn",
    "InitializerSpec",
    "calculate_gain",
    "compute_fans",
    "constant_",
    "delta_orthogonal_",
    "dirac_",
    "eye_",
    "gate_blocks",
    "get_initializer",
    "get_spec",
    "kaiming_normal_",
    "kaiming_uniform_",
    "lecun_normal_",
    "lecun_uniform_",
    "list_initializers",
    "normal_",
    "ones_",
    "orthogonal_",
    "random_orthogonal",
    "register_initializer",
    "resolve_name",
    "second_moment_gain",
    "sparse_",
    "trunc_normal_",
    "uniform_",
    "variance_scaling_",
    "variance_scaling_std",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]
