"""``initialize_model``: one initializer for every weight of a model, done right per layer type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from ..errors import WeightInitError
from ..initializers import BoundInitializer, InitFn, get_initializer
from .auto import auto_initialize
from .result import InitResult
from .walker import (
    BiasInit,
    Decision,
    ParamSite,
    apply_decisions,
    bias_decision,
    model_graph,
    norm_decision,
    select_sites,
)

__all__ = ["initialize_model", "method_decision"]


def method_decision(site: ParamSite, init: BoundInitializer, bias_init: BiasInit) -> Decision | None:
    """The decision of a plain method for one parameter; ``None`` leaves it as it is."""
    module = type(site.module).__name__
    if site.kind == "weight":
        blocks = f", {site.blocks} blocks initialized separately" if site.blocks > 1 else ""
        return Decision(init, f"{module} weight{blocks}", site.fans, site.blocks)
    if site.kind == "embedding":
        padding_idx = getattr(site.module, "padding_idx", None)
        return Decision(init, "embedding: fan_in = 1 (one row is looked up)", site.fans,
                        extra={"padding_idx": padding_idx})
    if site.kind in ("norm_weight", "norm_bias"):
        return norm_decision(site)
    if site.kind == "bias":
        return bias_decision(site, bias_init)
    return None


def initialize_model(
    model: nn.Module,
    method: str | InitFn | BoundInitializer = "xavier_uniform",
    *,
    seed: int | None = None,
    bias_init: BiasInit = "zeros",
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    skip_frozen: bool = True,
    sample: Any | None = None,
    config: Any | None = None,
    **init_kwargs: Any,
) -> InitResult:
    """Initialize every weight of ``model`` with ``method``, with the right fans per layer type.

    - Linear, Conv*, ConvTranspose* (grouped and transposed fans), HF ``Conv1D``: ``method`` with the layer's
      fans (see :func:`~weight_initialization_system.initializers.compute_fans`).
    - Embedding: ``method`` with ``fan_in = 1``; the ``padding_idx`` row stays 0.
    - RNN/LSTM/GRU: every layer and direction; each gate block of the stacked matrices separately, with the
      fans of one block. MultiheadAttention: q, k and v blocks of ``in_proj_weight`` separately.
    - Norm layers (BatchNorm, LayerNorm, GroupNorm, RMSNorm, ...): weight 1, bias 0.
    - Layer biases: ``bias_init`` (``"zeros"``, ``"keep"``, ``"uniform"`` = torch's U(±1/√fan_in), or a number).
    - ``method="auto"``: a variance-preserving initializer per layer from the nonlinearity that feeds it,
      with an optional LSUV correction on ``sample`` (:mod:`~weight_initialization_system.schemes.auto`).
    - Anything else (custom parameters, positional embeddings, cls tokens): left alone, listed in
      ``result.skipped``.

    Tied parameters are initialized once, under their first name (``result.tied`` lists the aliases).
    Parametrized weights (weight norm, spectral norm, orthogonal) are initialized in terms of the effective
    weight and written through the parametrization's ``right_inverse``.

    Reproducibility: with ``seed``, element ``i`` of a parameter (flattened, row-major) depends only on
    ``(seed, the parameter's qualified name, i)`` for the elementwise initializers (uniform, normal,
    trunc_normal, the variance-scaling family, constants), and the whole tensor only on ``(seed, name)`` for
    structured ones (orthogonal, sparse, ...): not on module order, on which other parameters exist, on the
    thread count, nor on how DTensor parameters are sharded (FSDP2, ``distribute_tensor``: each rank draws
    only its shard, and the gathered tensors equal single-process ones for any world size). Adding a layer
    does not change the others, and the same seed gives bitwise-identical values across runs and processes
    on the same device type (see :mod:`weight_initialization_system.schemes.seeding`). Without ``seed``, a
    base seed is drawn from torch's global generator and reported as ``result.seed``.

    All or nothing: every decision is validated and every new value drawn into a staging tensor before any
    parameter is written, so an error leaves the model exactly as it was (at the cost of transient memory for
    one copy of the initialized parameters).

    Args:
        model: the module to initialize in place.
        method: a registry name or alias (``"xavier_uniform"``, ``"he_normal"``, ...), a callable
            ``fn(tensor, ..., generator=None)``, or a bound initializer from ``get_initializer``.
        seed: base seed for name-keyed generators.
        bias_init: how to initialize layer biases.
        include: globs on parameter names; only matching parameters are touched.
        exclude: globs on parameter names to leave alone.
        skip_frozen: leave parameters with ``requires_grad=False`` alone.
        sample: an input batch (tensor, tuple of positional arguments or dict of keyword arguments) to trace
            what each parameter does (one is built from the model when not given; see
            :func:`~weight_initialization_system.graph.trace`); with ``method="auto"`` also the final LSUV
            correction (see :func:`~weight_initialization_system.schemes.auto.auto_initialize`).
        config: a YAML path, YAML text, dict or loaded ``Config`` (see
            :func:`~weight_initialization_system.config.load_config`): its default method, per-method
            arguments, architecture schemes and per-layer overrides replace ``method`` and ``**init_kwargs``.
        **init_kwargs: arguments for the initializer (``nonlinearity="relu"``, ``std=0.02``, ...).

    Returns:
        An :class:`InitResult` naming, per parameter, the initializer, its arguments and why.

    >>> model = nn.Sequential(nn.Linear(100, 200), nn.ReLU(), nn.Linear(200, 100))
    >>> result = initialize_model(model, "kaiming_normal", nonlinearity="relu", seed=0)
    >>> result["0.weight"].fans
    (100, 200)
    """
    if config is not None:
        if include is not None or exclude is not None or sample is not None or init_kwargs:
            raise WeightInitError("Argument `config` describes the whole initialization; include/exclude/sample/"
                                  "initializer arguments cannot be combined with it. Put them in the config's "
                                  "`overrides` instead.")
        from ..config import apply_config  # config builds on schemes: imported here to keep imports one-way

        return apply_config(model, config, seed=seed)
    if isinstance(method, str) and method.strip().lower() == "auto":
        if include is not None or exclude is not None or bias_init != "zeros" or not skip_frozen or init_kwargs:
            raise WeightInitError("method='auto' chooses the initializer per layer and accepts only `seed` and "
                                  "`sample`; include/exclude/bias_init/skip_frozen/initializer arguments are not "
                                  "supported with it.")
        return auto_initialize(model, sample=sample, seed=seed)
    init = method if isinstance(method, BoundInitializer) else get_initializer(method, **init_kwargs)
    sites, skipped, tied = select_sites(model, include=include, exclude=exclude, skip_frozen=skip_frozen,
                                        graph=model_graph(model, sample))
    decisions: list[tuple[ParamSite, Decision]] = []
    for site in sites:
        decision = method_decision(site, init, bias_init)
        if decision is None:
            reason = "bias_init='keep'" if site.kind == "bias" else (
                f"{site.role} parameter of {type(site.module).__name__}: not a layer's weight, bias or norm "
                "(its value has a meaning of its own, or is unknown): left as is")
            skipped[site.name] = reason
        else:
            decisions.append((site, decision))
    return apply_decisions(model, init.name, decisions, seed=seed, skipped=skipped, tied=tied)
