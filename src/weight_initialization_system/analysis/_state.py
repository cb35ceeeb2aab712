"""Run a forward/backward on a model, or only read it, and leave it exactly as it was."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import torch
from torch import nn

from .._rollback import snapshot

__all__ = ["preserved_state", "read_only", "untouched"]

P = ParamSpec("P")
R = TypeVar("R")


def _cuda_devices(model: nn.Module) -> list[int]:
    return sorted({t.device.index or 0 for t in (*model.parameters(), *model.buffers()) if t.device.type == "cuda"})


@contextlib.contextmanager
def preserved_state(model: nn.Module) -> Iterator[None]:
    """Restore buffer values (BatchNorm running statistics), parameter values, the RNG state, grad mode and
    every module's train/eval flag on exit, even on error. Gradients are never accumulated into ``.grad`` by
    the analyses (they use :func:`torch.autograd.grad`), so ``.grad`` is left alone."""
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    params = [(p, p.detach().clone()) for p in model.parameters()]
    modes = [(m, m.training) for m in model.modules()]
    grad_mode = torch.is_grad_enabled()
    try:
        with torch.random.fork_rng(devices=_cuda_devices(model)):
            yield
    finally:
        torch.set_grad_enabled(grad_mode)
        with torch.no_grad():
            for t, saved in buffers + params:
                if t.shape == saved.shape:
                    t.copy_(saved)
        for m, training in modes:
            m.training = training


@contextlib.contextmanager
def untouched(model: nn.Module) -> Iterator[None]:
    """For analyses that read a model: restore its buffers, every module's train/eval flag and torch's RNG
    state on exit, even on error, without copying the parameters.

    Reading is not always free of side effects: the effective weight of a spectral norm in training mode runs a
    power-iteration step that updates its ``_u``/``_v`` buffers, and symbolic tracing runs the parts of
    ``forward`` that do not depend on the input, ``torch.randn(...)`` included.
    """
    restore_buffers = snapshot(model.buffers())
    modes = [(m, m.training) for m in model.modules()]
    try:
        with torch.random.fork_rng(devices=_cuda_devices(model)):
            yield
    finally:
        for m, training in modes:
            m.training = training
        restore_buffers()


def read_only(fn: Callable[P, R]) -> Callable[P, R]:
    """Run an analysis whose first argument (or ``model=``) is the model :func:`untouched`."""

    @functools.wraps(fn)
    def analysis(*args: P.args, **kwargs: P.kwargs) -> R:
        model = args[0] if args else kwargs.get("model")
        if not isinstance(model, nn.Module):
            return fn(*args, **kwargs)  # the analysis reports the bad argument itself
        with untouched(model):
            return fn(*args, **kwargs)

    return analysis
