"""Run a forward/backward on a model and leave it exactly as it was."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["preserved_state"]


@contextlib.contextmanager
def preserved_state(model: nn.Module) -> Iterator[None]:
    """Restore buffer values (BatchNorm running statistics), parameter values, the RNG state, grad mode and
    every module's train/eval flag on exit, even on error. Gradients are never accumulated into ``.grad`` by
    the analyses (they use :func:`torch.autograd.grad`), so ``.grad`` is left alone."""
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    params = [(p, p.detach().clone()) for p in model.parameters()]
    modes = [(m, m.training) for m in model.modules()]
    devices = sorted({t.device.index or 0 for t, _ in buffers + params if t.device.type == "cuda"})
    grad_mode = torch.is_grad_enabled()
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        torch.set_grad_enabled(grad_mode)
        with torch.no_grad():
            for t, saved in buffers + params:
                if t.shape == saved.shape:
                    t.copy_(saved)
        for m, training in modes:
            m.training = training
