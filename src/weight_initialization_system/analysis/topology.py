"""Which nonlinearity feeds and follows each weight layer, its depth, and whether it ends a residual branch.

Variance-preserving initialization needs to know, for each weight layer ``l``, the nonlinearity applied to its
input: He et al. (2015) show that for ``y_l = W_l x_l`` with ``x_l = φ(y_{l-1})``,

.. math::
    \\mathrm{Var}[y_l] = n_l \\, \\mathrm{Var}[w_l] \\, \\mathbb{E}[x_l^2],

so the gain of layer ``l`` is set by ``φ`` (``E[relu(z)²] = ½ Var[z]`` gives √2), and the first layer, which
sees the raw inputs, has gain 1. :func:`trace_topology` recovers this from the model itself, in order of
preference:

1. ``torch.fx`` symbolic tracing (no data needed). Activation modules *and* functional calls
   (``F.relu``, ``torch.tanh``, ``x.sigmoid()``, ``F.leaky_relu(x, negative_slope=0.2)``, ...) are found;
   normalization, dropout, pooling, reshapes and scalings between a layer and its activation are transparent
   (conv → BN → ReLU means ReLU follows the conv).
2. When tracing fails (data-dependent control flow) and a ``sample`` is given: one forward pass on the sample
   that records, with forward hooks and a :class:`~torch.overrides.TorchFunctionMode`, every weight layer,
   activation module and functional call in execution order, with its data-flow inputs. Parameters, buffers,
   the RNG state and grad mode are restored afterwards.
3. Otherwise: registration order of the weight layers, with activation modules that sit in an
   ``nn.Sequential``, and the known wiring of ``nn.TransformerEncoderLayer``/``nn.TransformerDecoderLayer``.

A layer is on a residual branch when its output reaches (through transparent ops and activations) an
addition whose other operand has passed through fewer weight layers since the input: ``x + f(x)`` marks the
last layer of ``f``, and a projection shortcut ``downsample(x)`` (one layer against the branch's two or
three) is not marked.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.overrides import TorchFunctionMode

from ..initializers import compute_fans
from ..initializers._common import check_module
from ..initializers.fans import _is_hf_conv1d
from ._state import preserved_state, read_only

__all__ = [
    "NORM_MODULES",
    "ChainLink",
    "LayerInfo",
    "activation_of_module",
    "is_weight_layer",
    "trace_chains",
    "trace_topology",
    "weight_params",
]

logger = logging.getLogger("weight_initialization_system")


@dataclass(frozen=True)
class LayerInfo:
    """What the variance-preserving gain of one weight layer depends on.

    Attributes:
        name: the module's qualified name (``"features.3"``).
        module_type: its class name.
        weight_names: qualified names of its weight matrices, as in ``model.named_parameters()`` (a
            parametrized weight is listed under the user's name ``"<module>.weight"``).
        fans: ``(fan_in, fan_out)`` of its (first) weight, from :func:`compute_fans`.
        input_activation: the nonlinearity applied to this layer's input (a name from
            :data:`~weight_initialization_system.initializers.GAINS`), ``None`` for raw inputs or a linear
            map.
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


# ----------------------------------------------------------------------------------------------------
# Classification of modules and functions
# ----------------------------------------------------------------------------------------------------


def is_weight_layer(module: nn.Module) -> bool:
    """Linear, Conv*/ConvTranspose*, Embedding(Bag), RNN/LSTM/GRU, MultiheadAttention or HF ``Conv1D``."""
    return isinstance(
        module,
        nn.Linear | nn.Bilinear | nn.modules.conv._ConvNd | nn.Embedding | nn.EmbeddingBag | nn.RNNBase
        | nn.MultiheadAttention,
    ) or _is_hf_conv1d(module)


