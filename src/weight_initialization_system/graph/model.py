"""The traced model: what each parameter does, derived from the recorded forward pass.

:func:`trace` runs one forward pass under :class:`~.record.Recorder` and turns the nodes into roles:

- **weight layers**: a parameter applied as a linear map to the signal (linear, conv, HF ``Conv1D``'s
  ``addmm``, one expert of a stacked bank, ``nn.MultiheadAttention``'s projections, recurrent weights), each
  with its fans, the activation that feeds it (``silu(gate)·up`` is a *gated* SiLU), whether it ends a residual
  branch, whether its output only feeds a normalization (then its scale cannot matter), and whether it is the
  readout;
- **residual additions**: ``x + f(x)``, ``x + f(x) + g(x)`` (parallel residuals) — an addition whose operands
  have the same shape and one of which has passed through strictly fewer weight layers since the input (the
  skip); the last weight layer of each other operand is a *branch end*. Additions that feed a softmax are
  attention biases, not residuals. A block is *pre-norm* when its branches normalize and the skip path does
  not (pre-LN transformers; BatchNorm inside a ResNet branch), *post-norm* when the sum feeds a normalization
  only;
- **normalizations**: functional norms and leaf modules that are scale-invariant (:mod:`.probe`), each scale
  parameter with its neutral value (1 for ``x̂·w``, 0 for ``x̂·(1 + w)``);
- **attention**: each softmax over ``q·kᵀ`` with the logit scale actually applied (scalar factors on the
  scores and on ``q``; ``scaled_dot_product_attention``'s ``scale``, default ``1/√d_head``);
- **embeddings**: token (indexed by a model input), position (indexed by increasing positions made inside the
  model, or a learned tensor added to the signal), token type (a constant index, or an input named so),
  relative attention bias (its output is added to attention scores), class token (concatenated to the signal).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..errors import WeightInitError
from ..initializers import compute_fans
from ..initializers._common import check_choice, check_module
from .probe import probe_activation, probe_norm
from .record import Node, ParamRef, Recorder, flat_tensors
from .sample import build_sample

__all__ = [
    "Activation",
    "AttentionInfo",
    "EmbeddingInfo",
    "ModelGraph",
    "NormInfo",
    "ResidualAdd",
    "WeightLayer",
    "module_roles",
    "trace",
]

logger = logging.getLogger("weight_initialization_system")

Feed = Literal["input", "activation", "gated", "norm", "residual", "linear", "attention", "other"]
TraceDevice = Literal["auto", "meta", "real"]

#: Above this many parameter bytes, ``device="auto"`` traces on the meta device.
_META_BYTES = 1 << 30


@dataclass(frozen=True)
class Activation:
    """The nonlinearity applied to a weight layer's input: a name from ``GAINS`` (or ``quick_gelu``), its
    parameter (leaky slope, ``1.0`` for tanh-approximate GELU), and ``gated`` for ``φ(gate)·up``."""

    name: str
    param: float | None = None
    gated: bool = False


@dataclass(frozen=True)
class WeightLayer:
    """One parameter used as a linear map on the signal.

    Attributes:
        param: qualified parameter name (the user-facing name for a parametrized weight).
        module: qualified name of the module that owns it.
        op: ``linear``, ``conv``, ``conv_transpose``, ``embedding``, ``bank`` (one expert of a stacked
            bank), ``attention_in``/``attention_out`` (``nn.MultiheadAttention``), ``recurrent_input`` or
            ``recurrent`` (``W_hh``), ``matmul``.
        fans: ``(fan_in, fan_out)`` of one block (one expert for a bank).
        feeds: what its input is (``input``, ``activation``, ``gated``, ``norm``, ``residual`` stream,
            ``linear`` output of another weight layer, ``attention`` output, ``other``).
        activation: the nonlinearity on its input, when ``feeds`` is ``activation`` or ``gated``.
        residual_end: its output is added to a skip connection (last layer of a residual branch).
        scale_invariant: its output reaches normalizations only, so its scale cannot matter.
        first: no weight layer lies between the model input and this one.
        readout: its output reaches the model output through shape operations only.
        last: no weight layer consumes its output.
        previous: the weight layer whose output reaches this one through activations and shape operations
            only (no normalization, no sum), ``None`` otherwise.
        output: where its output goes: ``weight`` (another weight layer, through activations and shape
            operations), ``norm``, ``residual`` (a skip connection), ``add`` (another sum), ``output``,
            ``other``.
        output_activation: the nearest nonlinearity applied to its output.
        input_scale: the product of the scalar factors applied to its input after the last operation that is
            not a reshape or a scaling (T5 scales the decoder output by ``d_model^-1/2`` before ``lm_head``).
        sink: where its signal ends up, following it through activations, gates and further weight layers:
            ``residual`` (added to a skip connection), ``norm``, ``attention`` (the logits of a softmax: q and
            k), ``output`` or ``other``. A layer whose sink is not ``other`` cannot make the signal vanish by
            being small (its scale sets a branch's or the logits' size, or is normalized away).
        order: index in execution order among weight layers.
        bias: the bias added by the same operation, if any.
        module_scope: the innermost module running when it was used.
    """

    param: str
    module: str
    op: str
    fans: tuple[int, int]
    feeds: Feed
    activation: Activation | None
    residual_end: bool
    scale_invariant: bool
    first: bool
    readout: bool
    last: bool
    previous: str | None
    output: str
    output_activation: Activation | None
    sink: str
    order: int
    bias: str | None
    module_scope: str
    input_scale: float = 1.0


@dataclass(frozen=True)
class NormInfo:
    """A normalization: its module, scale and shift parameters, and the scale's neutral value."""

    module: str
    kind: str
    scale: str | None
    shift: str | None
    neutral: float


