"""Walk a model's parameters, decide an initializer for each, and apply all decisions atomically.

Every model-level operation (``initialize_model``, the architecture and published schemes, ``auto``) is a
*rule* that maps a :class:`ParamSite` to a :class:`Decision`; :func:`apply_decisions` then draws every new
value into a staging tensor from the keyed streams of :mod:`.seeding` and only copies them into the model
once all succeeded. Any error therefore leaves the model exactly as it was.
"""

from __future__ import annotations

import fnmatch
import itertools
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import torch
from torch import nn
from torch.nn.utils import parametrize

from .._rollback import restore_all, snapshot
from ..errors import WeightInitError
from ..graph import ModelGraph, module_roles, trace
from ..initializers import BoundInitializer, compute_fans, gate_blocks, get_initializer, get_spec
from ..initializers._common import check_choice, check_module, is_dtensor
from .result import InitResult, ParamInit
from .seeding import (
    ELEMENTWISE_INITIALIZERS,
    Job,
    Region,
    draw_seed,
    keyed_generator,
    keyed_jobs,
    local_region,
)

__all__ = [
    "BiasInit",
    "Decision",
    "ParamKind",
    "ParamSite",
    "Plan",
    "apply_decisions",
    "classify",
    "draw_decisions",
    "draw_jobs",
    "iter_sites",
    "local_device",
    "local_shape",
    "model_graph",
    "norm_decision",
    "planning",
    "run_jobs",
    "select_sites",
]

logger = logging.getLogger("weight_initialization_system")

ParamKind = Literal["weight", "bias", "embedding", "norm_weight", "norm_bias", "unknown"]
BiasInit = Literal["zeros", "keep", "uniform"] | float

#: Below this many elements a parameter is drawn on the calling thread; above it, parameters are spread over
#: a thread pool (torch's CPU generators are serial, so independent keyed generators parallelize).
_PARALLEL_MIN_NUMEL = 1 << 20


@dataclass(frozen=True)
class ParamSite:
    """One parameter as the walker sees it.

    Attributes:
        name: qualified name (for a parametrized weight, the effective name ``<module>.<attr>``).
        module_name: qualified name of the owning module.
        local_name: the attribute name inside the owning module.
        module: the owning module.
        tensor: the parameter, or the effective weight of a parametrized attribute.
        kind: what the walker recognised it as.
        fans: ``(fan_in, fan_out)`` of one block, or ``None`` for non-matrices.
        blocks: independent blocks stacked along dim 0 (LSTM gates, q/k/v).
        parametrized: whether the value is written through ``torch.nn.utils.parametrize``.
        neutral: for a normalization scale, the value at which it does not scale (1 for ``x̂·w``, 0 for
            Gemma's ``x̂·(1 + w)``), from the graph.
        role: its role in the graph (:attr:`ModelGraph.roles <weight_initialization_system.graph.ModelGraph.roles>`).
    """

    name: str
    module_name: str
    local_name: str
    module: nn.Module
    tensor: torch.Tensor
    kind: ParamKind
    fans: tuple[int, int] | None
    blocks: int
    parametrized: bool = False
    neutral: float = 1.0
    role: str = "unused"


@dataclass(frozen=True)
class Decision:
    """What to do with one parameter: an initializer (or constant) and why."""

    init: BoundInitializer
    reason: str
    fans: tuple[int, int] | None = None
    blocks: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


#: What the walker acts on, from each parameter's role in the traced graph (anything else is left alone).
_KIND_OF_ROLE: dict[str, ParamKind] = {
    "weight": "weight", "bank": "weight", "recurrent": "weight", "embedding": "embedding",
    "norm_scale": "norm_weight", "norm_shift": "norm_bias", "bias": "bias",
}


def classify(role: str) -> ParamKind:
    """The walker's kind for a graph role (:attr:`ModelGraph.roles
    <weight_initialization_system.graph.ModelGraph.roles>`): ``unknown`` (left as is) for roles such as
    Mamba's ``A_log`` or a time step bias (``other``), a layer scale, or an offset."""
    return _KIND_OF_ROLE.get(role, "unknown")