def weight_params(module: nn.Module, prefix: str) -> tuple[tuple[str, str], ...]:
    """``(qualified name, local name)`` of the weight matrices a weight layer owns directly (no out_proj)."""
    if isinstance(module, nn.MultiheadAttention):
        local = ["in_proj_weight"] if module._qkv_same_embed_dim else ["q_proj_weight", "k_proj_weight",
                                                                       "v_proj_weight"]
    elif isinstance(module, nn.RNNBase):
        local = [n for n, _ in module.named_parameters(recurse=False) if n.startswith("weight_")]
    else:
        local = ["weight"]
    dot = f"{prefix}." if prefix else ""
    return tuple((f"{dot}{n}", n) for n in local if getattr(module, n, None) is not None)


_ACT_MODULES: dict[type[nn.Module], Callable[[Any], tuple[str, float | None]]] = {
    nn.ReLU: lambda m: ("relu", None),
    nn.ReLU6: lambda m: ("relu", None),
    nn.LeakyReLU: lambda m: ("leaky_relu", float(m.negative_slope)),
    nn.RReLU: lambda m: ("leaky_relu", (float(m.lower) + float(m.upper)) / 2),
    nn.PReLU: lambda m: ("leaky_relu", float(m.weight.detach().float().mean())),
    nn.Tanh: lambda m: ("tanh", None),
    nn.Sigmoid: lambda m: ("sigmoid", None),
    nn.GELU: lambda m: ("gelu", 1.0 if m.approximate == "tanh" else None),
    nn.SiLU: lambda m: ("silu", None),
    nn.Mish: lambda m: ("mish", None),
    nn.ELU: lambda m: ("elu", float(m.alpha)),
    nn.CELU: lambda m: ("celu", float(m.alpha)),
    nn.SELU: lambda m: ("selu", None),
    nn.Softplus: lambda m: ("softplus", float(m.beta)),
    nn.Hardswish: lambda m: ("hardswish", None),
    nn.Hardtanh: lambda m: ("hardtanh", None),
    nn.Softsign: lambda m: ("softsign", None),
    nn.Hardsigmoid: lambda m: ("hardsigmoid", None),
}


#: Hugging Face ``transformers.activations`` classes (what ``ACT2FN`` builds), matched by class name so that
#: ``transformers`` stays optional. ``param`` 1.0 marks GELU's tanh approximation, as for ``nn.GELU``;
#: QuickGELU ``x·σ(1.702x)`` is the sigmoid approximation of GELU (Hendrycks & Gimpel 2016).
_HF_ACTIVATIONS: dict[str, tuple[str, float | None]] = {
    "GELUActivation": ("gelu", None), "ClippedGELUActivation": ("gelu", None),
    "NewGELUActivation": ("gelu", 1.0), "FastGELUActivation": ("gelu", 1.0),
    "AccurateGELUActivation": ("gelu", 1.0), "GELUTanh": ("gelu", 1.0), "PytorchGELUTanh": ("gelu", 1.0),
    "QuickGELUActivation": ("gelu", None), "SiLUActivation": ("silu", None), "MishActivation": ("mish", None),
}


def activation_of_module(module: nn.Module) -> tuple[str, float | None] | None:
    """``(name, param)`` when ``module`` is an elementwise activation we have a gain for, else ``None``.

    >>> activation_of_module(nn.LeakyReLU(0.2)), activation_of_module(nn.Linear(2, 2))
    (('leaky_relu', 0.2), None)
    """
    for cls in type(module).__mro__:
        if cls in _ACT_MODULES:
            return _ACT_MODULES[cls](module)
        if cls.__name__ in _HF_ACTIVATIONS:
            return _HF_ACTIVATIONS[cls.__name__]
    return None


NORM_MODULES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.RMSNorm,
)

_TRANSPARENT_MODULES: tuple[type[nn.Module], ...] = (
    nn.modules.dropout._DropoutNd, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._LPPoolNd, nn.Flatten, nn.Unflatten, nn.Identity, nn.Upsample, nn.PixelShuffle,
    nn.PixelUnshuffle, nn.ChannelShuffle, nn.modules.padding._ConstantPadNd,
    nn.modules.padding._ReflectionPadNd, nn.modules.padding._ReplicationPadNd, nn.ZeroPad2d,
)


def _kw(args: tuple[Any, ...], kwargs: dict[str, Any], pos: int, key: str) -> Any:
    if key in kwargs:
        return kwargs[key]
    return args[pos] if len(args) > pos else None