@dataclass(frozen=True)
class ResidualAdd:
    """A residual addition: the module it runs in, its branch ends, where the block normalizes, and the weight
    layers and norms on the skip path (a projection shortcut)."""

    block: str
    branch_ends: tuple[str, ...]
    norm: Literal["pre", "post", "none"]
    skip_layers: tuple[str, ...] = ()
    skip_norms: tuple[str, ...] = ()


@dataclass(frozen=True)
class AttentionInfo:
    """An attention: the module computing the softmax, the logit scale applied, and its projections."""

    module: str
    scale: float | None
    query: tuple[str, ...]
    key: tuple[str, ...]
    value: tuple[str, ...] = ()


@dataclass(frozen=True)
class EmbeddingInfo:
    """An embedding parameter and its role."""

    param: str
    role: EmbeddingRole


@dataclass
class ModelGraph:
    """What a model computes: the recorded nodes and every parameter's role.

    Attributes:
        traced: whether a forward pass was recorded (``False``: no sample could be built or run; then
            ``reason`` says why and ``roles`` come from torch's own layer types only, see :func:`module_roles`).
        reason: how the sample was obtained, or why there is no trace.
        device: ``"real"`` or ``"meta"``.
        nodes: the recorded calls.
        weights: weight layers by parameter name, in execution order (a parameter used twice, e.g. a tied
            embedding and readout, is listed at its first use; ``uses`` has all).
        uses: every weight-layer use of each parameter.
        norms: normalizations by scale (or shift) parameter name.
        residuals: the residual additions.
        attention: attention modules.
        embeddings: embedding parameters by name.
        roles: every parameter's role: ``weight``, ``bias``, ``embedding``, ``norm_scale``, ``norm_shift``,
            ``recurrent``, ``bank``, ``layer_scale``, ``offset`` (added to the signal outside a layer),
            ``other`` (used elementwise, e.g. Mamba's ``A_log``), ``unused``.
        neutral: neutral values of normalization parameters.
        tied: parameter name → every name it is registered under (tied weights).
        module_kinds: leaf modules whose forward is one activation (``"act"``) or normalization (``"norm"``),
            whether by a functional call or by what the module computes.
    """

    traced: bool
    reason: str
    device: str = "real"
    nodes: list[Node] = field(default_factory=list)
    weights: dict[str, WeightLayer] = field(default_factory=dict)
    uses: dict[str, list[WeightLayer]] = field(default_factory=dict)
    norms: dict[str, NormInfo] = field(default_factory=dict)
    residuals: list[ResidualAdd] = field(default_factory=list)
    attention: dict[str, AttentionInfo] = field(default_factory=dict)
    embeddings: dict[str, EmbeddingInfo] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    neutral: dict[str, float] = field(default_factory=dict)
    tied: dict[str, tuple[str, ...]] = field(default_factory=dict)
    module_kinds: dict[str, str] = field(default_factory=dict)

    def role(self, name: str) -> str:
        """The role of a parameter (``unused`` when the forward pass never touched it)."""
        return self.roles.get(name, "unused")

    @property
    def readouts(self) -> tuple[str, ...]:
        """Parameter names used as a readout (a tied embedding is listed under its one name)."""
        return tuple(n for n, layers in self.uses.items() if any(la.readout for la in layers))

    @property
    def residual_ends(self) -> frozenset[str]:
        """Parameter names of every residual branch end."""
        return frozenset(p for r in self.residuals for p in r.branch_ends)

    def block_norm(self) -> dict[str, str]:
        """Per block (module running the residual addition): ``pre``, ``post`` or ``none``."""
        out: dict[str, set[str]] = {}
        for r in self.residuals:
            out.setdefault(r.block, set()).add(r.norm)
        return {b: s.pop() if len(s) == 1 else "mixed" for b, s in out.items()}


# ----------------------------------------------------------------------------------------------------
# Tracing
# ----------------------------------------------------------------------------------------------------


_TORCH_WEIGHT_LAYERS = (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd, nn.MultiheadAttention)
_TORCH_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)


def module_roles(model: nn.Module) -> dict[str, str]:
    """Roles from torch's own layer types, for a model that cannot be traced: weights and biases of linear,
    convolution and attention layers, ``W_hh`` of recurrent layers, embeddings, and the scale (neutral value
    1) and shift of torch's normalization layers. Anything else is ``unused`` (left alone)."""
    roles: dict[str, str] = {}
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        for local, p in module.named_parameters(recurse=False):
            name = _user_name(f"{prefix}{local}")
            if isinstance(module, nn.Embedding | nn.EmbeddingBag):
                roles[name] = "embedding"
            elif isinstance(module, nn.RNNBase | nn.RNNCellBase):
                roles[name] = "bias" if local.startswith("bias") else "recurrent" if "_hh" in local else "weight"
            elif isinstance(module, _TORCH_WEIGHT_LAYERS):
                roles[name] = "weight" if p.dim() >= 2 else "bias"
            elif isinstance(module, _TORCH_NORMS):
                roles[name] = "norm_scale" if local == "weight" else "norm_shift"
    return roles


def _untraced(model: nn.Module, reason: str) -> ModelGraph:
    return ModelGraph(traced=False, reason=reason, roles=module_roles(model))


def _param_names(model: nn.Module) -> dict[int, str]:
    """id → user-facing name for every parameter (tied ones once; ``parametrizations.w.original`` → ``w``)."""
    names: dict[int, str] = {}
    for name, p in model.named_parameters():
        names[id(p)] = _user_name(name)
    return names


