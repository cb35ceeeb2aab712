"""Streamed initialization: write a meta model's initialized state dict to a safetensors file tensor by tensor.

The model stays on the meta device; each tensor is generated alone, written, and freed, so peak memory is
about the largest tensor, not the model. The file replaces a "seed checkpoint" written by one process
(torchtitan's workaround for rank-dependent init): every parallelism loads the same values, and they equal
:func:`~.materialize.materialize` with the same seed, bitwise.

Format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length ``N``, ``N``
bytes of JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`` padded
with spaces to a multiple of 8, then the raw little-endian bytes of every tensor, back to back.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any, BinaryIO

import torch
from torch import nn

from .._io import atomic_path
from ..errors import WeightInitError
from ..initializers import BoundInitializer, InitFn
from ..initializers._common import is_dtensor
from ..schemes.result import InitResult
from ..schemes.seeding import Region
from ..schemes.walker import Decision, ParamSite, draw_jobs, run_jobs
from .materialize import (
    InitCall,
    MaterializationPlan,
    ModulePlan,
    Recipe,
    _check_device,
    allocate,
    plan_materialization,
)

__all__ = ["SAFETENSORS_DTYPES", "init_to_safetensors"]

#: torch dtype → safetensors dtype code.
SAFETENSORS_DTYPES: dict[torch.dtype, str] = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL", torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2",
}
_PARALLEL_MIN_NUMEL = 1 << 20


def _dtype_code(name: str, dtype: torch.dtype) -> str:
    code = SAFETENSORS_DTYPES.get(dtype)
    if code is None:
        raise WeightInitError(f"Tensor {name!r} has dtype {dtype}, which safetensors cannot store. "
                              f"Supported: {', '.join(str(d) for d in SAFETENSORS_DTYPES)}")
    return code


def _header(entries: list[tuple[str, torch.Tensor]], metadata: Mapping[str, str]) -> bytes:
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for name, tensor in entries:
        size = tensor.numel() * tensor.element_size()
        header[name] = {"dtype": _dtype_code(name, tensor.dtype), "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw


def _write(stream: BinaryIO, tensor: torch.Tensor) -> None:
    data = tensor.detach().to("cpu").contiguous().reshape(-1)
    if sys.byteorder != "little":
        raise WeightInitError("init_to_safetensors writes native bytes and needs a little-endian machine")
    if data.numel():
        stream.write(data.view(torch.uint8).numpy().data)


class _Producer:
    """Makes the value of each state-dict entry on demand, one at a time."""

    def __init__(self, plan: MaterializationPlan, device: torch.device) -> None:
        self.device = device
        self.decision_of: dict[int, tuple[ParamSite, Decision, int]] = {
            id(site.tensor): (site, decision, seed)
            for decisions, seed in plan.draws for site, decision in decisions if not site.parametrized
        }
        self.parametrized = [(site, decision, seed) for decisions, seed in plan.draws
                             for site, decision in decisions if site.parametrized]
        self.module_of: dict[int, ModulePlan] = {}
        for module_plan in plan.modules:
            for _, tensor in _own(module_plan.module):
                self.module_of.setdefault(id(tensor), module_plan)
        self._cache: tuple[int, dict[str, torch.Tensor]] | None = None

    def value(self, tensor: torch.Tensor) -> torch.Tensor:
        found = self.decision_of.get(id(tensor))
        if found is not None:
            site, decision, seed = found
            return self._draw(site, decision, seed)
        if not tensor.is_meta:
            return _full(tensor)
        module_plan = self.module_of[id(tensor)]
        return self._from_recipe(module_plan)[_local_name(module_plan.module, tensor)]

    def _draw(self, site: ParamSite, decision: Decision, seed: int) -> torch.Tensor:
        out = torch.empty(tuple(site.tensor.shape), dtype=site.tensor.dtype, device=self.device)
        jobs, final = draw_jobs(site, decision, seed, out, Region.whole(tuple(out.shape)))
        with torch.no_grad():
            run_jobs(jobs, parallel=self.device.type == "cpu" and out.numel() >= _PARALLEL_MIN_NUMEL)
            if final is not None:
                final()
        return out

    def _from_recipe(self, module_plan: ModulePlan) -> dict[str, torch.Tensor]:
        """Give the module alone real storage, run its recipe, keep its tensors, and put it back on meta."""
        module = module_plan.module
        if self._cache is not None and self._cache[0] == id(module):
            return self._cache[1]
        saved = (dict(module._parameters), dict(module._buffers))
        try:
            allocate(module, self.device, recurse=False)
            with torch.no_grad():
                module_plan.recipe()
            values = {local: _full(t).detach() for local, t in _own(module)}
        finally:
            module._parameters.update(saved[0])
            module._buffers.update(saved[1])
        self._cache = (id(module), values)
        return values


def _own(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    tensors = [(n, p) for n, p in module._parameters.items() if p is not None]
    return tensors + [(n, b) for n, b in module._buffers.items() if b is not None]


def _local_name(module: nn.Module, tensor: torch.Tensor) -> str:
    return next(n for n, t in _own(module) if t is tensor)


def _full(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.full_tensor() if is_dtensor(tensor) else tensor  # type: ignore[attr-defined,no-any-return]


def init_to_safetensors(
    model: nn.Module,
    path: str | os.PathLike[str],
    method: str | InitFn | BoundInitializer = "xavier_uniform",
    *,
    seed: int | None = None,
    device: torch.device | str = "cpu",
    recipes: Mapping[type[nn.Module], Recipe] | None = None,
    init_fn: InitCall | None = None,
    metadata: Mapping[str, str] | None = None,
    **init_kwargs: Any,
) -> InitResult:
    """Initialize a meta-device model straight into a safetensors file, one tensor at a time.

    Every entry of ``model.state_dict()`` is written (tied parameters under each of their names, so that
    ``model.load_state_dict(safetensors.torch.load_file(path))`` works strictly), with the values
    :func:`~.materialize.materialize` would give with the same arguments, bitwise. The model itself stays on
    the meta device. Peak memory is about the largest tensor: values are drawn into one buffer, written,
    and freed (DTensor parameters are written whole; their placements do not matter).

    Args:
        model: a module built under ``torch.device("meta")``.
        path: the file to write: replaced only once complete; after any error (or Ctrl-C) it is as it was.
        method: as in :func:`~weight_initialization_system.schemes.initialize_model`.
        seed: base seed of the keyed streams (drawn from torch's global generator when ``None``; the
            seed used is stored in the file's metadata and in the result).
        device: where each tensor is generated before it is written.
        recipes: as in :func:`~.materialize.materialize`.
        init_fn: as in :func:`~.materialize.materialize`.
        metadata: extra string metadata for the file header.
        **init_kwargs: forwarded to ``initialize_model``.

    Returns:
        The :class:`InitResult` of the initialization.

    Raises:
        WeightInitError: as :func:`~.materialize.materialize`, for parametrized weights, and for dtypes that
            safetensors cannot store; nothing is written then.
    """
    target = _check_device(device)
    plan = plan_materialization(model, method, seed=seed, recipes=recipes, init_fn=init_fn, **init_kwargs)
    if plan.draws and any(site.parametrized for decisions, _ in plan.draws for site, _ in decisions):
        raise WeightInitError("init_to_safetensors cannot stream parametrized weights: their stored originals "
                              "come from right_inverse. Use materialize() and save the state dict.")
    state = model.state_dict(keep_vars=True)
    order: dict[int, list[str]] = {}
    for name, tensor in state.items():
        order.setdefault(id(tensor), []).append(name)
    entries = [(name, state[names[0]]) for names in order.values() for name in names]
    info = {"format": "pt", "seed": str(plan.result.seed), "method": plan.result.method, **(metadata or {})}
    header = _header(entries, info)
    producer = _Producer(plan, target)
    # Some errors only show while values are drawn (an initializer's argument values: planning cannot check
    # them on meta tensors): write a unique temporary sibling and move it over ``path`` only when complete.
    with atomic_path(path) as tmp, open(tmp, "wb") as stream:
        stream.write(header)
        for names in order.values():
            planned = state[names[0]]
            value = producer.value(planned)
            if value.shape != planned.shape or value.dtype != planned.dtype:
                raise WeightInitError(
                    f"Tensor {names[0]!r} was planned as {planned.dtype} {tuple(planned.shape)} but its "
                    f"recipe produced {value.dtype} {tuple(value.shape)}; nothing was written to "
                    f"{os.fspath(path)!r}."
                )
            for _ in names:
                _write(stream, value)
            del value
    return plan.result