def _leaky(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, float | None]:
    slope = _kw(args, kwargs, 1, "negative_slope")
    return "leaky_relu", 0.01 if slope is None else float(slope)


def _gelu(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, float | None]:
    return "gelu", 1.0 if kwargs.get("approximate") == "tanh" else None


def _alpha(name: str) -> Callable[[tuple[Any, ...], dict[str, Any]], tuple[str, float | None]]:
    def get(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, float | None]:
        alpha = _kw(args, kwargs, 1, "beta" if name == "softplus" else "alpha")
        return name, None if alpha is None else float(alpha)

    return get


def _plain(name: str) -> Callable[[tuple[Any, ...], dict[str, Any]], tuple[str, float | None]]:
    return lambda args, kwargs: (name, None)


_ActFn = Callable[[tuple[Any, ...], dict[str, Any]], tuple[str, float | None]]

_ACT_FUNCTIONS: dict[Any, _ActFn] = {
    F.relu: _plain("relu"), F.relu_: _plain("relu"), torch.relu: _plain("relu"), torch.relu_: _plain("relu"),
    F.relu6: _plain("relu"), F.leaky_relu: _leaky, F.leaky_relu_: _leaky,
    torch.tanh: _plain("tanh"), F.tanh: _plain("tanh"), torch.sigmoid: _plain("sigmoid"),
    F.sigmoid: _plain("sigmoid"), F.gelu: _gelu, F.silu: _plain("silu"), F.mish: _plain("mish"),
    F.elu: _alpha("elu"), F.celu: _alpha("celu"), F.selu: _plain("selu"), torch.selu: _plain("selu"),
    F.softplus: _alpha("softplus"), F.hardswish: _plain("hardswish"), F.hardtanh: _plain("hardtanh"),
    F.softsign: _plain("softsign"), F.hardsigmoid: _plain("hardsigmoid"),
}

_ACT_METHODS: dict[str, _ActFn] = {
    "relu": _plain("relu"), "relu_": _plain("relu"), "tanh": _plain("tanh"), "tanh_": _plain("tanh"),
    "sigmoid": _plain("sigmoid"), "sigmoid_": _plain("sigmoid"),
}

_TRANSPARENT_FUNCTIONS: set[Any] = {
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.max_pool1d, F.max_pool2d,
    F.max_pool3d, F.avg_pool1d,
    F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d,
    F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d, F.pad, F.interpolate,
    torch.flatten, torch.reshape, torch.transpose, torch.permute, torch.squeeze, torch.unsqueeze,
    torch.chunk, torch.split, torch.mean, operator.getitem, operator.neg, torch.dropout,
}

_TRANSPARENT_METHODS: set[str] = {
    "view", "reshape", "flatten", "permute", "transpose", "contiguous", "squeeze", "unsqueeze", "chunk",
    "split", "expand", "expand_as", "view_as", "mean", "clone", "to", "float", "half", "bfloat16", "double",
    "type_as", "__getitem__", "unflatten", "repeat", "narrow", "neg", "__neg__", "t",
}

_NORM_FUNCTIONS: set[Any] = {F.layer_norm, F.batch_norm, F.group_norm, F.instance_norm, F.rms_norm}
_ADD_FUNCTIONS: set[Any] = {operator.add, operator.iadd, torch.add}
_ADD_METHODS: set[str] = {"add", "add_", "__add__", "__iadd__", "__radd__"}
_SCALE_FUNCTIONS: set[Any] = {operator.mul, operator.imul, operator.truediv, torch.mul, torch.div}
_SCALE_METHODS: set[str] = {"mul", "mul_", "div", "div_", "__mul__", "__rmul__", "__imul__", "__truediv__"}
_MERGE_FUNCTIONS: set[Any] = {torch.cat, torch.stack, torch.concat}


# ----------------------------------------------------------------------------------------------------
# A small data-flow graph, built by either tracer
# ----------------------------------------------------------------------------------------------------


