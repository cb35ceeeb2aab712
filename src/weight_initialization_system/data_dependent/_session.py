"""Shared plumbing of data-dependent initializers: turn ``data`` into one forward call, and run that call in a
session that leaves the model as it found it (modes, buffers, hooks) except for the tensors being set, and
restores those too when anything fails."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._rollback import restore_all, snapshot
from ..errors import WeightInitError

__all__ = ["DataLike", "calibration_session", "prepare_batch"]

#: A tensor (``model(x)``), a tuple/list (``model(*args)``), a dict (``model(**kwargs)``), or an iterable of
#: those such as a ``DataLoader`` (its first batch is used).
DataLike = torch.Tensor | tuple[Any, ...] | list[Any] | Mapping[str, Any] | Iterable[Any]


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, Mapping):
        for value in obj.values():
            yield from _tensors(value)
    elif isinstance(obj, (tuple, list)):
        for value in obj:
            yield from _tensors(value)


def _to(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, Mapping):
        return {key: _to(value, device) for key, value in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to(value, device) for value in obj)
    return obj


def prepare_batch(
    function: str, model: nn.Module, data: DataLike, get_input: Callable[[Any], Any] | None
) -> Any:
    """The batch one forward call will use, moved to the model's device when it has a single one.

    A tensor, tuple/list or dict is the batch itself. Any other iterable (a ``DataLoader``) gives its first
    batch; from a tuple/list batch the first element is the input (``(x, y)`` pairs) unless ``get_input``
    says otherwise. ``get_input`` is applied to the batch in every case.

    Raises:
        WeightInitError: empty iterable, no tensor in the batch, a tensor with no elements, a bad type.
    """
    if get_input is not None and not callable(get_input):
        raise WeightInitError(f"Argument `get_input` must be callable or None. Received: get_input={get_input!r}")
    if isinstance(data, (torch.Tensor, tuple, list, Mapping)):
        batch: Any = data
    elif isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        try:
            batch = next(iter(data))
        except StopIteration:
            raise WeightInitError(f"{function}: argument `data` is an empty iterable (no batch).") from None
        if get_input is None and isinstance(batch, (tuple, list)):
            batch = batch[0]
    else:
        raise WeightInitError(
            f"{function}: argument `data` must be a tensor, a tuple/list of model arguments, a dict of keyword "
            f"arguments, or an iterable (DataLoader) of them. Received: {type(data).__name__}"
        )
    if get_input is not None:
        batch = get_input(batch)
    tensors = list(_tensors(batch))
    if not tensors:
        raise WeightInitError(f"{function}: the calibration batch contains no tensor. Received: {type(batch).__name__}")
    empty = [tuple(t.shape) for t in tensors if t.numel() == 0]
    if empty:
        raise WeightInitError(f"{function}: the calibration batch is empty. Received tensors of shape {empty}")
    devices = {p.device for p in model.parameters()}
    return _to(batch, devices.pop()) if len(devices) == 1 else batch


@contextlib.contextmanager
def calibration_session(
    function: str, model: nn.Module, *, train: bool, protect: Sequence[torch.Tensor]
) -> Iterator[None]:
    """Run the body under ``no_grad`` with the model in eval (or train) mode and the fused attention fast paths
    off (they skip submodule calls, so hooks would not fire), then restore every module's mode, every buffer
    (BatchNorm running statistics included) and the fast-path flag.

    When the body raises, the ``protect``-ed tensors (the ones being initialized) are restored too, so the
    model is exactly as before; errors from the model's own forward are re-raised as ``WeightInitError``.
    """
    modes = [(module, module.training) for module in model.modules()]
    restore_buffers = snapshot(model.buffers())
    restore_protected = snapshot(protect)
    mha = getattr(torch.backends, "mha", None)
    fastpath = mha.get_fastpath_enabled() if mha is not None else None

    def leave() -> None:
        if mha is not None:
            mha.set_fastpath_enabled(bool(fastpath))
        for module, mode in modes:
            module.training = mode
        restore_buffers()

    forward_done = False
    try:
        if mha is not None:
            mha.set_fastpath_enabled(False)
        model.train(train)
        with torch.no_grad():
            yield
        forward_done = True
        leave()  # part of the operation: if putting the buffers back fails, the new values are undone too
    except BaseException as error:
        restore_all([leave, restore_protected], error)
        if isinstance(error, Exception) and not isinstance(error, WeightInitError) and not forward_done:
            raise WeightInitError(
                f"{function}: the model's forward pass on the calibration batch raised "
                f"{type(error).__name__}: {error}. The model was left unchanged."
            ) from error
        raise