def model_graph(model: nn.Module, sample: Any | None = None) -> ModelGraph:
    """The graph the walker classifies parameters by: traced (a sample is built when none is given), or,
    for sharded (DTensor) models, whose forward is a collective, torch's own layer types
    (:func:`~weight_initialization_system.graph.module_roles`)."""
    if any(is_dtensor(p) for p in model.parameters()):
        return ModelGraph(traced=False, reason="sharded parameters: not traced", roles=module_roles(model))
    return trace(model, sample)


def _site(module_name: str, module: nn.Module, local: str, tensor: torch.Tensor, parametrized: bool,
          graph: ModelGraph) -> ParamSite:
    name = f"{module_name}.{local}" if module_name else local
    # Checked before anything reads the shape: torch raises its own error on .dim() of a lazy parameter.
    if isinstance(tensor, nn.parameter.UninitializedParameter):
        raise WeightInitError(
            f"Parameter {name!r} of {type(module).__name__} is lazy (uninitialized). "
            "Run one forward pass with a sample input first so that its shape is known."
        )
    role = graph.role(name)
    if role == "unused" and graph.traced:  # not reached by the sample: torch's own types still say what it is
        role = module_roles(module).get(local, "unused")
    kind = classify(role)
    fans = None
    if kind in ("weight", "embedding") and tensor.dim() >= 2:
        layer = graph.weights.get(name)
        fans = layer.fans if layer is not None and layer.op not in ("embedding",) else compute_fans(
            tensor, module, local)
    blocks = gate_blocks(module, local) if kind in ("weight", "bias") else 1
    neutral = graph.neutral.get(name, 1.0) if kind == "norm_weight" else 0.0
    return ParamSite(name, module_name, local, module, tensor, kind, fans, blocks, parametrized, neutral, role)


def iter_sites(model: nn.Module, graph: ModelGraph | None = None) -> Iterator[tuple[ParamSite, list[str]]]:
    """Yield every distinct parameter once (tied ones under their first name) with its alias names, classified
    by ``graph`` (traced from ``model`` when not given)."""
    check_module("model", model)
    graph = model_graph(model) if graph is None else graph
    names_of: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names_of.setdefault(id(p), []).append(name)
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        if isinstance(module, parametrize.ParametrizationList):
            continue
        if parametrize.is_parametrized(module):
            prefix = f"{module_name}." if module_name else ""
            for local in module.parametrizations:  # type: ignore[union-attr]
                originals = [p for p in module.parametrizations[local].parameters()]  # type: ignore[index]
                seen.update(id(p) for p in originals)
                yield _site(module_name, module, local, getattr(module, local), True, graph), [
                    n for p in originals for n in names_of.get(id(p), []) if not n.startswith(prefix + local)
                ]
        for local, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            site = _site(module_name, module, local, p, False, graph)
            yield site, [n for n in names_of.get(id(p), []) if n != site.name]


def _compile_patterns(argument: str, patterns: str | Sequence[str] | None) -> list[str] | None:
    if patterns is None:
        return None
    if isinstance(patterns, str):
        return [patterns]
    if not isinstance(patterns, Iterable) or not all(isinstance(p, str) for p in patterns):
        raise WeightInitError(f"Argument `{argument}` must be a glob or a list of globs (e.g. 'encoder.*.weight'). "
                              f"Received: {argument}={patterns!r}")
    return list(patterns)