@dataclass
class _Node:
    kind: str  # input | weight | act | norm | transparent | add | merge | other | output
    inputs: list[int] = field(default_factory=list)  # data-flow predecessors; the first is the primary input
    target: str = ""  # module name of a weight layer
    act: tuple[str, float | None] | None = None


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[_Node] = []

    def add(self, kind: str, inputs: list[int] | None = None, target: str = "",
            act: tuple[str, float | None] | None = None) -> int:
        self.nodes.append(_Node(kind, list(inputs or []), target, act))
        return len(self.nodes) - 1


def _classify_call(func: Any, method: str | None, args: tuple[Any, ...], kwargs: dict[str, Any],
                   n_data: int) -> tuple[str, tuple[str, float | None] | None]:
    """Kind of a functional call or method call with ``n_data`` data-carrying tensor operands."""
    if method is not None:
        if method in _ACT_METHODS:
            return "act", _ACT_METHODS[method](args, kwargs)
        if method in _ADD_METHODS:
            return ("add" if n_data >= 2 else "transparent"), None
        if method in _SCALE_METHODS:
            return ("other" if n_data >= 2 else "transparent"), None
        if method in _TRANSPARENT_METHODS:
            return "transparent", None
        return "other", None
    if func in _ACT_FUNCTIONS:
        return "act", _ACT_FUNCTIONS[func](args, kwargs)
    if func in _ADD_FUNCTIONS:
        return ("add" if n_data >= 2 else "transparent"), None
    if func in _SCALE_FUNCTIONS:
        return ("other" if n_data >= 2 else "transparent"), None
    if func in _MERGE_FUNCTIONS:
        return "merge", None
    if func in _NORM_FUNCTIONS:
        return "norm", None
    if func in _TRANSPARENT_FUNCTIONS:
        return "transparent", None
    return "other", None


def _module_kind(module: nn.Module) -> tuple[str, tuple[str, float | None] | None]:
    if is_weight_layer(module):
        return "weight", None
    act = activation_of_module(module)
    if act is not None:
        return "act", act
    if isinstance(module, NORM_MODULES):
        return "norm", None
    if isinstance(module, _TRANSPARENT_MODULES):
        return "transparent", None
    return "other", None


