"""Per weight layer: the nonlinearity that feeds it and follows it, its depth, and whether it ends a residual branch.

Variance-preserving initialization needs to know, for each weight layer ``l``, the nonlinearity applied to its
input: He et al. (2015) show that for ``y_l = W_l x_l`` with ``x_l = φ(y_{l-1})``,

.. math::
    \\mathrm{Var}[y_l] = n_l \\, \\mathrm{Var}[w_l] \\, \\mathbb{E}[x_l^2],

so the gain of layer ``l`` is set by ``φ`` (``E[relu(z)²] = ½ Var[z]`` gives √2), and the first layer, which
sees the raw inputs, has gain 1. :func:`trace_topology` reads this, per module, from the traced
:class:`~weight_initialization_system.graph.ModelGraph` (what the forward pass really computes; see
:mod:`weight_initialization_system.graph`). When the model cannot be traced (no sample given and none can be
built), the result is empty and :func:`~weight_initialization_system.graph.trace` has said why in a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from ..graph import ModelGraph, WeightLayer, trace
from ..initializers._common import check_module
from ._state import read_only

__all__ = ["ChainLink", "LayerInfo", "layer_infos", "trace_chains", "trace_topology"]


@dataclass(frozen=True)
class LayerInfo:
    """What the variance-preserving gain of one weight layer depends on.

    Attributes:
        name: the module's qualified name (``"features.3"``).
        module_type: its class name (for display).
        weight_names: qualified names of its weight matrices, as in ``model.named_parameters()`` (a
            parametrized weight is listed under the user's name ``"<module>.weight"``).
        fans: ``(fan_in, fan_out)`` of its (first) weight, as the forward pass uses it.
        input_activation: the nonlinearity applied to this layer's input (a name from
            :data:`~weight_initialization_system.initializers.GAINS`), ``None`` for raw inputs or a linear
            map. For a gated product ``φ(gate)·up`` it is ``φ``.
        input_activation_param: its parameter (leaky slope, ELU alpha, ``1.0`` for tanh-approximate GELU).
        output_activation: the nonlinearity applied to its output.
        output_activation_param: its parameter.
        depth: index in execution order among weight layers.
        residual_branch: its output is added to a skip connection (last layer of ``f`` in ``x + f(x)``).
        is_first: no weight layer lies between the model input and this layer.
        is_last: no weight layer consumes its output.
    """

    name: str
    module_type: str
    weight_names: tuple[str, ...]
    fans: tuple[int, int]
    input_activation: str | None
    input_activation_param: float | None
    output_activation: str | None
    output_activation_param: float | None
    depth: int
    residual_branch: bool
    is_first: bool
    is_last: bool


@dataclass(frozen=True)
class ChainLink:
    """How a weight layer's output reaches the next weight layer, for compounding gains along a chain.

    ``prev`` is the weight layer whose output feeds this one through activations and shape ops only (no
    normalization, no addition), ``None`` when the input is normalized, a sum, or the raw input. ``end`` says
    where this layer's output goes: ``"weight"`` (straight into another weight layer), ``"norm"``,
    ``"residual"`` (added to a skip connection), ``"add"`` (another sum), ``"output"`` or ``"other"``.
    ``sink`` is where the signal ends up through further layers (see
    :attr:`~weight_initialization_system.graph.WeightLayer.sink`), ``scale_invariant`` that its output only
    feeds normalizations, ``op`` the weight operation, ``readout`` that it produces the model's output,
    ``input_scale`` the scalar factor applied to its input, ``bias`` the bias its operation adds.
    """

    prev: str | None
    end: str
    sink: str = "other"
    scale_invariant: bool = False
    op: str = "linear"
    readout: bool = False
    input_scale: float = 1.0
    bias: str | None = None


def layer_infos(model: nn.Module, graph: ModelGraph) -> tuple[dict[str, LayerInfo], dict[str, ChainLink]]:
    """:class:`LayerInfo` and :class:`ChainLink` per weight module, in execution order, from a traced graph."""
    modules = dict(model.named_modules())
    by_module: dict[str, list[WeightLayer]] = {}
    for name, uses in graph.uses.items():
        by_module.setdefault(uses[0].module, []).append(uses[0])
        for use in uses[1:]:  # a tied weight used again by another module (a readout): listed under that one
            alias = next((a for a in graph.tied.get(name, ()) if a.startswith(f"{use.module_scope}.")), None)
            if alias is not None:
                by_module.setdefault(use.module_scope, []).append(replace(use, param=alias))
    by_module = dict(sorted(by_module.items(), key=lambda item: item[1][0].order))
    owner = {layer.param: module for module, layers in by_module.items() for layer in layers}
    infos: dict[str, LayerInfo] = {}
    links: dict[str, ChainLink] = {}
    for module_name, layers in by_module.items():
        names = [la.param for la in layers]
        layer = layers[0]
        act = layer.activation
        out = layer.output_activation
        module = modules.get(module_name)
        infos[module_name] = LayerInfo(
            name=module_name,
            module_type=type(module).__name__ if module is not None else "",
            weight_names=tuple(names),
            fans=layer.fans,
            input_activation=act.name if act is not None else None,
            input_activation_param=act.param if act is not None else None,
            output_activation=out.name if out is not None else None,
            output_activation_param=out.param if out is not None else None,
            depth=len(infos),
            residual_branch=any(la.residual_end for la in layers),
            is_first=layer.first,
            is_last=all(la.last for la in layers),
        )
        links[module_name] = ChainLink(owner.get(layer.previous) if layer.previous else None, layer.output,
                                       layer.sink, all(la.scale_invariant for la in layers), layer.op,
                                       any(la.readout for la in layers), layers[-1].input_scale, layer.bias)
    return infos, links


def trace_topology(model: nn.Module, sample: Any | None = None) -> dict[str, LayerInfo]:
    """Map each weight layer's qualified module name to its :class:`LayerInfo`, in execution order.

    Args:
        model: any ``nn.Module``. It is not modified.
        sample: optional input (a tensor, a tuple of positional arguments or a dict of keyword arguments);
            without one, a sample is built from the model (see :func:`~weight_initialization_system.graph.trace`).

    >>> net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    >>> info = trace_topology(net)
    >>> info["0"].output_activation, info["3"].input_activation, info["3"].is_last
    ('relu', 'relu', True)
    """
    return trace_chains(model, sample)[0]


@read_only  # tracing runs forward code that may draw random numbers or advance a spectral norm
def trace_chains(model: nn.Module, sample: Any | None = None) -> tuple[dict[str, LayerInfo], dict[str, ChainLink]]:
    """:func:`trace_topology` plus, per weight layer, its :class:`ChainLink` (used by the quality score)."""
    check_module("model", model)
    return layer_infos(model, trace(model, sample))
