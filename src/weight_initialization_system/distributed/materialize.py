"""Meta-device workflow: give a model built under ``torch.device("meta")`` storage and our values in one pass.

Planning runs the initialization on the meta model first (:func:`~..schemes.walker.planning`): every decision
is validated and every tensor without a decision must have a recipe, before one byte is allocated. Then each
tensor gets uninitialized storage, recipes fill buffers (and parameters that the method leaves alone), and
the planned values are drawn straight into the new storage, so there is no default init first and no
staging copy: peak memory is the parameter bytes plus a few 64K-element blocks per thread.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from .._rollback import restore_all, snapshot
from ..errors import WeightInitError
from ..initializers import BoundInitializer, InitFn
from ..initializers._common import check_module, is_dtensor
from ..schemes.model_init import initialize_model
from ..schemes.result import InitResult
from ..schemes.walker import Decision, ParamSite, draw_decisions, local_shape, planning

__all__ = ["Recipe", "materialize"]

logger = logging.getLogger("weight_initialization_system")

#: Fills the tensors of one module that the initialization does not cover (buffers, unknown parameters).
Recipe = Callable[[nn.Module], object]
InitCall = Callable[[nn.Module], InitResult]


@dataclass
class ModulePlan:
    """The tensors of one module that have no decision, and how they will get values."""

    module_name: str
    module: nn.Module
    recipe: Callable[[], object]
    how: str
    tensors: list[str] = field(default_factory=list)


@dataclass
class MaterializationPlan:
    """What ``materialize`` and ``init_to_safetensors`` will do, decided on the meta model.

    Attributes:
        result: what the initialization reported (per parameter initializer, skipped, tied).
        draws: ``(decisions, seed)`` groups, each decision the last one planned for its parameter.
        modules: per module with uncovered meta tensors, the recipe that fills them.
        real: ``id`` of the tensors that were not on the meta device (kept as they are).
    """

    result: InitResult
    draws: list[tuple[list[tuple[ParamSite, Decision]], int]]
    modules: list[ModulePlan]
    real: set[int] = field(default_factory=set)

    def covered(self) -> set[int]:
        """``id`` of every parameter whose values come from a decision (parametrization originals included)."""
        ids: set[int] = set()
        for decisions, _ in self.draws:
            for site, _decision in decisions:
                ids.update(id(p) for p in _originals(site))
        return ids


def _originals(site: ParamSite) -> list[torch.Tensor]:
    if site.parametrized:
        plist: nn.Module = site.module.parametrizations[site.local_name]  # type: ignore[index,assignment]
        return list(plist.parameters())
    return [site.tensor]


def _own_tensors(module: nn.Module) -> Iterator[tuple[str, torch.Tensor, bool]]:
    """The module's own parameters and buffers: ``(local name, tensor, is_parameter)``."""
    for local, p in module._parameters.items():
        if p is not None:
            yield local, p, True
    for local, b in module._buffers.items():
        if b is not None:
            yield local, b, False


def _recipe_for(
    module: nn.Module, uncovered_params: bool, recipes: Mapping[type[nn.Module], Recipe]
) -> tuple[Callable[[], object], str] | None:
    for kind, recipe in recipes.items():
        if isinstance(module, kind):
            return functools.partial(recipe, module), f"recipes[{kind.__name__}]"
    if isinstance(module, nn.modules.batchnorm._NormBase) and not uncovered_params:
        return module.reset_running_stats, "running mean 0, running var 1, batches tracked 0"
    for attribute in ("reset_parameters", "_reset_parameters"):  # MultiheadAttention has the private one
        reset = getattr(module, attribute, None)
        if callable(reset):
            return reset, f"{type(module).__name__}.{attribute}()"
    return None