class _LeafTracer(fx.Tracer):
    """Traces through all containers, torch's own too; weight layers and childless modules are leaves."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_weight_layer(m) or next(m.children(), None) is None


def _fx_graph(model: nn.Module) -> _Graph:
    traced = _LeafTracer().trace(model)
    graph = _Graph()
    index: dict[fx.Node, int] = {}
    data: set[int] = set()
    for node in traced.nodes:
        data_in = [index[a] for a in _ordered_inputs(node) if a in index and index[a] in data]
        kind: str
        act: tuple[str, float | None] | None = None
        target = ""
        if node.op == "placeholder":
            kind = "input"
        elif node.op == "get_attr":
            kind = "other"
        elif node.op == "output":
            kind = "output"
        elif node.op == "call_module":
            kind, act = _module_kind(model.get_submodule(str(node.target)))
            target = str(node.target)
        elif node.op == "call_method":
            kind, act = _classify_call(None, str(node.target), node.args, dict(node.kwargs), len(data_in))
        else:
            kind, act = _classify_call(node.target, None, node.args, dict(node.kwargs), len(data_in))
        idx = graph.add(kind, data_in, target, act)
        index[node] = idx
        if kind == "input" or data_in:
            data.add(idx)
    return graph


def _ordered_inputs(node: fx.Node) -> Iterator[fx.Node]:
    """Node operands in argument order (the primary input first), each once."""
    seen: set[fx.Node] = set()

    def walk(value: Any) -> Iterator[fx.Node]:
        if isinstance(value, fx.Node):
            if value not in seen:
                seen.add(value)
                yield value
        elif isinstance(value, (list, tuple)):
            for v in value:
                yield from walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                yield from walk(v)

    yield from walk(node.args)
    yield from walk(node.kwargs)


# ---- dynamic (hook) tracer ------------------------------------------------------------------------


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)


class _Recorder(TorchFunctionMode):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.graph = _Graph()
        self.producer: dict[int, int] = {}
        self.keep: list[torch.Tensor] = []  # keeps tensors alive so that their ids are not reused
        self.data: set[int] = set()
        self.inside_leaf = 0
        self.names = {id(m): n for n, m in model.named_modules()}

    def data_inputs(self, *values: Any) -> list[int]:
        out: list[int] = []
        for t in _tensors(values):
            idx = self.producer.get(id(t))
            if idx is not None and idx in self.data and idx not in out:
                out.append(idx)
        return out

    def record(self, kind: str, inputs: list[int], outputs: Any, target: str = "",
               act: tuple[str, float | None] | None = None) -> None:
        idx = self.graph.add(kind, inputs, target, act)
        # a weight layer always carries data, even on tensors made inside forward (GPT-2's wpe(arange(T)))
        if kind in ("input", "weight") or inputs:
            self.data.add(idx)
        for t in _tensors(outputs):
            self.producer[id(t)] = idx
            self.keep.append(t)

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.inside_leaf == 0:
            name = getattr(func, "__name__", "")
            method = name if getattr(torch.Tensor, name, None) is func else None
            inputs = self.data_inputs(args, kwargs)
            kind, act = _classify_call(func, method, args, kwargs, len(inputs))
            if inputs or kind != "other":
                self.record(kind, inputs, out, act=act)
        return out

    def pre_hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.inside_leaf += 1

    def post_hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        self.inside_leaf -= 1
        if self.inside_leaf == 0:
            kind, act = _module_kind(module)
            self.record(kind, self.data_inputs(args, kwargs), out, self.names.get(id(module), ""), act)


def _hook_graph(model: nn.Module, sample: Any) -> _Graph:
    recorder = _Recorder(model)
    handles = []
    for module in model.modules():
        if module is not model and (is_weight_layer(module) or next(module.children(), None) is None):
            handles.append(module.register_forward_pre_hook(recorder.pre_hook, with_kwargs=True))
            handles.append(module.register_forward_hook(recorder.post_hook, with_kwargs=True))
    args = sample if isinstance(sample, tuple) else (sample,)
    for t in _tensors(args):
        recorder.record("input", [], t)
    try:
        # grad mode on keeps torch's fused inference fast paths (which skip submodules) off
        with preserved_state(model), torch.enable_grad(), recorder:
            model(*args)
    finally:
        for h in handles:
            h.remove()
    return recorder.graph


# ---- module-order fallback ------------------------------------------------------------------------


def _order_graph(model: nn.Module) -> _Graph:
    graph = _Graph()
    cursor = graph.add("input")

    def visit(module: nn.Module, prefix: str, parent: nn.Module | None) -> None:
        nonlocal cursor
        if is_weight_layer(module):
            cursor = graph.add("weight", [cursor], prefix)
            return
        if isinstance(module, nn.TransformerEncoderLayer | nn.TransformerDecoderLayer):
            cursor = _transformer_block(graph, module, prefix, cursor)
            return
        children = list(module.named_children())
        if not children:
            act = activation_of_module(module)
            if act is not None and isinstance(parent, nn.Sequential):
                cursor = graph.add("act", [cursor], act=act)
            elif isinstance(module, NORM_MODULES):
                cursor = graph.add("norm", [cursor])
            elif isinstance(module, _TRANSPARENT_MODULES):
                cursor = graph.add("transparent", [cursor])
            return
        for name, child in children:
            visit(child, f"{prefix}.{name}" if prefix else name, module)

    visit(model, "", None)
    graph.add("output", [cursor])
    return graph


def _block_activation(layer: nn.Module) -> tuple[str, float | None] | None:
    act = layer.activation
    if isinstance(act, nn.Module):
        return activation_of_module(act)
    fn = _ACT_FUNCTIONS.get(act)
    return None if fn is None else fn((), {})


def _transformer_block(graph: _Graph, layer: nn.Module, prefix: str, x: int) -> int:
    """The wiring of torch's TransformerEncoderLayer/DecoderLayer (pre- or post-norm), as in their forward."""
    dot = f"{prefix}." if prefix else ""
    pre = bool(layer.norm_first)

    def sublayer(x: int, names: list[str]) -> int:
        h = graph.add("norm", [x]) if pre else x
        for n in names:
            h = graph.add("weight", [h], f"{dot}{n}")
        out = graph.add("add", [x, h])
        return out if pre else graph.add("norm", [out])

    x = sublayer(x, ["self_attn"])
    if isinstance(layer, nn.TransformerDecoderLayer):
        memory = graph.add("input")
        h = graph.add("norm", [x]) if pre else x
        h = graph.add("weight", [h, memory], f"{dot}multihead_attn")
        out = graph.add("add", [x, h])
        x = out if pre else graph.add("norm", [out])
    h = graph.add("norm", [x]) if pre else x
    h = graph.add("weight", [h], f"{dot}linear1")
    act = _block_activation(layer)
    h = graph.add("act", [h], act=act) if act is not None else graph.add("other", [h])
    h = graph.add("transparent", [h])
    h = graph.add("weight", [h], f"{dot}linear2")
    out = graph.add("add", [x, h])
    return out if pre else graph.add("norm", [out])


