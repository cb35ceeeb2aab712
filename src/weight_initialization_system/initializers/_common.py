"""Shared plumbing for the functional initializers: argument checks and the no-grad/meta/empty guard."""

from __future__ import annotations

import difflib
import functools
import logging
import math
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Concatenate, ParamSpec, TypeVar

import torch

from ..errors import WeightInitError

__all__ = [
    "bound", "check_choice", "check_module", "closest_match", "finite", "initializer", "integer", "is_dtensor",
    "needs_ndim",
    "positive",
]

logger = logging.getLogger("weight_initialization_system")

P = ParamSpec("P")
R = TypeVar("R")


def closest_match(value: str, choices: Iterable[str]) -> str | None:
    """Return the choice closest to ``value`` (difflib ratio), or ``None`` when nothing is close."""
    found = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    return found[0] if found else None


def check_choice(argument: str, value: object, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices``; raise a ``WeightInitError`` listing them otherwise."""
    options = list(choices)
    if isinstance(value, str) and value in options:
        return value
    hint = closest_match(value, options) if isinstance(value, str) else None
    did_you_mean = f" Did you mean {hint!r}?" if hint else ""
    raise WeightInitError(
        f"Argument `{argument}` must be one of {', '.join(map(repr, options))}. "
        f"Received: {argument}={value!r}.{did_you_mean}"
    )


def positive(argument: str, value: float, *, allow_zero: bool = False) -> float:
    """Check that a number is positive (or non-negative) and finite."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = is_number and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = "non-negative" if allow_zero else "positive"
        raise WeightInitError(f"Argument `{argument}` must be a {bound} number. Received: {argument}={value!r}")
    return float(value)


def is_dtensor(tensor: object) -> bool:
    """Whether ``tensor`` is a ``torch.distributed.tensor.DTensor``, without importing that module.

    A DTensor can only exist once ``torch.distributed.tensor`` has been imported (by the user, FSDP2 or
    ``distribute_tensor``), so while it is not in ``sys.modules`` nothing is one. Importing it to find out
    costs ~0.5 s (it pulls in sympy) in every process, for models that have no mesh.
    """
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(tensor, module.DTensor)


def check_module(argument: str, value: object) -> None:
    """Raise unless ``value`` is a ``torch.nn.Module``; the message names ``argument``."""
    if not isinstance(value, torch.nn.Module):
        raise WeightInitError(f"Argument `{argument}` must be a torch.nn.Module. Received: {type(value).__name__}")


def finite(argument: str, value: float) -> float:
    """Check that a number is finite (any sign)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise WeightInitError(f"Argument `{argument}` must be a finite number. Received: {argument}={value!r}")
    return float(value)


def bound(argument: str, value: float) -> float:
    """Check that a bound is a number and not NaN; ``±inf`` is allowed (an open side)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        raise WeightInitError(
            f"Argument `{argument}` must be a number (±inf allowed). Received: {argument}={value!r}"
        )
    return float(value)


def integer(argument: str, value: int, *, minimum: int = 1) -> int:
    """Check that ``value`` is an integer (not a bool) of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        need = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise WeightInitError(f"Argument `{argument}` must be {need}. Received: {argument}={value!r}")
    return value


def needs_ndim(tensor: torch.Tensor, name: str, low: int, high: int | None = None) -> None:
    """Raise when ``tensor.dim()`` is outside ``[low, high]``."""
    if tensor.dim() < low or (high is not None and tensor.dim() > high):
        expected = f"{low}" if high == low else f"at least {low}" if high is None else f"{low} to {high}"
        raise WeightInitError(
            f"{name} needs a tensor with {expected} dimensions. Received: tensor of shape {tuple(tensor.shape)}"
        )


def initializer(
    fn: Callable[Concatenate[torch.Tensor, P], torch.Tensor],
) -> Callable[Concatenate[torch.Tensor, P], torch.Tensor]:
    """Wrap an in-place initializer: type check, no_grad, meta tensors untouched, empty tensors warn.

    Meta tensors have no storage: they are returned as they are, so that a model built on the meta device can
    be planned before it is materialized.
    """

    @functools.wraps(fn)
    def wrapper(tensor: torch.Tensor, *args: P.args, **kwargs: P.kwargs) -> torch.Tensor:
        if not isinstance(tensor, torch.Tensor):
            raise WeightInitError(
                f"{fn.__name__} expects a torch.Tensor as `tensor`. Received: {type(tensor).__name__}"
            )
        if not (tensor.is_floating_point() or tensor.is_complex()):
            raise WeightInitError(
                f"{fn.__name__} expects a floating-point tensor. Received: dtype={tensor.dtype}"
            )
        if tensor.is_meta:
            return tensor
        if tensor.numel() == 0:
            warnings.warn(f"{fn.__name__}: initializing a zero-element tensor is a no-op", stacklevel=2)
            return tensor
        with torch.no_grad():
            return fn(tensor, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
