"""Record what a forward pass computes, op by op, with parameters recognized by identity.

Why a :class:`~torch.overrides.TorchFunctionMode` and module hooks rather than ``torch.fx`` or
``torch.export``: symbolic tracing fails on every Hugging Face model (iteration over proxies, control flow on
values, ``co_varnames``), and export needs every shape guard to hold. A function mode sees each call that
really ran — ``F.linear`` with a tied weight, ``weight[expert]`` inside a loop, ``1 + weight`` inside a norm —
with the very tensor objects involved, so a parameter is known by identity, whatever path reached it; module
hooks give each call its module scope and mark leaf modules whose inner arithmetic (a hand-written RMSNorm, a
tanh-approximate GELU) is summarized by what the module computes (see :mod:`.probe`).

A tensor is one of three things while recording:

- *signal*: derived from a floating-point model input or from a weight layer's output;
- *auxiliary*: derived from other inputs only (token ids, attention masks, positions);
- *parameter-derived*: computed from parameters alone (``w.t()``, ``1 + w``, ``w[e]``, a parametrization),
  tracked as a :class:`ParamRef`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .ops import _ADD_FUNCTIONS, _MUL_FUNCTIONS, ACTIVATION_FUNCTIONS, call_kind, method_name

__all__ = ["Node", "ParamRef", "Recorder", "flat_tensors"]


@dataclass(frozen=True)
class ParamRef:
    """A tensor computed from parameters alone.

    Attributes:
        names: qualified names of the parameters it is computed from.
        offset: ``c`` when the tensor is ``c + w`` (Gemma's norms use ``1 + w``).
        ops: the functions applied to the parameter, in order (``getitem`` for one expert of a bank).
    """

    names: tuple[str, ...]
    offset: float = 0.0
    ops: tuple[str, ...] = ()


@dataclass
class Node:
    """One recorded call on the signal (or on auxiliary inputs).

    Attributes:
        index: position in execution order.
        kind: see :mod:`.ops` (plus ``input``, ``output`` and ``module`` for a leaf module to be probed).
        detail: the weight operation, the function name, or the module name.
        inputs: signal operands (node indices), in argument order.
        aux: auxiliary traced operands (node indices).
        params: ``(argument position, ParamRef)`` for each parameter-derived operand (positions as in
            :func:`_operands`).
        module: qualified name of the innermost module running.
        shape: shape of the (first) output.
        signal: whether the output carries the signal.
        attrs: kind-specific facts (scalar factor of a ``scale``, ``scale`` of ``sdpa``, ...).
    """

    index: int
    kind: str
    detail: str
    inputs: list[int]
    aux: list[int]
    params: list[tuple[str, ParamRef]]
    module: str
    shape: tuple[int, ...]
    signal: bool
    attrs: dict[str, Any] = field(default_factory=dict)


def flat_tensors(value: Any) -> Iterator[torch.Tensor]:
    """Every tensor in nested tuples, lists and dicts (Hugging Face ``ModelOutput`` included)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from flat_tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from flat_tensors(v)


def _operands(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[tuple[str, torch.Tensor]]:
    """``(position, tensor)``: ``"1"`` for the second argument, ``"2.3"`` for the fourth tensor of a list in
    the third, the keyword for a keyword argument."""
    for key, value in (*((str(i), v) for i, v in enumerate(args)), *kwargs.items()):
        if isinstance(value, torch.Tensor):
            yield key, value
        else:
            for k, t in enumerate(flat_tensors(value)):
                yield f"{key}.{k}", t


def _scalar(args: tuple[Any, ...], kwargs: dict[str, Any]) -> float | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


_CONSTANT_NAMES = {"zeros_like", "ones_like", "empty_like", "full_like", "new_zeros", "new_ones", "new_empty",
                   "new_full", "rand_like", "randn_like", "randint_like", "arange", "zeros", "ones"}


def _index_pattern(index: Any) -> str | None:
    """``"constant"`` when every index is equal, ``"increasing"`` along the last dimension (positions),
    ``"varied"`` otherwise, ``None`` on the meta device."""
    if not isinstance(index, torch.Tensor) or index.is_meta or index.numel() == 0:
        return None
    flat = index.reshape(-1, index.shape[-1]) if index.dim() else index.reshape(1, 1)
    if bool((flat == flat.reshape(-1)[0]).all()):
        return "constant"
    if flat.shape[-1] > 1 and bool((flat[:, 1:] > flat[:, :-1]).all()):
        return "increasing"
    return "varied"


class Recorder(TorchFunctionMode):
    """A function mode plus module hooks that builds the list of :class:`Node` of one forward pass."""

    def __init__(self, model: nn.Module, param_names: dict[int, str]) -> None:
        super().__init__()
        self.model = model
        self.nodes: list[Node] = []
        self.producer: dict[int, int] = {}
        self.param_of: dict[int, ParamRef] = {t_id: ParamRef((name,)) for t_id, name in param_names.items()}
        self.keep: list[torch.Tensor] = []
        self.scope: list[str] = []
        self.starts: list[int] = []
        self.entry: list[list[int]] = []
        self.names = {id(m): n for n, m in model.named_modules(remove_duplicate=False)}
        #: leaf modules whose whole forward was one activation or normalization call: name -> node index
        self.leaf_calls: dict[str, int] = {}

    # ---- nodes -------------------------------------------------------------------------------------

    def add(self, kind: str, detail: str, inputs: list[int], aux: list[int], params: list[tuple[str, ParamRef]],
            outputs: Any, signal: bool, attrs: dict[str, Any] | None = None) -> int:
        first = next(flat_tensors(outputs), None)
        shape = tuple(first.shape) if first is not None else ()
        node = Node(len(self.nodes), kind, detail, inputs, aux, params, self.scope[-1] if self.scope else "",
                    shape, signal, attrs or {})
        self.nodes.append(node)
        for t in flat_tensors(outputs):
            self.producer[id(t)] = node.index
            self.keep.append(t)
        return node.index

    def add_inputs(self, values: Any, names: list[str]) -> None:
        for value, name in zip(values, names, strict=True):
            for t in flat_tensors(value):
                self.add("input", name, [], [], [], t, t.is_floating_point() or t.is_complex())

    # ---- the function mode -------------------------------------------------------------------------

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if next(flat_tensors(out), None) is None:
            return out
        inputs: list[int] = []
        aux: list[int] = []
        params: list[tuple[str, ParamRef]] = []
        shapes: dict[str, tuple[int, ...]] = {}
        for pos, t in _operands(args, kwargs):
            shapes[pos] = tuple(t.shape)
            idx = self.producer.get(id(t))
            if idx is not None:
                target = inputs if self.nodes[idx].signal else aux
                if idx not in target:
                    target.append(idx)
            elif id(t) in self.param_of:
                params.append((pos, self.param_of[id(t)]))
        if method_name(func) in _CONSTANT_NAMES:  # zeros_like(x) carries x's shape, not its values
            return out
        name = method_name(func)
        if isinstance(out, torch.Tensor) and not (name.endswith("_") or name.startswith("__i")) and any(
                out is t for _, t in _operands(args, kwargs)):
            return out  # x.to(x.dtype), x.contiguous() on a contiguous x: the same tensor, the same value
        if not inputs and params and call_kind(func, 0, True) != ("weight", "embedding"):
            # computed from parameters (and indices: one expert of a bank, ``w[expert_idx]``)
            self._derive(func, args, kwargs, out, params)
            return out
        if not inputs and not aux and call_kind(func, 0, True) != ("weight", "embedding"):
            return out
        has_weight = any(len(shapes[pos]) >= 2 for pos, _ in params)
        kind, detail = call_kind(func, len(inputs), has_weight)
        attrs: dict[str, Any] = {"shapes": {pos: shapes[pos] for pos, _ in params}}
        if detail == "embedding":
            attrs["index"] = _index_pattern(args[0] if args else kwargs.get("input"))
        if kind == "scale" and func in _MUL_FUNCTIONS:
            factor = _scalar(args, kwargs)
            if factor is not None and method_name(func) in ("div", "div_", "__truediv__", "__itruediv__",
                                                             "truediv"):
                factor = 1.0 / factor if factor else float("inf")
            attrs["factor"] = factor
        elif kind == "sdpa":
            attrs["scale"] = kwargs.get("scale", args[6] if len(args) > 6 else None)
            attrs["head_dim"] = int(args[0].shape[-1]) if args and isinstance(args[0], torch.Tensor) else None
        elif kind == "act":
            attrs["activation"] = ACTIVATION_FUNCTIONS[func](args, kwargs)
        elif kind == "weight" and detail == "attention":
            attrs["num_heads"] = int(args[4]) if len(args) > 4 else None
        first = next(flat_tensors(out), None)
        signal = bool(inputs) or kind == "weight"
        signal = signal and first is not None and (first.is_floating_point() or first.is_complex())
        self.add(kind, detail, inputs, aux, params, out, signal, attrs)
        return out

    def _derive(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any,
                params: list[tuple[str, ParamRef]]) -> None:
        names = tuple(dict.fromkeys(n for _, ref in params for n in ref.names))
        base = params[0][1]
        offset = base.offset
        if func in _ADD_FUNCTIONS and len(params) == 1:
            c = _scalar(args, kwargs)
            if c is not None:
                offset += -c if method_name(func) in ("sub", "sub_", "__sub__", "__isub__") else c
        ref = ParamRef(names, offset, (*base.ops, method_name(func)))
        for t in flat_tensors(out):
            self.param_of[id(t)] = ref
            self.keep.append(t)

    # ---- module hooks ------------------------------------------------------------------------------

    def pre_hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.scope.append(self.names.get(id(module), ""))
        self.starts.append(len(self.nodes))
        # the producers of its inputs now: an op inside may return the same tensor object (``x.to(x.dtype)``)
        self.entry.append([self.producer[id(t)] for _, t in _operands(args, kwargs) if id(t) in self.producer])

    def post_hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        name = self.scope.pop()
        start = self.starts.pop()
        entry = self.entry.pop()
        if module is self.model or next(module.children(), None) is not None or not isinstance(out, torch.Tensor):
            return
        inside = self.nodes[start:]
        if not inside or any(n.kind == "weight" for n in inside) or id(out) not in self.producer:
            return
        if len(inside) == 1 and inside[0].kind in ("act", "norm", "transparent"):
            if inside[0].kind != "transparent":
                self.leaf_calls[name] = inside[0].index
            return
        signal_in = [i for i in entry if self.nodes[i].signal]
        if not signal_in:
            return
        first_in = next(t for _, t in _operands(args, kwargs) if isinstance(t, torch.Tensor))
        self.add("module", name, [self.producer[id(out)]], [], [], out, True,
                 {"module_inputs": list(dict.fromkeys(signal_in)), "in_shape": tuple(first_in.shape), "start": start,
                  "dtype": out.dtype})
