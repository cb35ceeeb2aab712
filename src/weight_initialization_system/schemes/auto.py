"""Activation-aware automatic initialization: ``initialize_model(model, "auto", sample=None)``.

For a layer ``y_l = W_l x_l`` whose input is ``x_l = φ(y_{l-1})``, He et al. (2015) show

.. math::
    \\mathrm{Var}[y_l] = n_l\\,\\mathrm{Var}[w_l]\\,\\mathbb{E}[x_l^2],

so the variance-preserving choice is ``Var[w_l] = gain² / fan_in`` with ``gain = 1/√E[φ(z)²]``, set by the
nonlinearity applied to the layer's **input**. The first layer sees the raw inputs: gain 1.
:func:`~weight_initialization_system.analysis.topology.trace_topology` recovers, per weight layer, that
input nonlinearity (modules and functional calls), whether the layer ends a residual branch, and its depth;
:func:`recommend_layer` turns one :class:`LayerInfo` into an initializer (the one rule shared with the
analysis ``recommend``):

==========================================  ==============================================================
input nonlinearity                          initializer
==========================================  ==============================================================
none (first layer, linear), tanh, sigmoid,  orthogonal, gain ``g·√max(1, rows/row length)`` (Saxe et al.
hardtanh, softsign, hardsigmoid             2014): each output unit's weight row has norm ``g``, so the
                                            output second moment is exactly ``g²·E[x²]``; ``g = 1`` for
                                            raw/linear inputs, else ``1/√E[φ(z)²]`` (tanh 1.59, sigmoid
                                            1.85), whose unit-variance fixed point is stable because
                                            ``E[φ(√q z)²]/q`` decreases in ``q``
relu, leaky_relu (slope ``a``)              Kaiming normal, ``gain = √(2/(1+a²))`` (He et al. 2015): exact
gelu, silu, mish, elu, celu, softplus,      Kaiming normal with ``gain = 1/√E[φ(z)²]`` (Gauss-Hermite)
hardswish
selu                                        LeCun normal (Klambauer et al. 2017)
==========================================  ==============================================================

A layer that ends a residual branch (``x + f(x)``) has its standard deviation divided by ``√L``, ``L`` the
number of residual branches, so that the stream's variance after all ``L`` additions stays O(1) (the GPT-2
``1/√(2N)`` rule in general form). Recurrent layers get :func:`rnn_initialization`'s rule, embeddings
N(0, 1) (N(0, 1/d) when tied to a readout), norms 1/0, biases 0.

GELU/SiLU/Mish: ``E[φ(√q z)²]/q`` grows with ``q``, so their unit-variance fixed point is unstable and no
constant gain keeps a deep plain stack at unit variance: small per-layer deviations (finite width, finite
batch) are amplified geometrically. Measured on 30-layer, width-256 plain MLPs with the gain above (see
``tests/schemes/test_auto.py``), the last layer's output second moment ends far from 1. With
``sample=batch``, ``auto`` finishes with an LSUV-style correction (Mishkin & Matas 2016): in execution
order, each layer not on a residual branch is rescaled so that its output on the batch has unit standard
deviation (:func:`~weight_initialization_system.data_dependent.lsuv_init` without its orthogonal pre-init),
and the result records every factor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..analysis.topology import LayerInfo, trace_topology
from ..data_dependent import lsuv_init
from ..errors import WeightInitError
from ..initializers import calculate_gain, get_initializer, second_moment_gain
from ..initializers.fans import _is_hf_conv1d
from ._plan import constant, normal, weight_decision
from .architectures import rnn_rule
from .result import InitResult
from .walker import Decision, ParamSite, apply_decisions, select_sites

__all__ = ["Recommendation", "auto_initialize", "recommend_layer"]

_ORTHOGONAL_FAMILY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh, "sigmoid": torch.sigmoid, "hardtanh": lambda x: F.hardtanh(x),
    "softsign": lambda x: F.softsign(x), "hardsigmoid": lambda x: F.hardsigmoid(x),
}
_DEFAULT_PARAM = {"elu": 1.0, "celu": 1.0, "softplus": 1.0}


@dataclass(frozen=True)
class Recommendation:
    """The initializer ``auto`` uses for one weight layer.

    Attributes:
        initializer: a registry name (``"kaiming_normal"``, ``"orthogonal"``, ...).
        kwargs: its arguments.
        reason: the rule that chose it, with the gain and the paper.
    """

    initializer: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


def _input_gain(activation: str, param: float | None) -> float:
    if activation in _ORTHOGONAL_FAMILY:
        return second_moment_gain(_ORTHOGONAL_FAMILY[activation])
    return calculate_gain(activation, param if param is not None else _DEFAULT_PARAM.get(activation))


def recommend_layer(
    info: LayerInfo, *, residual_branches: int = 1, matrix_shape: tuple[int, int] | None = None
) -> Recommendation:
    """The variance-preserving initializer for one traced weight layer (see the module docstring).

    Args:
        info: the layer, from :func:`~weight_initialization_system.analysis.topology.trace_topology`.
        residual_branches: ``L``, the number of residual branches of the model; a layer with
            ``info.residual_branch`` has its standard deviation divided by ``√L``.
        matrix_shape: ``(rows, row length)`` of the weight as the orthogonal initializer sees it (a conv
            weight ``(out, in/groups·∏k)``, one block of a stacked q/k/v weight). Default: ``(fan_out, fan_in)``,
            exact for linear layers.

    >>> from weight_initialization_system.analysis.topology import trace_topology
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> recommend_layer(trace_topology(net)["2"]).kwargs
    {'a': 0.0, 'mode': 'fan_in', 'nonlinearity': 'relu'}
    """
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
        return Recommendation("orthogonal", {}, "recurrent layer: orthogonal recurrent and Xavier input weights per "
                              "gate, LSTM forget bias 1 (Saxe et al. 2014; Jozefowicz et al. 2015)")
    if info.module_type in ("Embedding", "EmbeddingBag"):
        return Recommendation("normal", {"std": 1.0}, "embedding: one row is looked up, N(0, 1) gives unit "
                              "variance outputs")
    if act is None or act in ("linear", "identity") or act in _ORTHOGONAL_FAMILY:
        gain = 1.0 if act is None or act in ("linear", "identity") else _input_gain(act, param)
        rows, cols = matrix_shape if matrix_shape is not None else (info.fans[1], info.fans[0])
        expand = math.sqrt(max(1.0, rows / cols))
        total = gain * expand * shrink
        detail = f", ·√(rows/row length) = {expand:.4g} for an expanding layer" if expand > 1 else ""
        return Recommendation("orthogonal", {"gain": total},
                              f"{source}; orthogonal, gain {gain:.4g}{detail} (Saxe et al. 2014){residual}")
    if act == "selu" and shrink == 1.0:
        return Recommendation("lecun_normal", {}, f"{source}; LeCun normal for self-normalizing SELU "
                              "(Klambauer et al. 2017)")
    gain = 1.0 if act == "selu" else _input_gain(act, param)
    slope = param if act == "leaky_relu" and param is not None else 0.01 if act == "leaky_relu" else None
    paper = "He et al. 2015" if act in ("relu", "leaky_relu") else "gain 1/√E[φ(z)²], He et al. 2015"
    if shrink == 1.0 and act in ("relu", "leaky_relu"):
        return Recommendation("kaiming_normal", {"a": slope or 0.0, "mode": "fan_in", "nonlinearity": act},
                              f"{source}; Kaiming normal, gain {gain:.4g} ({paper})")
    return Recommendation("variance_scaling", {"scale": (gain * shrink) ** 2, "mode": "fan_in",
                                               "distribution": "normal"},
                          f"{source}; N(0, gain²/fan_in), gain {gain:.4g} ({paper}){residual}")


def _tied_readout(site: ParamSite, tied: dict[str, str]) -> bool:
    return any(canonical == site.name for canonical in tied.values())


def auto_initialize(
    model: nn.Module,
    *,
    sample: Any | None = None,
    seed: int | None = None,
    target_std: float = 1.0,
    tol: float = 0.1,
    max_iters: int = 10,
) -> InitResult:
    """Activation-aware initialization of every weight layer, with an optional data-dependent correction.

    Args:
        model: the model to initialize in place.
        sample: an input batch (tensor, tuple of positional arguments, or dict of keyword arguments). Used
            to trace models that ``torch.fx`` cannot, and for the final LSUV correction.
        seed: base seed (name-keyed, as in ``initialize_model``).
        target_std: LSUV's target output standard deviation.
        tol: LSUV's tolerance on it.
        max_iters: LSUV's most rescalings per layer.

    Returns:
        An :class:`InitResult` whose reasons name, per parameter, the traced input nonlinearity, the gain and
        the rule (and, with a sample, the LSUV factor).

    Raises:
        WeightInitError: for bad arguments, or when the forward pass on ``sample`` fails; the model is then
            exactly as it was.
    """
    infos = trace_topology(model, sample)
    by_weight: dict[str, LayerInfo] = {w: info for info in infos.values() for w in info.weight_names}
    branches = sum(info.residual_branch for info in infos.values())
    sites, skipped, tied = select_sites(model)
    recurrent = rnn_rule()
    decisions: list[tuple[ParamSite, Decision]] = []
    for site in sites:
        decision = _decide(site, by_weight.get(site.name), branches, recurrent, tied)
        if isinstance(decision, Decision):
            decisions.append((site, decision))
        else:
            skipped[site.name] = decision
    backup = {n: p.detach().clone() for n, p in model.named_parameters()} if sample is not None else {}
    result = apply_decisions(model, "auto", decisions, seed=seed, skipped=skipped, tied=tied)
    if sample is None:
        return result
    try:
        return _lsuv_correction(model, result, infos, sample, target_std=target_std, tol=tol, max_iters=max_iters)
    except Exception:
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(backup[name])
        raise


def _decide(site: ParamSite, info: LayerInfo | None, branches: int, recurrent: Any,
            tied: dict[str, str]) -> Decision | str:
    module = site.module
    if isinstance(module, nn.RNNBase | nn.RNNCellBase):
        outcome: Decision | str = recurrent(site)
        return outcome
    if site.kind in ("norm_weight", "norm_bias"):
        gamma = site.kind == "norm_weight"
        return Decision(constant(1.0 if gamma else 0.0), f"{type(module).__name__}: {'γ = 1' if gamma else 'β = 0'}")
    if site.kind == "bias":
        return Decision(constant(0.0), "bias = 0")
    if site.kind == "embedding":
        if _tied_readout(site, tied) and site.fans is not None:
            std = site.fans[1] ** -0.5
            return weight_decision(site, normal(std), f"embedding tied to a readout: N(0, 1/d) = N(0, {std:.4g}²) "
                                   "so that the logits have unit variance")
        return weight_decision(site, normal(1.0), "embedding: N(0, 1), unit-variance rows (fan_in = 1)")
    if site.kind != "weight":
        return "not a layer weight: left alone (auto)"
    if info is None:
        init = get_initializer("kaiming_normal", nonlinearity="linear")
        return weight_decision(site, init, "not traced: gain 1, Kaiming normal (LeCun)")
    if _is_hf_conv1d(module):  # stores (in, out): an output unit's weights are a column
        shape = (int(site.tensor.shape[1]), int(site.tensor.shape[0]))
    else:
        shape = (int(site.tensor.shape[0]) // site.blocks, int(site.tensor[0].numel()))
    rec = recommend_layer(info, residual_branches=branches, matrix_shape=shape)
    init = get_initializer(rec.initializer, **rec.kwargs)
    return weight_decision(site, init, rec.reason)


def _lsuv_correction(model: nn.Module, result: InitResult, infos: dict[str, LayerInfo], sample: Any, *,
                     target_std: float, tol: float, max_iters: int) -> InitResult:
    """Rescale, in execution order, every traced layer that is not on a residual branch (LSUV, std target)."""
    calibrate = [name for name, info in infos.items()
                 if not info.residual_branch and info.module_type not in ("Embedding", "EmbeddingBag", "RNN",
                                                                          "LSTM", "GRU")]
    if not calibrate:
        return result
    try:
        report = lsuv_init(model, sample, target_std=target_std, tol=tol, max_iters=max_iters,
                           orthogonal_preinit=False, include=calibrate)
    except WeightInitError as exc:
        raise WeightInitError(f"auto: the LSUV correction on `sample` failed: {exc}") from exc
    for layer in report.layers:
        owner = dict(model.named_modules())[layer.name]
        weight = f"{layer.name}.out_proj.weight" if isinstance(owner, nn.MultiheadAttention) else f"{layer.name}.weight"
        if weight in result.initialized:
            entry = result.initialized[weight]
            note = (f"; LSUV on sample: ×{layer.scale:.4g} (output std {layer.std_before:.3g} → "
                    f"{layer.std_after:.3g}, Mishkin & Matas 2016)")
            result.initialized[weight] = replace(entry, reason=entry.reason + note,
                                                 kwargs={**entry.kwargs, "lsuv_scale": layer.scale})
    result.method = "auto+lsuv"
    return result
