"""Plumbing shared by the schemes: run a per-parameter rule through the walker's atomic ``apply_decisions``."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..initializers import BoundInitializer, get_initializer
from .result import InitResult
from .walker import Decision, ParamSite, apply_decisions, select_sites

__all__ = [
    "Rule",
    "chunk_scaled_",
    "constant",
    "normal",
    "run_rule",
    "weight_decision",
]

#: A scheme's rule: a :class:`Decision` for a parameter, or a reason (``str``) to leave it alone.
Rule = Callable[[ParamSite], Decision | str]


def run_rule(model: nn.Module, method: str, rule: Rule, *, seed: int | None) -> InitResult:
    """Apply ``rule`` to every trainable parameter of ``model`` and write the decisions all or nothing."""
    sites, skipped, tied = select_sites(model)
    decisions: list[tuple[ParamSite, Decision]] = []
    for site in sites:
        outcome = rule(site)
        if isinstance(outcome, Decision):
            decisions.append((site, outcome))
        else:
            skipped[site.name] = outcome
    return apply_decisions(model, method, decisions, seed=seed, skipped=skipped, tied=tied)


def weight_decision(site: ParamSite, init: BoundInitializer, reason: str) -> Decision:
    """A decision that keeps the site's fans and gate blocks (and an embedding's zero padding row)."""
    extra = {}
    if site.kind == "embedding":
        extra["padding_idx"] = getattr(site.module, "padding_idx", None)
    return Decision(init, reason, site.fans, site.blocks, extra)


def normal(std: float, *, truncated: bool = False) -> BoundInitializer:
    """``N(0, std²)``, or truncated at ±2σ (TensorFlow's ``truncated_normal``, as in BERT)."""
    if truncated:
        return get_initializer("trunc_normal", mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)
    return get_initializer("normal", mean=0.0, std=std)


def constant(value: float) -> BoundInitializer:
    """Zeros, ones or another constant."""
    if value == 0.0:
        return get_initializer("zeros")
    if value == 1.0:
        return get_initializer("ones")
    return get_initializer("constant", val=value)


def chunk_scaled_(
    tensor: torch.Tensor,
    initializer: str,
    scales: tuple[float, ...],
    init_kwargs: dict[str, float] | None = None,
    dim: int = 0,
    *,
    fans: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Initialize each of ``len(scales)`` chunks of a fused weight (q/k/v) separately, then scale chunk ``i``
    by ``scales[i]`` (a zero scale gives a zero block: μP's zero query).

    ``dim`` is the axis the blocks are stacked on (0 for ``nn.Linear``/``in_proj_weight``, 1 for Hugging Face's
    ``Conv1D``, which stores ``(in, out)``); ``fans`` are the fans of one block.
    """
    init = get_initializer(initializer, **(init_kwargs or {}))
    with torch.no_grad():
        for chunk, scale in zip(tensor.chunk(len(scales), dim), scales, strict=True):
            block = torch.empty_like(chunk)
            init(block, fans=fans, generator=generator)
            chunk.copy_(block.mul_(scale))
    return tensor