def select_sites(
    model: nn.Module,
    *,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    skip_frozen: bool = True,
    graph: ModelGraph | None = None,
) -> tuple[list[ParamSite], dict[str, str], dict[str, str]]:
    """The parameters to act on, the skipped ones with reasons, and tied aliases.

    ``include``/``exclude`` are :mod:`fnmatch` globs on parameter names (``"encoder.*.weight"``). Parameters
    are classified by ``graph`` (traced from ``model`` when not given, see :func:`model_graph`).

    Raises:
        WeightInitError: for lazy (uninitialized) parameters, or when ``include`` matches nothing.
    """
    inc = _compile_patterns("include", include)
    exc = _compile_patterns("exclude", exclude)
    sites: list[ParamSite] = []
    skipped: dict[str, str] = {}
    tied: dict[str, str] = {}
    for site, aliases in iter_sites(model, graph):
        for alias in aliases:
            tied[alias] = site.name
        names = [site.name, *aliases]
        if inc is not None and not any(fnmatch.fnmatchcase(n, pat) for n in names for pat in inc):
            skipped[site.name] = "not matched by include"
        elif exc is not None and any(fnmatch.fnmatchcase(n, pat) for n in names for pat in exc):
            skipped[site.name] = "matched by exclude"
        elif skip_frozen and not site.tensor.requires_grad:
            skipped[site.name] = "frozen (requires_grad=False)"
        else:
            sites.append(site)
    if inc is not None and not sites and not any(v == "frozen (requires_grad=False)" for v in skipped.values()):
        raise WeightInitError(f"Argument `include` matched no parameter. Received: include={include!r}")
    return sites, skipped, tied


def norm_decision(site: ParamSite) -> Decision:
    """A normalization's scale at its neutral value (1 for ``x̂·w``, 0 for ``x̂·(1 + w)``), its shift at 0: the
    norm then only normalizes."""
    module = type(site.module).__name__
    if site.kind == "norm_weight":
        form = "x̂·w" if site.neutral == 1.0 else f"x̂·({1.0 - site.neutral:g} + w)"
        init = {1.0: get_initializer("ones"), 0.0: get_initializer("zeros")}.get(
            site.neutral, get_initializer("constant", val=site.neutral))
        return Decision(init, f"{module} scale = {site.neutral:g} (neutral: it computes {form})")
    return Decision(get_initializer("zeros"), f"{module} shift = 0")


def bias_decision(site: ParamSite, bias_init: BiasInit) -> Decision | None:
    """The decision for a layer bias: zeros, a constant, torch's default U(±1/√fan_in), or ``None`` (keep)."""
    if isinstance(bias_init, (int, float)) and not isinstance(bias_init, bool):
        if not math.isfinite(bias_init):
            raise WeightInitError("Argument `bias_init` must be 'zeros', 'keep', 'uniform' or a finite number. "
                                  f"Received: bias_init={bias_init!r}")
        return Decision(get_initializer("constant", val=float(bias_init)), f"bias = {float(bias_init)}")
    check_choice("bias_init", bias_init, ("zeros", "keep", "uniform"))
    if bias_init == "keep":
        return None
    if bias_init == "zeros":
        return Decision(get_initializer("zeros"), "bias = 0")
    weight = getattr(site.module, "weight", None)
    fan_in = compute_fans(weight, site.module)[0] if isinstance(weight, torch.Tensor) and weight.dim() >= 2 else 0
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return Decision(get_initializer("uniform", a=-bound, b=bound), "bias ~ U(±1/√fan_in), torch's default")


def _check(site: ParamSite, decision: Decision) -> None:
    tensor = site.tensor
    if tensor.is_meta and _PLANS.get() is None:
        raise WeightInitError(
            f"Parameter {site.name!r} is on the meta device and has no storage. Materialize the model first "
            "(`model.to_empty(device=...)`) or use `materialize()`."
        )
    if not decision.init.spec.supports_ndim(tensor.dim()):
        spec = decision.init.spec
        need = f"{spec.min_ndim}" + (f" to {spec.max_ndim}" if spec.max_ndim != spec.min_ndim else "")
        raise WeightInitError(
            f"Initializer {spec.name!r} needs a tensor with {need} dimensions, but parameter {site.name!r} "
            f"({type(site.module).__name__}) has shape {tuple(tensor.shape)}. Use include/exclude to restrict it."
        )
    if decision.blocks > 1 and tensor.size(0) % decision.blocks:
        raise WeightInitError(f"Parameter {site.name!r}: {tensor.size(0)} rows do not split into "
                              f"{decision.blocks} blocks")