def plan_materialization(
    model: nn.Module,
    method: str | InitFn | BoundInitializer = "xavier_uniform",
    *,
    seed: int | None = None,
    recipes: Mapping[type[nn.Module], Recipe] | None = None,
    init_fn: InitCall | None = None,
    **init_kwargs: Any,
) -> MaterializationPlan:
    """Plan the initialization of a meta model without allocating anything; see :func:`materialize`.

    Raises:
        WeightInitError: when the model has no meta tensor, when the initialization is invalid, or when some
            meta parameter or buffer has neither a decision nor a recipe (all of them are listed).
    """
    check_module("model", model)
    if not any(t.is_meta for m in model.modules() for _, t, _ in _own_tensors(m)):
        raise WeightInitError("The model has no tensor on the meta device. Build it under "
                              "`with torch.device('meta'):`, or use initialize_model() on a materialized model.")
    if init_fn is not None and init_kwargs:
        raise WeightInitError(f"Pass either `init_fn` or initializer arguments, not both. "
                              f"Received: init_fn={init_fn!r}, {init_kwargs!r}")
    with planning() as plans:
        result = init_fn(model) if init_fn is not None else initialize_model(model, method, seed=seed,
                                                                             **init_kwargs)
    last: dict[str, int] = {}
    for index, (decisions, _) in enumerate(plans):
        for site, _decision in decisions:
            last[site.name] = index
    draws = [([(s, d) for s, d in decisions if last[s.name] == index], plan_seed)
             for index, (decisions, plan_seed) in enumerate(plans)]
    plan = MaterializationPlan(result, [d for d in draws if d[0]], [],
                               {id(t) for m in model.modules() for _, t, _ in _own_tensors(m) if not t.is_meta})
    covered = plan.covered()
    problems: list[str] = []
    for module_name, module in model.named_modules():
        uncovered = [(local, t, is_param) for local, t, is_param in _own_tensors(module)
                     if t.is_meta and id(t) not in covered
                     and not isinstance(module, parametrize.ParametrizationList)]
        if not uncovered:
            continue
        found = _recipe_for(module, any(is_param for *_, is_param in uncovered), recipes or {})
        names = [f"{module_name}.{local}" if module_name else local for local, _, _ in uncovered]
        if found is None:
            problems += [f"{name} ({type(module).__name__}, {'parameter' if p else 'buffer'})"
                         for name, (_, _, p) in zip(names, uncovered, strict=True)]
            continue
        plan.modules.append(ModulePlan(module_name, module, found[0], found[1], names))
        for name, (_, _, is_param) in zip(names, uncovered, strict=True):
            if is_param:
                reason = plan.result.skipped.get(name, "no decision")
                plan.result.skipped[name] = f"{reason}; values from {found[1]}"
    if problems:
        raise WeightInitError(
            "Cannot materialize these meta tensors: the initialization does not cover them and their module "
            "has no reset_parameters() or known recipe: " + ", ".join(problems) + ". Give the module a "
            "reset_parameters(), or pass recipes={ModuleType: fn} with fn(module) filling its tensors."
        )
    return plan


