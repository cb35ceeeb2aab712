"""Activation-aware automatic initialization: ``initialize_model(model, "auto", sample=None)``.

For a layer ``y_l = W_l x_l`` whose input is ``x_l = φ(y_{l-1})``, He et al. (2015) show

.. math::
    \\mathrm{Var}[y_l] = n_l\\,\\mathrm{Var}[w_l]\\,\\mathbb{E}[x_l^2],

so the variance-preserving choice is ``Var[w_l] = gain² / fan_in`` with ``gain = 1/√E[φ(z)²]``, set by the
nonlinearity applied to the layer's **input**. The first layer sees the raw inputs: gain 1.
:func:`~weight_initialization_system.analysis.topology.trace_topology` recovers, per weight layer, that
input nonlinearity (modules and functional calls), whether the layer ends a residual branch, and its depth;
:func:`~weight_initialization_system.analysis.recommend.recommend_layer` turns one :class:`LayerInfo` into an
initializer; it is the one rule, shared with ``InitializationAnalyzer.recommend`` (table and residual scaling in
its module docstring): orthogonal with the input nonlinearity's gain for raw, linear and saturating inputs,
Kaiming for the ReLU family, second-moment gains for smooth activations, LeCun for SELU, ``1/√L`` on the last
layer of each of ``L`` residual branches, embeddings N(0, 1) (N(0, 1/d) when tied to a readout).
Recurrent layers get :func:`rnn_initialization`'s rule (orthogonal recurrent, Xavier input weights per gate),
norms 1/0, biases 0.

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

from dataclasses import replace
from typing import Any

from torch import nn

from .._rollback import restore_all, snapshot
from ..analysis.recommend import orthogonal_shape, recommend_layer
from ..analysis.topology import LayerInfo, layer_infos
from ..data_dependent import lsuv_init
from ..errors import WeightInitError
from ..initializers import get_initializer
from ..initializers._common import check_module
from ._plan import constant, weight_decision
from .architectures import rnn_rule
from .result import InitResult
from .walker import Decision, ParamSite, apply_decisions, model_graph, norm_decision, select_sites

__all__ = ["auto_initialize"]


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
    check_module("model", model)
    graph = model_graph(model, sample)
    infos, _ = layer_infos(model, graph)
    by_weight: dict[str, LayerInfo] = {w: info for info in infos.values() for w in info.weight_names}
    branches = sum(info.residual_branch for info in infos.values())
    sites, skipped, tied = select_sites(model, graph=graph)
    recurrent = rnn_rule()
    decisions: list[tuple[ParamSite, Decision]] = []
    for site in sites:
        decision = _decide(site, by_weight.get(site.name), branches, recurrent, tied)
        if isinstance(decision, Decision):
            decisions.append((site, decision))
        else:
            skipped[site.name] = decision
    restore = snapshot(model.parameters()) if sample is not None else None
    result = apply_decisions(model, "auto", decisions, seed=seed, skipped=skipped, tied=tied)
    if restore is None:
        return result
    try:
        return _lsuv_correction(model, result, infos, sample, target_std=target_std, tol=tol, max_iters=max_iters)
    except BaseException as error:  # KeyboardInterrupt too: the model is left as it was
        restore_all([restore], error)
        raise


def _decide(site: ParamSite, info: LayerInfo | None, branches: int, recurrent: Any,
            tied: dict[str, str]) -> Decision | str:
    module = site.module
    if isinstance(module, nn.RNNBase | nn.RNNCellBase):
        outcome: Decision | str = recurrent(site)
        return outcome
    if site.kind in ("norm_weight", "norm_bias"):
        return norm_decision(site)
    if site.kind == "bias":
        return Decision(constant(0.0), "bias = 0")
    if site.kind not in ("weight", "embedding"):
        return "not a layer weight: left alone (auto)"
    if info is None:
        init = get_initializer("kaiming_normal", nonlinearity="linear")
        return weight_decision(site, init, "not traced: gain 1, Kaiming normal (LeCun)")
    rec = recommend_layer(info, residual_branches=branches, tied_readout=_tied_readout(site, tied),
                          matrix_shape=orthogonal_shape(site.tensor, module, site.blocks))
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
