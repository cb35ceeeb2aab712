"""Which initializer each weight layer should get, and why: the one rule set, :func:`recommend_layer`.

``InitializationAnalyzer.recommend`` and ``initialize_model(model, "auto")`` both call it, so they agree.
For a layer ``y_l = W_l x_l`` whose input is ``x_l = φ(y_{l-1})``, He et al. (2015) show

.. math::
    \\mathrm{Var}[y_l] = n_l\\,\\mathrm{Var}[w_l]\\,\\mathbb{E}[x_l^2],

so the variance-preserving choice is ``Var[w_l] = gain² / fan_in`` with ``gain = 1/√E[φ(z)²]``, set by the
nonlinearity applied to the layer's **input**. The first layer sees the raw inputs: gain 1.

==========================================  ==============================================================
input nonlinearity                          initializer
==========================================  ==============================================================
none (first layer, linear), tanh, sigmoid,  orthogonal, gain ``g·√max(1, rows/row length)`` (Saxe et al.
hardtanh, softsign, hardsigmoid             2014): each output unit's weight row has norm ``g``, so the
                                            output second moment is exactly ``g²·E[x²]``; ``g = 1`` for
                                            raw/linear inputs and for tanh, hardtanh, softsign (critical:
                                            ``χ = g²·E[φ'(h)²] → 1`` at ``q* = 0``; Poole et al. 2016,
                                            Pennington et al. 2017; the forward std then decays slowly,
                                            as ``1/√(2l)``), ``1/√E[φ(z)²]`` for sigmoid (1.85) and
                                            hardsigmoid, whose non-zero mean collapses distinct inputs in a
                                            deep plain stack whatever the gain (the reason says so)
relu, leaky_relu (slope ``a``)              Kaiming normal, ``gain = √(2/(1+a²))`` (He et al. 2015): exact
gelu, silu, mish, elu, celu, softplus,      Kaiming normal with ``gain = 1/√E[φ(z)²]`` (Gauss-Hermite)
hardswish
selu                                        LeCun normal (Klambauer et al. 2017)
==========================================  ==============================================================

A layer that ends a residual branch (``x + f(x)``) has its standard deviation divided by ``√L``, ``L`` the
number of residual branches, so that the stream's variance after all ``L`` additions stays O(1) (the GPT-2
``1/√(2N)`` rule of Radford et al. 2019 in general form: a transformer block has ``2`` branches). Recurrent
layers get ``orthogonal`` (Saxe et al. 2014; ``auto`` applies it per gate, with Xavier input weights and an
LSTM forget bias of 1), embeddings N(0, 1) (one row is looked up: unit-variance outputs), or N(0, 1/d) when
tied to a readout so that the logits have unit variance.

Each :class:`Recommendation` is usable as ``initialize_model(model, rec.initializer, include=list(rec.weights),
**rec.kwargs)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..initializers import calculate_gain, gate_blocks, second_moment_gain
from ..initializers.fans import _is_hf_conv1d
from ._state import read_only
from .meanfield import ACTIVATIONS
from .topology import LayerInfo, trace_topology

__all__ = ["Recommendation", "orthogonal_shape", "recommend", "recommend_layer"]

_ORTHOGONAL_FAMILY = ("tanh", "sigmoid", "hardtanh", "softsign", "hardsigmoid")
#: Odd nonlinearities with φ'(0) = 1: critical (χ = 1) at gain 1 with zero bias. The forward-variance gain
#: 1/√E[φ(z)²] (1.59 for tanh) is in the chaotic phase: χ ≈ 1.5 per layer, ×3000 over 20 layers.
_CRITICAL_AT_ONE = ("tanh", "hardtanh", "softsign")
_DEFAULT_PARAM = {"elu": 1.0, "celu": 1.0, "softplus": 1.0}


@dataclass(frozen=True)
class Recommendation:
    """The initializer for one weight layer.

    Attributes:
        layer: the layer's (module's) qualified name.
        initializer: a registry name (``"kaiming_normal"``, ``"orthogonal"``, ...).
        kwargs: its arguments.
        reason: the rule that chose it, with the gain and the paper.
        weights: the qualified names of the weight matrices it applies to (``include=`` for ``initialize_model``).
    """

    layer: str
    initializer: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    weights: tuple[str, ...] = ()


def _input_gain(activation: str, param: float | None) -> float:
    if activation in _ORTHOGONAL_FAMILY:
        return second_moment_gain(lambda x: ACTIVATIONS[activation](x, param))
    return calculate_gain(activation, param if param is not None else _DEFAULT_PARAM.get(activation))


def orthogonal_shape(weight: torch.Tensor, module: nn.Module, blocks: int = 1) -> tuple[int, int]:
    """``(rows, row length)`` of ``weight`` as the orthogonal initializer sees one of its ``blocks``.

    A conv weight is ``(out, in/groups·∏k)``; a stacked q/k/v weight has 3 blocks; Hugging Face's ``Conv1D``
    stores ``(in, out)``, so an output unit's weights are a column.
    """
    if _is_hf_conv1d(module):
        return int(weight.shape[1]), int(weight.shape[0])
    return int(weight.shape[0]) // blocks, int(weight[0].numel())


def recommend_layer(
    info: LayerInfo,
    *,
    residual_branches: int = 1,
    matrix_shape: tuple[int, int] | None = None,
    tied_readout: bool = False,
) -> Recommendation:
    """The variance-preserving initializer for one traced weight layer (rules in the module docstring).

    Args:
        info: the layer, from :func:`~weight_initialization_system.analysis.topology.trace_topology`.
        residual_branches: ``L``, the number of residual branches of the model; a layer with
            ``info.residual_branch`` has its standard deviation divided by ``√L``.
        matrix_shape: ``(rows, row length)`` of the weight as the orthogonal initializer sees it
            (:func:`orthogonal_shape`). Default: ``(fan_out, fan_in)``, exact for linear layers.
        tied_readout: an embedding whose weight is also the output layer's (GPT-2 ``wte``/``lm_head``).

    >>> from weight_initialization_system.analysis.topology import trace_topology
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> recommend_layer(trace_topology(net)["2"]).kwargs
    {'a': 0.0, 'mode': 'fan_in', 'nonlinearity': 'relu'}
    """
    def rec(initializer: str, kwargs: dict[str, Any], reason: str) -> Recommendation:
        return Recommendation(info.name, initializer, kwargs, reason, info.weight_names)

    act, param = info.input_activation, info.input_activation_param
    shrink = 1.0 / math.sqrt(residual_branches) if info.residual_branch and residual_branches > 1 else 1.0
    residual = f"; ends one of {residual_branches} residual branches: std ·1/√{residual_branches}" \
        if shrink != 1.0 else ""
    if info.is_first:
        source = "first layer: raw inputs, gain 1"
    elif act:
        source = f"input passes through {act}" + (f"({param:g})" if param is not None else "")
    else:
        source = "linear input, gain 1"
    if info.module_type in ("RNN", "LSTM", "GRU"):
        return rec("orthogonal", {}, "recurrent layer: orthogonal recurrent and Xavier input weights per "
                   "gate, LSTM forget bias 1 (Saxe et al. 2014; Jozefowicz et al. 2015)")
    if info.module_type in ("Embedding", "EmbeddingBag"):
        if tied_readout:
            std = info.fans[1] ** -0.5
            return rec("normal", {"std": std}, f"embedding tied to a readout: N(0, 1/d) = N(0, {std:.4g}²) "
                       "so that the logits have unit variance")
        return rec("normal", {"std": 1.0}, "embedding: one row is looked up, N(0, 1) gives unit variance outputs")
    if act is None or act in ("linear", "identity") or act in _ORTHOGONAL_FAMILY:
        critical = act in _CRITICAL_AT_ONE
        gain = 1.0 if act is None or act in ("linear", "identity") or critical else _input_gain(act, param)
        rows, cols = matrix_shape if matrix_shape is not None else (info.fans[1], info.fans[0])
        expand = math.sqrt(max(1.0, rows / cols))
        total = gain * expand * shrink
        detail = f", ·√(rows/row length) = {expand:.4g} for an expanding layer" if expand > 1 else ""
        why = (", critical: φ'(0) = 1, so χ = σ_w²·E[φ'(h)²] → 1 at the fixed point q* = 0 (Poole et al. 2016; "
               "Pennington et al. 2017)") if critical else ""
        caveat = (f"; {act} has a non-zero mean, so distinct inputs converge in a deep plain stack whatever the "
                  "gain (Schoenholz et al. 2017): center it (tanh(x/2) = 2σ(x) − 1) or normalize") \
            if act in ("sigmoid", "hardsigmoid") else ""
        return rec("orthogonal", {"gain": total},
                   f"{source}; orthogonal, gain {gain:.4g}{why}{detail} (Saxe et al. 2014){residual}{caveat}")
    if act == "selu" and shrink == 1.0:
        return rec("lecun_normal", {}, f"{source}; LeCun normal for self-normalizing SELU (Klambauer et al. 2017)")
    gain = 1.0 if act == "selu" else _input_gain(act, param)
    slope = param if act == "leaky_relu" and param is not None else 0.01 if act == "leaky_relu" else None
    paper = "He et al. 2015" if act in ("relu", "leaky_relu") else "gain 1/√E[φ(z)²], He et al. 2015"
    if shrink == 1.0 and act in ("relu", "leaky_relu"):
        return rec("kaiming_normal", {"a": slope or 0.0, "mode": "fan_in", "nonlinearity": act},
                   f"{source}; Kaiming normal, gain {gain:.4g} ({paper})")
    return rec("variance_scaling", {"scale": (gain * shrink) ** 2, "mode": "fan_in", "distribution": "normal"},
               f"{source}; N(0, gain²/fan_in), gain {gain:.4g} ({paper}){residual}")


@read_only
def recommend(model: nn.Module, sample: Any | None = None) -> dict[str, Recommendation]:
    """Per weight layer (module name), the initializer we advise and why: the rule ``auto`` applies.

    Args:
        model: any ``nn.Module`` (not modified).
        sample: optional input, used only if the model cannot be traced symbolically.

    >>> net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> rec = recommend(net)["2"]
    >>> rec.initializer, rec.weights
    ('kaiming_normal', ('2.weight',))
    """
    infos = trace_topology(model, sample)
    branches = sum(1 for info in infos.values() if info.residual_branch)
    owners: dict[int, int] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        owners[id(p)] = owners.get(id(p), 0) + 1
    out: dict[str, Recommendation] = {}
    for name, info in infos.items():
        module = model.get_submodule(name)
        local = info.weight_names[0].rsplit(".", 1)[-1]
        weight = getattr(module, local)
        out[name] = recommend_layer(info, residual_branches=branches,
                                    matrix_shape=orthogonal_shape(weight, module, gate_blocks(module, local)),
                                    tied_readout=owners.get(id(weight), 0) > 1)
    return out
