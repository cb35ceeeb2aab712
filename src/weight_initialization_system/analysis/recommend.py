"""Which initializer each weight layer should get, and why: one rule set, :func:`recommend_layer`.

The rules follow the gain of the nonlinearity applied to the layer's input (He et al. 2015:
``Var[y_l] = n_l Var[w_l] E[x_l²]``), so the first layer, which sees raw inputs, gets gain 1:

=====================================  ========================================================================
layer                                  recommendation
=====================================  ========================================================================
Embedding                              ``normal`` std 0.02 (Radford et al. 2019); a norm layer downstream sets
                                       the scale, and 0.02 keeps token and position embeddings comparable
LSTM / GRU / RNN                       ``orthogonal`` (Saxe et al. 2014): the recurrent matrix is applied once
                                       per time step, so its singular values must all be 1
input ReLU / leaky ReLU                ``kaiming_normal`` with that nonlinearity (He et al. 2015)
input tanh / sigmoid / softsign        ``xavier_normal`` (Glorot & Bengio 2010): ``n σ² = 1`` is the critical
                                       point of tanh (Schoenholz et al. 2017)
input SELU                             ``lecun_normal`` (Klambauer et al. 2017)
other smooth input (GELU, SiLU, ...)   ``kaiming_normal`` with that nonlinearity's second-moment gain
linear input (first layer, after a     ``lecun_normal``: ``Var = 1/fan_in``
norm layer or a sum)
last layer of a residual branch        the rule above scaled by ``1/√(2·blocks)`` when the number of residual
                                       branches is known (GPT-2; Radford et al. 2019), so the residual stream's
                                       variance stays O(1) over depth
=====================================  ========================================================================

Each :class:`Recommendation` is usable with ``initialize_model(model, rec.initializer, include=[f"{rec.layer}.*"],
**rec.kwargs)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..initializers import calculate_gain
from .topology import LayerInfo, trace_topology

__all__ = ["Recommendation", "recommend", "recommend_layer"]

_SATURATING = ("tanh", "sigmoid", "softsign", "hardtanh", "hardsigmoid")


@dataclass(frozen=True)
class Recommendation:
    """An initializer for one layer: registry name, its keyword arguments, and the reason."""

    layer: str
    initializer: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


def recommend_layer(info: LayerInfo, residual_branches: int | None = None) -> Recommendation:
    """The recommended initializer for one weight layer (rules in the module docstring).

    Args:
        info: the layer, from :func:`trace_topology`.
        residual_branches: number of residual branches in the model, to scale branch-final layers.

    >>> from weight_initialization_system.analysis import trace_topology
    >>> info = trace_topology(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)))["2"]
    >>> recommend_layer(info).initializer, recommend_layer(info).kwargs
    ('kaiming_normal', {'nonlinearity': 'relu'})
    """
    fan = f"fan_in {info.fans[0]}"
    if info.module_type in ("Embedding", "EmbeddingBag"):
        return Recommendation(info.name, "normal", {"std": 0.02},
                              "embedding: its scale is set downstream (norm layer); std 0.02 as in GPT-2")
    if info.module_type in ("LSTM", "GRU", "RNN"):
        return Recommendation(info.name, "orthogonal", {},
                              "recurrent: applied once per step, so all singular values should be 1")
    act, param = info.input_activation, info.input_activation_param
    if act in ("relu", "leaky_relu"):
        kwargs: dict[str, Any] = {"nonlinearity": act}
        if act == "leaky_relu" and param is not None:
            kwargs["a"] = param
        rec = Recommendation(info.name, "kaiming_normal", kwargs,
                             f"input passes through {act} ({fan}): variance-preserving gain "
                             f"{'√2' if act == 'relu' else '√(2/(1+a²))'} (He et al. 2015)")
    elif act in _SATURATING:
        rec = Recommendation(info.name, "xavier_normal", {},
                             f"input passes through {act} ({fan}): n·σ² = 1 is its critical point "
                             "(Glorot & Bengio 2010; Schoenholz et al. 2017)")
    elif act == "selu":
        rec = Recommendation(info.name, "lecun_normal", {},
                             f"input passes through selu ({fan}): self-normalizing (Klambauer et al. 2017)")
    elif act is not None:
        kwargs = {"nonlinearity": act} if param is None else {"nonlinearity": act, "a": param}
        rec = Recommendation(info.name, "kaiming_normal", kwargs,
                             f"input passes through {act} ({fan}): gain 1/√E[φ(z)²]")
    else:
        where = "raw inputs" if info.is_first else "a linear input (after a norm layer, a sum or a linear map)"
        rec = Recommendation(info.name, "lecun_normal", {}, f"{where} ({fan}): Var = 1/fan_in")
    if info.residual_branch and residual_branches:
        factor = 1.0 / math.sqrt(2.0 * residual_branches) if residual_branches > 1 else 1.0
        return Recommendation(
            info.name, "variance_scaling",
            {"scale": _scale_of(rec, info) * factor**2, "mode": "fan_in", "distribution": "normal"},
            rec.reason + f"; last layer of a residual branch, scaled by 1/√(2·{residual_branches}) (GPT-2)",
        )
    return rec


def _scale_of(rec: Recommendation, info: LayerInfo) -> float:
    """``gain²`` of a recommendation, as a variance_scaling ``scale``."""
    if rec.initializer == "kaiming_normal":
        return calculate_gain(rec.kwargs["nonlinearity"], rec.kwargs.get("a")) ** 2
    if rec.initializer == "xavier_normal":
        n_in, n_out = info.fans
        return 2.0 * n_in / (n_in + n_out)
    return 1.0


def recommend(model: nn.Module, sample: Any | None = None) -> dict[str, Recommendation]:
    """Per weight layer (module name), the initializer we advise and why.

    Args:
        model: any ``nn.Module`` (not modified).
        sample: optional input, used only if the model cannot be traced symbolically.
    """
    infos = trace_topology(model, sample)
    branches = sum(1 for info in infos.values() if info.residual_branch)
    return {name: recommend_layer(info, branches) for name, info in infos.items()}
