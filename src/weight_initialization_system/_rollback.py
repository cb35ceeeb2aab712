"""Put tensors back exactly as they were after a failed model-level operation.

:func:`snapshot` records tensors (their storage, shape, values and ``requires_grad``) and returns the function
that restores them; :func:`all_or_nothing` runs a block and restores on *any* exception, ``KeyboardInterrupt``
and ``MemoryError`` included, before re-raising it. Torch only: it sits below every module that mutates a model.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

__all__ = ["Restore", "all_or_nothing", "restore_all", "snapshot"]

logger = logging.getLogger("weight_initialization_system")

Restore = Callable[[], None]


def snapshot(tensors: Iterable[torch.Tensor]) -> Restore:
    """Record ``tensors`` (duplicates once) and return a function that puts them back.

    Restoring re-points a tensor at its old storage when something replaced it (``set_``, as
    ``torch.nn.utils.parametrize`` does in ``right_inverse``), then copies the old values back (for in-place
    writes), and resets ``requires_grad``. Costs one copy of the tensors.
    """
    unique = {id(t): t for t in tensors}.values()
    kept = [(t, t.detach(), t.detach().clone(), t.requires_grad) for t in unique if not t.is_meta]

    def restore() -> None:
        with torch.no_grad():
            for tensor, alias, value, requires_grad in kept:
                where = (tensor.data_ptr(), tensor.shape, tensor.stride(), tensor.storage_offset())
                if where != (alias.data_ptr(), alias.shape, alias.stride(), alias.storage_offset()):
                    tensor.set_(alias)  # type: ignore[call-overload]
                tensor.copy_(value)
                if tensor.requires_grad != requires_grad and tensor.is_leaf:
                    tensor.requires_grad_(requires_grad)

    return restore


def restore_all(steps: Sequence[Restore], error: BaseException) -> None:
    """Run every restore step, last first; a step that fails does not stop the others (it is logged)."""
    failed: list[BaseException] = []
    for step in reversed(steps):
        try:
            step()
        except BaseException as again:  # keep restoring; the caller re-raises the first error
            failed.append(again)
    if failed:
        logger.error("rolling back after %s: %d restore step(s) failed too (first: %r); the model may be partly "
                     "written", type(error).__name__, len(failed), failed[0])


@contextlib.contextmanager
def all_or_nothing(tensors: Iterable[torch.Tensor]) -> Iterator[None]:
    """Run the block; on any exception (``BaseException``) put ``tensors`` back first, then re-raise."""
    restore = snapshot(tensors)
    try:
        yield
    except BaseException as error:
        restore_all([restore], error)
        raise