def _user_name(name: str) -> str:
    if ".parametrizations." in f".{name}":
        head, _, tail = f".{name}".partition(".parametrizations.")
        attr = tail.split(".", 1)[0]
        return f"{head}.{attr}".lstrip(".")
    return name


def _input_names(model: nn.Module, sample: Any) -> tuple[list[Any], list[str]]:
    if isinstance(sample, dict):
        return list(sample.values()), [str(k) for k in sample]
    args = list(sample) if isinstance(sample, (tuple, list)) else [sample]
    try:
        params = [p for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        names = [params[i].name if i < len(params) else f"arg{i}" for i in range(len(args))]
    except (TypeError, ValueError):
        names = [f"arg{i}" for i in range(len(args))]
    return args, names


@contextlib.contextmanager
def _tracing_state(model: nn.Module) -> Iterator[None]:
    """Train mode (no fused inference fast paths; norms normalize by batch), no grad, and afterwards the
    modes and the global RNG state as they were. (Buffers are never written: the forward runs on copies.)"""
    modes = [(m, m.training) for m in model.modules()]
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            model.train()
            yield
    finally:
        for m, training in modes:
            m.training = training


def _to_meta(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to("meta")
    if isinstance(value, dict):
        return {k: _to_meta(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_meta(v) for v in value)
    return value


def _record(model: nn.Module, sample: Any, meta: bool) -> Recorder:
    names = _param_names(model)
    # the forward runs on copies of the buffers, so BatchNorm statistics (or any buffer a forward writes)
    # are never touched, and nothing needs restoring
    state: dict[str, torch.Tensor] = {} if meta else {n: b.clone() for n, b in model.named_buffers()}
    if meta:
        ids: dict[int, str] = {}
        for name, p in model.named_parameters():
            stand_in = torch.empty_like(p, device="meta")
            state[name] = stand_in
            ids[id(stand_in)] = _user_name(name)
        for name, b in model.named_buffers():
            state[name] = torch.empty_like(b, device="meta")
        names = ids
        sample = _to_meta(sample)
    recorder = Recorder(model, names)
    values, input_names = _input_names(model, sample)
    recorder.add_inputs(values, input_names)
    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(recorder.pre_hook, with_kwargs=True))
        handles.append(module.register_forward_hook(recorder.post_hook, with_kwargs=True))
    try:
        with _tracing_state(model), recorder:
            if isinstance(sample, dict):
                out = torch.func.functional_call(model, state, (), sample, strict=False)
            else:
                args = tuple(sample) if isinstance(sample, (tuple, list)) else (sample,)
                out = torch.func.functional_call(model, state, args, strict=False)
    finally:
        for h in handles:
            h.remove()
    producers = list(dict.fromkeys(recorder.producer[id(t)] for t in flat_tensors(out) if id(t) in recorder.producer))
    recorder.add("output", "output", [p for p in producers if recorder.nodes[p].signal], [], [], None, False)
    return recorder


def trace(model: nn.Module, sample: Any | None = None, *, device: TraceDevice = "auto") -> ModelGraph:
    """Trace one forward pass of ``model`` and derive every parameter's role.

    Args:
        model: any ``nn.Module``; it is not changed (modes, buffers and the global RNG state are restored).
        sample: a tensor, a tuple/list of positional arguments or a dict of keyword arguments. Without one, a
            sample is built (:func:`~.sample.build_sample`); when none can be, the graph says why
            (``traced=False``) and a warning is issued.
        device: ``"real"`` runs the model as it is; ``"meta"`` runs it on meta stand-ins of its parameters, so
            a 7B-parameter graph costs no memory; ``"auto"`` uses meta above 1 GiB of parameters or when the
            model is on the meta device.

    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> g = trace(net)
    >>> g.weights["2.weight"].activation, g.weights["2.weight"].readout
    (Activation(name='relu', param=None, gated=False), True)
    """
    check_module("model", model)
    check_choice("device", device, ("auto", "meta", "real"))
    for module_name, module in model.named_modules():
        for local, p in module.named_parameters(recurse=False):
            if isinstance(p, nn.parameter.UninitializedParameter):
                raise WeightInitError(
                    f"Parameter {f'{module_name}.{local}'.lstrip('.')!r} of {type(module).__name__} is lazy "
                    "(uninitialized). Run one forward pass with a sample input first so that its shape is known.")
    params = list(model.parameters())
    on_meta = any(p.is_meta for p in params)
    big = sum(p.numel() * p.element_size() for p in params) > _META_BYTES
    meta = device == "meta" or (device == "auto" and (on_meta or big))
    how = "the given sample"
    if sample is None:
        sample, how = build_sample(model, torch.device("meta") if on_meta else None)
        if sample is None:
            warnings.warn(f"trace: {how}; only torch's own layer types are known. Pass `sample=`.", stacklevel=2)
            return _untraced(model, how)
    built = how != "the given sample"
    try:
        recorder = _record(model, sample, meta)
    except Exception as exc:  # a sample the model rejects, or an op the meta device cannot run
        reason = f"the forward pass on {how} failed ({type(exc).__name__}: {str(exc)[:200]})"
        if meta and not on_meta and device == "auto":
            logger.info("trace: %s on meta; retrying on the real device", reason)
            return trace(model, sample if not built else None, device="real")
        if built:
            warnings.warn(f"trace: {reason}; only torch's own layer types are known. Pass `sample=`.",
                          stacklevel=2)
            return _untraced(model, reason)
        raise WeightInitError(f"trace: {reason}. Pass a `sample` the model accepts.") from exc
    graph = _build(model, recorder.nodes, how, "meta" if meta else "real")
    graph.module_kinds.update({name: recorder.nodes[i].kind for name, i in recorder.leaf_calls.items()})
    graph.module_kinds.update({n.detail: n.kind for n in recorder.nodes
                               if n.attrs.get("module_inputs") is not None and n.kind in ("act", "norm")})
    return graph


# ----------------------------------------------------------------------------------------------------
# From nodes to roles
# ----------------------------------------------------------------------------------------------------

_PASS = ("transparent", "scale", "shift", "module")


def _resolve_modules(model: nn.Module, nodes: list[Node]) -> None:
    """Probe each leaf module placeholder: an activation or a norm absorbs its inner nodes."""
    modules = dict(model.named_modules(remove_duplicate=False))
    seen = _PROBES
    for node in nodes:
        if node.kind != "module":
            continue
        module = modules.get(node.detail)
        shape = node.attrs["in_shape"]
        if module is None or len(node.attrs["module_inputs"]) != 1:
            node.kind = "transparent"
            continue
        key = _probe_key(module, shape)
        if key not in seen:
            act = probe_activation(module, shape)
            seen[key] = ("act", act) if act is not None else ("norm", probe_norm(module, shape))
            if len(seen) > _PROBES_KEPT:
                seen.pop(next(iter(seen)))
        what, value = seen[key]
        if value is None:
            node.kind = "transparent"
        else:
            node.kind, node.inputs = what, list(node.attrs["module_inputs"])
            node.attrs["activation" if what == "act" else "probe"] = value
            for inner in nodes[node.attrs["start"]:node.index]:  # summarized by the module: out of the graph
                inner.kind = "inside"



#: Probe answers by :func:`_probe_key`, across traces (the oldest dropped beyond ``_PROBES_KEPT``).
_PROBES: dict[tuple[Any, ...], Any] = {}
_PROBES_KEPT = 512


def _probe_key(module: nn.Module, shape: tuple[int, ...]) -> tuple[Any, ...]:
    """What a probe's answer depends on: the module's class, its plain settings (eps, flags), its parameter
    and buffer shapes, and the input shape -- so 64 identical RMSNorms are probed once."""
    settings = tuple(sorted((k, v) for k, v in vars(module).items()
                            if isinstance(v, (int, float, bool, str, type(None))) and not k.startswith("_")))
    tensors = tuple((n, tuple(t.shape)) for n, t in (*module.named_parameters(), *module.named_buffers()))
    small_buffers = tuple(tuple(b.detach().flatten().tolist()) for b in module.buffers()
                          if b.numel() <= 64 and not b.is_meta)
    return (type(module), settings, tensors, small_buffers, shape)


def _forward(users: list[list[int]], start: int, through: Callable[[int, int], bool]) -> Iterator[tuple[int, int]]:
    """``(node, predecessor)`` for every node reachable from ``start`` (each once, at its first arrival), going on
    past a node only where ``through(node, predecessor)`` says so (asked before the pair is yielded)."""
    frontier, seen = [start], set()
    while frontier:
        j = frontier.pop()
        for u in users[j]:
            if u not in seen:
                seen.add(u)
                go = through(u, j)
                yield u, j
                if go:
                    frontier.append(u)


def _users(nodes: list[Node]) -> list[list[int]]:
    users: list[list[int]] = [[] for _ in nodes]
    for node in nodes:
        if node.kind != "inside":
            for j in (*node.inputs, *node.aux):
                users[j].append(node.index)
    return users


def _weight_param(node: Node) -> list[tuple[str, ParamRef, str]]:
    """``(role, ref, position)`` of the parameters of a weight node: ``weight``, ``bias``, ``in``/``out``
    projections of attention, recurrent input/hidden weights."""
    out: list[tuple[str, ParamRef, str]] = []
    shapes = node.attrs.get("shapes", {})
    detail = node.detail
    for pos, ref in node.params:
        ndim = len(shapes.get(pos, ()))
        if detail == "attention":
            role = {"5": "attention_in", "6": "bias", "11": "attention_out", "12": "bias",
                    "q_proj_weight": "attention_in", "k_proj_weight": "attention_in",
                    "v_proj_weight": "attention_in"}.get(pos, "other")
        elif detail == "recurrent":
            role = "recurrent_param"
        elif detail == "linear_t":
            role = "weight" if pos == "2" else "bias" if pos == "0" else "other"
        elif detail == "embedding":
            role = "weight" if pos in ("1", "weight") else "other"
        else:
            role = "weight" if ndim >= 2 else "bias"
        out.append((role, ref, pos))
    if detail == "attention":  # q/k/v come as keywords after out_proj's positional weight: inputs first
        out.sort(key=lambda item: item[0] == "attention_out")
    return out


def _build(model: nn.Module, nodes: list[Node], reason: str, device: str) -> ModelGraph:
    _resolve_modules(model, nodes)
    users = _users(nodes)
    graph = ModelGraph(traced=True, reason=reason, device=device, nodes=nodes)
    all_params = dict(model.named_parameters())
    modules = dict(model.named_modules())
    owner = {u: u.rsplit(".", 1)[0] if "." in u else "" for u in map(_user_name, all_params)}
    for n, p in model.named_parameters(remove_duplicate=False):
        canonical = _user_name(next(k for k, v in all_params.items() if v is p))
        graph.tied.setdefault(canonical, ())
        if _user_name(n) != canonical:
            graph.tied[canonical] = (*graph.tied[canonical], _user_name(n))
    graph.tied = {k: v for k, v in graph.tied.items() if v}

    # weight depth: most weight layers on any path from an input to the node's output
    wdepth = [0] * len(nodes)
    for node in nodes:
        wdepth[node.index] = max((wdepth[j] for j in node.inputs), default=0) + (node.kind == "weight")

    def back(i: int, through: tuple[str, ...] = _PASS) -> int:
        while nodes[i].kind in through and nodes[i].inputs:
            i = nodes[i].inputs[0]
        return i

    def feeds_softmax(i: int) -> bool:
        through = (*_PASS, "add")
        return any(nodes[u].kind == "softmax" for u, _ in _forward(users, i, lambda u, _j: nodes[u].kind in through))

    def feed_of(i: int) -> tuple[Feed, Activation | None]:
        j = back(i)
        node = nodes[j]
        if node.kind == "act":
            name, param = node.attrs["activation"]
            return "activation", Activation(name, param)
        if node.kind == "mul" and len(node.inputs) >= 2:
            a, b = (back(k) for k in node.inputs[:2])
            for x, y in ((a, b), (b, a)):
                if nodes[x].kind == "act" and nodes[back(nodes[x].inputs[0])].kind == "weight" \
                        and nodes[y].kind == "weight":
                    name, param = nodes[x].attrs["activation"]
                    return "gated", Activation(name, param, gated=True)
            return "other", None
        if node.kind == "norm":
            return "norm", None
        if node.kind == "add":
            return "residual", None
        if node.kind == "weight":
            return ("attention" if node.detail == "attention" else "linear"), None
        if node.kind == "input":
            return "input", None
        if node.kind in ("matmul", "sdpa", "softmax"):
            return "attention", None
        if node.kind == "merge":
            found = {feed_of(k) for k in node.inputs}
            return found.pop() if len(found) == 1 else ("other", None)
        return "other", None

    def reaches_only_norms(i: int) -> bool:
        through = ("transparent", "shift", "scale")
        kinds = {nodes[u].kind for u, _ in _forward(users, i, lambda u, _j: nodes[u].kind in through)}
        return "norm" in kinds and kinds <= {"norm", *through}

    output_node = nodes[-1]

    def readout(i: int) -> bool:
        return any(u == output_node.index
                   for u, _ in _forward(users, i, lambda u, _j: nodes[u].kind in ("transparent", "shift")))

    def has_weight_below(i: int) -> bool:
        return any(nodes[u].kind == "weight" for u, _ in _forward(users, i, lambda _u, _j: True))

    def value_operand(u: int) -> int | None:
        """The value operand of an attention product (``probs @ v`` or ``sdpa(q, k, v)``), else ``None``."""
        node = nodes[u]
        if node.kind == "sdpa":
            return node.inputs[-1] if node.inputs else None
        if node.kind == "matmul" and len(node.inputs) == 2 and nodes[back(node.inputs[0])].kind == "softmax":
            return node.inputs[1]
        return None

    def previous(i: int) -> str | None:
        j = nodes[i].inputs[0] if nodes[i].inputs else None
        while j is not None:
            node = nodes[j]
            if value_operand(j) is not None:  # through the attention average, to the value projection
                j = value_operand(j)
                continue
            if node.kind == "weight":
                names = _names_of(node) if node.detail != "attention" else tuple(
                    ref.names[0] for role, ref, _ in _weight_param(node) if role == "attention_out")
                return names[0] if names else None
            if node.kind not in ("act", *_PASS) or not node.inputs:
                return None
            j = node.inputs[0]
        return None

    def output_of(i: int) -> tuple[str, Activation | None]:
        def passes(u: int, j: int) -> bool:
            kind = nodes[u].kind
            return kind in ("act", *_PASS) or (kind in ("matmul", "sdpa") and value_operand(u) == j)

        ends = set()
        for u, j in _forward(users, i, passes):
            kind = nodes[u].kind
            if passes(u, j):
                continue
            if kind in ("matmul", "sdpa", "softmax"):
                ends.add("attention")
            elif kind == "add":
                ends.add("add")
            elif u == output_node.index:
                ends.add("output")
            else:
                ends.add(kind if kind in ("weight", "norm") else "other")
        end = next((e for e in ("weight", "output", "add", "norm", "attention") if e in ends), "other")
        return end, output_activation(i)

    def output_activation(i: int) -> Activation | None:
        """The nearest nonlinearity after node ``i``, through norms, sums and shape operations."""
        frontier, seen = list(users[i]), set()
        while frontier:
            j = min(frontier)  # execution order: the nearest activation wins
            frontier.remove(j)
            if j in seen:
                continue
            seen.add(j)
            if nodes[j].kind == "act":
                name, param = nodes[j].attrs["activation"]
                return Activation(name, param)
            if nodes[j].kind in (*_PASS, "norm", "add", "merge"):
                frontier.extend(users[j])
        return None

    def is_score(i: int) -> bool:
        """A q·k product (through shape operations and scalings, into a softmax)."""
        return nodes[i].kind == "matmul" and value_operand(i) is None and feeds_softmax(i)

    def sink_of(i: int) -> str:
        def terminal(u: int, j: int) -> str | None:
            node = nodes[u]
            if u == output_node.index:
                return "output"
            if node.kind == "norm":
                return "norm"
            if node.kind == "add" and residual_candidate(u):
                return "residual"
            if (node.kind == "sdpa" and value_operand(u) != j) or is_score(u) or node.kind == "softmax":
                return "attention"
            return None

        labels: dict[int, str | None] = {}

        def through(u: int, j: int) -> bool:
            labels[u] = terminal(u, j)
            return labels[u] is None

        found = [(u, label) for u, _ in _forward(users, i, through) if (label := labels[u]) is not None]
        return min(found)[1] if found else "other"

    def residual_candidate(u: int) -> bool:
        node = nodes[u]
        if len(node.inputs) < 2 or any(nodes[k].shape != node.shape for k in node.inputs) or feeds_softmax(u):
            return False
        depths = [wdepth[k] for k in node.inputs]
        return min(depths) < max(depths)

    # ---- weight layers ------------------------------------------------------------------------------
    order = 0
    for node in nodes:
        if node.kind != "weight":
            continue
        feeds, act = feed_of(node.inputs[0]) if node.inputs else ("input", None)
        if node.inputs and nodes[back(node.inputs[0])].kind == "input":
            feeds = "input"
        roles = _weight_param(node)
        bias = next((ref.names[0] for role, ref, _ in roles if role == "bias"), None)
        is_first = max((wdepth[j] for j in node.inputs), default=0) == 0
        end, out_act = output_of(node.index)
        sink = sink_of(node.index)
        prev = previous(node.index)
        last = not has_weight_below(node.index)
        in_proj = next((ref.names[0] for role, ref, _ in roles if role == "attention_in"), None)
        for role, ref, pos in roles:
            name = ref.names[0]
            if role == "bias":
                graph.roles.setdefault(name, "bias")
                continue
            if role == "other":
                graph.roles.setdefault(name, "other")
                continue
            op = node.detail
            if role in ("attention_in", "attention_out"):
                op = role
            elif node.detail == "recurrent":
                local = name.rsplit(".", 1)[-1]
                if local.startswith("bias"):
                    graph.roles.setdefault(name, "bias")
                    continue
                op = "recurrent" if "_hh" in local else "recurrent_input"
            elif node.detail == "bank" or (node.detail in ("linear", "matmul") and "__getitem__" in ref.ops
                                            and all_params.get(name, torch.empty(0)).dim() >= 3):
                op = "bank"
            elif node.detail == "linear_t":
                op = "linear"
            fans = _fans(modules, owner.get(name, ""), name, all_params, node.detail, pos,
                         node.attrs["shapes"].get(pos))
            layer = WeightLayer(
                param=name, module=owner.get(name, ""), op=op, fans=fans,
                feeds="attention" if role == "attention_out" else feeds,
                activation=None if role == "attention_out" else act,
                residual_end=False,
                scale_invariant=reaches_only_norms(node.index) and role != "attention_in",
                first=is_first and role != "attention_out", readout=readout(node.index) and role != "attention_in",
                last=last, previous=in_proj if role == "attention_out" else prev,
                output="weight" if role == "attention_in" else end,
                output_activation=None if role == "attention_in" else out_act,
                sink="residual" if role == "attention_in" and sink == "other" else sink,
                order=order, bias=bias, module_scope=node.module,
                input_scale=_scalar_path(nodes, node.inputs[0])[0] if node.inputs else 1.0,
            )
            order += 1
            graph.uses.setdefault(name, []).append(layer)
            graph.weights.setdefault(name, layer)
            role_name = {"embedding": "embedding", "bank": "bank", "recurrent": "recurrent"}.get(op, "weight")
            graph.roles.setdefault(name, role_name)

    # ---- residual additions -------------------------------------------------------------------------
    def branch_ends(i: int) -> list[str]:
        j = back(i, (*_PASS, "norm", "act", "mul"))
        node = nodes[j]
        if node.kind == "merge":
            return list(dict.fromkeys(e for k in node.inputs for e in branch_ends(k)))
        if node.kind != "weight":
            return []
        names = [ref.names[0] for role, ref, _ in _weight_param(node)
                 if role in ("weight", "attention_out", "recurrent_param")]
        if node.detail == "attention":
            names = [ref.names[0] for role, ref, _ in _weight_param(node) if role == "attention_out"]
        return names[:1]

    def operands(i: int) -> list[int]:
        out: list[int] = []
        for j in nodes[i].inputs:
            if nodes[j].kind == "add" and len(users[j]) == 1 and nodes[j].shape == nodes[i].shape:
                out.extend(operands(j))
            else:
                out.append(j)
        return out

    consumed: set[int] = set()
    for node in reversed(nodes):
        if node.kind != "add" or node.index in consumed or len(node.inputs) < 2:
            continue
        ops = operands(node.index)
        consumed.update(j for j in _add_tree(nodes, users, node.index))
        if any(nodes[j].shape != node.shape for j in ops) or feeds_softmax(node.index):
            continue
        depths = [wdepth[j] for j in ops]
        low = min(depths)
        if depths.count(low) != 1 or all(d == low for d in depths):
            continue
        skip = ops[depths.index(low)]
        ends = tuple(dict.fromkeys(e for j in ops if j != skip for e in branch_ends(j)))
        if not ends:
            continue
        floor = wdepth[skip] - (nodes[back(skip, (*_PASS, "norm"))].kind == "weight")  # the block's input depth
        after = users[node.index]
        if any(nodes[u].kind == "norm" for u in users[skip] if u != node.index):
            position: Literal["pre", "post", "none"] = "pre"  # the branch input is the normalized stream
        elif after and all(nodes[u].kind == "norm" for u in after):
            position = "post"  # the sum is normalized
        elif any(_normalized_between(nodes, j, wdepth, floor, skip) for j in ops if j != skip):
            position = "pre"  # norms inside the branch only (BatchNorm in a ResNet branch)
        else:
            position = "none"
        skip_layers = tuple(branch_ends(skip)) if nodes[back(skip, (*_PASS, "norm", "act"))].kind == "weight" \
            and wdepth[skip] > floor else ()
        skip_norms = tuple(n.module if n.attrs.get("module_inputs") is None else n.detail
                           for n in _path_back(nodes, skip, (*_PASS, "norm", "act")) if n.kind == "norm") \
            if skip_layers else ()
        graph.residuals.append(ResidualAdd(node.module, ends, position, skip_layers, skip_norms))
    graph.residuals.reverse()
    ends_all = graph.residual_ends
    for name, layers in graph.uses.items():
        graph.uses[name] = [_replace(la, residual_end=True, output="residual" if la.output == "add" else la.output)
                            if name in ends_all else la for la in layers]
        graph.weights[name] = graph.uses[name][0]

    # ---- normalizations -----------------------------------------------------------------------------
    from .ops import NORM_FUNCTIONS

    for node in nodes:
        if node.kind != "norm":
            continue
        probe = node.attrs.get("probe")
        if probe is not None:
            prefix = f"{node.detail}." if node.detail else ""
            scale = next(iter(probe.scales), None)
            shift = probe.shifts[0] if probe.shifts else None
            info = NormInfo(node.detail, "probed", f"{prefix}{scale}" if scale else None,
                            f"{prefix}{shift}" if shift else None,
                            probe.scales[scale] if scale else 1.0)
        else:
            w_pos, b_pos = next((v for f, v in NORM_FUNCTIONS.items() if getattr(f, "__name__", "") == node.detail),
                                (-9, -9))
            scale_ref = next((ref for pos, ref in node.params if pos in (str(w_pos), "weight")), None)
            shift_ref = next((ref for pos, ref in node.params if pos in (str(b_pos), "bias")), None)
            info = NormInfo(node.module, node.detail, scale_ref.names[0] if scale_ref else None,
                            shift_ref.names[0] if shift_ref else None,
                            1.0 - scale_ref.offset if scale_ref else 1.0)
        if info.scale:
            graph.norms.setdefault(info.scale, info)
            graph.roles[info.scale] = "norm_scale"
            graph.neutral[info.scale] = info.neutral
        if info.shift:
            graph.norms.setdefault(info.shift, info)
            graph.roles[info.shift] = "norm_shift"
            graph.neutral[info.shift] = 0.0

    # ---- attention ----------------------------------------------------------------------------------
    for node in nodes:
        if node.kind == "softmax" and node.inputs:
            factor, j = 1.0, node.inputs[0]
            while True:
                kind = nodes[j].kind
                if kind == "scale" and nodes[j].attrs.get("factor") is not None:
                    factor *= float(nodes[j].attrs["factor"])
                elif kind == "add":
                    nxt = next((k for k in nodes[j].inputs if nodes[back(k)].kind == "matmul"), None)
                    if nxt is None:
                        break
                    j = nxt
                    continue
                elif kind not in _PASS:
                    break
                if not nodes[j].inputs:
                    break
                j = nodes[j].inputs[0]
            if nodes[j].kind != "matmul":
                continue
            q_factor, q = _scalar_path(nodes, nodes[j].inputs[0])
            k_factor, k = _scalar_path(nodes, nodes[j].inputs[1] if len(nodes[j].inputs) > 1 else j)
            values = [value_operand(u) for u in _descendants(users, node.index, nodes) if value_operand(u) is not None]
            v = _scalar_path(nodes, values[0])[1] if values and values[0] is not None else None
            graph.attention[node.module] = AttentionInfo(
                node.module, factor * q_factor * k_factor, _names_of(nodes[q]), _names_of(nodes[k]) or
                _names_of(nodes[q]), _names_of(nodes[v]) if v is not None else ())
        elif node.kind == "sdpa" and node.inputs:
            scale = node.attrs.get("scale")
            head = node.attrs.get("head_dim")
            s = float(scale) if scale is not None else (1.0 / math.sqrt(head) if head else None)
            q_factor, q = _scalar_path(nodes, node.inputs[0])
            k_factor, k = _scalar_path(nodes, node.inputs[1] if len(node.inputs) > 1 else node.index)
            v = _scalar_path(nodes, node.inputs[-1])[1]
            graph.attention[node.module] = AttentionInfo(
                node.module, None if s is None else s * q_factor * k_factor, _names_of(nodes[q]),
                _names_of(nodes[k]) or _names_of(nodes[q]), _names_of(nodes[v]))
        elif node.kind == "weight" and node.detail == "attention":
            heads = node.attrs.get("num_heads")
            projections = [ref.names[0] for role, ref, _ in _weight_param(node) if role == "attention_in"]
            width = all_params[projections[0]].shape[-1] if projections and projections[0] in all_params else None
            scale = 1.0 / math.sqrt(width / heads) if width and heads else None
            graph.attention[owner.get(projections[0], node.module) if projections else node.module] = AttentionInfo(
                owner.get(projections[0], node.module) if projections else node.module, scale, tuple(projections),
                tuple(projections), tuple(projections))

    # ---- embeddings and other parameters -----------------------------------------------------------
    inputs_by_node = {n.index: n.detail for n in nodes if n.kind == "input"}
    for node in nodes:
        if node.kind == "weight" and node.detail == "embedding":
            table = next((r for kind, r, _ in _weight_param(node) if kind == "weight"), None)
            if table is not None:
                use = _embedding_role(nodes, node, inputs_by_node, feeds_softmax(node.index),
                                      all_params.get(table.names[0]))
                graph.embeddings.setdefault(table.names[0], EmbeddingInfo(table.names[0], use))
        for pos, ref in node.params:
            name = ref.names[0]
            if name in graph.roles:
                continue
            shape = node.attrs.get("shapes", {}).get(pos, ())
            if node.kind == "merge" and len(shape) >= 2:
                graph.roles[name] = "embedding"
                graph.embeddings.setdefault(name, EmbeddingInfo(name, "class_token"))
            elif node.kind == "shift" and node.signal and len(shape) >= 2 and not ref.ops:
                graph.roles[name] = "embedding"
                graph.embeddings.setdefault(name, EmbeddingInfo(name, "position"))
            elif node.kind == "shift" and node.signal and not ref.ops:
                graph.roles[name] = "offset"
            elif node.kind == "scale" and node.signal and not ref.ops:
                graph.roles[name] = "layer_scale"
            else:
                graph.roles[name] = "other"
    for name in graph.embeddings:
        graph.roles[name] = "embedding"
    return graph


EmbeddingRole = Literal["token", "position", "token_type", "relative_bias", "class_token"]


def _embedding_role(nodes: list[Node], node: Node, inputs: dict[int, str], scores: bool,
                    table: torch.Tensor | None) -> EmbeddingRole:
    """Relative attention bias when the output is added to attention scores; else by what indexes it: a model
    input (by its name: ``position_ids``, ``token_type_ids``, else token ids), or indices made inside the
    model (increasing along the sequence: positions; all equal: token types)."""
    if scores:
        return "relative_bias"
    sources = _input_sources(nodes, node.aux, inputs)
    if sources:
        name = sources[0].lower()
        if "position" in name:
            return "position"
        return "token_type" if "type" in name or "segment" in name else "token"
    pattern = node.attrs.get("index")
    rows = int(table.shape[0]) if table is not None else 0
    return "token_type" if pattern == "constant" or (pattern is None and rows <= 16) else "position"


def _path_back(nodes: list[Node], i: int, through: tuple[str, ...]) -> list[Node]:
    """The nodes from ``i`` back along first inputs while they are of the kinds ``through``."""
    path = []
    while nodes[i].kind in through and nodes[i].inputs:
        path.append(nodes[i])
        i = nodes[i].inputs[0]
    return path


def _normalized_between(nodes: list[Node], start: int, wdepth: list[int], floor: int, skip: int) -> bool:
    """Whether a normalization lies on the branch ending at node ``start``, walking back to the nodes at the
    block input's weight depth ``floor``."""
    frontier, seen = [start], set()
    while frontier:
        j = frontier.pop()
        if j in seen or j == skip or wdepth[j] < floor or (wdepth[j] == floor and nodes[j].kind == "weight"):
            continue
        seen.add(j)
        if nodes[j].kind == "norm":
            return True
        frontier.extend(nodes[j].inputs)
    return False


def _descendants(users: list[list[int]], i: int, nodes: list[Node], limit: int = 12) -> list[int]:
    """Nodes reachable from ``i`` through shape operations (the attention product after a softmax)."""
    out: list[int] = []
    frontier = list(users[i])
    while frontier and len(out) < limit:
        j = frontier.pop(0)
        out.append(j)
        if nodes[j].kind in _PASS:
            frontier.extend(users[j])
    return out


def _add_tree(nodes: list[Node], users: list[list[int]], i: int) -> Iterator[int]:
    for j in nodes[i].inputs:
        if nodes[j].kind == "add" and len(users[j]) == 1 and nodes[j].shape == nodes[i].shape:
            yield j
            yield from _add_tree(nodes, users, j)


def _scalar_path(nodes: list[Node], i: int) -> tuple[float, int]:
    """Product of the scalar factors between node ``i`` and the weight layer (or other op) behind it."""
    factor = 1.0
    while nodes[i].kind in (*_PASS, "add") and nodes[i].inputs:
        if nodes[i].kind == "scale" and nodes[i].attrs.get("factor") is not None:
            factor *= float(nodes[i].attrs["factor"])
        i = nodes[i].inputs[0]
    return factor, i


def _names_of(node: Node) -> tuple[str, ...]:
    if node.kind != "weight":
        return ()
    return tuple(ref.names[0] for role, ref, _ in _weight_param(node) if role in ("weight", "attention_in"))


def _input_sources(nodes: list[Node], start: list[int], inputs: dict[int, str]) -> list[str]:
    found: list[str] = []
    frontier, seen = list(start), set()
    while frontier:
        j = frontier.pop()
        if j in seen:
            continue
        seen.add(j)
        if j in inputs:
            found.append(inputs[j])
        frontier.extend(nodes[j].inputs)
        frontier.extend(nodes[j].aux)
    return found


def _replace(layer: WeightLayer, **changes: Any) -> WeightLayer:
    from dataclasses import replace

    return replace(layer, **changes)


def _fans(modules: dict[str, nn.Module], owner: str, name: str, params: dict[str, nn.Parameter],
          detail: str, pos: str, used: tuple[int, ...] | None) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of one use: from the shape as used for linear maps (so a tied embedding used as a
    readout, an ``addmm`` weight stored (in, out) and one expert of a bank get their own), else
    :func:`compute_fans` with the owning module (convolutions, embeddings, recurrent gates)."""
    if detail == "bank" and used is not None and len(used) == 3:  # x @ W[e] for each expert e
        return int(used[1]), int(used[2])
    if used is not None and len(used) == 2:
        if detail == "linear":
            return int(used[1]), int(used[0])
        if detail == "linear_t" or (detail == "matmul" and pos != "0"):
            return int(used[0]), int(used[1])
        if detail == "matmul":
            return int(used[1]), int(used[0])
    module = modules.get(owner)
    local = name.rsplit(".", 1)[-1]
    tensor: torch.Tensor | None = params.get(name)
    if tensor is None and module is not None:
        value = getattr(module, local, None)
        tensor = value if isinstance(value, torch.Tensor) else None
    if tensor is None:
        return (0, 0)
    try:
        return compute_fans(tensor, module, local)
    except WeightInitError:
        return (int(tensor.numel()), 1)
