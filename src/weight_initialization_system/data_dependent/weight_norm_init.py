"""Data-dependent initialization of weight-normalized layers (Salimans & Kingma, 2016, section 3)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import WeightInitError
from ..graph import call_model
from ..initializers._common import check_module
from ..normalization import COVERED_LAYERS, normalization_of, weight_norm_dim
from ..normalization._select import Patterns, select_layers
from ._session import DataLike, calibration_session, prepare_batch

__all__ = ["LayerDataInit", "weight_norm_data_init"]

logger = logging.getLogger("weight_initialization_system")

#: Below this per-unit std a unit is treated as constant on the batch and only centred.
_MIN_STD = 1e-8


@dataclass(frozen=True)
class LayerDataInit:
    """One weight-normalized layer after :func:`weight_norm_data_init`, measured per output unit on the batch.

    Attributes:
        name: qualified module name.
        units: number of output units.
        max_abs_mean: largest :math:`|\\mu|` of a unit's pre-activation (0 up to rounding; ``nan`` without bias).
        min_std: smallest per-unit std (population, ``correction=0``).
        max_std: largest per-unit std.
        constant_units: units whose pre-activation was constant on the batch (left at ``g = 1``).
    """

    name: str
    units: int
    max_abs_mean: float
    min_std: float
    max_std: float
    constant_units: int


def _unit_dim(module: nn.Module, output: torch.Tensor) -> int:
    if isinstance(module, nn.Linear):
        return output.dim() - 1
    weight: torch.Tensor = module.weight  # type: ignore[assignment]
    return 1 if output.dim() == weight.dim() else 0  # batched conv output has the weight's rank


def _eligible(module: nn.Module) -> str:
    """Why a weight-normalized layer cannot be data-initialized, or ``''``."""
    if normalization_of(module, "weight") != ["weight_norm"]:
        return "not weight-normalized"
    if module.parametrizations.weight[0].dim != weight_norm_dim(module):  # type: ignore[union-attr, index]
        return f"weight norm is not per output unit (dim={module.parametrizations.weight[0].dim})"  # type: ignore[union-attr, index]
    if getattr(module, "groups", 1) != 1 and isinstance(module, nn.modules.conv._ConvTransposeNd):
        return "grouped transposed convolution: g is not per output unit"
    return ""


class _DataInit:
    def __init__(self, name: str, records: list[LayerDataInit]) -> None:
        self.name, self.records, self.fired = name, records, False

    def __call__(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        if self.fired or not isinstance(output, torch.Tensor):
            return None
        self.fired = True
        g: torch.Tensor = module.parametrizations.weight.original0  # type: ignore[union-attr, assignment]
        bias: torch.Tensor | None = getattr(module, "bias", None)
        g.fill_(1.0)
        if bias is not None:
            bias.zero_()
        t = module.forward(*args, **kwargs)  # t = v·x / ||v||
        dim = _unit_dim(module, t)
        reduce = [d for d in range(t.dim()) if d != dim]
        var, mu = torch.var_mean(t.float(), dim=reduce, correction=0)
        std = var.sqrt()
        constant = std < _MIN_STD
        inv = torch.where(constant, torch.ones_like(std), 1.0 / std)
        g.copy_(inv.reshape(g.shape).to(g.dtype))
        if bias is not None:
            bias.copy_((-mu * inv).to(bias.dtype))
        out = module.forward(*args, **kwargs)
        var, mu = torch.var_mean(out.float(), dim=reduce, correction=0)
        self.records.append(
            LayerDataInit(
                name=self.name,
                units=int(std.numel()),
                max_abs_mean=float(mu.abs().max()) if bias is not None else float("nan"),
                min_std=float(var.sqrt().min()),
                max_std=float(var.sqrt().max()),
                constant_units=int(constant.sum()),
            )
        )
        return out


def weight_norm_data_init(
    model: nn.Module,
    data: DataLike,
    *,
    include: Patterns = None,
    exclude: Patterns = None,
    get_input: Callable[[Any], Any] | None = None,
) -> list[LayerDataInit]:
    """Set ``g`` and ``b`` of every weight-normalized layer so that its pre-activations on ``data`` have zero
    mean and unit variance per output unit (Salimans & Kingma, 2016, section 3).

    With :math:`t = \\mathbf{v}\\cdot\\mathbf{x}/\\lVert\\mathbf{v}\\rVert` and :math:`\\mu[t], \\sigma[t]` its
    per-unit mean and (population) std over the batch (and spatial positions):

    .. math::
        g \\leftarrow \\frac{1}{\\sigma[t]},\\qquad b \\leftarrow \\frac{-\\mu[t]}{\\sigma[t]},\\qquad
        y = g\\,t + b = \\frac{t - \\mu[t]}{\\sigma[t]}

    Layers are initialized in one forward pass in execution order (a hook per layer re-runs only that layer),
    so each sees the already-initialized outputs of the layers before it. Apply weight norm first, e.g.
    ``apply_normalization(model, "weight_norm")`` (one ``g`` per output unit). Without a bias only ``g`` is
    set (the mean cannot be removed). A unit constant on the batch keeps ``g = 1`` and is only centred.
    Modes, buffers and hooks are restored as by :func:`lsuv_init`.

    Returns:
        One :class:`LayerDataInit` per initialized layer, in execution order.

    Raises:
        WeightInitError: no weight-normalized layer with one ``g`` per output unit, empty data, or an error in
            the model's forward (the model is then exactly as before).
    """
    check_module("model", model)
    layers = select_layers(model, COVERED_LAYERS, include=include, exclude=exclude)
    normed = [(name, m) for name, m in layers if normalization_of(m, "weight")]
    reasons = {name: _eligible(m) for name, m in normed}
    chosen = [(name, m) for name, m in normed if not reasons[name]]
    if not chosen:
        found = f" Found: {reasons}" if reasons else ""
        raise WeightInitError(
            "weight_norm_data_init needs weight-normalized layers with one g per output unit; call "
            f"apply_normalization(model, 'weight_norm') first.{found}"
        )
    skipped = {name: why for name, why in reasons.items() if why}
    if skipped:
        warnings.warn(f"weight_norm_data_init: skipping {skipped}", stacklevel=2)
    batch = prepare_batch("weight_norm_data_init", model, data, get_input)
    records: list[LayerDataInit] = []
    hooks = [_DataInit(name, records) for name, _ in chosen]
    protect = list({id(p): p for _, m in chosen for p in m.parameters()}.values())
    handles = []
    try:
        with calibration_session("weight_norm_data_init", model, train=False, protect=protect):
            for hook, (_, module) in zip(hooks, chosen, strict=True):
                handles.append(module.register_forward_hook(hook, prepend=True, with_kwargs=True))
            call_model(model, batch)
    finally:
        for handle in handles:
            handle.remove()
    unreached = [hook.name for hook in hooks if not hook.fired]
    if unreached:
        warnings.warn(f"weight_norm_data_init: the forward pass never called {unreached}.", stacklevel=2)
    logger.info("weight_norm_data_init: initialized %d layers", len(records))
    return records