def _empty_like(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    data = torch.empty_like(tensor, device=device)
    if isinstance(tensor, nn.Parameter):
        return nn.Parameter(data, requires_grad=tensor.requires_grad)
    return data


def allocate(model: nn.Module, device: torch.device | str, *, recurse: bool = True) -> None:
    """Give every meta parameter and buffer uninitialized storage on ``device``; others are left as they are.

    Tied tensors stay tied (``Module.to_empty`` unties them). Models with DTensor parameters (FSDP2) go
    through ``to_empty``, which FSDP2 hooks to re-point its sharded storage; tensors that were not on the
    meta device keep their values there too.
    """
    target = torch.device(device)
    modules = list(model.modules()) if recurse else [model]
    if any(is_dtensor(t) for m in modules for _, t, _ in _own_tensors(m)):
        kept = [(m, local, t.detach().clone()) for m in modules for local, t, _ in _own_tensors(m) if not t.is_meta]
        model.to_empty(device=target, recurse=recurse)
        with torch.no_grad():
            for m, local, value in kept:
                getattr(m, local).copy_(value)
        return
    new: dict[int, torch.Tensor] = {}
    for m in modules:
        for local, t, is_param in _own_tensors(m):
            if not t.is_meta:
                continue
            if id(t) not in new:
                new[id(t)] = _empty_like(t, target)
            if is_param:
                m._parameters[local] = new[id(t)]  # type: ignore[assignment]
            else:
                m._buffers[local] = new[id(t)]


def _local(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to_local() if is_dtensor(tensor) else tensor  # type: ignore[attr-defined,no-any-return]


def materialize(
    model: nn.Module,
    method: str | InitFn | BoundInitializer = "xavier_uniform",
    *,
    device: torch.device | str = "cpu",
    seed: int | None = None,
    recipes: Mapping[type[nn.Module], Recipe] | None = None,
    init_fn: InitCall | None = None,
    **init_kwargs: Any,
) -> InitResult:
    """Give a model built on the meta device real storage on ``device`` and initialize it, in one pass.

    Replaces ``model.to_empty(device=...)`` + ``reset_parameters()`` + a re-initialization: every value is
    written once, and the result equals, bitwise, ``initialize_model(model_built_on_cpu, method, seed=seed,
    ...)`` for every parameter that ``initialize_model`` initializes. Works for models whose parameters are
    DTensors (FSDP2 ``fully_shard`` or ``distribute_tensor`` on a ``DeviceMesh``): each rank draws only its
    local shard, and the gathered tensors equal single-process ones whatever the world size.

    Tensors without a decision (buffers, parameters the method leaves alone) get values from a recipe for
    their module, in this order: ``recipes[type]`` (``fn(module)``, the first ``isinstance`` match), the
    running statistics of BatchNorm/InstanceNorm (mean 0, variance 1, ``num_batches_tracked`` 0), else the
    module's ``reset_parameters()`` (a rotary-embedding module that recomputes its non-persistent cache
    there is covered; parameters so filled use torch's global generator, not the keyed streams). Recipes run
    before the planned values are drawn, so planned values always win. Tensors that were not on the meta
    device are kept as they are.

    Validation happens on the meta model: on any error (an invalid method, a tensor with no recipe, listed
    all at once) the model is left on the meta device, untouched.

    Args:
        model: a module whose parameters and buffers are (at least partly) on the meta device.
        method: as in :func:`~weight_initialization_system.schemes.initialize_model`.
        device: where the storage goes.
        seed: base seed of the keyed streams (drawn from torch's global generator when ``None``).
        recipes: ``{ModuleType: fn}``; ``fn(module)`` fills that module's uncovered tensors in place.
        init_fn: instead of ``method``: any model-level initialization ``fn(model) -> InitResult`` built on
            ``apply_decisions`` (a published scheme, a config), e.g. ``lambda m: apply_scheme(m, "gpt2",
            seed=0)``; its decisions must not depend on current values.
        **init_kwargs: forwarded to ``initialize_model`` (``std=0.02``, ``bias_init=...``, ``include=...``).

    Returns:
        The :class:`InitResult` of the initialization; parameters filled by a recipe say so in ``skipped``.

    >>> with torch.device("meta"):
    ...     model = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512))
    >>> result = materialize(model, "trunc_normal", std=0.02, seed=0)
    >>> model[1].running_var.unique().tolist()
    [1.0]
    """
    _check_device(device)
    plan = plan_materialization(model, method, seed=seed, recipes=recipes, init_fn=init_fn, **init_kwargs)
    # Some problems only show when values are drawn (an initializer's argument values: initializers return
    # meta tensors untouched, so planning cannot check them), or when storage is allocated (a bad device):
    # on any error, the modules get their meta tensors back.
    # Tensors that were real already are written in place by recipes (reset_parameters): put their values back.
    saved = [(m, dict(m._parameters), dict(m._buffers)) for m in model.modules()]
    restore_real = snapshot((*model.parameters(), *model.buffers()))  # meta tensors are not copied
    try:
        _fill(model, plan, device)
    except BaseException as error:  # KeyboardInterrupt and MemoryError too
        for m, parameters, buffers in saved:
            m._parameters.clear()
            m._parameters.update(parameters)
            m._buffers.clear()
            m._buffers.update(buffers)
        restore_all([restore_real], error)
        raise
    logger.debug("materialized %d parameters on %s (seed %s)", len(plan.result), device, plan.result.seed)
    return plan.result


def _check_device(device: torch.device | str) -> torch.device:
    """``device`` as a ``torch.device``, or a :class:`WeightInitError` naming it."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise WeightInitError(f"Argument `device` must be a torch.device or a device string such as 'cpu' or "
                              f"'cuda:0'. Received: device={device!r}") from None


def _fill(model: nn.Module, plan: MaterializationPlan, device: torch.device | str) -> None:
    """Allocate storage for ``model``'s meta tensors on ``device`` and write the planned values."""
    allocate(model, device)
    with torch.no_grad():
        for module_plan in plan.modules:
            # A recipe resets its whole module; tensors that were real before materialize keep their values.
            kept = [(t, t.detach().clone()) for _, t, _ in _own_tensors(module_plan.module)
                    if id(t) in plan.real]
            module_plan.recipe()
            for tensor, value in kept:
                _local(tensor).copy_(_local(value))
        for decisions, draw_seed in plan.draws:
            outs: list[torch.Tensor] = []
            staged: list[tuple[ParamSite, torch.Tensor]] = []
            for site, _decision in decisions:
                out = None if site.parametrized else _local(getattr(site.module, site.local_name))
                if out is None or not out.is_contiguous():
                    out = torch.empty(local_shape(site.tensor), dtype=site.tensor.dtype, device=device)
                    staged.append((site, out))
                outs.append(out)
            draw_decisions(decisions, draw_seed, outs)
            for site, value in staged:
                if site.parametrized:
                    setattr(site.module, site.local_name, value)
                else:
                    _local(getattr(site.module, site.local_name)).copy_(value)
