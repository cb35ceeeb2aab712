"""One registry from names to initializers: ``get_initializer("he_normal", nonlinearity="relu")``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import WeightInitError
from ._common import closest_match
from .basic import constant_, dirac_, eye_, normal_, ones_, trunc_normal_, uniform_, zeros_
from .structured import delta_orthogonal_, orthogonal_, sparse_
from .variance import (
    kaiming_normal_,
    kaiming_uniform_,
    lecun_normal_,
    lecun_uniform_,
    variance_scaling_,
    xavier_normal_,
    xavier_uniform_,
)

__all__ = [
    "BoundInitializer",
    "InitFn",
    "InitializerSpec",
    "get_initializer",
    "get_spec",
    "list_initializers",
    "register_initializer",
    "resolve_name",
]

InitFn = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class InitializerSpec:
    """What the model-level code needs to know about an initializer.

    Attributes:
        name: the canonical registry name (no trailing underscore).
        fn: the in-place function ``fn(tensor, **kwargs, generator=None)``.
        uses_fans: whether ``fn`` takes ``fans=(fan_in, fan_out)`` (variance-scaling family).
        min_ndim: the fewest tensor dimensions it accepts.
        max_ndim: the most (``None``: no limit).
        random: whether it draws random numbers (needs a generator to be reproducible).
    """

    name: str
    fn: InitFn
    uses_fans: bool = False
    min_ndim: int = 0
    max_ndim: int | None = None
    random: bool = True

    @property
    def summary(self) -> str:
        """The first paragraph of the initializer's docstring, on one line."""
        return " ".join((inspect.getdoc(self.fn) or "").split("\n\n", 1)[0].split())

    def arguments(self) -> list[str]:
        """The keyword arguments a user may set (everything but the tensor, fans and generator)."""
        params = list(inspect.signature(self.fn).parameters.values())[1:]
        return [p.name for p in params if p.name not in ("fans", "generator")]

    def supports_ndim(self, ndim: int) -> bool:
        """Whether a tensor of ``ndim`` dimensions is accepted."""
        return ndim >= self.min_ndim and (self.max_ndim is None or ndim <= self.max_ndim)


@dataclass(frozen=True)
class BoundInitializer:
    """An initializer with its arguments bound; call it as ``init(tensor, fans=None, generator=None)``."""

    spec: InitializerSpec
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def __call__(
        self,
        tensor: torch.Tensor,
        *,
        fans: tuple[int, int] | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        extra: dict[str, Any] = {}
        if self.spec.uses_fans and fans is not None:
            extra["fans"] = fans
        if self.spec.random:
            extra["generator"] = generator
        return self.spec.fn(tensor, **self.kwargs, **extra)


_REGISTRY: dict[str, InitializerSpec] = {}
_ALIASES: dict[str, str] = {
    "glorot_uniform": "xavier_uniform",
    "glorot_normal": "xavier_normal",
    "he_uniform": "kaiming_uniform",
    "he_normal": "kaiming_normal",
    "truncated_normal": "trunc_normal",
    "identity": "eye",
    "zero": "zeros",
    "one": "ones",
}


def register_initializer(
    name: str,
    fn: InitFn,
    *,
    uses_fans: bool = False,
    min_ndim: int = 0,
    max_ndim: int | None = None,
    random: bool = True,
) -> InitializerSpec:
    """Add an initializer to the registry (``fn(tensor, ..., generator=None)``, in place, returns the tensor)."""
    if not name or not name.isidentifier():
        raise WeightInitError(f"Argument `name` must be an identifier. Received: name={name!r}")
    spec = InitializerSpec(name, fn, uses_fans, min_ndim, max_ndim, random)
    _REGISTRY[name] = spec
    return spec


for _name, _fn, _fans, _lo, _hi, _random in (
    ("uniform", uniform_, False, 0, None, True),
    ("normal", normal_, False, 0, None, True),
    ("trunc_normal", trunc_normal_, False, 0, None, True),
    ("constant", constant_, False, 0, None, False),
    ("zeros", zeros_, False, 0, None, False),
    ("ones", ones_, False, 0, None, False),
    ("eye", eye_, False, 2, 2, False),
    ("dirac", dirac_, False, 3, 5, False),
    ("xavier_uniform", xavier_uniform_, True, 2, None, True),
    ("xavier_normal", xavier_normal_, True, 2, None, True),
    ("kaiming_uniform", kaiming_uniform_, True, 2, None, True),
    ("kaiming_normal", kaiming_normal_, True, 2, None, True),
    ("lecun_uniform", lecun_uniform_, True, 2, None, True),
    ("lecun_normal", lecun_normal_, True, 2, None, True),
    ("variance_scaling", variance_scaling_, True, 2, None, True),
    ("orthogonal", orthogonal_, False, 2, None, True),
    ("delta_orthogonal", delta_orthogonal_, False, 3, 5, True),
    ("sparse", sparse_, False, 2, None, True),
):
    register_initializer(_name, _fn, uses_fans=_fans, min_ndim=_lo, max_ndim=_hi, random=_random)


def list_initializers(*, aliases: bool = False) -> list[str]:
    """The registered initializer names, sorted (with their aliases when ``aliases=True``)."""
    names = set(_REGISTRY) | (set(_ALIASES) if aliases else set())
    return sorted(names)


def resolve_name(name: str) -> str:
    """Map a name or alias (a trailing ``_`` is allowed: ``"xavier_uniform_"``) to its canonical name.

    Raises:
        WeightInitError: for an unknown name, naming the closest match and listing the valid names.
    """
    if not isinstance(name, str):
        raise WeightInitError(f"Argument `name` must be a string. Received: name={name!r}")
    key = name.strip().lower().removesuffix("_")
    key = _ALIASES.get(key, key)
    if key in _REGISTRY:
        return key
    hint = closest_match(key, list_initializers(aliases=True))
    did_you_mean = f" Did you mean {hint!r}?" if hint else ""
    raise WeightInitError(
        f"Unknown initializer {name!r}.{did_you_mean} Available: {', '.join(list_initializers(aliases=True))}"
    )


def get_spec(name: str) -> InitializerSpec:
    """The :class:`InitializerSpec` registered under ``name`` or an alias of it."""
    return _REGISTRY[resolve_name(name)]


def get_initializer(name: str | InitFn, **kwargs: Any) -> BoundInitializer:
    """Return the initializer ``name`` with ``kwargs`` bound, checked against its signature.

    A callable ``fn(tensor, ..., generator=None)`` is accepted in place of a name.

    >>> init = get_initializer("he_normal", nonlinearity="relu")
    >>> w = init(torch.empty(64, 32))
    """
    if callable(name):
        params = inspect.signature(name).parameters
        spec = InitializerSpec(
            getattr(name, "__name__", "custom").removesuffix("_"),
            name,
            uses_fans="fans" in params,
            random="generator" in params,
        )
    else:
        spec = get_spec(name)
    allowed = spec.arguments()
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        raise WeightInitError(
            f"Initializer {spec.name!r} got unexpected argument(s) {', '.join(map(repr, unknown))}. "
            f"It accepts: {', '.join(allowed) or 'no arguments'}"
        )
    return BoundInitializer(spec, dict(kwargs))