def _fans_for(decision: Decision, shape: tuple[int, ...]) -> tuple[int, int] | None:
    """The fans a block is drawn with: the decision's, else those of one gate block of the full shape."""
    if decision.fans is not None or not decision.init.spec.uses_fans or len(shape) < 2:
        return decision.fans
    return compute_fans(torch.empty((shape[0] // decision.blocks, *shape[1:]), device="meta"))


def _is_elementwise(decision: Decision) -> bool:
    spec = decision.init.spec
    return spec.name in ELEMENTWISE_INITIALIZERS and get_spec(spec.name).fn is spec.fn


def _draw_whole(site: ParamSite, decision: Decision, seed: int, full: torch.Tensor) -> None:
    """Structured initializers (orthogonal, sparse, eye, user callables): the whole tensor from one stream."""
    generator = keyed_generator(seed, site.name, full.device) if decision.init.spec.random else None
    for block in full.chunk(decision.blocks, 0) if decision.blocks > 1 else (full,):
        decision.init(block, fans=decision.fans, generator=generator)


def draw_jobs(
    site: ParamSite, decision: Decision, seed: int, out: torch.Tensor, region: Region | None = None
) -> tuple[list[Job], Job | None]:
    """Jobs that draw ``decision``'s values for the part of ``site.tensor`` held in ``out``, and a last step.

    ``region`` is the box of the full tensor that ``out`` holds (default: :func:`local_region` of the site's
    tensor: the whole tensor, or this rank's shard of a DTensor). Elementwise initializers are drawn block by
    block with :func:`keyed_jobs`, so a shard costs about its own size; structured ones are drawn whole from
    :func:`keyed_generator` and sliced. The jobs may run on any threads; the last step (zeroing the
    ``padding_idx`` row of an embedding) must run after all of them.
    """
    init = decision.init
    box = local_region(site.tensor) if region is None else region
    jobs: list[Job]
    if box is None:
        jobs = [lambda: out.copy_(_strided_local(site, decision, seed, out))]
    elif _is_elementwise(decision) and not init.spec.random:
        fans = _fans_for(decision, box.shape)
        jobs = [lambda: init(out, fans=fans)]
    elif _is_elementwise(decision):
        fans = _fans_for(decision, box.shape)
        jobs = keyed_jobs(out, box, seed, site.name, lambda block, g: init(block, fans=fans, generator=g))
    else:
        def whole() -> None:
            full = out if box.is_whole else torch.empty(box.shape, dtype=out.dtype, device=out.device)
            _draw_whole(site, decision, seed, full)
            if full is not out:
                out.copy_(full[box.index()])

        jobs = [whole]
    padding_idx = decision.extra.get("padding_idx")
    if padding_idx is None or box is None:
        return jobs, None
    row = padding_idx % box.shape[0] - box.offset[0]
    return jobs, (lambda: out[row].zero_()) if 0 <= row < box.size[0] else None


def _strided_local(site: ParamSite, decision: Decision, seed: int, out: torch.Tensor) -> torch.Tensor:
    """This rank's part of a DTensor whose local part is not a box: draw the full tensor, cut it locally."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    tensor = site.tensor
    if not isinstance(tensor, DTensor):
        raise TypeError(f"expected a DTensor for {site.name!r}")
    full = torch.empty(tensor.shape, dtype=out.dtype, device=out.device)
    jobs, final = draw_jobs(site, decision, seed, full, Region.whole(tuple(full.shape)))
    for job in [*jobs, *([final] if final is not None else [])]:
        job()
    local: torch.Tensor = distribute_tensor(full, tensor.device_mesh, tensor.placements,
                                            src_data_rank=None).to_local()
    return local


def local_shape(tensor: torch.Tensor) -> tuple[int, ...]:
    """The shape of this process's part of ``tensor`` (its shape, unless it is a sharded DTensor)."""
    box = local_region(tensor)
    if box is not None:
        return box.size
    return tuple(tensor.to_local().shape)  # type: ignore[attr-defined]


def local_device(tensor: torch.Tensor) -> torch.device:
    """The device of this process's part of ``tensor``."""
    return tensor.to_local().device if is_dtensor(tensor) else tensor.device  # type: ignore[attr-defined]


def run_jobs(jobs: Sequence[Job], *, parallel: bool) -> None:
    """Run independent jobs under ``no_grad``, on ``torch.get_num_threads()`` threads when ``parallel``.

    torch's CPU generators are serial and its kernels release the GIL, so independent keyed blocks drawn on
    several threads use several cores. The blocks are the parallelism: each worker runs torch's kernels on
    one intra-op thread (else every worker would open an OpenMP team of its own and oversubscribe the
    cores), and torch's thread setting is restored afterwards. Grad mode is thread-local: each worker sets
    ``no_grad`` itself.
    """
    threads = min(len(jobs), torch.get_num_threads()) if parallel else 1
    if threads <= 1:
        for job in jobs:
            _no_grad(job)
        return
    intra_op = torch.get_num_threads()
    try:
        with ThreadPoolExecutor(max_workers=threads, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            for future in [pool.submit(_no_grad, job) for job in jobs]:
                future.result()
    finally:
        torch.set_num_threads(intra_op)


def _no_grad(job: Job) -> None:
    with torch.no_grad():
        job()


def draw_decisions(
    decisions: Sequence[tuple[ParamSite, Decision]], seed: int, outs: Sequence[torch.Tensor]
) -> None:
    """Draw every decision into its output; ``outs[i]`` holds this process's part of ``decisions[i]``."""
    jobs: list[Job] = []
    last: list[Job] = []
    for (site, decision), out in zip(decisions, outs, strict=True):
        site_jobs, final = draw_jobs(site, decision, seed, out)
        jobs += site_jobs
        if final is not None:
            last.append(final)
    on_cpu = all(out.device.type == "cpu" for out in outs)
    run_jobs(jobs, parallel=on_cpu and sum(out.numel() for out in outs) >= _PARALLEL_MIN_NUMEL)
    for final in last:
        final()


def _as_value_of(tensor: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    """Wrap a staged local part as a DTensor laid out like ``tensor`` (no communication), or return it."""
    if not is_dtensor(tensor):
        return local
    from torch.distributed.tensor import DTensor

    sharded = cast(DTensor, tensor)
    return DTensor.from_local(local, sharded.device_mesh, sharded.placements, run_check=False,
                              shape=sharded.shape, stride=sharded.stride())


Plan = tuple[list[tuple[ParamSite, Decision]], int]
_PLANS: ContextVar[list[Plan] | None] = ContextVar("weight_init_plans", default=None)


@contextmanager
def planning() -> Iterator[list[Plan]]:
    """Inside this block, :func:`apply_decisions` validates and records ``(decisions, seed)``, draws nothing.

    This is how a model on the meta device is planned before it has storage (``materialize``,
    ``init_to_safetensors``): any initialization that goes through ``apply_decisions`` can be planned, as
    long as its decisions do not depend on the parameters' current values.
    """
    plans: list[Plan] = []
    token = _PLANS.set(plans)
    try:
        yield plans
    finally:
        _PLANS.reset(token)


def apply_decisions(
    model: nn.Module,
    method: str,
    decisions: Sequence[tuple[ParamSite, Decision]],
    *,
    seed: int | None,
    skipped: dict[str, str] | None = None,
    tied: dict[str, str] | None = None,
) -> InitResult:
    """Validate every decision, draw all new values, then write them into the model; all or nothing.

    Values come from the keyed streams of :mod:`.seeding`: element ``i`` of a parameter depends only on
    (seed, the parameter's name, ``i``) for elementwise initializers, and the whole tensor on (seed, name) for
    structured ones, so values do not depend on module order, on which other parameters exist, or on how a
    DTensor parameter is sharded (each rank draws only its local shard). Without a seed, a base seed is drawn
    from torch's global generator (``torch.manual_seed`` makes the call reproducible) and reported in the
    result. Inside :func:`planning`, the validated decisions are recorded instead of drawn.
    """
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise WeightInitError(f"Argument `seed` must be a non-negative integer or None. Received: seed={seed!r}")
    for site, decision in decisions:
        _check(site, decision)
    base_seed = draw_seed() if seed is None else seed

    plans = _PLANS.get()
    if plans is not None:
        plans.append((list(decisions), base_seed))
    else:
        with torch.no_grad():
            outs = [torch.empty(local_shape(s.tensor), dtype=s.tensor.dtype, device=local_device(s.tensor))
                    for s, _ in decisions]
            draw_decisions(decisions, base_seed, outs)
            staged = {i: _as_value_of(decisions[i][0].tensor, out) for i, out in enumerate(outs)}
            _commit(decisions, staged)

    result = InitResult(method, base_seed, skipped=dict(skipped or {}), tied=dict(tied or {}))
    for site, decision in decisions:
        result.initialized[site.name] = ParamInit(
            site.name, type(site.module).__name__, decision.init.name, dict(decision.init.kwargs),
            decision.fans, decision.blocks, decision.reason,
        )
    logger.debug("initialized %d parameters with %s (seed %d)", len(decisions), method, base_seed)
    return result


def _commit(decisions: Sequence[tuple[ParamSite, Decision]], staged: dict[int, torch.Tensor]) -> None:
    """Write staged values into the model, all or nothing.

    Every target is checked before the first write. Parametrized attributes go first, through
    ``right_inverse``, after a snapshot of their parametrization's state. Plain parameters then exchange
    contents with their staging buffers (:class:`_Swap`), so the buffers end up holding the old values: the
    backup costs no memory beyond a small buffer per thread. Any exception, ``KeyboardInterrupt`` and
    ``MemoryError`` included, undoes every write in reverse order and is re-raised.
    """
    for i, (site, _) in enumerate(decisions):
        _check_writable(site, staged[i])
    plain = [i for i, (site, _) in enumerate(decisions) if not site.parametrized]
    undo: list[Callable[[], None]] = []
    try:
        for i, (site, _) in enumerate(decisions):
            if site.parametrized:
                plist: nn.Module = site.module.parametrizations[site.local_name]  # type: ignore[index,assignment]
                # right_inverse re-points the originals at new storage: snapshot keeps the old one
                undo.append(snapshot((*plist.parameters(), *plist.buffers())))
                setattr(site.module, site.local_name, staged[i])
        swaps = [_Swap(x, y) for i in plain for x, y in _pieces(decisions[i][0].tensor, staged[i])]
        undo.extend(swap.roll_back for swap in swaps)  # registered before the first write; a no-op until then
        targets = [swap.target for swap in swaps]
        on_cpu = all(t.device.type == "cpu" for t in targets)
        big = sum(t.numel() for t in targets) >= _PARALLEL_MIN_NUMEL
        run_jobs([swap.run for swap in swaps], parallel=on_cpu and big and _disjoint(targets))
    except BaseException as error:
        with torch.no_grad():
            restore_all(undo, error)
        raise


def _check_writable(site: ParamSite, value: torch.Tensor) -> None:
    """Refuse, before anything is written, a target that an in-place copy would reject or corrupt."""
    if site.parametrized:
        return  # written through right_inverse, which replaces the originals' storage
    local = _local(site.tensor)
    expanded = [d for d, (n, step) in enumerate(zip(local.shape, local.stride(), strict=True)) if n > 1 and step == 0]
    if expanded:
        raise WeightInitError(
            f"Parameter {site.name!r} ({type(site.module).__name__}) cannot be written in place: it is an expanded "
            f"view (stride 0 along dim {expanded[0]}), so several of its elements share one memory location. "
            f"Give it its own storage first, e.g. `module.{site.local_name} = nn.Parameter(tensor.clone())`."
        )
    if local.is_inference() and not torch.is_inference_mode_enabled():
        raise WeightInitError(f"Parameter {site.name!r} is an inference tensor (created under "
                              "torch.inference_mode) and cannot be written outside inference mode.")
    new = _local(value)
    if (new.shape, new.dtype, new.device) != (local.shape, local.dtype, local.device):
        raise WeightInitError(
            f"Parameter {site.name!r}: the drawn value ({new.dtype}, {tuple(new.shape)}, {new.device}) does not "
            f"fit the parameter ({local.dtype}, {tuple(local.shape)}, {local.device})."
        )


def _local(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor itself, or this process's shard of a DTensor (the storage an in-place write reaches)."""
    return tensor.to_local() if is_dtensor(tensor) else tensor  # type: ignore[attr-defined, no-any-return]


#: Elements per :class:`_Swap` step on CPU: in cache, so an exchange costs about one extra pass over memory. On
#: a thread with several intra-op threads, torch's parallel grain: a copy that small runs on the calling thread
#: (hundreds of small OpenMP regions stall badly on a loaded machine); threads come from :func:`run_jobs` over
#: pieces instead. Elsewhere each step is a kernel launch: large steps.
_SWAP_STEP_CPU = 1 << 18
_SWAP_STEP_CPU_GRAIN = 1 << 15
_SWAP_STEP_OTHER = 1 << 26
#: Elements per piece of a tensor exchanged by one job (pieces of large tensors spread over threads).
_SWAP_PIECE = 1 << 22


def _pieces(target: torch.Tensor, staged: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(target part, staged part)`` pairs covering the local tensors: flat pieces when both are contiguous."""
    a, b = _local(target), _local(staged)
    if a.numel() == 0:
        return []
    if not (a.is_contiguous() and b.is_contiguous()):
        return [(a, b)]
    return list(zip(torch.split(a.view(-1), _SWAP_PIECE), torch.split(b.view(-1), _SWAP_PIECE), strict=True))


def _disjoint(tensors: Sequence[torch.Tensor]) -> bool:
    """Whether no two tensors share memory, so that they can be written on several threads at once (parameters
    that are views of one storage are exchanged one after the other)."""
    def span(t: torch.Tensor) -> tuple[int, int]:
        last = sum((n - 1) * abs(step) for n, step in zip(t.shape, t.stride(), strict=True))
        return t.data_ptr(), t.data_ptr() + (last + 1) * t.element_size()

    spans = sorted(span(t) for t in tensors)
    return all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))


class _Swap:
    """Exchange the contents of ``target`` and ``staged`` (same shape) in place, step by step through a small
    buffer. :meth:`roll_back` puts ``target``'s old values back from wherever they are when it runs: in
    ``staged`` for exchanged steps, in the buffer for the step under way; before :meth:`run` it does nothing.
    """

    def __init__(self, target: torch.Tensor, staged: torch.Tensor) -> None:
        self.target, self.staged = target, staged
        self.steps: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.buffer: torch.Tensor | None = None
        # 2k: steps < k are exchanged; 2k + 1: step k's old value is in the buffer, its exchange under way
        self.state = 0

    def run(self) -> None:
        target, staged = self.target, self.staged
        steps = [(target, staged)]
        if target.dim() == 1 and target.is_contiguous() and staged.is_contiguous():
            step = _SWAP_STEP_CPU if torch.get_num_threads() == 1 else _SWAP_STEP_CPU_GRAIN
            step = step if target.device.type == "cpu" else _SWAP_STEP_OTHER
            steps = list(zip(torch.split(target, step), torch.split(staged, step), strict=True))
        buffer = torch.empty(max(x.numel() for x, _ in steps), dtype=target.dtype, device=target.device)
        self.steps, self.buffer = steps, buffer
        for k, (x, y) in enumerate(steps):
            held = buffer[: x.numel()].view(x.shape)
            held.copy_(x)
            self.state = 2 * k + 1
            x.copy_(y)
            y.copy_(held)
            self.state = 2 * k + 2

    def roll_back(self) -> None:
        state = self.state
        for x, y in self.steps[: state // 2]:
            x.copy_(y)
        if state % 2 and self.buffer is not None:
            x = self.steps[state // 2][0]
            x.copy_(self.buffer[: x.numel()].view(x.shape))