# ----------------------------------------------------------------------------------------------------
# From graph to LayerInfo
# ----------------------------------------------------------------------------------------------------


def _expand_attention(graph: _Graph, model: nn.Module) -> _Graph:
    """Give each MultiheadAttention an out_proj node right after it (fx and hooks see MHA as one leaf)."""
    out = _Graph()
    remap: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        inputs = [remap[j] for j in node.inputs]
        idx = out.add(node.kind, inputs, node.target, node.act)
        if node.kind == "weight" and isinstance(model.get_submodule(node.target), nn.MultiheadAttention):
            idx = out.add("weight", [idx], f"{node.target}.out_proj")
        remap[i] = idx
    return out


@dataclass(frozen=True)
class ChainLink:
    """How a weight layer's output reaches the next weight layer, for compounding gains along a chain.

    ``prev`` is the weight layer whose output feeds this one through activations and shape ops only (no
    normalization, no addition), ``None`` when the input is normalized, a sum, or the raw input. ``end`` says
    where this layer's output goes: ``"weight"`` (straight into another weight layer), ``"norm"``,
    ``"residual"`` (added to a skip connection), ``"add"`` (another sum), ``"output"`` or ``"other"``.
    """

    prev: str | None
    end: str


def _infos(model: nn.Module, graph: _Graph) -> tuple[dict[str, LayerInfo], dict[str, ChainLink]]:
    nodes = graph.nodes
    users: list[list[int]] = [[] for _ in nodes]
    for i, node in enumerate(nodes):
        for j in node.inputs:
            users[j].append(i)
    wdepth = [0] * len(nodes)  # most weight layers on any path from an input to the node, inclusive
    for i, node in enumerate(nodes):
        wdepth[i] = max((wdepth[j] for j in node.inputs), default=0) + (node.kind == "weight")

    def input_act(i: int, seen: set[int]) -> tuple[str, float | None] | None:
        if i in seen:
            return None
        seen.add(i)
        node = nodes[i]
        if node.kind == "act":
            return node.act
        if node.kind == "transparent" and node.inputs:
            return input_act(node.inputs[0], seen)
        if node.kind == "merge" and node.inputs:
            found = {input_act(j, seen) for j in node.inputs}
            return found.pop() if len(found) == 1 else None
        return None

    def output_act(i: int) -> tuple[str, float | None] | None:
        frontier, seen = list(users[i]), set()
        while frontier:
            j = min(frontier)  # execution order: the nearest activation wins
            frontier.remove(j)
            if j in seen:
                continue
            seen.add(j)
            if nodes[j].kind == "act":
                return nodes[j].act
            if nodes[j].kind in ("transparent", "norm", "add", "merge"):
                frontier.extend(users[j])
        return None

    def residual(i: int) -> bool:
        frontier, seen = [i], set()
        while frontier:
            j = frontier.pop()
            for u in users[j]:
                if u in seen:
                    continue
                seen.add(u)
                if nodes[u].kind in ("transparent", "norm", "act") and nodes[u].inputs[0] == j:
                    frontier.append(u)
                elif nodes[u].kind == "add":
                    others = [k for k in nodes[u].inputs if k != j]
                    if others and all(wdepth[k] < wdepth[j] for k in others):
                        return True
        return False

    def has_weight_below(i: int) -> bool:
        frontier, seen = list(users[i]), set()
        while frontier:
            j = frontier.pop()
            if j in seen:
                continue
            seen.add(j)
            if nodes[j].kind == "weight":
                return True
            frontier.extend(users[j])
        return False

    def chain_prev(i: int) -> int | None:
        j = nodes[i].inputs[0] if nodes[i].inputs else None
        while j is not None:
            if nodes[j].kind == "weight":
                return j
            if nodes[j].kind not in ("act", "transparent") or not nodes[j].inputs:
                return None
            j = nodes[j].inputs[0]
        return None

    def chain_end(i: int, residual_end: bool) -> str:
        frontier, seen, ends = list(users[i]), set(), set()
        while frontier:
            j = frontier.pop()
            if j in seen:
                continue
            seen.add(j)
            kind = nodes[j].kind
            if kind in ("act", "transparent"):
                frontier.extend(users[j])
            elif kind == "add":
                ends.add("residual" if residual_end else "add")
            else:
                ends.add(kind if kind in ("weight", "norm", "output") else "other")
        for end in ("weight", "output", "residual", "add", "norm"):
            if end in ends:
                return end
        return "other"

    modules = dict(model.named_modules())
    infos: dict[str, LayerInfo] = {}
    links: dict[str, ChainLink] = {}
    for i, node in enumerate(nodes):
        if node.kind != "weight" or node.target in infos or node.target not in modules:
            continue
        module = modules[node.target]
        params = weight_params(module, node.target)
        if not params:
            continue
        first_local = params[0][1]
        weight = getattr(module, first_local)
        if isinstance(weight, nn.parameter.UninitializedParameter):
            continue
        fans = compute_fans(weight, module, first_local)
        in_act = input_act(node.inputs[0], set()) if node.inputs else None
        out_act = output_act(i)
        is_residual = residual(i)
        prev = chain_prev(i)
        links[node.target] = ChainLink(nodes[prev].target if prev is not None else None,
                                       chain_end(i, is_residual))
        infos[node.target] = LayerInfo(
            name=node.target,
            module_type=type(module).__name__,
            weight_names=tuple(n for n, _ in params),
            fans=fans,
            input_activation=in_act[0] if in_act else None,
            input_activation_param=in_act[1] if in_act else None,
            output_activation=out_act[0] if out_act else None,
            output_activation_param=out_act[1] if out_act else None,
            depth=len(infos),
            residual_branch=is_residual,
            is_first=max((wdepth[j] for j in node.inputs), default=0) == 0,
            is_last=not has_weight_below(i),
        )
    return infos, links


def trace_topology(model: nn.Module, sample: Any | None = None) -> dict[str, LayerInfo]:
    """Map each weight layer's qualified name to its :class:`LayerInfo`, in execution order.

    Args:
        model: any ``nn.Module``. It is not modified (a forward pass on ``sample``, when needed, restores
            parameters, buffers such as BatchNorm running statistics, and the RNG state).
        sample: optional input batch (a tensor or a tuple of positional arguments), used only when symbolic
            tracing fails.

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
    graph: _Graph | None = None
    try:
        graph = _fx_graph(model)
    except Exception as exc:  # any failure of symbolic tracing means: next strategy
        logger.debug("trace_topology: torch.fx tracing failed (%s: %s)", type(exc).__name__, exc)
    if graph is None and sample is not None:
        try:
            graph = _hook_graph(model, sample)
        except Exception as exc:  # a sample that does not fit the model
            logger.debug("trace_topology: forward on the sample failed (%s: %s)", type(exc).__name__, exc)
    if graph is None:
        graph = _order_graph(model)
    return _infos(model, _expand_attention(graph, model))
